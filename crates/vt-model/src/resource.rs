//! What a user asks `/file/report` about: a hash or a scan_id, validated strictly.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The kind of a [`Resource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResourceKind {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
    /// `<sha256>-<unix seconds>`, as returned by `/file/scan`.
    ScanId,
}

impl ResourceKind {
    /// Lower-case name: `md5`, `sha1`, `sha256`, `scan_id`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Md5 => "md5",
            ResourceKind::Sha1 => "sha1",
            ResourceKind::Sha256 => "sha256",
            ResourceKind::ScanId => "scan_id",
        }
    }
}

impl ResourceKind {
    /// The kind of `text` (surrounding whitespace ignored) when it is a valid resource, without
    /// allocating: for hot paths that only need a yes or no. [`Resource::parse`] says why not.
    ///
    /// ```
    /// use vt_model::ResourceKind;
    ///
    /// assert_eq!(ResourceKind::detect(" 99017F6EEBBAC24F351415DD410D522D "), Some(ResourceKind::Md5));
    /// assert_eq!(ResourceKind::detect("hello"), None);
    /// ```
    pub fn detect(text: &str) -> Option<ResourceKind> {
        classify(text.trim()).ok()
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated MD5, SHA-1, SHA-256 or scan_id, as a user typed it.
///
/// The service echoes `resource` back exactly as sent, so [`Resource::as_str`] keeps the user's
/// text (surrounding whitespace trimmed, case kept); [`Resource::key`] is the lower-case form to
/// match answers to questions whatever the case.
///
/// ```
/// use vt_model::{Resource, ResourceKind};
///
/// let r: Resource = "44D88612FEA8A8F36DE82E1278ABB02F".parse()?;
/// assert_eq!(r.kind(), ResourceKind::Md5);
/// assert_eq!(r.as_str(), "44D88612FEA8A8F36DE82E1278ABB02F");
/// assert_eq!(r.key(), "44d88612fea8a8f36de82e1278abb02f");
///
/// let err = "not-a-hash".parse::<Resource>().unwrap_err();
/// assert!(err.to_string().contains("\"not-a-hash\""));
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// The text as given, followed by its lower-case form when that differs: one allocation
    /// a resource (a gateway parses tens of thousands a second).
    text_and_key: Box<str>,
    /// Where the text ends (a resource is at most 77 bytes: a scan_id).
    text_len: u8,
    kind: ResourceKind,
}

impl Resource {
    /// Parses user input; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<Resource, Error> {
        let text = input.trim();
        let kind = classify(text).map_err(|reason| Error::InvalidResource {
            input: text.to_owned(),
            reason,
        })?;
        let text_len = u8::try_from(text.len()).map_err(|_| Error::InvalidResource {
            input: text.to_owned(),
            reason: "too long",
        })?;
        let text_and_key = if text.bytes().any(|b| b.is_ascii_uppercase()) {
            let mut both = String::with_capacity(2 * text.len());
            both.push_str(text);
            both.push_str(text);
            both[text.len()..].make_ascii_lowercase();
            both.into_boxed_str()
        } else {
            text.into()
        };
        Ok(Resource {
            text_and_key,
            text_len,
            kind,
        })
    }

    /// The text as given, which is what the service will echo back.
    pub fn as_str(&self) -> &str {
        &self.text_and_key[..usize::from(self.text_len)]
    }

    /// The normalised (lower-case) form, for matching answers to questions.
    pub fn key(&self) -> &str {
        match self.text_and_key.get(usize::from(self.text_len)..) {
            Some(key) if !key.is_empty() => key,
            _ => &self.text_and_key,
        }
    }

    /// What kind of identifier this is.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// For a scan_id, its SHA-256 part (lower case) and its time in unix seconds.
    pub fn scan_id_parts(&self) -> Option<(&str, u64)> {
        if self.kind != ResourceKind::ScanId {
            return None;
        }
        let (hash, seconds) = self.key().split_once('-')?;
        Some((hash, seconds.parse().ok()?))
    }
}

/// The normalised form of a resource echoed by the server, for matching it against
/// [`Resource::key`]. Server text is not validated: whatever it says is compared as is,
/// case aside.
pub fn echo_key(echoed: &str) -> std::borrow::Cow<'_, str> {
    let echoed = echoed.trim();
    if echoed.bytes().any(|b| b.is_ascii_uppercase()) {
        echoed.to_ascii_lowercase().into()
    } else {
        echoed.into()
    }
}

