//! What the gateway does with one request, whatever carried it: the token, its rights, its
//! share, then the cache and the coalescer for the lookup endpoints, or the relay for the
//! others.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use vt_api::{Client, Domain, IpAddress, Query, RelayRequest, Report, Resource, Tier, Url};
use vt_api::{DomainReport, FileReport, IpReport, UrlReport};
use vt_api::{DOMAIN_REPORT, FILE_REPORT, IP_REPORT, URL_REPORT};
use vt_server::{is_on, Params};

use crate::access::Access;
use crate::audit::AuditLog;
use crate::lane::{Cached, Failure, Freshness, Lane, LaneSetup};
use crate::metrics::{Metrics, Outcome};
use crate::store::{now_ms, AuditLine, Store};
use crate::throttle::throttled;
use crate::token::Token;

/// A request as the HTTP layer read it, borrowed from what it read (nothing copied).
#[derive(Debug)]
pub(crate) struct Asked<'r> {
    /// Its route's index in [`vt_server::routes::ROUTES`].
    pub(crate) route: usize,
    /// Every parameter (query string, then body), `apikey` included, in order.
    pub(crate) params: Params<'r>,
    /// The file part of a multipart upload, spooled to disk.
    pub(crate) file: Option<&'r Path>,
    /// The route, or one of the parameters sent, needs a private key (the wire's rule).
    pub(crate) needs_private: bool,
}

impl Asked<'_> {
    /// The path under `/vtapi/v2/`, e.g. `file/report`.
    pub(crate) fn endpoint(&self) -> &'static str {
        vt_server::routes::ROUTES[self.route].path
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params.first(name)
    }
}

/// Where a lookup's answers came from, for the `X-VT-Gateway-Cache` header and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Every answer from the cache, fresh.
    Cache,
    /// Every answer from the service.
    Upstream,
    /// Some of each.
    Mixed,
    /// At least one stale answer, because the service could not answer.
    Stale,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "hit",
            Source::Upstream => "miss",
            Source::Mixed => "mixed",
            Source::Stale => "stale",
        }
    }
}

impl From<Source> for Outcome {
    fn from(source: Source) -> Outcome {
        match source {
            Source::Cache => Outcome::Cache,
            Source::Upstream => Outcome::Upstream,
            Source::Mixed => Outcome::Mixed,
            Source::Stale => Outcome::Stale,
        }
    }
}

/// What the HTTP layer writes back.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 200 with a JSON body (one answer or a batch), and where it came from.
    Json(vt_server::BodyData, Source),
    /// The service's 204: no room in the quota (the key's, or the token's share).
    NoContent,
    /// The service's 204, marked as the token's own daily limit
    /// ([`vt_api::GATEWAY_LIMIT_HEADER`]): a client that knows the mark stops asking rather
    /// than wait for a quota that a minute will not free.
    DailyLimit,
    /// The service's 403: an unknown or revoked token, or a right it lacks.
    Forbidden,
    /// 503: the service cannot answer and nothing is cached.
    Unavailable(String),
    /// A relayed answer, as the service sent it.
    Relayed(vt_api::RelayResponse),
    /// The service's 404: no such endpoint.
    NotFound,
}

/// The gateway's settings that shape answers.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) tier: Tier,
    pub(crate) freshness: Freshness,
    /// The key's requests a minute, for the tokens' fair share.
    pub(crate) per_minute: Option<u32>,
}

/// The lookup endpoints: one lane per endpoint and `allinfo` setting.
struct Lanes {
    file: [Arc<Lane<Resource, FileReport>>; 2],
    url: [Arc<Lane<Url, UrlReport>>; 2],
    domain: Arc<Lane<Domain, DomainReport>>,
    ip: Arc<Lane<IpAddress, IpReport>>,
}

/// The gateway's state, shared by every connection.
pub(crate) struct Service {
    pub(crate) store: Store,
    pub(crate) client: Client,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) settings: Settings,
    access: Access,
    audit: AuditLog,
    lanes: Lanes,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store.kind())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Paths that submit something: the `upload` right.
const SUBMITTING: [&str; 6] = [
    "file/scan",
    "file/scan/upload_url",
    "file/rescan",
    "file/rescan/delete",
    "url/scan",
    "comments/put",
];
/// Paths that give a file's bytes: the `download` right.
const DOWNLOADING: [&str; 2] = ["file/download", "file/network-traffic"];

