//! The VirusTotal API v2 client of `vt`: typed calls, batching, quota pacing, retries and typed
//! errors, over any [`vt_transport::Transport`] backend, with the wire types of [`vt_model`].
//!
//! - One pipeline for every endpoint: an [`Endpoint`] is a description (path, method and
//!   encoding, batching, matching, caching, tier); [`Client::lookup`] asks one query and
//!   [`Client::lookups`] streams any number, through the same pacing, retries, deadlines,
//!   cache and [`Event`]s. [`FILE_REPORT`] is the first.
//! - [`Client::file_report`]: one resource.
//! - [`Client::file_reports`]: any number of resources, streamed: de-duplicated, sent in
//!   batches of the tier's size (4 public, 25 private), answers matched to questions by the
//!   `resource` they echo, several requests in flight for private keys, and exactly one
//!   [`Outcome`] per input, in input order. Answers keep the service's bytes
//!   ([`RawAnswer`]); their typed view is decoded only when asked for.
//! - A 403 for the key stops the run (every query left gets [`Error::Forbidden`] at once, and
//!   nothing more is sent); a service that cannot be reached stops it after the first
//!   request's retries ([`Error::Unreachable`]), and requests that never reached it cost no
//!   quota.
//! - Quota pacing: a public key is held to 4 requests a minute and 500 a day (both
//!   configurable), so a steady run never receives a 204 and still uses every request of the
//!   quota. A 204 anyway is waited out and retried, bounded; 5xx, timeouts and broken
//!   connections are retried with exponential backoff and jitter; 400 and 403 are not.
//!   [`RetryPolicy::max_quota_wait`] bounds the wait for the quota: past it a request fails
//!   at once ([`Error::QuotaWait`]), for a server that must answer now.
//! - A [`QuotaLedger`] shares the quota count among clients (processes sharing the cache
//!   file, or servers sharing a database), so that together they keep to the key's limits.
//! - [`Client::relay`]: any endpoint, its parameters given at run time, through the same
//!   pacing and retries, the answer returned as it came (status, headers, streamed body),
//!   for a server that passes requests through.
//! - Time comes from an injected [`Clock`] (tokio's by default), so tests run on paused time.
//! - The key is a secret ([`ApiKey`]): sent in the POST form body, never in a URL (unless GET
//!   is chosen), never in an error, a log line or `Debug` output.
//!
//! - With the `cache` feature, a persistent SQLite `Cache` of answers: a hit
//!   costs no quota, and an offline mode answers from it alone.
//!
//! It exposes no hyper or tokio types; not found and queued are answers, not errors.
#![deny(missing_docs)]

mod batch;
mod blocking;
#[cfg(feature = "cache")]
mod cache;
mod client;
mod clock;
mod config;
mod documents;
mod duration;
mod endpoint;
mod error;
mod events;
mod form;
mod key;
mod ledger;
mod matching;
mod pacing;
mod relay;
mod transfer;

pub use batch::{FileReportOutcome, FileReports, Lookups, Outcome, RepeatCounter, Repeats};
#[cfg(feature = "cache")]
pub use cache::{Cache, CacheScope, CacheStats, CachedAnswer};
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use clock::{Clock, Instant, TokioClock};
pub use config::{Limits, QuotaUnit, RequestMethod, RetryPolicy, Tier};
pub use documents::{Document, Search};
pub use duration::parse_duration;
pub use endpoint::{
    endpoint_spec, Batching, Encoding, Endpoint, EndpointSpec, Matching, Methods, Params,
    COMMENTS_GET, COMMENTS_PUT, DOMAIN_REPORT, FILE_BEHAVIOUR, FILE_CLUSTERS, FILE_DOWNLOAD,
    FILE_NETWORK_TRAFFIC, FILE_REPORT, FILE_RESCAN, FILE_RESCAN_DELETE, FILE_SCAN, FILE_SEARCH,
    IP_REPORT, URL_REPORT, URL_SCAN,
};
pub use error::{Error, TransportError, GATEWAY_LIMIT_HEADER};
pub use events::{Event, Observer};
pub use key::ApiKey;
pub use ledger::{LedgerEntry, LedgerError, QuotaDecision, QuotaLedger};
pub use pacing::{format_utc, QuotaStatus};
pub use relay::{RelayRequest, RelayResponse};
pub use transfer::{Downloaded, MAX_DIRECT_UPLOAD, MAX_UPLOAD};
/// The wire types this client decodes into, for callers who need more than the items
/// re-exported above (the `vt` command depends on vt-api alone).
pub use vt_model;
pub use vt_model::{
    Acknowledgement, Answer, BehaviourReport, ClusterDate, Clusters, CommentText, Comments, Domain,
    DomainReport, FileReport, FileReportAnswer, FileScan, IpAddress, IpReport, Query, RawAnswer,
    Report, Rescan, Resource, SearchPage, SearchQuery, Status, Subject, Url, UrlReport, UrlScan,
};
/// The transport trait and, with the `hyper` feature, `HyperTransport`, so that a caller can
/// configure the default backend without depending on vt-transport itself.
pub use vt_transport;
/// The body of a [`RelayResponse`], read chunk by chunk as it arrives.
pub use vt_transport::BodyStream;
