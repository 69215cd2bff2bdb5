//! Maps hyper, hyper-util, rustls and I/O errors onto [`ErrorKind`].

use std::error::Error as StdError;
use std::io;

use crate::{Error, ErrorKind};

use super::connect::ConnectFailure;

/// Where the error happened: sending the request and reading the head, or reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Request,
    Body,
}

/// The error as this crate's [`Error`]: the kind from the whole chain of causes, the
/// innermost message as detail (the outer ones are generic, such as "client error
/// (Connect)"), and the error itself as source.
pub(crate) fn map<E>(error: E, stage: Stage) -> Error
where
    E: StdError + Send + Sync + 'static,
{
    let kind = classify(&error, stage);
    // Our own connect failures say what failed ("proxy tunnel failed: ..."); otherwise the
    // innermost cause is the telling one ("Connection refused", "UnknownIssuer").
    let detail = chain(&error)
        .find(|e| e.is::<ConnectFailure>())
        .or_else(|| chain(&error).last())
        .map(ToString::to_string)
        .unwrap_or_default();
    Error::from_parts(kind, detail, Box::new(error))
}

/// The error and its causes. `io::Error` hides the error it wraps from `source()` (it returns
/// the wrapped error's source), so it is unwrapped with `get_ref()`.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e: &&'a (dyn StdError + 'static)| {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                return Some(inner as &(dyn StdError + 'static));
            }
        }
        e.source()
    })
}

fn classify(error: &(dyn StdError + 'static), stage: Stage) -> ErrorKind {
    let mut connecting = false;
    for e in chain(error) {
        if let Some(failure) = e.downcast_ref::<ConnectFailure>() {
            // Decided where it happened: a connect timeout, a refused tunnel, a bad proxy.
            return failure.kind;
        }
        if e.is::<rustls::Error>() {
            return ErrorKind::Tls;
        }
        if e.is::<rustls_pki_types::InvalidDnsNameError>() {
            return ErrorKind::InvalidRequest;
        }
        if let Some(client) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            if client.is_connect() {
                connecting = true;
            } else if client.to_string().starts_with("client error (User") {
                // hyper-util keeps its kinds private; its `User*` kinds are requests it
                // cannot send (an unsupported method or version, a relative URI).
                return ErrorKind::InvalidRequest;
            }
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return ErrorKind::Timeout;
            }
            if hyper.is_user() {
                return ErrorKind::InvalidRequest;
            }
            if hyper.is_parse() && stage == Stage::Request {
                // Not HTTP, or malformed: not a transient failure of the network.
                return ErrorKind::Other;
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                return ErrorKind::Timeout;
            }
        }
    }
    if connecting {
        ErrorKind::Connect
    } else {
        // Incomplete message, reset, closed channel, an HTTP/2 stream error: the connection
        // failed before the whole response arrived.
        ErrorKind::Io
    }
}
