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
    // An error of ours inside hyper's (a request body that failed while it was sent) was
    // classified where it was made: its kind and words are kept.
    let ours = chain(&error)
        .find_map(|e| e.downcast_ref::<Error>())
        .map(|ours| (ours.kind(), ours.detail().unwrap_or_default().to_owned()));
    if let Some((kind, detail)) = ours {
        return Error::from_parts(kind, detail, Box::new(error));
    }
    let kind = classify(&error, stage);
    // Our own connect failures say what failed ("proxy tunnel failed: ..."); otherwise the
    // innermost cause is the telling one ("Connection refused", "UnknownIssuer").
    let detail = chain(&error)
        .find(|e| e.is::<ConnectFailure>())
        .map(ToString::to_string)
        .or_else(|| chain(&error).find_map(|e| e.downcast_ref::<rustls::Error>().map(tls_detail)))
        .or_else(|| chain(&error).last().map(ToString::to_string))
        .unwrap_or_default();
    Error::from_parts(kind, detail, Box::new(error))
}

/// A refused certificate in plain words: rustls shows some of its cases only as their Debug
/// name (`UnknownIssuer`), which says little to whoever has to fix it. Other TLS failures keep
/// rustls's text.
fn tls_detail(error: &rustls::Error) -> String {
    use rustls::CertificateError as E;
    let rustls::Error::InvalidCertificate(error) = error else {
        return error.to_string();
    };
    match error {
        E::UnknownIssuer => {
            "certificate signed by an unknown authority (not among the trusted roots)".to_owned()
        }
        E::NotValidForNameContext {
            expected,
            presented,
        } => {
            // webpki lists the names as `DnsName("a")` / `IpAddress(1.2.3.4)`.
            let names: Vec<&str> = presented
                .iter()
                .map(|name| {
                    name.strip_prefix("DnsName(\"")
                        .and_then(|n| n.strip_suffix("\")"))
                        .or_else(|| name.strip_prefix("IpAddress(")?.strip_suffix(')'))
                        .unwrap_or(name)
                })
                .collect();
            let names = if names.is_empty() {
                "no name".to_owned()
            } else {
                names.join(", ")
            };
            format!(
                "certificate not valid for host {} (it is for {names})",
                expected.to_str()
            )
        }
        E::NotValidForName => "certificate not valid for this host name".to_owned(),
        E::ExpiredContext { time, not_after } => format!(
            "certificate expired {} ago",
            age(time.as_secs().saturating_sub(not_after.as_secs()))
        ),
        E::Expired => "certificate expired".to_owned(),
        E::NotValidYetContext { .. } | E::NotValidYet => {
            "certificate not valid yet (is this machine's clock right?)".to_owned()
        }
        E::Revoked => "certificate revoked".to_owned(),
        E::BadSignature => "certificate signature invalid".to_owned(),
        other => format!("invalid certificate: {other}"),
    }
}

/// `3 days`, `5 hours`, `42 seconds`: how long ago, roughly.
fn age(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s >= 2 * 86_400 => (s / 86_400, "days"),
        s if s >= 2 * 3600 => (s / 3600, "hours"),
        s if s >= 2 * 60 => (s / 60, "minutes"),
        s => (s, "seconds"),
    };
    format!("{n} {unit}")
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls::CertificateError;
    use rustls_pki_types::{ServerName, UnixTime};

    use super::{age, tls_detail};

    #[test]
    fn refused_certificates_are_said_plainly() {
        let check = |error: CertificateError, expected: &str| {
            assert_eq!(
                tls_detail(&rustls::Error::InvalidCertificate(error)),
                expected
            );
        };
        check(
            CertificateError::UnknownIssuer,
            "certificate signed by an unknown authority (not among the trusted roots)",
        );
        check(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec![
                    "DnsName(\"vt.example\")".into(),
                    "IpAddress(10.0.0.1)".into(),
                ],
            },
            "certificate not valid for host 127.0.0.1 (it is for vt.example, 10.0.0.1)",
        );
        check(
            CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(10 * 86_400 + 5)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(5)),
            },
            "certificate expired 10 days ago",
        );
        assert_eq!(
            tls_detail(&rustls::Error::DecryptError),
            rustls::Error::DecryptError.to_string()
        );
        assert_eq!(age(119), "119 seconds");
        assert_eq!(age(3 * 3600), "3 hours");
    }
}
