//! The HTTP transport of `vt`: the [`Transport`] trait, which sends an
//! `http::Request<Bytes>` and returns the whole `http::Response<Bytes>`, and its backends.
//!
//! A transport knows nothing of VirusTotal and never interprets a status code: a 204 or a 403
//! is an `Ok` response, for `vt-api` to read. It is responsible for connecting, TLS, proxies,
//! connection reuse, timeouts and the cap on the size of a response; its failures are this
//! crate's one [`Error`] type, whose predicates ([`Error::is_timeout`], [`Error::is_connect`],
//! ...) are what a caller's retry policy decides on.
//!
//! Any HTTP client can be a backend: implement [`Transport`] for it.
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

mod error;
#[cfg(feature = "test-util")]
mod replay;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use error::{BoxError, Error, ErrorKind};
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