impl Service {
    pub(crate) fn new(
        store: Store,
        client: Client,
        metrics: Arc<Metrics>,
        settings: Settings,
        audit: AuditLog,
        setup: &LaneSetup,
    ) -> Service {
        Service {
            lanes: Lanes {
                file: [
                    Arc::new(Lane::new(setup, FILE_REPORT, false)),
                    Arc::new(Lane::new(setup, FILE_REPORT, true)),
                ],
                url: [
                    Arc::new(Lane::new(setup, URL_REPORT, false)),
                    Arc::new(Lane::new(setup, URL_REPORT, true)),
                ],
                domain: Arc::new(Lane::new(setup, DOMAIN_REPORT, false)),
                ip: Arc::new(Lane::new(setup, IP_REPORT, false)),
            },
            store,
            client,
            metrics,
            settings,
            access: Access::default(),
            audit,
        }
    }

    /// Answers one request.
    pub(crate) async fn answer(&self, asked: &Asked<'_>) -> Reply {
        let secret = asked.get("apikey").unwrap_or("");
        let token = match self.access.token(&self.store, secret).await {
            Ok(Some(token)) => token,
            Ok(None) => {
                return self.finish(asked, "-", Outcome::Forbidden, false, Reply::Forbidden)
            }
            Err(error) => {
                throttled!(error, %error, "store unreadable: token not checked");
                let reply = Reply::Unavailable("the gateway's store is unavailable".into());
                return self.finish(asked, "-", Outcome::Error, false, reply);
            }
        };
        if !self.allowed(&token, asked) {
            return self.finish(
                asked,
                &token.name,
                Outcome::Forbidden,
                false,
                Reply::Forbidden,
            );
        }
        match self.access.take_daily(&self.store, &token).await {
            Ok(true) => {}
            Ok(false) => {
                return self.finish(asked, &token.name, Outcome::Quota, false, Reply::DailyLimit)
            }
            Err(error) => throttled!(warn, %error, "daily count unreadable: request let through"),
        }
        // From here the request spends what the team shares (the key's quota, the token's
        // day): a client that hangs up before its answer (hyper then drops this future) is
        // still audited, and so counted.
        let mut unanswered = Unanswered {
            service: self,
            asked,
            token: &token.name,
            answered: false,
        };
        let (reply, outcome) = match self.lookup(&token, asked).await {
            Some(answered) => answered,
            None => self.relay(asked).await,
        };
        unanswered.answered = true;
        let counted = !matches!(
            reply,
            Reply::NoContent | Reply::DailyLimit | Reply::Forbidden
        );
        self.finish(asked, &token.name, outcome, counted, reply)
    }

    /// Whether the token's rights (and the upstream key's tier) allow the request.
    fn allowed(&self, token: &Token, asked: &Asked<'_>) -> bool {
        let path = asked.endpoint();
        // A right is needed when the service might read its flag as on in any occurrence or
        // spelling: a request relayed as it came must not get a right through a second
        // `allinfo=1`, an `ALLINFO=1` or an `allinfo=yes` (the gateway's own lookups send
        // only what it read).
        let on = |name: &str| asked.params.may_set(name);
        // What a public key may not do, the gateway's public key may not either: refused
        // here, as the service would, without spending its quota.
        if asked.needs_private && self.settings.tier == Tier::Public {
            return false;
        }
        if on("allinfo") && !token.allow.allinfo {
            return false;
        }
        let submits = SUBMITTING.contains(&path) || (path == "url/report" && on("scan"));
        if submits && !token.allow.upload {
            return false;
        }
        !DOWNLOADING.contains(&path) || token.allow.download
    }

    fn finish(
        &self,
        asked: &Asked<'_>,
        token: &str,
        outcome: Outcome,
        counted: bool,
        reply: Reply,
    ) -> Reply {
        self.record(asked, token, outcome, counted);
        reply
    }

