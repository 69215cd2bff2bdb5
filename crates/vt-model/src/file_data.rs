//! The answers of the private file endpoints that return data about files rather than one
//! verdict each: `file/behaviour` (a sandbox report), `file/search` (pages of hashes),
//! `file/clusters` (similar files of a day) and `comments/get`.

use serde_json::Value;

use crate::wire::wire_object;
use crate::Extra;

wire_object! {
    /// The answer of `file/behaviour`: a Cuckoo-style sandbox report. A file without one
    /// answers `response_code` 0 instead; a report has no `response_code` at all. The parts
    /// the notes document are typed; everything else is kept as sent.
    pub struct BehaviourReport {
        /// Only in "no report" answers (0).
        opt response_code: i64 => "response_code",
        /// The service's explanation, in "no report" answers.
        opt verbose_msg: String => "verbose_msg",
        /// When and how long the file ran, and the sandbox's version.
        opt info: BehaviourInfo => "info",
        /// What the processes did.
        opt behavior: Behavior => "behavior",
        /// Network traffic: `http`, `tcp`, `udp`, `dns`, `hosts` (kept as sent).
        opt network: Extra => "network",
    }
}

impl BehaviourReport {
    /// Whether this is a report (not a "no report" answer).
    pub fn is_found(&self) -> bool {
        self.response_code.is_none_or(|code| code == 1)
    }
}

wire_object! {
    /// `info` of a behaviour report.
    pub struct BehaviourInfo {
        /// When the run started, as the sandbox wrote it.
        opt started: Value => "started",
        /// When it ended.
        opt ended: Value => "ended",
        /// How long it ran, in seconds.
        opt duration: Value => "duration",
        /// The sandbox's version.
        opt version: Value => "version",
    }
}

wire_object! {
    /// `behavior` of a behaviour report.
    pub struct Behavior {
        /// The processes the file ran.
        opt processes: Vec<SandboxProcess> => "processes",
        /// The process tree (kept as sent).
        opt processtree: Value => "processtree",
        /// Files, registry keys and mutexes touched: `files`, `keys`, `mutexes` (kept as sent).
        opt summary: Extra => "summary",
    }
}

wire_object! {
    /// One process of a behaviour report.
    pub struct SandboxProcess {
        /// The executable's name.
        opt process_name: String => "process_name",
        /// Its process id.
        opt process_id: Value => "process_id",
        /// Its parent's process id.
        opt parent_id: Value => "parent_id",
        /// When it was first seen.
        opt first_seen: Value => "first_seen",
        /// The API calls it made (kept as sent: they are many and vary by sandbox).
        opt calls: Vec<Value> => "calls",
    }
}

wire_object! {
    /// One page of `file/search`: up to 300 SHA-256s, and the `offset` to ask for the next
    /// page with (absent on the last).
    pub struct SearchPage {
        /// 1 when the query was run.
        req response_code: i64 => "response_code",
        /// The service's explanation, if any.
        opt verbose_msg: String => "verbose_msg",
        /// Where the next page starts; absent on the last page.
        opt offset: String => "offset",
        /// The files found, as SHA-256s.
        opt hashes: Vec<String> => "hashes",
    }
}

crate::answer::report_impl!(SearchPage, silent);

wire_object! {
    /// The answer of `file/clusters`: the clusters of similar files seen on one day.
    pub struct Clusters {
        /// 1 found, 0 nothing for that day.
        opt response_code: i64 => "response_code",
        /// The service's explanation, if any.
        opt verbose_msg: String => "verbose_msg",
        /// Files considered.
        opt num_candidates: u64 => "num_candidates",
        /// Clusters found.
        opt num_clusters: u64 => "num_clusters",
        /// Files in the 200 largest clusters.
        opt size_top200: u64 => "size_top200",
        /// The clusters.
        opt clusters: Vec<Cluster> => "clusters",
    }
}

wire_object! {
    /// One cluster of similar files.
    pub struct Cluster {
        /// Its id: search `cluster:<id>` for its files.
        req id: String => "id",
        /// A label for it (often a detection name).
        opt label: String => "label",
        /// How many files.
        opt size: u64 => "size",
        /// The mean detections of its files.
        opt avg_positives: f64 => "avg_positives",
    }
}

