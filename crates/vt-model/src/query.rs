//! What users ask an endpoint about, and how answers are matched to it.

use std::borrow::Cow;
use std::fmt;

use crate::{Resource, ResourceKind};

/// Something a user asks an endpoint about: a hash, a URL, a domain, an IP address.
///
/// The batch machinery of `vt-api` sends [`Query::wire_text`], matches each answer to a
/// question by comparing [`Query::echo_key`] of the `resource` it echoes with
/// [`Query::match_key`], and caches answers under the match key. Each kind has its own case
/// rules: hashes are matched whatever their case, URLs exactly (their paths are
/// case-sensitive).
pub trait Query: Clone + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The text sent to the service, which it echoes back as `resource`.
    fn wire_text(&self) -> &str;

    /// The normalised form answers are matched by and cached under.
    fn match_key(&self) -> &str;

    /// The normalised form of an echo from the service, by this kind's case rules, to compare
    /// with [`Query::match_key`]. Server text is not validated, only normalised.
    fn echo_key(echoed: &str) -> Cow<'_, str>;

    /// Whether an answer that does not echo the query (so can only be matched by its place in
    /// the batch) names something else: a hash or URL of its own that is not this query's.
    /// Such an answer is never given to this query.
    fn contradicted_by(&self, ids: &Identifiers) -> bool;

    /// Whether an echo that is not this query's text still names it, for the answers that
    /// echo a normalised form (`url/scan` echoes `http://example.com/` for `example.com`).
    /// Tried only when no query of the batch has the echo's exact key.
    fn named_by_echo(&self, echoed: &str) -> bool {
        let _ = echoed;
        false
    }
}

/// The identifiers an answer names besides its echo, read by [`scan_body`](crate::scan_body):
/// what tells whether an answer without `resource` may belong to a question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identifiers {
    /// `md5`, when the answer has a string there.
    pub md5: Option<Box<str>>,
    /// `sha1`.
    pub sha1: Option<Box<str>>,
    /// `sha256`.
    pub sha256: Option<Box<str>>,
    /// `scan_id`.
    pub scan_id: Option<Box<str>>,
    /// `url`.
    pub url: Option<Box<str>>,
}

impl Identifiers {
    /// True when the answer names nothing at all.
    pub fn is_empty(&self) -> bool {
        self.md5.is_none()
            && self.sha1.is_none()
            && self.sha256.is_none()
            && self.scan_id.is_none()
            && self.url.is_none()
    }
}

/// The impls every query type of user text shares: `FromStr` through its `parse`, `Display`
/// and `AsRef<str>` as the text, and a `Debug` naming the type. The type has a `text: Box<str>`
/// field and a `parse(&str) -> Result<Self, Error>`.
macro_rules! text_query_impls {
    ($name:ident) => {
        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.text
            }
        }
    };
}

pub(crate) use text_query_impls;

/// Hashes compare whatever their case; server text is trimmed only.
fn same_hash(server: Option<&str>, asked: &str) -> Option<bool> {
    server.map(|s| s.trim().eq_ignore_ascii_case(asked))
}

impl Query for Resource {
    fn wire_text(&self) -> &str {
        self.as_str()
    }

    fn match_key(&self) -> &str {
        self.key()
    }

    fn echo_key(echoed: &str) -> Cow<'_, str> {
        crate::echo_key(echoed)
    }

    fn contradicted_by(&self, ids: &Identifiers) -> bool {
        let key = self.key();
        let differs = |server: &Option<Box<str>>, asked: &str| {
            same_hash(server.as_deref(), asked) == Some(false)
        };
        match self.kind() {
            ResourceKind::Md5 => differs(&ids.md5, key),
            ResourceKind::Sha1 => differs(&ids.sha1, key),
            ResourceKind::Sha256 => {
                // A queued file's scan_id is its bare SHA-256; a finished one's starts with it.
                differs(&ids.sha256, key)
                    || ids.scan_id.as_deref().is_some_and(|id| {
                        let hash = id.trim().split('-').next().unwrap_or("");
                        !hash.eq_ignore_ascii_case(key)
                    })
            }
            ResourceKind::ScanId => {
                let hash = key.split('-').next().unwrap_or(key);
                differs(&ids.sha256, hash) || differs(&ids.scan_id, key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
    const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

    fn ids(md5: Option<&str>, sha256: Option<&str>, scan_id: Option<&str>) -> Identifiers {
        Identifiers {
            md5: md5.map(Into::into),
            sha256: sha256.map(Into::into),
            scan_id: scan_id.map(Into::into),
            ..Identifiers::default()
        }
    }

    #[test]
    fn an_answer_naming_another_file_contradicts_the_question() {
        let md5: Resource = EICAR_MD5.to_uppercase().parse().unwrap();
        assert!(!md5.contradicted_by(&ids(Some(EICAR_MD5), None, None)));
        assert!(!md5.contradicted_by(&Identifiers::default()));
        assert!(md5.contradicted_by(&ids(Some("99017f6eebbac24f351415dd410d522d"), None, None)));
        // An md5 question cannot be checked against a sha256 alone.
        assert!(!md5.contradicted_by(&ids(None, Some("00"), None)));

        let sha256: Resource = EICAR_SHA256.parse().unwrap();
        let scan_id = format!("{EICAR_SHA256}-1549381312");
        assert!(!sha256.contradicted_by(&ids(None, Some(EICAR_SHA256), Some(&scan_id))));
        assert!(!sha256.contradicted_by(&ids(None, None, Some(EICAR_SHA256))));
        assert!(sha256.contradicted_by(&ids(None, None, Some(&format!("{}-1", "a".repeat(64))))));

        let by_scan_id: Resource = scan_id.parse().unwrap();
        assert!(!by_scan_id.contradicted_by(&ids(None, Some(EICAR_SHA256), Some(&scan_id))));
        assert!(by_scan_id.contradicted_by(&ids(None, Some(EICAR_SHA256), Some("x-2"))));
    }

    #[test]
    fn hashes_match_whatever_their_case() {
        let r: Resource = EICAR_MD5.to_uppercase().parse().unwrap();
        assert_eq!(r.wire_text(), EICAR_MD5.to_uppercase());
        assert_eq!(
            Resource::echo_key(&format!(" {} ", EICAR_MD5.to_uppercase())),
            r.match_key()
        );
    }
}
