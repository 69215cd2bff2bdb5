//! The PostgreSQL store: everything several gateways share (tokens, answers, quota ledger,
//! audit) in one database, through a small pool of connections.

use std::time::SystemTime;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use vt_api::CacheScope;

use super::{
    describe_url, from_ms, ms, AuditEntry, AuditPage, Migrations, Pruned, StoredAnswer, ToKeep,
};
use crate::token::{Token, TokenInfo};
use crate::{Allow, Error};

const MIGRATIONS: Migrations = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_audit_pages.sql"),
    ),
    (3, include_str!("../../migrations/postgres/0003_lz4.sql")),
];

/// The advisory lock held while migrating, so that gateways started together migrate once.
const MIGRATION_LOCK: i64 = 0x7674_6777_6d69_6772;

/// Connections a gateway keeps to the database.
const POOL_SIZE: usize = 16;

#[derive(Debug)]
pub(crate) struct Postgres {
    pool: Pool,
}

/// The database's own words for what failed (tokio-postgres's Display says only "db error"),
/// or the error with its causes ("error performing TLS handshake: invalid peer certificate:
/// UnknownIssuer").
pub(crate) fn pg_error(error: impl Into<PgError>) -> Error {
    match error.into() {
        PgError::Query(e) => match e.as_db_error() {
            Some(db) => Error::store(format!("{}: {}", db.severity(), db.message())),
            None => Error::store(with_causes(&e)),
        },
        PgError::Pool(e) => Error::store(with_causes(&e)),
    }
}

/// `error: its source: that one's source...`, each said once (a wrapper often repeats its
/// source's words).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = cause.source();
    }
    text
}

pub(crate) enum PgError {
    Query(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> PgError {
        PgError::Query(e)
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> PgError {
        PgError::Pool(e)
    }
}

impl Postgres {
    pub(crate) async fn open(url: &str) -> Result<Postgres, Error> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::config(format!("--store {}: {e}", describe_url(url)))
        };
        let (url_for_driver, tls) = Tls::of(url).map_err(|e| bad(&e))?;
        let config: tokio_postgres::Config = url_for_driver.parse().map_err(|e| bad(&e))?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            Tls::Off => Manager::from_config(config, NoTls, manager_config),
            Tls::Verified(trust) => {
                let tls_config = trust.client_config().map_err(|e| bad(&e))?;
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
                Manager::from_config(config, connector, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(Error::store)?;
        let store = Postgres { pool };
        store.migrate().await.map_err(|e| match e {
            Error::Store { message } => Error::Store {
                message: format!("{}: {message}", describe_url(url)),
            },
            other => other,
        })?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), Error> {
        let mut client = self.pool.get().await.map_err(pg_error)?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_error)?;
        let migrated = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS gateway_migration \
                     (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
                )
                .await
                .map_err(pg_error)?;
            let applied: i64 = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM gateway_migration",
                    &[],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            for &(version, sql) in super::pending(MIGRATIONS, applied)? {
                let transaction = client.transaction().await.map_err(pg_error)?;
                transaction
                    .batch_execute(sql)
                    .await
                    .map_err(|e| Error::store(format!("migration {version}: {}", pg_error(e))))?;
                transaction
                    .execute(
                        "INSERT INTO gateway_migration VALUES ($1, $2)",
                        &[&version, &super::now_ms()],
                    )
                    .await
                    .map_err(pg_error)?;
                transaction.commit().await.map_err(pg_error)?;
            }
            Ok(())
        }
        .await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        migrated?;
        unlocked.map_err(pg_error)?;
        Ok(())
    }

