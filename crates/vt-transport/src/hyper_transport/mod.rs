//! [`HyperTransport`]: hyper 1 and hyper-util's pooled client over rustls (ring provider).

mod connect;
mod errors;
mod proxy;
mod streaming;
mod trust;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use self::connect::{ProxyConnector, TimeoutConnector};
use self::streaming::{deadline_error, Download, OutBody};
pub use self::trust::TlsTrust;
use crate::{async_trait, Body, BodyStream, Error, RequestOptions, Transport};

/// The default bound on establishing a connection (TCP, proxy tunnel and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound on a whole request, from sending it to the last byte of the response.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The default cap on a response body: 32 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 32 * 1024 * 1024;

type Connector = TimeoutConnector<HttpsConnector<ProxyConnector>>;

/// The default [`Transport`]: hyper 1 with hyper-util's pooled client, HTTP/1.1 and HTTP/2
/// (chosen by ALPN), rustls with the ring provider.
///
/// - Connections are kept alive and reused, per scheme, host and port.
/// - `https` certificates are always verified, against Mozilla's roots (webpki-roots) by
///   default, optionally the system's store and extra CA certificates (a TLS-inspecting
///   corporate proxy). There is no way to turn verification off.
/// - Plain `http` works too (a local emulator).
/// - Proxies are reached through a CONNECT tunnel, for `http` and `https` destinations alike.
///   The environment (`HTTPS_PROXY`, ...) is read only if [`proxy_from_env`] asks for it.
/// - Timeouts: [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_REQUEST_TIMEOUT`]; a response body
///   larger than [`DEFAULT_MAX_BODY_SIZE`] fails with [`Error::is_body_too_large`], and is
///   read incrementally, so memory stays bounded by the cap whatever the server sends.
///
/// It must be used inside a Tokio runtime with time and I/O enabled. Cloning is cheap and
/// clones share the connection pool.
///
/// ```no_run
/// # async fn example() -> Result<(), vt_transport::Error> {
/// use std::time::Duration;
/// use vt_transport::{Bytes, HyperTransport, Transport};
///
/// let transport = HyperTransport::builder()
///     .request_timeout(Duration::from_secs(30))
///     .extra_ca_pem_file("/etc/ssl/corporate-ca.pem")
///     .proxy_from_env(true)
///     .build()?;
/// let request = http::Request::get("https://www.virustotal.com/vtapi/v2/")
///     .body(Bytes::new())
///     .expect("a valid request");
/// let response = transport.send(request).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
///
/// [`proxy_from_env`]: HyperTransportBuilder::proxy_from_env
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<Connector, OutBody>,
    proxies: Option<Arc<Matcher>>,
    request_timeout: Duration,
    max_body_size: usize,
    summary: Arc<str>,
}

impl HyperTransport {
    /// A transport with the default settings (see [`HyperTransportBuilder`]).
    pub fn new() -> Result<HyperTransport, Error> {
        HyperTransport::builder().build()
    }

    /// A builder, to change the defaults.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// The proxy a request to `uri` goes through, if any, as `scheme://host:port` (without
    /// a user name or password), so that a caller can say where its data travels: a plain
    /// `http://` request is readable by the proxy, whatever its destination.
    ///
    /// ```
    /// let transport = vt_transport::HyperTransport::builder()
    ///     .proxy(Some("http://user:secret@proxy.example:3128".parse().unwrap()))
    ///     .no_proxy(Some("localhost".to_owned()))
    ///     .build()
    ///     .unwrap();
    /// let via = transport.proxy_for(&"http://vt.example/vtapi/v2/".parse().unwrap());
    /// assert_eq!(via.as_deref(), Some("http://proxy.example:3128"));
    /// assert_eq!(transport.proxy_for(&"http://localhost:8080/".parse().unwrap()), None);
    /// ```
    pub fn proxy_for(&self, uri: &http::Uri) -> Option<String> {
        let intercept = self.proxies.as_ref()?.intercept(uri)?;
        Some(proxy::redacted(intercept.uri()))
    }

