//! Quota pacing: never more requests in a rolling minute or day than the tier allows.
//!
//! The count lives in memory (shared by clones of a client) or, with a quota ledger, in the
//! cache's SQLite file, so that every process using that file with the same key paces against
//! one count. A 204 holds every request of the key for a while, not only the one that met it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, Instant};
use crate::Limits;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Waits end this much after the window frees, so that a server counting the window's edge
/// as still inside it does not answer 204.
const EDGE_MARGIN: Duration = Duration::from_millis(250);
/// Below this share of the daily quota left, a warning says so (once a run).
const LOW_SHARE: u32 = 10;

/// A sliding-window log of the requests sent: with a limit of N a window, request N+1 waits
/// until the oldest of the last N leaves the window. A steady run therefore sends exactly N
/// requests a window, never N+1.
///
/// A request is logged when it leaves and stamped again when its answer is in: the service
/// counted it somewhere between the two, and only the later time is sure not to free the
/// window early, however long the request took.
#[derive(Debug)]
pub(crate) struct Pacer {
    per_minute: Option<u32>,
    per_day: Option<u32>,
    local: Mutex<Local>,
    #[cfg(feature = "cache")]
    ledger: Option<Ledger>,
    warned_low: AtomicBool,
    warned_exhausted: AtomicBool,
}

/// The in-memory count.
#[derive(Debug, Default)]
struct Local {
    /// Each request's ticket number and time, in the order sent.
    sent: VecDeque<(u64, Instant)>,
    next_ticket: u64,
    /// After a 204: nothing goes before this.
    held_until: Option<Instant>,
}

/// The count in a cache file, under a fingerprint of the key (never the key itself).
#[cfg(feature = "cache")]
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) cache: std::sync::Arc<crate::Cache>,
    pub(crate) key_fingerprint: String,
}

/// How much of the daily quota is left, as far as this client has counted (with a quota
/// ledger: as far as every client sharing the ledger has counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaStatus {
    /// Requests sent in the last 24 hours.
    pub used_today: u32,
    /// The daily limit, if any.
    pub per_day: Option<u32>,
    /// When the oldest request of the last 24 hours leaves the window (a request is freed).
    pub next_release: Option<Instant>,
    /// The same moment on the wall clock, for messages.
    pub next_release_at: Option<SystemTime>,
}

/// A request counted by [`Pacer::acquire`], to be stamped with [`Pacer::answered`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ticket {
    /// Nothing to stamp (no limits).
    Unlimited,
    Local(u64),
    #[cfg(feature = "cache")]
    Ledger(i64),
}

impl QuotaStatus {
    /// Requests left today, if there is a daily limit.
    pub fn left_today(&self) -> Option<u32> {
        self.per_day
            .map(|limit| limit.saturating_sub(self.used_today))
    }
}

/// Ages of the requests sent, newest first, and the hold after a 204, as seen at one moment.
struct Window<'a> {
    ages_newest_first: &'a [Duration],
    hold: Option<Duration>,
}

impl Pacer {
    pub(crate) fn new(limits: &Limits) -> Pacer {
        Pacer {
            per_minute: limits.per_minute.filter(|&n| n > 0),
            per_day: limits.per_day.filter(|&n| n > 0),
            local: Mutex::new(Local::default()),
            #[cfg(feature = "cache")]
            ledger: None,
            warned_low: AtomicBool::new(false),
            warned_exhausted: AtomicBool::new(false),
        }
    }

    /// Keeps the count in a cache file instead of in memory.
    #[cfg(feature = "cache")]
    pub(crate) fn with_ledger(mut self, ledger: Ledger) -> Pacer {
        self.ledger = Some(ledger);
        self
    }

    fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none()
    }

    /// The most requests a window allows: how many of the newest requests decide a wait.
    fn deciding(&self) -> usize {
        self.per_minute.max(self.per_day).unwrap_or(0) as usize
    }

    /// How long until one more request fits in every window (`None`: it fits now), and
    /// whether the daily window is what holds it.
    fn wait_for_room(&self, window: &Window<'_>) -> Option<(Duration, bool)> {
        let by_limits = [(self.per_minute, MINUTE), (self.per_day, DAY)]
            .into_iter()
            .filter_map(|(limit, span)| Some((limit? as usize, span)))
            .filter_map(|(limit, span)| {
                // The limit-th most recent request decides when one more fits.
                let age = *window.ages_newest_first.get(limit - 1)?;
                let wait = (span + EDGE_MARGIN).checked_sub(age)?;
                (!wait.is_zero()).then_some((wait, span == DAY))
            });
        by_limits
            .chain(window.hold.map(|hold| (hold, false)))
            .max_by_key(|&(wait, _)| wait)
    }

    /// Waits until one more request fits in every window, then counts it as sent.
    pub(crate) async fn acquire(&self, clock: &dyn Clock) -> Ticket {
        loop {
            let (wait, daily) = match self.try_take(clock) {
                Ok(ticket) => {
                    self.warn_if_low(clock);
                    return ticket;
                }
                Err(wait) => wait,
            };
            if daily && !self.warned_exhausted.swap(true, Ordering::Relaxed) {
                let at = clock.system_time() + wait;
                tracing::warn!(
                    "the daily quota of {} requests is used up; the next request goes at {} \
                     (answers received so far are kept: a run stopped now resumes where it was)",
                    self.per_day.unwrap_or(0),
                    format_utc(at)
                );
            }
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "pacing: waiting {:.1} s for the quota window",
                wait.as_secs_f64()
            );
            clock.sleep(wait).await;
        }
    }

    /// Counts one request if it fits now; else how long to wait, and whether the daily
    /// window is what holds it.
    fn try_take(&self, clock: &dyn Clock) -> Result<Ticket, (Duration, bool)> {
        #[cfg(feature = "cache")]
        if let Some(ledger) = &self.ledger {
            let now = clock.system_time();
            let limited = !self.is_unlimited();
            let taken = ledger.cache.quota_take(
                &ledger.key_fingerprint,
                now,
                DAY + EDGE_MARGIN,
                self.deciding(),
                |ages, hold| {
                    // Without limits only a 204's hold can stop a request.
                    let ages = if limited { ages } else { &[] };
                    self.wait_for_room(&Window {
                        ages_newest_first: ages,
                        hold,
                    })
                },
            );
            match taken {
                Ok(Ok(row)) => return Ok(Ticket::Ledger(row)),
                Ok(Err(wait)) => return Err(wait),
                Err(error) => {
                    tracing::warn!(%error, "quota ledger unusable; counting in memory");
                }
            }
        }
        let now = clock.now();
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hold) = local.held_until.filter(|&t| t > now) {
            return Err((hold - now, false));
        }
        if self.is_unlimited() {
            return Ok(Ticket::Unlimited);
        }
        local
            .sent
            .retain(|&(_, t)| now.saturating_duration_since(t) < DAY + EDGE_MARGIN);
        // Stamped again when answered, the times are no longer in sending order.
        let mut ages: Vec<Duration> = local
            .sent
            .iter()
            .map(|&(_, t)| now.saturating_duration_since(t))
            .collect();
        ages.sort_unstable();
        ages.truncate(self.deciding());
        if let Some(wait) = self.wait_for_room(&Window {
            ages_newest_first: &ages,
            hold: None,
        }) {
            return Err(wait);
        }
        let ticket = local.next_ticket;
        local.next_ticket += 1;
        local.sent.push_back((ticket, now));
        Ok(Ticket::Local(ticket))
    }

    /// The answer to the request of `ticket` is in (or it failed): it counts from now.
    pub(crate) fn answered(&self, clock: &dyn Clock, ticket: Ticket) {
        match ticket {
            Ticket::Unlimited => {}
            Ticket::Local(ticket) => {
                let now = clock.now();
                let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(entry) = local.sent.iter_mut().find(|(t, _)| *t == ticket) {
                    entry.1 = entry.1.max(now);
                }
            }
            #[cfg(feature = "cache")]
            Ticket::Ledger(row) => {
                if let Some(ledger) = &self.ledger {
                    if let Err(error) = ledger.cache.quota_restamp(row, clock.system_time()) {
                        tracing::warn!(%error, "quota ledger unusable");
                    }
                }
            }
        }
    }

    /// After a 204: no request of this key goes for `wait` (in every process sharing the
    /// ledger).
    pub(crate) fn hold(&self, clock: &dyn Clock, wait: Duration) {
        #[cfg(feature = "cache")]
        if let Some(ledger) = &self.ledger {
            let until = clock.system_time() + wait;
            match ledger.cache.quota_hold(&ledger.key_fingerprint, until) {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "quota ledger unusable; counting in memory");
                }
            }
        }
        let until = clock.now() + wait;
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.held_until = Some(local.held_until.map_or(until, |held| held.max(until)));
    }

    /// Warns once when less than a tenth of the daily quota is left.
    fn warn_if_low(&self, clock: &dyn Clock) {
        let Some(per_day) = self.per_day else { return };
        if self.warned_low.load(Ordering::Relaxed) {
            return;
        }
        let status = self.status(clock);
        let left = per_day.saturating_sub(status.used_today);
        if left.saturating_mul(LOW_SHARE) < per_day
            && !self.warned_low.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "{left} of the daily quota of {per_day} requests left; the oldest request \
                 frees at {}",
                status
                    .next_release_at
                    .map_or_else(|| "once a day has passed".to_owned(), format_utc)
            );
        }
    }

    pub(crate) fn status(&self, clock: &dyn Clock) -> QuotaStatus {
        let now = clock.now();
        let wall = clock.system_time();
        #[cfg(feature = "cache")]
        if let Some(ledger) = &self.ledger {
            match ledger.cache.quota_used(&ledger.key_fingerprint, wall, DAY) {
                Ok((used_today, oldest)) => {
                    let release = oldest.map(|t| t + DAY);
                    return QuotaStatus {
                        used_today,
                        per_day: self.per_day,
                        next_release: release
                            .map(|t| now + t.duration_since(wall).unwrap_or_default()),
                        next_release_at: release,
                    };
                }
                Err(error) => {
                    tracing::warn!(%error, "quota ledger unreadable; counting in memory");
                }
            }
        }
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let today = local
            .sent
            .iter()
            .map(|&(_, t)| t)
            .filter(|&t| now.saturating_duration_since(t) < DAY);
        let (used_today, oldest) = today.fold((0u32, None::<Instant>), |(n, oldest), t| {
            (n + 1, Some(oldest.map_or(t, |o| o.min(t))))
        });
        let release = oldest.map(|t| t + DAY);
        QuotaStatus {
            used_today,
            per_day: self.per_day,
            next_release: release,
            next_release_at: release.map(|t| wall + t.saturating_duration_since(now)),
        }
    }
}

