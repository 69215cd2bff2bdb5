//! How each endpoint's found reports are shown in the table and in CSV: one `AnswerKind`
//! per report type. A new lookup endpoint adds its columns here.
//!
//! In the table, every text of the service goes through [`shown`] before it is padded or
//! painted (escaping the painted line would escape vt's own colours too). Timestamps are
//! parsed strictly by vt-model and numbers are vt's own: those need nothing.

use vt_api::{
    Acknowledgement, Comments, DomainReport, FileReport, IpReport, Rescan, UrlReport, UrlScan,
};

use crate::output::{paint, ratio_color, shown, AnswerKind};

/// How many detection names the table shows.
const TOP_NAMES: usize = 3;

/// The columns file and URL reports share: `RATIO`, `SCAN DATE`, `DETECTIONS`.
fn ratio_header() -> String {
    format!("{:>7}  {:<19}  DETECTIONS", "RATIO", "SCAN DATE")
}

/// Those columns of a report: the ratio painted by how bad it is, the date, the detections
/// (already escaped).
fn ratio_cells(
    ratio: vt_api::vt_model::DetectionRatio,
    scan_date: impl std::fmt::Display,
    detections: &str,
    color: bool,
) -> String {
    let text = format!("{:>7}", ratio.to_string());
    format!(
        "{}  {scan_date}  {detections}",
        paint(&text, ratio_color(ratio.positives), color)
    )
}

/// Those columns of an answer that is no report.
fn ratio_empty() -> String {
    format!("{:>7}  {:<19}  ", "-", "-")
}

impl AnswerKind for FileReport {
    fn positives(&self) -> Option<u32> {
        Some(self.positives)
    }

    fn detection_names(&self) -> String {
        let names: Vec<String> = self
            .top_detection_names(usize::MAX)
            .into_iter()
            .map(|(name, count)| match count {
                1 => name.to_owned(),
                _ => format!("{name} ({count})"),
            })
            .collect();
        names.join("; ")
    }

    fn table_header() -> String {
        ratio_header()
    }

    fn table_found(&self, color: bool) -> String {
        let names: Vec<String> = self
            .top_detection_names(TOP_NAMES)
            .into_iter()
            .map(|(name, count)| {
                if count > 1 {
                    format!("{} ({count})", shown(name))
                } else {
                    shown(name).into_owned()
                }
            })
            .collect();
        ratio_cells(
            self.detection_ratio(),
            self.scan_date,
            &names.join(", "),
            color,
        )
    }

    fn table_empty() -> String {
        ratio_empty()
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
    fn positives(&self) -> Option<u32> {
        self.detection_ratio().map(|ratio| ratio.positives)
    }

    fn detection_names(&self) -> String {
        let names: Vec<String> = self
            .detections()
            .map(|(engine, verdict)| match verdict {
                "" => engine.to_owned(),
                verdict => format!("{engine} ({verdict})"),
            })
            .collect();
        names.join("; ")
    }

    fn found_status(&self) -> &'static str {
        if self.is_queued_scan() {
            "submitted"
        } else {
            "found"
        }
    }

    fn table_header() -> String {
        ratio_header()
    }

    fn table_found(&self, color: bool) -> String {
        let Some(ratio) = self.detection_ratio() else {
            // The `--scan` answer for a URL the service did not know.
            return format!("{:>7}  {}  {}", "-", self.scan_date, shown(&self.url));
        };
        let detections = listed(self.detections().map(|(engine, verdict)| {
            if verdict.is_empty() {
                shown(engine).into_owned()
            } else {
                format!("{} ({})", shown(engine), shown(verdict))
            }
        }));
        ratio_cells(ratio, self.scan_date, &detections, color)
    }

    fn table_empty() -> String {
        ratio_empty()
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
        format!("{}  {}", self.scan_date, shown(&self.url))
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
        let newest = shown(resolutions.first().and_then(|r| r.target()).unwrap_or("-"));
        format!(
            "{:>4}  {newest:<15}  {}  {}  {}",
            resolutions.len(),
            count_cell(self.detected_urls().len(), 4, color),
            count_cell(self.detected_samples().count(), 7, color),
            listed(
                self.categories_merged()
                    .into_iter()
                    .map(|category| shown(category).into_owned())
            )
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
        // Cut to the column first, then escaped: an escape is never cut in half.
        let owner: String = self.owner().unwrap_or("-").chars().take(24).collect();
        let asn = self.asn().unwrap_or_else(|| "-".to_owned());
        format!(
            "{:<8}  {:<24}  {:<2}  {:>5}  {}  {}  {}",
            shown(&asn),
            shown(&owner),
            shown(self.country().unwrap_or("-")),
            resolutions.len(),
            count_cell(self.detected_urls().len(), 4, color),
            count_cell(self.detected_samples().count(), 7, color),
            shown(resolutions.first().and_then(|r| r.target()).unwrap_or("-"))
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

impl AnswerKind for Rescan {
    fn found_status(&self) -> &'static str {
        "submitted"
    }

    fn table_header() -> String {
        "NEW SCAN_ID".to_owned()
    }

    fn table_found(&self, _color: bool) -> String {
        shown(self.scan_id.as_deref().unwrap_or("-")).into_owned()
    }

    fn table_empty() -> String {
        String::new()
    }

    const CSV_HEADER: &'static [&'static str] = &["scan_id", "sha256", "permalink"];

    fn csv_found(&self) -> Vec<String> {
        [&self.scan_id, &self.sha256, &self.permalink]
            .into_iter()
            .map(|value| value.clone().unwrap_or_default())
            .collect()
    }
}

impl AnswerKind for Acknowledgement {
    fn found_status(&self) -> &'static str {
        "done"
    }

    fn table_header() -> String {
        "MESSAGE".to_owned()
    }

    fn table_found(&self, _color: bool) -> String {
        shown(self.verbose_msg.as_deref().unwrap_or("")).into_owned()
    }

    fn table_empty() -> String {
        String::new()
    }

    const CSV_HEADER: &'static [&'static str] = &["message"];