    async fn send_inner(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        let response = self
            .client
            .request(request.map(|body| OutBody::Full(Full::new(body))))
            .await
            .map_err(|e| errors::map(e, errors::Stage::Request))?;
        let (parts, mut body) = response.into_parts();
        let cap = self.max_body_size;
        let announced = announced_length(&parts.headers);
        if announced.is_some_and(|len| len > cap as u64) {
            return Err(Error::body_too_large(cap));
        }
        // Read frame by frame and stop as soon as the cap is passed: memory stays bounded
        // whatever the server sends. The announced length only sizes the buffer.
        let capacity = announced.map_or(0, |len| len as usize);
        let mut buffer = BytesMut::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| errors::map(e, errors::Stage::Body))?;
            if let Ok(data) = frame.into_data() {
                if data.len() > cap - buffer.len() {
                    return Err(Error::body_too_large(cap));
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(http::Response::from_parts(parts, buffer.freeze()))
    }
}

/// The response's `Content-Length`, if it has a valid one.
fn announced_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Refuses a URI that is not absolute `http://` or `https://` (without quoting it: its query
/// may hold a key).
fn check_uri(uri: &http::Uri) -> Result<(), Error> {
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(Error::with_detail(
            crate::ErrorKind::InvalidRequest,
            "the URI must be absolute, http:// or https://",
        )),
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("request_timeout", &self.request_timeout)
            .field("max_body_size", &self.max_body_size)
            .field("config", &self.summary)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for HyperTransport {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        check_uri(request.uri())?;
        let timeout = self.request_timeout;
        match tokio::time::timeout(timeout, self.send_inner(request)).await {
            Ok(result) => result,
            Err(_) => Err(deadline_error(timeout)),
        }
    }

    /// Streams both bodies: the request's chunks are read as hyper writes them, the
    /// response's frames are handed on as they arrive, counted against the options' cap,
    /// with the idle timer reset at each and the deadline (the options' own, or the
    /// transport's request timeout) over the whole exchange. Memory holds a few chunks,
    /// whatever the bodies' sizes.
    async fn send_streaming(
        &self,
        request: http::Request<Body>,
        options: &RequestOptions,
    ) -> Result<http::Response<BodyStream>, Error> {
        check_uri(request.uri())?;
        let total = options.deadline().unwrap_or(self.request_timeout);
        // A deadline too far to be represented is none.
        let deadline = tokio::time::Instant::now().checked_add(total);
        let (mut parts, body) = request.into_parts();
        let body = match body.try_into_bytes() {
            Ok(bytes) => OutBody::Full(Full::new(bytes)),
            Err(body) => {
                // The body's length, whatever header the caller set: hyper would otherwise
                // fail a mismatch only once the body is sent.
                parts.headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(body.length()),
                );
                OutBody::Stream(body.into_chunks())
            }
        };
        let sending = self.client.request(http::Request::from_parts(parts, body));
        let response = match deadline {
            Some(at) => tokio::time::timeout_at(at, sending)
                .await
                .map_err(|_| deadline_error(total))?,
            None => sending.await,
        }
        .map_err(|e| errors::map(e, errors::Stage::Request))?;
        let (parts, incoming) = response.into_parts();
        let cap = options.max_body_size();
        if let (Some(cap), Some(announced)) = (cap, announced_length(&parts.headers)) {
            if announced > cap {
                return Err(Error::over_cap(cap));
            }
        }
        let download = Download::new(
            incoming,
            cap,
            options.idle_timeout(),
            deadline.map(|at| (at, total)),
        );
        Ok(http::Response::from_parts(
            parts,
            BodyStream::from_stream(download),
        ))
    }
}

/// Settings for a [`HyperTransport`]; see each method for its default.
#[derive(Clone)]
#[must_use]
pub struct HyperTransportBuilder {
    connect_timeout: Duration,
    request_timeout: Duration,
    max_body_size: usize,
    proxy: Option<http::Uri>,
    no_proxy: Option<String>,
    proxy_from_env: bool,
    trust: TlsTrust,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        HyperTransportBuilder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            proxy: None,
            no_proxy: None,
            proxy_from_env: false,
            trust: TlsTrust::default(),
        }
    }
}

impl fmt::Debug for HyperTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransportBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_size", &self.max_body_size)
            // A proxy URI may carry a password: only its scheme, host and port are shown.
            .field("proxy", &self.proxy.as_ref().map(proxy::redacted))
            .field("no_proxy", &self.no_proxy)
            .field("proxy_from_env", &self.proxy_from_env)
            .field("trust", &self.trust)
            .finish()
    }
}

impl HyperTransportBuilder {
    /// Bound on establishing a connection: TCP connect, proxy tunnel and TLS handshake
    /// (default [`DEFAULT_CONNECT_TIMEOUT`], 10 s). Past it, [`Error::is_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on a whole request, connect included, until the last byte of the body (default
    /// [`DEFAULT_REQUEST_TIMEOUT`], 60 s). Past it, [`Error::is_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Cap on the size of a response body in bytes (default [`DEFAULT_MAX_BODY_SIZE`],
    /// 32 MiB). A larger body fails with [`Error::is_body_too_large`] as soon as the cap is
    /// passed (or at once, when `Content-Length` announces it).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Sends every request through this `http://` proxy (a CONNECT tunnel), whatever the
    /// environment says; `None` (the default) removes an explicit proxy. A user name and
    /// password in the URI are sent as `Proxy-Authorization: Basic`.
    pub fn proxy(mut self, proxy: Option<http::Uri>) -> Self {
        self.proxy = proxy;
        self
    }

