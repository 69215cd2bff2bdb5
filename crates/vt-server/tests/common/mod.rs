//! What the loopback tests share: a server of the test's own routes, and a raw HTTP/1.1
//! exchange that shows exactly what went over the wire.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// An answer as read off the connection (a chunked body decoded); header names in lower
/// case, in the order sent.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, lower_case_name: &str) -> Option<&str> {
        let mut values = self.head.iter().filter(|(n, _)| n == lower_case_name);
        values.next().map(|(_, value)| value.as_str())
    }

    /// The header names, without those hyper adds (`date`, `content-length`,
    /// `transfer-encoding`, `connection`).
    pub fn names(&self) -> Vec<&str> {
        const HYPERS: [&str; 4] = ["date", "content-length", "transfer-encoding", "connection"];
        let names = self.head.iter().map(|(n, _)| n.as_str());
        names.filter(|n| !HYPERS.contains(n)).collect()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a text body")
    }
}

/// Sends `request` (which says `Connection: close`) and reads until the server closes.
/// `None` when the connection closed without a byte of answer.
pub async fn exchange_on<S>(mut stream: S, request: &[u8]) -> Option<Reply>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(request).await.expect("write request");
    let mut raw = Vec::new();
    // A reset or a TLS close without notify both end the answer.
    let _ = stream.read_to_end(&mut raw).await;
    if raw.is_empty() {
        return None;
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let head: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut reply = Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    };
    if reply.header("transfer-encoding") == Some("chunked") {
        reply.body = dechunk(&reply.body);
    }
    Some(reply)
}

/// [`exchange_on`] over a new plain TCP connection.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    exchange_on(stream, request).await
}

/// A request of `method` for `target`, with a body of `content_type` when given.
pub fn request(method: &str, target: &str, body: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n");
    if let Some((content_type, body)) = body {
        out.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if let Some((_, body)) = body {
        out.extend_from_slice(body);
    }
    out
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&body[..line_end]).expect("hex digits");
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}
