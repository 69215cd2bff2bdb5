//! What clients really sent: request counters, read through `GET /_emulator/stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use vt_server::routes::{self, ROUTES};

use crate::FaultKind;

/// The statuses the emulator answers with.
const STATUSES: [u16; 8] = [200, 204, 400, 403, 404, 405, 413, 500];

/// The v2 endpoints are counted by their number in [`ROUTES`]; anything else as `other`,
/// numbered after them.
pub(crate) const OTHER_ENDPOINT: usize = ROUTES.len();

/// A snapshot of the counters since start.
///
/// `requests` counts every request except those to `/_emulator/`; `by_status` counts the
/// answers by HTTP status (a `reset` fault has none); `by_endpoint` counts requests by v2
/// endpoint (`file/report`, ..., or `other` for any other path); `resources_asked` adds up the
/// resources named in requests (the hashes of `/file/report`, the URLs of `/url/report` and
/// `/url/scan`: a batch of 25 counts 25; the domain or IP address of a domain or IP report
/// counts 1); `faults` counts the injected faults by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Every request except those to `/_emulator/`.
    pub requests: u64,
    /// Answers by HTTP status (only statuses that occurred).
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by endpoint (only endpoints that were asked).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Resources named in requests (hashes, URLs, domains, IP addresses).
    pub resources_asked: u64,
    /// Injected faults by kind (`500`, `reset`, `slow`, `truncate`, `204`).
    pub faults: BTreeMap<String, u64>,
}

impl Stats {
    /// How many answers had this status.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// How many requests went to this endpoint (e.g. `file/report`, `other`).
    pub fn endpoint(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    /// How many times this fault was injected.
    pub fn fault(&self, kind: FaultKind) -> u64 {
        self.faults.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// The counters, in a few shards, one per thread in turn: on every request each worker
/// thread adds to its own cache line instead of taking turns on shared ones.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    shards: [Shard; SHARDS],
}

const SHARDS: usize = 8;

/// One shard, alone on its cache lines (128 bytes: the unit that adjacent-line prefetch moves
/// between cores).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    requests: AtomicU64,
    statuses: [AtomicU64; STATUSES.len()],
    endpoints: [AtomicU64; ROUTES.len() + 1],
    resources: AtomicU64,
    faults: [AtomicU64; FaultKind::ALL.len()],
}

/// The shard of the current thread: threads are numbered in the order they first count.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

impl Counters {
    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    pub(crate) fn request(&self, endpoint: usize) {
        let shard = self.shard();
        shard.requests.fetch_add(1, Ordering::Relaxed);
        shard.endpoints[endpoint].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn resources(&self, n: usize) {
        self.shard()
            .resources
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts an answer; every status the emulator gives is in `STATUSES`.
    pub(crate) fn status(&self, status: u16) {
        if let Some(i) = STATUSES.iter().position(|&s| s == status) {
            self.shard().statuses[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        self.shard().faults[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Zeroes every counter (`POST /_emulator/reset`). A request counted while this runs may
    /// be zeroed or kept.
    pub(crate) fn reset(&self) {
        for shard in &self.shards {
            let counters = [&shard.requests, &shard.resources]
                .into_iter()
                .chain(&shard.statuses)
                .chain(&shard.endpoints)
                .chain(&shard.faults);
            for counter in counters {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }

    /// One counter added up over the shards.
    fn total(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(shard).load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let endpoint_names = ROUTES.iter().map(|route| route.path).chain(["other"]);
        Stats {
            requests: self.total(|s| &s.requests),
            by_status: STATUSES
                .iter()
                .enumerate()
                .map(|(i, &status)| (status, self.total(|s| &s.statuses[i])))
                .filter(|&(_, n)| n > 0)
                .collect(),
            by_endpoint: endpoint_names
                .enumerate()
                .map(|(i, e)| (e.to_owned(), self.total(|s| &s.endpoints[i])))
                .filter(|&(_, n)| n > 0)
                .collect(),
            resources_asked: self.total(|s| &s.resources),
            faults: FaultKind::ALL
                .iter()
                .map(|k| (k.as_str().to_owned(), self.total(|s| &s.faults[k.index()])))
                .filter(|&(_, n)| n > 0)
                .collect(),
        }
    }
}

/// The endpoint index of a request path (`OTHER_ENDPOINT` when not a v2 endpoint).
pub(crate) fn endpoint_of(path: &str) -> usize {
    routes::endpoint(path).unwrap_or(OTHER_ENDPOINT)
}