    /// Destinations that bypass the explicit [`proxy`](Self::proxy), in `NO_PROXY` syntax:
    /// comma-separated domains (each matching its subdomains too), IP addresses, networks
    /// such as `10.0.0.0/8`, or `*` for all. Default: none.
    pub fn no_proxy(mut self, list: Option<String>) -> Self {
        self.no_proxy = list;
        self
    }

    /// When no explicit [`proxy`](Self::proxy) is set, reads the proxy from the environment
    /// at [`build`](Self::build): `HTTPS_PROXY` for `https`, `HTTP_PROXY` for `http`,
    /// `ALL_PROXY` for both, bypassed for `NO_PROXY` (upper case first, then lower case; empty
    /// values ignored; nothing is read under CGI, where `REQUEST_METHOD` is set). Default:
    /// `false`, because only applications read the environment (vt-cli turns it on).
    ///
    /// Only `http://` proxy URIs (or a bare `host:port`) are supported: a request routed to a
    /// `https://` or `socks5://` proxy fails with [`ErrorKind::Config`](crate::ErrorKind::Config).
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy_from_env = enabled;
        self
    }

    /// Trusts Mozilla's root certificates, compiled in from `webpki-roots` (default `true`).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.trust = self.trust.webpki_roots(enabled);
        self
    }

    /// Also trusts the operating system's certificate store, read at [`build`](Self::build)
    /// through `rustls-native-certs` (default `false`). [`build`](Self::build) fails if the
    /// store yields no certificate.
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.trust = self.trust.native_roots(enabled);
        self
    }

    /// Also trusts the CA certificates in this PEM file, for instance a corporate
    /// TLS-inspection CA. May be called several times. [`build`](Self::build) fails with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if the file cannot be read, is not a
    /// regular file or a pipe (a device such as `/dev/zero` is refused unread), holds more
    /// than 1 MiB, or holds no certificate.
    pub fn extra_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust = self.trust.extra_ca_pem_file(path);
        self
    }

    /// Builds the transport: loads the root certificates and reads the proxy settings.
    pub fn build(self) -> Result<HyperTransport, Error> {
        let tls = self.trust.client_config()?;
        let (proxies, proxy_summary) = self.proxies();
        let proxies = proxies.map(Arc::new);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(ProxyConnector::new(proxies.clone()));
        let connector = TimeoutConnector::new(https, self.connect_timeout);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let summary = format!(
            "connect_timeout: {:?}, proxy: {proxy_summary}, roots: {}",
            self.connect_timeout,
            self.trust.summary()
        );
        Ok(HyperTransport {
            client,
            proxies,
            request_timeout: self.request_timeout,
            max_body_size: self.max_body_size,
            summary: summary.into(),
        })
    }

    fn proxies(&self) -> (Option<Matcher>, String) {
        if let Some(uri) = &self.proxy {
            let summary = proxy::redacted(uri);
            (
                Some(proxy::explicit(uri, self.no_proxy.as_deref())),
                summary,
            )
        } else if self.proxy_from_env {
            match proxy::from_vars(proxy::env_var) {
                Some(matcher) => (Some(matcher), "environment".to_owned()),
                None => (None, "none (environment)".to_owned()),
            }
        } else {
            (None, "none".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `build` gives with `path` as an extra CA file.
    fn ca_file_error(path: &std::path::Path) -> String {
        match HyperTransport::builder().extra_ca_pem_file(path).build() {
            Ok(_) => panic!("{} was accepted as a CA file", path.display()),
            Err(error) => error.to_string(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_ca_file_that_is_a_device_is_refused_unread() {
        let error = ca_file_error(std::path::Path::new("/dev/zero"));
        assert!(error.contains("/dev/zero is not a regular file"), "{error}");
    }

    #[test]
    fn a_ca_file_over_a_mebibyte_is_refused() {
        let path = std::env::temp_dir().join(format!(
            "vt-transport-oversized-ca-{}.pem",
            std::process::id()
        ));
        std::fs::write(&path, vec![b'A'; trust::MAX_CA_FILE as usize + 1]).unwrap();
        let error = ca_file_error(&path);
        std::fs::remove_file(&path).unwrap();
        assert!(error.contains("holds more than 1048576 bytes"), "{error}");
    }
}