    fn csv_found(&self) -> Vec<String> {
        vec![self.verbose_msg.clone().unwrap_or_default()]
    }
}

/// The longest part of a comment the table shows (the whole is in jsonl, json and CSV).
const COMMENT_SHOWN: usize = 300;

impl AnswerKind for Comments {
    fn table_header() -> String {
        "COMMENTS (newest first)".to_owned()
    }

    /// The count, then each comment on its own indented line, its date first.
    fn table_found(&self, _color: bool) -> String {
        let comments = self.comments.as_deref().unwrap_or_default();
        let mut cells = comments.len().to_string();
        for comment in comments {
            let text: String = comment.comment.chars().take(COMMENT_SHOWN).collect();
            let cut = if text.len() < comment.comment.len() {
                " ..."
            } else {
                ""
            };
            cells.push_str(&format!(
                "\n    {}  {}{cut}",
                shown(&comment.date),
                shown(&text)
            ));
        }
        cells
    }

    fn table_empty() -> String {
        String::new()
    }

    const CSV_HEADER: &'static [&'static str] = &["comments", "newest_date", "newest_comment"];

    fn csv_found(&self) -> Vec<String> {
        let comments = self.comments.as_deref().unwrap_or_default();
        let newest = comments.first();
        vec![
            comments.len().to_string(),
            newest.map(|c| c.date.clone()).unwrap_or_default(),
            newest.map(|c| c.comment.clone()).unwrap_or_default(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the service could put in any text: a cursor move, an erase, a window title, a
    /// line break, a C1 CSI and a right-to-left override.
    const HOSTILE: &str = r"\u001b[1A\u001b[2K\u001b]0;owned\u0007\r\n\u009b31m\u202e";

    /// A found report's JSON with every text of the service made hostile.
    fn hostile(json: &str) -> String {
        json.replace("HOSTILE", HOSTILE)
    }

    /// The row with vt's own colours taken out: what is left must hold no control character
    /// and no bidi override, and show the hostile text as escapes.
    fn assert_shown_escaped(painted: &str) {
        let mut row = painted.to_owned();
        for own in ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"] {
            row = row.replace(own, "");
        }
        assert!(
            !row.chars().any(|c| c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
            "{row:?}"
        );
        assert!(
            row.contains(r"\x1b[1A\x1b[2K\x1b]0;owned\x07\r\n\u{9b}31m\u{202e}"),
            "{row}"
        );
    }

    #[test]
    fn every_kinds_table_cells_escape_the_services_text_and_keep_vts_colours() {
        let file: FileReport = serde_json::from_str(&hostile(
            r#"{"response_code": 1, "scan_id": "s", "md5": "m", "sha1": "s1", "sha256": "s2",
                "scan_date": "2026-11-19 00:00:00", "permalink": "p", "positives": 1,
                "total": 1, "scans": {"HOSTILE": {"detected": true, "result": "HOSTILE"}}}"#,
        ))
        .unwrap();
        let url: UrlReport = serde_json::from_str(&hostile(
            r#"{"response_code": 1, "url": "HOSTILE", "scan_id": "s", "permalink": "p",
                "scan_date": "2026-11-19 00:00:00", "positives": 1, "total": 1,
                "scans": {"HOSTILE": {"detected": true, "result": "HOSTILE"}}}"#,
        ))
        .unwrap();
        let scan: UrlScan = serde_json::from_str(&hostile(
            r#"{"response_code": 1, "url": "HOSTILE", "scan_id": "s", "permalink": "p",
                "scan_date": "2026-11-19 00:00:00"}"#,
        ))
        .unwrap();
        let domain: DomainReport = serde_json::from_str(&hostile(
            r#"{"response_code": 1, "categories": ["HOSTILE"], "resolutions":
                [{"last_resolved": "2019-07-24 13:10:01", "ip_address": "HOSTILE"}]}"#,
        ))
        .unwrap();
        let ip: IpReport = serde_json::from_str(&hostile(
            r#"{"response_code": 1, "asn": "HOSTILE", "as_owner": "HOSTILE",
                "country": "HOSTILE", "resolutions":
                [{"last_resolved": "2019-07-24 13:10:01", "hostname": "HOSTILE"}]}"#,
        ))
        .unwrap();
        for color in [false, true] {
            assert_shown_escaped(&file.table_found(color));
            assert_shown_escaped(&url.table_found(color));
            assert_shown_escaped(&scan.table_found(color));
            assert_shown_escaped(&domain.table_found(color));
            assert_shown_escaped(&ip.table_found(color));
        }
        // The colour is still vt's: painted, not escaped.
        assert!(file.table_found(true).starts_with("\x1b[33m"));
    }
}
