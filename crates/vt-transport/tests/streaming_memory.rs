//! A 150 MB upload streamed from disk and a 150 MB download streamed to disk, over loopback,
//! raise the process's peak memory by far less than the body. Its own test binary (one test),
//! so that the process's peak memory (Linux's `VmHWM`) is this test's, as in vt-api's
//! `hostile_memory.rs`.
#![cfg(target_os = "linux")]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use vt_transport::{Body, HyperTransport, RequestOptions, Transport};

/// The size of the file sent up and of the body brought down.
const SIZE: u64 = 150 * 1000 * 1000;
/// The bodies are blocks of this size, each its index (8 bytes) then a fixed pattern, so that
/// a byte out of place or a block repeated is seen.
const BLOCK: usize = 1 << 20;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Block `index` of the body (the last one cut short).
fn block(index: u64) -> Bytes {
    let start = index * BLOCK as u64;
    let len = (SIZE - start).min(BLOCK as u64) as usize;
    let mut block: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let header = index.to_le_bytes();
    let n = header.len().min(len);
    block[..n].copy_from_slice(&header[..n]);
    Bytes::from(block)
}

/// Checks the body's bytes as they come, in pieces of any size.
#[derive(Default)]
struct Checker {
    offset: u64,
    current: Option<(u64, Bytes)>,
}

impl Checker {
    /// Whether `piece` is what comes next.
    fn check(&mut self, mut piece: &[u8]) -> bool {
        while !piece.is_empty() {
            let index = self.offset / BLOCK as u64;
            if self.offset >= SIZE {
                return false;
            }
            if self.current.as_ref().is_none_or(|(i, _)| *i != index) {
                self.current = Some((index, block(index)));
            }
            let expected = &self.current.as_ref().unwrap().1;
            let at = (self.offset % BLOCK as u64) as usize;
            let n = piece.len().min(expected.len() - at);
            if piece[..n] != expected[at..at + n] {
                return false;
            }
            piece = &piece[n..];
            self.offset += n as u64;
        }
        true
    }
}

/// A server on 127.0.0.1 that checks an upload as it arrives (answering `ok` or `bad`) and
/// sends the body in 256 KiB frames, block by block, for any GET.
async fn start_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(serve);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

type Answer = http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

async fn serve(request: http::Request<hyper::body::Incoming>) -> Result<Answer, Infallible> {
    if request.method() == http::Method::POST {
        let mut body = request.into_body();
        let mut checker = Checker::default();
        let mut intact = true;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                intact &= checker.check(&data);
            }
        }
        let verdict = if intact && checker.offset == SIZE {
            "ok"
        } else {
            "bad"
        };
        return Ok(http::Response::new(Full::new(Bytes::from(verdict)).boxed()));
    }
    let blocks = SIZE.div_ceil(BLOCK as u64);
    let frames = futures_util::stream::iter(0..blocks).flat_map(|index| {
        let block = block(index);
        let pieces: Vec<_> = (0..block.len())
            .step_by(256 * 1024)
            .map(|at| {
                let end = (at + 256 * 1024).min(block.len());
                Ok::<_, Infallible>(Frame::data(block.slice(at..end)))
            })
            .collect();
        futures_util::stream::iter(pieces)
    });
    let mut response = http::Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, SIZE.into());
    Ok(response)
}

fn temp_file(tag: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "vt-transport-memory-{tag}-{}.bin",
        std::process::id()
    ))
}

/// Writes the body to `path`, block by block.
fn write_body(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    for index in 0..SIZE.div_ceil(BLOCK as u64) {
        std::io::Write::write_all(&mut file, &block(index)).unwrap();
    }
}

/// Whether the file at `path` holds the body, read back 1 MiB at a time.
fn holds_body(path: &Path) -> bool {
    let mut file = std::fs::File::open(path).unwrap();
    let mut checker = Checker::default();
    let mut buffer = vec![0u8; BLOCK];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).unwrap();
        if n == 0 {
            return checker.offset == SIZE;
        }
        if !checker.check(&buffer[..n]) {
            return false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_150_mb_upload_and_download_cost_far_less_memory_than_the_body() {
    let upload = temp_file("upload");
    let download = temp_file("download");
    write_body(&upload);
    let addr = start_server().await;
    let transport = HyperTransport::builder().build().unwrap();
    let options = RequestOptions::new()
        .with_max_body_size(Some(SIZE))
        .with_deadline(Duration::from_secs(600))
        .with_idle_timeout(Duration::from_secs(60));

    // Linux resets the peak resident size (VmHWM) to the current one on "5".
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:") * 1024;

    let request = http::Request::post(format!("http://{addr}/upload"))
        .body(Body::from_file(&upload).await.unwrap())
        .unwrap();
    let response = transport.send_streaming(request, &options).await.unwrap();
    let verdict = response.into_body().collect().await.unwrap();

    let request = http::Request::get(format!("http://{addr}/download"))
        .body(Body::empty())
        .unwrap();
    let response = transport.send_streaming(request, &options).await.unwrap();
    let mut body = response.into_body();
    let mut file = tokio::fs::File::create(&download).await.unwrap();
    while let Some(chunk) = body.next_chunk().await {
        file.write_all(&chunk.unwrap()).await.unwrap();
    }
    file.flush().await.unwrap();
    drop(file);

    let peak = (status_kib("VmHWM:") * 1024).saturating_sub(before);
    let downloaded = holds_body(&download);
    std::fs::remove_file(&upload).unwrap();
    std::fs::remove_file(&download).unwrap();
    assert_eq!(verdict, "ok", "the server saw the upload differ");
    assert!(downloaded, "the downloaded file differs");
    #[allow(clippy::print_stderr)] // the figure, for `--nocapture`
    {
        eprintln!("peak grew by {} KiB for {SIZE} bytes each way", peak / 1024);
    }
    assert!(
        peak < 40 * 1024 * 1024,
        "the peak grew by {peak} bytes for a body of {SIZE} each way"
    );
}
