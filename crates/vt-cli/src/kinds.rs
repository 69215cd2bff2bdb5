//! How each endpoint's found reports are shown in the table and in CSV: one `AnswerKind`
//! per report type. A new lookup endpoint adds its columns here.

use vt_api::{DomainReport, FileReport, IpReport, UrlReport, UrlScan};

use crate::output::{paint, ratio_color, AnswerKind};

/// How many detection names the table shows.
const TOP_NAMES: usize = 3;

impl AnswerKind for FileReport {
    fn table_header() -> String {
        format!("{:>7}  {:<19}  DETECTIONS", "RATIO", "SCAN DATE")
    }

    fn table_found(&self, color: bool) -> String {
        let ratio = self.detection_ratio();
        let text = format!("{:>7}", ratio.to_string());
        let names: Vec<String> = self
            .top_detection_names(TOP_NAMES)
            .into_iter()
            .map(|(name, count)| {
                if count > 1 {
                    format!("{name} ({count})")
                } else {
                    name.to_owned()
                }
            })
            .collect();
        format!(
            "{}  {}  {}",
            paint(&text, ratio_color(ratio.positives), color),
            self.scan_date,
            names.join(", ")
        )
    }

    fn table_empty() -> String {
        format!("{:>7}  {:<19}  ", "-", "-")
    }

    const CSV_HEADER: &'static [&'static str] = &[
        "positives",
        "total",
        "scan_date",
        "md5",
        "sha1",
        "sha256",
        "permalink",
    ];

    fn csv_found(&self) -> Vec<String> {
        vec![
            self.positives.to_string(),
            self.total.to_string(),
            self.scan_date.to_string(),
            self.md5.clone(),
            self.sha1.clone(),
            self.sha256.clone(),
            self.permalink.clone(),
        ]
    }
}

/// How many detections, categories or names a table cell lists before `+N`.
const LISTED: usize = 3;

/// The first few items, then how many more.
fn listed<'a>(items: impl Iterator<Item = String> + 'a) -> String {
    let items: Vec<String> = items.collect();
    let mut text = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" +{}", items.len() - LISTED));
    }
    text
}

/// A count, red when there is anything.
fn count_cell(n: usize, width: usize, color: bool) -> String {
    let text = format!("{n:>width$}");
    if n > 0 {
        paint(&text, crate::output::RED, color)
    } else {
        text
    }
}

impl AnswerKind for UrlReport {
    fn found_status(&self) -> &'static str {
        if self.is_queued_scan() {
            "submitted"
        } else {
            "found"
        }
    }

    fn table_header() -> String {
        format!("{:>7}  {:<19}  DETECTIONS", "RATIO", "SCAN DATE")
    }

    fn table_found(&self, color: bool) -> String {
        let Some(ratio) = self.detection_ratio() else {
            // The `--scan` answer for a URL the service did not know.
            return format!("{:>7}  {}  {}", "-", self.scan_date, self.url);
        };
        let text = format!("{:>7}", ratio.to_string());
        let detections = listed(self.detections().map(|(engine, verdict)| {
            if verdict.is_empty() {
                engine.to_owned()
            } else {
                format!("{engine} ({verdict})")
            }
        }));
        format!(
            "{}  {}  {detections}",
            paint(&text, ratio_color(ratio.positives), color),
            self.scan_date
        )
    }

    fn table_empty() -> String {
        format!("{:>7}  {:<19}  ", "-", "-")
    }

    const CSV_HEADER: &'static [&'static str] = &[
        "positives",
        "total",
        "scan_date",
        "url",
        "scan_id",
        "permalink",
    ];

    fn csv_found(&self) -> Vec<String> {
        vec![
            self.positives.map(|n| n.to_string()).unwrap_or_default(),
            self.total.map(|n| n.to_string()).unwrap_or_default(),
            self.scan_date.to_string(),
            self.url.clone(),
            self.scan_id.clone(),
            self.permalink.clone(),
        ]
    }
}

