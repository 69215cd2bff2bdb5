//! `vt-emulator`: a local server that speaks the VirusTotal API v2 wire protocol of
//! `/file/report` (reports and their public view, batches, quotas answered 204, 400/403,
//! queued and invalid resources, injected faults), `/url/scan` and `/url/report` (submitted
//! URLs analysed after a delay), `/domain/report` and `/ip-address/report`, the file workflow
//! (`/file/scan`, `/file/rescan`, `/file/download`, ...), `/file/behaviour`, `/file/clusters`,
//! `/file/search` (a subset of the query language) and the comments, for tests,
//! benchmarks, demos, and users' own integration tests, with no network and no real API key.
//!
//! It sits beside the rest of the workspace and depends on `vt-model` and `vt-server` only:
//! reports are read and validated with [`vt_model::decode_body`], resources with
//! [`vt_model::Resource`]; the server side of the wire (serving, the route table's facts,
//! parameters, the service's answer bytes) is `vt-server`'s. It knows nothing of `vt-api` or
//! `vt-transport`; a client under test reaches it over HTTP like the real service.
//!
//! - [`Emulator::builder`] sets it up (keys and tiers, quotas, batch limits, queued
//!   resources, faults, a [`Clock`] for the quota windows and the URL analyses) and [`EmulatorBuilder::start`]
//!   serves on a loopback port in the background: a [`RunningEmulator`] gives its
//!   [`url`](RunningEmulator::url), its [`stats`](RunningEmulator::stats), and
//!   [`shutdown`](RunningEmulator::shutdown).
//! - [`Dataset`] holds the reports (file and URL reports, domain and IP address answers), each
//!   kept as the text loaded (its key order, its values as written) with the service's
//!   separators (`", "`, `": "`); an answer is that text with the echoed `resource` put back
//!   in its place.
//! - The `vt-emulator` binary is the same server behind the command line documented in
//!   `docs/emulator.md`.
//!
//! ```
//! use vt_emulator::{Emulator, KeySpec, Tier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vt_emulator::Error> {
//! let emulator = Emulator::builder()
//!     .key(KeySpec::new("my-test-key", Tier::Private)?)
//!     .start()
//!     .await?;
//! assert!(emulator.url().starts_with("http://127.0.0.1:"));
//! assert!(emulator.url().ends_with("/vtapi/v2/"));
//! // Point the client under test at `emulator.url()`, then:
//! assert_eq!(emulator.stats().requests, 0);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod chunks;
mod clock;
mod comments;
mod dataset;
mod domain_report;
mod error;
mod faults;
mod file_bytes;
mod file_report;
mod file_rescan;
mod file_scan;
mod files;
mod hashes;
mod index;
mod ip_report;
mod json_text;
mod keys;
mod quota;
mod router;
mod search;
mod server;
mod sites;
mod stats;
mod stored_answers;
mod synthetic;
mod url_report;
mod url_scan;
mod urls;
mod wire;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dataset::{Dataset, DEFAULT_MAX_DATA_FILE_SIZE};
pub use error::{BoxError, Error};
pub use faults::{Fault, FaultKind};
pub use keys::{KeySpec, Tier};
pub use quota::QuotaUnit;
pub use server::{Emulator, EmulatorBuilder, RunningEmulator, RESET_PATH, STATS_PATH};
pub use stats::Stats;
pub use synthetic::{ServiceReport, Synthetic, SOAK_FAULTS};
/// A certificate and key to serve HTTPS with ([`EmulatorBuilder::tls`]), vt-server's.
#[cfg(feature = "tls")]
pub use vt_server::TlsConfig;
/// The connection limits' defaults, vt-server's.
pub use vt_server::{DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT};