    pub(crate) async fn add_token(
        &self,
        name: &str,
        hash: &str,
        allow: Allow,
        per_day: Option<u32>,
        now_ms: i64,
    ) -> Result<(), Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let per_day = per_day.map(i64::from);
        let inserted = client
            .execute(
                "INSERT INTO gateway_token (name, token_hash, allow, per_day, created_at_ms) \
                 VALUES ($1, $2, $3, $4::BIGINT::INTEGER, $5)",
                &[&name, &hash, &allow.to_string(), &per_day, &now_ms],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(Error::TokenExists {
                name: name.to_owned(),
            }),
            Err(e) => Err(pg_error(e)),
        }
    }

    pub(crate) async fn revoke_token(&self, name: &str, now_ms: i64) -> Result<bool, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let changed = client
            .execute(
                "UPDATE gateway_token SET revoked_at_ms = $2 \
                 WHERE name = $1 AND revoked_at_ms IS NULL",
                &[&name, &now_ms],
            )
            .await
            .map_err(pg_error)?;
        Ok(changed > 0)
    }

    pub(crate) async fn tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let rows = client
            .query(
                "SELECT name, allow, per_day::BIGINT, created_at_ms, revoked_at_ms \
                 FROM gateway_token ORDER BY created_at_ms, name",
                &[],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                Ok(TokenInfo {
                    token: Token {
                        name: row.get(0),
                        allow: row.get::<_, String>(1).parse()?,
                        per_day: per_day(row.get(2)),
                    },
                    created_at_ms: row.get(3),
                    revoked_at_ms: row.get(4),
                })
            })
            .collect()
    }

    pub(crate) async fn find_token(&self, hash: &str) -> Result<Option<Token>, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let statement = client
            .prepare_cached(
                "SELECT name, allow, per_day::BIGINT FROM gateway_token \
                 WHERE token_hash = $1 AND revoked_at_ms IS NULL",
            )
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&statement, &[&hash])
            .await
            .map_err(pg_error)?;
        row.map(|row| {
            Ok(Token {
                name: row.get(0),
                allow: row.get::<_, String>(1).parse()?,
                per_day: per_day(row.get(2)),
            })
        })
        .transpose()
    }

    pub(crate) async fn answers(
        &self,
        scope: &CacheScope,
        keys: &[String],
    ) -> Result<Vec<Option<StoredAnswer>>, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        // One lookup a key, pipelined on one connection: equality on the whole primary key is
        // a unique index lookup whatever the table's statistics. `query_key = ANY($4)` was
        // planned, until the first ANALYZE of a table being filled, as a scan of the whole
        // scope (65 ms a query with 30,000 answers stored).
        let statement = client
            .prepare_cached(
                "SELECT response_code, fetched_at, body FROM answer \
                 WHERE service = $1 AND endpoint = $2 AND params = $3 AND query_key = $4",
            )
            .await
            .map_err(pg_error)?;
        let (service, endpoint, params) = (scope.service(), scope.endpoint(), scope.params());
        let (client, statement) = (&client, &statement);
        let lookups = keys.iter().map(|key| async move {
            client
                .query_opt(statement, &[&service, &endpoint, &params, key])
                .await
        });
        let rows = futures_util::future::try_join_all(lookups)
            .await
            .map_err(pg_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.map(|row| {
                    let fetched_secs: i64 = row.get(1);
                    let body: Vec<u8> = row.get(2);
                    StoredAnswer {
                        raw: body.into(),
                        response_code: row.get(0),
                        fetched_at: from_ms(fetched_secs.saturating_mul(1000)),
                    }
                })
            })
            .collect())
    }

    pub(crate) async fn keep(
        &self,
        scope: &CacheScope,
        answers: &[ToKeep],
        fetched_at: SystemTime,
    ) -> Result<(), Error> {
        // Seconds, as vt-api's SQLite cache keeps them.
        let fetched_secs = ms(fetched_at) / 1000;
        let mut client = self.pool.get().await.map_err(pg_error)?;
        let transaction = client.transaction().await.map_err(pg_error)?;
        // An answer received for its key replaces what was there; a copy under another hash
        // of the file never replaces anything.
        let asked = transaction
            .prepare_cached(
                "INSERT INTO answer (service, endpoint, params, query_key, response_code, \
                 fetched_at, body, alias) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE) \
                 ON CONFLICT (service, endpoint, params, query_key) DO UPDATE SET \
                 response_code = EXCLUDED.response_code, fetched_at = EXCLUDED.fetched_at, \
                 body = EXCLUDED.body, alias = FALSE",
            )
            .await
            .map_err(pg_error)?;
        let alias = transaction
            .prepare_cached(
                "INSERT INTO answer (service, endpoint, params, query_key, response_code, \
                 fetched_at, body, alias) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg_error)?;
        let (service, endpoint, params) = (scope.service(), scope.endpoint(), scope.params());
        let (transaction_ref, asked, alias) = (&transaction, &asked, &alias);
        let writes = answers.iter().map(|answer| async move {
            // An alias is a copy here (the bytes of the answer it names).
            let statement = if answer.alias_of.is_some() {
                alias
            } else {
                asked
            };
            let body = &answer.raw[..];
            transaction_ref
                .execute(
                    statement,
                    &[
                        &service,
                        &endpoint,
                        &params,
                        &answer.key,
                        &answer.response_code,
                        &fetched_secs,
                        &body,
                    ],
                )
                .await
        });
        // Pipelined on the connection, in this order (the answers before their aliases): one
        // wait for the batch, not a round trip an answer (a found report and its aliases are
        // three rows, so a batch of 25 was 75 round trips).
        futures_util::future::try_join_all(writes)
            .await
            .map_err(pg_error)?;
        transaction.commit().await.map_err(pg_error)
    }

    pub(crate) async fn record(&self, page: &AuditPage) -> Result<(), Error> {
        let lines = page.text()?;
        let entries = i64::try_from(page.entries).unwrap_or(i64::MAX);
        // The usage as columns of arrays: one statement, however many tokens and minutes.
        let mut token = Vec::new();
        let mut minute = Vec::new();
        let mut requests = Vec::new();
        for (t, m, r) in page.usage() {
            token.push(t);
            minute.push(m);
            requests.push(i64::try_from(r).unwrap_or(i64::MAX));
        }
        let mut client = self.pool.get().await.map_err(pg_error)?;
        let transaction = client.transaction().await.map_err(pg_error)?;
        transaction
            .execute(
                "INSERT INTO gateway_audit_page (first_ms, last_ms, entries, lines) \
                 VALUES ($1, $2, $3, $4)",
                &[&page.first_ms, &page.last_ms, &entries, &lines],
            )
            .await
            .map_err(pg_error)?;
        if !token.is_empty() {
            // In one order whatever the page, so that two gateways adding to the same rows
            // lock them in the same order.
            transaction
                .execute(
                    "INSERT INTO gateway_usage (token, minute, requests) \
                     SELECT t, m, r FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS u(t, m, r) \
                     ORDER BY t, m \
                     ON CONFLICT (token, minute) DO UPDATE \
                     SET requests = gateway_usage.requests + EXCLUDED.requests",
                    &[&token, &minute, &requests],
                )
                .await
                .map_err(pg_error)?;
        }
        transaction.commit().await.map_err(pg_error)
    }

    /// `audit`: (entries before this ms, counts of minutes before this minute); answers
    /// fetched before `answers_before_ms`.
    pub(crate) async fn prune(
        &self,
        audit: Option<(i64, i64)>,
        answers_before_ms: Option<i64>,
    ) -> Result<Pruned, Error> {
        let mut pruned = Pruned::default();
        let mut client = self.pool.get().await.map_err(pg_error)?;
        if let Some((before_ms, usage_before_minute)) = audit {
            let transaction = client.transaction().await.map_err(pg_error)?;
            let row = transaction
                .query_one(
                    "WITH gone AS (DELETE FROM gateway_audit_page WHERE last_ms < $1 \
                     RETURNING entries) \
                     SELECT COUNT(*), COALESCE(SUM(entries), 0)::BIGINT FROM gone",
                    &[&before_ms],
                )
                .await
                .map_err(pg_error)?;
            transaction
                .execute(
                    "DELETE FROM gateway_usage WHERE minute < $1",
                    &[&usage_before_minute],
                )
                .await
                .map_err(pg_error)?;
            transaction.commit().await.map_err(pg_error)?;
            pruned.audit_pages = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            pruned.audit_entries = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        }
        if let Some(before_ms) = answers_before_ms {
            // `fetched_at` in seconds, as vt-api's cache keeps it.
            pruned.answers = client
                .execute(
                    "DELETE FROM answer WHERE fetched_at < $1",
                    &[&before_ms.div_euclid(1000)],
                )
                .await
                .map_err(pg_error)?;
        }
        Ok(pruned)
    }

    pub(crate) async fn audit(
        &self,
        since_ms: i64,
        token: Option<&str>,
    ) -> Result<Vec<AuditEntry>, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let rows = client
            .query(
                "SELECT lines FROM gateway_audit_page WHERE last_ms >= $1 ORDER BY first_ms, id",
                &[&since_ms],
            )
            .await
            .map_err(pg_error)?;
        super::read_pages(
            rows.iter().map(|row| row.get::<_, &str>(0)),
            since_ms,
            token,
        )
    }

    pub(crate) async fn used_since(&self, token: &str, since_ms: i64) -> Result<u64, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let statement = client
            .prepare_cached(
                "SELECT COALESCE(SUM(requests), 0)::BIGINT FROM gateway_usage \
                 WHERE token = $1 AND minute >= $2",
            )
            .await
            .map_err(pg_error)?;
        let n: i64 = client
            .query_one(&statement, &[&token, &since_ms.div_euclid(60_000)])
            .await
            .map_err(pg_error)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn check(&self) -> Result<(), Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        client.execute("SELECT 1", &[]).await.map_err(pg_error)?;
        Ok(())
    }

    /// vt-api's pacer counts the upstream key in this database: every gateway on it paces
    /// against one count.
    pub(crate) fn configure_ledger(&self, builder: vt_api::ClientBuilder) -> vt_api::ClientBuilder {
        builder.shared_quota_ledger(std::sync::Arc::new(super::ledger::PgLedger::new(
            self.pool.clone(),
        )))
    }

    pub(crate) async fn dump_text(&self) -> Result<String, Error> {
        let client = self.pool.get().await.map_err(pg_error)?;
        let tables = client
            .query(
                "SELECT table_name::TEXT FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
                &[],
            )
            .await
            .map_err(pg_error)?;
        let mut text = String::new();
        for table in tables {
            let name: String = table.get(0);
            // Each row as JSON text: every column, whatever its type (bytea as hex).
            let rows = client
                .query(
                    &format!("SELECT row_to_json(t)::TEXT FROM \"{name}\" t"),
                    &[],
                )
                .await
                .map_err(pg_error)?;
            for row in rows {
                text.push_str(&row.get::<_, String>(0));
                text.push('\n');
            }
            // bytea shows as hex in JSON: the bodies as text too.
            if name == "answer" {
                for row in client
                    .query("SELECT body FROM answer", &[])
                    .await
                    .map_err(pg_error)?
                {
                    text.push_str(&String::from_utf8_lossy(&row.get::<_, Vec<u8>>(0)));
                    text.push('\n');
                }
            }
        }
        Ok(text)
    }
}

