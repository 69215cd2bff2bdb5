//! The report of a file the service has analysed (`response_code` 1).

use std::collections::BTreeMap;
use std::fmt;

use crate::allinfo::AdditionalInfo;
use crate::wire::wire_object;
use crate::{UpdateDate, UtcTimestamp};

/// Engine name to that engine's verdict, as in `scans`.
pub type Scans = BTreeMap<String, ScanResult>;

wire_object! {
    /// A found report: the public fields, and the `allinfo` fields when they were asked for.
    ///
    /// Hashes and texts from the server are kept as sent, not validated (a redacted hash is
    /// still a report). Keys the model does not know are in [`FileReport::extra`], at this level
    /// and in every nested object, so re-encoding gives back the body that was received.
    pub struct FileReport {
        /// Always 1 for a found report.
        req response_code: i64 => "response_code",
        /// E.g. "Scan finished, information embedded".
        opt verbose_msg: String => "verbose_msg",
        /// The resource as it was asked, echoed by the service.
        opt resource: String => "resource",
        /// `<sha256>-<unix seconds>` of this analysis.
        req scan_id: String => "scan_id",
        /// MD5 of the file, as sent by the service.
        req md5: String => "md5",
        /// SHA-1 of the file, as sent by the service.
        req sha1: String => "sha1",
        /// SHA-256 of the file, as sent by the service.
        req sha256: String => "sha256",
        /// When this analysis ran (UTC).
        req scan_date: UtcTimestamp => "scan_date",
        /// Link to the analysis on the web site.
        req permalink: String => "permalink",
        /// How many engines detected the file.
        req positives: u32 => "positives",
        /// How many engines scanned it.
        req total: u32 => "total",
        /// Each engine's verdict.
        req scans: Scans => "scans",
        /// allinfo: when the service first saw the file.
        opt first_seen: UtcTimestamp => "first_seen",
        /// allinfo: when the service last saw the file.
        opt last_seen: UtcTimestamp => "last_seen",
        /// allinfo: the file names it was submitted under.
        opt submission_names: Vec<String> => "submission_names",
        /// allinfo: how many times it was submitted.
        opt times_submitted: u64 => "times_submitted",
        /// allinfo: how many distinct sources submitted it.
        opt unique_sources: u64 => "unique_sources",
        /// allinfo: size in bytes.
        opt size: u64 => "size",
        /// allinfo: the file type, e.g. "Win32 EXE".
        opt file_type: String => "type",
        /// allinfo: tags, e.g. "peexe".
        opt tags: Vec<String> => "tags",
        /// allinfo: ssdeep fuzzy hash.
        opt ssdeep: String => "ssdeep",
        /// allinfo: Authenticode hash of a PE; absent, or null when none.
        opt authentihash: Option<String> => "authentihash",
        /// allinfo: VirusTotal's similarity hash; may be null.
        opt vhash: Option<String> => "vhash",
        /// allinfo: URLs the file was downloaded from in the wild.
        opt itw_urls: Vec<String> => "ITW_urls",
        /// allinfo: the community score.
        opt community_reputation: i64 => "community_reputation",
        /// allinfo: community votes saying harmless.
        opt harmless_votes: u64 => "harmless_votes",
        /// allinfo: community votes saying malicious.
        opt malicious_votes: u64 => "malicious_votes",
        /// allinfo: the output of tools and sandboxes.
        opt additional_info: AdditionalInfo => "additional_info",
    }
}

wire_object! {
    /// One engine's verdict in `scans`.
    pub struct ScanResult {
        /// Whether the engine flagged the file.
        req detected: bool => "detected",
        /// Engine version; may be null.
        opt version: Option<String> => "version",
        /// Detection name; null when not detected.
        opt result: Option<String> => "result",
        /// The day of the engine's signatures.
        opt update: UpdateDate => "update",
    }
}

impl ScanResult {
    /// The detection name, if any.
    pub fn result(&self) -> Option<&str> {
        self.result.as_ref().and_then(|r| r.as_deref())
    }

    /// The engine version, if given.
    pub fn version(&self) -> Option<&str> {
        self.version.as_ref().and_then(|v| v.as_deref())
    }
}

/// `positives` out of `total`, written `40/40`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DetectionRatio {
    /// Engines that detected the file.
    pub positives: u32,
    /// Engines that scanned it.
    pub total: u32,
}

impl DetectionRatio {
    /// `positives / total` between 0 and 1 (0 when nothing scanned it).
    pub fn fraction(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.positives) / f64::from(self.total)
        }
    }
}

impl fmt::Display for DetectionRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.positives, self.total)
    }
}

impl FileReport {
    /// `positives` out of `total`, as reported by the service.
    pub fn detection_ratio(&self) -> DetectionRatio {
        DetectionRatio {
            positives: self.positives,
            total: self.total,
        }
    }

    /// The engines that detected the file, in name order.
    pub fn detecting_engines(&self) -> impl Iterator<Item = &str> + '_ {
        self.scans
            .iter()
            .filter(|(_, scan)| scan.detected)
            .map(|(engine, _)| engine.as_str())
    }

    /// `(engine, detection name)` for each engine that detected the file and named it.
    pub fn detection_names(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.scans.iter().filter_map(|(engine, scan)| {
            scan.detected
                .then(|| scan.result())
                .flatten()
                .map(|name| (engine.as_str(), name))
        })
    }

    /// The detection names given most often, with how many engines gave each, most common
    /// first (ties by name), at most `limit` of them.
    pub fn top_detection_names(&self, limit: usize) -> Vec<(&str, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, name) in self.detection_names() {
            *counts.entry(name).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.truncate(limit);
        ranked
    }

    /// The report as the service gives it without `allinfo`: the public fields only
    /// (response_code, verbose_msg, resource, scan_id, hashes, scan_date, permalink,
    /// positives, total, scans), with no allinfo field and no unknown top-level key.
    pub fn to_public(&self) -> FileReport {
        FileReport {
            response_code: self.response_code,
            verbose_msg: self.verbose_msg.clone(),
            resource: self.resource.clone(),
            scan_id: self.scan_id.clone(),
            md5: self.md5.clone(),
            sha1: self.sha1.clone(),
            sha256: self.sha256.clone(),
            scan_date: self.scan_date,
            permalink: self.permalink.clone(),
            positives: self.positives,
            total: self.total,
            scans: self.scans.clone(),
            first_seen: None,
            last_seen: None,
            submission_names: None,
            times_submitted: None,
            unique_sources: None,
            size: None,
            file_type: None,
            tags: None,
            ssdeep: None,
            authentihash: None,
            vhash: None,
            itw_urls: None,
            community_reputation: None,
            harmless_votes: None,
            malicious_votes: None,
            additional_info: None,
            extra: crate::Extra::new(),
        }
    }

    /// The Authenticode hash, when present and not null.
    pub fn authentihash(&self) -> Option<&str> {
        self.authentihash.as_ref().and_then(|h| h.as_deref())
    }

    /// The vhash, when present and not null.
    pub fn vhash(&self) -> Option<&str> {
        self.vhash.as_ref().and_then(|h| h.as_deref())
    }
}