fn classify(text: &str) -> Result<ResourceKind, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    // Hashes first, in one pass: only hex digits means no comma and no '-' either.
    if !is_hex(text) {
        if text.contains(',') {
            return Err("it contains a comma; give one resource per item");
        }
        if let Some((hash, seconds)) = text.split_once('-') {
            if hash.len() != 64 || !is_hex(hash) {
                return Err("the part before '-' of a scan_id must be a SHA-256 (64 hex digits)");
            }
            if seconds.is_empty()
                || seconds.len() > 12
                || !seconds.bytes().all(|b| b.is_ascii_digit())
            {
                return Err("the part after '-' of a scan_id must be unix seconds (digits)");
            }
            return Ok(ResourceKind::ScanId);
        }
        return Err("it contains a character that is not a hexadecimal digit");
    }
    match text.len() {
        32 => Ok(ResourceKind::Md5),
        40 => Ok(ResourceKind::Sha1),
        64 => Ok(ResourceKind::Sha256),
        _ => Err("it has a hexadecimal length that is not 32, 40 or 64 digits"),
    }
}

fn is_hex(s: &str) -> bool {
    // A fold without early exit, not `all(is_ascii_hexdigit)`: no branch per byte for random
    // hex digits to mispredict, and it vectorises (half the emulator's time per batch).
    s.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_digit() | matches!(b | 0x20, b'a'..=b'f'))
    })
}

impl FromStr for Resource {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resource::parse(s)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resource({}: {:?})", self.kind, self.as_str())
    }
}

impl AsRef<str> for Resource {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl serde::Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Resource::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Result<(ResourceKind, &str), &str>) {
        let got = Resource::parse(input);
        match (got, expect) {
            (Ok(r), Ok((kind, key))) => {
                assert_eq!(r.kind(), kind, "{input}");
                assert_eq!(r.key(), key, "{input}");
                assert_eq!(r.as_str(), input.trim(), "text is kept as given");
            }
            (Err(e), Err(reason)) => {
                let msg = e.to_string();
                assert!(msg.contains(reason), "{msg:?} should contain {reason:?}");
                assert!(
                    msg.contains(&format!("{:?}", input.trim())),
                    "{msg:?} quotes the input"
                );
                assert!(
                    msg.contains("expected an MD5"),
                    "{msg:?} says what it expected"
                );
            }
            (got, expect) => panic!("{input:?}: got {got:?}, expected {expect:?}"),
        }
    }

    const SHA256: &str = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";

    #[test]
    fn accepts_every_documented_shape_in_any_case() {
        use ResourceKind::*;
        check(
            "99017f6eebbac24f351415dd410d522d",
            Ok((Md5, "99017f6eebbac24f351415dd410d522d")),
        );
        check(
            "99017F6EEBBAC24F351415DD410D522D",
            Ok((Md5, "99017f6eebbac24f351415dd410d522d")),
        );
        check(
            "4d1740485713a2ab3a4f5822a01f645fe8387f92",
            Ok((Sha1, "4d1740485713a2ab3a4f5822a01f645fe8387f92")),
        );
        check(SHA256, Ok((Sha256, SHA256)));
        check(&format!("  {SHA256}\t"), Ok((Sha256, SHA256)));
        let scan_id = format!("{SHA256}-1273894724");
        check(&scan_id, Ok((ScanId, &scan_id)));
        check(&scan_id.to_uppercase(), Ok((ScanId, &scan_id)));
    }

    #[test]
    fn rejects_with_the_input_quoted_and_the_reason() {
        check("", Err("it is empty"));
        check("   ", Err("it is empty"));
        check("xyz", Err("not a hexadecimal digit"));
        check("99017f6eebbac24f351415dd410d522", Err("not 32, 40 or 64"));
        check(
            "99017f6eebbac24f351415dd410d522g",
            Err("not a hexadecimal digit"),
        );
        check(
            "99017f6eebbac24f351415dd410d522d,4d1740485713a2ab3a4f5822a01f645fe8387f92",
            Err("comma"),
        );
        check(&format!("{SHA256}-"), Err("unix seconds"));
        check(&format!("{SHA256}-12a"), Err("unix seconds"));
        check(
            "99017f6eebbac24f351415dd410d522d-1273894724",
            Err("SHA-256"),
        );
        check("é", Err("not a hexadecimal digit"));
    }

    #[test]
    fn scan_id_parts_and_echo_matching() {
        let r = Resource::parse(&format!("{}-1273894724", SHA256.to_uppercase())).unwrap();
        assert_eq!(r.scan_id_parts(), Some((SHA256, 1273894724)));
        assert_eq!(echo_key(r.as_str()), r.key());
        assert_eq!(Resource::parse(SHA256).unwrap().scan_id_parts(), None);
    }

    #[test]
    fn serde_keeps_the_text_and_validates() {
        let r: Resource = serde_json::from_str("\"99017F6EEBBAC24F351415DD410D522D\"").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"99017F6EEBBAC24F351415DD410D522D\""
        );
        assert!(serde_json::from_str::<Resource>("\"nope\"").is_err());
    }
}
