//! `vt-server`: the server side of the VirusTotal API v2 wire, for servers that speak it to v2
//! clients: `vt-emulator` (a local stand-in for the service) and a gateway in front of it.
//! It knows the wire, not what a server answers: keys, quotas and data are the server's own.
//!
//! - **Serving**: [`Listener::bind`], then [`Listener::serve`] with a [`Handler`] (any
//!   `async` closure of the [`Request`] and the client's address) under [`Limits`] (open
//!   connections, header and request timeouts); [`Serving::shutdown`] stops it gracefully.
//!   With the `tls` feature, `Listener::tls` serves HTTPS (`TlsConfig`, rustls on ring).
//! - **The route table**: [`routes`] holds every v2 endpoint as wire facts ([`Route`]: its
//!   methods, body cap, private-only, private parameters, file part); a [`Router`] attaches
//!   the server's own value to each route it serves.
//! - **Parameters**: [`Received::read`] reads a request under its route's rules (405, 413, a
//!   multipart body as it arrives, its file part into a [`Spool`], hashed on the way), and
//!   [`Received::params`] gives the [`Params`] (query, then body, in order).
//! - **Answers**: [`reply`] writes the service's bytes and headers (the 204, the 403 and other
//!   error pages, JSON gzipped on request, and the batch form), as a [`Body`] of bytes or of
//!   a stream of chunks.
//!
//! It depends on no other crate of the workspace.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use http::StatusCode;
//! use vt_server::{reply, routes, Limits, Listener, Received, Router};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vt_server::Error> {
//! // The routes served, each with what this server does there (here, nothing but a name).
//! let router = Arc::new(Router::new([(routes::FILE_REPORT, "report")])?);
//! let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
//! let url = listener.url(); // http://127.0.0.1:PORT/vtapi/v2/
//! let serving = listener.serve(
//!     move |request: vt_server::Request, _peer: SocketAddr| {
//!         let router = Arc::clone(&router);
//!         async move {
//!             let gzip = reply::accepts_gzip(request.headers());
//!             let Some((route, _name)) = router.find(request.uri().path()) else {
//!                 return Ok(reply::empty(StatusCode::NOT_FOUND));
//!             };
//!             // 405, 413 (and 400/500 for a multipart body) answered here.
//!             let received = match Received::read(request, route, None).await {
//!                 Ok(received) => received,
//!                 Err(refusal) => return refusal.reply(),
//!             };
//!             let params = received.params();
//!             if params.first("apikey") != Some("team-token") {
//!                 return Ok(reply::empty(StatusCode::FORBIDDEN));
//!             }
//!             if route.needs_private(&params) {
//!                 return Ok(reply::empty(StatusCode::NO_CONTENT)); // the quota's 204
//!             }
//!             // Answers held as bytes, joined as the service joins a batch.
//!             let items = vec![
//!                 Bytes::from_static(br#"{"response_code": 0}"#),
//!                 Bytes::from_static(br#"{"response_code": 1}"#),
//!             ];
//!             Ok(reply::json(reply::batch(items), gzip))
//!         }
//!     },
//!     Limits::default(),
//! )?;
//! assert!(url.starts_with("http://127.0.0.1:"));
//! serving.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod body;
mod error;
mod hashes;
mod multipart;
mod params;
mod receive;
pub mod reply;
pub mod routes;
mod serve;
#[cfg(feature = "tls")]
mod tls;
mod uploads;

pub use body::{Body, BodyData};
pub use error::{BoxError, Error};
pub use hashes::{FileHasher, FileHashes};
pub use hyper::body::Incoming;
pub use params::{is_form_urlencoded, is_on, Params};
pub use receive::{Received, Refusal};
pub use routes::{Methods, Route, Router};
pub use serve::{
    Abort, Handler, Limits, Listener, Request, Serving, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT,
};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use uploads::{Spool, Upload};
