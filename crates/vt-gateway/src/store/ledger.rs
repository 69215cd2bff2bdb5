//! vt-api's quota ledger in PostgreSQL: the upstream key's count shared by every gateway on
//! the database, kept as vt-api keeps it in SQLite (one row a unit, a hold a key).

use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use tokio::runtime::Handle;
use vt_api::{LedgerEntry, LedgerError, QuotaDecision, QuotaLedger};

use super::{from_ms, ms};

/// How long a ledger statement may wait for the key's lock or the database.
const STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '10s'";

#[derive(Debug)]
pub(crate) struct PgLedger {
    pool: Pool,
    runtime: Handle,
}

impl PgLedger {
    pub(crate) fn new(pool: Pool) -> PgLedger {
        PgLedger {
            pool,
            runtime: Handle::current(),
        }
    }

    /// Runs `step` to its end: the pacer calls the ledger on tokio's blocking pool, where
    /// blocking on the runtime is allowed.
    fn run<R>(
        &self,
        step: impl std::future::Future<Output = Result<R, LedgerError>>,
    ) -> Result<R, LedgerError> {
        self.runtime.block_on(step)
    }
}

/// A transaction holding `key`'s lock: one key's takes and holds, in every gateway, one at a
/// time (the atomicity `QuotaLedger::take` asks for), each statement bounded in time.
async fn locked<'c>(
    client: &'c mut deadpool_postgres::Object,
    key: &str,
) -> Result<deadpool_postgres::Transaction<'c>, LedgerError> {
    let transaction = client.transaction().await?;
    transaction.batch_execute(STATEMENT_TIMEOUT).await?;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&key],
        )
        .await?;
    Ok(transaction)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn age(now_ms: i64, at_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_ms - at_ms).unwrap_or(0))
}

impl QuotaLedger for PgLedger {
    fn take(
        &self,
        key: &str,
        now: SystemTime,
        keep: Duration,
        nths: &[usize],
        units: usize,
        decide: &mut QuotaDecision<'_>,
    ) -> Result<Result<LedgerEntry, Duration>, LedgerError> {
        let now_ms = ms(now);
        self.run(async {
            let mut client = self.pool.get().await?;
            let transaction = locked(&mut client, key).await?;
            transaction
                .execute(
                    "DELETE FROM quota_sent WHERE key_fingerprint = $1 AND sent_at_ms < $2",
                    &[&key, &now_ms.saturating_sub(millis(keep))],
                )
                .await?;
            // A clock set back: units from the future count from now.
            transaction
                .execute(
                    "UPDATE quota_sent SET sent_at_ms = $2 WHERE key_fingerprint = $1 AND sent_at_ms > $2",
                    &[&key, &now_ms],
                )
                .await?;
            let nth = transaction
                .prepare_cached(
                    "SELECT sent_at_ms FROM quota_sent WHERE key_fingerprint = $1 \
                     ORDER BY sent_at_ms DESC LIMIT 1 OFFSET $2",
                )
                .await?;
            let mut ages = Vec::with_capacity(nths.len());
            for &n in nths {
                let offset = i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX);
                if let Some(row) = transaction.query_opt(&nth, &[&key, &offset]).await? {
                    ages.push((n, age(now_ms, row.get(0))));
                }
            }
            let hold = transaction
                .query_opt(
                    "SELECT set_at_ms, until_ms FROM quota_hold WHERE key_fingerprint = $1",
                    &[&key],
                )
                .await?
                .and_then(|row| {
                    let (set_at, until): (i64, i64) = (row.get(0), row.get(1));
                    if set_at > now_ms {
                        Some(age(until, set_at))
                    } else {
                        (until > now_ms).then(|| age(until, now_ms))
                    }
                });
            if let Some(wait) = decide(&ages, hold) {
                transaction.commit().await?;
                return Ok(Err(wait));
            }
            let ticket: i64 = transaction
                .query_one("SELECT nextval('quota_ticket')", &[])
                .await?
                .get(0);
            let count = i64::try_from(units.max(1)).unwrap_or(i64::MAX);
            transaction
                .execute(
                    "INSERT INTO quota_sent (ticket, key_fingerprint, sent_at_ms) \
                     SELECT $1, $2, $3 FROM generate_series(1, $4::BIGINT)",
                    &[&ticket, &key, &now_ms, &count],
                )
                .await?;
            transaction.commit().await?;
            Ok(Ok(LedgerEntry(ticket)))
        })
    }

    fn restamp(
        &self,
        key: &str,
        entry: LedgerEntry,
        _units: usize,
        at: SystemTime,
    ) -> Result<(), LedgerError> {
        self.run(async {
            let client = self.pool.get().await?;
            client
                .execute(
                    "UPDATE quota_sent SET sent_at_ms = GREATEST(sent_at_ms, $3) \
                     WHERE ticket = $1 AND key_fingerprint = $2",
                    &[&entry.0, &key, &ms(at)],
                )
                .await?;
            Ok(())
        })
    }

    fn refund(&self, key: &str, entry: LedgerEntry, _units: usize) -> Result<(), LedgerError> {
        self.run(async {
            let client = self.pool.get().await?;
            client
                .execute(
                    "DELETE FROM quota_sent WHERE ticket = $1 AND key_fingerprint = $2",
                    &[&entry.0, &key],
                )
                .await?;
            Ok(())
        })
    }

    fn hold(&self, key: &str, now: SystemTime, wait: Duration) -> Result<(), LedgerError> {
        let now_ms = ms(now);
        let until_ms = now_ms.saturating_add(millis(wait));
        self.run(async {
            let mut client = self.pool.get().await?;
            let transaction = locked(&mut client, key).await?;
            transaction
                .execute(
                    "INSERT INTO quota_hold (key_fingerprint, set_at_ms, until_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (key_fingerprint) DO UPDATE SET set_at_ms = EXCLUDED.set_at_ms, \
                     until_ms = GREATEST(quota_hold.until_ms, EXCLUDED.until_ms)",
                    &[&key, &now_ms, &until_ms],
                )
                .await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    fn used(
        &self,
        key: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<(u32, Option<SystemTime>), LedgerError> {
        let now_ms = ms(now);
        self.run(async {
            let client = self.pool.get().await?;
            let row = client
                .query_one(
                    "SELECT COUNT(*), MIN(sent_at_ms) FROM quota_sent \
                     WHERE key_fingerprint = $1 AND sent_at_ms > $2",
                    &[&key, &now_ms.saturating_sub(millis(window))],
                )
                .await?;
            let count: i64 = row.get(0);
            let oldest: Option<i64> = row.get(1);
            Ok((
                u32::try_from(count).unwrap_or(u32::MAX),
                oldest.map(from_ms),
            ))
        })
    }
}
