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
    pub(crate) unit: QuotaUnit,
}

/// What the limits count. Whether the service counts a batch of N resources as one request
/// or N is not documented; the emulator does either, so that clients can be tried on both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaUnit {
    /// One a request, whatever it carries (the default).
    #[default]
    Request,
    /// One a resource of the request (a batch of 4 costs 4).
    Resource,
}

impl std::str::FromStr for QuotaUnit {
    type Err = String;

    fn from_str(text: &str) -> Result<QuotaUnit, String> {
        match text {
            "request" => Ok(QuotaUnit::Request),
            "resource" => Ok(QuotaUnit::Resource),
            _ => Err(format!("{text:?}: request or resource")),
        }
    }
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

    /// Empties every key's windows (`POST /_emulator/reset`): each key has its whole quota
    /// again.
    pub(crate) fn reset(&self) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Counts a request of `key` naming `resources` if both windows have room for it (one
    /// unit, or one a resource); false means 204, and nothing is counted.
    pub(crate) fn try_acquire(&self, key: &str, limits: Limits, resources: usize) -> bool {
        if limits.is_unlimited() {
            return true;
        }
        let now = self.clock.now();
        let mut all = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let windows = match all.get_mut(key) {
            Some(w) => w,
            None => all.entry(key.into()).or_default(),
        };
        let units = match limits.unit {
            QuotaUnit::Request => 1,
            QuotaUnit::Resource => resources.max(1),
        };
        let full = |window: &mut VecDeque<Duration>, span: Duration, limit: Option<u32>| {
            while window
                .front()
                .is_some_and(|&t| now.saturating_sub(t) >= span)
            {
                window.pop_front();
            }
            limit.is_some_and(|limit| window.len() + units > limit as usize)
        };
        let minute_full = full(&mut windows.minute, MINUTE, limits.per_minute);
        let day_full = full(&mut windows.day, DAY, limits.per_day);
        if minute_full || day_full {
            return false;
        }
        if limits.per_minute.is_some() {
            windows.minute.extend(std::iter::repeat_n(now, units));
        }
        if limits.per_day.is_some() {
            windows.day.extend(std::iter::repeat_n(now, units));
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
            unit: QuotaUnit::Request,
        };
        assert!(quotas.try_acquire("k", limits, 1));
        assert!(quotas.try_acquire("k", limits, 1));
        assert!(!quotas.try_acquire("k", limits, 1), "third in a minute");
        assert!(quotas.try_acquire("other", limits, 1), "keys are apart");
        clock.advance(Duration::from_secs(59));
        assert!(
            !quotas.try_acquire("k", limits, 1),
            "the minute has not rolled"
        );
        clock.advance(Duration::from_secs(1));
        assert!(quotas.try_acquire("k", limits, 1));
        assert!(!quotas.try_acquire("k", limits, 1), "the day is full");
        clock.advance(Duration::from_secs(86_400 - 60 - 1));
        assert!(!quotas.try_acquire("k", limits, 1), "still the same day");
        clock.advance(Duration::from_secs(1));
        assert!(
            quotas.try_acquire("k", limits, 1),
            "the first two left the day"
        );
    }

    #[test]
    fn counted_by_resource_a_batch_costs_its_size_and_never_half_fits() {
        let clock = ManualClock::new();
        let quotas = Quotas::new(Arc::new(clock.clone()));
        let limits = Limits {
            per_minute: Some(4),
            per_day: None,
            unit: QuotaUnit::Resource,
        };
        assert!(quotas.try_acquire("k", limits, 3));
        assert!(!quotas.try_acquire("k", limits, 2), "5 of 4: refused whole");
        assert!(quotas.try_acquire("k", limits, 1), "the last one fits");
        assert!(
            !quotas.try_acquire("k", limits, 0),
            "a request naming none costs one"
        );
        clock.advance(Duration::from_secs(60));
        assert!(quotas.try_acquire("k", limits, 4));
    }
}
