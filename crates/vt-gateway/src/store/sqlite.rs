//! The SQLite store: vt-api's cache file (answers and quota ledger) with the gateway's tables
//! beside them.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};
use vt_api::{Cache, CacheScope};

use super::{AuditEntry, AuditPage, Migrations, Pruned, StoredAnswer, ToKeep};
use crate::token::{Token, TokenInfo};
use crate::{Allow, Error};

const MIGRATIONS: Migrations = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_audit_pages.sql"),
    ),
];

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the WAL is checkpointed (by vt-api's cache, in a thread of its own): at a busy
/// gateway's tens of megabytes of answers a second, SQLite's own threshold (1,000 pages) is
/// passed several times a second, each time in a request's commit.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub(crate) struct Sqlite {
    cache: Arc<Cache>,
    connection: Mutex<Connection>,
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite, Error> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_folder(folder)?;
        }
        // vt-api's cache first: it creates the file (mode 0600) and its tables.
        let mut cache = Cache::open(path).map_err(Error::store)?;
        cache
            .checkpoint_in_background(CHECKPOINT_EVERY)
            .map_err(Error::store)?;
        // A reader for each of tokio's workers (as many as the cores), whose store reads are
        // made on the worker when they need not wait (`Store::answers`).
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        cache.open_readers(workers).map_err(Error::store)?;
        let cache = Arc::new(cache);
        let connection = Connection::open(path).map_err(Error::store)?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(Error::store)?;
        // As vt-api's connection to the file: synced when checkpointed, not at every commit
        // (SQLite's default, FULL: an audit page every 100 ms, and a sync of the WAL waits
        // for all of it, the answers' frames too, holding the write lock); checkpointing in
        // a commit only past the cache's threshold (the cache's thread does it otherwise).
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {};",
                Cache::WAL_BACKSTOP_PAGES
            ))
            .map_err(Error::store)?;
        migrate(&connection)?;
        Ok(Sqlite {
            cache,
            connection: Mutex::new(connection),
        })
    }

    pub(crate) fn cache(&self) -> Arc<Cache> {
        Arc::clone(&self.cache)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add_token(
        &self,
        name: &str,
        hash: &str,
        allow: Allow,
        per_day: Option<u32>,
        now_ms: i64,
    ) -> Result<(), Error> {
        let inserted = self.lock().execute(
            "INSERT INTO gateway_token (name, token_hash, allow, per_day, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, hash, allow.to_string(), per_day, now_ms],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::TokenExists {
                    name: name.to_owned(),
                })
            }
            Err(e) => Err(Error::store(e)),
        }
    }

    pub(crate) fn revoke_token(&self, name: &str, now_ms: i64) -> Result<bool, Error> {
        let changed = self
            .lock()
            .execute(
                "UPDATE gateway_token SET revoked_at_ms = ?2 \
                 WHERE name = ?1 AND revoked_at_ms IS NULL",
                params![name, now_ms],
            )
            .map_err(Error::store)?;
        Ok(changed > 0)
    }

    pub(crate) fn tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT name, allow, per_day, created_at_ms, revoked_at_ms FROM gateway_token \
                 ORDER BY created_at_ms, rowid",
            )
            .map_err(Error::store)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<u32>>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(Error::store)?;
        rows.map(|row| {
            let (name, allow, per_day, created_at_ms, revoked_at_ms) = row.map_err(Error::store)?;
            Ok(TokenInfo {
                token: Token {
                    name,
                    allow: allow.parse()?,
                    per_day,
                },
                created_at_ms,
                revoked_at_ms,
            })
        })
        .collect()
    }

    pub(crate) fn find_token(&self, hash: &str) -> Result<Option<Token>, Error> {
        let row = self
            .lock()
            .prepare_cached(
                "SELECT name, allow, per_day FROM gateway_token \
                 WHERE token_hash = ?1 AND revoked_at_ms IS NULL",
            )
            .and_then(|mut s| {
                s.query_row([hash], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<u32>>(2)?,
                    ))
                })
                .optional()
            })
            .map_err(Error::store)?;
        row.map(|(name, allow, per_day)| {
            Ok(Token {
                name,
                allow: allow.parse()?,
                per_day,
            })
        })
        .transpose()
    }

    pub(crate) fn answers(
        &self,
        scope: &CacheScope,
        keys: &[String],
    ) -> Result<Vec<Option<StoredAnswer>>, Error> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        stored(self.cache.get_many(scope, &keys))
    }

    /// [`Sqlite::answers`] if they can be read without waiting (`Cache::try_get_many`).
    pub(crate) fn try_answers(
        &self,
        scope: &CacheScope,
        keys: &[String],
    ) -> Option<Result<Vec<Option<StoredAnswer>>, Error>> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.cache.try_get_many(scope, &keys).map(stored)
    }

    pub(crate) fn keep(
        &self,
        scope: &CacheScope,
        answers: &[ToKeep],
        fetched_at: SystemTime,
    ) -> Result<(), Error> {
        // An alias names the answer it shares (vt-api's cache keeps no copy of its bytes).
        let asked = answers
            .iter()
            .filter(|a| a.alias_of.is_none())
            .map(|a| (a.key.as_str(), a.response_code, &a.raw[..]));
        let aliases = answers.iter().filter_map(|a| {
            let of = a.alias_of.as_deref()?;
            Some((a.key.as_str(), a.response_code, of))
        });
        self.cache
            .put_all_with_aliases(scope, asked, aliases, fetched_at)
            .map_err(Error::store)?;
        Ok(())
    }

    pub(crate) fn record(&self, page: &AuditPage) -> Result<(), Error> {
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(Error::store)?;
        transaction
            .prepare_cached(
                "INSERT INTO gateway_audit_page (first_ms, last_ms, entries, lines) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    page.first_ms,
                    page.last_ms,
                    i64::try_from(page.entries).unwrap_or(i64::MAX),
                    page.text()
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?
                ])
            })
            .map_err(Error::store)?;
        {
            let mut add = transaction
                .prepare_cached(
                    "INSERT INTO gateway_usage (token, minute, requests) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (token, minute) DO UPDATE SET requests = requests + excluded.requests",
                )
                .map_err(Error::store)?;
            for (token, minute, requests) in page.usage() {
                add.execute(params![
                    token,
                    minute,
                    i64::try_from(requests).unwrap_or(i64::MAX)
                ])
                .map_err(Error::store)?;
            }
        }
        transaction.commit().map_err(Error::store)
    }

    /// `audit`: (entries before this ms, counts of minutes before this minute).
    pub(crate) fn prune(
        &self,
        audit: Option<(i64, i64)>,
        answers_before: Option<SystemTime>,
    ) -> Result<Pruned, Error> {
        let mut pruned = Pruned::default();
        if let Some((before_ms, usage_before_minute)) = audit {
            let mut connection = self.lock();
            let transaction = connection.transaction().map_err(Error::store)?;
            let (pages, entries): (i64, i64) = transaction
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(entries), 0) FROM gateway_audit_page \
                     WHERE last_ms < ?1",
                    [before_ms],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(Error::store)?;
            transaction
                .execute(
                    "DELETE FROM gateway_audit_page WHERE last_ms < ?1",
                    [before_ms],
                )
                .map_err(Error::store)?;
            transaction
                .execute(
                    "DELETE FROM gateway_usage WHERE minute < ?1",
                    [usage_before_minute],
                )
                .map_err(Error::store)?;
            transaction.commit().map_err(Error::store)?;
            pruned.audit_pages = u64::try_from(pages).unwrap_or(0);
            pruned.audit_entries = u64::try_from(entries).unwrap_or(0);
        }
        match answers_before {
            // vt-api's prune gives the space back itself.
            Some(before) => pruned.answers = self.cache.prune(before).map_err(Error::store)?,
            None if pruned.audit_pages > 0 => self.cache.shrink().map_err(Error::store)?,
            None => {}
        }
        Ok(pruned)
    }

    pub(crate) fn audit(
        &self,
        since_ms: i64,
        token: Option<&str>,
    ) -> Result<Vec<AuditEntry>, Error> {
        let connection = self.lock();
        let pages: Vec<String> = connection
            .prepare(
                "SELECT lines FROM gateway_audit_page WHERE last_ms >= ?1 \
                 ORDER BY first_ms, rowid",
            )
            .and_then(|mut s| s.query_map([since_ms], |row| row.get(0))?.collect())
            .map_err(Error::store)?;
        drop(connection);
        super::read_pages(pages.iter().map(String::as_str), since_ms, token)
    }

    pub(crate) fn used_since(&self, token: &str, since_ms: i64) -> Result<u64, Error> {
        self.lock()
            .prepare_cached(
                "SELECT COALESCE(SUM(requests), 0) FROM gateway_usage \
                 WHERE token = ?1 AND minute >= ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![token, since_ms.div_euclid(60_000)], |row| {
                    row.get::<_, i64>(0)
                })
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(Error::store)
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        self.lock()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(Error::store)
    }

    pub(crate) fn dump_text(&self) -> Result<String, Error> {
        let connection = self.lock();
        let tables: Vec<String> = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .map_err(Error::store)?;
        let mut text = String::new();
        for table in tables {
            let mut statement = connection
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .map_err(Error::store)?;
            let columns = statement.column_count();
            let mut rows = statement.query([]).map_err(Error::store)?;
            while let Some(row) = rows.next().map_err(Error::store)? {
                for i in 0..columns {
                    match row.get_ref(i).map_err(Error::store)? {
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            text.push_str(&String::from_utf8_lossy(t));
                        }
                        other => text.push_str(&format!("{other:?}")),
                    }
                    text.push('\t');
                }
                text.push('\n');
            }
        }
        Ok(text)
    }
}

