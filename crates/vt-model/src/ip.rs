//! `ip-address/report`: its answer, and the IPv4 address a user asks about.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use crate::query::{Identifiers, Query};
use crate::relations::{self, DetectedUrl, Resolution, Sample, SampleRelation};
use crate::wire::wire_object;
use crate::{Error, UnixTime};

wire_object! {
    /// The found answer of `ip-address/report` (`response_code` 1).
    ///
    /// Every key but `response_code` may be absent; the texts about the network may be null.
    /// An IP address answer does not echo the address.
    pub struct IpReport {
        /// 1 for a report.
        req response_code: i64 => "response_code",
        /// "IP address found in dataset" (2014), "IP address in dataset" (2018 on).
        opt verbose_msg: String => "verbose_msg",
        /// The autonomous system number: a string in 2014, an integer later; see
        /// [`IpReport::asn`].
        opt asn: Option<Asn> => "asn",
        /// Who owns the autonomous system.
        opt as_owner: Option<String> => "as_owner",
        /// Two-letter country code.
        opt country: Option<String> => "country",
        /// Two-letter continent code.
        opt continent: Option<String> => "continent",
        /// The announced network, in CIDR notation.
        opt network: Option<String> => "network",
        /// The WHOIS record as text; may be null.
        opt whois: Option<String> => "whois",
        /// When the WHOIS record was fetched.
        opt whois_timestamp: UnixTime => "whois_timestamp",
        /// The host names that resolved to the address (passive DNS, up to 1000).
        opt resolutions: Vec<Resolution> => "resolutions",
        /// URLs at the address that some engine detected.
        opt detected_urls: Vec<DetectedUrl> => "detected_urls",
        /// URLs at the address no engine detected, kept as sent (arrays in the recordings).
        opt undetected_urls: serde_json::Value => "undetected_urls",
        /// Detected files downloaded from the address.
        opt detected_downloaded_samples: Vec<Sample> => "detected_downloaded_samples",
        /// Undetected files downloaded from the address.
        opt undetected_downloaded_samples: Vec<Sample> => "undetected_downloaded_samples",
        /// Detected files that talk to the address.
        opt detected_communicating_samples: Vec<Sample> => "detected_communicating_samples",
        /// Undetected files that talk to the address.
        opt undetected_communicating_samples: Vec<Sample> => "undetected_communicating_samples",
        /// Detected files that contain or point at the address.
        opt detected_referrer_samples: Vec<Sample> => "detected_referrer_samples",
        /// Undetected files that contain or point at the address.
        opt undetected_referrer_samples: Vec<Sample> => "undetected_referrer_samples",
    }
}

/// An autonomous system number as the service wrote it: a string (`"15169"`, 2014) or an
/// integer (`4436`, 2018 on). Each re-encodes in the JSON type it came in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Asn {
    /// Sent as an integer.
    Number(u64),
    /// Sent as a string.
    Text(String),
}

impl Asn {
    /// The number as text: digits only for a number, and for a string of digits (leading
    /// zeros and an `AS` prefix dropped); any other string trimmed, as sent.
    pub fn to_text(&self) -> String {
        match self {
            Asn::Number(n) => n.to_string(),
            Asn::Text(text) => {
                let text = text.trim();
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(text);
                match digits.parse::<u64>() {
                    Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
                    _ => text.to_owned(),
                }
            }
        }
    }
}

