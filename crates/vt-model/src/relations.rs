//! What domain and IP address reports list alike: DNS resolutions, URLs seen there, and files
//! downloaded from, talking to, or pointing at the place.

use std::fmt;

use crate::report::DetectionRatio;
use crate::wire::wire_object;
use crate::UtcTimestamp;

wire_object! {
    /// One passive DNS resolution: when a domain last resolved to an address. A domain report
    /// lists addresses (`ip_address`), an IP address report lists host names (`hostname`).
    pub struct Resolution {
        /// The last time this resolution was seen; absent or null when the service gave none.
        opt last_resolved: Option<UtcTimestamp> => "last_resolved",
        /// In a domain report: the address the domain resolved to.
        opt ip_address: String => "ip_address",
        /// In an IP address report: the host name that resolved to the address.
        opt hostname: String => "hostname",
    }
}

impl Resolution {
    /// The last time this resolution was seen, when given.
    pub fn last_resolved(&self) -> Option<UtcTimestamp> {
        self.last_resolved.flatten()
    }

    /// The other end of the resolution: the address (domain reports) or the host name (IP
    /// address reports).
    pub fn target(&self) -> Option<&str> {
        self.ip_address.as_deref().or(self.hostname.as_deref())
    }
}

wire_object! {
    /// A URL at the place that some engine detected (`detected_urls`).
    pub struct DetectedUrl {
        /// The URL, as the service wrote it.
        req url: String => "url",
        /// How many engines flagged it.
        req positives: u32 => "positives",
        /// How many engines scanned it.
        req total: u32 => "total",
        /// When it was scanned.
        req scan_date: UtcTimestamp => "scan_date",
    }
}

impl DetectedUrl {
    /// `positives` out of `total`.
    pub fn detection_ratio(&self) -> DetectionRatio {
        DetectionRatio {
            positives: self.positives,
            total: self.total,
        }
    }
}

wire_object! {
    /// A file related to the place, in one of the `*_samples` lists.
    pub struct Sample {
        /// When the file was scanned; absent in referrer samples of older reports.
        opt date: UtcTimestamp => "date",
        /// How many engines flagged it.
        req positives: u32 => "positives",
        /// How many engines scanned it.
        req total: u32 => "total",
        /// The file's SHA-256, as the service wrote it.
        req sha256: String => "sha256",
    }
}

impl Sample {
    /// `positives` out of `total`.
    pub fn detection_ratio(&self) -> DetectionRatio {
        DetectionRatio {
            positives: self.positives,
            total: self.total,
        }
    }
}

/// How a file in a report's sample lists relates to the domain or address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SampleRelation {
    /// Downloaded from it (`*_downloaded_samples`).
    Downloaded,
    /// Talks to it when run (`*_communicating_samples`).
    Communicating,
    /// Contains or points at it (`*_referrer_samples`).
    Referrer,
}

impl SampleRelation {
    /// Lower-case name: `downloaded`, `communicating`, `referrer`.
    pub fn as_str(self) -> &'static str {
        match self {
            SampleRelation::Downloaded => "downloaded",
            SampleRelation::Communicating => "communicating",
            SampleRelation::Referrer => "referrer",
        }
    }
}

impl fmt::Display for SampleRelation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The detected sample lists of a report, in the order downloaded, communicating, referrer.
pub(crate) fn detected_samples<'a>(
    downloaded: &'a Option<Vec<Sample>>,
    communicating: &'a Option<Vec<Sample>>,
    referrer: &'a Option<Vec<Sample>>,
) -> impl Iterator<Item = (SampleRelation, &'a Sample)> + 'a {
    [
        (SampleRelation::Downloaded, downloaded),
        (SampleRelation::Communicating, communicating),
        (SampleRelation::Referrer, referrer),
    ]
    .into_iter()
    .flat_map(|(relation, list)| list.iter().flatten().map(move |s| (relation, s)))
}

/// Resolutions, the most recent first; those without a date last, in the order sent.
pub(crate) fn newest_first(resolutions: &Option<Vec<Resolution>>) -> Vec<&Resolution> {
    let mut sorted: Vec<&Resolution> = resolutions.iter().flatten().collect();
    // `None` sorts before `Some`, so reversing the dates puts undated entries last; the sort
    // is stable, so equal dates keep the service's order.
    sorted.sort_by_key(|r| std::cmp::Reverse(r.last_resolved()));
    sorted
}
