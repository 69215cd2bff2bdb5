//! `domain/report`: its answer, and the domain a user asks about.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::query::{Identifiers, Query};
use crate::relations::{self, DetectedUrl, Resolution, Sample, SampleRelation};
use crate::wire::wire_object;
use crate::{Error, UnixTime};

wire_object! {
    /// The found answer of `domain/report` (`response_code` 1).
    ///
    /// Every key but `response_code` may be absent: the service leaves out what it has not
    /// seen. Vendor keys whose names have spaces ("BitDefender category", "Alexa rank",
    /// "Webutation domain info", ...) come and go with the vendors, so they are not fields:
    /// they are in `extra` as sent, and [`DomainReport::categories_merged`] reads the
    /// categories among them. A domain answer does not echo the domain.
    pub struct DomainReport {
        /// 1 for a report.
        req response_code: i64 => "response_code",
        /// E.g. "Domain found in dataset".
        opt verbose_msg: String => "verbose_msg",
        /// The addresses the domain resolved to (passive DNS).
        opt resolutions: Vec<Resolution> => "resolutions",
        /// URLs at the domain that some engine detected.
        opt detected_urls: Vec<DetectedUrl> => "detected_urls",
        /// URLs at the domain no engine detected: arrays `[url, sha256, positives, total,
        /// scan_date]` in the recordings, kept as sent since their shape is not documented.
        opt undetected_urls: serde_json::Value => "undetected_urls",
        /// Detected files downloaded from the domain.
        opt detected_downloaded_samples: Vec<Sample> => "detected_downloaded_samples",
        /// Undetected files downloaded from the domain.
        opt undetected_downloaded_samples: Vec<Sample> => "undetected_downloaded_samples",
        /// Detected files that talk to the domain.
        opt detected_communicating_samples: Vec<Sample> => "detected_communicating_samples",
        /// Undetected files that talk to the domain.
        opt undetected_communicating_samples: Vec<Sample> => "undetected_communicating_samples",
        /// Detected files that contain or point at the domain.
        opt detected_referrer_samples: Vec<Sample> => "detected_referrer_samples",
        /// Undetected files that contain or point at the domain.
        opt undetected_referrer_samples: Vec<Sample> => "undetected_referrer_samples",
        /// Sub-domains seen.
        opt subdomains: Vec<String> => "subdomains",
        /// Domains under the same parent.
        opt domain_siblings: Vec<String> => "domain_siblings",
        /// The service's own categories.
        opt categories: Vec<String> => "categories",
        /// SHA-256s of network captures that involve the domain.
        opt pcaps: Vec<String> => "pcaps",
        /// The WHOIS record as text; may be null.
        opt whois: Option<String> => "whois",
        /// When the WHOIS record was fetched: whole seconds, or with a fraction (2014).
        opt whois_timestamp: UnixTime => "whois_timestamp",
        /// The domain's DNS records.
        opt dns_records: Vec<DnsRecord> => "dns_records",
        /// When the DNS records were fetched.
        opt dns_records_date: UnixTime => "dns_records_date",
    }
}

wire_object! {
    /// One DNS record of a domain; the fields of each record type (`priority`, `rname`,
    /// `serial`, ...) are in `extra`.
    pub struct DnsRecord {
        /// `A`, `AAAA`, `MX`, `NS`, `SOA`, `TXT`, ...
        req record_type: String => "type",
        /// The record's value (address, host name, text).
        req value: String => "value",
        /// Time to live, in seconds.
        opt ttl: u64 => "ttl",
    }
}

impl DomainReport {
    /// The resolutions, the most recent first (undated ones last).
    pub fn resolutions_newest_first(&self) -> Vec<&Resolution> {
        relations::newest_first(&self.resolutions)
    }

    /// The detected URLs, as sent (empty when there are none).
    pub fn detected_urls(&self) -> &[DetectedUrl] {
        self.detected_urls.as_deref().unwrap_or_default()
    }

