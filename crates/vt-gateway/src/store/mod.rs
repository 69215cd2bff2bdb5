//! Where the gateway keeps what must outlive it and be shared between its instances: the
//! tokens, the answers, the quota ledger and the audit log.
//!
//! - `sqlite:PATH` (the default, one gateway): the answers and the quota ledger are vt-api's
//!   own cache file ([`vt_api::Cache`]), the tokens and the audit log tables beside them.
//! - `postgres://...`: everything in one PostgreSQL database, so that several gateways behind
//!   a load balancer share one cache and one pace.
//!
//! Both run the migrations of `migrations/<store>/` (in the repository, numbered) when opened.

mod ledger;
mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hashbrown::HashMap;
use vt_api::CacheScope;

use crate::token::{self, Allow, Token, TokenInfo};
use crate::Error;

pub(crate) use postgres::Postgres;
pub(crate) use sqlite::Sqlite;

/// The store of a gateway: SQLite or PostgreSQL, chosen by its URL.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Arc<Sqlite>),
    Postgres(Arc<Postgres>),
}

/// An answer as stored: its bytes as the service sent them, its `response_code`, and when it
/// was fetched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredAnswer {
    pub(crate) raw: Bytes,
    pub(crate) response_code: i64,
    pub(crate) fetched_at: SystemTime,
}

/// An answer to keep: the match key it answers, its `response_code` and bytes, and for an
/// alias (a found file report under another hash of the same file, which never replaces what
/// is stored for that hash) the key the report was asked by. The SQLite store keeps an alias
/// as a reference to that key's answer, without its bytes; the PostgreSQL store, a copy.
#[derive(Debug, Clone)]
pub(crate) struct ToKeep {
    pub(crate) key: String,
    pub(crate) response_code: i64,
    pub(crate) raw: Bytes,
    pub(crate) alias_of: Option<String>,
}

/// One line of the audit log: who asked what, when, and how it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// The token's name (`-` for a request with no valid token).
    pub token: String,
    /// The endpoint, e.g. `file/report`.
    pub endpoint: String,
    /// The resources asked, one a line (as sent, never the key).
    pub resources: String,
    /// How it was answered: `cache`, `upstream`, `mixed`, `stale`, `relayed`, `quota` (a 204),
    /// `forbidden`, `error`, or `cancelled` (the client hung up before its answer).
    pub outcome: String,
    /// Whether it counts against the token's daily limit.
    pub counted: bool,
}

impl AuditEntry {
    /// The resources asked, one by one: [`resources`](Self::resources) holds a line a
    /// parameter, and a batch's parameter is split as the gateway split it when asked (`,`
    /// for hashes; URLs, which may hold commas, are a line each already).
    pub fn each_resource(&self) -> Vec<&str> {
        let separator = match vt_api::endpoint_spec(&self.endpoint).map(|spec| spec.batching) {
            Some(vt_api::Batching::Joined(separator)) => separator,
            _ => "\n",
        };
        self.resources
            .lines()
            .flat_map(|line| crate::service::split_list(line, separator))
            .collect()
    }
}

/// What [`Store::prune`] forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Pages of the audit log forgotten.
    pub audit_pages: u64,
    /// The entries those pages held.
    pub audit_entries: u64,
    /// Answers forgotten (a report's other hashes included).
    pub answers: u64,
}

/// An audit entry as the store keeps it: one JSON line of a page (`lines`). Borrowed when
/// written; owned where a line's text had escapes when read back. Written by [`write_line`]:
/// `Serialize` only as the reference its test compares with.
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(crate) struct AuditLine<'a> {
    pub(crate) at_ms: i64,
    #[serde(borrow)]
    pub(crate) token: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) endpoint: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) resources: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) outcome: Cow<'a, str>,
    pub(crate) counted: bool,
}

