//! What users give the file endpoints beyond hashes: the subject of a comment (a file or a
//! URL), a search query, a day of clusters, and a comment's text. Each is checked before
//! anything is sent.

use std::borrow::Cow;

use crate::query::{text_query_impls, Identifiers};
use crate::{Error, Query, Resource, Url};

/// The longest comment the service takes, in bytes (what long-lived clients check).
pub const MAX_COMMENT_BYTES: usize = 4096;
/// The longest search query accepted, in bytes.
pub const MAX_SEARCH_BYTES: usize = 4096;

/// What a comment is about: a file (by any of its hashes, or a scan_id) or a URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A file.
    File(Resource),
    /// A URL.
    Url(Url),
}

impl Subject {
    /// A hash or scan_id is a file; anything else must be a URL.
    pub fn parse(input: &str) -> Result<Subject, Error> {
        if let Ok(resource) = Resource::parse(input) {
            return Ok(Subject::File(resource));
        }
        Url::parse(input)
            .map(Subject::Url)
            .map_err(|error| match error {
                Error::InvalidQuery { input, reason, .. } => Error::InvalidQuery {
                    kind: "resource",
                    input,
                    reason: format!(
                        "neither a hash (md5, sha1, sha256), a scan_id, nor a URL: {reason}"
                    ),
                },
                other => other,
            })
    }
}

impl std::str::FromStr for Subject {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Subject::parse(s)
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wire_text())
    }
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::File(resource) => write!(f, "Subject::File({:?})", resource.as_str()),
            Subject::Url(url) => write!(f, "Subject::{url:?}"),
        }
    }
}

impl Query for Subject {
    fn wire_text(&self) -> &str {
        match self {
            Subject::File(resource) => resource.wire_text(),
            Subject::Url(url) => url.wire_text(),
        }
    }

    fn match_key(&self) -> &str {
        match self {
            Subject::File(resource) => resource.match_key(),
            Subject::Url(url) => url.match_key(),
        }
    }

    fn echo_key(echoed: &str) -> Cow<'_, str> {
        // A hash echoes in any case, a URL exactly.
        match Resource::parse(echoed) {
            Ok(_) => Resource::echo_key(echoed),
            Err(_) => Url::echo_key(echoed),
        }
    }

    fn contradicted_by(&self, ids: &Identifiers) -> bool {
        match self {
            Subject::File(resource) => resource.contradicted_by(ids),
            Subject::Url(url) => url.contradicted_by(ids),
        }
    }
}

/// A `file/search` query, as typed: non-empty, at most [`MAX_SEARCH_BYTES`], no control
/// characters. Its language is the service's (`type:peexe positives:5+ fs:2026-12-01+`);
/// it is not parsed here.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    text: Box<str>,
}

impl SearchQuery {
    /// Checks a query; surrounding whitespace is trimmed.
    pub fn parse(input: &str) -> Result<SearchQuery, Error> {
        let text = input.trim();
        let refuse = |reason: &str| Error::InvalidQuery {
            kind: "search query",
            input: text.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if text.len() > MAX_SEARCH_BYTES {
            return Err(refuse(&format!("longer than {MAX_SEARCH_BYTES} bytes")));
        }
        if text.chars().any(char::is_control) {
            return Err(refuse("it holds a control character (a line break, a tab)"));
        }
        Ok(SearchQuery { text: text.into() })
    }
}

text_query_impls!(SearchQuery);

/// A day of `file/clusters`, `YYYY-MM-DD`, a real calendar date.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClusterDate {
    text: Box<str>,
}

impl ClusterDate {
    /// Checks a date.
    pub fn parse(input: &str) -> Result<ClusterDate, Error> {
        let text = input.trim();
        let number = |range: std::ops::Range<usize>| {
            text.get(range)
                .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u32>().ok())
        };
        let shaped = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
        match (shaped, number(0..4), number(5..7), number(8..10)) {
            (true, Some(year), Some(month), Some(day))
                if crate::time::valid_date(year, month, day) =>
            {
                Ok(ClusterDate { text: text.into() })
            }
            _ => Err(Error::InvalidQuery {
                kind: "date",
                input: text.chars().take(40).collect(),
                reason: "expected a day as YYYY-MM-DD, e.g. 2026-12-01".to_owned(),
            }),
        }
    }
}

text_query_impls!(ClusterDate);

/// The queries sent as typed and matched exactly, which no answer contradicts.
macro_rules! exact_query_impl {
    ($name:ident) => {
        impl Query for $name {
            fn wire_text(&self) -> &str {
                &self.text
            }

            fn match_key(&self) -> &str {
                &self.text
            }

            fn echo_key(echoed: &str) -> Cow<'_, str> {
                Cow::Borrowed(echoed)
            }

            fn contradicted_by(&self, _ids: &Identifiers) -> bool {
                false
            }
        }
    };
}

exact_query_impl!(SearchQuery);
exact_query_impl!(ClusterDate);

/// The text of a comment: not blank, at most [`MAX_COMMENT_BYTES`] bytes, sent as given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CommentText {
    text: Box<str>,
}

impl CommentText {
    /// Checks a comment (kept as given: leading spaces and line breaks are the author's).
    pub fn parse(input: &str) -> Result<CommentText, Error> {
        let refuse = |reason: String| Error::InvalidQuery {
            kind: "comment",
            input: input.chars().take(60).collect(),
            reason,
        };
        if input.trim().is_empty() {
            return Err(refuse("it is empty".to_owned()));
        }
        if input.len() > MAX_COMMENT_BYTES {
            return Err(refuse(format!(
                "{} bytes, over the service's limit of {MAX_COMMENT_BYTES}",
                input.len()
            )));
        }
        Ok(CommentText { text: input.into() })
    }
}

text_query_impls!(CommentText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_a_hash_or_a_url() {
        assert!(matches!(
            Subject::parse("44D88612FEA8A8F36DE82E1278ABB02F"),
            Ok(Subject::File(_))
        ));
        let url = Subject::parse("http://example.com/A").unwrap();
        assert!(matches!(url, Subject::Url(_)));
        assert_eq!(url.match_key(), "http://example.com/A");
        let bad = Subject::parse("not a thing").unwrap_err().to_string();
        assert!(bad.starts_with("invalid resource"), "{bad}");
    }

    #[test]
    fn dates_are_real_days() {
        assert!(ClusterDate::parse("2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "20261201",
            "2026-12-01x",
            "",
        ] {
            assert!(ClusterDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments_and_queries_are_bounded() {
        assert!(CommentText::parse(&"x".repeat(4096)).is_ok());
        let over = CommentText::parse(&"é".repeat(2049))
            .unwrap_err()
            .to_string();
        assert!(over.contains("4098 bytes"), "{over}");
        assert!(CommentText::parse(" \n ").is_err());
        assert!(SearchQuery::parse("type:peexe positives:5+").is_ok());
        assert!(SearchQuery::parse("a\nb").is_err());
        assert!(SearchQuery::parse("  ").is_err());
    }
}
