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
    /// which the quota ledger counts requests: the cache file never holds the key itself.
    #[cfg(feature = "cache")]
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
    /// quote what a user or a server wrote.
    ///
    /// ```
    /// let key = vt_api::ApiKey::new("0123456789abcdef");
    /// assert_eq!(key.redact("apikey=0123456789abcdef&x=1"), "apikey=<redacted>&x=1");
    /// ```
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.0.is_empty() || !text.contains(&*self.0) {
            return std::borrow::Cow::Borrowed(text);
        }
        std::borrow::Cow::Owned(text.replace(&*self.0, "<redacted>"))
    }

    /// True when the key is empty (after trimming).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