impl From<AuditLine<'_>> for AuditEntry {
    fn from(line: AuditLine<'_>) -> AuditEntry {
        AuditEntry {
            at_ms: line.at_ms,
            token: line.token.into_owned(),
            endpoint: line.endpoint.into_owned(),
            resources: line.resources.into_owned(),
            outcome: line.outcome.into_owned(),
            counted: line.counted,
        }
    }
}

/// The audit entries one gateway wrote together, kept as one row: their JSON lines, the
/// times of the first and last, and the requests each token made each minute that count
/// against its daily limit.
#[derive(Debug, Default, Clone)]
pub(crate) struct AuditPage {
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    pub(crate) entries: u64,
    pub(crate) lines: Vec<u8>,
    /// Token → (minute since the epoch, requests counted): a few tokens and minutes a page.
    usage: HashMap<String, Vec<(i64, u64)>>,
}

impl AuditPage {
    /// An empty page whose lines will be written into `buffer` (emptied).
    pub(crate) fn in_buffer(mut buffer: Vec<u8>) -> AuditPage {
        buffer.clear();
        AuditPage {
            lines: buffer,
            ..AuditPage::default()
        }
    }

    /// Appends `entry` as a line.
    #[cfg(test)]
    pub(crate) fn push(&mut self, entry: &AuditLine<'_>) {
        let mut line = Vec::new();
        write_line(&mut line, entry);
        self.push_line(&line, entry);
    }

    /// Appends `entry`, written into `line` by [`write_line`], and counts it when it counts.
    pub(crate) fn push_line(&mut self, line: &[u8], entry: &AuditLine<'_>) {
        self.lines.extend_from_slice(line);
        if self.entries == 0 {
            self.first_ms = entry.at_ms;
        }
        self.first_ms = self.first_ms.min(entry.at_ms);
        self.last_ms = self.last_ms.max(entry.at_ms);
        self.entries += 1;
        if entry.counted {
            self.count(&entry.token, entry.at_ms.div_euclid(60_000), 1);
        }
    }

    /// Appends the entries of `newer` (a page begun after this one), with their counts.
    pub(crate) fn append(&mut self, newer: AuditPage) {
        if newer.entries == 0 {
            return;
        }
        if self.entries == 0 {
            *self = newer;
            return;
        }
        self.lines.extend_from_slice(&newer.lines);
        self.first_ms = self.first_ms.min(newer.first_ms);
        self.last_ms = self.last_ms.max(newer.last_ms);
        self.entries += newer.entries;
        for (token, minute, requests) in newer.usage() {
            self.count(token, minute, requests);
        }
    }

    /// The counted requests: (token, minute since the epoch, requests).
    pub(crate) fn usage(&self) -> impl Iterator<Item = (&str, i64, u64)> {
        self.usage.iter().flat_map(|(token, minutes)| {
            minutes
                .iter()
                .map(move |&(minute, requests)| (token.as_str(), minute, requests))
        })
    }

    fn count(&mut self, token: &str, minute: i64, requests: u64) {
        match self.usage.get_mut(token) {
            Some(minutes) => match minutes.iter_mut().find(|(m, _)| *m == minute) {
                Some((_, n)) => *n += requests,
                None => minutes.push((minute, requests)),
            },
            None => {
                self.usage
                    .insert(token.to_owned(), vec![(minute, requests)]);
            }
        }
    }

    /// The lines as text (serde_json writes UTF-8 alone).
    pub(crate) fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.lines)
            .map_err(|e| Error::store(format!("an audit page is not UTF-8: {e}")))
    }
}

