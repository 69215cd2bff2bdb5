//! Time, injected: pacing, backoff and deadlines all ask the client's [`Clock`].

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// An instant of the client's clock (a `std` instant: no tokio type is part of this API).
pub type Instant = std::time::Instant;

/// Where the client gets the time and how it waits.
///
/// The default, [`TokioClock`], uses `tokio::time`, so tests that pause tokio's clock
/// (`#[tokio::test(start_paused = true)]`) run hours of pacing in milliseconds.
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// The wall-clock time, for the age of cached answers.
    fn system_time(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}

/// The clock of the tokio runtime (`tokio::time`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        // Under a paused tokio clock this is the virtual time.
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}
