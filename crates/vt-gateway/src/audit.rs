//! The audit log's writer. Request handlers append their entry, as one JSON line, to the page
//! being filled; one task hands the page to the store every [`EVERY`], where it is kept whole
//! (one row, not a row and two index entries an entry) with the requests each token made
//! each minute, which the daily limits count. Answering a client never waits for the store,
//! and an entry costs no allocation, no message and no row of its own: at tens of thousands
//! of requests a second, the rows were most of what a cache hit cost beyond the direct
//! service.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::{write_line, AuditLine, AuditPage, Store};

/// How often the page being filled is written.
const EVERY: Duration = Duration::from_millis(100);
/// The most a page holds (its lines' bytes) while the store does not take it: beyond, new
/// entries are dropped, counted, and said in the log when the page is written.
const MOST_BYTES: usize = 64 << 20;
/// The largest buffer of a written page kept to fill the next one in: a busy gateway's pages
/// are megabytes, which a new page would otherwise grow to by copying, and fault in, again.
const MOST_SPARE: usize = 16 << 20;

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
            let mut spare = Vec::new();
            loop {
                let open = tokio::select! {
                    () = tokio::time::sleep(EVERY) => true,
                    _ = closed.recv() => false,
                };
                let (page, dropped) = take(&filling, std::mem::take(&mut spare));
                if dropped > 0 {
                    tracing::error!(dropped, "audit entries dropped: the store did not keep up");
                }
                if page.entries > 0 {
                    let entries = page.entries;
                    let page = Arc::new(page);
                    match store.record(Arc::clone(&page)).await {
                        Ok(()) => {
                            if let Ok(page) = Arc::try_unwrap(page) {
                                if page.lines.capacity() <= MOST_SPARE {
                                    spare = page.lines;
                                }
                            }
                        }
                        Err(error) => {
                            // Kept for the next write: a store that is back within a while (a
                            // database restarting) loses no entry.
                            let page = Arc::try_unwrap(page).unwrap_or_else(|page| (*page).clone());
                            let waiting = put_back(&filling, page);
                            if open {
                                tracing::warn!(%error, entries, waiting, "audit entries not written yet");
                            } else {
                                tracing::error!(%error, entries, "audit entries not written");
                            }
                        }
                    }
                }
                if !open {
                    break;
                }
            }
        });
        (log, writer)
    }

    /// Adds `entry` to the page being filled. The line is written before the lock is taken
    /// (into a buffer of the thread's own), which is then held only to copy it.
    pub(crate) fn record(&self, entry: &AuditLine<'_>) {
        thread_local! {
            static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        LINE.with_borrow_mut(|line| {
            write_line(line, entry);
            self.add(line, entry);
        });
    }

    fn add(&self, line: &[u8], entry: &AuditLine<'_>) {
        let mut filling = lock(&self.filling);
        if filling.page.lines.len() >= MOST_BYTES {
            filling.dropped += 1;
            return;
        }
        filling.page.push_line(line, entry);
    }
}

fn lock(filling: &Mutex<Filling>) -> MutexGuard<'_, Filling> {
    filling.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts a page that could not be written back in front of the one being filled; what would
/// pass [`MOST_BYTES`] is dropped and counted. The entries waiting.
fn put_back(filling: &Mutex<Filling>, page: AuditPage) -> u64 {
    let mut filling = lock(filling);
    if page.lines.len() + filling.page.lines.len() > MOST_BYTES {
        filling.dropped += page.entries;
        return filling.page.entries;
    }
    let newer = std::mem::replace(&mut filling.page, page);
    filling.page.append(newer);
    filling.page.entries
}

/// The page filled so far, and the entries dropped; a new page begins, in `buffer` (empty).
fn take(filling: &Mutex<Filling>, buffer: Vec<u8>) -> (AuditPage, u64) {
    let next = AuditPage::in_buffer(buffer);
    let mut filling = lock(filling);
    let dropped = std::mem::take(&mut filling.dropped);
    (std::mem::replace(&mut filling.page, next), dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditLine;

    fn line(at_ms: i64, token: &str, counted: bool) -> AuditLine<'_> {
        AuditLine {
            at_ms,
            token: token.into(),
            endpoint: "file/report".into(),
            resources: "44d88612fea8a8f36de82e1278abb02f".into(),
            outcome: "cache".into(),
            counted,
        }
    }

    #[test]
    fn a_page_not_written_comes_back_before_the_newer_entries_with_its_counts() {
        let filling = Mutex::new(Filling::default());
        let record = |entry: &AuditLine<'_>| lock(&filling).page.push(entry);
        record(&line(1_000, "a", true));
        record(&line(61_000, "b", false));
        let (failed, dropped) = take(&filling, Vec::new());
        assert_eq!((failed.entries, dropped), (2, 0));
        assert_eq!(failed.usage().collect::<Vec<_>>(), [("a", 0, 1)]);
        // A newer entry of the same token and minute: one count of 2 once put back.
        record(&line(59_000, "a", true));
        assert_eq!(put_back(&filling, failed), 3);
        let (page, _) = take(&filling, Vec::new());
        // In the order written: the page put back first.
        let times: Vec<i64> = page
            .text()
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<AuditLine<'_>>(l).unwrap().at_ms)
            .collect();
        assert_eq!(times, [1_000, 61_000, 59_000]);
        assert_eq!(
            (page.first_ms, page.last_ms, page.entries),
            (1_000, 61_000, 3)
        );
        assert_eq!(page.usage().collect::<Vec<_>>(), [("a", 0, 2)]);
    }

    #[test]
    fn a_page_that_would_grow_past_the_bound_is_dropped_and_counted() {
        let filling = Mutex::new(Filling::default());
        let mut big = AuditPage::default();
        big.push(&line(1, "a", true));
        big.lines.resize(MOST_BYTES, b' ');
        lock(&filling).page.push(&line(2, "a", true));
        assert_eq!(put_back(&filling, big), 1);
        let (page, dropped) = take(&filling, Vec::new());
        assert_eq!((page.entries, dropped), (1, 1));
    }
}
