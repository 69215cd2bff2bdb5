//! The audit log's writer. Request handlers append their entry, as one JSON line, to the page
//! being filled; one task hands the page to the store every [`EVERY`], where it is kept whole
//! (one row, not a row and two index entries an entry) with the requests each token made
//! each minute, which the daily limits count. Answering a client never waits for the store,
//! and an entry costs no allocation, no message and no row of its own: at tens of thousands
//! of requests a second, the rows were most of what a cache hit cost beyond the direct
//! service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::{AuditLine, AuditPage, Store};

/// How often the page being filled is written.
const EVERY: Duration = Duration::from_millis(100);
/// The most a page holds (its lines' bytes) while the store does not take it: beyond, new
/// entries are dropped, counted, and said in the log when the page is written.
const MOST_BYTES: usize = 64 << 20;

/// Where request handlers put their audit entries.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    filling: Arc<Mutex<Filling>>,
    /// Never sent on: the writer learns that every `AuditLog` is gone when its receiver
    /// closes, and then writes the last page and ends.
    _open: mpsc::Sender<()>,
}

/// The page being filled, and the entries dropped since the last one was written.
#[derive(Debug, Default)]
struct Filling {
    page: AuditPage,
    /// Requests counted against daily limits: token → (minute, requests) of this page.
    usage: HashMap<String, Vec<(i64, u64)>>,
    dropped: u64,
}

impl AuditLog {
    /// Starts the writer; it ends, having written everything, when every `AuditLog` is gone.
    pub(crate) fn start(store: Store) -> (AuditLog, tokio::task::JoinHandle<()>) {
        let filling = Arc::new(Mutex::new(Filling::default()));
        let (open, mut closed) = mpsc::channel::<()>(1);
        let log = AuditLog {
            filling: Arc::clone(&filling),
            _open: open,
        };
        let writer = tokio::spawn(async move {
            loop {
                let open = tokio::select! {
                    () = tokio::time::sleep(EVERY) => true,
                    _ = closed.recv() => false,
                };
                let (page, dropped) = take(&filling);
                if dropped > 0 {
                    tracing::error!(dropped, "audit entries dropped: the store did not keep up");
                }
                if page.entries > 0 {
                    let entries = page.entries;
                    if let Err(error) = store.record(page).await {
                        tracing::error!(%error, entries, "audit entries not written");
                    }
                }
                if !open {
                    break;
                }
            }
        });
        (log, writer)
    }

    /// Adds `entry` to the page being filled.
    pub(crate) fn record(&self, entry: &AuditLine<'_>) {
        let mut filling = lock(&self.filling);
        if filling.page.lines.len() >= MOST_BYTES {
            filling.dropped += 1;
            return;
        }
        filling.page.push(entry);
        if entry.counted {
            let minute = entry.at_ms.div_euclid(60_000);
            match filling.usage.get_mut(&*entry.token) {
                Some(minutes) => match minutes.iter_mut().find(|(m, _)| *m == minute) {
                    Some((_, requests)) => *requests += 1,
                    None => minutes.push((minute, 1)),
                },
                None => {
                    filling
                        .usage
                        .insert(entry.token.to_string(), vec![(minute, 1)]);
                }
            }
        }
    }
}

fn lock(filling: &Mutex<Filling>) -> MutexGuard<'_, Filling> {
    filling.lock().unwrap_or_else(|e| e.into_inner())
}

/// The page filled so far (with its usage), and the entries dropped; a new page begins.
fn take(filling: &Mutex<Filling>) -> (AuditPage, u64) {
    let mut filling = lock(filling);
    let dropped = std::mem::take(&mut filling.dropped);
    let mut page = std::mem::take(&mut filling.page);
    page.usage = filling
        .usage
        .drain()
        .flat_map(|(token, minutes)| {
            minutes
                .into_iter()
                .map(move |(minute, requests)| (token.clone(), minute, requests))
        })
        .collect();
    (page, dropped)
}
