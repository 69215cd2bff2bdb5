//! A clock that runs faster than real time, for tests of pacing only.
//!
//! `VT_TESTING_TIME_SCALE=N` (hidden, for tests) makes vt-api's pacing, backoff and timeouts
//! see time pass N times faster than it does, so a test of per-minute pacing against an
//! emulator running the same scaled clock takes seconds. Unset, the real clock is used.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// The environment variable of the scale.
pub(crate) const SCALE_VAR: &str = "VT_TESTING_TIME_SCALE";

#[derive(Debug)]
pub(crate) struct ScaledClock {
    origin: Instant,
    scale: u32,
}

impl ScaledClock {
    /// The scaled clock when the variable holds a number above 1.
    pub(crate) fn from_env() -> Option<ScaledClock> {
        let scale: u32 = std::env::var(SCALE_VAR).ok()?.trim().parse().ok()?;
        (scale > 1).then(|| ScaledClock {
            origin: Instant::now(),
            scale,
        })
    }
}

impl vt_api::Clock for ScaledClock {
    fn now(&self) -> Instant {
        self.origin + self.origin.elapsed() * self.scale
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration / self.scale))
    }
}
