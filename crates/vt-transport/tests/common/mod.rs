//! Shared by the hyper-specific tests: a test PKI made with rcgen, an HTTP(S) server on
//! 127.0.0.1, and a small CONNECT proxy.

#![allow(dead_code, unreachable_pub)] // Each test file uses a part.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A CA made for one test, and a server certificate it signed.
pub struct Pki {
    /// The CA certificate, PEM, written to a file for `extra_ca_pem_file`.
    pub ca_file: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    /// A CA, and a certificate for `names` signed by it. `tag` names the CA file.
    pub fn new(tag: &str, names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("vt test CA {tag}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let server_params = CertificateParams::new(names).unwrap();
        let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

        let ca_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "vt-transport-test-ca-{tag}-{}.pem",
            std::process::id()
        ));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            ca_file,
            server_chain: vec![server_cert.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                self.server_chain.clone(),
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// Aborts a server's accept loop (and its connection tasks) when dropped.
pub struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A server on 127.0.0.1 answering every request with 200 and `"hello over {version}"`,
/// over TLS when given a PKI (HTTP/1.1 or HTTP/2 by ALPN), plain HTTP/1.1 otherwise.
pub struct Server {
    pub addr: SocketAddr,
    _task: Task,
}

impl Server {
    pub async fn start(pki: Option<&Pki>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = pki.map(Pki::acceptor);
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tasks.spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            // A client that refuses the certificate ends the handshake.
                            if let Ok(tls) = acceptor.accept(stream).await {
                                serve(TokioIo::new(tls)).await;
                            }
                        }
                        None => serve(TokioIo::new(stream)).await,
                    }
                });
            }
        });
        Server {
            addr,
            _task: Task(task),
        }
    }

    /// `https://localhost:{port}{path}` (the name in the certificate).
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| {
        let body = format!("hello over {:?}", request.version());
        async move {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(body))))
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await;
}

/// What a [`ConnectProxy`] saw of one CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The request target, `host:port`.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A CONNECT proxy on 127.0.0.1: reads the CONNECT head, connects to the target, answers
/// 200 and copies bytes both ways. Anything but CONNECT gets 405; a target it cannot reach,
/// 502; with `refuse`, every CONNECT gets 403.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
    _task: Task,
}

impl ConnectProxy {
    pub async fn start(refuse: bool) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&tunnels);
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                tasks.spawn(tunnel(stream, Arc::clone(&seen), refuse));
            }
        });
        ConnectProxy {
            addr,
            tunnels,
            _task: Task(task),
        }
    }

    pub fn uri(&self) -> http::Uri {
        format!("http://{}", self.addr).parse().unwrap()
    }

    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn tunnel(mut client: TcpStream, seen: Arc<Mutex<Vec<Tunnel>>>, refuse: bool) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if method != "CONNECT" {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Tunnel {
            target: target.to_owned(),
            authorization,
        });
    if refuse {
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
