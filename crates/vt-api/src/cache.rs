//! An opt-in persistent cache of answers, in SQLite (feature `cache`).
//!
//! One row per (service, endpoint, parameters that change the answer, query's match key): the
//! bytes of the answer as the service sent them, its `response_code`, and when it was
//! fetched. An answer is only ever served for the service, endpoint and parameters it came
//! from: a report of the demo's emulator is never given for a lookup on VirusTotal. A hit
//! costs no quota. A found file report is also stored under the file's other hashes, by
//! reference: such an alias row holds no bytes, only the key of the answer received (same
//! scope) whose bytes it shares, and reads as absent when that answer is gone, is itself an
//! alias, or has another `response_code` now. Writes of a batch go in one transaction, so a
//! run killed at any point leaves every answer it had received and nothing half-written; WAL
//! mode and a busy timeout let two processes share one file. The schema is versioned
//! (`PRAGMA user_version`): a file of layout 2 keeps its answers (moved to layout 3's table,
//! its copies under other hashes turned into references), one of layout 0 or 1 has them
//! discarded (they were not scoped), a newer one is refused.
//!
//! The same file can hold a quota ledger (`ClientBuilder::quota_ledger`; `Cache` implements
//! [`QuotaLedger`]): the times of the requests sent under each key, stored under a
//! fingerprint of the key (never the key), so that every process using the file paces
//! against one count.
//!
//! Its methods are synchronous (SQLite); the client calls them on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::ledger::{LedgerEntry, LedgerError, QuotaDecision, QuotaLedger};
use crate::Error;

/// A persistent cache of answers. Share it as `Arc<Cache>`.
///
/// ```
/// # fn main() -> Result<(), vt_api::Error> {
/// use vt_api::{Cache, CacheScope};
///
/// let dir = std::env::temp_dir().join(format!("vt-cache-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let cache = Cache::open(dir.join("answers.sqlite3"))?;
/// let scope = CacheScope::new("https://www.virustotal.com/vtapi/v2", "file/report", "");
/// let now = std::time::SystemTime::now();
/// cache.put_all(&scope, [("abc", 0, &br#"{"response_code": 0}"#[..])], now)?;
/// assert_eq!(cache.get(&scope, "abc", None, now)?.unwrap().response_code, 0);
/// // Another service, another endpoint or other parameters: not the same answer.
/// let other = CacheScope::new("http://127.0.0.1:8080/vtapi/v2/", "file/report", "");
/// assert!(cache.get(&other, "abc", None, now)?.is_none());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub struct Cache {
    connection: Mutex<Connection>,
    /// Opened by [`Cache::open_readers`], for [`Cache::try_get_many`] alone.
    readers: Vec<Mutex<Connection>>,
    /// Set by [`Cache::checkpoint_in_background`]; stops its thread when dropped.
    checkpointer: Option<Checkpointer>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish()
    }
}

/// What a cached answer belongs to: the service (its base URL, normalised), the endpoint, and
/// the parameters that change the answer (such as `allinfo=1`), in a canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheScope {
    service: String,
    endpoint: String,
    params: String,
}

impl CacheScope {
    /// The scope of `endpoint` (e.g. `file/report`) on the service at `base_url`, asked with
    /// `params` (canonical: `name=value` pairs joined by `&`, empty for none). The base URL is
    /// normalised: scheme and host in lower case, default port dropped, one trailing `/`.
    pub fn new(base_url: &str, endpoint: &str, params: &str) -> CacheScope {
        CacheScope {
            service: normalise_base_url(base_url),
            endpoint: endpoint.to_owned(),
            params: params.to_owned(),
        }
    }

    /// The normalised base URL.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The canonical parameters.
    pub fn params(&self) -> &str {
        &self.params
    }
}

/// `https://WWW.VirusTotal.com:443/vtapi/v2` and `https://www.virustotal.com/vtapi/v2/` are one
/// service.
pub(crate) fn normalise_base_url(base_url: &str) -> String {
    let trimmed = base_url.trim();
    let Ok(uri) = trimmed.parse::<http::Uri>() else {
        return trimmed.to_owned();
    };
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return trimmed.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let port = uri
        .port_u16()
        .filter(|&p| Some(p) != default_port)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let mut path = uri.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    format!("{scheme}://{}{port}{path}", host.to_ascii_lowercase())
}

/// What a cache holds ([`Cache::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answers received.
    pub answers: u64,
    /// Found file reports stored under the file's other hashes (aliases: each names the
    /// answer received whose bytes it shares, and holds no bytes of its own).
    pub copies: u64,
    /// The bytes of the stored answers, each counted once (aliases hold none).
    pub answer_bytes: u64,
    /// The size of the file (with its journal), 0 in memory.
    pub file_bytes: u64,
    /// When the oldest answer was fetched.
    pub oldest: Option<SystemTime>,
    /// When the newest answer was fetched.
    pub newest: Option<SystemTime>,
    /// Answers received by service and endpoint.
    pub by_endpoint: Vec<(String, String, u64)>,
}

/// A cached answer and when it was fetched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CachedAnswer {
    /// The bytes of the answer as the service sent them.
    pub raw: bytes::Bytes,
    /// Its `response_code`.
    pub response_code: i64,
    /// When it was received.
    pub fetched_at: SystemTime,
}

/// How a row came to be stored.
#[derive(Debug, Clone, Copy)]
enum Row<'a> {
    /// The answer to a query for this key: its bytes.
    Asked(&'a [u8]),
    /// The answer to a query for another hash of the same file: the key it was asked by.
    Alias(&'a str),
}

/// An answer received for its key replaces what was stored under it (an alias included).
const INSERT_ASKED: &str = "INSERT OR REPLACE INTO answer \
    (service, endpoint, params, query_key, response_code, fetched_at, alias_of, body) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)";
/// An alias (no bytes, the key of the answer it shares) never replaces what is stored under
/// its key, an answer received or another alias.
const INSERT_ALIAS: &str = "INSERT OR IGNORE INTO answer \
    (service, endpoint, params, query_key, response_code, fetched_at, alias_of, body) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, x'')";

/// One key's row: its answer, or for an alias (`alias_of` set, body empty) the key of the
/// answer received that it shares, read by [`SELECT_SHARED`]. Two plain statements rather
/// than one join: an answer received, nearly every read, costs one search of the key index
/// and nothing more (the join measured a quarter slower for single-key reads).
const SELECT_ANSWER: &str = "SELECT response_code, fetched_at, alias_of, body FROM answer \
    WHERE service = ?1 AND endpoint = ?2 AND params = ?3 AND query_key = ?4";

/// The body an alias shares: the answer received under the key it names, taken only if that
/// is no alias itself and has the alias's `response_code` (else the alias reads as absent). A
/// hash names one file whatever the day, so the named answer is a report of the same file
/// (the same bytes, or a newer report); the alias keeps its own `fetched_at`, so a newer body
/// is never taken for fresher than the alias is.
const SELECT_SHARED: &str = "SELECT body FROM answer \
    WHERE service = ?1 AND endpoint = ?2 AND params = ?3 AND query_key = ?4 \
    AND alias_of IS NULL AND response_code = ?5";

/// The version of the file's layout this build reads and writes: 3 since `answer` has a rowid
/// (2 had it `WITHOUT ROWID`) and its aliases name the answer they share (2 held copies).
const SCHEMA_VERSION: i64 = 3;

/// `answer` is an ordinary rowid table, its key a separate unique index: its rows (~7 KB
/// reports) overflow any b-tree page, and a `WITHOUT ROWID` table keeps whole rows in the
/// key's b-tree, so every step of a key search read overflow pages (layout 2: writes 4,300
/// and reads 29,000 resources a second through the gateway; with a rowid, 7,400 and 83,000).
/// The key stays a `PRIMARY KEY` rather than a `UNIQUE` index beside the table: SQLite
/// implements both the same way (an automatic unique index on a rowid table), `INSERT OR
/// REPLACE`/`OR IGNORE` resolve against either, and this way the key is declared in the
/// table's own definition, as in the gateway's PostgreSQL store, with no index name to keep.
///
/// `alias_of` is NULL for an answer received for its key; for an alias (a found file report
/// under another hash of the file) it is the `query_key` of that answer, in the same scope,
/// and `body` is empty: each report is written once, not once per hash (the writes, WAL frames
/// and checkpoints of two more ~7 KB copies were most of the gateway's work for a cache miss).
/// An alias's `body` is a zero-length blob. `alias_of` comes before `body`: a row's small
/// columns are then all in its first page, and what reads them alone (`len`, `stats`) never
/// follows a report's overflow pages.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS answer (
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    query_key TEXT NOT NULL,
    response_code INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    alias_of TEXT,
    body BLOB NOT NULL,
    PRIMARY KEY (service, endpoint, params, query_key)
);
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