    /// The service's `categories` and every vendor's `"... category"` text, without
    /// duplicates, sorted.
    pub fn categories_merged(&self) -> Vec<&str> {
        let vendors = self
            .extra
            .iter()
            .filter(|(key, _)| key.ends_with(" category"))
            .filter_map(|(_, value)| value.as_str());
        let own = self.categories.iter().flatten().map(String::as_str);
        own.chain(vendors)
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .collect()
    }

    /// The files some engine detected, with how they relate to the domain: downloaded, then
    /// communicating, then referrer, each in the order sent. Each has its
    /// [`Sample::detection_ratio`].
    pub fn detected_samples(&self) -> impl Iterator<Item = (SampleRelation, &Sample)> + '_ {
        relations::detected_samples(
            &self.detected_downloaded_samples,
            &self.detected_communicating_samples,
            &self.detected_referrer_samples,
        )
    }

    /// The WHOIS record, when present and not null.
    pub fn whois(&self) -> Option<&str> {
        self.whois.as_ref().and_then(|w| w.as_deref())
    }
}

crate::answer::report_impl!(DomainReport, silent);

/// The longest domain name, in bytes (RFC 1035).
const MAX_DOMAIN_BYTES: usize = 253;
/// The longest label, in characters (RFC 1035 counts bytes of the ASCII form; a label in
/// another script is counted by its characters, since its punycode form is not computed).
const MAX_LABEL_CHARS: usize = 63;

/// A domain a user asks `domain/report` about.
///
/// Domains are case-insensitive: the text is trimmed and lower-cased, and that is both what is
/// sent and the key answers are cached under. Each dot-separated label is 1 to 63 letters,
/// digits or hyphens, not starting or ending with a hyphen; at least two labels, at most 253
/// bytes; one final dot is dropped. Punycode labels (`xn--...`) are ordinary labels; letters of
/// other scripts are accepted as given (not converted to punycode). A URL, a path, a port or
/// an IP address is refused with a message saying what to ask instead.
///
/// ```
/// use vt_model::Domain;
///
/// let domain = Domain::parse(" WWW.Example.COM ")?;
/// assert_eq!(domain.as_str(), "www.example.com");
///
/// let err = Domain::parse("http://example.com/").unwrap_err();
/// assert!(err.to_string().contains("vt url report"));
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Domain {
    text: Box<str>,
}

impl Domain {
    /// Parses user input; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<Domain, Error> {
        let trimmed = input.trim();
        let refuse = |reason: &str| Error::InvalidQuery {
            kind: "domain",
            input: trimmed.to_owned(),
            reason: reason.to_owned(),
        };
        check_domain(trimmed).map_err(|reason| refuse(&reason))?;
        let text = trimmed.strip_suffix('.').unwrap_or(trimmed).to_lowercase();
        Ok(Domain { text: text.into() })
    }

    /// The domain, lower-cased: what is sent, and the key answers are cached under.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Why `text` (trimmed) is not a domain, if it is not.
fn check_domain(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.contains("://") {
        return Err(
            "it is a URL, not a domain; give the host alone (example.com), or ask about the whole \
             URL with `vt url report`"
                .into(),
        );
    }
    if text.chars().any(char::is_whitespace) {
        return Err("it contains whitespace; give one domain per item".into());
    }
    if text.contains('/') {
        return Err("it has a path; give the host alone (example.com)".into());
    }
    if text.parse::<std::net::Ipv4Addr>().is_ok()
        || text.contains(':') && text.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return Err("it is an IP address; ask the IP address report instead".into());
    }
    if text.contains(':') {
        return Err("it has a port; give the host alone (example.com)".into());
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.len() > MAX_DOMAIN_BYTES {
        return Err(format!(
            "it is longer than {MAX_DOMAIN_BYTES} bytes ({})",
            name.len()
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("it has a single label; give a full domain such as example.com".into());
    }
    for label in &labels {
        check_label(label)?;
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("its last label (the top-level domain) is all digits".into());
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label (two dots in a row, or a dot at the start)".into());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!(
            "its label {label:?} is longer than {MAX_LABEL_CHARS} characters"
        ));
    }
    if let Some(bad) = label.chars().find(|&c| !(c.is_alphanumeric() || c == '-')) {
        return Err(format!(
            "its label {label:?} has {bad:?}; labels are letters, digits and hyphens"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("its label {label:?} starts or ends with a hyphen"));
    }
    Ok(())
}

impl Query for Domain {
    fn wire_text(&self) -> &str {
        &self.text
    }

    fn match_key(&self) -> &str {
        &self.text
    }

    fn echo_key(echoed: &str) -> Cow<'_, str> {
        let echoed = echoed.trim();
        if echoed.chars().any(char::is_uppercase) {
            Cow::Owned(echoed.to_lowercase())
        } else {
            Cow::Borrowed(echoed)
        }
    }

    /// Always false: a domain answer does not name its domain, so nothing in it can
    /// contradict the question (answers are matched by place, one question per request).
    fn contradicted_by(&self, _ids: &Identifiers) -> bool {
        false
    }
}

