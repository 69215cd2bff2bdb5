//! The answers of the file endpoints that act rather than look up: `file/scan` (and the
//! `file/scan/upload_url` for large files), `file/rescan`, `file/rescan/delete`, and the
//! `comments/put` acknowledgement, which has the same short shape.

use crate::wire::wire_object;

wire_object! {
    /// The answer of `file/scan` (`response_code` 1, "Scan request successfully queued, come
    /// back later for the report"): the file's hashes and where its report will be.
    pub struct FileScan {
        /// 1 when the file was queued.
        req response_code: i64 => "response_code",
        /// E.g. "Scan request successfully queued, come back later for the report".
        opt verbose_msg: String => "verbose_msg",
        /// The SHA-256 of the file (the service echoes no question: it was a file).
        opt resource: String => "resource",
        /// `<sha256>-<unix seconds>`: ask `file/report` with it for this analysis.
        req scan_id: String => "scan_id",
        /// The file's MD5.
        req md5: String => "md5",
        /// The file's SHA-1.
        req sha1: String => "sha1",
        /// The file's SHA-256.
        req sha256: String => "sha256",
        /// Link to the analysis on the web site.
        req permalink: String => "permalink",
    }
}

crate::answer::report_impl!(FileScan, echoes);

wire_object! {
    /// The answer of `file/scan/upload_url` (private keys): a one-time URL that accepts one
    /// multipart upload of up to 200 MB, answered like `file/scan`. It has no
    /// `response_code`. The URL may hold the key: it is a secret.
    pub struct UploadUrl {
        /// Where to post the file.
        req upload_url: String => "upload_url",
    }
}

impl std::fmt::Display for UploadUrl {
    /// Never the URL itself, which may carry the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<upload URL>")
    }
}

wire_object! {
    /// One file's answer of `file/rescan` (`response_code` 1: a new analysis is queued; 0:
    /// the file is not in the store). The service sends no `verbose_msg` here.
    pub struct Rescan {
        /// 1 queued, 0 unknown file, -1 invalid.
        req response_code: i64 => "response_code",
        /// Absent in every recording; kept if sent.
        opt verbose_msg: String => "verbose_msg",
        /// The hash as asked.
        opt resource: String => "resource",
        /// `<sha256>-<unix seconds>` of the new analysis: ask `file/report` with it.
        opt scan_id: String => "scan_id",
        /// The file's SHA-256.
        opt sha256: String => "sha256",
        /// Link to the new analysis.
        opt permalink: String => "permalink",
    }
}

crate::answer::report_impl!(Rescan, echoes);

wire_object! {
    /// The short answer of `file/rescan/delete` and `comments/put`: done (1) or not (0, -1),
    /// and why.
    pub struct Acknowledgement {
        /// 1 done; 0 or -1 not done (the message says why).
        req response_code: i64 => "response_code",
        /// E.g. "Your comment was successfully posted", "Duplicate comment".
        opt verbose_msg: String => "verbose_msg",
        /// The resource, when the service echoes it.
        opt resource: String => "resource",
    }
}

crate::answer::report_impl!(Acknowledgement, echoes);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode as decode_answer, Answer};

    #[test]
    fn a_file_scan_receipt_keeps_every_key_in_order() {
        let body = br#"{"scan_id": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b-1419455691", "sha1": "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc", "resource": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b", "response_code": 1, "sha256": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b", "permalink": "https://www.virustotal.com/file/01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b/analysis/1419455691/", "md5": "68b329da9893e34099c7d8ad5cb9c940", "verbose_msg": "Scan request successfully queued, come back later for the report", "new": true}"#;
        let answer: Answer<FileScan> = decode_answer(body).unwrap();
        let scan = answer.as_found().expect("queued for analysis is code 1");
        assert_eq!(scan.md5, "68b329da9893e34099c7d8ad5cb9c940");
        assert_eq!(scan.extra["new"], serde_json::json!(true));
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(serde_json::to_value(scan).unwrap(), value);
    }

    #[test]
    fn a_rescan_without_verbose_msg_and_an_unknown_file_decode() {
        let queued: Answer<Rescan> = decode_answer(
            br#"{"permalink": "https://www.virustotal.com/file/01ba/analysis/1562684247/", "response_code": 1, "sha256": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b", "resource": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b", "scan_id": "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b-1562684247"}"#,
        )
        .unwrap();
        assert!(queued.as_found().unwrap().verbose_msg.is_none());
        let unknown: Answer<Rescan> =
            decode_answer(br#"{"response_code": 0, "resource": "00"}"#).unwrap();
        assert!(unknown.as_found().is_none());
    }

    #[test]
    fn an_upload_url_is_never_shown() {
        let url: UploadUrl =
            serde_json::from_str(r#"{"upload_url": "https://up.test/?apikey=secret"}"#).unwrap();
        assert_eq!(url.to_string(), "<upload URL>");
        assert!(!format!("{url}").contains("secret"));
    }
}
