//! HTTPS over loopback (feature `tls`): a certificate made by a CA of the test (rcgen),
//! trusted by a rustls client; files that hold no certificate or key are refused naming
//! them.
#![cfg(feature = "tls")]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::{exchange_on, request};
use http::StatusCode;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vt_server::{reply, Error, Limits, Listener, Serving, TlsConfig};

/// A CA, and the PEM certificate and key of `localhost` it signed.
struct Pki {
    ca: rustls::pki_types::CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn make_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Answers every request with the service's 403.
async fn serve(tls: TlsConfig) -> Serving {
    let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
        .tls(tls);
    assert!(listener.url().starts_with("https://127.0.0.1:"));
    assert!(listener.url().ends_with("/vtapi/v2/"));
    let handler = |_request: vt_server::Request, _peer: SocketAddr| async {
        Ok(reply::empty(StatusCode::FORBIDDEN))
    };
    listener.serve(handler, Limits::default()).unwrap()
}

fn connector(ca: &rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn https_serves_a_request_with_a_certificate_of_the_tests_ca() {
    let pki = make_pki();
    let tls = TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let serving = serve(tls).await;
    assert!(serving.url().starts_with("https://"));
    let tcp = tokio::net::TcpStream::connect(serving.local_addr())
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = connector(&pki.ca).connect(name, tcp).await.unwrap();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "HTTP/1.1 is the one protocol offered"
    );
    let reply = exchange_on(stream, &request("GET", "/vtapi/v2/file/report", None))
        .await
        .expect("an answer over TLS");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("content-type"), Some(reply::HTML));

    // Plain HTTP to the HTTPS port gets no HTTP answer (at most a TLS alert).
    let mut plain = tokio::net::TcpStream::connect(serving.local_addr())
        .await
        .unwrap();
    plain
        .write_all(&request("GET", "/vtapi/v2/file/report", None))
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    serving.shutdown().await;
}

#[tokio::test]
async fn certificate_and_key_files_are_read_and_bad_ones_refused_naming_the_file() {
    let pki = make_pki();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vt-server-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let serving = serve(TlsConfig::from_pem_files(&cert, &key).unwrap()).await;
    let tcp = tokio::net::TcpStream::connect(serving.local_addr())
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = connector(&pki.ca).connect(name, tcp).await.unwrap();
    let reply = exchange_on(stream, &request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(reply.status, 403);

    // The key where the certificate should be, and the other way round.
    let swapped = TlsConfig::from_pem_files(&key, &cert).unwrap_err();
    assert!(matches!(swapped, Error::Tls { .. }), "{swapped:?}");
    assert!(
        swapped.to_string().starts_with(&key.display().to_string()),
        "{swapped}"
    );
    let missing = TlsConfig::from_pem_files(&dir.join("none.pem"), &key).unwrap_err();
    assert!(matches!(missing, Error::Read { .. }), "{missing:?}");
    assert!(missing.to_string().contains("none.pem"), "{missing}");
    // A key that is not the certificate's.
    let other = make_pki();
    let unfit = TlsConfig::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes());
    assert!(unfit.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