impl AnswerKind for UrlScan {
    fn found_status(&self) -> &'static str {
        "submitted"
    }

    fn table_header() -> String {
        format!("{:<19}  URL", "SCAN DATE")
    }

    fn table_found(&self, _color: bool) -> String {
        format!("{}  {}", self.scan_date, self.url)
    }

    fn table_empty() -> String {
        format!("{:<19}  ", "-")
    }

    const CSV_HEADER: &'static [&'static str] = &["url", "scan_date", "scan_id", "permalink"];

    fn csv_found(&self) -> Vec<String> {
        vec![
            self.url.clone(),
            self.scan_date.to_string(),
            self.scan_id.clone(),
            self.permalink.clone(),
        ]
    }
}

impl AnswerKind for DomainReport {
    fn table_header() -> String {
        format!(
            "{:>4}  {:<15}  {:>4}  {:>7}  CATEGORIES",
            "IPS", "NEWEST IP", "URLS", "SAMPLES"
        )
    }

    fn table_found(&self, color: bool) -> String {
        let resolutions = self.resolutions_newest_first();
        let newest = resolutions.first().and_then(|r| r.target()).unwrap_or("-");
        format!(
            "{:>4}  {newest:<15}  {}  {}  {}",
            resolutions.len(),
            count_cell(self.detected_urls().len(), 4, color),
            count_cell(self.detected_samples().count(), 7, color),
            listed(self.categories_merged().into_iter().map(str::to_owned))
        )
    }

    fn table_empty() -> String {
        format!("{:>4}  {:<15}  {:>4}  {:>7}  ", "-", "-", "-", "-")
    }

    const CSV_HEADER: &'static [&'static str] = &[
        "resolutions",
        "newest_ip",
        "newest_resolved",
        "detected_urls",
        "detected_samples",
        "categories",
    ];

    fn csv_found(&self) -> Vec<String> {
        let resolutions = self.resolutions_newest_first();
        let newest = resolutions.first();
        vec![
            resolutions.len().to_string(),
            newest
                .and_then(|r| r.target())
                .unwrap_or_default()
                .to_owned(),
            newest
                .and_then(|r| r.last_resolved())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            self.detected_urls().len().to_string(),
            self.detected_samples().count().to_string(),
            self.categories_merged().join("; "),
        ]
    }
}

impl AnswerKind for IpReport {
    fn table_header() -> String {
        format!(
            "{:<8}  {:<24}  {:<2}  {:>5}  {:>4}  {:>7}  NEWEST HOST",
            "ASN", "OWNER", "CC", "HOSTS", "URLS", "SAMPLES"
        )
    }

    fn table_found(&self, color: bool) -> String {
        let resolutions = self.resolutions_newest_first();
        let owner: String = self.owner().unwrap_or("-").chars().take(24).collect();
        format!(
            "{:<8}  {owner:<24}  {:<2}  {:>5}  {}  {}  {}",
            self.asn().unwrap_or_else(|| "-".to_owned()),
            self.country().unwrap_or("-"),
            resolutions.len(),
            count_cell(self.detected_urls().len(), 4, color),
            count_cell(self.detected_samples().count(), 7, color),
            resolutions.first().and_then(|r| r.target()).unwrap_or("-")
        )
    }

    fn table_empty() -> String {
        format!(
            "{:<8}  {:<24}  {:<2}  {:>5}  {:>4}  {:>7}  ",
            "-", "-", "-", "-", "-", "-"
        )
    }

    const CSV_HEADER: &'static [&'static str] = &[
        "asn",
        "as_owner",
        "country",
        "resolutions",
        "newest_hostname",
        "detected_urls",
        "detected_samples",
    ];

    fn csv_found(&self) -> Vec<String> {
        let resolutions = self.resolutions_newest_first();
        vec![
            self.asn().unwrap_or_default(),
            self.owner().unwrap_or_default().to_owned(),
            self.country().unwrap_or_default().to_owned(),
            resolutions.len().to_string(),
            resolutions
                .first()
                .and_then(|r| r.target())
                .unwrap_or_default()
                .to_owned(),
            self.detected_urls().len().to_string(),
            self.detected_samples().count().to_string(),
        ]
    }
}
