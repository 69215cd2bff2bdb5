//! Quota pacing: never more requests in a rolling minute or day than the tier allows.
//!
//! The count lives in memory (shared by clones of a client) or, with a quota ledger
//! ([`QuotaLedger`]: the cache's SQLite file, or any store shared by servers), in the ledger
//! too, so that every client using it with the same key paces against one count. A 204 holds
//! every request of the key for a while, not only the one that met it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, Instant};
use crate::events::{Event, Events};
use crate::ledger::{LedgerEntry, QuotaLedger};
use crate::{Error, Limits, QuotaUnit};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Waits end this much after the window frees, so that a server counting the window's edge
/// as still inside it does not answer 204.
const EDGE_MARGIN: Duration = Duration::from_millis(250);
/// Below this share of the daily quota left, a warning says so (once a run).
const LOW_SHARE: u32 = 10;
/// The longest a 204 holds the key.
const LONGEST_HOLD: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Two 204s the count cannot explain this close together make a steady run slow down.
const STEADY_204S: Duration = Duration::from_secs(10 * 60);

/// A sliding-window log of the requests sent: with a limit of N a window, request N+1 waits
/// until the oldest of the last N leaves the window. A steady run therefore sends exactly N
/// requests a window, never N+1.
///
/// A request is logged when it leaves and stamped again when its answer is in: the service
/// counted it somewhere between the two, and only the later time is sure not to free the
/// window early, however long the request took. A request answered 204 leaves the log: the
/// service refused it.
#[derive(Debug)]
pub(crate) struct Pacer {
    per_minute: Option<u32>,
    per_day: Option<u32>,
    unit: QuotaUnit,
    /// The per-minute limit the service showed it allows, when lower than `per_minute`
    /// (0: not slowed down).
    slowed_to: AtomicU32,
    local: Mutex<Local>,
    ledger: Option<Ledger>,
    warned_low: AtomicBool,
    warned_exhausted: AtomicBool,
    warned_ledger: AtomicBool,
    events: Events,
}

/// The in-memory count: this process's own requests. Kept with a ledger too, so that a
/// ledger that fails (a file busy too long, a full disk) never leaves the process counting
/// from nothing: it then still paces against what it sent itself.
#[derive(Debug, Default)]
struct Local {
    /// Each request's ticket number and time, oldest first. A request stamped again when
    /// answered moves to the back (its new time is the newest), so the order holds and the
    /// newest requests, which decide a wait, are the last ones.
    sent: VecDeque<(u64, Instant)>,
    next_ticket: u64,
    /// After a 204: nothing goes before this.
    held_until: Option<Instant>,
    /// When the count last failed to explain a 204.
    unexplained_204_at: Option<Instant>,
}

impl Local {
    /// Forgets the requests older than `span`.
    fn forget_older_than(&mut self, now: Instant, span: Duration) {
        while self
            .sent
            .front()
            .is_some_and(|&(_, t)| now.saturating_duration_since(t) >= span)
        {
            self.sent.pop_front();
        }
    }

    /// How many units were counted in the last `span`.
    fn count_within(&self, now: Instant, span: Duration) -> usize {
        self.sent.len()
            - self
                .sent
                .partition_point(|&(_, t)| now.saturating_duration_since(t) >= span)
    }

    /// The age of the `n`-th newest request (1 is the newest), if `n` were sent.
    fn age_of_nth_newest(&self, now: Instant, n: usize) -> Option<Duration> {
        let at = self.sent.len().checked_sub(n)?;
        self.sent
            .get(at)
            .map(|&(_, t)| now.saturating_duration_since(t))
    }
}

/// The shared count, under a fingerprint of the key (never the key itself).
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) store: Arc<dyn QuotaLedger>,
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