    /// Counts a request in the metrics, and writes it to the access log and the audit log.
    fn record(&self, asked: &Asked<'_>, token: &str, outcome: Outcome, counted: bool) {
        self.metrics.request(asked.route, outcome);
        let mut named = ["resource", "url", "domain", "ip", "hash", "query", "date"]
            .iter()
            .filter_map(|name| asked.get(name));
        // Most requests name their resources in one parameter: borrowed, not joined.
        let resources: Cow<'_, str> = match (named.next(), named.next()) {
            (None, _) => "".into(),
            (Some(only), None) => only.into(),
            (Some(first), Some(second)) => {
                let mut all = [first, second].join("\n");
                for more in named {
                    all.push('\n');
                    all.push_str(more);
                }
                all.into()
            }
        };
        // The access log, at debug: who, what, how (never the resources' text nor the key:
        // the audit log, in the store, has the resources, and records every request at any
        // level). At info, a busy gateway wrote a line a request to stderr: 10-20% of a
        // cache hit's CPU, and more lines than journald keeps (it drops a unit's lines past
        // its rate limit, warnings and errors with them).
        tracing::debug!(
            token,
            endpoint = asked.endpoint(),
            outcome = outcome.as_str(),
            resources = resources
                .split([',', '\n'])
                .filter(|r| !r.trim().is_empty())
                .count(),
            "answered"
        );
        self.audit.record(&AuditLine {
            at_ms: now_ms(),
            token: token.into(),
            endpoint: asked.endpoint().into(),
            resources,
            outcome: outcome.as_str().into(),
            counted,
        });
    }

    /// The lookup endpoints through the cache and the coalescer; `None` for a request they
    /// do not take (another endpoint, `scan=1`, a query that does not parse, a batch larger
    /// than the tier's), which is relayed as it came.
    async fn lookup(&self, token: &Token, asked: &Asked<'_>) -> Option<(Reply, Outcome)> {
        let allinfo = usize::from(asked.get("allinfo").is_some_and(is_on));
        match asked.endpoint() {
            "file/report" => {
                self.lookup_in(&self.lanes.file[allinfo], token, asked)
                    .await
            }
            "url/report" if !asked.get("scan").is_some_and(is_on) => {
                self.lookup_in(&self.lanes.url[allinfo], token, asked).await
            }
            "domain/report" => self.lookup_in(&self.lanes.domain, token, asked).await,
            "ip-address/report" => self.lookup_in(&self.lanes.ip, token, asked).await,
            _ => None,
        }
    }

    async fn lookup_in<Q, T>(
        &self,
        lane: &Arc<Lane<Q, T>>,
        token: &Token,
        asked: &Asked<'_>,
    ) -> Option<(Reply, Outcome)>
    where
        Q: Query + std::str::FromStr,
        T: Report,
    {
        let spec = lane.spec();
        let text = asked.get(spec.query_param)?;
        let texts: Vec<&str> = match spec.batching {
            vt_api::Batching::Joined(separator) => split_list(text, separator),
            _ => vec![text],
        };
        if texts.is_empty() || texts.len() > lane.batch_size() {
            return None;
        }
        let mut queries: Vec<Q> = Vec::with_capacity(texts.len());
        for text in texts {
            queries.push(text.parse().ok()?);
        }
        let cached = match lane.cached(&queries, self.settings.freshness).await {
            Ok(cached) => cached,
            Err(error) => {
                throttled!(warn, %error, "cache unreadable: asking upstream");
                queries.iter().map(|_| Cached::Missing).collect()
            }
        };
        let misses = cached
            .iter()
            .filter(|c| !matches!(c, Cached::Fresh(_)))
            .count();
        self.metrics.cache(queries.len() - misses, misses);
        if misses == 0 {
            // All fresh: nothing to ask, and the lane's lock (which every request of the
            // lane would take) is not taken.
            return Some(serve(&queries, cached, Vec::new(), None, &self.metrics));
        }
        let mut asking = Vec::with_capacity(cached.len());
        let capacity = self
            .settings
            .per_minute
            .map(|n| n.saturating_mul(u32::try_from(lane.batch_size()).unwrap_or(1)));
        if !self.access.take_share(&token.name, capacity, misses) {
            // Over its share of a scarce quota: stale answers if there are some for every
            // miss, else a 204 as the service would give.
            return Some(serve(
                &queries,
                cached,
                Vec::new(),
                Some(Failure::Quota),
                &self.metrics,
            ));
        }
        let missing = queries
            .iter()
            .zip(&cached)
            .filter(|(_, cached)| !matches!(cached, Cached::Fresh(_)))
            .map(|(query, _)| query.clone());
        let mut asked = lane.ask_many(missing).into_iter();
        for cached in &cached {
            asking.push(if matches!(cached, Cached::Fresh(_)) {
                None
            } else {
                asked.next()
            });
        }
        let mut fetched = Vec::with_capacity(asking.len());
        for receiver in asking {
            fetched.push(match receiver {
                Some(receiver) => Some(receiver.await.unwrap_or_else(|_| {
                    Err(Failure::Unavailable("the upstream task ended".into()))
                })),
                None => None,
            });
        }
        Some(serve(&queries, cached, fetched, None, &self.metrics))
    }

    /// Any other request, relayed upstream as it came (with the real key instead of the
    /// token) through vt-api's pipeline: paced, retried, and passed back as the service
    /// answered.
    async fn relay(&self, asked: &Asked<'_>) -> (Reply, Outcome) {
        let Some(spec) = vt_api::endpoint_spec(asked.endpoint()) else {
            return (Reply::NotFound, Outcome::Error);
        };
        self.metrics.relayed();
        let mut request = RelayRequest::new(asked.params.iter());
        if let Some(file) = asked.file {
            request = request.with_file(file);
        }
        match self.client.relay(spec, request).await {
            Ok(relayed) => (Reply::Relayed(relayed), Outcome::Relayed),
            Err(error) => match Failure::of(&error) {
                Failure::Quota => (Reply::NoContent, Outcome::Quota),
                failure => {
                    throttled!(warn, endpoint = spec.path, %error, "relay failed");
                    (Reply::Unavailable(failure.describe()), Outcome::Error)
                }
            },
        }
    }
}

