//! Log lines that can come once a request (the store or the service down while clients keep
//! asking) are written at most once a second from each place, with how many were left out
//! since: an outage is a few lines, not one a request, which would bury every other line and
//! which journald drops past its rate limit, other lines with them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The least time between two lines from one place.
const EVERY_MS: u64 = 1_000;

/// Writes a `tracing` event at the given level, at most once every [`EVERY_MS`] from this
/// place, with a `left_out` field: the events of this place not written since the last one.
macro_rules! throttled {
    ($level:ident, $($event:tt)+) => {{
        static THROTTLE: $crate::throttle::Throttle = $crate::throttle::Throttle::new();
        if let Some(left_out) = THROTTLE.admit() {
            tracing::$level!(left_out, $($event)+);
        }
    }};
}
pub(crate) use throttled;

/// One place's throttle (see [`throttled!`]).
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Milliseconds since [`process_ms`]'s start from which the next line may be written.
    next_ms: AtomicU64,
    left_out: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new() -> Throttle {
        Throttle {
            next_ms: AtomicU64::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one)` when this line is to be written now; else
    /// `None`, and the line is counted as left out.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(process_ms())
    }

    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        // Of several threads at the same moment, one writes: the one that moves `next_ms`.
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms + EVERY_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.left_out.swap(0, Ordering::Relaxed));
        }
        self.left_out.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Milliseconds on a monotonic clock since the first call.
fn process_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_writes_once_a_second_and_says_how_many_it_left_out() {
        let throttle = Throttle::new();
        assert_eq!(throttle.admit_at(0), Some(0), "the first line is written");
        assert_eq!(throttle.admit_at(1), None);
        assert_eq!(throttle.admit_at(999), None);
        assert_eq!(
            throttle.admit_at(1_000),
            Some(2),
            "a second later, with the two left out"
        );
        assert_eq!(throttle.admit_at(1_500), None);
        assert_eq!(throttle.admit_at(5_000), Some(1));
        assert_eq!(
            throttle.admit_at(9_000),
            Some(0),
            "nothing left out in between"
        );
    }

    #[test]
    fn each_place_has_its_own_throttle() {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..2 {
                throttled!(warn, "the first place");
                throttled!(warn, "the second place");
            }
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        // The second place writes its first line although the first place has just written
        // one; within the same second, neither writes a second line.
        for place in ["the first place", "the second place"] {
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(place)).collect();
            assert_eq!(lines.len(), 1, "{log}");
            assert!(lines[0].contains("left_out=0"), "{log}");
        }
    }
}
