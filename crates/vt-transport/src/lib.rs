//! The HTTP transport of `vt`: the [`Transport`] trait, which sends an
//! `http::Request<Bytes>` and returns the whole `http::Response<Bytes>`, and its backends.
//!
//! A transport knows nothing of VirusTotal and never interprets a status code: a 204 or a 403
//! is an `Ok` response, for `vt-api` (its user) to read. It is responsible for connecting, TLS,
//! proxies, connection reuse, timeouts and the cap on the size of a response; its failures are
//! this crate's one [`Error`] type, whose predicates ([`Error::is_timeout`],
//! [`Error::is_connect`], [`Error::is_transient`], ...) are what a caller's retry policy
//! decides on.
//!
//! # Picking a backend
//!
//! - **`HyperTransport`** (cargo feature `hyper`, on by default): hyper 1 and hyper-util's
//!   pooled client, HTTP/1.1 and HTTP/2 by ALPN, rustls on the ring provider with Mozilla's
//!   roots (optionally the system's store and extra CA files), CONNECT proxies. Defaults:
//!   10 s to connect, 60 s per request, a 32 MiB cap on a response body
//!   (`DEFAULT_CONNECT_TIMEOUT`, `DEFAULT_REQUEST_TIMEOUT`, `DEFAULT_MAX_BODY_SIZE`). It needs a
//!   Tokio runtime. Most users want this one, through `vt-api`'s default features.
//! - **Your own**: build with `default-features = false` and the crate is the trait alone
//!   (no hyper, tokio or rustls in the tree); implement [`Transport`] for any HTTP client, and
//!   prove it with the conformance suite (feature `test-util`, module `conformance`), the
//!   same suite `HyperTransport` passes. The `vt-tests` package does this for a ureq backend.
//! - **`ReplayTransport`** (feature `test-util`): queued answers and recorded requests, for
//!   tests of the layers above.
//!
//! # Cargo features
//!
//! - `hyper` (default): `HyperTransport`.
//! - `test-util`: `ReplayTransport` and the `conformance` suite (which runs small hyper
//!   servers on 127.0.0.1, so it brings hyper's server side and tokio, but no TLS).
//!
//! # Writing a backend
//!
//! Any HTTP client can be a backend: implement [`Transport`] for it. Return `Ok` for every
//! status, read the whole body (up to your cap), and map failures onto an [`ErrorKind`].
//!
//! ```
//! use bytes::Bytes;
//! use vt_transport::{async_trait, Error, Transport};
//!
//! /// A backend that answers every request with 204 No Content.
//! #[derive(Debug)]
//! struct AlwaysNoContent;
//!
//! #[async_trait]
//! impl Transport for AlwaysNoContent {
//!     async fn send(&self, _request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
//!         http::Response::builder()
//!             .status(204)
//!             .body(Bytes::new())
//!             .map_err(Error::invalid_request)
//!     }
//! }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "test-util")]
pub mod conformance;
mod error;
#[cfg(feature = "hyper")]
mod hyper_transport;
#[cfg(feature = "test-util")]
mod replay;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use error::{BoxError, Error, ErrorKind};
#[cfg(feature = "hyper")]
pub use hyper_transport::{
    HyperTransport, HyperTransportBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_REQUEST_TIMEOUT,
};
#[cfg(feature = "test-util")]
pub use replay::{RecordedRequest, ReplayTransport};

/// Sends one HTTP request and returns the whole response.
///
/// Implementations return `Ok` for every HTTP status; they return `Err` only when no complete
/// response was received (connection refused or reset, timeout, TLS failure, a body larger than
/// the configured cap, ...).
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `request` and reads the whole response body.
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        (**self).send(request).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        (**self).send(request).await
    }
}
