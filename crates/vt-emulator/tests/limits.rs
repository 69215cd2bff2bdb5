//! A server users can leave running: idle and stalled connections are closed after the
//! header timeout, open connections are capped, a request's time is capped; checked over
//! loopback with short settings.

mod common;

use std::time::Duration;

use common::report;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vt_emulator::{Emulator, EmulatorBuilder, KeySpec, RunningEmulator, Tier};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
/// Far above every timeout configured here: only a server that never closes misses it.
const GENEROUS: Duration = Duration::from_secs(30);

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

fn with_key() -> EmulatorBuilder {
    Emulator::builder().key(KeySpec::new("priv", Tier::Private).unwrap())
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A request whose head never ends.
const HALF_SENT: &[u8] =
    b"GET /vtapi/v2/file/report?apikey=priv&resource=x HTTP/1.1\r\nHost: h\r\n";

#[tokio::test]
async fn a_stalled_request_head_is_closed_after_the_header_timeout() {
    let emu = start(with_key().header_timeout(Duration::from_millis(300))).await;
    let mut stalled = TcpStream::connect(emu.addr()).await.unwrap();
    stalled.write_all(HALF_SENT).await.unwrap();
    let answer = tokio::time::timeout(GENEROUS, read_until_closed(&mut stalled))
        .await
        .expect("the server closes a stalled head");
    // hyper may say 408 before closing; it never answers the request itself.
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // An idle kept-alive connection is closed the same way.
    let mut idle = TcpStream::connect(emu.addr()).await.unwrap();
    idle.write_all(
        format!(
            "GET /vtapi/v2/file/report?apikey=priv&resource={EICAR_MD5} HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answered = tokio::time::timeout(GENEROUS, read_until_closed(&mut idle))
        .await
        .expect("the server closes an idle connection");
    assert!(answered.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_half_sent_connections_beyond_the_cap_do_not_keep_a_new_client_out() {
    let emu = start(
        with_key()
            .max_connections(16)
            .header_timeout(Duration::from_millis(500)),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..32 {
        let mut stream = TcpStream::connect(emu.addr()).await.unwrap();
        stream.write_all(HALF_SENT).await.unwrap();
        idle.push(stream);
    }
    let served = tokio::time::timeout(
        GENEROUS,
        report(emu.addr(), &format!("apikey=priv&resource={EICAR_MD5}")),
    )
    .await
    .expect("a new client is served while 32 half-sent connections stay open");
    assert_eq!(served.status, 200);
    assert_eq!(served.json()["md5"], EICAR_MD5);
    drop(idle);
}

#[tokio::test]
async fn a_request_over_its_time_cap_is_closed_without_an_answer() {
    let emu = start(with_key().request_timeout(Duration::from_millis(300))).await;
    let mut slow = TcpStream::connect(emu.addr()).await.unwrap();
    // The head promises 100 bytes of body; 10 come, then nothing.
    slow.write_all(
        b"POST /vtapi/v2/file/report HTTP/1.1\r\nHost: h\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\napikey=pri",
    )
    .await
    .unwrap();
    let answer = tokio::time::timeout(GENEROUS, read_until_closed(&mut slow))
        .await
        .expect("the server gives up on the request");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    // Others are served meanwhile and after.
    let reply = report(emu.addr(), &format!("apikey=priv&resource={EICAR_MD5}")).await;
    assert_eq!(reply.status, 200);
}

#[test]
fn limits_of_zero_are_refused() {
    for builder in [
        with_key().max_connections(0),
        with_key().header_timeout(Duration::ZERO),
        with_key().request_timeout(Duration::ZERO),
    ] {
        let err = builder.build().unwrap_err();
        assert!(err.to_string().contains("must be"), "{err}");
    }
}

#[tokio::test]
async fn shutdown_closes_idle_and_half_sent_connections_at_once() {
    // A header timeout far beyond the bound: only closing them at once passes.
    let emu = start(with_key().header_timeout(Duration::from_secs(600))).await;
    let mut half_sent = TcpStream::connect(emu.addr()).await.unwrap();
    half_sent.write_all(HALF_SENT).await.unwrap();
    let mut kept_alive = TcpStream::connect(emu.addr()).await.unwrap();
    kept_alive
        .write_all(
            format!(
                "GET /vtapi/v2/file/report?apikey=priv&resource={EICAR_MD5} HTTP/1.1\r\nHost: h\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    kept_alive.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let _fresh = TcpStream::connect(emu.addr()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), emu.shutdown())
        .await
        .expect("shutdown does not wait for connections without a request in flight");
    let closed = tokio::time::timeout(GENEROUS, read_until_closed(&mut half_sent))
        .await
        .expect("closed");
    assert!(closed.is_empty());
}
