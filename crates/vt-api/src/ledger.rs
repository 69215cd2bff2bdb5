//! The quota ledger: the count of a key's requests that every client pacing that key shares,
//! wherever it is kept. vt-api keeps it in its SQLite `Cache` file (feature
//! `cache`), for processes on one machine; any other store (a database shared by servers)
//! implements [`QuotaLedger`].

use std::time::{Duration, SystemTime};

/// What a [`QuotaLedger`] call failed with: whatever its store failed with. The pacer logs
/// it and paces by its own requests until the ledger answers again; it never fails a request.
pub type LedgerError = Box<dyn std::error::Error + Send + Sync>;

/// The decision [`QuotaLedger::take`] asks for: given the ages of the deciding units, as
/// `(n, age of the n-th newest)`, and the time left of a hold, the wait (`None`: the request
/// goes now). An implementation names it in its signature of `take`:
/// `decide: &mut QuotaDecision<'_>`.
pub type QuotaDecision<'a> =
    dyn FnMut(&[(usize, Duration)], Option<Duration>) -> Option<Duration> + Send + 'a;

/// A request recorded by [`QuotaLedger::take`], named as the ledger chooses (a row id, the
/// first of several): the pacer hands it back, with the request's units, to
/// [`QuotaLedger::restamp`] and [`QuotaLedger::refund`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LedgerEntry(pub i64);

/// A count of the requests sent under each key, shared by every client that paces against
/// it: clients in several processes, or several servers, each with its own pacer, then send
/// together no more than the key's limits allow, and a 204 met by one holds them all.
///
/// vt-api implements it for `Cache` (feature `cache`: one SQLite file shared
/// by the processes of one machine); give any implementation to
/// [`ClientBuilder::shared_quota_ledger`](crate::ClientBuilder::shared_quota_ledger).
///
/// # What a ledger holds
///
/// For each key (the `key` argument: a fingerprint of the API key, 32 hex digits, never the
/// key itself) a ledger holds:
///
/// - **units**, each with a wall-clock time: one unit per request, or one per resource a
///   request carries with [`QuotaUnit::Resource`](crate::QuotaUnit::Resource). A request of
///   `units` units is recorded as that many units with the same time, and is stamped again or
///   refunded as a whole, by the [`LedgerEntry`] that `take` returned for it. How units are
///   stored is the ledger's business (one row each, as the cache does, or one row with a
///   count); every count and every "n-th newest" below counts units.
/// - **a hold**: after a 204, the time until which no request of the key goes, and the time
///   it was set.
///
/// Every time is a [`SystemTime`] given by the caller (the client's
/// [`Clock::system_time`](crate::Clock::system_time)), never read from the ledger's own
/// clock, so that clients and ledger agree even under a test's scaled clock. Milliseconds are
/// precise enough. The age of a unit at `now` is `now` minus its time, zero when its time is
/// after `now`.
///
/// # Where it is called
///
/// Every method is synchronous and may block (a lock held by another process, a database
/// round trip). The client calls them only on tokio's blocking pool
/// (`tokio::task::spawn_blocking`), never on a runtime worker, so an implementation over an
/// async database driver may run its queries with `tokio::runtime::Handle::current()
/// .block_on(...)` inside a method. (A client driven outside any tokio runtime calls them on
/// its own thread.) A call should be bounded in time (a lock or statement timeout): a request
/// waits for it.
///
/// # Failures
///
/// An `Err` never fails a request: the pacer logs it and paces by what its own process sent
/// (an in-memory count it keeps beside the ledger) until the ledger answers again.
pub trait QuotaLedger: Send + Sync + std::fmt::Debug {
    /// Decides whether a request of `units` units of `key` goes at `now`, and records it when
    /// it does, in one transaction (see the steps). Returns `Ok(Ok(entry))` when it was
    /// recorded, `Ok(Err(wait))` with `decide`'s wait when not (nothing recorded).
    ///
    /// 1. Units older than `keep` (their age above it) are never asked about again: they may
    ///    be forgotten, of any key.
    /// 2. Units of `key` whose time is after `now` (the wall clock was set back: an NTP step,
    ///    a resumed machine) should be stamped `now`, so that the key waits one window at
    ///    most, not as long as the jump.
    /// 3. For each `n` of `nths` (each at least 1, in that order), the age at `now` of the
    ///    `n`-th newest unit of `key` (1 is the newest; units of the same time in any order),
    ///    as `(n, age)`; an `n` is left out when `key` has fewer than `n` units. The pacer
    ///    compares each age with its window: a unit older than the window does not hold the
    ///    request back, so units older than `keep` may be counted or not.
    /// 4. The hold left: `Some(until - now)` when `key` has a hold ending after `now`, else
    ///    `None`. A hold set after `now` (the clock was set back) lasts its length
    ///    (`until - set_at`) from `now`.
    /// 5. `decide(&ages, hold)`: `Some(wait)` says the request must wait; `None` that it goes.
    ///    When it goes, `units` units of `key` stamped `now` are recorded, and `take` returns
    ///    an entry naming them.
    ///
    /// Atomic: between reading (3, 4) and recording (5), no other `take` or `hold` of `key`,
    /// by any client in any process, may read or write: else two clients both see room for
    /// the last unit and the key goes over its limit. In SQLite, `BEGIN IMMEDIATE`; in
    /// PostgreSQL, a transaction that first takes a lock of the key
    /// (`pg_advisory_xact_lock`, or `SELECT ... FOR UPDATE` of a row of the key). A ledger that
    /// retries its transaction (after a serialization failure) may call `decide` again, with
    /// what it reads then: the last verdict counts.
    fn take(
        &self,
        key: &str,
        now: SystemTime,
        keep: Duration,
        nths: &[usize],
        units: usize,
        decide: &mut QuotaDecision<'_>,
    ) -> Result<Result<LedgerEntry, Duration>, LedgerError>;

    /// The request of `entry` (its `units` units) was answered at `at`: each of its units
    /// counts from the later of its time and `at` (the service counted the request somewhere
    /// between sending and answering; only the later time never frees a window early). An
    /// entry no longer held (forgotten, refunded) is no error.
    fn restamp(
        &self,
        key: &str,
        entry: LedgerEntry,
        units: usize,
        at: SystemTime,
    ) -> Result<(), LedgerError>;

    /// The request of `entry` (its `units` units) never reached the service, or the service
    /// refused it (204): its units leave the ledger. An entry no longer held is no error.
    fn refund(&self, key: &str, entry: LedgerEntry, units: usize) -> Result<(), LedgerError>;

    /// A 204 at `now`: no request of `key` goes for `wait`. The hold ends at the later of
    /// `now + wait` and the end of a hold already set; it is marked as set at `now`.
    fn hold(&self, key: &str, now: SystemTime, wait: Duration) -> Result<(), LedgerError>;

    /// The units of `key` younger than `window` at `now` (their age below it), and the time
    /// of the oldest of them: what [`Client::quota_status`](crate::Client::quota_status)
    /// shows.
    fn used(
        &self,
        key: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<(u32, Option<SystemTime>), LedgerError>;
}
