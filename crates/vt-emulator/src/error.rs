//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A boxed error kept as the `source` of an [`Error`], so that no foreign type is part of the
/// public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop the emulator from starting: a data file that cannot be read or is
/// not a report, a setting that makes no sense, or an address that cannot be bound.
///
/// Once the server runs, nothing is reported as an error: every request gets an HTTP answer
/// (or, for the `reset` fault, a closed connection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A data file or folder that could not be read. Its message does not repeat the
    /// source's (the why is [`std::error::Error::source`], printed once by a chain such as
    /// anyhow's `{:#}`).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A data file that is not valid JSON, or not a report (or array of reports).
    #[error("{file}: {reason}")]
    Data {
        /// The file (or the name given to in-memory data).
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that cannot be used: a key, a fault, a queued resource or a limit.
    #[error("{0}")]
    Config(String),
    /// The listening address could not be bound (the why is the source, as for `Read`).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: BoxError,
    },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config(message.into())
    }

    /// The same error of vt-server's (binding, a limit, the route table), as the emulator's:
    /// a `Bind` keeps its source; any other says its message.
    pub(crate) fn from_server(error: vt_server::Error) -> Error {
        match error {
            vt_server::Error::Bind { addr, source } => Error::Bind { addr, source },
            other => Error::Config(other.to_string()),
        }
    }

    /// True when the error is about a data file (unreadable, not JSON, or not a report).
    pub fn is_data(&self) -> bool {
        matches!(self, Error::Read { .. } | Error::Data { .. })
    }
}
