//! `HyperTransport` over TLS, against a server whose CA is made in the test (rcgen): trusted
//! only through `extra_ca_pem_file`, refused otherwise, and refused for a name that is not in
//! the certificate.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Pki, Server};
use vt_transport::{Error, ErrorKind, HyperTransport, Transport};

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

fn builder() -> vt_transport::HyperTransportBuilder {
    HyperTransport::builder()
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
}

/// The error's kind and its whole chain of causes, for assertion messages.
fn describe(error: &Error) -> String {
    let mut text = format!("{:?}: {error}", error.kind());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(" <- {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_server_signed_by_the_extra_ca_is_trusted_and_speaks_http2() {
    let pki = Pki::new("trusted", &["localhost"]);
    let server = Server::start(Some(&pki)).await;
    let transport = builder().extra_ca_pem_file(&pki.ca_file).build().unwrap();
    for _ in 0..3 {
        let response = transport.send(get(&server.https_url("/x"))).await.unwrap();
        assert_eq!(response.status(), 200);
        // ALPN chose HTTP/2: the server says which version it served.
        assert_eq!(response.body(), "hello over HTTP/2.0");
        assert_eq!(response.version(), http::Version::HTTP_2);
    }
}

#[tokio::test]
async fn an_unknown_ca_is_a_tls_error() {
    let pki = Pki::new("unknown", &["localhost"]);
    let server = Server::start(Some(&pki)).await;
    // Mozilla's roots only: the test CA is unknown.
    let transport = builder().build().unwrap();
    let error = transport
        .send(get(&server.https_url("/")))
        .await
        .unwrap_err();
    assert!(error.is_tls(), "{}", describe(&error));
    assert!(!error.is_transient());
    assert!(
        error.to_string().starts_with("TLS handshake failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_name_missing_from_the_certificate_is_a_tls_error() {
    let pki = Pki::new("wrong-name", &["localhost"]);
    let server = Server::start(Some(&pki)).await;
    let transport = builder().extra_ca_pem_file(&pki.ca_file).build().unwrap();
    // The certificate names `localhost`, not 127.0.0.1.
    let url = format!("https://{}/", server.addr);
    let error = transport.send(get(&url)).await.unwrap_err();
    assert!(error.is_tls(), "{}", describe(&error));
}

#[tokio::test]
async fn another_cas_certificate_does_not_help() {
    let server_pki = Pki::new("server", &["localhost"]);
    let other_pki = Pki::new("other", &["localhost"]);
    let server = Server::start(Some(&server_pki)).await;
    let transport = builder()
        .webpki_roots(false)
        .extra_ca_pem_file(&other_pki.ca_file)
        .build()
        .unwrap();
    let error = transport
        .send(get(&server.https_url("/")))
        .await
        .unwrap_err();
    assert!(error.is_tls(), "{}", describe(&error));
}

#[tokio::test]
async fn plain_http_still_works_with_tls_options() {
    let pki = Pki::new("plain", &["localhost"]);
    let server = Server::start(None).await;
    let transport = builder().extra_ca_pem_file(&pki.ca_file).build().unwrap();
    let response = transport.send(get(&server.http_url("/"))).await.unwrap();
    assert_eq!(response.body(), "hello over HTTP/1.1");
}

#[test]
fn an_unreadable_or_empty_ca_file_fails_the_build() {
    let missing = builder()
        .extra_ca_pem_file("/nonexistent/vt-transport/ca.pem")
        .build()
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Config, "{missing}");
    assert!(
        missing
            .to_string()
            .contains("/nonexistent/vt-transport/ca.pem"),
        "{missing}"
    );

    let empty = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vt-transport-empty-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = builder().extra_ca_pem_file(&empty).build().unwrap_err();
    std::fs::remove_file(&empty).unwrap();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
}

#[test]
fn no_root_at_all_fails_the_build() {
    let error = builder().webpki_roots(false).build().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
}

#[test]
fn debug_is_concise_and_hides_proxy_credentials() {
    let builder = builder().proxy(Some(
        "http://user:s3cret@proxy.example:3128".parse().unwrap(),
    ));
    let text = format!("{builder:?}");
    assert!(text.contains("http://proxy.example:3128"), "{text}");
    assert!(!text.contains("s3cret") && !text.contains("user"), "{text}");
    let transport = builder.build().unwrap();
    let text = format!("{transport:?}");
    assert!(text.contains("http://proxy.example:3128"), "{text}");
    assert!(!text.contains("s3cret") && !text.contains("user"), "{text}");
    assert!(text.len() < 300, "{text}");
}

#[tokio::test]
async fn a_stalled_handshake_hits_the_connect_timeout() {
    // Accepts TCP, then says nothing: the TLS handshake never completes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let transport = HyperTransport::builder()
        .connect_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let error = transport
        .send(get(&format!("https://localhost:{}/", addr.port())))
        .await
        .unwrap_err();
    silent.abort();
    assert!(error.is_timeout(), "{}", describe(&error));
    // The connect timeout, not the request timeout, fired.
    assert!(error.to_string().contains("connect took longer"), "{error}");
}

#[test]
fn native_roots_load_or_fail_as_a_config_error() {
    // The system's store depends on the machine: either it loads, or the build says why.
    match builder().webpki_roots(false).native_roots(true).build() {
        Ok(transport) => assert!(format!("{transport:?}").contains("native")),
        Err(error) => assert_eq!(error.kind(), ErrorKind::Config, "{error}"),
    }
}
