//! A lossless, typed model of the VirusTotal API v2 responses: `/file/report`, `url/report`,
//! `url/scan`, `domain/report` and `ip-address/report`.
//!
//! `vt-model` is the bottom of the `vt` workspace: wire types and nothing else. It does no I/O,
//! has no async, and knows nothing of HTTP; `vt-api` sends the requests and uses these types to
//! read the answers, `vt-emulator` uses them to load and serve reports.
//!
//! - [`Resource`]: what a user asks about (MD5, SHA-1, SHA-256 or scan_id), validated strictly;
//!   [`Url`], [`Domain`] and [`IpAddress`] for the other lookups, as strict.
//! - [`Answer`]: the shape every lookup-style v2 answer shares (found with the endpoint's
//!   typed [`Report`], not found, queued, invalid, or a `response_code` the model does not know,
//!   kept whole); [`FileReportAnswer`] is `Answer<FileReport>`.
//! - The reports: [`FileReport`], [`UrlReport`] (and the [`UrlScan`] receipt), [`DomainReport`]
//!   and [`IpReport`], the last two sharing [`Resolution`], [`DetectedUrl`] and [`Sample`].
//! - [`Query`]: what users ask about ([`Resource`] for file reports, [`Url`], [`Domain`],
//!   [`IpAddress`]), with its wire text and the key answers are matched by (hashes whatever
//!   their case, URLs exactly, domains in lower case).
//! - [`scan_body`] and [`RawAnswer`]: answers kept as the bytes the service sent, their
//!   `response_code` and echo read by a fast scan that checks the JSON, the typed view decoded
//!   only on demand.
//! - [`decode_body`]: a response body, one object or a batch array, decoded whole.
//! - Lossless: every key the model does not know is kept in the `extra` map of the object it
//!   was found in, so encoding a decoded body gives the same JSON value back.
//! - Errors are one type, [`Error`]; a body that does not decode says where and why
//!   ([`DecodeError`]: JSON path, line and column, an excerpt of the body).
//!
//! ```
//! use vt_model::{decode_body, FileReportAnswer};
//!
//! let body = br#"{"response_code": 1, "verbose_msg": "Scan finished, information embedded",
//!   "resource": "44d88612fea8a8f36de82e1278abb02f",
//!   "scan_id": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f-1549381312",
//!   "md5": "44d88612fea8a8f36de82e1278abb02f", "sha1": "3395856ce81f2b7382dee72602f798b642f14140",
//!   "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
//!   "scan_date": "2019-02-05 15:41:52",
//!   "permalink": "https://www.virustotal.com/file/275a021b/analysis/1549381312/",
//!   "positives": 1, "total": 2, "new_key": [1, 2],
//!   "scans": {"Bkav": {"detected": true, "version": "1.1", "result": "EICAR", "update": "20190201"},
//!             "ClamAV": {"detected": false, "version": null, "result": null, "update": "20190201"}}}"#;
//!
//! let body_value: serde_json::Value = serde_json::from_slice(body).unwrap();
//! let decoded = decode_body(body)?;
//! let answer = &decoded.answers()[0];
//! let report = answer.as_found().expect("found");
//! assert_eq!(report.detection_ratio().to_string(), "1/2");
//! assert_eq!(report.detection_names().collect::<Vec<_>>(), [("Bkav", "EICAR")]);
//! assert_eq!(report.extra["new_key"], serde_json::json!([1, 2]));
//! assert_eq!(serde_json::to_value(&decoded).unwrap(), body_value);
//! # Ok::<(), vt_model::Error>(())
//! ```
#![deny(missing_docs)]

mod allinfo;
mod answer;
mod domain;
mod error;
mod file_actions;
mod file_data;
mod file_queries;
mod ip;
mod json_scan;
mod query;
mod raw;
mod relations;
mod report;
mod resource;
mod time;
mod url;
mod wire;

pub use allinfo::{
    AdditionalInfo, BehaviourV1, DnsLookup, FilesystemActivity, HttpRequest, MutexActivity,
    MutexOperation, NetworkActivity, PathOperation, ProcessActivity, ProcessCreation, ProcessNode,
    RegistryActivity, Section,
};
pub use answer::{
    decode, decode_answer, decode_body, decode_body_spans, response_code, Answer, Body,
    FileReportAnswer, FileReportBody, Report, Status, StatusReport,
};
pub use domain::{DnsRecord, Domain, DomainReport};
pub use error::{DecodeCategory, DecodeError, Error};
pub use file_actions::{Acknowledgement, FileScan, Rescan, UploadUrl};
pub use file_data::{
    Behavior, BehaviourInfo, BehaviourReport, Cluster, Clusters, Comment, Comments, SandboxProcess,
    SearchPage,
};
pub use file_queries::{
    ClusterDate, CommentText, SearchQuery, Subject, MAX_COMMENT_BYTES, MAX_SEARCH_BYTES,
};
pub use ip::{Asn, IpAddress, IpReport};
pub use query::{Identifiers, Query};
pub use raw::{scan_body, scan_items, ItemScan, RawAnswer, ScanItems};
pub use relations::{DetectedUrl, Resolution, Sample, SampleRelation};
pub use report::{DetectionRatio, FileReport, ScanResult, Scans};
pub use resource::{echo_key, Resource, ResourceKind};
pub use time::{UnixTime, UpdateDate, UtcTimestamp};
pub use url::{Url, UrlReport, UrlScan, UrlScanResult, UrlVerdicts, MAX_URL_BYTES};
pub use wire::Extra;
#[doc(hidden)]
pub use wire::Partial;