/// Writes `entry` into `line` (emptied first) as a JSON line, the same bytes as
/// `serde_json::to_writer` would. By hand: the resources are most of a line, and most need no
/// escape, which serde_json's writer checks a byte at a time through its table (a twentieth
/// of a cache hit's CPU went to writing its line).
pub(crate) fn write_line(line: &mut Vec<u8>, entry: &AuditLine<'_>) {
    use std::io::Write as _;
    line.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(line, "{{\"at_ms\":{}", entry.at_ms);
    for (name, text) in [
        ("token", &entry.token),
        ("endpoint", &entry.endpoint),
        ("resources", &entry.resources),
        ("outcome", &entry.outcome),
    ] {
        line.extend_from_slice(b",\"");
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b"\":");
        if needs_no_escape(text) {
            line.push(b'"');
            line.extend_from_slice(text.as_bytes());
            line.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut *line, text.as_ref());
        }
    }
    line.extend_from_slice(if entry.counted {
        b",\"counted\":true}\n"
    } else {
        b",\"counted\":false}\n"
    });
}

/// Whether `text` goes into a JSON string as it is. Every byte is looked at, without an early
/// exit, which the compiler turns into wide compares: a tenth of the time of a loop that stops
/// at the first escape (a bulk request's resources are a kilobyte and more, and need none).
fn needs_no_escape(text: &str) -> bool {
    !text.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// The entries of the pages' `lines` at or after `since_ms` (of `token` only when given),
/// oldest first; entries at the same time in the order they were written.
pub(crate) fn read_pages<'p>(
    pages: impl IntoIterator<Item = &'p str>,
    since_ms: i64,
    token: Option<&str>,
) -> Result<Vec<AuditEntry>, Error> {
    let mut entries = Vec::new();
    for lines in pages {
        for line in lines.lines().filter(|l| !l.is_empty()) {
            let line: AuditLine<'_> = serde_json::from_str(line)
                .map_err(|e| Error::store(format!("an audit line does not read: {e}")))?;
            if line.at_ms >= since_ms && token.is_none_or(|t| line.token == t) {
                entries.push(AuditEntry::from(line));
            }
        }
    }
    // Pages of several gateways overlap in time; a stable sort keeps each one's order.
    entries.sort_by_key(|e| e.at_ms);
    Ok(entries)
}

