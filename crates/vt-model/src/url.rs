//! `url/report` and `url/scan`: their answers, and the URL a user asks about.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::query::{Identifiers, Query};
use crate::report::DetectionRatio;
use crate::resource::{Resource, ResourceKind};
use crate::wire::wire_object;
use crate::{Error, UtcTimestamp};

wire_object! {
    /// The found answer of `url/report` (`response_code` 1).
    ///
    /// With `scan=1`, a URL the service did not know is submitted, and the answer is also
    /// `response_code` 1 but in the shape of [`UrlScan`]: no `positives`, `total` or `scans`
    /// ([`UrlReport::is_queued_scan`]). Keys the model does not know are kept in `extra`, here
    /// and in each engine's entry.
    pub struct UrlReport {
        /// 1 for a report (or a scan just queued).
        req response_code: i64 => "response_code",
        /// E.g. "Scan finished, scan information embedded in this object".
        opt verbose_msg: String => "verbose_msg",
        /// The URL as it was submitted, echoed by the service.
        opt resource: String => "resource",
        /// The URL as the service normalised it (scheme added, trailing `/` after a host).
        req url: String => "url",
        /// `<sha256 of the URL>-<unix seconds>` of this analysis.
        req scan_id: String => "scan_id",
        /// When this analysis ran (UTC).
        req scan_date: UtcTimestamp => "scan_date",
        /// Link to the analysis on the web site.
        req permalink: String => "permalink",
        /// The scan of the file the URL served, if any; null in every recording.
        opt filescan_id: Option<String> => "filescan_id",
        /// How many engines flagged the URL; absent when the scan was only queued.
        opt positives: u32 => "positives",
        /// How many engines scanned it; absent when the scan was only queued.
        opt total: u32 => "total",
        /// Each engine's verdict; absent when the scan was only queued.
        opt scans: BTreeMap<String, UrlScanResult> => "scans",
    }
}

wire_object! {
    /// One engine's verdict on a URL.
    pub struct UrlScanResult {
        /// Whether the engine flagged the URL.
        req detected: bool => "detected",
        /// "clean site", "unrated site", "malicious site", "phishing site", "suspicious site",
        /// or another text; may be null.
        opt result: Option<String> => "result",
        /// A link to the engine's own page about the URL; some engines only, may be null.
        opt detail: Option<String> => "detail",
    }
}

impl UrlScanResult {
    /// The verdict text, if any.
    pub fn result(&self) -> Option<&str> {
        self.result.as_ref().and_then(|r| r.as_deref())
    }

    /// The engine's link about the URL, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.as_deref())
    }
}

/// How many engines gave each kind of verdict on a URL ([`UrlReport::verdicts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UrlVerdicts {
    /// "clean site".
    pub clean: u32,
    /// "unrated site".
    pub unrated: u32,
    /// "malicious site".
    pub malicious: u32,
    /// "phishing site".
    pub phishing: u32,
    /// "suspicious site".
    pub suspicious: u32,
    /// Any other text, or none.
    pub other: u32,
}

impl UrlReport {
    /// True for the `scan=1` answer about a URL the service did not know: the scan is queued
    /// and there is no verdict yet (no `scans`).
    pub fn is_queued_scan(&self) -> bool {
        self.scans.is_none()
    }

    /// `positives` out of `total`, when both were sent.
    pub fn detection_ratio(&self) -> Option<DetectionRatio> {
        Some(DetectionRatio {
            positives: self.positives?,
            total: self.total?,
        })
    }

    /// `(engine, verdict)` of each engine that flagged the URL, in engine name order (the
    /// verdict is empty when the engine gave none).
    pub fn detections(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.scans
            .iter()
            .flatten()
            .filter(|(_, scan)| scan.detected)
            .map(|(engine, scan)| (engine.as_str(), scan.result().unwrap_or("")))
    }

    /// How many engines gave each verdict.
    pub fn verdicts(&self) -> UrlVerdicts {
        let mut counts = UrlVerdicts::default();
        for scan in self.scans.iter().flat_map(BTreeMap::values) {
            let slot = match scan.result() {
                Some("clean site") => &mut counts.clean,
                Some("unrated site") => &mut counts.unrated,
                Some("malicious site") => &mut counts.malicious,
                Some("phishing site") => &mut counts.phishing,
                Some("suspicious site") => &mut counts.suspicious,
                _ => &mut counts.other,
            };
            *slot += 1;
        }
        counts
    }
}

crate::answer::report_impl!(UrlReport, echoes);

wire_object! {
    /// The answer of `url/scan` (`response_code` 1, "Scan request successfully queued, come
    /// back later for the report"): where the report will be.
    pub struct UrlScan {
        /// 1 when the scan was queued.
        req response_code: i64 => "response_code",
        /// E.g. "Scan request successfully queued, come back later for the report".
        opt verbose_msg: String => "verbose_msg",
        /// The URL, echoed by the service (normalised in every recording).
        opt resource: String => "resource",
        /// The URL as the service normalised it.
        req url: String => "url",
        /// `<sha256 of the URL>-<unix seconds>`: ask `url/report` with it.
        req scan_id: String => "scan_id",
        /// When the scan was queued (UTC).
        req scan_date: UtcTimestamp => "scan_date",
        /// Link to the analysis on the web site.
        req permalink: String => "permalink",
    }
}