/// A wall-clock time as `2026-11-25 17:04:57 UTC`, for messages about the quota.
///
/// ```
/// let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_090_297);
/// assert_eq!(vt_api::format_utc(at), "2025-11-25 17:04:57 UTC");
/// ```
pub fn format_utc(at: SystemTime) -> String {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match vt_model::UtcTimestamp::from_unix_seconds(seconds) {
        Some(t) => format!("{t} UTC"),
        None => format!("{seconds} s after 1970 UTC"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(per_minute: Option<u32>, per_day: Option<u32>) -> Pacer {
        Pacer::new(
            &crate::Tier::Private
                .limits()
                .with_per_minute(per_minute)
                .with_per_day(per_day),
        )
    }

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|&s| Duration::from_secs(s)).collect()
    }

    #[test]
    fn the_limit_th_newest_request_decides() {
        let pacer = pacer(Some(2), None);
        let ages = secs(&[10, 20, 30]);
        let window = Window {
            ages_newest_first: &ages,
            hold: None,
        };
        // The 2nd newest is 20 s old: one more fits 40 s (and the margin) later.
        assert_eq!(
            pacer.wait_for_room(&window),
            Some((Duration::from_secs(40) + EDGE_MARGIN, false))
        );
        let ages = secs(&[10]);
        let window = Window {
            ages_newest_first: &ages,
            hold: None,
        };
        assert_eq!(pacer.wait_for_room(&window), None);
    }

    #[test]
    fn the_daily_window_and_a_hold_are_told_apart() {
        let pacer = pacer(Some(4), Some(2));
        let ages = secs(&[3600, 7200]);
        let daily = Window {
            ages_newest_first: &ages,
            hold: None,
        };
        let (wait, is_daily) = pacer.wait_for_room(&daily).unwrap();
        assert!(is_daily);
        assert_eq!(wait, DAY - Duration::from_secs(7200) + EDGE_MARGIN);
        let held = Window {
            ages_newest_first: &[],
            hold: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            pacer.wait_for_room(&held),
            Some((Duration::from_secs(60), false))
        );
    }

    #[test]
    fn utc_times_read_as_dates() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_090_297);
        assert_eq!(format_utc(at), "2025-11-25 17:04:57 UTC");
    }
}
