//! The connector stack under the pooled client: a timeout around (TLS around (direct TCP or a
//! CONNECT tunnel through a proxy)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::{BoxError, ErrorKind};

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// A connection failure whose kind was decided where it happened (a connect timeout, a
/// refused tunnel, an unsupported proxy scheme). The error mapper looks for it in the chain.
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    pub(crate) kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
}

impl ConnectFailure {
    fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> ConnectFailure {
        ConnectFailure {
            kind,
            message: message.into(),
            source,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Opens a TCP connection to the destination, or to a proxy with a CONNECT tunnel to the
/// destination when the proxy matcher intercepts it (for `http` and `https` alike, so a plain
/// request is never sent in absolute form to a proxy that might log its query).
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    proxies: Option<Arc<Matcher>>,
}

impl ProxyConnector {
    pub(crate) fn new(proxies: Option<Arc<Matcher>>) -> ProxyConnector {
        let mut http = HttpConnector::new();
        // The TLS layer above hands `https` URIs down; the scheme is its business.
        http.enforce_http(false);
        http.set_nodelay(true);
        ProxyConnector { http, proxies }
    }
}

impl fmt::Debug for ProxyConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConnector")
            .field("proxies", &self.proxies.is_some())
            .finish()
    }
}

/// `scheme://host:port/` with the port made explicit: the tunnel would otherwise assume 443.
fn tunnel_target(dst: &Uri) -> Result<Uri, BoxError> {
    let host = dst.host().ok_or("destination has no host")?;
    let port = match (dst.port_u16(), dst.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("https")) => 443,
        (None, _) => 80,
    };
    let scheme = dst.scheme_str().unwrap_or("http");
    Ok(format!("{scheme}://{host}:{port}/").parse::<Uri>()?)
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // `HttpConnector` is always ready; readiness is polled again below before each call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let intercept = self.proxies.as_ref().and_then(|m| m.intercept(&dst));
        let mut http = self.http.clone();
        let Some(proxy) = intercept else {
            return Box::pin(async move {
                std::future::poll_fn(|cx| http.poll_ready(cx)).await?;
                Ok(http.call(dst).await?)
            });
        };
        if proxy.uri().scheme_str() != Some("http") {
            // Matcher also accepts socks and https proxies; neither is supported here.
            let scheme = proxy.uri().scheme_str().unwrap_or("").to_owned();
            return Box::pin(async move {
                Err(ConnectFailure::new(
                    ErrorKind::Config,
                    format!("unsupported proxy scheme {scheme:?} (only http:// proxies)"),
                    None,
                )
                .into())
            });
        }
        let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        Box::pin(async move {
            let target = tunnel_target(&dst)?;
            std::future::poll_fn(|cx| tunnel.poll_ready(cx))
                .await
                .map_err(tunnel_failure)?;
            tunnel.call(target).await.map_err(tunnel_failure)
        })
    }
}

fn tunnel_failure(error: impl std::error::Error + Send + Sync + 'static) -> BoxError {
    // An I/O failure inside the tunnel keeps its own kind (refused, reset); a proxy that says
    // no (403, 407, 502) is a connect failure.
    let message = format!("proxy tunnel failed: {error}");
    Box::new(ConnectFailure::new(
        ErrorKind::Connect,
        message,
        Some(Box::new(error)),
    ))
}

/// Bounds the whole connect (TCP, proxy tunnel and TLS handshake) by a timeout.
#[derive(Clone, Debug)]
pub(crate) struct TimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> TimeoutConnector<C> {
    pub(crate) fn new(inner: C, timeout: Duration) -> TimeoutConnector<C> {
        TimeoutConnector { inner, timeout }
    }
}

impl<C> Service<Uri> for TimeoutConnector<C>
where
    C: Service<Uri>,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(ConnectFailure::new(
                    ErrorKind::Timeout,
                    format!("connect took longer than {timeout:?}"),
                    None,
                )
                .into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tunnel_target;

    #[test]
    fn tunnel_target_makes_the_port_explicit() {
        let check = |dst: &str, want: &str| {
            let got = tunnel_target(&dst.parse().unwrap()).unwrap();
            assert_eq!(got.to_string(), want, "for {dst}");
        };
        check("http://example.com/x?y", "http://example.com:80/");
        check("https://example.com/x", "https://example.com:443/");
        check("http://127.0.0.1:8080/", "http://127.0.0.1:8080/");
        check("https://[::1]/", "https://[::1]:443/");
    }
}
