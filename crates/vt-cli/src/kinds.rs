//! How each endpoint's found reports are shown in the table and in CSV: one `AnswerKind`
//! per report type. A new lookup endpoint adds its columns here.

use vt_api::FileReport;

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