/// A request counted by [`Pacer::acquire`], to be stamped with [`Pacer::answered`]: its
/// entries in the in-memory count (none without limits) and its first row in the ledger, if
/// any; `units` of each (one, or one a resource with [`QuotaUnit::Resource`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    local: Option<u64>,
    ledger: Option<LedgerEntry>,
    units: usize,
}

impl QuotaStatus {
    /// Requests left today, if there is a daily limit.
    pub fn left_today(&self) -> Option<u32> {
        self.per_day
            .map(|limit| limit.saturating_sub(self.used_today))
    }
}

/// What holds the next request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// The per-minute window is full.
    Minute,
    /// The daily window is full.
    Day,
    /// A 204 (met by this process or another sharing the ledger) holds every request.
    Hold204,
}

/// What decides a wait, as seen at one moment: for each limit N, the age of the N-th newest
/// request (absent when fewer were sent), and the time left of a 204's hold.
struct Window<'a> {
    nth_newest_ages: &'a [(usize, Duration)],
    hold: Option<Duration>,
}

impl Window<'_> {
    fn age_of_nth_newest(&self, n: usize) -> Option<Duration> {
        self.nth_newest_ages
            .iter()
            .find(|&&(m, _)| m == n)
            .map(|&(_, age)| age)
    }
}

impl Pacer {
    pub(crate) fn new(limits: &Limits) -> Pacer {
        Pacer {
            per_minute: limits.per_minute.filter(|&n| n > 0),
            per_day: limits.per_day.filter(|&n| n > 0),
            unit: limits.quota_unit,
            slowed_to: AtomicU32::new(0),
            local: Mutex::new(Local::default()),
            ledger: None,
            warned_low: AtomicBool::new(false),
            warned_exhausted: AtomicBool::new(false),
            warned_ledger: AtomicBool::new(false),
            events: Events::default(),
        }
    }

    /// Reports waits and quota warnings to `events`.
    pub(crate) fn with_events(mut self, events: Events) -> Pacer {
        self.events = events;
        self
    }