crate::answer::report_impl!(UrlScan, echoes);

/// The longest URL accepted, in bytes: what browsers and most servers accept, and far above
/// any URL worth asking about.
pub const MAX_URL_BYTES: usize = 2048;

/// A URL a user asks `url/report` or `url/scan` about.
///
/// The text is kept exactly as given, surrounding whitespace trimmed: it is sent so, the
/// service echoes it so, and answers are matched by it, case-sensitively (paths and queries
/// are case-sensitive). Refused: an empty text, whitespace or control characters inside, more
/// than [`MAX_URL_BYTES`]. A comma is a URL character: batches are joined by newlines.
///
/// ```
/// use vt_model::Url;
///
/// let url = Url::parse("  HTTP://Example.COM?q=A,B#top ")?;
/// assert_eq!(url.as_str(), "HTTP://Example.COM?q=A,B#top");
/// assert_eq!(url.normalised(), "http://example.com/?q=A,B#top");
///
/// let err = Url::parse("http://example.com/a b").unwrap_err();
/// assert!(err.to_string().contains("\"http://example.com/a b\""));
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    text: Box<str>,
}

impl Url {
    /// Parses user input; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<Url, Error> {
        let text = input.trim();
        let refuse = |reason: &str| Error::InvalidQuery {
            kind: "URL",
            input: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if text.len() > MAX_URL_BYTES {
            return Err(refuse(&format!(
                "it is longer than {MAX_URL_BYTES} bytes ({})",
                text.len()
            )));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(refuse(
                "it contains whitespace; give one URL per item, with spaces encoded as %20",
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(refuse("it contains a control character"));
        }
        Ok(Url { text: text.into() })
    }

    /// The URL as given (trimmed), which is what is sent and what the service echoes.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL as the service writes it in `url`: `http://` added when there is no scheme,
    /// scheme and host in lower case, `/` added after a bare host. The rest is kept as given.
    pub fn normalised(&self) -> String {
        normalise(&self.text)
    }

    /// The SHA-256 part of a text that is a scan_id (`<sha256 of the URL>-<unix seconds>`,
    /// which `url/report` takes as a resource), not a URL: its 64-digit first label is longer
    /// than a host name's may be.
    fn scan_id_hash(&self) -> Option<&str> {
        let resource = Resource::parse(&self.text).ok()?;
        (resource.kind() == ResourceKind::ScanId).then(|| self.text.split('-').next().unwrap_or(""))
    }
}

/// The scheme of `text`, when it starts with one followed by `://`.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

fn normalise(text: &str) -> String {
    let (scheme, rest) = split_scheme(text).unwrap_or(("http", text));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // Only the host is case-insensitive: user information before `@` is kept as given.
    let (user, host) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&scheme.to_ascii_lowercase());
    out.push_str("://");
    out.push_str(user);
    out.push_str(&host.to_lowercase());
    if !tail.starts_with('/') {
        out.push('/');
    }
    out.push_str(tail);
    out
}

impl Query for Url {
    fn wire_text(&self) -> &str {
        &self.text
    }

    fn match_key(&self) -> &str {
        &self.text
    }

    fn echo_key(echoed: &str) -> Cow<'_, str> {
        Cow::Borrowed(echoed.trim())
    }

    fn contradicted_by(&self, ids: &Identifiers) -> bool {
        // A URL's scan_id names the URL by its SHA-256 alone: the answer's `url` cannot
        // contradict it, a `scan_id` of another hash does.
        if let Some(hash) = self.scan_id_hash() {
            return ids.scan_id.as_deref().is_some_and(|id| {
                let theirs = id.trim().split('-').next().unwrap_or("");
                !theirs.eq_ignore_ascii_case(hash)
            });
        }
        // Beyond ASCII the service encodes (punycode hosts, percent-encoded paths) in ways
        // this normalisation does not follow: such a URL is never said to be contradicted.
        if !self.text.is_ascii() {
            return false;
        }
        ids.url
            .as_deref()
            .is_some_and(|url| normalise(url.trim()) != self.normalised())
    }

    fn named_by_echo(&self, echoed: &str) -> bool {
        normalise(echoed.trim()) == self.normalised()
    }
}

