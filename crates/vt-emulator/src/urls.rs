//! What `url/scan` and `url/report` share: URL normalisation, the submitted scans, and the
//! answers made for a URL rather than read from the data.
//!
//! - A URL is normalised as the service shows it in `url`: `http://` added when there is no
//!   scheme, the scheme and the host lower-cased, a `/` after a bare host. Nothing else is
//!   touched (no percent-encoding, no IDNA, the query and `#fragment` kept as sent).
//! - A submitted URL gets the scan_id `<SHA-256 of the normalised URL>-<unix seconds>`, as the
//!   service names it. Its analysis is finished once the builder's analysis delay has passed
//!   on the emulator's [`crate::Clock`]; the finished report is made from the URL alone (every
//!   engine "clean site", except the test convenience of [`verdicts`]) unless the data holds
//!   a report of that URL, which is then the answer.

use std::collections::HashMap;
use std::time::Duration;

use vt_model::UtcTimestamp;

use crate::chunks::Assembler;
use crate::hashes;
use crate::wire::{self, Object};

/// `url/report`, a URL the data does not hold.
pub(crate) const NOT_FOUND_MSG: &str = "Resource does not exist in the dataset";
/// `url/scan`, or `url/report` with `scan=1`, a URL that is not one.
pub(crate) const INVALID_MSG: &str = "Invalid URL, the scan request was not queued";
/// A URL submitted for a scan (and, an assumption, asked for while its scan is pending).
pub(crate) const QUEUED_MSG: &str =
    "Scan request successfully queued, come back later for the report";
/// A finished URL report.
pub(crate) const FINISHED_MSG: &str = "Scan finished, scan information embedded in this object";

/// The engines of a report made by the emulator (not of a stored one), in name order.
pub(crate) const ENGINES: [&str; 10] = [
    "ADMINUSLabs",
    "AlienVault",
    "Avira",
    "BitDefender",
    "CLEAN MX",
    "ESET",
    "Fortinet",
    "Kaspersky",
    "Sophos",
    "Webroot",
];
/// The engines that call a URL containing `malware` a "malicious site".
const MALWARE_ENGINES: [&str; 3] = ["BitDefender", "ESET", "Fortinet"];
/// The engines that call a URL containing `phishing` a "phishing site".
const PHISHING_ENGINES: [&str; 3] = ["Avira", "Kaspersky", "Sophos"];

/// The items of a `resource` or `url` parameter: split on newlines (a URL may hold commas),
/// each trimmed of whitespace (so CRLF works too), empty ones dropped.
pub(crate) fn split_items(param: &str) -> Vec<&str> {
    param
        .split('\n')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// Whether `text` has the shape of a scan_id: 64 hex digits, `-`, digits.
pub(crate) fn is_scan_id(text: &str) -> bool {
    let Some((digest, seconds)) = text.split_once('-') else {
        return false;
    };
    digest.len() == 64
        && digest.bytes().all(|b| b.is_ascii_hexdigit())
        && !seconds.is_empty()
        && seconds.len() <= 20
        && seconds.bytes().all(|b| b.is_ascii_digit())
}

/// The normalised form of a URL, or `None` when it is not one: empty, with whitespace or a
/// control character anywhere, with a malformed scheme, no host, or a port that is not a
/// number.
pub(crate) fn normalise(text: &str) -> Option<String> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => {
            let valid = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if !valid {
                return None;
            }
            (scheme.to_ascii_lowercase(), rest)
        }
        None => ("http".to_owned(), text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let (host, after) = host_port.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty()
        || host == "[]"
        || !port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut url = String::with_capacity(text.len() + 8);
    url.push_str(&scheme);
    url.push_str("://");
    url.push_str(userinfo);
    url.push_str(&host.to_lowercase());
    if let Some(port) = port {
        url.push(':');
        url.push_str(port);
    }
    if !tail.starts_with('/') {
        url.push('/');
    }
    url.push_str(tail);
    Some(url)
}

/// The engines that detect a URL, and what they call it: a test convenience of the emulator
/// (not of the service) for the reports it makes itself. A URL containing `malware` (any case)
/// is a "malicious site" for three engines, one containing `phishing` a "phishing site" for
/// three others; every other engine says "clean site".
pub(crate) fn verdicts(url: &str) -> impl Iterator<Item = (&'static str, Option<&'static str>)> {
    let lower = url.to_lowercase();
    let malware = lower.contains("malware");
    let phishing = lower.contains("phishing");
    ENGINES.into_iter().map(move |engine| {
        let verdict = if malware && MALWARE_ENGINES.contains(&engine) {
            Some("malicious site")
        } else if phishing && PHISHING_ENGINES.contains(&engine) {
            Some("phishing site")
        } else {
            None
        };
        (engine, verdict)
    })
}

/// One submitted URL's scan.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// The normalised URL.
    pub(crate) url: Box<str>,
    /// The SHA-256 of `url`, lower-case hex.
    pub(crate) digest: Box<str>,
    /// When it was submitted, in unix seconds (the scan_id's and the scan date's).
    pub(crate) unix: i64,
    /// When it was submitted, on the emulator's clock.
    pub(crate) at: Duration,
}

