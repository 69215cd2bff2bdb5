//! The HTTP transport of `vt`: a `Transport` trait that sends an `http::Request` and returns
//! the `http::Response`, whatever its status, and a hyper + rustls implementation of it.
//!
//! It knows nothing of VirusTotal and never interprets a status code: that is `vt-api`'s job.
//! The trait and its implementations arrive with issue #4; this crate holds only its docs until
//! then.
#![deny(missing_docs)]