wire_object! {
    /// The answer of `comments/get`: a page of up to 25 comments, newest first.
    pub struct Comments {
        /// 1 found, 0 unknown resource.
        req response_code: i64 => "response_code",
        /// E.g. "Resource found, comments, if any, returned here".
        opt verbose_msg: String => "verbose_msg",
        /// The resource as asked.
        opt resource: String => "resource",
        /// The comments, newest first.
        opt comments: Vec<Comment> => "comments",
    }
}

crate::answer::report_impl!(Comments, echoes);

wire_object! {
    /// One comment.
    pub struct Comment {
        /// When it was posted, `YYYYmmddHHMMSS` (UTC); ask the next page with `before` set
        /// to the last one's date.
        req date: String => "date",
        /// The text, as posted.
        req comment: String => "comment",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode as decode_answer, Answer};

    #[test]
    fn a_search_page_and_its_last_page_decode() {
        let page: Answer<SearchPage> = decode_answer(
            br#"{"response_code": 1, "offset": "RmFsc2U6Q3Zr", "hashes": ["c9bfeaf31115dccfe033f67c3b56453a5e434e2e39a2dcf76d80c05603ef9cda"]}"#,
        )
        .unwrap();
        let page = page.as_found().unwrap();
        assert_eq!(page.offset.as_deref(), Some("RmFsc2U6Q3Zr"));
        assert_eq!(page.hashes.as_ref().unwrap().len(), 1);
        let last: SearchPage =
            serde_json::from_str(r#"{"response_code": 1, "hashes": []}"#).unwrap();
        assert!(last.offset.is_none());
    }

    #[test]
    fn comments_keep_their_text_as_posted() {
        let body = br#"{"response_code": 1, "verbose_msg": "Resource found, comments, if any, returned here", "resource": "13166fc9de263ee2c676430ae88e65040e10761c90e79347a2684476bc60e622", "comments": [{"date": "20120404132340", "comment": "[b]Bot[\/b]\nline"}]}"#;
        let answer: Answer<Comments> = decode_answer(body).unwrap();
        let comments = answer.as_found().unwrap().comments.as_ref().unwrap();
        assert_eq!(comments[0].comment, "[b]Bot[/b]\nline");
        assert_eq!(comments[0].date, "20120404132340");
    }

    #[test]
    fn a_behaviour_report_has_no_response_code_and_keeps_the_rest() {
        let body = r#"{"info": {"started": "2016-01-01 10:00:00", "duration": 120, "version": "1.2"}, "behavior": {"processes": [{"process_name": "a.exe", "process_id": 4, "parent_id": 1, "first_seen": "x", "calls": [{"api": "CreateFileW"}]}], "summary": {"files": ["c:\\a"], "mutexes": []}}, "network": {"dns": [{"hostname": "e.test"}]}, "target": {"file": {}}}"#;
        let report: BehaviourReport = serde_json::from_str(body).unwrap();
        assert!(report.is_found());
        let processes = report
            .behavior
            .as_ref()
            .unwrap()
            .processes
            .as_ref()
            .unwrap();
        assert_eq!(processes[0].process_name.as_deref(), Some("a.exe"));
        assert!(report.extra.contains_key("target"));
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(serde_json::to_value(&report).unwrap(), value);
        let none: BehaviourReport =
            serde_json::from_str(r#"{"response_code": 0, "verbose_msg": "no report"}"#).unwrap();
        assert!(!none.is_found());
    }

    #[test]
    fn clusters_decode() {
        let clusters: Clusters = serde_json::from_str(
            r#"{"num_candidates": 10, "num_clusters": 1, "size_top200": 4, "clusters": [{"id": "vhash 0", "label": "Trojan", "size": 4, "avg_positives": 30.5}]}"#,
        )
        .unwrap();
        assert_eq!(clusters.clusters.unwrap()[0].size, Some(4));
    }
}