crate::query::text_query_impls!(Domain);

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(key)` or `Err(part of the reason)`.
    #[track_caller]
    fn check(input: &str, expect: Result<&str, &str>) {
        match (Domain::parse(input), expect) {
            (Ok(domain), Ok(key)) => {
                assert_eq!(domain.match_key(), key, "{input:?}");
                assert_eq!(domain.wire_text(), key, "{input:?}");
                assert_eq!(Domain::echo_key(input), input.trim().to_lowercase());
            }
            (Err(e), Err(reason)) => {
                let msg = e.to_string();
                assert!(msg.starts_with("invalid domain "), "{msg}");
                assert!(msg.contains(reason), "{msg:?} should contain {reason:?}");
                // Long inputs are quoted by their start (see `Error::InvalidQuery`).
                let quoted = format!("{:?}", input.trim());
                assert!(msg.contains(&quoted[..quoted.len().min(90)]), "{msg}");
            }
            (got, expect) => panic!("{input:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn accepts_domains_in_any_case() {
        let table: &[(&str, &str)] = &[
            ("example.com", "example.com"),
            ("  WWW.Example.COM\n", "www.example.com"),
            ("027.ru", "027.ru"),
            ("a-b.c-d.example", "a-b.c-d.example"),
            ("example.com.", "example.com"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("Bücher.Example", "bücher.example"),
            ("例え.テスト", "例え.テスト"),
            ("1.2.3.example", "1.2.3.example"),
        ];
        for &(input, key) in table {
            check(input, Ok(key));
        }
        let longest_label = format!("{}.com", "a".repeat(63));
        check(&longest_label, Ok(&longest_label));
        let longest = format!("{0}.{0}.{0}.{1}.com", "a".repeat(63), "b".repeat(57));
        assert_eq!(longest.len(), 253);
        check(&longest, Ok(&longest));
    }

    #[test]
    fn refuses_what_is_not_a_domain_and_says_what_to_ask() {
        check("", Err("it is empty"));
        check("http://example.com", Err("`vt url report`"));
        check("https://example.com/x", Err("it is a URL"));
        check("example.com/path", Err("it has a path"));
        check("example.com:8080", Err("it has a port"));
        check("exa mple.com", Err("whitespace"));
        check("localhost", Err("a single label"));
        check("example..com", Err("an empty label"));
        check(".example.com", Err("an empty label"));
        check("-example.com", Err("starts or ends with a hyphen"));
        check("example-.com", Err("starts or ends with a hyphen"));
        check("ex_ample.com", Err("has '_'"));
        check("ex@mple.com", Err("has '@'"));
        check("8.8.8.8", Err("IP address"));
        check("::1", Err("IP address"));
        check("example.123", Err("all digits"));
        check(&format!("{}.com", "a".repeat(64)), Err("longer than 63"));
        let too_long = format!("{0}.{0}.{0}.{1}.com", "a".repeat(63), "b".repeat(58));
        check(&too_long, Err("longer than 253 bytes (254)"));
    }

    #[test]
    fn nothing_contradicts_a_domain() {
        let domain = Domain::parse("example.com").unwrap();
        let ids = Identifiers {
            url: Some("http://other.example/".into()),
            ..Identifiers::default()
        };
        assert!(!domain.contradicted_by(&ids));
        assert_eq!(Domain::echo_key(" Example.COM "), "example.com");
    }
}
