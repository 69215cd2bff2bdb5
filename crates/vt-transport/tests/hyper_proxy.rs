//! `HyperTransport` through a CONNECT proxy written in the test (see `common::ConnectProxy`):
//! http and https destinations are both tunnelled, credentials become
//! `Proxy-Authorization`, `no_proxy` bypasses, and a proxy that refuses is a connect error.
//! (Reading `HTTPS_PROXY`/`NO_PROXY` is unit-tested from given values in
//! `src/hyper_transport/proxy.rs`, without touching the process environment.)

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{ConnectProxy, Pki, Server, Tunnel};
use vt_transport::{HyperTransport, HyperTransportBuilder, Transport};

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

fn builder() -> HyperTransportBuilder {
    HyperTransport::builder()
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn http_and_https_destinations_go_through_the_tunnel() {
    let pki = Pki::new("proxy", &["localhost"]);
    let https_server = Server::start(Some(&pki)).await;
    let http_server = Server::start(None).await;
    let proxy = ConnectProxy::start(false).await;
    let transport = builder()
        .proxy(Some(proxy.uri()))
        .extra_ca_pem_file(&pki.ca_file)
        .build()
        .unwrap();

    let response = transport
        .send(get(&http_server.http_url("/plain")))
        .await
        .unwrap();
    assert_eq!(response.body(), "hello over HTTP/1.1");
    let response = transport
        .send(get(&https_server.https_url("/tls")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "hello over HTTP/2.0");
    // A second request to each reuses its tunnel.
    transport
        .send(get(&http_server.http_url("/again")))
        .await
        .unwrap();
    transport
        .send(get(&https_server.https_url("/again")))
        .await
        .unwrap();

    let tunnel = |target: String| Tunnel {
        target,
        authorization: None,
    };
    assert_eq!(
        proxy.tunnels(),
        [
            tunnel(http_server.addr.to_string()),
            tunnel(format!("localhost:{}", https_server.addr.port())),
        ]
    );
}

#[tokio::test]
async fn proxy_credentials_are_sent_as_basic_authorization() {
    let server = Server::start(None).await;
    let proxy = ConnectProxy::start(false).await;
    let uri = format!("http://vt:p%40ss@{}", proxy.addr).parse().unwrap();
    let transport = builder().proxy(Some(uri)).build().unwrap();
    transport.send(get(&server.http_url("/"))).await.unwrap();
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 1);
    // base64("vt:p@ss")
    assert_eq!(
        tunnels[0].authorization.as_deref(),
        Some("Basic dnQ6cEBzcw==")
    );
}

#[tokio::test]
async fn no_proxy_destinations_bypass_the_proxy() {
    let server = Server::start(None).await;
    let proxy = ConnectProxy::start(false).await;
    let transport = builder()
        .proxy(Some(proxy.uri()))
        .no_proxy(Some("example.com, 127.0.0.0/8".to_owned()))
        .build()
        .unwrap();
    let response = transport.send(get(&server.http_url("/"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(proxy.tunnels(), []);
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_is_a_connect_error() {
    let server = Server::start(None).await;
    let proxy = ConnectProxy::start(true).await;
    let transport = builder().proxy(Some(proxy.uri())).build().unwrap();
    let error = transport
        .send(get(&server.http_url("/")))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(proxy.tunnels().len(), 1);
}

#[tokio::test]
async fn an_unreachable_proxy_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server = Server::start(None).await;
    let transport = builder()
        .proxy(Some(format!("http://{addr}").parse().unwrap()))
        .build()
        .unwrap();
    let error = transport
        .send(get(&server.http_url("/")))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn a_socks_proxy_is_refused_as_unsupported() {
    let server = Server::start(None).await;
    let transport = builder()
        .proxy(Some("socks5://127.0.0.1:1080".parse().unwrap()))
        .build()
        .unwrap();
    let error = transport
        .send(get(&server.http_url("/")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), vt_transport::ErrorKind::Config, "{error:?}");
}
