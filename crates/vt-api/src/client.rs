//! The client, and the one request pipeline every endpoint goes through: the stop flags,
//! pacing, the attempt, status classification (answer / retry / hold for quota / fail / stop
//! the run), backoff with jitter, per-attempt deadlines, events, and key scrubbing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::{select, Either};
use vt_model::{FileReportAnswer, Query, RawAnswer, Report, Resource};
use vt_transport::Transport;

use crate::clock::{Clock, TokioClock};
use crate::endpoint::{Batching, Encoding, Endpoint, EndpointSpec, Methods, Params, FILE_REPORT};
use crate::error::{TransportError, GATEWAY_LIMIT_HEADER};
use crate::events::{Event, Events, Observer};
use crate::ledger::QuotaLedger;
use crate::pacing::{Pacer, QuotaStatus};
use crate::{ApiKey, Error, Limits, RequestMethod, RetryPolicy, Tier};

/// The default base URL of the v2 API.
pub const DEFAULT_BASE_URL: &str = "https://www.virustotal.com/vtapi/v2/";

pub(crate) const USER_AGENT: &str = concat!("vt/", env!("CARGO_PKG_VERSION"), " (vt-api)");
const EXCERPT_BYTES: usize = 200;
/// From this length on, a key found in an answer was echoed by the service, not met by
/// chance (VirusTotal keys are 64 hex digits), and is cut out of the answer.
const ECHO_MIN_KEY_LEN: usize = 20;

/// A VirusTotal API v2 client. Cheap to clone; clones share the transport and the quota.
///
/// ```no_run
/// # async fn example(transport: std::sync::Arc<dyn vt_transport::Transport>) -> Result<(), vt_api::Error> {
/// use vt_api::{ApiKey, Client, Tier};
///
/// let client = Client::builder(ApiKey::new("my key"))
///     .tier(Tier::Public)
///     .transport(transport)
///     .build()?;
/// let resource = "44d88612fea8a8f36de82e1278abb02f".parse()?;
/// let answer = client.file_report(&resource, false).await?;
/// if let Some(report) = answer.as_found() {
///     println!("{} detected by {}", report.sha256, report.detection_ratio());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

pub(crate) struct Inner {
    /// The base URL, with one trailing `/`.
    base_url: String,
    key: ApiKey,
    tier: Tier,
    pub(crate) limits: Limits,
    retry: RetryPolicy,
    method: RequestMethod,
    transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    pacer: Arc<Pacer>,
    jitter: AtomicU64,
    pub(crate) events: Events,
    /// What has stopped: the whole key, or single features.
    stopped: Mutex<Stopped>,
    /// Whether any request has reached the service.
    reached: AtomicBool,
    #[cfg(feature = "cache")]
    pub(crate) cache: Option<CacheUse>,
}

#[derive(Debug, Default)]
struct Stopped {
    /// A 403 for the key, or a service that cannot be reached: nothing more is sent.
    key: Option<Error>,
    /// A 403 for a private-key feature (by name): nothing more is sent that uses it.
    features: HashMap<String, Error>,
}

/// The cache and how to use it.
#[cfg(feature = "cache")]
#[derive(Debug, Clone)]
pub(crate) struct CacheUse {
    pub(crate) cache: Arc<crate::Cache>,
    /// Found answers older than this are asked again (any age when `None`).
    pub(crate) max_age: Option<Duration>,
    /// Not-found answers older than this are asked again (`max_age` when `None`).
    pub(crate) max_age_not_found: Option<Duration>,
    pub(crate) offline: bool,
}

impl std::fmt::Debug for Inner {
    // The transport is left out: a test transport may hold recorded requests, key included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("limits", &self.limits)
            .field("method", &self.method)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    key: ApiKey,
    base_url: String,
    tier: Tier,
    limits: Option<Limits>,
    retry: RetryPolicy,
    method: RequestMethod,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    observer: Option<Observer>,
    #[cfg(feature = "cache")]
    cache: Option<CacheUse>,
    quota_ledger: Option<Arc<dyn QuotaLedger>>,
}

impl Client {
    /// Starts building a client for `key`.
    pub fn builder(key: impl Into<ApiKey>) -> ClientBuilder {
        ClientBuilder {
            key: key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            tier: Tier::default(),
            limits: None,
            retry: RetryPolicy::default(),
            method: RequestMethod::default(),
            transport: None,
            clock: Arc::new(TokioClock),
            observer: None,
            #[cfg(feature = "cache")]
            cache: None,
            quota_ledger: None,
        }
    }

    /// The limits in force (the tier's defaults with any overrides).
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// How much of the daily quota this client has used, as far as it has counted.
    pub async fn quota_status(&self) -> QuotaStatus {
        self.inner.pacer.status_async(&self.inner.clock).await
    }