/// Whether the store's connections are encrypted, as the URL's `sslmode` asks (libpq's names):
/// `require`, `verify-ca` and `verify-full` encrypt, and then the server's certificate is
/// always verified, chain and name (rustls knows no other way: `require` reads as
/// `verify-full`), against Mozilla's roots and the CA file of `sslrootcert` (`system`: the
/// system's store); `disable`, `allow`, `prefer` or none: not encrypted (libpq's `prefer`
/// tries TLS without verifying anything, which would only look safe).
#[derive(Debug)]
enum Tls {
    Off,
    Verified(vt_api::vt_transport::TlsTrust),
}

impl Tls {
    /// The URL without what tokio-postgres does not read (`sslrootcert`, libpq's `verify-*`
    /// modes, which it names `require`), and the TLS it asks for.
    fn of(url: &str) -> Result<(String, Tls), String> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), Tls::Off));
        };
        let (mut mode, mut root) = (None, None);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", value)) => mode = Some(value.to_owned()),
                Some(("sslrootcert", value)) => root = Some(percent_decoded(value)?),
                _ => kept.push(pair),
            }
        }
        let encrypt = match mode.as_deref() {
            None | Some("disable" | "allow" | "prefer") => false,
            Some("require" | "verify-ca" | "verify-full") => true,
            Some(other) => {
                return Err(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                ))
            }
        };
        let tls = match (encrypt, root) {
            (false, Some(_)) => {
                return Err("sslrootcert is only read with sslmode=require or verify-full".into())
            }
            (false, None) => Tls::Off,
            (true, None) => Tls::Verified(Default::default()),
            (true, Some(root)) if root == "system" => {
                Tls::Verified(vt_api::vt_transport::TlsTrust::default().native_roots(true))
            }
            (true, Some(root)) => {
                Tls::Verified(vt_api::vt_transport::TlsTrust::default().extra_ca_pem_file(root))
            }
        };
        if encrypt {
            kept.push("sslmode=require");
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((url, tls))
    }
}