impl serde::Serialize for Asn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Asn::Number(n) => serializer.serialize_u64(*n),
            Asn::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Asn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AsnVisitor;
        impl serde::de::Visitor<'_> for AsnVisitor {
            type Value = Asn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number (an integer or a string)")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Asn, E> {
                Ok(Asn::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Asn, E> {
                u64::try_from(v)
                    .map(Asn::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E>(self, v: &str) -> Result<Asn, E> {
                Ok(Asn::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Asn, E> {
                Ok(Asn::Text(v))
            }
        }
        deserializer.deserialize_any(AsnVisitor)
    }
}

impl IpReport {
    /// The autonomous system number as text (see [`Asn::to_text`]), when given.
    pub fn asn(&self) -> Option<String> {
        self.asn.as_ref()?.as_ref().map(Asn::to_text)
    }

    /// Who owns the autonomous system, when given.
    pub fn owner(&self) -> Option<&str> {
        self.as_owner.as_ref().and_then(|o| o.as_deref())
    }

    /// The two-letter country code, when given.
    pub fn country(&self) -> Option<&str> {
        self.country.as_ref().and_then(|c| c.as_deref())
    }

    /// The WHOIS record, when present and not null.
    pub fn whois(&self) -> Option<&str> {
        self.whois.as_ref().and_then(|w| w.as_deref())
    }

    /// The resolutions, the most recent first (undated ones last).
    pub fn resolutions_newest_first(&self) -> Vec<&Resolution> {
        relations::newest_first(&self.resolutions)
    }

    /// The detected URLs, as sent (empty when there are none).
    pub fn detected_urls(&self) -> &[DetectedUrl] {
        self.detected_urls.as_deref().unwrap_or_default()
    }

    /// The files some engine detected, with how they relate to the address: downloaded, then
    /// communicating, then referrer, each in the order sent.
    pub fn detected_samples(&self) -> impl Iterator<Item = (SampleRelation, &Sample)> + '_ {
        relations::detected_samples(
            &self.detected_downloaded_samples,
            &self.detected_communicating_samples,
            &self.detected_referrer_samples,
        )
    }
}

crate::answer::report_impl!(IpReport, silent);

/// An IPv4 address a user asks `ip-address/report` about.
///
/// Four decimal numbers 0 to 255, dot-separated, without leading zeros (`010.0.0.1` is
/// refused, not read as octal or decimal), surrounding whitespace trimmed. The v2 API has no
/// IPv6 and no network lookups: both are refused with a message saying so.
///
/// ```
/// use vt_model::IpAddress;
///
/// let ip = IpAddress::parse(" 8.8.8.8 ")?;
/// assert_eq!(ip.as_str(), "8.8.8.8");
/// assert_eq!(ip.addr(), std::net::Ipv4Addr::new(8, 8, 8, 8));
///
/// let err = IpAddress::parse("2001:db8::1").unwrap_err();
/// assert!(err.to_string().contains("IPv6 is not supported"));
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IpAddress {
    addr: Ipv4Addr,
    text: Box<str>,
}

impl IpAddress {
    /// Parses user input; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<IpAddress, Error> {
        let text = input.trim();
        let refuse = |reason: &str| Error::InvalidQuery {
            kind: "IP address",
            input: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if let Ok(addr) = text.parse::<Ipv4Addr>() {
            // `Ipv4Addr` reads only the canonical dotted quad, so its text is the input's.
            return Ok(IpAddress {
                addr,
                text: addr.to_string().into(),
            });
        }
        if text.contains('/') {
            return Err(refuse("it is a network; give one address, not a network"));
        }
        if text.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(refuse("IPv6 is not supported by the v2 API"));
        }
        Err(refuse(
            "expected an IPv4 address: four numbers 0 to 255 separated by dots, without \
             leading zeros",
        ))
    }

    /// The address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The address in dotted-quad text: what is sent, and the key answers are cached under.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Query for IpAddress {
    fn wire_text(&self) -> &str {
        &self.text
    }

    fn match_key(&self) -> &str {
        &self.text
    }

    fn echo_key(echoed: &str) -> Cow<'_, str> {
        Cow::Borrowed(echoed.trim())
    }

    /// Always false: an IP address answer does not name its address.
    fn contradicted_by(&self, _ids: &Identifiers) -> bool {
        false
    }
}

crate::query::text_query_impls!(IpAddress);

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(key)` or `Err(part of the reason)`.
    #[track_caller]
    fn check(input: &str, expect: Result<&str, &str>) {
        match (IpAddress::parse(input), expect) {
            (Ok(ip), Ok(key)) => {
                assert_eq!(ip.match_key(), key, "{input:?}");
                assert_eq!(ip.wire_text(), key, "{input:?}");
                assert_eq!(ip.addr().to_string(), key);
            }
            (Err(e), Err(reason)) => {
                let msg = e.to_string();
                assert!(msg.starts_with("invalid IP address "), "{msg}");
                assert!(msg.contains(reason), "{msg:?} should contain {reason:?}");
                assert!(msg.contains(&format!("{:?}", input.trim())), "{msg}");
            }
            (got, expect) => panic!("{input:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn accepts_dotted_quads() {
        for (input, key) in [
            ("8.8.8.8", "8.8.8.8"),
            (" 50.116.64.1\t", "50.116.64.1"),
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("10.0.0.1", "10.0.0.1"),
        ] {
            check(input, Ok(key));
        }
    }

    #[test]
    fn refuses_everything_else_naming_the_value() {
        let not_v4 = "expected an IPv4 address";
        check("", Err("it is empty"));
        check("2001:db8::1", Err("IPv6 is not supported by the v2 API"));
        check("::ffff:8.8.8.8", Err("IPv6 is not supported"));
        check("50.116.64.0/18", Err("give one address, not a network"));
        check("256.1.1.1", Err(not_v4));
        check("010.0.0.1", Err(not_v4));
        check("1.2.3", Err(not_v4));
        check("1.2.3.4.5", Err(not_v4));
        check("1.2.3.4:80", Err(not_v4));
        check("example.com", Err(not_v4));
        check("1.2.3.4 5.6.7.8", Err(not_v4));
        check("0x7f.0.0.1", Err(not_v4));
    }

    #[test]
    fn asn_reads_either_json_type_and_writes_it_back() {
        for (json, text) in [
            ("15169", "15169"),
            ("\"15169\"", "15169"),
            ("\"AS015169\"", "15169"),
            ("\" 4436 \"", "4436"),
            ("\"unknown\"", "unknown"),
        ] {
            let asn: Asn = serde_json::from_str(json).unwrap();
            assert_eq!(asn.to_text(), text, "{json}");
            assert_eq!(serde_json::to_string(&asn).unwrap(), json);
        }
        assert!(serde_json::from_str::<Asn>("-1").is_err());
        assert!(serde_json::from_str::<Asn>("1.5").is_err());
    }
}
