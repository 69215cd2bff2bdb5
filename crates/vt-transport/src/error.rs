//! The crate's one error type.

use std::fmt;

/// A boxed error from a backend, kept as the [`Error`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No connection could be made (DNS, refused, unreachable, proxy tunnel refused).
    Connect,
    /// The connect or the whole request took longer than allowed, or a response body stalled
    /// longer than the idle timeout of a streaming call.
    Timeout,
    /// The TLS handshake failed (unknown CA, wrong host name, expired certificate).
    Tls,
    /// The response body is larger than the configured cap.
    BodyTooLarge,
    /// The connection closed or failed before the whole response arrived.
    Io,
    /// The request could not be sent as given (bad URL, unsupported scheme).
    InvalidRequest,
    /// The transport could not be built or used as configured (an unreadable CA file, no
    /// trusted root certificate, an unsupported proxy scheme).
    Config,
    /// The request body could not be read while it was sent: a file read error, a stream
    /// that yielded more or fewer bytes than its announced length. Not transient: the same
    /// body would fail again.
    RequestBody,
    /// Anything else the backend reported.
    Other,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Connect => "could not connect",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::BodyTooLarge => "response body too large",
            ErrorKind::Io => "connection failed before the whole response arrived",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Config => "invalid transport configuration",
            ErrorKind::RequestBody => "the request body could not be read",
            ErrorKind::Other => "transport error",
        }
    }
}

/// A request that got no complete response.
///
/// The backend's own error, if any, is the [`source`](std::error::Error::source); its type is
/// not part of this crate's API, so backends can change without breaking callers.
pub struct Error {
    kind: ErrorKind,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: ErrorKind, source: impl Into<BoxError>) -> Error {
        Error {
            kind,
            detail: None,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` explained by `detail`, with no underlying error.
    pub fn with_detail(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error {
            kind,
            detail: Some(detail.into()),
            source: None,
        }
    }

    /// An error of `kind` explained by `detail` and caused by `source`.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn from_parts(kind: ErrorKind, detail: String, source: BoxError) -> Error {
        Error {
            kind,
            detail: Some(detail),
            source: Some(source),
        }
    }

    /// Shorthand for an [`ErrorKind::Connect`] error.
    pub fn connect(source: impl Into<BoxError>) -> Error {
        Error::new(ErrorKind::Connect, source)
    }

    /// Shorthand for an [`ErrorKind::Timeout`] error.
    pub fn timeout(detail: impl Into<String>) -> Error {
        Error::with_detail(ErrorKind::Timeout, detail)
    }

    /// Shorthand for an [`ErrorKind::Io`] error.
    pub fn io(source: impl Into<BoxError>) -> Error {
        Error::new(ErrorKind::Io, source)
    }

    /// Shorthand for an [`ErrorKind::InvalidRequest`] error.
    pub fn invalid_request(source: impl Into<BoxError>) -> Error {
        Error::new(ErrorKind::InvalidRequest, source)
    }

    /// Shorthand for an [`ErrorKind::Tls`] error.
    pub fn tls(source: impl Into<BoxError>) -> Error {
        Error::new(ErrorKind::Tls, source)
    }

    /// Shorthand for an [`ErrorKind::Config`] error explained by `detail`.
    pub fn config(detail: impl Into<String>) -> Error {
        Error::with_detail(ErrorKind::Config, detail)
    }

    /// An [`ErrorKind::BodyTooLarge`] error for a cap of `limit` bytes.
    pub fn body_too_large(limit: usize) -> Error {
        Error::over_cap(limit as u64)
    }

    /// An [`ErrorKind::BodyTooLarge`] error for a per-request cap of `limit` bytes.
    pub(crate) fn over_cap(limit: u64) -> Error {
        Error::with_detail(
            ErrorKind::BodyTooLarge,
            format!("larger than the cap of {limit} bytes"),
        )
    }

    /// The explanation given where the error was made, if any.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The connect, the whole request, its deadline or its idle timeout was passed.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// No connection could be made.
    pub fn is_connect(&self) -> bool {
        self.kind == ErrorKind::Connect
    }

    /// The TLS handshake failed.
    pub fn is_tls(&self) -> bool {
        self.kind == ErrorKind::Tls
    }

    /// The response was larger than the cap.
    pub fn is_body_too_large(&self) -> bool {
        self.kind == ErrorKind::BodyTooLarge
    }

    /// The request body could not be read while it was sent ([`ErrorKind::RequestBody`]).
    pub fn is_request_body(&self) -> bool {
        self.kind == ErrorKind::RequestBody
    }

    /// A failure that may well not happen again: a timeout, a refused or reset connection.
    /// TLS failures, oversized bodies, unreadable request bodies and invalid requests are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Io
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        // The source is not repeated here: it is reachable through `source()`, and
        // `{:#}` in anyhow prints the whole chain.
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
