//! A clock that runs faster than real time, for tests of pacing only.
//!
//! Compiled only with the `testing-clock` feature (off by default; vt-cli's tests turn it on
//! through their dev-dependency on vt-cli itself), so a released `vt` has no such knob.
//! `VT_TESTING_TIME_SCALE=N` (hidden, for tests) makes vt-api's pacing, backoff and timeouts
//! see time pass N times faster than it does, so a test of per-minute pacing against an
//! emulator running the same scaled clock takes seconds. Unset, the real clock is used.
//! The wall clock (the quota ledger's, shared by processes) runs N times faster from
//! `VT_TESTING_TIME_ORIGIN` (Unix milliseconds; default: start-up), so that two processes
//! given the same origin agree on the time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable of the scale.
const SCALE_VAR: &str = "VT_TESTING_TIME_SCALE";
/// The environment variable of the moment the scaled wall clock starts from.
const ORIGIN_VAR: &str = "VT_TESTING_TIME_ORIGIN";

/// The client on the scaled clock when `VT_TESTING_TIME_SCALE` asks for one (warned about),
/// else as it was.
pub(crate) fn apply(builder: vt_api::ClientBuilder) -> vt_api::ClientBuilder {
    match ScaledClock::from_env() {
        Some(clock) => {
            tracing::warn!("time runs {} times faster ({SCALE_VAR})", clock.scale);
            builder.clock(Arc::new(clock))
        }
        None => builder,
    }
}

#[derive(Debug)]
struct ScaledClock {
    origin: Instant,
    wall_origin: SystemTime,
    scale: u32,
}

impl ScaledClock {
    /// The scaled clock when the variable holds a number above 1.
    fn from_env() -> Option<ScaledClock> {
        let scale: u32 = std::env::var(SCALE_VAR).ok()?.trim().parse().ok()?;
        let wall_origin = std::env::var(ORIGIN_VAR)
            .ok()
            .and_then(|ms| ms.trim().parse().ok())
            .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
        (scale > 1).then(|| ScaledClock {
            origin: Instant::now(),
            wall_origin,
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

    fn system_time(&self) -> SystemTime {
        let elapsed = SystemTime::now()
            .duration_since(self.wall_origin)
            .unwrap_or_default();
        self.wall_origin + elapsed * self.scale
    }
}
