//! The client: one request for a chunk of resources, with pacing, retries and deadlines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use vt_model::{FileReportAnswer, Resource};
use vt_transport::Transport;

use crate::clock::{Clock, TokioClock};
use crate::error::TransportError;
use crate::pacing::{Pacer, QuotaStatus};
use crate::{ApiKey, Error, Limits, RequestMethod, RetryPolicy, Tier};

/// The default base URL of the v2 API.
pub const DEFAULT_BASE_URL: &str = "https://www.virustotal.com/vtapi/v2/";

const USER_AGENT: &str = concat!("vt/", env!("CARGO_PKG_VERSION"), " (vt-api)");
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
    file_report_url: String,
    key: ApiKey,
    pub(crate) limits: Limits,
    retry: RetryPolicy,
    method: RequestMethod,
    transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    pacer: Pacer,
    jitter: AtomicU64,
    #[cfg(feature = "cache")]
    cache: Option<CacheUse>,
}

/// The cache and how to use it.
#[cfg(feature = "cache")]
#[derive(Debug, Clone)]
struct CacheUse {
    cache: Arc<crate::Cache>,
    max_age: Option<Duration>,
    offline: bool,
}

impl std::fmt::Debug for Inner {
    // The transport is left out: a test transport may hold recorded requests, key included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.file_report_url)
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
    #[cfg(feature = "cache")]
    cache: Option<CacheUse>,
    #[cfg(feature = "cache")]
    quota_ledger: Option<Arc<crate::Cache>>,
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
            #[cfg(feature = "cache")]
            cache: None,
            #[cfg(feature = "cache")]
            quota_ledger: None,
        }
    }

    /// The limits in force (the tier's defaults with any overrides).
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// How much of the daily quota this client has used, as far as it has counted.
    pub fn quota_status(&self) -> QuotaStatus {
        self.inner.pacer.status(&*self.inner.clock)
    }

    /// The report of one resource. Not found and queued are `Ok` answers.
    pub async fn file_report(
        &self,
        resource: &Resource,
        allinfo: bool,
    ) -> Result<FileReportAnswer, Error> {
        if let Some(cached) = self.inner.cached(resource, allinfo) {
            return cached.map(|a| a.answer);
        }
        let mut answers = self
            .inner
            .file_reports_chunk(std::slice::from_ref(resource), allinfo)
            .await?;
        let answered = answers.pop().unwrap_or(Err(Error::MissingAnswer))?;
        self.inner.remember([(resource, &answered)], allinfo);
        Ok(answered.answer)
    }

    /// Asks for `resource` every `interval` while the service says it is queued, until it is
    /// not or `timeout` has passed; returns the last answer (still queued if time ran out).
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

    /// Answers from `cache` when it holds an answer no older than `max_age` (any age when
    /// `None`), and stores every found and not-found answer received.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: Arc<crate::Cache>, max_age: Option<Duration>) -> Self {
        let offline = self.cache.as_ref().is_some_and(|c| c.offline);
        self.cache = Some(CacheUse {
            cache,
            max_age,
            offline,
        });
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

    /// Counts the requests sent in `cache`'s file rather than in memory, so that every client,
    /// in any process, using that file with the same key paces against one count, and a 204
    /// met by one holds them all. Only a key with a per-minute or per-day limit uses it.
    ///
    /// The ledger keeps wall-clock times ([`Clock::system_time`]) under a fingerprint of the
    /// key, never the key. With a clock whose `system_time` does not move (a paused tokio
    /// clock), keep the count in memory instead.
    #[cfg(feature = "cache")]
    pub fn quota_ledger(mut self, cache: Arc<crate::Cache>) -> Self {
        self.quota_ledger = Some(cache);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        if self.key.is_empty() {
            return Err(Error::InvalidConfig("the API key is empty".to_owned()));
        }
        let mut base = self.base_url.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let file_report_url = format!("{base}file/report");
        match file_report_url.parse::<http::Uri>() {
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
        let pacer = Pacer::new(&limits);
        #[cfg(feature = "cache")]
        let pacer = match self.quota_ledger {
            Some(cache) if limits.is_paced() => pacer.with_ledger(crate::pacing::Ledger {
                cache,
                key_fingerprint: self.key.fingerprint(),
            }),
            _ => pacer,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                file_report_url,
                key: self.key,
                pacer,
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

/// An answer, and the bytes of it the service sent (shared with the body they came in).
#[derive(Debug, Clone)]
pub(crate) struct Answered {
    pub(crate) answer: FileReportAnswer,
    pub(crate) raw: Bytes,
}

/// What one attempt came to.
enum Attempt {
    Answers(Vec<Answered>),
    /// Worth trying again after a backoff.
    Transient(Error),
    /// 204: wait for the quota.
    RateLimited,
    /// Final.
    Failed(Error),
}

impl Inner {
    /// The cached answer for `resource`, if the cache is on and has a fresh one; in offline
    /// mode a miss is an error. `None`: ask the service.
    pub(crate) fn cached(
        &self,
        resource: &Resource,
        allinfo: bool,
    ) -> Option<Result<Answered, Error>> {
        #[cfg(feature = "cache")]
        if let Some(c) = &self.cache {
            let now = self.clock.system_time();
            return match c.cache.get(resource, allinfo, c.max_age, now) {
                Ok(Some(hit)) => Some(Ok(Answered {
                    answer: hit.answer,
                    raw: hit.raw,
                })),
                Ok(None) if c.offline => Some(Err(Error::NotCached)),
                Ok(None) => None,
                Err(error) if c.offline => Some(Err(error)),
                Err(error) => {
                    tracing::warn!(%error, "cache unreadable; asking the service");
                    None
                }
            };
        }
        let _ = (resource, allinfo);
        None
    }

    /// Stores received answers in the cache, if it is on. A cache that cannot be written is
    /// reported and otherwise ignored: the answers still reach the caller.
    pub(crate) fn remember<'a>(
        &self,
        answers: impl IntoIterator<Item = (&'a Resource, &'a Answered)>,
        allinfo: bool,
    ) {
        #[cfg(feature = "cache")]
        if let Some(c) = &self.cache {
            let answers = answers
                .into_iter()
                .map(|(resource, a)| (resource, &a.answer, &a.raw[..]));
            let now = self.clock.system_time();
            if let Err(error) = c.cache.put_all_raw(answers, allinfo, now) {
                tracing::warn!(%error, "could not store answers in the cache");
            }
            return;
        }
        let _ = (answers.into_iter(), allinfo);
    }

    /// Asks for a chunk of distinct resources in one request; one result per resource, in the
    /// order given, matched by the `resource` each answer echoes.
    pub(crate) async fn file_reports_chunk(
        &self,
        resources: &[Resource],
        allinfo: bool,
    ) -> Result<Vec<Result<Answered, Error>>, Error> {
        let answers = self.ask(resources, allinfo).await?;
        Ok(match_answers(resources, answers))
    }

    async fn ask(&self, resources: &[Resource], allinfo: bool) -> Result<Vec<Answered>, Error> {
        let mut attempts = 0u32;
        let mut rate_limited = 0u32;
        loop {
            let ticket = self.pacer.acquire(&*self.clock).await;
            attempts += 1;
            tracing::debug!(
                resources = resources.len(),
                allinfo,
                attempt = attempts,
                "asking file/report"
            );
            let attempt = self.attempt(resources, allinfo).await;
            self.pacer.answered(&*self.clock, ticket);
            match attempt {
                Attempt::Answers(answers) => return Ok(answers),
                Attempt::Failed(error) => return Err(error),
                Attempt::RateLimited => {
                    rate_limited += 1;
                    attempts -= 1;
                    if rate_limited > self.retry.max_rate_limit_waits {
                        return Err(Error::RateLimited {
                            answers: rate_limited,
                        });
                    }
                    // Someone else spends this key's quota too: hold every request of the key
                    // (in every process sharing the ledger), not only this one.
                    tracing::warn!(
                        wait_s = self.retry.rate_limit_wait.as_secs(),
                        "204 No Content: quota exceeded (is the key used elsewhere too?); \
                         holding requests for {} s before asking again",
                        self.retry.rate_limit_wait.as_secs()
                    );
                    self.pacer.hold(&*self.clock, self.retry.rate_limit_wait);
                }
                Attempt::Transient(error) => {
                    if attempts >= self.retry.max_attempts {
                        return Err(error);
                    }
                    let wait = self.jittered(self.retry.backoff_ceiling(attempts));
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "attempt {attempts} of {} for {} resource{} failed ({error}); \
                         retrying in {:.1} s",
                        self.retry.max_attempts,
                        resources.len(),
                        if resources.len() == 1 { "" } else { "s" },
                        wait.as_secs_f64()
                    );
                    self.clock.sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, resources: &[Resource], allinfo: bool) -> Attempt {
        let request = match self.request(resources, allinfo) {
            Ok(request) => request,
            Err(error) => return Attempt::Failed(error),
        };
        let timeout = self.retry.request_timeout;
        let sent = self.transport.send(request);
        let response = match select(sent, self.clock.sleep(timeout)).await {
            Either::Left((response, _)) => response,
            Either::Right(_) => return Attempt::Transient(Error::Timeout(timeout)),
        };
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                let transient = error.is_transient();
                let error = Error::Transport(TransportError::new(self.scrub(error)));
                return if transient {
                    Attempt::Transient(error)
                } else {
                    Attempt::Failed(error)
                };
            }
        };
        let status = response.status().as_u16();
        let body = response.into_body();
        match status {
            200 => {
                let body = self.without_echoed_key(body);
                match vt_model::decode_body_spans(&body) {
                    Ok(decoded) => Attempt::Answers(
                        decoded
                            .into_iter()
                            .map(|(answer, span)| Answered {
                                answer,
                                raw: body.slice(span),
                            })
                            .collect(),
                    ),
                    Err(error) => {
                        let error = self.quotable_decode_error(&body, error);
                        if error.is_transient() {
                            Attempt::Transient(error)
                        } else {
                            Attempt::Failed(error)
                        }
                    }
                }
            }
            204 => Attempt::RateLimited,
            403 => Attempt::Failed(Error::Forbidden),
            400 => Attempt::Failed(Error::BadRequest {
                excerpt: self.excerpt(&body),
            }),
            _ => {
                let error = Error::UnexpectedStatus {
                    status,
                    excerpt: self.excerpt(&body),
                };
                if status >= 500 || status == 429 {
                    Attempt::Transient(error)
                } else {
                    Attempt::Failed(error)
                }
            }
        }
    }

    fn request(
        &self,
        resources: &[Resource],
        allinfo: bool,
    ) -> Result<http::Request<Bytes>, Error> {
        let mut form = String::with_capacity(64 + resources.len() * 66);
        crate::form::append_pair(&mut form, "apikey", self.key.expose());
        let joined = resources
            .iter()
            .map(Resource::as_str)
            .collect::<Vec<_>>()
            .join(",");
        crate::form::append_pair(&mut form, "resource", &joined);
        if allinfo {
            crate::form::append_pair(&mut form, "allinfo", "1");
        }
        let builder = http::Request::builder()
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json");
        let request = match self.method {
            RequestMethod::PostForm => builder
                .method(http::Method::POST)
                .uri(&self.file_report_url)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(Bytes::from(form)),
            RequestMethod::Get => builder
                .method(http::Method::GET)
                .uri(format!("{}?{form}", self.file_report_url))
                .body(Bytes::new()),
        };
        // Only the URL can be wrong here, and it was checked at build time; say nothing of
        // the request itself, which holds the key.
        request.map_err(|_| Error::InvalidConfig("could not build the request URL".to_owned()))
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
    fn quotable_decode_error(&self, body: &Bytes, error: vt_model::Error) -> Error {
        let Some(scrubbed) = self.scrubbed(body) else {
            return Error::from(error);
        };
        match vt_model::decode_body_spans(&scrubbed) {
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

    /// The body with every occurrence of the key replaced, or `None` when it holds none.
    fn scrubbed(&self, body: &[u8]) -> Option<Bytes> {
        let key = self.key.expose().as_bytes();
        if key.is_empty() {
            return None;
        }
        let finder = memchr::memmem::Finder::new(key);
        finder.find(body)?;
        let mut scrubbed = Vec::with_capacity(body.len());
        let mut rest: &[u8] = body;
        while let Some(at) = finder.find(rest) {
            scrubbed.extend_from_slice(&rest[..at]);
            scrubbed.extend_from_slice(b"<redacted>");
            rest = &rest[at + key.len()..];
        }
        scrubbed.extend_from_slice(rest);
        Some(Bytes::from(scrubbed))
    }

    /// A transport error whose text (with its causes) would show the key, replaced by one
    /// that does not. Backends that print URLs would otherwise leak it in GET mode.
    fn scrub(&self, error: vt_transport::Error) -> vt_transport::Error {
        let key = self.key.expose();
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        if text.contains(key) {
            vt_transport::Error::with_detail(error.kind(), text.replace(key, "<redacted>"))
        } else {
            error
        }
    }

    /// A duration drawn uniformly in `[0, ceiling]` (full jitter).
    fn jittered(&self, ceiling: Duration) -> Duration {
        // xorshift64*: statistical quality is plenty for spreading retries.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.store(x, Ordering::Relaxed);
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(fraction)
    }
}

/// One result per asked resource, in the order asked. Answers are matched by their echoed
/// `resource` (case aside), whatever the order of the array; an answer without one is matched
/// by position when the array has one item per resource. Answers about nothing asked are
/// ignored; a resource nothing answered is [`Error::MissingAnswer`].
fn match_answers(resources: &[Resource], answers: Vec<Answered>) -> Vec<Result<Answered, Error>> {
    let positional = answers.len() == resources.len();
    let mut slots: Vec<Option<Answered>> = vec![None; resources.len()];
    for (position, answered) in answers.into_iter().enumerate() {
        let index = match answered.answer.resource() {
            Some(echoed) => {
                let echoed = vt_model::echo_key(echoed);
                resources.iter().position(|r| r.key() == echoed)
            }
            None if positional => Some(position),
            None => None,
        };
        match index {
            Some(i) if slots[i].is_none() => slots[i] = Some(answered),
            _ => tracing::warn!(
                resource = answered.answer.resource().unwrap_or("-"),
                "ignoring an answer about a resource that was not asked"
            ),
        }
    }
    slots
        .into_iter()
        .map(|slot| slot.ok_or(Error::MissingAnswer))
        .collect()
}
