//! Setting a gateway up and serving it: the upstream client (vt-api, with the store's quota
//! ledger), the lanes, the audit writer, and the HTTP side (vt-server, shared with
//! vt-emulator).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use vt_api::{ApiKey, Client, RetryPolicy, Tier};
use vt_server::{reply, routes, Abort, Body, Limits, Listener, Received, Serving, Spool};

use crate::audit::AuditLog;
use crate::hot::HotAnswers;
use crate::lane::{Freshness, LaneSetup};
use crate::metrics::Metrics;
use crate::service::{Asked, Reply, Service, Settings};
use crate::{Error, Store};

/// The path of the health check.
pub const HEALTH_PATH: &str = "/_gateway/health";
/// The path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";
/// The header that says where a lookup's answers came from: `hit`, `miss`, `mixed`, `stale`.
pub const CACHE_HEADER: &str = "x-vt-gateway-cache";
/// [`CACHE_HEADER`] as a header name made once (from a `&str`, every reply parsed it again).
const CACHE_HEADER_NAME: http::HeaderName = http::HeaderName::from_static(CACHE_HEADER);
/// The default memory for recent answers in front of the store, in bytes.
pub const DEFAULT_MEMORY_CACHE: usize = 64 << 20;

/// A gateway, to set up with [`Gateway::builder`].
#[derive(Debug)]
pub struct Gateway;

impl Gateway {
    /// A gateway in front of the service at `upstream` (its v2 base URL), holding `key`, with
    /// its tokens, cache, ledger and audit in `store`.
    pub fn builder(upstream: &str, key: ApiKey, store: Store) -> GatewayBuilder {
        GatewayBuilder {
            upstream: upstream.to_owned(),
            key,
            store,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tier: Tier::Public,
            window: Duration::from_millis(200),
            max_age: Duration::from_secs(24 * 60 * 60),
            max_age_not_found: Duration::from_secs(60 * 60),
            max_quota_wait: Duration::from_secs(10),
            per_minute: None,
            per_day: None,
            memory_cache: DEFAULT_MEMORY_CACHE,
            tls: None,
        }
    }
}

/// How a gateway is set up; [`GatewayBuilder::start`] serves it.
#[derive(Debug)]
pub struct GatewayBuilder {
    upstream: String,
    key: ApiKey,
    store: Store,
    listen: SocketAddr,
    tier: Tier,
    window: Duration,
    max_age: Duration,
    max_age_not_found: Duration,
    max_quota_wait: Duration,
    per_minute: Option<u32>,
    per_day: Option<u32>,
    memory_cache: usize,
    tls: Option<(PathBuf, PathBuf)>,
}

impl GatewayBuilder {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The key's tier: its quota and batch size (default public).
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// How long a lookup waits for others to share its upstream batch (default 200 ms).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long found answers, and other final answers, are served from the cache (default
    /// 24 hours and 1 hour).
    pub fn max_age(mut self, found: Duration, not_found: Duration) -> Self {
        self.max_age = found;
        self.max_age_not_found = not_found;
        self
    }

    /// A request that would wait longer for the key's quota is answered 204 (or stale) at
    /// once (default 10 s).
    pub fn max_quota_wait(mut self, wait: Duration) -> Self {
        self.max_quota_wait = wait;
        self
    }

    /// Overrides the tier's requests per minute.
    pub fn per_minute(mut self, n: Option<u32>) -> Self {
        self.per_minute = n;
        self
    }

    /// Overrides the tier's requests per day.
    pub fn per_day(mut self, n: Option<u32>) -> Self {
        self.per_day = n;
        self
    }

    /// How many bytes of recent answers are kept in memory in front of the store (default
    /// [`DEFAULT_MEMORY_CACHE`], 64 MiB; 0 for none). A hit found there costs no store query;
    /// the store is read again for an answer held there for a minute.
    pub fn memory_cache(mut self, bytes: usize) -> Self {
        self.memory_cache = bytes;
        self
    }