impl Store {
    /// Opens the store at `url`: `sqlite:PATH` or `postgres://...` (`postgresql://` too),
    /// creating its tables (the SQLite file and its folder too) when they are not there.
    pub async fn open(url: &str) -> Result<Store, Error> {
        let backend = if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(Error::config("--store sqlite:PATH needs a path"));
            }
            let path = std::path::PathBuf::from(path);
            Backend::Sqlite(Arc::new(blocking(move || Sqlite::open(&path)).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(Arc::new(Postgres::open(url).await?))
        } else {
            return Err(Error::config(format!(
                "--store {}: expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE",
                describe_url(url)
            )));
        };
        Ok(Store { backend })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Makes a token named `name` and returns it: the only time it is ever seen, as the store
    /// keeps its hash alone.
    pub async fn add_token(
        &self,
        name: &str,
        allow: Allow,
        per_day: Option<u32>,
    ) -> Result<String, Error> {
        token::check_name(name)?;
        let secret = token::new_secret()?;
        let hash = token::hash(&secret);
        let now = now_ms();
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, name, hash) = (Arc::clone(s), name.to_owned(), hash.clone());
                blocking(move || s.add_token(&name, &hash, allow, per_day, now)).await?
            }
            Backend::Postgres(p) => p.add_token(name, &hash, allow, per_day, now).await?,
        }
        Ok(secret)
    }

    /// Revokes the live token named `name`: it is refused from now on, by every gateway on
    /// this store.
    pub async fn revoke_token(&self, name: &str) -> Result<(), Error> {
        let now = now_ms();
        let revoked = match &self.backend {
            Backend::Sqlite(s) => {
                let (s, name) = (Arc::clone(s), name.to_owned());
                blocking(move || s.revoke_token(&name, now)).await?
            }
            Backend::Postgres(p) => p.revoke_token(name, now).await?,
        };
        if revoked {
            Ok(())
        } else {
            Err(Error::TokenUnknown {
                name: name.to_owned(),
            })
        }
    }

    /// Every token, live and revoked, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.tokens()).await
            }
            Backend::Postgres(p) => p.tokens().await,
        }
    }

    /// The live token whose secret is `secret`, if any.
    pub(crate) async fn find_token(&self, secret: &str) -> Result<Option<Token>, Error> {
        let hash = token::hash(secret);
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.find_token(&hash)).await
            }
            Backend::Postgres(p) => p.find_token(&hash).await,
        }
    }

    /// The stored answers of `keys` in `scope`, whatever their age (the caller judges it).
    pub(crate) async fn answers(
        &self,
        scope: &CacheScope,
        keys: Vec<String>,
    ) -> Result<Vec<Option<StoredAnswer>>, Error> {
        match &self.backend {
            Backend::Sqlite(s) => {
                // On this thread when nothing is in the way, as most reads are: the hand-off
                // to a blocking thread and back cost a third of a store hit's CPU. (Pages not
                // in the system's cache are read from the disk here: a local disk's wait.)
                if let Some(read) = s.try_answers(scope, &keys) {
                    return read;
                }
                let (s, scope) = (Arc::clone(s), scope.clone());
                blocking(move || s.answers(&scope, &keys)).await
            }
            Backend::Postgres(p) => p.answers(scope, &keys).await,
        }
    }

    /// Keeps answers fetched now in `scope`.
    pub(crate) async fn keep(
        &self,
        scope: &CacheScope,
        answers: Vec<ToKeep>,
        fetched_at: SystemTime,
    ) -> Result<(), Error> {
        if answers.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, scope) = (Arc::clone(s), scope.clone());
                blocking(move || s.keep(&scope, &answers, fetched_at)).await
            }
            Backend::Postgres(p) => p.keep(scope, &answers, fetched_at).await,
        }
    }

    /// Keeps a page of the audit log, and adds its requests to the tokens' daily counts.
    pub(crate) async fn record(&self, page: Arc<AuditPage>) -> Result<(), Error> {
        if page.entries == 0 {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.record(&page)).await
            }
            Backend::Postgres(p) => p.record(&page).await,
        }
    }

    /// The audit log since `since`, oldest first, of one token or of all.
    pub async fn audit(
        &self,
        since: SystemTime,
        token: Option<&str>,
    ) -> Result<Vec<AuditEntry>, Error> {
        let since_ms = ms(since);
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, token) = (Arc::clone(s), token.map(str::to_owned));
                blocking(move || s.audit(since_ms, token.as_deref())).await
            }
            Backend::Postgres(p) => p.audit(since_ms, token).await,
        }
    }

    /// How many counted requests `token` made since `since_ms`, by every gateway on this
    /// store, counted in whole minutes (the minute of `since_ms` counts whole).
    pub(crate) async fn used_since(&self, token: &str, since_ms: i64) -> Result<u64, Error> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, token) = (Arc::clone(s), token.to_owned());
                blocking(move || s.used_since(&token, since_ms)).await
            }
            Backend::Postgres(p) => p.used_since(token, since_ms).await,
        }
    }

    /// Forgets the audit log before `audit_before` (whole pages: those whose every entry is
    /// older) with the tokens' counted requests of the minutes before it, never those of the
    /// last day, which the daily limits read; and the answers fetched before `answers_before`,
    /// stale ones included (which would otherwise be served when the upstream fails). SQLite
    /// then gives the freed space back to the file system (`VACUUM`: the file is rewritten).
    pub async fn prune(
        &self,
        audit_before: Option<SystemTime>,
        answers_before: Option<SystemTime>,
    ) -> Result<Pruned, Error> {
        let audit = audit_before.map(|before| {
            let before_ms = ms(before);
            let usage_before_minute = before_ms.min(now_ms() - DAY_MS).div_euclid(60_000);
            (before_ms, usage_before_minute)
        });
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.prune(audit, answers_before)).await
            }
            Backend::Postgres(p) => p.prune(audit, answers_before.map(ms)).await,
        }
    }

    /// Whether the store answers.
    pub async fn check(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.check()).await
            }
            Backend::Postgres(p) => p.check().await,
        }
    }

    /// The store's quota ledger for vt-api's pacer: the upstream key's count, shared by every
    /// gateway on this store.
    pub(crate) fn configure_ledger(&self, builder: vt_api::ClientBuilder) -> vt_api::ClientBuilder {
        match &self.backend {
            Backend::Sqlite(s) => builder.quota_ledger(s.cache()),
            Backend::Postgres(p) => p.configure_ledger(builder),
        }
    }

    /// Every text value of every table, for a test that the key appears in none.
    #[doc(hidden)]
    pub async fn dump_text(&self) -> Result<String, Error> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = Arc::clone(s);
                blocking(move || s.dump_text()).await
            }
            Backend::Postgres(p) => p.dump_text().await,
        }
    }
}

