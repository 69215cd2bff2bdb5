//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in `vt-model`: a resource typed by a user that is not a hash or
/// scan_id, a URL, domain or IP address that is not one, a timestamp in the wrong shape, or a
/// response body that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// User input that is not an MD5, SHA-1, SHA-256 or scan_id.
    #[error("invalid resource {input:?}: {reason}; expected an MD5 (32 hex digits), SHA-1 (40), SHA-256 (64) or a scan_id (<sha256>-<unix seconds>)")]
    InvalidResource {
        /// The text as given (trimmed of surrounding whitespace only).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// User input that is not a valid query of its kind (a URL, a domain, an IP address).
    #[error("invalid {kind} {}: {reason}", quoted(input))]
    InvalidQuery {
        /// What was expected: `"URL"`, `"domain"` or `"IP address"`.
        kind: &'static str,
        /// The text as given (trimmed of surrounding whitespace only).
        input: String,
        /// What is wrong with it, and what to give instead.
        reason: String,
    },
    /// A date or timestamp that is not in the shape the service writes.
    #[error("invalid {what} {input:?}: expected {expected}")]
    InvalidTimestamp {
        /// Which kind of date was being read (`"scan date"`, `"update date"`).
        what: &'static str,
        /// The text that failed.
        input: String,
        /// The expected shape, e.g. `"YYYY-MM-DD HH:MM:SS"`.
        expected: &'static str,
    },
    /// A response body that is not what `/file/report` answers.
    #[error("{0}")]
    Decode(DecodeError),
}

/// The input in quotes, its start only when it is long (a 5 KB line is not worth repeating
/// whole in an error message).
fn quoted(input: &str) -> String {
    const SHOWN: usize = 100;
    match input.char_indices().nth(SHOWN) {
        None => format!("{input:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &input[..cut], input.len()),
    }
}

/// Why a response body did not decode, and where.
///
/// The path is in the style of `[3].scans.McAfee.detected` (empty for the top level), the
/// excerpt is a short piece of the body around the failure, so a log line is enough to see
/// what the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// JSON path to the value that failed (`.` for the whole body).
    pub path: String,
    /// What serde reported, e.g. ``invalid type: string "x", expected u32``.
    pub message: String,
    /// 1-based line of the failure in the body (0 when not known).
    pub line: usize,
    /// 1-based column of the failure in the body (0 when not known).
    pub column: usize,
    /// Up to 80 characters of the body around the failure.
    pub excerpt: String,
    /// What kind of failure this is.
    pub category: DecodeCategory,
}

/// The kind of a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeCategory {
    /// The body is not JSON at all (for instance an HTML error page).
    Syntax,
    /// The body ends in the middle of a value (a truncated answer).
    Truncated,
    /// Valid JSON that does not have the shape of a `/file/report` answer.
    Shape,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.category {
            DecodeCategory::Syntax => "response body is not valid JSON",
            DecodeCategory::Truncated => "response body is truncated",
            DecodeCategory::Shape => "unexpected response body",
        };
        write!(f, "{what} at {}: {}", self.path, self.message)?;
        if self.line > 0 {
            write!(f, " (line {}, column {})", self.line, self.column)?;
        }
        if !self.excerpt.is_empty() {
            write!(f, " near {:?}", self.excerpt)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl Error {
    /// The decode details, when this is a decode error.
    pub fn as_decode(&self) -> Option<&DecodeError> {
        match self {
            Error::Decode(d) => Some(d),
            _ => None,
        }
    }
}
