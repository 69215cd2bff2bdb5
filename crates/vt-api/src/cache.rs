//! An opt-in persistent cache of answers, in SQLite (feature `cache`).
//!
//! One row per (normalised resource, allinfo): the bytes of the answer as the service sent
//! them, and when it was fetched. A hit costs
//! no quota. Writes of a batch go in one transaction, so a run killed at any point leaves every
//! answer it had received and nothing half-written; WAL mode and a busy timeout let two
//! processes share one file.
//!
//! The same file can hold a quota ledger (`ClientBuilder::quota_ledger`): the times of the
//! requests sent under each key, stored under a fingerprint of the key (never the key), so
//! that every process using the file paces against one count.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use vt_model::{FileReportAnswer, Resource};

use crate::Error;

/// A persistent cache of `/file/report` answers. Share it as `Arc<Cache>`.
///
/// ```
/// # fn main() -> Result<(), vt_api::Error> {
/// let dir = std::env::temp_dir().join(format!("vt-cache-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let cache = vt_api::Cache::open(dir.join("answers.sqlite3"))?;
/// assert_eq!(cache.len()?, 0);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub struct Cache {
    connection: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish()
    }
}

/// A cached answer and when it was fetched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CachedAnswer {
    /// The answer as received.
    pub answer: FileReportAnswer,
    /// The bytes of the answer as the service sent them.
    pub raw: bytes::Bytes,
    /// When it was received.
    pub fetched_at: SystemTime,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS file_report (
    resource_key TEXT NOT NULL,
    allinfo INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    answer BLOB NOT NULL,
    PRIMARY KEY (resource_key, allinfo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota_sent (
    key_fingerprint TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_sent_by_key ON quota_sent (key_fingerprint, sent_at_ms);
CREATE TABLE IF NOT EXISTS quota_hold (
    key_fingerprint TEXT PRIMARY KEY,
    set_at_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

fn cache_error(action: &str, error: impl std::fmt::Display) -> Error {
    Error::Cache(format!("{action}: {error}"))
}

impl Cache {
    /// Opens (creating if needed) the cache file at `path`; its folder must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Cache, Error> {
        let path = path.as_ref();
        let connection = Connection::open(path)
            .map_err(|e| cache_error(&format!("cannot open {}", path.display()), e))?;
        Cache::setup(connection, Some(path.to_owned()))
    }

    /// A cache that lives in memory only, for tests and one-off runs.
    pub fn in_memory() -> Result<Cache, Error> {
        let connection = Connection::open_in_memory().map_err(|e| cache_error("cannot open", e))?;
        Cache::setup(connection, None)
    }

    fn setup(connection: Connection, path: Option<PathBuf>) -> Result<Cache, Error> {
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| cache_error("cannot configure", e))?;
        // WAL lets a reader and a writer (two vt processes) work at once; NORMAL sync is
        // durable across a killed process (only a power cut can lose the last commits).
        retry_while_busy(|| {
            connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        })
        .map_err(|e| cache_error("cannot configure", e))?;
        retry_while_busy(|| connection.execute_batch(SCHEMA))
            .map_err(|e| cache_error("cannot create the table", e))?;
        Ok(Cache {
            connection: Mutex::new(connection),
            path,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `resource` if one was fetched no longer than `max_age` ago (any age when
    /// `None`), as of `now`. An entry that no longer decodes is treated as absent.
    pub fn get(
        &self,
        resource: &Resource,
        allinfo: bool,
        max_age: Option<Duration>,
        now: SystemTime,
    ) -> Result<Option<CachedAnswer>, Error> {
        let row: Option<(i64, Vec<u8>)> = self
            .lock()
            .prepare_cached(
                "SELECT fetched_at, answer FROM file_report WHERE resource_key = ?1 AND allinfo = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![resource.key(), allinfo], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
            })
            .map_err(|e| cache_error("cannot read", e))?;
        let Some((fetched_secs, bytes)) = row else {
            return Ok(None);
        };
        let fetched_at = UNIX_EPOCH + Duration::from_secs(fetched_secs.max(0) as u64);
        if let Some(max_age) = max_age {
            let age = now.duration_since(fetched_at).unwrap_or(Duration::ZERO);
            if age > max_age {
                return Ok(None);
            }
        }
        Ok(vt_model::decode_answer(&bytes)
            .ok()
            .map(|answer| CachedAnswer {
                answer,
                raw: bytes.into(),
                fetched_at,
            }))
    }

    /// Stores answers fetched at `fetched_at`, all in one transaction. Only answers worth
    /// keeping are stored: found and not found (queued answers are not final).
    pub fn put_all<'a>(
        &self,
        answers: impl IntoIterator<Item = (&'a Resource, &'a FileReportAnswer)>,
        allinfo: bool,
        fetched_at: SystemTime,
    ) -> Result<usize, Error> {
        let encoded: Vec<(&Resource, &FileReportAnswer, Vec<u8>)> = answers
            .into_iter()
            .map(|(resource, answer)| {
                let bytes =
                    serde_json::to_vec(answer).map_err(|e| cache_error("cannot encode", e))?;
                Ok((resource, answer, bytes))
            })
            .collect::<Result<_, Error>>()?;
        self.put_all_raw(
            encoded.iter().map(|(r, a, b)| (*r, *a, b.as_slice())),
            allinfo,
            fetched_at,
        )
    }

    /// Like [`Cache::put_all`], with the bytes of each answer as the service sent them, which
    /// are stored as they are.
    pub fn put_all_raw<'a>(
        &self,
        answers: impl IntoIterator<Item = (&'a Resource, &'a FileReportAnswer, &'a [u8])>,
        allinfo: bool,
        fetched_at: SystemTime,
    ) -> Result<usize, Error> {
        let seconds = fetched_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut connection = self.lock();
        let transaction = connection
            .transaction()
            .map_err(|e| cache_error("cannot write", e))?;
        let mut stored = 0;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO file_report (resource_key, allinfo, fetched_at, answer) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| cache_error("cannot write", e))?;
            for (resource, answer, raw) in answers {
                if !matches!(
                    answer,
                    FileReportAnswer::Found(_) | FileReportAnswer::NotFound(_)
                ) {
                    continue;
                }
                statement
                    .execute(params![resource.key(), allinfo, seconds, raw])
                    .map_err(|e| cache_error("cannot write", e))?;
                stored += 1;
            }
        }
        transaction
            .commit()
            .map_err(|e| cache_error("cannot commit", e))?;
        Ok(stored)
    }

    /// How many answers are stored.
    pub fn len(&self) -> Result<usize, Error> {
        self.lock()
            .query_row("SELECT COUNT(*) FROM file_report", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(|e| cache_error("cannot count", e))
    }

    /// Runs SQLite's integrity check; `Err` describes the damage.
    pub fn check_integrity(&self) -> Result<(), Error> {
        let verdict: String = self
            .lock()
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| cache_error("cannot check", e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(Error::Cache(format!("integrity check failed: {verdict}")))
        }
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// In one write transaction: forgets requests older than `keep`, hands `decide` the age of
    /// the N-th newest request of `key_fingerprint` for each N of `nths` (when there are N)
    /// and the time left of a 204's hold, and records a request sent at `now` when `decide`
    /// says no wait (`Ok`, with the row to stamp again when it is answered); else `Err` with
    /// the wait.
    pub(crate) fn quota_take<W>(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        keep: Duration,
        nths: &[usize],
        decide: impl FnOnce(Vec<(usize, Duration)>, Option<Duration>) -> Option<W>,
    ) -> Result<Result<i64, W>, Error> {
        let now_ms = unix_ms(now);
        let mut connection = self.lock();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| cache_error("cannot count the quota", e))?;
        let read = |e| cache_error("cannot count the quota", e);
        transaction
            .prepare_cached("DELETE FROM quota_sent WHERE sent_at_ms < ?1")
            .and_then(|mut s| s.execute(params![now_ms.saturating_sub(duration_ms(keep))]))
            .map_err(read)?;
        // Times after now mean the wall clock was set back (an NTP step, a VM resumed): they
        // count from now, so the key waits one window at most, not as long as the jump.
        transaction
            .prepare_cached(
                "UPDATE quota_sent SET sent_at_ms = ?2 WHERE key_fingerprint = ?1 AND sent_at_ms > ?2",
            )
            .and_then(|mut s| s.execute(params![key_fingerprint, now_ms]))
            .map_err(read)?;
        let hold: Option<(i64, i64)> = transaction
            .prepare_cached("SELECT set_at_ms, until_ms FROM quota_hold WHERE key_fingerprint = ?1")
            .and_then(|mut s| {
                s.query_row(params![key_fingerprint], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
            })
            .map_err(read)?;
        // A hold set "after now" (the clock was set back) lasts its length from now.
        let hold_until = hold.map(|(set_at, until)| until - set_at.saturating_sub(now_ms).max(0));
        let mut ages = Vec::with_capacity(nths.len());
        for &n in nths {
            let sent: Option<i64> = transaction
                .prepare_cached(
                    "SELECT sent_at_ms FROM quota_sent WHERE key_fingerprint = ?1 \
                     ORDER BY sent_at_ms DESC LIMIT 1 OFFSET ?2",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![key_fingerprint, n.saturating_sub(1) as i64],
                        |row| row.get(0),
                    )
                    .optional()
                })
                .map_err(read)?;
            if let Some(sent) = sent {
                ages.push((n, age_ms(now_ms, sent)));
            }
        }
        let hold = hold_until
            .filter(|&until| until > now_ms)
            .map(|until| Duration::from_millis((until - now_ms) as u64));
        let taken = match decide(ages, hold) {
            Some(wait) => Err(wait),
            None => {
                transaction
                    .prepare_cached(
                        "INSERT INTO quota_sent (key_fingerprint, sent_at_ms) VALUES (?1, ?2)",
                    )
                    .and_then(|mut s| s.execute(params![key_fingerprint, now_ms]))
                    .map_err(|e| cache_error("cannot count the quota", e))?;
                Ok(transaction.last_insert_rowid())
            }
        };
        transaction
            .commit()
            .map_err(|e| cache_error("cannot count the quota", e))?;
        Ok(taken)
    }

    /// A request counted by [`Cache::quota_take`] has been answered at `at`: it counts from
    /// then (never earlier than it was sent).
    pub(crate) fn quota_restamp(&self, row: i64, at: SystemTime) -> Result<(), Error> {
        self.lock()
            .prepare_cached(
                "UPDATE quota_sent SET sent_at_ms = max(sent_at_ms, ?2) WHERE rowid = ?1",
            )
            .and_then(|mut s| s.execute(params![row, unix_ms(at)]))
            .map(drop)
            .map_err(|e| cache_error("cannot count the quota", e))
    }

    /// After a 204 at `now`: no request under `key_fingerprint` goes for `wait` (or until a
    /// hold already set ends, if later).
    pub(crate) fn quota_hold(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        wait: Duration,
    ) -> Result<(), Error> {
        let now_ms = unix_ms(now);
        self.lock()
            .prepare_cached(
                "INSERT INTO quota_hold (key_fingerprint, set_at_ms, until_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key_fingerprint) DO UPDATE SET \
                 set_at_ms = excluded.set_at_ms, until_ms = max(until_ms, excluded.until_ms)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    key_fingerprint,
                    now_ms,
                    now_ms.saturating_add(duration_ms(wait))
                ])
            })
            .map(drop)
            .map_err(|e| cache_error("cannot hold the quota", e))
    }

    /// Requests sent under `key_fingerprint` in the `window` before `now`, and when the
    /// oldest of them was sent.
    pub(crate) fn quota_used(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<(u32, Option<SystemTime>), Error> {
        let since = unix_ms(now).saturating_sub(duration_ms(window));
        let (count, oldest): (i64, Option<i64>) = self
            .lock()
            .prepare_cached(
                "SELECT COUNT(*), MIN(sent_at_ms) FROM quota_sent \
                 WHERE key_fingerprint = ?1 AND sent_at_ms > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![key_fingerprint, since], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
            })
            .map_err(|e| cache_error("cannot read the quota", e))?;
        Ok((
            count as u32,
            oldest.map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)),
        ))
    }
}

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `step` again while the file is busy, up to [`BUSY_TIMEOUT`]. Setting up a new file
/// takes a lock that SQLite does not wait for (switching it to WAL upgrades a read lock, and
/// the busy handler is skipped there to avoid a deadlock), so two processes opening a new
/// cache at once would otherwise see "database is locked".
fn retry_while_busy(mut step: impl FnMut() -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    let give_up = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            done => return done,
        }
    }
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, duration_ms)
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// How long before `now_ms` a request sent at `sent_ms` went (zero if the clocks disagree).
fn age_ms(now_ms: i64, sent_ms: i64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(sent_ms).max(0) as u64)
}
