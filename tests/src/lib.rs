//! End-to-end tests of `vt` across crates (not published). Test files live in `tests/tests/`;
//! this library holds what they share.
//!
//! # A second transport backend
//!
//! [`UreqTransport`] implements [`vt_transport::Transport`] over `ureq` (blocking, plain
//! `http://` only, run on Tokio's blocking pool). It exists to prove that backends really swap:
//! `tests/ureq_backend.rs` runs it through the same conformance suite
//! (`vt_transport::conformance`) as `HyperTransport`, which lives in vt-transport's own
//! `tests/hyper_conformance.rs`. It is deliberately small: no TLS, no proxy.

use std::time::Duration;

use bytes::Bytes;
use vt_transport::{async_trait, Error, ErrorKind, Transport};

/// A [`Transport`] over a `ureq` agent: plain `http://`, connection reuse, a connect timeout, a
/// whole-request timeout and a cap on the response body.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_body_size: usize,
}

impl UreqTransport {
    /// A transport with these bounds. It ignores proxy variables: this backend is for
    /// loopback tests.
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
        max_body_size: usize,
    ) -> UreqTransport {
        let agent = ureq::Agent::config_builder()
            // A 403 or 500 is an `Ok` response for a `Transport`.
            .http_status_as_error(false)
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(request_timeout))
            .proxy(None)
            .build()
            .new_agent();
        UreqTransport {
            agent,
            max_body_size,
        }
    }
}

#[async_trait]
impl Transport for UreqTransport {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        let agent = self.agent.clone();
        let cap = self.max_body_size;
        tokio::task::spawn_blocking(move || send_blocking(&agent, request, cap))
            .await
            .map_err(|e| Error::new(ErrorKind::Other, e))?
    }
}

fn send_blocking(
    agent: &ureq::Agent,
    request: http::Request<Bytes>,
    cap: usize,
) -> Result<http::Response<Bytes>, Error> {
    if request.uri().scheme_str() != Some("http") {
        return Err(Error::with_detail(
            ErrorKind::InvalidRequest,
            "this backend speaks plain http:// only",
        ));
    }
    let request = request.map(|body| body.to_vec());
    let response = agent.run(request).map_err(map_error)?;
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(cap as u64)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => Error::body_too_large(cap),
            other => map_error(other),
        })?;
    Ok(http::Response::from_parts(parts, Bytes::from(bytes)))
}

fn map_error(error: ureq::Error) -> Error {
    use std::io::ErrorKind as Io;
    let kind = match &error {
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => ErrorKind::Connect,
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused | Io::AddrNotAvailable | Io::NotFound => ErrorKind::Connect,
            Io::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        },
        ureq::Error::BodyExceedsLimit(_) => ErrorKind::BodyTooLarge,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => ErrorKind::InvalidRequest,
        // A connection closed before a complete response: ureq-proto reports a body cut short
        // as a protocol error.
        ureq::Error::Protocol(_) => ErrorKind::Io,
        _ => ErrorKind::Other,
    };
    Error::new(kind, error)
}
