//! [`TlsTrust`]: which certificates a TLS client trusts, shared by [`HyperTransport`] and
//! anything else that opens TLS connections with the same rules (vt-gateway's PostgreSQL
//! store).
//!
//! [`HyperTransport`]: super::HyperTransport

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::Error;

/// The certificates a TLS client trusts: Mozilla's roots compiled in (`webpki-roots`, on by
/// default), the operating system's store (off by default), and PEM files of extra CAs.
///
/// ```
/// let config = vt_transport::TlsTrust::default()
///     .webpki_roots(true)
///     .client_config()
///     .expect("Mozilla's roots are compiled in");
/// assert!(config.alpn_protocols.is_empty());
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct TlsTrust {
    webpki_roots: bool,
    native_roots: bool,
    extra_ca_pem_files: Vec<PathBuf>,
}

impl Default for TlsTrust {
    fn default() -> Self {
        TlsTrust {
            webpki_roots: true,
            native_roots: false,
            extra_ca_pem_files: Vec::new(),
        }
    }
}

impl TlsTrust {
    /// Trusts Mozilla's root certificates, compiled in from `webpki-roots` (default `true`).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Also trusts the operating system's certificate store, read by
    /// [`client_config`](Self::client_config) through `rustls-native-certs` (default `false`).
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// Also trusts the CA certificates in this PEM file (may be called several times). The
    /// file must be a regular file or a pipe of at most 1 MiB holding a certificate; a device
    /// such as `/dev/zero` is refused unread.
    pub fn extra_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_ca_pem_files.push(path.into());
        self
    }

    /// What is trusted, for the transport's summary: `webpki + native + /path/ca.pem`.
    pub(crate) fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.webpki_roots {
            parts.push("webpki".to_owned());
        }
        if self.native_roots {
            parts.push("native".to_owned());
        }
        for path in &self.extra_ca_pem_files {
            parts.push(path.display().to_string());
        }
        parts.join(" + ")
    }

    /// A rustls client configuration (ring provider, safe protocol versions, no client
    /// certificate) that trusts these roots. Fails with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a CA file cannot be read or
    /// holds no certificate, when the system's store is asked for and yields none, and when
    /// nothing at all is trusted.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, Error> {
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if self.native_roots {
            let native = rustls_native_certs::load_native_certs();
            let (added, _unparsable) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let why = native
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(Error::config(format!(
                    "no certificate found in the system's store {why}"
                )));
            }
        }
        for path in &self.extra_ca_pem_files {
            let unreadable = |e: &dyn fmt::Display| {
                Error::config(format!("cannot read {}: {e}", path.display()))
            };
            let pem = read_ca_file(path)?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unreadable(&e))?;
            if certs.is_empty() {
                return Err(Error::config(format!(
                    "no certificate in {}",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
        }
        if roots.is_empty() {
            return Err(Error::config("no trusted root certificate"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

/// The most a CA file may hold: a bundle of every public root is about 250 KiB.
pub(super) const MAX_CA_FILE: u64 = 1024 * 1024;

/// Reads a CA file in bounded time and memory: a regular file or a pipe (a certificate
/// handed over by `<(...)`), at most [`MAX_CA_FILE`] bytes. A device, a socket or a folder is
/// refused before a byte is read (`/dev/zero` used to grow the process without bound).
fn read_ca_file(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| Error::config(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    #[cfg(unix)]
    let is_pipe = std::os::unix::fs::FileTypeExt::is_fifo(&metadata.file_type());
    #[cfg(not(unix))]
    let is_pipe = false;
    if !metadata.is_file() && !is_pipe {
        return Err(Error::config(format!(
            "{} is not a regular file (a folder, a device or a socket), so not a PEM file of CA \
             certificates",
            path.display()
        )));
    }
    let too_big = || {
        Error::config(format!(
            "{} holds more than {MAX_CA_FILE} bytes: not a PEM file of CA certificates",
            path.display()
        ))
    };
    if metadata.len() > MAX_CA_FILE {
        return Err(too_big());
    }
    // One byte more than allowed tells a pipe that goes on from one that ends in time.
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE + 1)
        .read_to_end(&mut pem)
        .map_err(unreadable)?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(too_big());
    }
    Ok(pem)
}