/// A URL parameter's value, `%XX` decoded (a path may hold spaces or `&`), as libpq reads
/// one: a `+` stays a `+` (vt-server's form decoding makes it a space) and a bad escape is
/// an error, not kept as it is.
fn percent_decoded(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = match bytes[at] {
            b'%' => {
                let hex = value
                    .get(at + 1..at + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{value}: a % not followed by two hex digits"))?;
                at += 2;
                hex
            }
            other => other,
        };
        out.push(byte);
        at += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{value}: not UTF-8 once decoded"))
}

fn per_day(value: Option<i64>) -> Option<u32> {
    value.and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(url: &str) -> (String, &'static str) {
        match Tls::of(url) {
            Ok((url, Tls::Off)) => (url, "off"),
            Ok((url, Tls::Verified(_))) => (url, "verified"),
            Err(e) => (e, "error"),
        }
    }

    #[test]
    fn a_store_url_asks_for_tls_with_libpqs_words() {
        let base = "postgres://vt@db:5432/vt";
        assert_eq!(of(base), (base.to_owned(), "off"));
        assert_eq!(
            of(&format!("{base}?sslmode=prefer&application_name=gw")),
            (format!("{base}?application_name=gw"), "off")
        );
        for mode in ["require", "verify-ca", "verify-full"] {
            assert_eq!(
                of(&format!("{base}?sslmode={mode}")),
                (format!("{base}?sslmode=require"), "verified")
            );
        }
        assert_eq!(
            of(&format!(
                "{base}?sslmode=verify-full&sslrootcert=%2Fetc%2Fmy%20ca.pem&connect_timeout=5"
            )),
            (
                format!("{base}?connect_timeout=5&sslmode=require"),
                "verified"
            )
        );
        assert_eq!(
            of(&format!("{base}?sslrootcert=/ca.pem")).1,
            "error",
            "a CA file without encryption would only look safe"
        );
        assert_eq!(of(&format!("{base}?sslmode=on")).1, "error");
        assert_eq!(percent_decoded("%2Fa%20b").unwrap(), "/a b");
        assert!(percent_decoded("%2").is_err());
    }
}