    /// The base URL requests go to (with one trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The report of one resource. Not found and queued are `Ok` answers.
    pub async fn file_report(
        &self,
        resource: &Resource,
        allinfo: bool,
    ) -> Result<FileReportAnswer, Error> {
        self.lookup(&FILE_REPORT, resource, &Params::allinfo(allinfo))
            .await?
            .into_answer()
            .map_err(Error::from)
    }

    /// One query to any lookup endpoint: from the cache when it has a fresh answer, else one
    /// request through the same pipeline as batches. The answer keeps the service's bytes;
    /// its typed view is decoded on demand ([`RawAnswer::answer`]).
    pub async fn lookup<Q: Query, T: Report>(
        &self,
        endpoint: &Endpoint<Q, T>,
        query: &Q,
        params: &Params,
    ) -> Result<RawAnswer<T>, Error> {
        let scope = self.inner.scope(endpoint.spec(), params);
        if let Some(probed) = self
            .inner
            .probe::<Q, T>(scope.as_ref(), vec![query.clone()])
            .await
            .pop()
            .and_then(|(_, hit)| hit)
        {
            return probed.map(|(answer, _)| answer);
        }
        let mut answers = self
            .inner
            .ask_batch(endpoint, params, std::slice::from_ref(query))
            .await?;
        let answered = answers.pop().unwrap_or(Err(Error::MissingAnswer))?;
        self.inner
            .remember(
                endpoint.spec(),
                scope.as_ref(),
                vec![(query.match_key().to_owned(), answered.clone())],
            )
            .await;
        Ok(answered)
    }

    /// Asks for `resource` every `interval` while the service says it is queued, until it is
    /// not or `timeout` has passed; returns the last answer (still queued if time ran out).
    /// To wait for many resources together, in batches, see
    /// [`Lookups::wait_queued`](crate::Lookups::wait_queued).
    pub async fn wait_for_report(
        &self,
        resource: &Resource,
        allinfo: bool,
        interval: Duration,
        timeout: Duration,
    ) -> Result<FileReportAnswer, Error> {
        let deadline = self.inner.clock.now() + timeout;
        loop {
            let answer = self.file_report(resource, allinfo).await?;
            let now = self.inner.clock.now();
            if !matches!(answer, FileReportAnswer::Queued(_)) || now + interval > deadline {
                return Ok(answer);
            }
            tracing::info!(resource = %resource, "queued; asking again in {interval:?}");
            self.inner.clock.sleep(interval).await;
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("tier", &self.tier)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The API's base URL (default [`DEFAULT_BASE_URL`]); a missing trailing `/` is added.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The key's tier, which sets the default limits (default public).
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// Limits to use instead of the tier's defaults.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// POST form (default) or GET.
    pub fn request_method(mut self, method: RequestMethod) -> Self {
        self.method = method;
        self
    }

    /// The HTTP backend (default: vt-transport's `HyperTransport` with its defaults, when the
    /// `hyper` feature is on).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The clock for pacing, backoff and deadlines (default: tokio's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Receives typed progress [`Event`]s (requests sent, pacing and 204 waits, retries,
    /// quota warnings, a stopped run), for a progress bar or messages.
    pub fn observer(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Answers from `cache` when it holds an answer of the same service, endpoint and
    /// parameters no older than `max_age` (any age when `None`), and stores every found and
    /// not-found answer received.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: Arc<crate::Cache>, max_age: Option<Duration>) -> Self {
        let (offline, max_age_not_found) = self
            .cache
            .as_ref()
            .map_or((false, None), |c| (c.offline, c.max_age_not_found));
        self.cache = Some(CacheUse {
            cache,
            max_age,
            max_age_not_found,
            offline,
        });
        self
    }

    /// A shorter max age for not-found answers than for found ones (a sample uploaded after
    /// the first look must show up). Needs [`ClientBuilder::cache`].
    #[cfg(feature = "cache")]
    pub fn cache_max_age_not_found(mut self, max_age: Option<Duration>) -> Self {
        if let Some(c) = self.cache.as_mut() {
            c.max_age_not_found = max_age;
        }
        self
    }

    /// Offline: answer from the cache alone; a miss is [`Error::NotCached`] and nothing is
    /// sent. Needs [`ClientBuilder::cache`].
    #[cfg(feature = "cache")]
    pub fn offline(mut self, offline: bool) -> Self {
        if let Some(c) = self.cache.as_mut() {
            c.offline = offline;
        }
        self
    }

    /// Counts the requests sent in `cache`'s file too, so that every client, in any
    /// process, using that file with the same key paces against one count, and a 204 met by
    /// one holds them all: [`ClientBuilder::shared_quota_ledger`] with the cache.
    #[cfg(feature = "cache")]
    pub fn quota_ledger(self, cache: Arc<crate::Cache>) -> Self {
        self.shared_quota_ledger(cache)
    }

    /// Counts the requests sent in `ledger` too (see [`QuotaLedger`]), so that every client
    /// sharing it with the same key (in other processes, on other machines) paces against
    /// one count, and a 204 met by one holds them all. Only a key with a per-minute or
    /// per-day limit uses it ([`Limits::is_paced`]).
    ///
    /// The ledger keeps wall-clock times ([`Clock::system_time`]) under a fingerprint of the
    /// key, never the key. With a clock whose `system_time` does not move (a paused tokio
    /// clock), keep the count in memory instead. Each client also keeps its own count in
    /// memory, by which it paces while the ledger fails.
    pub fn shared_quota_ledger(mut self, ledger: Arc<dyn QuotaLedger>) -> Self {
        self.quota_ledger = Some(ledger);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        if self.key.is_empty() {
            return Err(Error::InvalidConfig("the API key is empty".to_owned()));
        }
        let mut base_url = self.base_url.trim().to_owned();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        match format!("{base_url}{}", FILE_REPORT.spec().path).parse::<http::Uri>() {
            Ok(uri) if uri.scheme().is_some() && uri.host().is_some() => {}
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "base URL {:?} is not an absolute http(s) URL",
                    self.base_url
                )))
            }
        }
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let limits = self.limits.unwrap_or_else(|| self.tier.limits());
        let limits = limits
            .with_batch_size(limits.batch_size)
            .with_concurrency(limits.concurrency);
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(Arc::as_ptr(&self.clock) as *const () as usize);
            h.finish() | 1
        };
        let events = Events::new(self.observer);
        let pacer = Pacer::new(&limits).with_events(events.clone());
        let pacer = match self.quota_ledger {
            Some(store) if limits.is_paced() => pacer.with_ledger(crate::pacing::Ledger {
                store,
                key_fingerprint: self.key.fingerprint(),
            }),
            _ => pacer,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                base_url,
                key: self.key,
                tier: self.tier,
                pacer: Arc::new(pacer),
                events,
                stopped: Mutex::new(Stopped::default()),
                reached: AtomicBool::new(false),
                limits,
                retry: self.retry,
                method: self.method,
                transport,
                clock: self.clock,
                jitter: AtomicU64::new(seed),
                #[cfg(feature = "cache")]
                cache: self.cache,
            }),
        })
    }
}

