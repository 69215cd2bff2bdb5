//! The API key, held as a secret.

use std::fmt;

/// A VirusTotal API key.
///
/// It is a secret: its `Debug` prints a redaction, it has no `Display`, and the client sends it
/// in the POST form body rather than the URL so that it does not land in proxy or server logs.
///
/// ```
/// let key = vt_api::ApiKey::new("0123456789abcdef");
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Box<str>);

impl ApiKey {
    /// Wraps a key; surrounding whitespace (a newline from a key file) is trimmed.
    pub fn new(key: impl AsRef<str>) -> ApiKey {
        ApiKey(key.as_ref().trim().into())
    }

    /// The key itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A stable fingerprint of the key (a truncated SHA-256 with a purpose prefix), under
    /// which a quota ledger counts requests: a ledger never holds the key itself.
    pub(crate) fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"vt-api quota ledger\n")
            .chain_update(self.0.as_bytes())
            .finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `text` is this key (ignoring surrounding whitespace and ASCII case), without
    /// exposing it: to refuse a key pasted where a hash was expected, for instance.
    ///
    /// ```
    /// let key = vt_api::ApiKey::new("0123456789abcdef");
    /// assert!(key.matches(" 0123456789ABCDEF\n"));
    /// assert!(!key.matches("0123456789abcde"));
    /// ```
    pub fn matches(&self, text: &str) -> bool {
        !self.0.is_empty() && text.trim().eq_ignore_ascii_case(&self.0)
    }

    /// `text` with every occurrence of the key replaced by `<redacted>`, for messages that
    /// quote what a user or a server wrote. The key is found however it was echoed: in any
    /// ASCII letter case, and with any of its characters written as a JSON `\uXXXX` escape.
    ///
    /// ```
    /// let key = vt_api::ApiKey::new("0123456789abcdef");
    /// assert_eq!(key.redact("apikey=0123456789abcdef&x=1"), "apikey=<redacted>&x=1");
    /// assert_eq!(key.redact("KEY 0123456789ABCDEF"), "KEY <redacted>");
    /// assert_eq!(key.redact(r"\u0030123456789abcDEF!"), "<redacted>!");
    /// ```
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            // Only ASCII was replaced by ASCII: the text stays UTF-8.
            Some(redacted) => std::borrow::Cow::Owned(
                String::from_utf8(redacted)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            None => std::borrow::Cow::Borrowed(text),
        }
    }

    /// `bytes` with every occurrence of the key (as [`ApiKey::redact`] finds it) replaced by
    /// `<redacted>`, or `None` when they hold none.
    pub(crate) fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut found = self.find(bytes, 0)?;
        let mut redacted = Vec::with_capacity(bytes.len());
        let mut copied = 0;
        loop {
            redacted.extend_from_slice(&bytes[copied..found.start]);
            redacted.extend_from_slice(b"<redacted>");
            copied = found.end;
            match self.find(bytes, copied) {
                Some(next) => found = next,
                None => break,
            }
        }
        redacted.extend_from_slice(&bytes[copied..]);
        Some(redacted)
    }

    /// Where the key first occurs in `bytes` from `from` on, in any ASCII case, any of its
    /// ASCII characters possibly written as `\uXXXX` (hex digits in any case).
    fn find(&self, bytes: &[u8], from: usize) -> Option<std::ops::Range<usize>> {
        let key = self.0.as_bytes();
        let first = *key.first()?;
        let mut at = from;
        while at < bytes.len() {
            // A match starts with the first character, in either case, or with an escape.
            let offset = memchr::memchr3(
                first.to_ascii_lowercase(),
                first.to_ascii_uppercase(),
                b'\\',
                &bytes[at..],
            )?;
            let start = at + offset;
            if let Some(end) = match_key_at(key, bytes, start) {
                return Some(start..end);
            }
            at = start + 1;
        }
        None
    }

    /// True when the key is empty (after trimming).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The end of the key's occurrence starting at `start`, if there is one: each character of
/// the key as itself (ASCII case aside) or as a `\uXXXX` escape of it.
fn match_key_at(key: &[u8], bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    for &expected in key {
        let got = *bytes.get(at)?;
        if got.eq_ignore_ascii_case(&expected) {
            at += 1;
            continue;
        }
        if got != b'\\' || !expected.is_ascii() {
            return None;
        }
        // `\u00XX`: the escape of an ASCII character.
        let escape = bytes.get(at..at + 6)?;
        if !escape[1].eq_ignore_ascii_case(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(&escape[2..]).ok()?;
        let code = u32::from_str_radix(hex, 16).ok()?;
        let escaped = u8::try_from(code).ok()?;
        if !escaped.eq_ignore_ascii_case(&expected) {
            return None;
        }
        at += 6;
    }
    Some(at)
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        ApiKey::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        ApiKey::new(key)
    }
}
