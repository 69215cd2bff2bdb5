//! The VirusTotal API v2 client of `vt`: typed calls, batching, quota pacing, retries and typed
//! errors, over any `vt-transport` backend, with the wire types of `vt-model`.
//!
//! It exposes no hyper or tokio types. The client arrives with issue #4; this crate holds only
//! its docs until then.
#![deny(missing_docs)]