/// The URL with any password hidden, for messages.
pub(crate) fn describe_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Runs a store step on tokio's blocking pool: SQLite may wait seconds for a lock, and a
/// gateway's workers must keep answering meanwhile.
async fn blocking<R: Send + 'static>(
    step: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| Error::store(format!("store task failed: {e}")))?
}

/// A day, which the tokens' daily limits count back over.
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub(crate) fn now_ms() -> i64 {
    ms(SystemTime::now())
}

pub(crate) fn ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_ms(at_ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0))
}

/// The migrations of one store, in order: (version, SQL).
type Migrations = &'static [(i64, &'static str)];

/// The migrations of `all` after version `applied`, in order; a store migrated by a newer
/// gateway (`applied` past the last known) is refused.
fn pending(all: Migrations, applied: i64) -> Result<Migrations, Error> {
    let known = all.last().map_or(0, |&(version, _)| version);
    if applied > known {
        return Err(Error::StoreTooNew {
            found: applied,
            known,
        });
    }
    Ok(&all[all.partition_point(|&(version, _)| version <= applied)..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_migrations_follow_the_applied_one_and_a_newer_store_is_refused() {
        const ALL: Migrations = &[(1, "a"), (2, "b"), (3, "c")];
        assert_eq!(pending(ALL, 0).unwrap(), ALL);
        assert_eq!(pending(ALL, 2).unwrap(), &[(3, "c")]);
        assert!(pending(ALL, 3).unwrap().is_empty());
        assert!(matches!(
            pending(ALL, 4),
            Err(Error::StoreTooNew { found: 4, known: 3 })
        ));
    }

    fn page_of(entries: &[AuditEntry]) -> AuditPage {
        let mut page = AuditPage::default();
        for e in entries {
            page.push(&AuditLine {
                at_ms: e.at_ms,
                token: e.token.as_str().into(),
                endpoint: e.endpoint.as_str().into(),
                resources: e.resources.as_str().into(),
                outcome: e.outcome.as_str().into(),
                counted: e.counted,
            });
        }
        page
    }

    #[tokio::test]
    async fn the_audit_log_keeps_every_entry_of_its_pages_in_order_and_counts_each_token() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("gateway.sqlite");
        let store = Store::open(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let entries: Vec<AuditEntry> = (0..90)
            .map(|i| AuditEntry {
                at_ms: 59_000 + 100 * i,
                token: format!("t{}", i % 3),
                endpoint: "url/report".into(),
                // What a client sent, quotes, a line break and a control character too.
                resources: format!("http://x/{i}?q=\"a\"\u{1b}\nhttp://y/{i}"),
                outcome: if i % 2 == 0 { "cache" } else { "upstream" }.into(),
                counted: i % 5 != 0,
            })
            .collect();
        // Two gateways' pages over the same time (even and odd entries), then a later one.
        let (early, late) = entries.split_at(60);
        let evens: Vec<AuditEntry> = early.iter().step_by(2).cloned().collect();
        let odds: Vec<AuditEntry> = early.iter().skip(1).step_by(2).cloned().collect();
        for part in [&evens[..], &odds[..], late] {
            store.record(Arc::new(page_of(part))).await.unwrap();
        }
        store.record(Arc::new(AuditPage::default())).await.unwrap();
        assert_eq!(store.audit(UNIX_EPOCH, None).await.unwrap(), entries);
        let of_t1: Vec<AuditEntry> = entries
            .iter()
            .filter(|e| e.token == "t1")
            .cloned()
            .collect();
        assert_eq!(store.audit(UNIX_EPOCH, Some("t1")).await.unwrap(), of_t1);
        assert_eq!(
            store.audit(from_ms(59_000 + 100 * 70), None).await.unwrap(),
            entries[70..]
        );
        // Daily counts: whole minutes, from every page.
        let counted = |token: &str, since_ms: i64| {
            entries
                .iter()
                .filter(|e| e.counted && e.token == token)
                .filter(|e| e.at_ms.div_euclid(60_000) >= since_ms.div_euclid(60_000))
                .count() as u64
        };
        for token in ["t0", "t1", "t2"] {
            for since_ms in [0, 60_000, 60_500, 120_000] {
                assert_eq!(
                    store.used_since(token, since_ms).await.unwrap(),
                    counted(token, since_ms),
                    "{token} since {since_ms}"
                );
            }
        }
        assert_eq!(store.used_since("t0", 0).await.unwrap(), 24);
        assert_eq!(store.used_since("nobody", 0).await.unwrap(), 0);

        // Pruned in whole pages: the later page's entries before the time stay with it; the
        // counts of the minutes before it go (these are older than a day).
        let pruned = store.prune(Some(from_ms(66_000)), None).await.unwrap();
        assert_eq!(
            (pruned.audit_pages, pruned.audit_entries, pruned.answers),
            (2, 60, 0)
        );
        assert_eq!(store.audit(UNIX_EPOCH, None).await.unwrap(), late);
        for token in ["t0", "t1", "t2"] {
            assert_eq!(
                store.used_since(token, 0).await.unwrap(),
                counted(token, 60_000)
            );
        }
    }

    #[test]
    fn an_audit_line_is_the_json_serde_would_write() {
        let texts = [
            "",
            "44d88612fea8a8f36de82e1278abb02f,275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
            "http://x/?q=\"a\"&b=\\",
            "line\nbreak\tand \u{1b}[2J \u{7f} \u{0}",
            "naïve 例え \u{2028}",
        ];
        let mut line = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let entry = AuditLine {
                at_ms: [0, -1, i64::MAX, i64::MIN, 1_764_892_800_123][i],
                token: (*text).into(),
                endpoint: "file/report".into(),
                resources: (*text).into(),
                outcome: text.chars().rev().collect::<String>().into(),
                counted: i % 2 == 0,
            };
            write_line(&mut line, &entry);
            let mut expected = serde_json::to_vec(&entry).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    #[test]
    fn an_entrys_resources_read_one_by_one_as_their_endpoint_joins_them() {
        let entry = |endpoint: &str, resources: &str| AuditEntry {
            at_ms: 0,
            token: "t".into(),
            endpoint: endpoint.into(),
            resources: resources.into(),
            outcome: "cache".into(),
            counted: true,
        };
        let batch = entry("file/report", "aa, BB,\ncc");
        assert_eq!(batch.each_resource(), ["aa", "BB", "cc"]);
        let urls = entry("url/report", "http://x/?a=1,2\nhttp://y/");
        assert_eq!(urls.each_resource(), ["http://x/?a=1,2", "http://y/"]);
        assert!(entry("file/report", "").each_resource().is_empty());
    }

    #[test]
    fn a_password_in_a_store_url_is_hidden() {
        assert_eq!(
            describe_url("postgres://vt:s3cret@db:5432/vt"),
            "postgres://vt:***@db:5432/vt"
        );
        assert_eq!(describe_url("postgres://vt@db/vt"), "postgres://vt@db/vt");
        assert_eq!(describe_url("mysql://x"), "mysql://x");
    }
}