#[cfg(feature = "hyper")]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    vt_transport::HyperTransport::builder()
        .build()
        .map(|transport| Arc::new(transport) as Arc<dyn Transport>)
        .map_err(|e| Error::InvalidConfig(format!("cannot set up the HTTP client: {e}")))
}

#[cfg(not(feature = "hyper"))]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    Err(Error::InvalidConfig(
        "no transport given, and this build of vt-api has no default backend (feature `hyper`)"
            .to_owned(),
    ))
}

/// A row to store: its key, `response_code` and bytes.
#[cfg(feature = "cache")]
fn as_row((key, code, raw): &(String, i64, Bytes)) -> (&str, i64, &[u8]) {
    (key, *code, raw)
}

/// The cache's scope of an answer (nothing without the `cache` feature).
#[cfg(feature = "cache")]
pub(crate) type CacheScopeOf = crate::CacheScope;
/// The cache's scope of an answer (nothing without the `cache` feature).
#[cfg(not(feature = "cache"))]
#[derive(Debug, Clone)]
pub(crate) enum CacheScopeOf {}

#[cfg(feature = "cache")]
impl CacheUse {
    /// Whether a cached answer is young enough to be served.
    fn is_fresh(&self, hit: &crate::CachedAnswer, now: SystemTime) -> bool {
        let max_age = match vt_model::Status::of(hit.response_code) {
            vt_model::Status::NotFound => self.max_age_not_found.or(self.max_age),
            _ => self.max_age,
        };
        max_age.is_none_or(|max| crate::cache::age(hit.fetched_at, now) <= max)
    }
}

/// A query looked up in the cache: its fresh answer and when it was fetched, an error
/// (offline: not cached), or `None` to ask the service.
pub(crate) type Probed<Q, T> = (Q, Option<Result<(RawAnswer<T>, SystemTime), Error>>);

/// What one attempt came to.
pub(crate) enum Attempt<V> {
    Answered(V),
    /// Worth trying again after a backoff.
    Transient(Error),
    /// The request never reached the service (refused, DNS, TLS before it was written): it
    /// costs no quota. `true` when worth trying again.
    Unreached(Error, bool),
    /// 204: wait for the quota.
    RateLimited,
    /// Final.
    Failed(Error),
}