    /// Serves HTTPS with this certificate chain and key (PEM files).
    pub fn tls(mut self, cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert_chain.into(), key.into()));
        self
    }

    /// Binds and serves in the background on the current tokio runtime.
    pub async fn start(self) -> Result<RunningGateway, Error> {
        let metrics = Arc::new(Metrics::default());
        let mut limits = self.tier.limits();
        if self.per_minute.is_some() {
            limits = limits.with_per_minute(self.per_minute);
        }
        if self.per_day.is_some() {
            limits = limits.with_per_day(self.per_day);
        }
        let observed = Arc::clone(&metrics);
        let builder = Client::builder(self.key)
            .base_url(&self.upstream)
            .tier(self.tier)
            .limits(limits)
            .retry_policy(upstream_retries(self.max_quota_wait))
            .observer(move |event| observed.event(event));
        let client = self
            .store
            .configure_ledger(builder)
            .build()
            .map_err(|e| Error::Upstream(e.to_string()))?;
        let (audit, audit_writer) = AuditLog::start(self.store.clone());
        let setup = LaneSetup {
            client: client.clone(),
            store: self.store.clone(),
            metrics: Arc::clone(&metrics),
            upstream: self.upstream.clone(),
            window: self.window,
            batch_size: limits.batch_size,
            hot: Arc::new(HotAnswers::new(self.memory_cache)),
        };
        let service = Arc::new(Service::new(
            self.store.clone(),
            client,
            metrics,
            Settings {
                tier: self.tier,
                freshness: Freshness {
                    found: self.max_age,
                    other: self.max_age_not_found,
                },
                per_minute: limits.per_minute,
            },
            audit,
            &setup,
        ));
        let spool = Arc::new(
            Spool::new("vt-gateway-upload-").map_err(|e| Error::io("the upload folder", e))?,
        );
        let mut listener = Listener::bind(self.listen)
            .await
            .map_err(|e| Error::io(self.listen.to_string(), e))?;
        if let Some((cert, key)) = &self.tls {
            let config = vt_server::TlsConfig::from_pem_files(cert, key)
                .map_err(|e| Error::config(format!("TLS: {e}")))?;
            listener = listener.tls(config);
        }
        let handler_service = Arc::clone(&service);
        let serving = listener
            .serve(
                move |request, _peer| {
                    let (service, spool) = (Arc::clone(&handler_service), Arc::clone(&spool));
                    async move { handle(&service, &spool, request).await }
                },
                Limits::default(),
            )
            .map_err(|e| Error::config(e.to_string()))?;
        tracing::info!(
            url = serving.url(),
            upstream = %vt_api::CacheScope::new(&self.upstream, "", "").service(),
            store = service.store.kind(),
            "serving"
        );
        Ok(RunningGateway {
            serving,
            service,
            audit_writer,
        })
    }
}

/// How the gateway retries upstream: briefly (its clients are waiting, and retry on their
/// own), never waiting longer than `max_quota_wait` for the quota.
fn upstream_retries(max_quota_wait: Duration) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(200), Duration::from_secs(2))
        .with_max_quota_wait(Some(max_quota_wait))
}

/// A serving gateway.
#[derive(Debug)]
pub struct RunningGateway {
    serving: Serving,
    service: Arc<Service>,
    audit_writer: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    /// The v2 base URL clients use: `http://HOST:PORT/vtapi/v2/` (`https` with TLS).
    pub fn url(&self) -> String {
        self.serving.url().to_owned()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Stops taking requests, lets those in flight finish, writes the audit entries still
    /// queued, and returns.
    pub async fn shutdown(self) {
        self.serving.shutdown().await;
        // The service's audit log is the writer's last sender: once dropped, the writer
        // writes what is queued and ends.
        drop(self.service);
        let _ = self.audit_writer.await;
    }
}

/// One HTTP request: the operations paths, then the v2 routes (405, 413, 404 as the service
/// answers them), then the service.
async fn handle(
    service: &Service,
    spool: &Spool,
    request: vt_server::Request,
) -> Result<Response<Body>, Abort> {
    let path = request.uri().path();
    if path == HEALTH_PATH {
        return Ok(health(service).await);
    }
    if path == METRICS_PATH {
        let status = service.client.quota_status().await;
        let text = service.metrics.render(status.used_today, status.per_day);
        let mut response = Response::new(Body::from(Bytes::from(text)));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return Ok(response);
    }
    let Some(index) = routes::endpoint(path) else {
        return Ok(reply::empty(StatusCode::NOT_FOUND));
    };
    let route = &routes::ROUTES[index];
    let gzip = reply::accepts_gzip(request.headers());
    let received = match Received::read(request, route, Some(spool)).await {
        Ok(received) => received,
        Err(refusal) => return refusal.reply(),
    };
    let params = received.params();
    let asked = Asked {
        route: index,
        file: params.upload().map(|upload| upload.path()),
        needs_private: route.needs_private(&params),
        params,
    };
    let reply = service.answer(&asked).await;
    Ok(respond(reply, gzip))
}

fn respond(reply: Reply, gzip: bool) -> Response<Body> {
    match reply {
        Reply::Json(body, source) => {
            let mut response = reply::json(body, gzip);
            let headers = response.headers_mut();
            headers.insert(CACHE_HEADER_NAME, HeaderValue::from_static(source.as_str()));
            if source == crate::service::Source::Stale {
                headers.insert(
                    http::header::WARNING,
                    HeaderValue::from_static("110 vt-gateway \"Response is Stale\""),
                );
            }
            response
        }
        Reply::NoContent => reply::empty(StatusCode::NO_CONTENT),
        Reply::DailyLimit => {
            let mut response = reply::empty(StatusCode::NO_CONTENT);
            response.headers_mut().insert(
                vt_api::GATEWAY_LIMIT_HEADER,
                HeaderValue::from_static("per-day"),
            );
            response
        }
        Reply::Forbidden => reply::empty(StatusCode::FORBIDDEN),
        Reply::NotFound => reply::empty(StatusCode::NOT_FOUND),
        Reply::Unavailable(why) => {
            let mut response = Response::new(Body::from(Bytes::from(why)));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Reply::Relayed(relayed) => {
            let (status, headers, body) = relayed.into_parts();
            let mut response = Response::new(Body::from_stream(body.map_err(|e| e.to_string())));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
    }
}

async fn health(service: &Service) -> Response<Body> {
    let store = service.store.check().await;
    let body = serde_json::json!({
        "status": if store.is_ok() { "ok" } else { "degraded" },
        "store": service.store.kind(),
        "store_ok": store.is_ok(),
    });
    let mut response = reply::json(Bytes::from(body.to_string()), false);
    if store.is_err() {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}