    /// Runs `step` where it cannot block the async runtime: with a ledger (which may wait
    /// for another process's lock, or a database, for seconds, and may itself block on the
    /// runtime: the [`QuotaLedger`] contract) on tokio's blocking pool, always; without one
    /// (memory only) right here.
    async fn off_runtime<R: Send + 'static>(
        self: &Arc<Self>,
        clock: &Arc<dyn Clock>,
        step: impl FnOnce(&Pacer, &dyn Clock) -> R + Send + 'static,
    ) -> R {
        if self.ledger.is_some() {
            let (pacer, clock) = (Arc::clone(self), Arc::clone(clock));
            return crate::blocking::run(move || step(&pacer, &*clock)).await;
        }
        step(self, &**clock)
    }

    /// Keeps the count in a shared ledger too.
    pub(crate) fn with_ledger(mut self, ledger: Ledger) -> Pacer {
        self.ledger = Some(ledger);
        self
    }

    fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none()
    }

    /// The per-minute limit in force: the configured one, or lower where the service showed
    /// that it allows less.
    fn per_minute(&self) -> Option<u32> {
        match self.slowed_to.load(Ordering::Relaxed) {
            0 => self.per_minute,
            slowed => self.per_minute.map(|n| n.min(slowed)),
        }
    }

    /// The units a request of `queries` resources costs, never more than a window holds (a
    /// batch larger than the minute's quota then waits for a whole window).
    fn units(&self, queries: usize) -> usize {
        let units = match self.unit {
            QuotaUnit::Request => 1,
            QuotaUnit::Resource => queries.max(1),
        };
        [self.per_minute(), self.per_day]
            .into_iter()
            .flatten()
            .fold(units, |units, limit| units.min(limit as usize))
    }

    /// The windows in force with their limits, in units.
    fn windows(&self) -> impl Iterator<Item = (usize, Duration)> {
        [(self.per_minute(), MINUTE), (self.per_day, DAY)]
            .into_iter()
            .filter_map(|(limit, span)| Some((limit? as usize, span)))
    }

    /// Which entries decide whether `units` more fit: for each limit N, the (N - units + 1)-th
    /// newest (with one unit, the N-th).
    fn deciding(&self, units: usize) -> Vec<usize> {
        self.windows()
            .map(|(limit, _)| limit + 1 - units.clamp(1, limit))
            .collect()
    }

    /// How long until `units` more fit in every window (`None`: they fit now), and what
    /// holds them.
    fn wait_for_room(&self, window: &Window<'_>, units: usize) -> Option<(Duration, Holder)> {
        let by_limits = self.windows().filter_map(|(limit, span)| {
            // The (limit - units + 1)-th most recent entry decides when `units` more fit.
            let age = window.age_of_nth_newest(limit + 1 - units.clamp(1, limit))?;
            let wait = (span + EDGE_MARGIN).checked_sub(age)?;
            let holder = if span == DAY {
                Holder::Day
            } else {
                Holder::Minute
            };
            (!wait.is_zero()).then_some((wait, holder))
        });
        by_limits
            .chain(window.hold.map(|hold| (hold, Holder::Hold204)))
            .max_by_key(|&(wait, _)| wait)
    }

    /// Waits until one more request, of `queries` resources, fits in every window, then
    /// counts it as sent; or, when the wait would be longer than `max_wait`, fails at once
    /// with [`Error::QuotaWait`], counting nothing.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        clock: &Arc<dyn Clock>,
        queries: usize,
        max_wait: Option<Duration>,
    ) -> Result<Ticket, Error> {
        let units = self.units(queries);
        loop {
            let taken = self
                .off_runtime(clock, move |pacer, clock| {
                    let taken = pacer.try_take(clock, units);
                    if taken.is_ok() {
                        pacer.warn_if_low(clock);
                    }
                    taken
                })
                .await;
            let (wait, holder) = match taken {
                Ok(ticket) => return Ok(ticket),
                Err(wait) => wait,
            };
            let until = clock.system_time() + wait;
            let daily = holder == Holder::Day;
            if daily && !self.warned_exhausted.swap(true, Ordering::Relaxed) {
                self.events.emit(Event::QuotaExhausted {
                    per_day: self.per_day.unwrap_or(0),
                    next_at: clock.system_time() + wait.min(DAY + EDGE_MARGIN),
                });
            }
            if max_wait.is_some_and(|max| wait > max) {
                return Err(Error::QuotaWait { wait, until, daily });
            }
            match holder {
                Holder::Hold204 => self.events.emit(Event::HeldBy204 { wait, until }),
                _ => self.events.emit(Event::Pacing { wait, until, daily }),
            }
            clock.sleep(wait).await;
        }
    }

    /// Async [`Pacer::answered`], off the runtime when it writes to the ledger.
    pub(crate) async fn answered_async(self: &Arc<Self>, clock: &Arc<dyn Clock>, ticket: Ticket) {
        self.off_runtime(clock, move |pacer, clock| pacer.answered(clock, ticket))
            .await
    }

    /// Async [`Pacer::refund`].
    pub(crate) async fn refund_async(self: &Arc<Self>, clock: &Arc<dyn Clock>, ticket: Ticket) {
        self.off_runtime(clock, move |pacer, _| pacer.refund(ticket))
            .await
    }

    /// After the request of `ticket` was answered 204: it leaves the count (the service
    /// refused it), the pace slows down when such 204s keep coming although the count had
    /// room for them, and [`Pacer::hold`] holds every request for `wait`.
    pub(crate) async fn refused_async(
        self: &Arc<Self>,
        clock: &Arc<dyn Clock>,
        wait: Duration,
        ticket: Ticket,
    ) {
        self.off_runtime(clock, move |pacer, clock| {
            pacer.refund(ticket);
            pacer.slow_down_if_steady(clock);
            pacer.hold(clock, wait)
        })
        .await
    }

    /// Async [`Pacer::status`].
    pub(crate) async fn status_async(self: &Arc<Self>, clock: &Arc<dyn Clock>) -> QuotaStatus {
        self.off_runtime(clock, |pacer, clock| pacer.status(clock))
            .await
    }

    /// The request of `ticket` never reached the service (refused, DNS, TLS): it costs no
    /// quota, so it leaves the count, in memory and in the ledger.
    pub(crate) fn refund(&self, ticket: Ticket) {
        if let Some(number) = ticket.local {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..ticket.units {
                if let Some(at) = local.sent.iter().rposition(|&(n, _)| n == number) {
                    local.sent.remove(at);
                }
            }
        }
        if let (Some(entry), Some(ledger)) = (ticket.ledger, &self.ledger) {
            if let Err(error) = ledger
                .store
                .refund(&ledger.key_fingerprint, entry, ticket.units)
            {
                tracing::warn!(%error, "quota ledger unusable");
            }
        }
    }

    /// Counts one request of `units` if it fits now, in memory and in the ledger; else how
    /// long to wait, and whether the daily window is what holds it.
    fn try_take(&self, clock: &dyn Clock, units: usize) -> Result<Ticket, (Duration, Holder)> {
        let now = clock.now();
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hold) = local.held_until.filter(|&t| t > now) {
            return Err((hold - now, Holder::Hold204));
        }
        // A day of requests is kept, for the daily window and for `status`; only the newest
        // few are read for a decision.
        local.forget_older_than(now, DAY + EDGE_MARGIN);
        if !self.is_unlimited() {
            let nth_newest_ages: Vec<_> = self
                .deciding(units)
                .into_iter()
                .filter_map(|n| Some((n, local.age_of_nth_newest(now, n)?)))
                .collect();
            if let Some(wait) = self.wait_for_room(
                &Window {
                    nth_newest_ages: &nth_newest_ages,
                    hold: None,
                },
                units,
            ) {
                return Err(wait);
            }
        }
        let ledger = self.take_from_ledger(clock, units)?;
        let entry = (!self.is_unlimited()).then(|| {
            let ticket = local.next_ticket;
            local.next_ticket += 1;
            local.sent.extend(std::iter::repeat_n((ticket, now), units));
            ticket
        });
        Ok(Ticket {
            local: entry,
            ledger,
            units,
        })
    }

    /// After a 204 (its request already out of the count): when the count had room for it
    /// (the service counts more than this client does: resources rather than requests, or
    /// another program on the key), twice within a few minutes, the per-minute limit comes
    /// down to what the service let through in the last minute (said once, by an event).
    fn slow_down_if_steady(&self, clock: &dyn Clock) {
        let Some(per_minute) = self.per_minute() else {
            return;
        };
        let now = clock.now();
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let allowed = local.count_within(now, MINUTE);
        if allowed >= per_minute as usize {
            return;
        }
        let steady = local
            .unexplained_204_at
            .replace(now)
            .is_some_and(|before| now.saturating_duration_since(before) < STEADY_204S);
        drop(local);
        if !steady {
            return;
        }
        let slowed = u32::try_from(allowed.max(1)).unwrap_or(u32::MAX);
        let was = self.slowed_to.swap(slowed, Ordering::Relaxed);
        if was == 0 {
            self.events.emit(Event::QuotaSlowedDown {
                per_minute,
                now_per_minute: slowed,
                unit: self.unit,
            });
        } else {
            tracing::info!(per_minute = slowed, "quota pace lowered again after 204s");
        }
    }

    /// The ledger's say: `Ok(Some(entry))` counted there, `Ok(None)` no ledger (or one that
    /// failed: the in-memory count decided alone), `Err` the wait it asks for.
    fn take_from_ledger(
        &self,
        clock: &dyn Clock,
        units: usize,
    ) -> Result<Option<LedgerEntry>, (Duration, Holder)> {
        let Some(ledger) = &self.ledger else {
            return Ok(None);
        };
        let limited = !self.is_unlimited();
        // The ledger sees only the wait; what holds the request back stays here.
        let mut holder = Holder::Minute;
        let taken = ledger.store.take(
            &ledger.key_fingerprint,
            clock.system_time(),
            DAY + EDGE_MARGIN,
            &self.deciding(units),
            units,
            &mut |nth_newest_ages, hold| {
                // Without limits only a 204's hold can stop a request.
                let nth_newest_ages = if limited { nth_newest_ages } else { &[] };
                let wait = self.wait_for_room(
                    &Window {
                        nth_newest_ages,
                        hold,
                    },
                    units,
                )?;
                holder = wait.1;
                Some(wait.0)
            },
        );
        match taken {
            Ok(Ok(entry)) => Ok(Some(entry)),
            Ok(Err(wait)) => Err((wait, holder)),
            Err(error) => {
                if !self.warned_ledger.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "quota ledger unusable: pacing by this run's own requests only"
                    );
                }
                Ok(None)
            }
        }
    }

    /// The answer to the request of `ticket` is in (or it failed): it counts from now.
    pub(crate) fn answered(&self, clock: &dyn Clock, ticket: Ticket) {
        if let Some(number) = ticket.local {
            let now = clock.now();
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            // In flight, its entries are among the newest: found from the back (in descending
            // places, so that each removal leaves the others' places as they were).
            let places: Vec<usize> = (0..local.sent.len())
                .rev()
                .filter(|&i| local.sent[i].0 == number)
                .take(ticket.units)
                .collect();
            for at in places {
                if let Some((n, t)) = local.sent.remove(at) {
                    local.sent.push_back((n, t.max(now)));
                }
            }
        }
        if let (Some(entry), Some(ledger)) = (ticket.ledger, &self.ledger) {
            if let Err(error) = ledger.store.restamp(
                &ledger.key_fingerprint,
                entry,
                ticket.units,
                clock.system_time(),
            ) {
                tracing::warn!(%error, "quota ledger unusable");
            }
        }
    }

    /// After a 204: no request of this key goes for `wait` (in every process sharing the
    /// ledger, and in this one whatever the ledger does).
    pub(crate) fn hold(&self, clock: &dyn Clock, wait: Duration) {
        // A year at most: a wait that long is a configuration mistake, not a reason to panic.
        let wait = wait.min(LONGEST_HOLD);
        if let Some(ledger) = &self.ledger {
            let now = clock.system_time();
            if let Err(error) = ledger.store.hold(&ledger.key_fingerprint, now, wait) {
                tracing::warn!(%error, "quota ledger unusable: the hold is this run's only");
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
            self.events.emit(Event::QuotaLow {
                left,
                per_day,
                next_release_at: status.next_release_at,
            });
        }
    }

    pub(crate) fn status(&self, clock: &dyn Clock) -> QuotaStatus {
        let now = clock.now();
        let wall = clock.system_time();
        if let Some(ledger) = &self.ledger {
            match ledger.store.used(&ledger.key_fingerprint, wall, DAY) {
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
        // Oldest first: the requests of the last day are the end of the log.
        let first_today = local
            .sent
            .partition_point(|&(_, t)| now.saturating_duration_since(t) >= DAY);
        let used_today = u32::try_from(local.sent.len() - first_today).unwrap_or(u32::MAX);
        let oldest = local.sent.get(first_today).map(|&(_, t)| t);
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

    /// The ages `pacer` reads of requests `ages_s` seconds old (newest first).
    fn ages(pacer: &Pacer, ages_s: &[u64]) -> Vec<(usize, Duration)> {
        pacer
            .deciding(1)
            .into_iter()
            .filter_map(|n| Some((n, Duration::from_secs(*ages_s.get(n - 1)?))))
            .collect()
    }

    fn window(nth_newest_ages: &[(usize, Duration)], hold: Option<Duration>) -> Window<'_> {
        Window {
            nth_newest_ages,
            hold,
        }
    }

    #[test]
    fn the_limit_th_newest_request_decides() {
        let pacer = pacer(Some(2), None);
        let three = ages(&pacer, &[10, 20, 30]);
        let three = window(&three, None);
        // The 2nd newest is 20 s old: one more fits 40 s (and the margin) later.
        assert_eq!(
            pacer.wait_for_room(&three, 1),
            Some((Duration::from_secs(40) + EDGE_MARGIN, Holder::Minute))
        );
        let one = ages(&pacer, &[10]);
        let one = window(&one, None);
        assert_eq!(pacer.wait_for_room(&one, 1), None);
    }

    #[test]
    fn the_daily_window_and_a_hold_are_told_apart() {
        let pacer = pacer(Some(4), Some(2));
        let daily = ages(&pacer, &[3600, 7200]);
        let daily = window(&daily, None);
        let (wait, holder) = pacer.wait_for_room(&daily, 1).unwrap();
        assert_eq!(holder, Holder::Day);
        assert_eq!(wait, DAY - Duration::from_secs(7200) + EDGE_MARGIN);
        let held = window(&[], Some(Duration::from_secs(60)));
        assert_eq!(
            pacer.wait_for_room(&held, 1),
            Some((Duration::from_secs(60), Holder::Hold204))
        );
    }

    #[test]
    fn utc_times_read_as_dates() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_090_297);
        assert_eq!(format_utc(at), "2025-11-25 17:04:57 UTC");
    }

    /// A clock the test moves by hand: monotonic time and wall time, which can be set back.
    #[derive(Debug)]
    struct HandClock(Mutex<(Instant, SystemTime)>);

    impl HandClock {
        fn new() -> HandClock {
            HandClock(Mutex::new((Instant::now(), SystemTime::now())))
        }
        fn advance(&self, by: Duration) {
            let mut t = self.0.lock().unwrap();
            t.0 += by;
            t.1 += by;
        }
        #[cfg(feature = "cache")]
        fn set_wall_back(&self, by: Duration) {
            self.0.lock().unwrap().1 -= by;
        }
    }

    impl Clock for HandClock {
        fn now(&self) -> Instant {
            self.0.lock().unwrap().0
        }
        fn sleep(
            &self,
            _: Duration,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            unreachable!("the tests take without waiting")
        }
        fn system_time(&self) -> SystemTime {
            self.0.lock().unwrap().1
        }
    }

    fn wait_of(taken: Result<Ticket, (Duration, Holder)>) -> Option<Duration> {
        taken.err().map(|(wait, _)| wait)
    }

    #[test]
    fn a_slow_answer_counts_from_when_it_arrived() {
        let (pacer, clock) = (pacer(Some(1), None), HandClock::new());
        let ticket = pacer.try_take(&clock, 1).unwrap();
        clock.advance(Duration::from_secs(10));
        pacer.answered(&clock, ticket);
        clock.advance(Duration::from_secs(51));
        // Sent 61 s ago, but answered 51 s ago: the minute frees 9 s (and the margin) on.
        assert_eq!(
            wait_of(pacer.try_take(&clock, 1)),
            Some(Duration::from_secs(9) + EDGE_MARGIN)
        );
        clock.advance(Duration::from_secs(10));
        assert!(pacer.try_take(&clock, 1).is_ok());
    }

    #[test]
    fn a_204_hold_holds_every_request_and_a_huge_one_does_not_panic() {
        let (pacer, clock) = (pacer(None, None), HandClock::new());
        pacer.hold(&clock, Duration::from_secs(60));
        assert_eq!(
            wait_of(pacer.try_take(&clock, 1)),
            Some(Duration::from_secs(60))
        );
        pacer.hold(&clock, Duration::MAX);
        assert_eq!(wait_of(pacer.try_take(&clock, 1)), Some(LONGEST_HOLD));
    }

    #[test]
    fn a_long_run_keeps_its_day_counted_exactly() {
        // 20,000 requests at 1,000 a minute, under a daily limit of 100,000, answered at once:
        // each decision reads two entries of the log, and the day's count stays exact.
        let (pacer, clock) = (pacer(Some(1000), Some(100_000)), HandClock::new());
        let start = clock.now();
        for _ in 0..20_000 {
            let ticket = loop {
                match pacer.try_take(&clock, 1) {
                    Ok(ticket) => break ticket,
                    Err((wait, _)) => clock.advance(wait),
                }
            };
            pacer.answered(&clock, ticket);
        }
        // 1,000 at once, then 1,000 each minute (and its margin): the 20th thousand goes
        // 19 windows on, no sooner and no later.
        assert_eq!(clock.now() - start, (MINUTE + EDGE_MARGIN) * 19);
        assert_eq!(pacer.status(&clock).used_today, 20_000);
        clock.advance(DAY);
        assert_eq!(pacer.status(&clock).used_today, 0);
    }

    #[cfg(feature = "cache")]
    mod ledger {
        use std::sync::Arc;

        use super::*;

        /// `n` pacers, as `n` processes would have, on one cache file and one key.
        fn sharing(n: usize, per_minute: u32, dir: &tempfile::TempDir) -> Vec<Pacer> {
            (0..n)
                .map(|_| {
                    let cache = crate::Cache::open(dir.path().join("cache.sqlite3")).unwrap();
                    pacer(Some(per_minute), None).with_ledger(Ledger {
                        store: Arc::new(cache),
                        key_fingerprint: "fingerprint".to_owned(),
                    })
                })
                .collect()
        }

        fn sql(dir: &tempfile::TempDir, statement: &str) -> i64 {
            let connection = rusqlite::Connection::open(dir.path().join("cache.sqlite3")).unwrap();
            if statement.starts_with("SELECT") {
                connection
                    .query_row(statement, [], |row| row.get(0))
                    .unwrap()
            } else {
                connection.execute_batch(statement).unwrap();
                0
            }
        }

        #[test]
        fn processes_share_one_count_and_one_hold() {
            let dir = tempfile::tempdir().unwrap();
            let clock = HandClock::new();
            let [a, b] = <[Pacer; 2]>::try_from(sharing(2, 2, &dir)).unwrap();
            assert!(a.try_take(&clock, 1).is_ok());
            assert!(b.try_take(&clock, 1).is_ok());
            // Each sent one: alone, each could send another.
            assert_eq!(wait_of(a.try_take(&clock, 1)), Some(MINUTE + EDGE_MARGIN));
            clock.advance(MINUTE + EDGE_MARGIN);
            a.hold(&clock, Duration::from_secs(30));
            assert_eq!(
                wait_of(b.try_take(&clock, 1)),
                Some(Duration::from_secs(30))
            );
        }

        #[test]
        fn processes_taking_at_once_never_exceed_the_limit() {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(HandClock::new());
            let taken: usize = std::thread::scope(|scope| {
                let takers: Vec<_> = sharing(4, 5, &dir)
                    .into_iter()
                    .map(|pacer| {
                        let clock = Arc::clone(&clock);
                        scope.spawn(move || {
                            (0..10)
                                .filter(|_| pacer.try_take(&*clock, 1).is_ok())
                                .count()
                        })
                    })
                    .collect();
                takers.into_iter().map(|t| t.join().unwrap()).sum()
            });
            assert_eq!(taken, 5);
            assert_eq!(sql(&dir, "SELECT COUNT(*) FROM quota_sent"), 5);
        }

        #[test]
        fn counted_by_resource_a_batch_takes_its_size_and_a_refund_gives_it_back() {
            let dir = tempfile::tempdir().unwrap();
            let clock = HandClock::new();
            let cache = crate::Cache::open(dir.path().join("cache.sqlite3")).unwrap();
            let limits = crate::Tier::Public
                .limits()
                .with_per_minute(Some(8))
                .with_quota_unit(QuotaUnit::Resource);
            let pacer = Pacer::new(&limits).with_ledger(Ledger {
                store: Arc::new(cache),
                key_fingerprint: "fingerprint".to_owned(),
            });
            let first = pacer.try_take(&clock, pacer.units(4)).unwrap();
            let second = pacer.try_take(&clock, pacer.units(3)).unwrap();
            assert_eq!(sql(&dir, "SELECT COUNT(*) FROM quota_sent"), 7);
            assert_eq!(
                wait_of(pacer.try_take(&clock, pacer.units(2))),
                Some(MINUTE + EDGE_MARGIN),
                "9 of 8"
            );
            clock.advance(Duration::from_secs(5));
            pacer.answered(&clock, first);
            pacer.refund(second);
            assert_eq!(sql(&dir, "SELECT COUNT(*) FROM quota_sent"), 4);
            assert_eq!(pacer.status(&clock).used_today, 4);
            // Four left in the minute: a batch of 4 fits, one more unit waits for the first
            // batch, counted from when it was answered.
            pacer.try_take(&clock, pacer.units(4)).unwrap();
            assert_eq!(
                wait_of(pacer.try_take(&clock, 1)),
                Some(MINUTE + EDGE_MARGIN)
            );
            assert_eq!(pacer.units(100), 8, "never more than a window holds");
        }

        #[test]
        fn requests_older_than_a_day_leave_the_file() {
            let dir = tempfile::tempdir().unwrap();
            let clock = HandClock::new();
            let pacer = sharing(1, 5, &dir).pop().unwrap();
            pacer.try_take(&clock, 1).unwrap();
            clock.advance(DAY + EDGE_MARGIN + Duration::from_secs(1));
            pacer.try_take(&clock, 1).unwrap();
            assert_eq!(sql(&dir, "SELECT COUNT(*) FROM quota_sent"), 1);
        }

        #[test]
        fn a_broken_ledger_leaves_the_run_its_own_count() {
            let dir = tempfile::tempdir().unwrap();
            let clock = HandClock::new();
            let pacer = sharing(1, 2, &dir).pop().unwrap();
            pacer.try_take(&clock, 1).unwrap();
            pacer.try_take(&clock, 1).unwrap();
            sql(&dir, "DROP TABLE quota_sent");
            // The ledger fails now; what this run sent itself still holds it.
            assert_eq!(
                wait_of(pacer.try_take(&clock, 1)),
                Some(MINUTE + EDGE_MARGIN)
            );
        }

        #[test]
        fn a_wall_clock_set_back_costs_one_window_at_most() {
            let dir = tempfile::tempdir().unwrap();
            let clock = HandClock::new();
            let [a, b] = <[Pacer; 2]>::try_from(sharing(2, 2, &dir)).unwrap();
            a.try_take(&clock, 1).unwrap();
            a.try_take(&clock, 1).unwrap();
            clock.advance(MINUTE + EDGE_MARGIN);
            // An NTP step of an hour back: the requests count from now, not from an hour on.
            clock.set_wall_back(Duration::from_secs(3600));
            assert_eq!(wait_of(b.try_take(&clock, 1)), Some(MINUTE + EDGE_MARGIN));
            // And a hold set before a step lasts its length, not an hour more.
            let dir = tempfile::tempdir().unwrap();
            let [a, b] = <[Pacer; 2]>::try_from(sharing(2, 2, &dir)).unwrap();
            a.hold(&clock, Duration::from_secs(30));
            clock.set_wall_back(Duration::from_secs(3600));
            assert_eq!(
                wait_of(b.try_take(&clock, 1)),
                Some(Duration::from_secs(30))
            );
        }
    }
}
