//! An opt-in persistent cache of answers, in SQLite (feature `cache`).
//!
//! One row per (normalised resource, allinfo): the bytes of the answer as the service sent
//! them, and when it was fetched. A hit costs
//! no quota. Writes of a batch go in one transaction, so a run killed at any point leaves every
//! answer it had received and nothing half-written; WAL mode and a busy timeout let two
//! processes share one file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
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
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| cache_error("cannot configure", e))?;
        // WAL lets a reader and a writer (two vt processes) work at once; NORMAL sync is
        // durable across a killed process (only a power cut can lose the last commits).
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(|e| cache_error("cannot configure", e))?;
        connection
            .execute_batch(SCHEMA)
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
}