/// A request past its checks whose answer is not written yet: dropped unanswered (the client
/// hung up, and hyper dropped the request's future), it is recorded as
/// [`Outcome::Cancelled`], counted against the token's day as an answered one would be.
/// Its lookups go on without it: the answers are kept for whoever asks next.
struct Unanswered<'s, 'r> {
    service: &'s Service,
    asked: &'s Asked<'r>,
    token: &'s str,
    answered: bool,
}

impl Drop for Unanswered<'_, '_> {
    fn drop(&mut self) {
        if !self.answered {
            self.service
                .record(self.asked, self.token, Outcome::Cancelled, true);
        }
    }
}

/// The reply from each query's cached answer and what the service said (`fetched`, in the
/// same order, `None` for a fresh hit), or `refused` for every miss when nothing was asked.
fn serve<Q>(
    queries: &[Q],
    cached: Vec<Cached>,
    fetched: Vec<Option<Result<Bytes, Failure>>>,
    refused: Option<Failure>,
    metrics: &Metrics,
) -> (Reply, Outcome) {
    let mut items = Vec::with_capacity(queries.len());
    let (mut hits, mut upstream, mut stale) = (0, 0, 0);
    let mut fetched = fetched.into_iter();
    for cached in cached {
        let said = fetched.next().flatten();
        let said = match (&refused, said) {
            (Some(failure), _) => Some(Err(failure.clone())),
            (None, said) => said,
        };
        match (cached, said) {
            (Cached::Fresh(bytes), _) => {
                hits += 1;
                items.push(bytes);
            }
            (_, Some(Ok(bytes))) => {
                upstream += 1;
                items.push(bytes);
            }
            (Cached::Stale(bytes), Some(Err(_)) | None) => {
                stale += 1;
                items.push(bytes);
            }
            (Cached::Missing, None) => {
                return (
                    Reply::Unavailable("no answer for a query".into()),
                    Outcome::Error,
                );
            }
            (_, Some(Err(failure))) => {
                return match failure {
                    Failure::Quota => (Reply::NoContent, Outcome::Quota),
                    other => (Reply::Unavailable(other.describe()), Outcome::Error),
                };
            }
        }
    }
    metrics.stale(stale);
    let source = match (hits, upstream, stale) {
        (_, _, s) if s > 0 => Source::Stale,
        (_, 0, _) => Source::Cache,
        (0, _, _) => Source::Upstream,
        _ => Source::Mixed,
    };
    let body = vt_server::reply::batch(items);
    (Reply::Json(body, source), source.into())
}

/// The non-empty items of a list joined by `separator`, trimmed (a one-byte separator is
/// searched as a byte, much faster than as a string).
pub(crate) fn split_list<'t>(text: &'t str, separator: &str) -> Vec<&'t str> {
    let item = |t: &'t str| Some(t.trim()).filter(|t| !t.is_empty());
    match separator.as_bytes() {
        [byte] if byte.is_ascii() => {
            // Sized at once: a batch of 25 would grow the list four times.
            let mut items = Vec::with_capacity(text.bytes().filter(|b| b == byte).count() + 1);
            items.extend(text.split(char::from(*byte)).filter_map(item));
            items
        }
        _ => text.split(separator).filter_map(item).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_their_separator_trimmed_without_empty_items() {
        assert_eq!(split_list(" a, b,,c ,", ","), ["a", "b", "c"]);
        assert_eq!(split_list("u1\nu2\n\n", "\n"), ["u1", "u2"]);
        assert_eq!(split_list("a::b", "::"), ["a", "b"]);
        assert!(split_list(" , ", ",").is_empty());
    }
}