crate::query::text_query_impls!(Url);

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(normalised)` or `Err(part of the reason)`.
    #[track_caller]
    fn check(input: &str, expect: Result<&str, &str>) {
        match (Url::parse(input), expect) {
            (Ok(url), Ok(normalised)) => {
                assert_eq!(url.as_str(), input.trim(), "kept as given");
                assert_eq!(url.match_key(), input.trim());
                assert_eq!(url.wire_text(), input.trim());
                assert_eq!(url.normalised(), normalised, "{input:?}");
            }
            (Err(e), Err(reason)) => {
                let msg = e.to_string();
                assert!(msg.starts_with("invalid URL "), "{msg}");
                assert!(msg.contains(reason), "{msg:?} should contain {reason:?}");
                if input.len() < 100 {
                    assert!(msg.contains(&format!("{:?}", input.trim())), "{msg}");
                }
            }
            (got, expect) => panic!("{input:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn accepts_urls_as_given_and_normalises_as_the_service() {
        let table: &[(&str, &str)] = &[
            ("http://www.google.com", "http://www.google.com/"),
            ("www.google.com", "http://www.google.com/"),
            (
                " HTTPS://WWW.Example.COM/Path/A ",
                "https://www.example.com/Path/A",
            ),
            ("example.com/a,b,c", "http://example.com/a,b,c"),
            ("http://example.com?q=1,2", "http://example.com/?q=1,2"),
            ("http://example.com#Frag", "http://example.com/#Frag"),
            (
                "http://example.com/page#section-2",
                "http://example.com/page#section-2",
            ),
            (
                "http://User:Pass@Example.com:8080",
                "http://User:Pass@example.com:8080/",
            ),
            ("ftp://FILES.example.org/x", "ftp://files.example.org/x"),
            ("http://ÉCOLE.fr/été", "http://école.fr/été"),
            ("http://例え.テスト/パス", "http://例え.テスト/パス"),
            ("example.com:80/x://y", "http://example.com:80/x://y"),
        ];
        for &(input, normalised) in table {
            check(input, Ok(normalised));
        }
        let longest = format!("http://a.com/{}", "x".repeat(2035));
        check(&longest, Ok(&longest));
    }

    #[test]
    fn refuses_what_cannot_be_one_url() {
        check("", Err("it is empty"));
        check(" \t ", Err("it is empty"));
        check("http://example.com/a b", Err("whitespace"));
        check("http://a.com\nhttp://b.com", Err("whitespace"));
        check("http://a.com/\u{a0}x", Err("whitespace"));
        check("http://a.com/\u{7}", Err("control character"));
        check(
            &format!("http://a.com/{}", "x".repeat(2037)),
            Err("longer than 2048 bytes (2050)"),
        );
    }

    #[test]
    fn a_long_input_is_quoted_by_its_start() {
        let long = format!("http://a.com/{}", "x".repeat(5000));
        let msg = Url::parse(&long).unwrap_err().to_string();
        assert!(msg.contains("xxx\"... (5013 bytes)"), "{msg}");
        assert!(msg.len() < 250, "{msg}");
    }

    #[test]
    fn echoes_match_exactly_and_answers_naming_another_url_contradict() {
        let url = Url::parse("http://www.Google.com").unwrap();
        assert_eq!(Url::echo_key(" http://www.Google.com\n"), url.match_key());
        assert_ne!(Url::echo_key("http://www.google.com"), url.match_key());

        let named = |u: &str| Identifiers {
            url: Some(u.into()),
            ..Identifiers::default()
        };
        assert!(!url.contradicted_by(&Identifiers::default()));
        assert!(!url.contradicted_by(&named("http://www.google.com/")));
        assert!(url.contradicted_by(&named("http://www.google.com/x")));
        assert!(url.contradicted_by(&named("https://www.google.com/")));
        let bare = Url::parse("example.com/Path").unwrap();
        assert!(!bare.contradicted_by(&named("http://example.com/Path")));
        assert!(bare.contradicted_by(&named("http://example.com/path")));
        let unicode = Url::parse("http://bücher.example/ä").unwrap();
        assert!(!unicode.contradicted_by(&named("http://xn--bcher-kva.example/%C3%A4")));
    }

    #[test]
    fn a_scan_id_asked_of_url_report_is_contradicted_only_by_another_urls_scan_id() {
        // What `url/scan` answered for http://third-party.example/path?q=1.
        let hash = "6ba8460465809dbd50cce07aa6bd5090e4a34564ae4f8488c070814a9d57322f";
        let by_scan_id = Url::parse(&format!("{hash}-1796419274")).unwrap();
        let answer = |url: &str, scan_id: Option<String>| Identifiers {
            url: Some(url.into()),
            scan_id: scan_id.map(Into::into),
            ..Identifiers::default()
        };
        let url = "http://third-party.example/path?q=1";
        assert!(!by_scan_id.contradicted_by(&answer(url, None)));
        assert!(!by_scan_id.contradicted_by(&answer(url, Some(format!("{hash}-1796419274")))));
        // Another analysis of the same URL.
        let later = format!("{}-1796419999", hash.to_ascii_uppercase());
        assert!(!by_scan_id.contradicted_by(&answer(url, Some(later))));
        let other = format!("{}-1796419274", "a".repeat(64));
        assert!(by_scan_id.contradicted_by(&answer(url, Some(other))));
        // Not the shape of a scan_id: a URL, judged by its `url`.
        let host = Url::parse(&format!("{}-1", &hash[..63])).unwrap();
        assert!(host.contradicted_by(&answer(url, None)));
    }
}
