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
//! # Large bodies
//!
//! [`Transport::send`] holds whole bodies in memory, under a cap (32 MiB by default for
//! `HyperTransport`): right for JSON answers. Uploads and downloads of files go through
//! [`Transport::send_streaming`] instead: the request [`Body`] is bytes or a stream of known
//! length (`Body::from_file`, [`Multipart`] for `multipart/form-data`), the response comes
//! back as a [`BodyStream`] read chunk by chunk, and [`RequestOptions`] set this request's
//! cap, deadline and idle timeout. A transport never follows a redirect, on either call.
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
//! - `fs`: request bodies streamed from files (`Body::from_file`, `Multipart::file`), on
//!   Tokio's file I/O.
//! - `test-util`: `ReplayTransport` and the `conformance` suite (which runs small hyper
//!   servers on 127.0.0.1, so it brings hyper's server side and tokio, but no TLS).
//!
//! # Writing a backend
//!
//! Any HTTP client can be a backend: implement [`Transport`] for it. Return `Ok` for every
//! status (do not follow redirects), read the whole body (up to your cap), and map failures
//! onto an [`ErrorKind`]. [`Transport::send_streaming`] has a default implementation over
//! `send`; override it if your client can stream.
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

mod body;
#[cfg(feature = "test-util")]
pub mod conformance;
mod error;
#[cfg(feature = "fs")]
mod fs;
#[cfg(feature = "hyper")]
mod hyper_transport;
mod multipart;
#[cfg(feature = "test-util")]
mod replay;

pub use async_trait::async_trait;
pub use body::{
    Body, BodyChunks, BodyStream, RequestOptions, DEFAULT_STREAM_BODY_CAP,
    MAX_COLLECTED_REQUEST_BODY,
};
pub use bytes::Bytes;
pub use error::{BoxError, Error, ErrorKind};
pub use futures_core::Stream;
#[cfg(feature = "hyper")]
pub use hyper_transport::{
    HyperTransport, HyperTransportBuilder, TlsTrust, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_BODY_SIZE, DEFAULT_REQUEST_TIMEOUT,
};
pub use multipart::Multipart;
#[cfg(feature = "test-util")]
pub use replay::{RecordedRequest, ReplayTransport};

/// Sends one HTTP request and returns the whole response, or streams both bodies.
///
/// Implementations return `Ok` for every HTTP status, redirects included (a transport never
/// follows a redirect: whoever reads the status decides); they return `Err` only when no
/// complete response was received (connection refused or reset, timeout, TLS failure, a body
/// larger than the configured cap, ...).
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `request` and reads the whole response body.
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error>;

    /// Sends `request`, whose body may be a stream of known length ([`Body`]), and returns
    /// the response as soon as its head has arrived, its body to be read chunk by chunk
    /// ([`BodyStream`]) under `options`: the cap on the body, the deadline of the whole
    /// exchange and the idle timeout between chunks (see [`RequestOptions`]). `Ok` for every
    /// status, as [`send`](Self::send); a redirect is not followed.
    ///
    /// The default implementation, for backends that only implement `send`, collects a
    /// streamed request body into memory (up to [`MAX_COLLECTED_REQUEST_BODY`]; past it,
    /// [`ErrorKind::InvalidRequest`]), calls `send`, and hands the whole response body back
    /// as one chunk, checked against the options' cap. The backend's own cap and timeout
    /// still apply, and the options' deadline and idle timeout are not enforced (it has no
    /// timer). `HyperTransport` overrides it: both bodies are streamed, in bounded memory.
    ///
    /// ```no_run
    /// # async fn example(transport: &dyn vt_transport::Transport) -> Result<(), vt_transport::Error> {
    /// use std::time::Duration;
    /// use vt_transport::{Body, RequestOptions};
    ///
    /// let request = http::Request::get("https://files.example/sample")
    ///     .body(Body::empty())
    ///     .expect("a valid request");
    /// let options = RequestOptions::new()
    ///     .with_max_body_size(Some(700 * 1024 * 1024))
    ///     .with_deadline(Duration::from_secs(3600))
    ///     .with_idle_timeout(Duration::from_secs(60));
    /// let response = transport.send_streaming(request, &options).await?;
    /// let mut body = response.into_body();
    /// let mut received = 0;
    /// while let Some(chunk) = body.next_chunk().await {
    ///     received += chunk?.len(); // write it to a file, hash it...
    /// }
    /// # let _ = received;
    /// # Ok(())
    /// # }
    /// ```
    async fn send_streaming(
        &self,
        request: http::Request<Body>,
        options: &RequestOptions,
    ) -> Result<http::Response<BodyStream>, Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect(MAX_COLLECTED_REQUEST_BODY).await?;
        let response = self.send(http::Request::from_parts(parts, body)).await?;
        let (parts, body) = response.into_parts();
        if let Some(cap) = options.max_body_size() {
            if body.len() as u64 > cap {
                return Err(Error::over_cap(cap));
            }
        }
        Ok(http::Response::from_parts(
            parts,
            BodyStream::from_bytes(body),
        ))
    }
}

/// `Arc<T>` and `Box<T>` are transports that forward both calls to `T` (so that a backend's
/// own `send_streaming` is not replaced by the default).
macro_rules! forward_transport {
    ($($pointer:ty),*) => {$(
        #[async_trait]
        impl<T: Transport + ?Sized> Transport for $pointer {
            async fn send(
                &self,
                request: http::Request<Bytes>,
            ) -> Result<http::Response<Bytes>, Error> {
                (**self).send(request).await
            }

            async fn send_streaming(
                &self,
                request: http::Request<Body>,
                options: &RequestOptions,
            ) -> Result<http::Response<BodyStream>, Error> {
                (**self).send_streaming(request, options).await
            }
        }
    )*};
}

forward_transport!(std::sync::Arc<T>, Box<T>);