/// One request of an endpoint: its queries, joined as the endpoint batches them, and its
/// other parameters.
pub(crate) struct Call<'a> {
    pub(crate) spec: &'a EndpointSpec,
    pub(crate) params: &'a Params,
    pub(crate) queries: &'a str,
    /// How many queries `queries` holds (for events and messages).
    pub(crate) count: usize,
    /// A file sent as the multipart part `file`, streamed from disk (`file/scan`).
    pub(crate) upload: Option<&'a crate::transfer::Upload>,
    /// Where to send instead of the endpoint's path under the base URL (an upload URL the
    /// service handed out): the key is not added.
    pub(crate) url: Option<&'a str>,
    /// A relayed request's parameters, by wire name, in place of the query and `params`
    /// ([`Client::relay`]).
    pub(crate) relayed: Option<&'a [(String, String)]>,
}

impl<'a> Call<'a> {
    /// A call of `spec` with `queries` (`count` of them) and `params`.
    pub(crate) fn new(
        spec: &'a EndpointSpec,
        params: &'a Params,
        queries: &'a str,
        count: usize,
    ) -> Call<'a> {
        Call {
            spec,
            params,
            queries,
            count,
            upload: None,
            url: None,
            relayed: None,
        }
    }
}

impl Inner {
    /// When and how often requests are tried again.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The transport requests go through.
    pub(crate) fn transport(&self) -> &dyn Transport {
        &*self.transport
    }

    /// The name under which a 403 stops requests: `None` for the key itself; the endpoint or
    /// the private parameters for a private-key feature.
    fn feature_of(call: &Call<'_>) -> Option<String> {
        if call.spec.private_only {
            return Some(call.spec.path.to_owned());
        }
        match call.relayed {
            // Of the parameters a caller may name, `allinfo` is the one vt-api knows to need
            // a private key: a 403 for it must not stop the key.
            Some(pairs) => pairs
                .iter()
                .any(|(name, _)| name == "allinfo")
                .then(|| "allinfo".to_owned()),
            None => call.params.private_names(),
        }
    }

    /// The error every further request of `feature` gets, once it has stopped.
    fn stopped(&self, feature: Option<&str>) -> Option<Error> {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped
            .key
            .clone()
            .or_else(|| feature.and_then(|f| stopped.features.get(f).cloned()))
    }

