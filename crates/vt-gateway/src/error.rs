//! The gateway's one error type.

/// What went wrong in the gateway's library: a store that failed, a token that does not
/// exist, a configuration refused. Messages never hold the upstream key or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store (SQLite or PostgreSQL) failed or could not be opened.
    #[error("store: {message}")]
    Store {
        /// What failed, with the database's own words.
        message: String,
    },
    /// The store was written by a newer vt-gateway (its schema is ahead of this one's).
    #[error("store: its schema is version {found}, newer than this vt-gateway knows ({known}); upgrade vt-gateway")]
    StoreTooNew {
        /// The schema version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// `token add` with a name already in use by a live token.
    #[error("a token named {name:?} exists already (revoke it first, or pick another name)")]
    TokenExists {
        /// The name.
        name: String,
    },
    /// `token revoke` (or another token command) with a name no live token has.
    #[error("no live token is named {name:?}")]
    TokenUnknown {
        /// The name.
        name: String,
    },
    /// A value of the configuration or the command line was refused.
    #[error("{message}")]
    Config {
        /// What was refused and why.
        message: String,
    },
    /// Reading or writing a file, or binding a socket.
    #[error("{context}: {message}")]
    Io {
        /// What was being done (a path, an address).
        context: String,
        /// The system's words.
        message: String,
    },
    /// The upstream client could not be built.
    #[error("upstream: {0}")]
    Upstream(String),
}

impl Error {
    pub(crate) fn store(error: impl std::fmt::Display) -> Error {
        Error::Store {
            message: error.to_string(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, error: impl std::fmt::Display) -> Error {
        Error::Io {
            context: context.into(),
            message: error.to_string(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }
}
