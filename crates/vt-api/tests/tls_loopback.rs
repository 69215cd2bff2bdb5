//! vt-api over the real `HyperTransport` and TLS, against the real `vt-emulator` serving
//! HTTPS with a certificate of a CA the test makes (rcgen): trusted through
//! `extra_ca_pem_file`, refused without it; a download follows the emulator's redirect to its
//! one-time URL, https too.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use vt_api::{ApiKey, Client, Downloaded, Error, Resource, Tier};
use vt_emulator::{Emulator, KeySpec, RunningEmulator, TlsConfig};
use vt_transport::HyperTransport;

const KEY: &str = "tls-private-key";
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// The emulator on HTTPS with a certificate for 127.0.0.1 signed by a CA of the test; the
/// CA's certificate (PEM) in `ca_file`.
async fn https_emulator(ca_file: &std::path::Path) -> RunningEmulator {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(ca_file, ca.pem()).unwrap();
    let tls = TlsConfig::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    Emulator::builder()
        .key(KeySpec::new(KEY, vt_emulator::Tier::Private).unwrap())
        .analysis_delay(Duration::ZERO)
        .tls(tls)
        .start()
        .await
        .unwrap()
}

fn client(emulator: &RunningEmulator, transport: HyperTransport) -> Client {
    Client::builder(ApiKey::new(KEY))
        .base_url(emulator.url())
        .tier(Tier::Private)
        .retry_policy(vt_api::RetryPolicy::default().with_max_attempts(1))
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

fn resource(text: &str) -> Resource {
    text.parse().unwrap()
}

#[tokio::test]
async fn lookups_and_a_redirected_download_over_https_trust_the_tests_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let emulator = https_emulator(&ca_file).await;
    assert!(emulator.url().starts_with("https://127.0.0.1:"));
    let transport = HyperTransport::builder()
        .extra_ca_pem_file(&ca_file)
        .build()
        .unwrap();
    let client = client(&emulator, transport);
    let report = client
        .file_report(&resource(EICAR_MD5), false)
        .await
        .unwrap();
    assert_eq!(
        report.as_found().expect("in the bundled dataset").md5,
        EICAR_MD5
    );

    // Uploaded, then downloaded through the redirect to the emulator's one-time https URL.
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, EICAR).unwrap();
    let scan = client.scan_file(&path).await.unwrap();
    let sha256 = &scan.as_found().expect("queued is code 1").sha256;
    let to = dir.path().join("eicar.downloaded");
    let hash = resource(sha256);
    let downloaded = client.download(&vt_api::FILE_DOWNLOAD, &hash, &to).await;
    let expected = Downloaded::Saved {
        bytes: EICAR.len() as u64,
    };
    assert_eq!(downloaded.unwrap(), expected);
    assert_eq!(std::fs::read(&to).unwrap(), EICAR);
    emulator.shutdown().await;
}

#[tokio::test]
async fn without_the_tests_ca_the_emulators_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = https_emulator(&dir.path().join("ca.pem")).await;
    let client = client(&emulator, HyperTransport::new().unwrap());
    let error = client
        .file_report(&resource(EICAR_MD5), false)
        .await
        .unwrap_err();
    match &error {
        Error::Unreachable { reason, .. } => assert!(reason.inner().is_tls(), "{error}"),
        other => panic!("not a TLS refusal: {other}"),
    }
    assert_eq!(emulator.stats().requests, 0, "nothing reached the emulator");
    emulator.shutdown().await;
}
