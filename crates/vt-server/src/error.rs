//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A boxed error kept as the `source` of an [`Error`], so that no foreign type is part of the
/// public API; also the error type of a [`crate::Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop a server from starting: an address that cannot be bound, a setting
/// or route table that makes no sense, a TLS certificate or key that cannot be used.
///
/// Once a server runs, nothing is reported as an error: every request gets an HTTP answer, or
/// its connection is closed ([`crate::Abort`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening address could not be bound. The message does not repeat the source's
    /// (the why is [`std::error::Error::source`], printed once by a chain such as anyhow's
    /// `{:#}`).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A file (a certificate or a key) that could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A setting that cannot be used: a limit, or a route table.
    #[error("{0}")]
    Config(String),
    /// A certificate chain or private key that TLS cannot use.
    #[error("{reason}")]
    Tls {
        /// What is wrong, naming the file when there is one.
        reason: String,
        /// Why, when rustls said.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config(message.into())
    }
}
