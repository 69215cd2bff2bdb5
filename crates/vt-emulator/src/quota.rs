//! Rolling minute and day windows per API key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Clock;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// The request limits of one tier; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) per_minute: Option<u32>,
    pub(crate) per_day: Option<u32>,
}

impl Limits {
    pub(crate) fn is_unlimited(self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none()
    }
}

/// The times of the requests each key was served, within the last minute and day.
#[derive(Debug, Default)]
struct Windows {
    minute: VecDeque<Duration>,
    day: VecDeque<Duration>,
}

#[derive(Debug)]
pub(crate) struct Quotas {
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<Box<str>, Windows>>,
}

impl Quotas {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Quotas {
        Quotas {
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` if both windows have room; false means 204.
    pub(crate) fn try_acquire(&self, key: &str, limits: Limits) -> bool {
        if limits.is_unlimited() {
            return true;
        }
        let now = self.clock.now();
        let mut all = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let windows = match all.get_mut(key) {
            Some(w) => w,
            None => all.entry(key.into()).or_default(),
        };
        let full = |window: &mut VecDeque<Duration>, span: Duration, limit: Option<u32>| {
            while window
                .front()
                .is_some_and(|&t| now.saturating_sub(t) >= span)
            {
                window.pop_front();
            }
            limit.is_some_and(|limit| window.len() >= limit as usize)
        };
        let minute_full = full(&mut windows.minute, MINUTE, limits.per_minute);
        let day_full = full(&mut windows.day, DAY, limits.per_day);
        if minute_full || day_full {
            return false;
        }
        if limits.per_minute.is_some() {
            windows.minute.push_back(now);
        }
        if limits.per_day.is_some() {
            windows.day.push_back(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn minute_and_day_windows_roll() {
        let clock = ManualClock::new();
        let quotas = Quotas::new(Arc::new(clock.clone()));
        let limits = Limits {
            per_minute: Some(2),
            per_day: Some(3),
        };
        assert!(quotas.try_acquire("k", limits));
        assert!(quotas.try_acquire("k", limits));
        assert!(!quotas.try_acquire("k", limits), "third in a minute");
        assert!(quotas.try_acquire("other", limits), "keys are apart");
        clock.advance(Duration::from_secs(59));
        assert!(
            !quotas.try_acquire("k", limits),
            "the minute has not rolled"
        );
        clock.advance(Duration::from_secs(1));
        assert!(quotas.try_acquire("k", limits));
        assert!(!quotas.try_acquire("k", limits), "the day is full");
        clock.advance(Duration::from_secs(86_400 - 60 - 1));
        assert!(!quotas.try_acquire("k", limits), "still the same day");
        clock.advance(Duration::from_secs(1));
        assert!(
            quotas.try_acquire("k", limits),
            "the first two left the day"
        );
    }
}