/// Applies the migrations not applied yet, each in its own transaction, and refuses a file
/// written by a newer gateway.
fn migrate(connection: &Connection) -> Result<(), Error> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS gateway_migration \
             (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
        )
        .map_err(Error::store)?;
    let applied: i64 = connection
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM gateway_migration",
            [],
            |row| row.get(0),
        )
        .map_err(Error::store)?;
    for &(version, sql) in super::pending(MIGRATIONS, applied)? {
        connection
            .execute_batch(&format!(
                "BEGIN IMMEDIATE; {sql}; INSERT INTO gateway_migration VALUES ({version}, {}); COMMIT;",
                super::now_ms()
            ))
            .map_err(|e| {
                let _ = connection.execute_batch("ROLLBACK");
                Error::store(format!("migration {version}: {e}"))
            })?;
    }
    Ok(())
}

fn create_private_folder(folder: &Path) -> Result<(), Error> {
    if folder.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(folder)
        .map_err(|e| Error::io(folder.display().to_string(), e))
}

/// vt-api's cached answers as the store's.
fn stored(
    found: Result<Vec<Option<vt_api::CachedAnswer>>, vt_api::Error>,
) -> Result<Vec<Option<StoredAnswer>>, Error> {
    Ok(found
        .map_err(Error::store)?
        .into_iter()
        .map(|hit| {
            hit.map(|hit| StoredAnswer {
                raw: hit.raw,
                response_code: hit.response_code,
                fetched_at: hit.fetched_at,
            })
        })
        .collect())
}
