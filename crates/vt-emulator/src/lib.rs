//! `vt-emulator`: a local server that speaks the VirusTotal API v2 wire protocol (quotas,
//! 204/403, batches, injected faults) for tests, benchmarks, demos, and users' own integration
//! tests, with no network and no API key.
//!
//! The server arrives with issue #3; this crate holds only its docs until then.
#![deny(missing_docs)]