impl Scan {
    /// A scan of `url` (normalised) submitted now.
    pub(crate) fn new(url: &str, unix: i64, at: Duration) -> Scan {
        Scan {
            url: url.into(),
            digest: hashes::sha256_hex(url.as_bytes()).into(),
            unix,
            at,
        }
    }

    /// `<sha256>-<unix seconds>`.
    pub(crate) fn scan_id(&self) -> String {
        format!("{}-{}", self.digest, self.unix)
    }

    fn permalink(&self) -> String {
        format!(
            "https://www.virustotal.com/url/{}/analysis/{}/",
            self.digest, self.unix
        )
    }

    fn scan_date(&self) -> String {
        UtcTimestamp::from_unix_seconds(self.unix)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// The members every answer about this scan has, in the recorded order: permalink,
    /// resource, url, response_code, scan_date, scan_id, verbose_msg. The object is left open.
    fn write_common<'o>(
        &self,
        out: &'o mut Assembler,
        echo: &str,
        code: i8,
        message: &str,
    ) -> Object<'o> {
        let mut object = Object::open(out);
        object
            .str("permalink", &self.permalink())
            .str("resource", echo)
            .str("url", &self.url)
            .int("response_code", code.into())
            .str("scan_date", &self.scan_date())
            .str("scan_id", &self.scan_id())
            .str("verbose_msg", message);
        object
    }

    /// The `url/scan` answer (also `url/report` with `scan=1` on an unknown URL): response
    /// code 1, `resource` the normalised URL.
    pub(crate) fn write_queued(&self, out: &mut Assembler) {
        self.write_common(out, &self.url, 1, QUEUED_MSG).close();
    }

    /// `url/report` of a scan not finished yet: response code -2 (an assumption: no recording
    /// shows it), `resource` echoed.
    pub(crate) fn write_pending(&self, out: &mut Assembler, echo: &str) {
        self.write_common(out, echo, -2, QUEUED_MSG).close();
    }

    /// `url/report` of a finished scan of a URL the data does not hold: the emulator's own
    /// verdicts ([`verdicts`]), in the order of the recorded URL reports.
    pub(crate) fn write_finished(&self, out: &mut Assembler, echo: &str) {
        let mut object = self.write_common(out, echo, 1, FINISHED_MSG);
        let positives = verdicts(&self.url).filter(|(_, v)| v.is_some()).count();
        object.key("filescan_id").extend(b"null");
        object
            .int("positives", positives as i64)
            .int("total", ENGINES.len() as i64);
        let mut scans = Object::open(object.key("scans"));
        for (engine, verdict) in verdicts(&self.url) {
            let mut item = Object::open(scans.key(engine));
            item.key("detected").extend(if verdict.is_some() {
                b"true"
            } else {
                b"false" as &[u8]
            });
            item.str("result", verdict.unwrap_or("clean site"));
            item.close();
        }
        scans.close();
        object.close();
    }
}

/// `{"response_code": -1, "verbose_msg": "Invalid URL, ..."}`: no `resource`, as recorded.
pub(crate) fn write_invalid(out: &mut Assembler) {
    wire::write_code(out, -1, INVALID_MSG);
}