/// The answers for `keys` in `scope`, in their order (see [`Cache::get_many`]).
fn read_many(
    connection: &Connection,
    scope: &CacheScope,
    keys: &[&str],
) -> rusqlite::Result<Vec<Option<CachedAnswer>>> {
    let mut select = connection.prepare_cached(SELECT_ANSWER)?;
    let mut shared = connection.prepare_cached(SELECT_SHARED)?;
    let (service, endpoint, params) = (&scope.service, &scope.endpoint, &scope.params);
    keys.iter()
        .map(|key| {
            let row: Option<(i64, i64, Option<String>, Vec<u8>)> = select
                .query_row(params![service, endpoint, params, key], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()?;
            let Some((response_code, fetched_secs, alias_of, body)) = row else {
                return Ok(None);
            };
            let body = match alias_of {
                None => body,
                Some(of) => {
                    let body = shared
                        .query_row(
                            params![service, endpoint, params, of, response_code],
                            |row| row.get(0),
                        )
                        .optional()?;
                    let Some(body) = body else { return Ok(None) };
                    body
                }
            };
            Ok(Some(CachedAnswer {
                raw: body.into(),
                response_code,
                fetched_at: UNIX_EPOCH + Duration::from_secs(fetched_secs.max(0) as u64),
            }))
        })
        .collect()
}

/// `connection` if no other thread is using it.
fn free(connection: &Mutex<Connection>) -> Option<MutexGuard<'_, Connection>> {
    match connection.try_lock() {
        Ok(connection) => Some(connection),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// [`read_many`] on a connection whose busy timeout is 0: `None` when the file was busy.
fn read_at_once(
    connection: &Connection,
    scope: &CacheScope,
    keys: &[&str],
) -> Option<rusqlite::Result<Vec<Option<CachedAnswer>>>> {
    match read_many(connection, scope, keys) {
        Err(e) if e.is_busy() => None,
        read => Some(read),
    }
}

fn cache_error(action: &str, error: impl std::fmt::Display) -> Error {
    Error::Cache(format!("{action}: {error}"))
}

impl Cache {
    /// Opens (creating if needed, readable by its owner only) the cache file at `path`; its
    /// folder must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Cache, Error> {
        let path = path.as_ref();
        create_private(path)
            .map_err(|e| cache_error(&format!("cannot create {}", path.display()), e))?;
        let connection = Connection::open(path)
            .map_err(|e| cache_error(&format!("cannot open {}", path.display()), e))?;
        Cache::setup(connection, Some(path.to_owned()))
    }

    /// With [`Cache::checkpoint_in_background`], the WAL's pages past which a commit
    /// checkpoints too (64 MiB of 16 KiB pages), so that the WAL begins again.
    pub const WAL_BACKSTOP_PAGES: u32 = 4096;

    /// Checkpoints the file's WAL every `every` from a thread of its own (with its own
    /// connection), instead of in whichever commit passes SQLite's threshold: that commit
    /// would hold the cache, its reads included, while the checkpoint copies megabytes into
    /// the file and waits for the disk, which a server writing all the time (vt-gateway)
    /// meets several times a second. The thread ends when the cache is dropped. Nothing to
    /// do for a cache in memory.
    ///
    /// The thread's checkpoints wait for no one (`PASSIVE`), so under writes that never
    /// pause they never reach the WAL's end, and the WAL would only grow (to gigabytes in
    /// the gateway's benchmark): the cache's own commits still checkpoint, past
    /// [`Cache::WAL_BACKSTOP_PAGES`] instead of SQLite's 1,000, finding most frames copied
    /// already, and the WAL begins again (its file cut back to 64 MiB). Other
    /// connections writing to the file should set the same threshold
    /// (`PRAGMA wal_autocheckpoint`).
    pub fn checkpoint_in_background(&mut self, every: Duration) -> Result<(), Error> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.checkpointer.is_some() {
            return Ok(());
        }
        let cannot = |e| cache_error("cannot checkpoint in the background", e);
        let connection = Connection::open(path).map_err(cannot)?;
        self.lock()
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {WAL_KEPT_BYTES};",
                Cache::WAL_BACKSTOP_PAGES
            ))
            .map_err(cannot)?;
        let checkpointer = Checkpointer::start(connection, every)
            .map_err(|e| cache_error("cannot start the checkpoint thread", e))?;
        self.checkpointer = Some(checkpointer);
        Ok(())
    }

    /// Opens `n` more connections to the file, for [`Cache::try_get_many`] alone: reads made
    /// on callers' own threads at the same time (a server's workers) then each find one free
    /// instead of finding one another in the way (and going to a blocking thread). A server
    /// opens about as many as it has workers. Nothing to do for a cache in memory.
    pub fn open_readers(&mut self, n: usize) -> Result<(), Error> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        for _ in 0..n {
            let cannot = |e| cache_error("cannot open a reader", e);
            let reader = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(cannot)?;
            // Busy at once: its reads are those that must not wait.
            reader.busy_timeout(Duration::ZERO).map_err(cannot)?;
            self.readers.push(Mutex::new(reader));
        }
        Ok(())
    }

    /// Opens the cache file at `path` for reading only (`vt --offline`, `vt cache stats`):
    /// nothing is created, switched to WAL or migrated, so a file this user may not write (a
    /// copy shared read-only, a folder of another account) can still be read. A WAL file
    /// whose folder cannot be written either (SQLite then cannot make its shared-memory
    /// file) is read as immutable: nothing must write it meanwhile. Writing through this
    /// cache fails with [`Error::Cache`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Cache, Error> {
        let path = path.as_ref();
        let cannot = |e| cache_error(&format!("cannot read {}", path.display()), e);
        let open = |options: &str| -> rusqlite::Result<Connection> {
            let connection = Connection::open_with_flags(
                format!("file:{}?{options}", uri_path(path)),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            connection.busy_timeout(BUSY_TIMEOUT)?;
            // The first read is where a WAL file without its shared memory fails.
            connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))?;
            Ok(connection)
        };
        let connection = match open("mode=ro") {
            Ok(connection) => connection,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
                ) =>
            {
                open("mode=ro&immutable=1").map_err(cannot)?
            }
            Err(e) => return Err(cannot(e)),
        };
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(cannot)?;
        if version != SCHEMA_VERSION {
            return Err(Error::Cache(format!(
                "{} has layout {version}, and this vt reads {SCHEMA_VERSION}: {}",
                path.display(),
                if version > SCHEMA_VERSION {
                    "upgrade vt, or remove the file"
                } else {
                    "open it once for writing (a run without --offline) to bring it up to date"
                }
            )));
        }
        Ok(Cache {
            connection: Mutex::new(connection),
            readers: Vec::new(),
            checkpointer: None,
            path: Some(path.to_owned()),
        })
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
        // Pages of 16 KiB (for a new file; an existing one keeps its own): a report of the
        // service (7 KB with 60 engines) fits in its row's page instead of overflowing into
        // two more, and the WAL writes a quarter as many frames (a gateway's miss costs a
        // tenth less CPU; docs/benchmarks.md).
        retry_while_busy(|| {
            connection.execute_batch(
                "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
            )
        })
        .map_err(|e| cache_error("cannot configure", e))?;
        retry_while_busy(|| migrate(&connection)).map_err(|e| match e {
            Migration::Newer(version) => Error::Cache(format!(
                "the cache file was written by a newer vt (layout {version}, this one reads \
                 {SCHEMA_VERSION}); upgrade vt, or remove the file"
            )),
            Migration::Sqlite(e) => cache_error("cannot create the tables", e),
        })?;
        Ok(Cache {
            connection: Mutex::new(connection),
            readers: Vec::new(),
            checkpointer: None,
            path,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for the query whose match key is `key`, in `scope`, if one was fetched no
    /// longer than `max_age` ago (any age when `None`), as of `now`.
    pub fn get(
        &self,
        scope: &CacheScope,
        key: &str,
        max_age: Option<Duration>,
        now: SystemTime,
    ) -> Result<Option<CachedAnswer>, Error> {
        let found = self.get_many(scope, &[key])?.pop().flatten();
        Ok(found.filter(|hit| max_age.is_none_or(|max| age(hit.fetched_at, now) <= max)))
    }

    /// The answers for many keys at once (one lock, one prepared statement), in their order;
    /// the caller judges their age. An alias (a key stored for another hash of a found file)
    /// answers with the bytes of the answer received that it names, and its own
    /// `response_code` and `fetched_at`; it is absent when that answer is gone, or has
    /// another `response_code` now.
    pub fn get_many(
        &self,
        scope: &CacheScope,
        keys: &[&str],
    ) -> Result<Vec<Option<CachedAnswer>>, Error> {
        read_many(&self.lock(), scope, keys).map_err(|e| cache_error("cannot read", e))
    }

    /// [`Cache::get_many`] without waiting: `None`, nothing read, when other threads are using
    /// the cache's connection (a write in progress) and its readers ([`Cache::open_readers`]),
    /// or the file is locked. An async caller reads on its own thread when nothing is in the
    /// way (a read takes microseconds, less than handing it to a blocking thread and back),
    /// and hands the read to a blocking thread otherwise.
    pub fn try_get_many(
        &self,
        scope: &CacheScope,
        keys: &[&str],
    ) -> Option<Result<Vec<Option<CachedAnswer>>, Error>> {
        let cannot = |e| cache_error("cannot read", e);
        // A reader (its timeout 0 always) before the connection that writes.
        if let Some(reader) = self.readers.iter().find_map(free) {
            return read_at_once(&reader, scope, keys).map(|read| read.map_err(cannot));
        }
        let connection = free(&self.connection)?;
        // Busy at once, instead of after the connection's timeout, for this read alone.
        connection.busy_timeout(Duration::ZERO).ok()?;
        let read = read_at_once(&connection, scope, keys);
        let restored = connection.busy_timeout(BUSY_TIMEOUT);
        match (read, restored) {
            (None, _) => None,
            (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Some(Err(cannot(e))),
            (Some(Ok(found)), Ok(())) => Some(Ok(found)),
        }
    }

    /// Stores answers fetched at `fetched_at` in `scope`, all in one transaction: for each, the
    /// match key of its query, its `response_code`, and its bytes as the service sent them.
    /// The caller decides what is worth keeping (final answers: found and not found).
    pub fn put_all<'a>(
        &self,
        scope: &CacheScope,
        answers: impl IntoIterator<Item = (&'a str, i64, &'a [u8])>,
        fetched_at: SystemTime,
    ) -> Result<usize, Error> {
        self.put(
            scope,
            answers.into_iter().map(|(k, c, b)| (k, c, Row::Asked(b))),
            fetched_at,
        )
    }

    /// Like [`Cache::put_all`], and also stores each found file report under the file's other
    /// hashes, where nothing is stored yet: a later lookup of the same file by another hash
    /// costs no quota. `aliases` are `(other hash's key, response_code, asked key)`: the
    /// alias names the answer stored under `asked key` (in `answers`, in the same scope) and
    /// shares its bytes, holding none itself; it answers only while that answer is there with
    /// the same `response_code` (see [`Cache::get_many`]). An alias never replaces what is
    /// stored under its key (an answer received for that hash itself, or another alias); an
    /// answer received replaces an alias.
    pub fn put_all_with_aliases<'a>(
        &self,
        scope: &CacheScope,
        answers: impl IntoIterator<Item = (&'a str, i64, &'a [u8])>,
        aliases: impl IntoIterator<Item = (&'a str, i64, &'a str)>,
        fetched_at: SystemTime,
    ) -> Result<usize, Error> {
        // The answers first, so that an alias never takes the key of an answer of the batch.
        let rows = answers
            .into_iter()
            .map(|(k, c, b)| (k, c, Row::Asked(b)))
            .chain(aliases.into_iter().map(|(k, c, of)| (k, c, Row::Alias(of))));
        self.put(scope, rows, fetched_at)
    }

    fn put<'a>(
        &self,
        scope: &CacheScope,
        rows: impl IntoIterator<Item = (&'a str, i64, Row<'a>)>,
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
        for (key, response_code, row) in rows {
            let (statement, last): (_, &dyn rusqlite::ToSql) = match &row {
                Row::Asked(raw) => (INSERT_ASKED, raw),
                Row::Alias(asked) => (INSERT_ALIAS, asked),
            };
            transaction
                .prepare_cached(statement)
                .and_then(|mut statement| {
                    statement.execute(params![
                        scope.service,
                        scope.endpoint,
                        scope.params,
                        key,
                        response_code,
                        seconds,
                        last
                    ])
                })
                .map_err(|e| cache_error("cannot write", e))?;
            stored += 1;
        }
        transaction
            .commit()
            .map_err(|e| cache_error("cannot commit", e))?;
        Ok(stored)
    }

    /// How many answers received are stored (not counting the aliases of found file reports
    /// under the file's other hashes).
    pub fn len(&self) -> Result<usize, Error> {
        self.lock()
            .query_row(
                "SELECT COUNT(*) FROM answer WHERE alias_of IS NULL",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| cache_error("cannot count", e))
    }

    /// What the cache holds: answers (and their aliases under a file's other hashes), their
    /// bytes (each answer's once), the oldest and newest, by service and endpoint, and the
    /// file's size.
    pub fn stats(&self) -> Result<CacheStats, Error> {
        let read = |e| cache_error("cannot read", e);
        let connection = self.lock();
        let (answers, copies, bytes, oldest, newest): (i64, i64, i64, Option<i64>, Option<i64>) =
            connection
                .query_row(
                    "SELECT COALESCE(SUM(alias_of IS NULL), 0), \
                     COALESCE(SUM(alias_of IS NOT NULL), 0), \
                     COALESCE(SUM(length(body)), 0), MIN(fetched_at), MAX(fetched_at) FROM answer",
                    [],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )
                .map_err(read)?;
        let mut statement = connection
            .prepare(
                "SELECT service, endpoint, COUNT(*) FROM answer WHERE alias_of IS NULL \
                 GROUP BY service, endpoint ORDER BY service, endpoint",
            )
            .map_err(read)?;
        let by_endpoint = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(read)?
            .map(|row| row.map(|(service, endpoint, n)| (service, endpoint, n as u64)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(read)?;
        let file_bytes = match &self.path {
            Some(path) => ["", "-wal", "-shm"]
                .iter()
                .filter_map(|suffix| {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    std::fs::metadata(name).ok()
                })
                .map(|m| m.len())
                .sum(),
            None => 0,
        };
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
        Ok(CacheStats {
            answers: answers as u64,
            copies: copies as u64,
            answer_bytes: bytes as u64,
            file_bytes,
            oldest: oldest.map(at),
            newest: newest.map(at),
            by_endpoint,
        })
    }

    /// Forgets the answers fetched before `fetched_before`, and gives the space back to the
    /// file system. Returns how many were forgotten (aliases under other hashes included:
    /// stored with the answer they name, at its time, they go with it). An alias left naming
    /// an answer that is gone reads as absent, and goes in its turn.
    pub fn prune(&self, fetched_before: SystemTime) -> Result<u64, Error> {
        let seconds = fetched_before
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.forget("DELETE FROM answer WHERE fetched_at < ?1", params![seconds])
    }

    /// Forgets every answer (the quota ledger stays), and gives the space back.
    pub fn clear(&self) -> Result<u64, Error> {
        self.forget("DELETE FROM answer", params![])
    }

    fn forget(&self, statement: &str, values: impl rusqlite::Params) -> Result<u64, Error> {
        let forgotten = self
            .lock()
            .execute(statement, values)
            .map_err(|e| cache_error("cannot delete", e))?;
        self.shrink()?;
        Ok(forgotten as u64)
    }

    /// Gives the file's free pages back to the file system: what [`Cache::prune`] and
    /// [`Cache::clear`] do after deleting, for the other tables of the file too (a program
    /// keeping its own tables beside the cache's, as vt-gateway does).
    pub fn shrink(&self) -> Result<(), Error> {
        // VACUUM rewrites the file without the freed pages (WAL: checkpoint after, so that the
        // file itself shrinks).
        self.lock()
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| cache_error("cannot shrink the file", e))
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

/// With [`Cache::checkpoint_in_background`], what is kept of the WAL's file once it begins
/// again, rather than the largest it ever grew to.
const WAL_KEPT_BYTES: u64 = 64 << 20;

/// The thread of [`Cache::checkpoint_in_background`]: a passive checkpoint (which waits for
/// no reader or writer) every so often, and a last one when the cache is dropped.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(connection: Connection, every: Duration) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vt-cache-checkpoint".into())
            .spawn(move || loop {
                let last = !matches!(
                    stopped.recv_timeout(every),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                // A failed checkpoint is tried again next time; the WAL only grows meanwhile.
                let _ = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
                if last {
                    break;
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The quota ledger in the cache file: one row per unit in `quota_sent` (the rows of one
/// request consecutive, named by the first), one hold per key in `quota_hold`; each `take`
/// in one `BEGIN IMMEDIATE` transaction, so that processes sharing the file never both see
/// room for the last unit.
impl QuotaLedger for Cache {
    fn take(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        keep: Duration,
        nths: &[usize],
        units: usize,
        decide: &mut QuotaDecision<'_>,
    ) -> Result<Result<LedgerEntry, Duration>, LedgerError> {
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
        let taken = match decide(&ages, hold) {
            Some(wait) => Err(wait),
            None => {
                let mut first = None;
                for _ in 0..units.max(1) {
                    transaction
                        .prepare_cached(
                            "INSERT INTO quota_sent (key_fingerprint, sent_at_ms) VALUES (?1, ?2)",
                        )
                        .and_then(|mut s| s.execute(params![key_fingerprint, now_ms]))
                        .map_err(|e| cache_error("cannot count the quota", e))?;
                    // Rows inserted in one write transaction are consecutive.
                    first.get_or_insert(transaction.last_insert_rowid());
                }
                Ok(LedgerEntry(first.unwrap_or_default()))
            }
        };
        transaction
            .commit()
            .map_err(|e| cache_error("cannot count the quota", e))?;
        Ok(taken)
    }

    fn restamp(
        &self,
        _key_fingerprint: &str,
        entry: LedgerEntry,
        units: usize,
        at: SystemTime,
    ) -> Result<(), LedgerError> {
        self.lock()
            .prepare_cached(
                "UPDATE quota_sent SET sent_at_ms = max(sent_at_ms, ?3) \
                 WHERE rowid >= ?1 AND rowid < ?1 + ?2",
            )
            .and_then(|mut s| s.execute(params![entry.0, units.max(1) as i64, unix_ms(at)]))
            .map(drop)
            .map_err(|e| cache_error("cannot count the quota", e).into())
    }

    fn refund(
        &self,
        _key_fingerprint: &str,
        entry: LedgerEntry,
        units: usize,
    ) -> Result<(), LedgerError> {
        self.lock()
            .prepare_cached("DELETE FROM quota_sent WHERE rowid >= ?1 AND rowid < ?1 + ?2")
            .and_then(|mut s| s.execute(params![entry.0, units.max(1) as i64]))
            .map(drop)
            .map_err(|e| cache_error("cannot count the quota", e).into())
    }

    fn hold(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        wait: Duration,
    ) -> Result<(), LedgerError> {
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
            .map_err(|e| cache_error("cannot hold the quota", e).into())
    }

    fn used(
        &self,
        key_fingerprint: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<(u32, Option<SystemTime>), LedgerError> {
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

/// How old an answer fetched at `fetched_at` is at `now` (zero if the clocks disagree).
pub(crate) fn age(fetched_at: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(fetched_at).unwrap_or(Duration::ZERO)
}

/// Why a file could not be brought to this build's layout.
enum Migration {
    Newer(i64),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Self {
        Migration::Sqlite(e)
    }
}

impl Migration {
    fn is_busy(&self) -> bool {
        matches!(self, Migration::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy)
    }
}

/// Brings the file to [`SCHEMA_VERSION`], in one `BEGIN IMMEDIATE` transaction:
/// - version 0 or 1 (vt before scoped answers): its `file_report` table held answers without
///   the service they came from, so they are discarded;
/// - version 2 (`answer` `WITHOUT ROWID`, aliases full copies): its answers received are kept,
///   copied into the new table ([`FROM_LAYOUT_2`]); each copy under another hash becomes an
///   alias of the answer received whose bytes it equals in its scope (same `response_code`),
///   and is dropped where there is none (its answer was replaced since, or pruned): a copy,
///   it costs a lookup at most, never a wrong answer.
///
/// The quota ledger is kept as it is.
fn migrate(connection: &Connection) -> Result<(), Migration> {
    let version = layout_version(connection)?;
    if version > SCHEMA_VERSION {
        return Err(Migration::Newer(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let migrated = migrate_locked(connection)
        .and_then(|()| connection.execute_batch("COMMIT").map_err(Migration::from));
    if migrated.is_err() && !connection.is_autocommit() {
        // Left half-way (another process held the file): start again from nothing.
        let _ = connection.execute_batch("ROLLBACK");
    }
    migrated
}

/// The steps of [`migrate`], inside its transaction.
fn migrate_locked(connection: &Connection) -> Result<(), Migration> {
    // Read again under the lock: another process may have migrated the file meanwhile, and
    // moving the answers is not a step to take twice.
    let steps = match layout_version(connection)? {
        SCHEMA_VERSION => return Ok(()),
        newer if newer > SCHEMA_VERSION => return Err(Migration::Newer(newer)),
        // The old table is renamed out of the way first, so that the new one is made by
        // `SCHEMA` itself, exactly as in a new file (its key's index named after `answer`).
        2 => format!("ALTER TABLE answer RENAME TO answer_v2; {SCHEMA} {FROM_LAYOUT_2}"),
        _ => format!("DROP TABLE IF EXISTS file_report; {SCHEMA}"),
    };
    connection.execute_batch(&format!("{steps} PRAGMA user_version = {SCHEMA_VERSION};"))?;
    Ok(())
}

/// Moves the rows of layout 2's `answer`, renamed `answer_v2`, into layout 3's. A copy under
/// another hash does not say which answer it was copied from: it is matched on its bytes,
/// equal to those of an answer received in its scope with its `response_code`. A temporary
/// index of those answers by their bytes' length (ints: cheap to build, no report copied
/// into it) makes that one indexed search a copy, its bytes compared with those of the few
/// answers of the same length, rather than with every answer of the scope; `CROSS JOIN`
/// keeps the copies the outer loop (SQLite does not reorder it). Two answers of equal bytes
/// are the same report: `OR IGNORE` keeps the first found.
const FROM_LAYOUT_2: &str = "
INSERT INTO answer (service, endpoint, params, query_key, response_code, fetched_at, alias_of, body)
    SELECT service, endpoint, params, query_key, response_code, fetched_at, NULL, body
    FROM answer_v2 WHERE alias = 0;
CREATE INDEX answer_by_length ON answer (service, endpoint, params, response_code, length(body));
INSERT OR IGNORE INTO answer
    (service, endpoint, params, query_key, response_code, fetched_at, alias_of, body)
    SELECT c.service, c.endpoint, c.params, c.query_key, c.response_code, c.fetched_at,
        a.query_key, x''
    FROM answer_v2 AS c CROSS JOIN answer AS a
    ON a.service = c.service AND a.endpoint = c.endpoint AND a.params = c.params
        AND a.response_code = c.response_code AND length(a.body) = length(c.body)
        AND a.body = c.body AND a.alias_of IS NULL
    WHERE c.alias != 0;
DROP INDEX answer_by_length;
DROP TABLE answer_v2;
";

fn layout_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// `path` as the path of an SQLite URI: every byte but unreserved ones and `/` escaped.
fn uri_path(path: &Path) -> String {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().replace('\\', "/").into_bytes();
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates the file, if it does not exist, readable and writable by its owner only (SQLite
/// gives its journal files the same mode).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `step` again while the file is busy, up to [`BUSY_TIMEOUT`]. Setting up a new file
/// takes a lock that SQLite does not wait for (switching it to WAL upgrades a read lock, and
/// the busy handler is skipped there to avoid a deadlock), so two processes opening a new
/// cache at once would otherwise see "database is locked".
fn retry_while_busy<E: Busy>(mut step: impl FnMut() -> Result<(), E>) -> Result<(), E> {
    let give_up = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(error) if error.is_busy() && std::time::Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(2));
            }
            done => return done,
        }
    }
}

/// Errors that may say the file is locked by another process.
trait Busy {
    fn is_busy(&self) -> bool;
}

impl Busy for rusqlite::Error {
    fn is_busy(&self) -> bool {
        matches!(self, rusqlite::Error::SqliteFailure(e, _)
            if e.code == rusqlite::ErrorCode::DatabaseBusy)
    }
}

impl Busy for Migration {
    fn is_busy(&self) -> bool {
        Migration::is_busy(self)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_file_opened_read_only_is_read_and_never_written_or_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd name?#%.sqlite3");
        {
            let cache = Cache::open(&path).unwrap();
            cache
                .take(
                    "fp",
                    SystemTime::now(),
                    Duration::from_secs(60),
                    &[],
                    1,
                    &mut |_, _| None,
                )
                .unwrap()
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let cache = Cache::open_read_only(&path).unwrap();
        assert_eq!(cache.len().unwrap(), 0);
        assert!(cache
            .used("fp", SystemTime::now(), Duration::from_secs(60))
            .is_ok());
        assert!(matches!(cache.clear(), Err(Error::Cache(_))), "writes fail");
        drop(cache);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // An older layout is not migrated by a reader: it says what to do.
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 1")
            .unwrap();
        let older = Cache::open_read_only(&path).unwrap_err().to_string();
        assert!(older.contains("layout 1"), "{older}");
        assert_eq!(user_version(&path), 1);
        let missing = Cache::open_read_only(dir.path().join("none.sqlite3"));
        assert!(matches!(missing, Err(Error::Cache(_))));
        assert!(
            !dir.path().join("none.sqlite3").exists(),
            "nothing is created"
        );
    }

    #[test]
    fn a_file_of_an_older_vt_loses_its_unscoped_answers_and_keeps_its_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            // The layout of vt before scoped answers (user_version 0).
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE file_report (resource_key TEXT NOT NULL, allinfo INTEGER NOT NULL,
                     fetched_at INTEGER NOT NULL, answer BLOB NOT NULL,
                     PRIMARY KEY (resource_key, allinfo)) WITHOUT ROWID;
                 INSERT INTO file_report VALUES ('44d88612fea8a8f36de82e1278abb02f', 0, 1, x'7b7d');
                 CREATE TABLE quota_sent (key_fingerprint TEXT NOT NULL, sent_at_ms INTEGER NOT NULL);
                 INSERT INTO quota_sent VALUES ('fp', 1);",
            )
            .unwrap();
        }
        let cache = Cache::open(&path).unwrap();
        assert_eq!(cache.len().unwrap(), 0, "unscoped answers are discarded");
        let tables: i64 = cache
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'file_report'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        let ledger: i64 = cache
            .lock()
            .query_row("SELECT COUNT(*) FROM quota_sent", [], |row| row.get(0))
            .unwrap();
        assert_eq!(ledger, 1, "the quota ledger is kept");
        drop(cache);
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        // Opening it again changes nothing.
        Cache::open(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }

    /// A file of layout 2 (`answer` `WITHOUT ROWID`) in a new folder, as vt wrote it, with two
    /// answers received and one copy under another hash in the scope returned (`copy`, of
    /// `asked`), one answer in another scope (`allinfo=1`), and one request in the quota
    /// ledger; and copies that match no answer received of their scope with their
    /// `response_code`: `stale` (its answer was replaced since), `elsewhere` (a copy of the
    /// answer of another scope) and `recoded` (`asked`'s bytes, another `response_code`).
    fn layout_2_file() -> (tempfile::TempDir, PathBuf, CacheScope) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.sqlite3");
        let scope = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE answer (service TEXT NOT NULL, endpoint TEXT NOT NULL,
                 params TEXT NOT NULL, query_key TEXT NOT NULL, response_code INTEGER NOT NULL,
                 fetched_at INTEGER NOT NULL, body BLOB NOT NULL, alias INTEGER NOT NULL,
                 PRIMARY KEY (service, endpoint, params, query_key)) WITHOUT ROWID;
             CREATE TABLE quota_sent (key_fingerprint TEXT NOT NULL, sent_at_ms INTEGER NOT NULL);
             CREATE INDEX quota_sent_by_key ON quota_sent (key_fingerprint, sent_at_ms);
             CREATE TABLE quota_hold (key_fingerprint TEXT PRIMARY KEY,
                 set_at_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO quota_sent VALUES ('fp', 1);
             PRAGMA user_version = 2;",
        )
        .unwrap();
        let mut insert = old
            .prepare("INSERT INTO answer VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .unwrap();
        for (params, key, code, at, body, alias) in [
            ("", "asked", 1, 1_000, &b"{\"asked\": 1}"[..], false),
            ("", "copy", 1, 2_000, b"{\"asked\": 1}", true),
            ("", "unknown", 0, 3_000, b"{\"response_code\": 0}", false),
            ("allinfo=1", "asked", 1, 4_000, b"{\"allinfo\": 1}", false),
            ("", "stale", 1, 500, b"{\"asked\": 0}", true),
            ("", "elsewhere", 1, 4_000, b"{\"allinfo\": 1}", true),
            ("", "recoded", 2, 1_000, b"{\"asked\": 1}", true),
        ] {
            insert
                .execute(params![
                    scope.service(),
                    scope.endpoint(),
                    params,
                    key,
                    code,
                    at,
                    body,
                    alias
                ])
                .unwrap();
        }
        (dir, path, scope)
    }

    /// The one value `sql` selects from the cache's file.
    fn select<T: rusqlite::types::FromSql>(cache: &Cache, sql: &str) -> T {
        cache.lock().query_row(sql, [], |row| row.get(0)).unwrap()
    }

    const ANSWER_SQL: &str = "SELECT sql FROM sqlite_master WHERE name = 'answer'";

    #[test]
    fn a_file_of_layout_2_keeps_its_answers_in_a_table_with_a_rowid() {
        let (_dir, path, scope) = layout_2_file();
        // A reader does not migrate it: it says what to do.
        let reader = Cache::open_read_only(&path).unwrap_err().to_string();
        assert!(
            reader.contains("layout 2") && reader.contains("open it once for writing"),
            "{reader}"
        );
        assert_eq!(user_version(&path), 2);

        let cache = Cache::open(&path).unwrap();
        assert_eq!(user_version(&path), 3);
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let found = cache
            .get_many(&scope, &["asked", "copy", "unknown", "never"])
            .unwrap();
        let found: Vec<_> = found
            .iter()
            .map(|hit| {
                hit.as_ref()
                    .map(|h| (&h.raw[..], h.response_code, h.fetched_at))
            })
            .collect();
        assert_eq!(
            found,
            [
                Some((&b"{\"asked\": 1}"[..], 1, at(1_000))),
                Some((&b"{\"asked\": 1}"[..], 1, at(2_000))),
                Some((&b"{\"response_code\": 0}"[..], 0, at(3_000))),
                None,
            ]
        );
        let allinfo = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "allinfo=1");
        let hit = cache.get(&allinfo, "asked", None, at(4_000)).unwrap();
        assert_eq!(hit.unwrap().raw, &b"{\"allinfo\": 1}"[..]);
        let stats = cache.stats().unwrap();
        assert_eq!(
            (stats.answers, stats.copies),
            (3, 1),
            "copies become aliases"
        );
        let ledger: i64 = select(&cache, "SELECT COUNT(*) FROM quota_sent");
        assert_eq!(ledger, 1, "the quota ledger is kept");

        // The table has a rowid now, its key a unique index beside it, made as in a new file;
        // nothing of the old table is left.
        let sql: String = select(&cache, ANSWER_SQL);
        assert!(!sql.to_ascii_uppercase().contains("WITHOUT ROWID"), "{sql}");
        assert_eq!(
            sql,
            select::<String>(&Cache::in_memory().unwrap(), ANSWER_SQL)
        );
        let indexes: Vec<(String, bool, String)> = cache
            .lock()
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list('answer')")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [(
                "sqlite_autoindex_answer_1".to_owned(),
                true,
                "pk".to_owned()
            )]
        );
        let rowids: i64 = select(&cache, "SELECT COUNT(rowid) FROM answer");
        assert_eq!(rowids, 4);
        let old: i64 = select(
            &cache,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'answer_v%'",
        );
        assert_eq!(old, 0);
        cache.check_integrity().unwrap();

        // An alias never replaces an answer received for its key; an answer received replaces
        // an alias.
        let now = at(5_000);
        cache
            .put_all_with_aliases(&scope, [], [("asked", 0, "unknown")], now)
            .unwrap();
        let kept = cache.get(&scope, "asked", None, now).unwrap().unwrap();
        assert_eq!(
            (&kept.raw[..], kept.fetched_at),
            (&b"{\"asked\": 1}"[..], at(1_000))
        );
        cache
            .put_all(&scope, [("copy", 1, &b"{\"received\": 1}"[..])], now)
            .unwrap();
        let replaced = cache.get(&scope, "copy", None, now).unwrap().unwrap();
        assert_eq!(
            (&replaced.raw[..], replaced.fetched_at),
            (&b"{\"received\": 1}"[..], now)
        );
        let stats = cache.stats().unwrap();
        assert_eq!((stats.answers, stats.copies), (4, 0));
        drop(cache);
        // Opening it again changes nothing.
        assert_eq!(Cache::open(&path).unwrap().len().unwrap(), 4);
        assert_eq!(user_version(&path), 3);
    }

    #[test]
    fn caches_opening_a_file_of_layout_2_at_once_move_its_answers_once() {
        let (_dir, path, _) = layout_2_file();
        let start = std::sync::Barrier::new(4);
        let opened: Vec<Result<usize, Error>> = std::thread::scope(|threads| {
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    threads.spawn(|| {
                        start.wait();
                        Cache::open(&path)?.len()
                    })
                })
                .collect();
            openers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for len in opened {
            assert_eq!(len.unwrap(), 3);
        }
        assert_eq!(user_version(&path), 3);
        assert_eq!(Cache::open(&path).unwrap().stats().unwrap().copies, 1);
    }

    /// What `answer` holds for `key` in any scope: its `response_code`, `fetched_at`,
    /// `alias_of` and its body's length.
    fn stored(cache: &Cache, params: &str, key: &str) -> Option<(i64, i64, Option<String>, i64)> {
        cache
            .lock()
            .query_row(
                "SELECT response_code, fetched_at, alias_of, length(body) FROM answer \
                 WHERE params = ?1 AND query_key = ?2",
                params![params, key],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .unwrap()
    }

    #[test]
    fn a_layout_2_copy_of_an_answer_becomes_an_alias_naming_it() {
        let (_dir, path, scope) = layout_2_file();
        let cache = Cache::open(&path).unwrap();
        // No bytes of its own: it names `asked`, and keeps its time and response_code.
        assert_eq!(
            stored(&cache, "", "copy"),
            Some((1, 2_000, Some("asked".to_owned()), 0))
        );
        assert_eq!(stored(&cache, "", "asked"), Some((1, 1_000, None, 12)));
        let stats = cache.stats().unwrap();
        let bodies = [
            &b"{\"asked\": 1}"[..],
            b"{\"response_code\": 0}",
            b"{\"allinfo\": 1}",
        ];
        assert_eq!(
            stats.answer_bytes,
            bodies.iter().map(|b| b.len() as u64).sum::<u64>(),
            "each body once"
        );
        // It shares what `asked` holds from now on: a newer report of the file.
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        cache
            .put_all(&scope, [("asked", 1, &b"{\"asked\": 2}"[..])], at(5_000))
            .unwrap();
        let hit = cache.get(&scope, "copy", None, at(5_000)).unwrap().unwrap();
        assert_eq!(
            (&hit.raw[..], hit.fetched_at),
            (&b"{\"asked\": 2}"[..], at(2_000))
        );
        // The temporary index of the migration is gone.
        let indexes: i64 = select(
            &cache,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'answer_by_length'",
        );
        assert_eq!(indexes, 0);
    }

    #[test]
    fn a_layout_2_copy_matching_no_answer_of_its_scope_and_code_is_dropped() {
        let (_dir, path, scope) = layout_2_file();
        let cache = Cache::open(&path).unwrap();
        for key in ["stale", "elsewhere", "recoded"] {
            assert_eq!(stored(&cache, "", key), None, "{key}");
            assert_eq!(cache.get(&scope, key, None, UNIX_EPOCH).unwrap(), None);
        }
        // What they copied is still there, under its own key.
        let allinfo = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "allinfo=1");
        assert!(cache
            .get(&allinfo, "asked", None, UNIX_EPOCH)
            .unwrap()
            .is_some());
        assert_eq!(cache.stats().unwrap().copies, 1);
    }

    #[test]
    fn the_migration_finds_a_copys_answer_by_an_index() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(&format!(
                "CREATE TABLE answer_v2 (service TEXT NOT NULL, endpoint TEXT NOT NULL,
                     params TEXT NOT NULL, query_key TEXT NOT NULL,
                     response_code INTEGER NOT NULL, fetched_at INTEGER NOT NULL,
                     body BLOB NOT NULL, alias INTEGER NOT NULL,
                     PRIMARY KEY (service, endpoint, params, query_key)) WITHOUT ROWID;
                 {SCHEMA}"
            ))
            .unwrap();
        let steps: Vec<&str> = FROM_LAYOUT_2.split(';').map(str::trim).collect();
        assert!(steps[2].starts_with("INSERT OR IGNORE"), "{}", steps[2]);
        connection
            .execute_batch(&format!("{}; {};", steps[0], steps[1]))
            .unwrap();
        let plan = query_plan(&connection, steps[2], []);
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan[0].starts_with("SCAN c"), "{plan:?}");
        assert!(
            plan[1].starts_with("SEARCH a USING INDEX answer_by_length (service=? AND endpoint=? AND params=? AND response_code=? AND <expr>=?)"),
            "{plan:?}"
        );
    }

    /// The steps of SQLite's plan for `sql`.
    fn query_plan(
        connection: &Connection,
        sql: &str,
        values: impl rusqlite::Params,
    ) -> Vec<String> {
        connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(values, |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_read_is_one_search_of_the_key_and_one_more_for_an_alias() {
        let cache = Cache::in_memory().unwrap();
        let search = "SEARCH answer USING INDEX sqlite_autoindex_answer_1 \
                      (service=? AND endpoint=? AND params=? AND query_key=?)";
        let connection = cache.lock();
        let plan = query_plan(&connection, SELECT_ANSWER, params!["s", "e", "p", "k"]);
        assert_eq!(plan, [search]);
        let plan = query_plan(&connection, SELECT_SHARED, params!["s", "e", "p", "k", 1]);
        assert_eq!(plan, [search]);
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const REPORT: &[u8] = br#"{"response_code": 1, "resource": "sha256", "md5": "md5"}"#;
    const NEWER: &[u8] = br#"{"response_code": 1, "resource": "sha256", "positives": 2}"#;

    /// A cache in memory, its scope, and a found report received for `sha256` at 1,000 s with
    /// aliases `md5` and `sha1` naming it.
    fn a_report_and_its_aliases() -> (Cache, CacheScope) {
        let cache = Cache::in_memory().unwrap();
        let scope = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "");
        cache
            .put_all_with_aliases(
                &scope,
                [("sha256", 1, REPORT)],
                [("md5", 1, "sha256"), ("sha1", 1, "sha256")],
                at(1_000),
            )
            .unwrap();
        (cache, scope)
    }

    /// What `get_many` reads for `keys`: bytes, response_code, fetched_at.
    fn read(
        cache: &Cache,
        scope: &CacheScope,
        keys: &[&str],
    ) -> Vec<Option<(Vec<u8>, i64, SystemTime)>> {
        cache
            .get_many(scope, keys)
            .unwrap()
            .into_iter()
            .map(|hit| hit.map(|h| (h.raw.to_vec(), h.response_code, h.fetched_at)))
            .collect()
    }

    #[test]
    fn an_alias_reads_the_bytes_of_the_answer_it_names_and_holds_none() {
        let (cache, scope) = a_report_and_its_aliases();
        let hit = Some((REPORT.to_vec(), 1, at(1_000)));
        assert_eq!(
            read(&cache, &scope, &["md5", "sha1", "sha256"]),
            [hit.clone(), hit.clone(), hit]
        );
        assert_eq!(
            stored(&cache, "", "md5"),
            Some((1, 1_000, Some("sha256".into()), 0))
        );
        let stats = cache.stats().unwrap();
        assert_eq!(
            (stats.answers, stats.copies, stats.answer_bytes),
            (1, 2, REPORT.len() as u64)
        );
        assert_eq!(cache.len().unwrap(), 1);
        // Only in its own scope.
        let allinfo = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "allinfo=1");
        cache
            .put_all(&allinfo, [("sha256", 1, NEWER)], at(1_000))
            .unwrap();
        assert_eq!(read(&cache, &allinfo, &["md5", "sha1"]), [None, None]);
    }

    #[test]
    fn an_alias_reads_a_newer_report_of_its_file_with_its_own_time() {
        let (cache, scope) = a_report_and_its_aliases();
        cache
            .put_all(&scope, [("sha256", 1, NEWER)], at(2_000))
            .unwrap();
        assert_eq!(
            read(&cache, &scope, &["md5", "sha256"]),
            [
                Some((NEWER.to_vec(), 1, at(1_000))),
                Some((NEWER.to_vec(), 1, at(2_000)))
            ]
        );
    }

    #[test]
    fn an_alias_whose_answer_is_gone_or_answers_otherwise_reads_as_absent() {
        let (cache, scope) = a_report_and_its_aliases();
        // The answer it names now has another response_code.
        cache
            .put_all(
                &scope,
                [("sha256", 0, &br#"{"response_code": 0}"#[..])],
                at(2_000),
            )
            .unwrap();
        assert_eq!(read(&cache, &scope, &["md5", "sha1"]), [None, None]);
        // ... and is gone.
        cache
            .lock()
            .execute("DELETE FROM answer WHERE query_key = 'sha256'", [])
            .unwrap();
        assert_eq!(read(&cache, &scope, &["md5", "sha256"]), [None, None]);
        // An alias naming an alias, or a key never stored.
        cache
            .put_all_with_aliases(
                &scope,
                [],
                [("other", 1, "md5"), ("none", 1, "never")],
                at(3_000),
            )
            .unwrap();
        assert_eq!(read(&cache, &scope, &["other", "none"]), [None, None]);
        // An answer received for the key it names makes it answer again.
        cache
            .put_all(&scope, [("sha256", 1, NEWER)], at(4_000))
            .unwrap();
        assert_eq!(
            read(&cache, &scope, &["md5"]),
            [Some((NEWER.to_vec(), 1, at(1_000)))]
        );
    }

    #[test]
    fn an_alias_whose_answer_was_pruned_reads_as_absent() {
        let (cache, scope) = a_report_and_its_aliases();
        // An alias stored after its answer (the other way round, a clock set back, two
        // processes): pruning by age takes the answer and leaves the alias.
        cache
            .put_all_with_aliases(&scope, [], [("later", 1, "sha256")], at(2_000))
            .unwrap();
        assert_eq!(
            read(&cache, &scope, &["later"]),
            [Some((REPORT.to_vec(), 1, at(2_000)))]
        );
        assert_eq!(
            cache.prune(at(1_500)).unwrap(),
            3,
            "the answer and its aliases of then"
        );
        assert_eq!(
            read(&cache, &scope, &["later", "md5", "sha256"]),
            [None, None, None]
        );
        let stats = cache.stats().unwrap();
        assert_eq!((stats.answers, stats.copies, stats.answer_bytes), (0, 1, 0));
        assert_eq!(
            cache.prune(at(2_500)).unwrap(),
            1,
            "and it goes in its turn"
        );
    }

    #[test]
    fn an_alias_never_replaces_what_is_stored_and_an_answer_replaces_an_alias() {
        let (cache, scope) = a_report_and_its_aliases();
        // An answer received for `md5` itself, then a batch whose aliases would take `md5`
        // (an answer) and `sha1` (another alias).
        let own = &br#"{"response_code": 1, "resource": "md5"}"#[..];
        cache.put_all(&scope, [("md5", 1, own)], at(2_000)).unwrap();
        cache
            .put_all_with_aliases(
                &scope,
                [("scan", 1, NEWER)],
                [
                    ("md5", 1, "scan"),
                    ("sha1", 1, "scan"),
                    ("sha256", 1, "scan"),
                ],
                at(3_000),
            )
            .unwrap();
        assert_eq!(
            read(&cache, &scope, &["md5", "sha1", "sha256"]),
            [
                Some((own.to_vec(), 1, at(2_000))),
                Some((REPORT.to_vec(), 1, at(1_000))),
                Some((REPORT.to_vec(), 1, at(1_000)))
            ]
        );
        assert_eq!(
            stored(&cache, "", "sha1").unwrap().2.as_deref(),
            Some("sha256")
        );
        // An answer received for an alias's key replaces the alias.
        cache
            .put_all(&scope, [("sha1", 1, NEWER)], at(4_000))
            .unwrap();
        assert_eq!(
            stored(&cache, "", "sha1"),
            Some((1, 4_000, None, NEWER.len() as i64))
        );
        assert_eq!(
            read(&cache, &scope, &["sha1"]),
            [Some((NEWER.to_vec(), 1, at(4_000)))]
        );
        assert_eq!(cache.len().unwrap(), 4);
    }

    #[test]
    fn a_file_of_a_newer_vt_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99; CREATE TABLE future (x);")
            .unwrap();
        let error = Cache::open(&path).unwrap_err();
        assert!(error.to_string().contains("newer vt"), "{error}");
        assert_eq!(user_version(&path), 99);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_cache_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.sqlite3");
        let cache = Cache::open(&path).unwrap();
        cache
            .put_all(
                &CacheScope::new("https://vt.test/vtapi/v2", "file/report", ""),
                [("k", 0, &b"{}"[..])],
                SystemTime::now(),
            )
            .unwrap();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let file = file.unwrap();
            let mode = file.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{:?}", file.file_name());
        }
    }

    #[test]
    fn stats_prune_and_clear_shrink_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("big.sqlite3")).unwrap();
        let scope = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "");
        let body = vec![b'x'; 4096];
        let keys: Vec<String> = (0..2_000).map(|i| format!("{i:032x}")).collect();
        let old = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let new = UNIX_EPOCH + Duration::from_secs(2_000_000);
        for (half, at) in keys.chunks(1_000).zip([old, new]) {
            cache
                .put_all_with_aliases(
                    &scope,
                    half.iter().map(|k| (k.as_str(), 1, &body[..])),
                    [("alias", 1, half[0].as_str())],
                    at,
                )
                .unwrap();
        }
        let stats = cache.stats().unwrap();
        assert_eq!((stats.answers, stats.copies), (2_000, 1));
        assert_eq!(stats.answer_bytes, 2_000 * 4_096, "each body once");
        assert_eq!((stats.oldest, stats.newest), (Some(old), Some(new)));
        assert_eq!(
            stats.by_endpoint,
            [(scope.service().to_owned(), "file/report".to_owned(), 2_000)]
        );
        let full = stats.file_bytes;
        assert!(full > 8_000_000, "{full}");
        // The old half goes (with the copy stored then), and the file shrinks with it.
        assert_eq!(cache.prune(new).unwrap(), 1_001);
        let pruned = cache.stats().unwrap();
        assert_eq!(pruned.answers, 1_000);
        assert!(
            pruned.file_bytes < full * 3 / 4,
            "{} of {full}",
            pruned.file_bytes
        );
        assert_eq!(cache.clear().unwrap(), 1_000);
        let cleared = cache.stats().unwrap();
        assert_eq!(
            (cleared.answers, cleared.copies, cleared.oldest),
            (0, 0, None)
        );
        assert!(
            cleared.file_bytes < full / 10,
            "{} of {full}",
            cleared.file_bytes
        );
    }

    #[test]
    fn checkpoints_in_the_background_bring_the_answers_into_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.sqlite3");
        let mut cache = Cache::open(&path).unwrap();
        cache
            .checkpoint_in_background(Duration::from_millis(20))
            .unwrap();
        // The commits' own checkpoints, the backstop that lets the WAL begin again, stay on
        // at the higher threshold; the WAL's file is cut back when it does.
        let setting = |name: &str| -> i64 {
            cache
                .lock()
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(
            setting("wal_autocheckpoint"),
            i64::from(Cache::WAL_BACKSTOP_PAGES)
        );
        assert_eq!(setting("journal_size_limit"), WAL_KEPT_BYTES as i64);
        let scope = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "");
        let body = vec![b'x'; 4096];
        let keys: Vec<String> = (0..500).map(|i| format!("{i:032x}")).collect();
        let empty = std::fs::metadata(&path).unwrap().len();
        // 2 MB: far below the writer's own threshold, so only the thread copies them from the
        // WAL into the file.
        cache
            .put_all(
                &scope,
                keys.iter().map(|k| (k.as_str(), 1, &body[..])),
                SystemTime::now(),
            )
            .unwrap();
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < empty + 2_000_000 {
            assert!(
                std::time::Instant::now() < give_up,
                "never checkpointed: {} bytes",
                std::fs::metadata(&path).unwrap().len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let hit = cache.get(&scope, &keys[499], None, SystemTime::now());
        assert_eq!(hit.unwrap().unwrap().raw.len(), 4096);
        // Dropping the cache stops the thread; the file reads the same after.
        drop(cache);
        let again = Cache::open(&path).unwrap();
        assert_eq!(again.len().unwrap(), 500);
        // A cache in memory has no WAL to checkpoint.
        assert!(Cache::in_memory()
            .unwrap()
            .checkpoint_in_background(Duration::from_millis(20))
            .is_ok());
    }

    #[test]
    fn a_read_without_waiting_steps_aside_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("try.sqlite3");
        let cache = Cache::open(&path).unwrap();
        let scope = CacheScope::new("https://vt.test/vtapi/v2", "file/report", "");
        cache
            .put_all(&scope, [("aa", 1, &b"{}"[..])], SystemTime::now())
            .unwrap();
        let read = |cache: &Cache| {
            cache.try_get_many(&scope, &["aa", "bb"]).map(|found| {
                found
                    .unwrap()
                    .iter()
                    .map(Option::is_some)
                    .collect::<Vec<_>>()
            })
        };
        // Nothing in the way: read as `get_many` reads.
        assert_eq!(read(&cache), Some(vec![true, false]));
        // Another thread using the connection (a write in progress): nothing read.
        {
            let _writing = cache.lock();
            assert_eq!(read(&cache), None);
        }
        // With a reader, read there meanwhile; with the reader in use too, nothing read.
        let mut cache = cache;
        cache.open_readers(1).unwrap();
        {
            let _writing = cache.lock();
            assert_eq!(read(&cache), Some(vec![true, false]));
            let _reading = cache.readers[0].lock().unwrap();
            assert_eq!(read(&cache), None);
        }
        // The connection's own timeout is back for the reads and writes that may wait (a
        // read without waiting sets none, so that a locked file is busy at once).
        let timeout: i64 = cache
            .lock()
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(timeout, BUSY_TIMEOUT.as_millis() as i64);
        assert_eq!(read(&cache), Some(vec![true, false]));
    }

    #[test]
    fn base_urls_of_one_service_are_one_scope() {
        let one = CacheScope::new("https://www.virustotal.com/vtapi/v2/", "file/report", "");
        for same in [
            "https://WWW.VirusTotal.com/vtapi/v2",
            " https://www.virustotal.com:443/vtapi/v2/ ",
            "HTTPS://www.virustotal.com/vtapi/v2/",
        ] {
            assert_eq!(CacheScope::new(same, "file/report", ""), one, "{same}");
        }
        for other in [
            "http://www.virustotal.com/vtapi/v2/",
            "https://www.virustotal.com:8443/vtapi/v2/",
            "https://www.virustotal.com/vtapi/v3/",
            "http://127.0.0.1:8080/vtapi/v2/",
        ] {
            assert_ne!(CacheScope::new(other, "file/report", ""), one, "{other}");
        }
    }
}
