//! HTTPS (feature `tls`): rustls on the ring provider, a certificate chain and key from PEM.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// A server certificate and its key, ready to serve HTTPS ([`crate::Listener::tls`]). HTTP/1.1
/// is offered by ALPN; TLS 1.2 and 1.3.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    /// A certificate chain (the server's first, then its issuers) and its private key (PKCS#8,
    /// PKCS#1 or SEC1), both PEM files.
    pub fn from_pem_files(cert_chain: &Path, key: &Path) -> Result<TlsConfig, Error> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| Error::Read {
                path: path.to_owned(),
                source: Box::new(e),
            })
        };
        // The reason names the file.
        let in_file = |path: &Path, e: Error| match e {
            Error::Tls { reason, source } => Error::Tls {
                reason: format!("{}: {reason}", path.display()),
                source,
            },
            other => other,
        };
        let certs = parse_certs(&read(cert_chain)?).map_err(|e| in_file(cert_chain, e))?;
        let key_der = parse_key(&read(key)?).map_err(|e| in_file(key, e))?;
        TlsConfig::from_parts(certs, key_der)
    }

    /// [`TlsConfig::from_pem_files`] from the PEM text itself (a certificate made in a test).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, Error> {
        TlsConfig::from_parts(parse_certs(cert_chain)?, parse_key(key)?)
    }

    /// A rustls configuration of one's own (client certificates, other protocols); its ALPN
    /// should offer `http/1.1` alone, the only protocol served.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { config }
    }

    fn from_parts(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let refused = |reason: &str, e: rustls::Error| Error::Tls {
            reason: reason.to_owned(),
            source: Some(Box::new(e)),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| refused("no TLS version to offer", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| refused("the certificate and key cannot be used together", e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls {
            reason: "not a PEM certificate chain".to_owned(),
            source: Some(Box::new(e)),
        })?;
    if certs.is_empty() {
        return Err(Error::Tls {
            reason: "no certificate in the PEM text".to_owned(),
            source: None,
        });
    }
    Ok(certs)
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Tls {
        reason: "no private key in the PEM text".to_owned(),
        source: Some(Box::new(e)),
    })
}