/// The URLs submitted since start, by normalised URL and by scan_id (the latest scan of each
/// URL only: submitting a URL again replaces its scan).
#[derive(Debug, Default)]
pub(crate) struct Submissions {
    by_url: HashMap<Box<str>, Scan>,
    /// scan_id (lower case) to the normalised URL.
    by_scan_id: HashMap<Box<str>, Box<str>>,
}

impl Submissions {
    /// Records a scan, replacing an earlier one of the same URL.
    pub(crate) fn submit(&mut self, scan: Scan) {
        if let Some(old) = self.by_url.get(&scan.url) {
            self.by_scan_id.remove(old.scan_id().as_str());
        }
        self.by_scan_id
            .insert(scan.scan_id().into_boxed_str(), scan.url.clone());
        self.by_url.insert(scan.url.clone(), scan);
    }

    /// The scan of a normalised URL.
    pub(crate) fn by_url(&self, url: &str) -> Option<&Scan> {
        self.by_url.get(url)
    }

    /// The scan of a scan_id (lower case).
    pub(crate) fn by_scan_id(&self, scan_id: &str) -> Option<&Scan> {
        self.by_url.get(self.by_scan_id.get(scan_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_as_the_service_shows_them() {
        for (text, normal) in [
            ("www.google.com", "http://www.google.com/"),
            ("http://www.google.com", "http://www.google.com/"),
            (
                "HTTPS://WWW.Example.COM/Path?Q=A#Frag",
                "https://www.example.com/Path?Q=A#Frag",
            ),
            ("example.com?x=1", "http://example.com/?x=1"),
            ("example.com#top", "http://example.com/#top"),
            (
                "http://User:Pw@Host.Example:8080",
                "http://User:Pw@host.example:8080/",
            ),
            ("http://[2001:DB8::1]:81/a", "http://[2001:db8::1]:81/a"),
            ("ftp://files.example/a,b,c", "ftp://files.example/a,b,c"),
            (
                "http://Bücher.Example/Straße",
                "http://bücher.example/Straße",
            ),
        ] {
            assert_eq!(normalise(text).as_deref(), Some(normal), "{text}");
        }
        for invalid in [
            "",
            "http://",
            "http:///path",
            "http://a b.com/",
            "http://example.com/a b",
            "exa\tmple.com",
            "1http://example.com/",
            "http://example.com:80x/",
            "mailto:someone",
            "http://user@/",
        ] {
            assert_eq!(normalise(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn items_split_on_newlines_only() {
        assert_eq!(
            split_items("http://a/x,y\r\n b.com \n\n c.com?q=1, 2"),
            ["http://a/x,y", "b.com", "c.com?q=1, 2"]
        );
        assert!(split_items(" \n ").is_empty());
    }

    #[test]
    fn scan_ids_are_recognised_by_shape() {
        let digest = "dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf";
        assert!(is_scan_id(&format!("{digest}-1562751553")));
        assert!(!is_scan_id(digest));
        assert!(!is_scan_id(&format!("{digest}-")));
        assert!(!is_scan_id(&format!("{digest}-12a")));
        assert!(!is_scan_id("example.com-1"));
    }

    #[test]
    fn a_scan_is_named_after_the_sha256_of_its_url() {
        let scan = Scan::new("http://www.google.com/", 1_562_751_553, Duration::ZERO);
        assert_eq!(
            scan.scan_id(),
            "dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf-1562751553"
        );
        assert_eq!(scan.scan_date(), "2019-07-10 09:39:13");
    }

    #[test]
    fn verdicts_follow_the_words_in_the_url() {
        let detected = |url: &str| verdicts(url).filter(|(_, v)| v.is_some()).count();
        assert_eq!(detected("http://example.com/"), 0);
        assert_eq!(detected("http://example.com/MALWARE.exe"), 3);
        assert_eq!(detected("http://phishing.example/"), 3);
        assert_eq!(detected("http://phishing.example/malware"), 6);
        assert!(ENGINES.windows(2).all(|w| w[0] < w[1]), "in name order");
    }
}