    fn stop(&self, feature: Option<&str>, error: &Error) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let first = match feature {
            None => stopped.key.replace(error.clone()).is_none(),
            Some(f) => stopped
                .features
                .insert(f.to_owned(), error.clone())
                .is_none(),
        };
        drop(stopped);
        if first {
            self.events.emit(Event::Stopped {
                reason: error.to_string(),
            });
        }
    }

    /// The service's scheme, host and port, for messages.
    fn service(&self) -> String {
        match self.base_url.parse::<http::Uri>() {
            Ok(uri) => format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map_or("", |a| a.as_str())
            ),
            Err(_) => self.base_url.clone(),
        }
    }

    /// The one pipeline: sends `call` until it is answered or fails for good, pacing every
    /// attempt, and hands a 200's body (the key cut out if the service echoed it) to `parse`,
    /// whose truncated-body errors are retried like a broken connection.
    pub(crate) async fn call<V>(
        &self,
        call: Call<'_>,
        parse: impl Fn(&Bytes) -> Result<V, vt_model::Error>,
    ) -> Result<V, Error> {
        let (call, parse) = (&call, &parse);
        self.run(call, move || self.attempt(call, parse)).await
    }

    /// The retry loop of [`Inner::call`], for any kind of `attempt` (a JSON answer, a file
    /// streamed to disk): stops, pacing, refunds, 204 holds, backoff.
    pub(crate) async fn run<V, A: std::future::Future<Output = Attempt<V>>>(
        &self,
        call: &Call<'_>,
        attempt: impl Fn() -> A,
    ) -> Result<V, Error> {
        let feature = Inner::feature_of(call);
        if call.spec.private_only && self.tier == Tier::Public {
            return Err(Error::PrivateOnly {
                feature: call.spec.path.to_owned(),
            });
        }
        let mut attempts = 0u32;
        let mut rate_limited = 0u32;
        loop {
            if let Some(error) = self.stopped(feature.as_deref()) {
                return Err(error);
            }
            let ticket = self
                .pacer
                .acquire(&self.clock, call.count, self.retry.max_quota_wait)
                .await?;
            // Stopped while this request waited for the quota: it does not go.
            if let Some(error) = self.stopped(feature.as_deref()) {
                self.pacer.refund_async(&self.clock, ticket).await;
                return Err(error);
            }
            attempts += 1;
            self.events.emit(Event::Sending {
                endpoint: call.spec.path,
                queries: call.count,
                attempt: attempts,
            });
            let attempt = attempt().await;
            if let Attempt::Unreached(..) = attempt {
                self.pacer.refund_async(&self.clock, ticket).await;
            } else {
                self.reached.store(true, Ordering::Relaxed);
                self.pacer.answered_async(&self.clock, ticket).await;
            }
            let (error, worth_retrying) = match attempt {
                Attempt::Answered(answered) => return Ok(answered),
                Attempt::Failed(error) => {
                    match &error {
                        Error::Forbidden | Error::GatewayDailyLimit => self.stop(None, &error),
                        Error::ForbiddenFeature { .. } => self.stop(feature.as_deref(), &error),
                        _ => {}
                    }
                    return Err(error);
                }
                Attempt::RateLimited => {
                    self.events.emit(Event::Answered204 {
                        endpoint: call.spec.path,
                    });
                    rate_limited += 1;
                    attempts -= 1;
                    if rate_limited > self.retry.max_rate_limit_waits {
                        return Err(Error::RateLimited {
                            answers: rate_limited,
                        });
                    }
                    // Someone else spends this key's quota too: hold every request of the key
                    // (in every process sharing the ledger), not only this one.
                    // The pacer says so (`Event::HeldBy204`) when the next request waits for it.
                    self.pacer
                        .refused_async(&self.clock, self.retry.rate_limit_wait, ticket)
                        .await;
                    continue;
                }
                Attempt::Transient(error) => (error, true),
                Attempt::Unreached(error, transient) => (error, transient),
            };
            if !worth_retrying || attempts >= self.retry.max_attempts {
                if let Error::Transport(reason) = &error {
                    let inner = reason.inner();
                    if (inner.is_connect() || inner.is_tls())
                        && !self.reached.load(Ordering::Relaxed)
                    {
                        // Nothing ever reached the service: stop the run with one message
                        // rather than pace doomed requests.
                        let error = Error::Unreachable {
                            service: self.service(),
                            // The message names the service once.
                            reason: reason.without_service(),
                        };
                        self.stop(None, &error);
                        return Err(error);
                    }
                }
                return Err(error);
            }
            let wait = self.jittered(self.retry.backoff_ceiling(attempts));
            self.events.emit(Event::Retrying {
                endpoint: call.spec.path,
                queries: call.count,
                attempt: attempts,
                max_attempts: self.retry.max_attempts,
                wait,
                reason: error.to_string(),
            });
            self.clock.sleep(wait).await;
        }
    }

    async fn attempt<V>(
        &self,
        call: &Call<'_>,
        parse: &impl Fn(&Bytes) -> Result<V, vt_model::Error>,
    ) -> Attempt<V> {
        let response = match call.upload {
            Some(upload) => self.send_upload(call, upload).await,
            None => match self.request(call) {
                Ok(request) => {
                    let timeout = self.retry.request_timeout;
                    self.within(timeout, self.transport.send(request)).await
                }
                Err(error) => return Attempt::Failed(error),
            },
        };
        let response = match response {
            Ok(response) => response,
            Err(failed) => return failed,
        };
        let status = response.status().as_u16();
        let (head, body) = response.into_parts();
        match status {
            200 => {
                let body = self.without_echoed_key(body);
                match parse(&body) {
                    Ok(parsed) => Attempt::Answered(parsed),
                    Err(error) => {
                        let error = self.quotable_decode_error(&body, error, parse);
                        if error.is_transient() {
                            Attempt::Transient(error)
                        } else {
                            Attempt::Failed(error)
                        }
                    }
                }
            }
            _ => self.refusal(call, status, &head.headers, &body),
        }
    }

    /// What a `send` within `timeout` came to: the response, or the attempt it failed as.
    pub(crate) async fn within<R, V>(
        &self,
        timeout: Duration,
        sent: impl std::future::Future<Output = Result<R, vt_transport::Error>>,
    ) -> Result<R, Attempt<V>> {
        let sent = std::pin::pin!(sent);
        match select(sent, self.clock.sleep(timeout)).await {
            Either::Left((Ok(response), _)) => Ok(response),
            Either::Left((Err(error), _)) => Err(self.transport_failure(error)),
            Either::Right(_) => Err(Attempt::Transient(Error::Timeout(timeout))),
        }
    }

    /// How a transport error classes: never reached the service (no quota spent), worth
    /// another try, or final; its text never shows the key.
    pub(crate) fn transport_failure<V>(&self, error: vt_transport::Error) -> Attempt<V> {
        let transient = error.is_transient();
        let unreached = error.is_connect() || error.is_tls();
        let error =
            Error::Transport(TransportError::new(self.scrub(error)).with_service(self.service()));
        match (unreached, transient) {
            (true, _) => Attempt::Unreached(error, transient),
            (false, true) => Attempt::Transient(error),
            (false, false) => Attempt::Failed(error),
        }
    }

    /// A status other than 200, as the pipeline treats it (the same for every endpoint):
    /// 204 waits for the quota, 403 fails (and stops the key or the feature), 400 fails,
    /// 5xx and 429 are retried, anything else fails.
    /// A vt-gateway's 204 for the token's own daily limit ([`GATEWAY_LIMIT_HEADER`]) fails,
    /// and stops the run.
    pub(crate) fn refusal<V>(
        &self,
        call: &Call<'_>,
        status: u16,
        headers: &http::HeaderMap,
        body: &Bytes,
    ) -> Attempt<V> {
        match status {
            204 if headers
                .get(GATEWAY_LIMIT_HEADER)
                .is_some_and(|limit| limit.as_bytes().eq_ignore_ascii_case(b"per-day")) =>
            {
                Attempt::Failed(Error::GatewayDailyLimit)
            }
            204 => Attempt::RateLimited,
            403 => Attempt::Failed(match Inner::feature_of(call) {
                None => Error::Forbidden,
                Some(feature) => Error::ForbiddenFeature { feature },
            }),
            400 => Attempt::Failed(Error::BadRequest {
                excerpt: self.excerpt(body),
            }),
            _ => {
                let error = Error::UnexpectedStatus {
                    status,
                    excerpt: self.excerpt(body),
                };
                if status >= 500 || status == 429 {
                    Attempt::Transient(error)
                } else {
                    Attempt::Failed(error)
                }
            }
        }
    }

    /// The HTTP method of a request of `spec`.
    pub(crate) fn method_of(&self, spec: &EndpointSpec) -> http::Method {
        match (spec.methods, self.method) {
            (Methods::GetOrPost, RequestMethod::Get) | (Methods::Get, _) => http::Method::GET,
            _ => http::Method::POST,
        }
    }

    /// The request of `call`: the key, the queries and the parameters, in the endpoint's
    /// method and encoding.
    pub(crate) fn request(&self, call: &Call<'_>) -> Result<http::Request<Bytes>, Error> {
        let fields = self.fields(call);
        let url = self.url_of(call);
        let method = self.method_of(call.spec);
        let builder = http::Request::builder()
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json");
        let request = if method == http::Method::GET {
            let query = crate::form::encode(&fields, call.queries.len());
            builder
                .method(method)
                .uri(format!("{url}?{query}"))
                .body(Bytes::new())
        } else {
            match call.spec.encoding {
                Encoding::Form => builder
                    .method(method)
                    .uri(url)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(Bytes::from(crate::form::encode(
                        &fields,
                        call.queries.len(),
                    ))),
                Encoding::Multipart => {
                    let (content_type, body) = crate::form::multipart(&fields, self.next_random());
                    builder
                        .method(method)
                        .uri(url)
                        .header(http::header::CONTENT_TYPE, content_type)
                        .body(Bytes::from(body))
                }
            }
        };
        // Only the URL can be wrong here, and it was checked at build time; say nothing of
        // the request itself, which holds the key.
        request.map_err(|_| Error::InvalidConfig("could not build the request URL".to_owned()))
    }

    /// The fields of a request: the key (unless it goes to a URL the service handed out),
    /// the queries (unless the endpoint takes none) and the parameters; or, relayed, the
    /// caller's parameters as given.
    pub(crate) fn fields<'c>(&'c self, call: &Call<'c>) -> Vec<(&'c str, &'c str)> {
        let mut fields: Vec<(&'c str, &'c str)> = Vec::with_capacity(4);
        if call.url.is_none() {
            fields.push(("apikey", self.key.expose()));
        }
        if let Some(pairs) = call.relayed {
            for (name, value) in pairs {
                fields.push((name, value));
            }
            return fields;
        }
        if !call.spec.query_param.is_empty() {
            fields.push((call.spec.query_param, call.queries));
        }
        for (name, value) in call.params.pairs() {
            fields.push((name, value));
        }
        fields
    }

    /// Where a call goes.
    pub(crate) fn url_of(&self, call: &Call<'_>) -> String {
        match call.url {
            Some(url) => url.to_owned(),
            None => format!("{}{}", self.base_url, call.spec.path),
        }
    }

    /// Asks for a chunk of distinct queries in one request; one result per query, in the
    /// order given, matched as the endpoint says.
    pub(crate) async fn ask_batch<Q: Query, T: Report>(
        &self,
        endpoint: &Endpoint<Q, T>,
        params: &Params,
        queries: &[Q],
    ) -> Result<Vec<Result<RawAnswer<T>, Error>>, Error> {
        let spec = endpoint.spec();
        let joined = match spec.batching {
            Batching::Joined(separator) if queries.len() > 1 => {
                let mut joined = String::with_capacity(queries.len() * 66);
                for (i, query) in queries.iter().enumerate() {
                    if i > 0 {
                        joined.push_str(separator);
                    }
                    joined.push_str(query.wire_text());
                }
                joined
            }
            _ => queries
                .first()
                .map(|q| q.wire_text().to_owned())
                .unwrap_or_default(),
        };
        let call = Call::new(spec, params, &joined, queries.len());
        // Matched as the body is scanned, inside the attempt: a truncated body is retried.
        self.call(call, |body| {
            crate::matching::match_answers(spec.matching, queries, body)
        })
        .await
    }

    /// The cache's scope of an endpoint's answers asked with `params` (none when the cache
    /// is off or the endpoint's answers are not kept).
    pub(crate) fn scope(&self, spec: &EndpointSpec, params: &Params) -> Option<CacheScopeOf> {
        #[cfg(feature = "cache")]
        if self.cache.is_some() && spec.cacheable && !params.submits() {
            return Some(crate::CacheScope::new(
                &self.base_url,
                spec.path,
                &params.canonical(),
            ));
        }
        let _ = (spec, params);
        None
    }

    /// The cache's fresh answers for `queries`, off the runtime, each with when it was
    /// fetched: `None` for a query to ask the service; in offline mode a miss is
    /// [`Error::NotCached`].
    pub(crate) async fn probe<Q: Query, T: Report>(
        &self,
        scope: Option<&CacheScopeOf>,
        queries: Vec<Q>,
    ) -> Vec<Probed<Q, T>> {
        #[cfg(feature = "cache")]
        if let (Some(c), Some(scope)) = (&self.cache, scope) {
            let (cache, scope_owned) = (Arc::clone(&c.cache), scope.clone());
            let keys: Vec<String> = queries.iter().map(|q| q.match_key().to_owned()).collect();
            let read = crate::blocking::run(move || {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                cache.get_many(&scope_owned, &keys)
            })
            .await;
            let now = self.clock.system_time();
            let hits = match read {
                Ok(hits) => hits,
                Err(error) if c.offline => {
                    return queries
                        .into_iter()
                        .map(|q| (q, Some(Err(error.clone()))))
                        .collect();
                }
                Err(error) => {
                    tracing::warn!(%error, "cache unreadable; asking the service");
                    vec![None; queries.len()]
                }
            };
            return queries
                .into_iter()
                .zip(hits)
                .map(|(query, hit)| {
                    let fresh = hit.filter(|hit| c.is_fresh(hit, now)).and_then(|hit| {
                        // An entry that no longer reads is treated as absent.
                        let fetched_at = hit.fetched_at;
                        let answer = RawAnswer::<T>::parse(hit.raw).ok()?;
                        // Asked in another case, or by another of the file's hashes: the
                        // answer echoes what was asked, as the service's would.
                        let answer = match answer.resource() {
                            Some(echo) if echo != query.wire_text() => {
                                answer.with_resource(query.wire_text()).unwrap_or(answer)
                            }
                            _ => answer,
                        };
                        Some((answer, fetched_at))
                    });
                    let outcome = match fresh {
                        Some(hit) => Some(Ok(hit)),
                        None if c.offline => Some(Err(Error::NotCached)),
                        None => None,
                    };
                    (query, outcome)
                })
                .collect();
        }
        let _ = scope;
        queries.into_iter().map(|q| (q, None)).collect()
    }

    /// Stores received final answers (found, not found) in the cache, off the runtime: under
    /// each query's match key, and a found file report under its other hashes too. A cache that
    /// cannot be written is reported and otherwise ignored: the answers still reach the caller.
    pub(crate) async fn remember<T: Report>(
        &self,
        spec: &EndpointSpec,
        scope: Option<&CacheScopeOf>,
        answers: Vec<(String, RawAnswer<T>)>,
    ) {
        #[cfg(feature = "cache")]
        if let (Some(c), Some(scope)) = (&self.cache, scope) {
            let mut rows: Vec<(String, i64, Bytes)> = Vec::with_capacity(answers.len());
            // (other hash, response_code, the key asked): an alias names the answer whose
            // bytes it shares, and holds no copy of them.
            let mut aliases: Vec<(String, i64, String)> = Vec::new();
            for (key, answer) in answers {
                if !answer.status().is_final() {
                    continue;
                }
                if spec.answers_other_hashes && answer.status() == vt_model::Status::Found {
                    let ids = answer.ids();
                    for other in [&ids.md5, &ids.sha1, &ids.sha256].into_iter().flatten() {
                        let other = other.trim();
                        if vt_model::ResourceKind::detect(other).is_some() {
                            let other = other.to_ascii_lowercase();
                            if other != key {
                                aliases.push((other, answer.response_code(), key.clone()));
                            }
                        }
                    }
                }
                rows.push((key, answer.response_code(), answer.bytes().clone()));
            }
            if rows.is_empty() {
                return;
            }
            let (cache, scope) = (Arc::clone(&c.cache), scope.clone());
            let now = self.clock.system_time();
            let stored = crate::blocking::run(move || {
                cache.put_all_with_aliases(
                    &scope,
                    rows.iter().map(as_row),
                    aliases
                        .iter()
                        .map(|(other, code, asked)| (other.as_str(), *code, asked.as_str())),
                    now,
                )
            })
            .await;
            if let Err(error) = stored {
                tracing::warn!(%error, "could not store answers in the cache");
            }
            return;
        }
        let _ = (spec, scope, answers);
    }

    /// The start of a body, as text, with the key cut out.
    fn excerpt(&self, body: &Bytes) -> String {
        let body = self.scrubbed(body).unwrap_or_else(|| body.clone());
        let end = body.len().min(EXCERPT_BYTES);
        String::from_utf8_lossy(&body[..end]).into_owned()
    }

    /// A decode error fit to be shown: when the body holds the key, the error of the body
    /// with the key cut out (whatever the error quotes from the body then cannot show it,
    /// whole or in part, even where an excerpt cuts it).
    fn quotable_decode_error<V>(
        &self,
        body: &Bytes,
        error: vt_model::Error,
        parse: &impl Fn(&Bytes) -> Result<V, vt_model::Error>,
    ) -> Error {
        let Some(scrubbed) = self.scrubbed(body) else {
            return Error::from(error);
        };
        match parse(&scrubbed) {
            Err(error) => Error::from(error),
            // Only the key's bytes made the body fail: say so without quoting it.
            Ok(_) => Error::Decode(vt_model::DecodeError {
                path: ".".to_owned(),
                message: "the body does not decode where it holds the API key".to_owned(),
                line: 0,
                column: 0,
                excerpt: String::new(),
                category: vt_model::DecodeCategory::Shape,
            }),
        }
    }

    /// A 200 body to decode: as received, unless the service echoed the key into it (a key
    /// of [`ECHO_MIN_KEY_LEN`] bytes or more cannot be there by chance), then with the key
    /// cut out, so that no answer, cache entry or output holds it. A shorter key (a test
    /// key such as `test`, never a VirusTotal key) may well occur in a report by chance:
    /// cutting it out would corrupt the answer, so the body is left as it is.
    fn without_echoed_key(&self, body: Bytes) -> Bytes {
        if self.key.expose().len() < ECHO_MIN_KEY_LEN {
            return body;
        }
        self.scrubbed(&body).unwrap_or(body)
    }

    /// A header of an answer passed on ([`Client::relay`]), with the key cut out if the
    /// service echoed it, by the rule of [`Inner::without_echoed_key`].
    pub(crate) fn header_without_echoed_key(&self, value: &http::HeaderValue) -> http::HeaderValue {
        if self.key.expose().len() < ECHO_MIN_KEY_LEN {
            return value.clone();
        }
        match self.key.redact_bytes(value.as_bytes()) {
            None => value.clone(),
            // Only ASCII was replaced by ASCII: still a valid value.
            Some(redacted) => http::HeaderValue::from_bytes(&redacted)
                .unwrap_or(http::HeaderValue::from_static("<redacted>")),
        }
    }

    /// The body with every occurrence of the key replaced (in any letter case, JSON escapes
    /// included: [`ApiKey::redact`]), or `None` when it holds none.
    fn scrubbed(&self, body: &[u8]) -> Option<Bytes> {
        self.key.redact_bytes(body).map(Bytes::from)
    }

    /// A transport error whose text (with its causes) would show the key, replaced by one
    /// that does not. Backends that print URLs would otherwise leak it in GET mode.
    fn scrub(&self, error: vt_transport::Error) -> vt_transport::Error {
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        match self.key.redact(&text) {
            std::borrow::Cow::Owned(redacted) => {
                vt_transport::Error::with_detail(error.kind(), redacted)
            }
            std::borrow::Cow::Borrowed(_) => error,
        }
    }

    /// A duration drawn uniformly in `[0, ceiling]` (full jitter).
    fn jittered(&self, ceiling: Duration) -> Duration {
        let fraction = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(fraction)
    }

    /// The next number of the client's generator (jitter, multipart boundaries).
    fn next_random(&self) -> u64 {
        // xorshift64*: statistical quality is plenty for spreading retries.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
