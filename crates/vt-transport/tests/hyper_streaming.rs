//! `HyperTransport::send_streaming` over real loopback HTTP: streamed uploads (a file, a
//! multipart form) arrive intact with the length announced, a 64 MiB download arrives chunk by
//! chunk and the cap cuts it off, the timers fire, redirects come back unfollowed, errors are
//! typed and never quote the URL's query; and the trait's default implementation serves a
//! transport that only implements `send`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vt_transport::{
    async_trait, Body, BodyStream, Error, ErrorKind, HyperTransport, Multipart, ReplayTransport,
    RequestOptions, Transport,
};

/// Stands for the API key in every URL: no error may quote it.
const SECRET: &str = "apikey-0123456789abcdef-SECRET";

/// The byte at `offset` of the test bodies.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// `len` bytes of the pattern from `offset`.
fn pattern_bytes(offset: u64, len: usize) -> Bytes {
    (offset..offset + len as u64).map(pattern).collect()
}

/// A file of `len` pattern bytes in the test's temporary folder.
fn pattern_file(tag: &str, len: u64) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vt-transport-{tag}-{}.bin", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(1 << 20) as usize;
        std::io::Write::write_all(&mut file, &pattern_bytes(offset, n)).unwrap();
        offset += n as u64;
    }
    path
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Response = http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

/// A loopback hyper server: records each request (its whole body), answers `/download/N`
/// with N pattern bytes streamed in 64 KiB frames (chunked, no length), `/redirect` with a
/// 302, anything else with 200 `ok`.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let record = Arc::clone(&record);
                let service = hyper::service::service_fn(move |request| {
                    let record = Arc::clone(&record);
                    async move { Ok::<_, Infallible>(answer(request, record).await) }
                });
                tasks.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { addr, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}?apikey={SECRET}", self.addr)
    }

    fn only_request(&self) -> Seen {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(seen.len(), 1, "{seen:?}");
        seen[0].clone()
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    record: Arc<Mutex<Vec<Seen>>>,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    record
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            path: path.clone(),
            headers: parts.headers,
            body,
        });
    if let Some(size) = path.strip_prefix("/download/") {
        let size: u64 = size.parse().unwrap();
        let frames = futures_util::stream::iter((0..size).step_by(64 * 1024)).map(move |at| {
            let len = (size - at).min(64 * 1024) as usize;
            Ok::<_, Infallible>(Frame::data(pattern_bytes(at, len)))
        });
        return http::Response::new(BodyExt::boxed(StreamBody::new(frames)));
    }
    if path == "/redirect" {
        return http::Response::builder()
            .status(302)
            .header(http::header::LOCATION, "/elsewhere")
            .body(http_body_util::Full::new(Bytes::from("moved")).boxed())
            .unwrap();
    }
    http::Response::new(http_body_util::Full::new(Bytes::from("ok")).boxed())
}

fn transport() -> HyperTransport {
    HyperTransport::builder().build().unwrap()
}

/// Sends an upload to the test server, which must answer 200 `ok`.
async fn upload(request: http::Request<Body>) {
    let response = transport()
        .send_streaming(request, &RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body().collect().await.unwrap(), "ok");
}

fn get(url: &str) -> http::Request<Body> {
    http::Request::get(url).body(Body::empty()).unwrap()
}

/// The error's message and its causes, and its Debug form: where a key could leak.
fn everything_said(error: &Error) -> String {
    let mut text = format!("{error} / {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    text
}

/// The error, after checking that it quotes no key.
fn scrubbed(error: Error) -> Error {
    let said = everything_said(&error);
    assert!(!said.contains(SECRET), "the key leaked: {said}");
    error
}

/// Reads the body to its end; the bytes, the chunk count, or the first error.
async fn read(mut body: BodyStream) -> Result<(Vec<u8>, usize), Error> {
    let mut all = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = body.next_chunk().await {
        all.extend_from_slice(&chunk?);
        chunks += 1;
    }
    Ok((all, chunks))
}

#[tokio::test]
async fn a_file_upload_is_streamed_intact_with_its_content_length() {
    const SIZE: u64 = 8 * 1024 * 1024 + 13;
    let server = Server::start().await;
    let path = pattern_file("upload", SIZE);
    let body = Body::from_file(&path).await.unwrap();
    assert!(body.is_stream());
    assert_eq!(body.length(), SIZE);
    let request = http::Request::post(server.url("/upload"))
        // A wrong length set by the caller is replaced by the body's own.
        .header(http::header::CONTENT_LENGTH, "1")
        .body(body)
        .unwrap();
    upload(request).await;
    std::fs::remove_file(&path).unwrap();
    let seen = server.only_request();
    assert_eq!(seen.headers[http::header::CONTENT_LENGTH], SIZE.to_string());
    assert!(seen.headers.get(http::header::TRANSFER_ENCODING).is_none());
    assert_eq!(seen.body.len() as u64, SIZE);
    assert!(seen.body == pattern_bytes(0, SIZE as usize), "bytes differ");
}

#[tokio::test]
async fn a_64_mib_download_arrives_intact_chunk_by_chunk() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let server = Server::start().await;
    let options = RequestOptions::new()
        .with_max_body_size(Some(SIZE))
        .with_idle_timeout(Duration::from_secs(10));
    let response = transport()
        .send_streaming(get(&server.url(&format!("/download/{SIZE}"))), &options)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut offset, mut chunks, mut largest) = (0u64, 0usize, 0usize);
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.unwrap();
        assert!(
            chunk.iter().zip(offset..).all(|(&b, at)| b == pattern(at)),
            "chunk {chunks} (at byte {offset}) differs"
        );
        offset += chunk.len() as u64;
        largest = largest.max(chunk.len());
        chunks += 1;
    }
    assert_eq!(offset, SIZE);
    // Handed on as it came: no chunk is anywhere near the whole.
    assert!(chunks >= 64, "{chunks} chunks");
    assert!(largest <= 4 * 1024 * 1024, "a chunk of {largest} bytes");
}

#[tokio::test]
async fn the_cap_cuts_a_streamed_download_off_with_a_typed_error() {
    const CAP: u64 = 1024 * 1024;
    let server = Server::start().await;
    let transport = transport();
    let options = RequestOptions::new().with_max_body_size(Some(CAP));
    // No length announced: the cap is counted as the body arrives.
    let response = transport
        .send_streaming(get(&server.url("/download/67108864")), &options)
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut received = 0u64;
    let error = loop {
        match body.next_chunk().await {
            Some(Ok(chunk)) => received += chunk.len() as u64,
            Some(Err(error)) => break scrubbed(error),
            None => panic!("the whole body arrived past the cap"),
        }
    };
    assert!(error.is_body_too_large(), "{error:?}");
    assert!(!error.is_transient());
    assert!(received <= CAP, "{received} bytes handed on past the cap");
    assert!(body.next_chunk().await.is_none(), "a chunk after the error");

    // Announced over the cap: refused before the body is read.
    let (addr, task) = stalling_server(b"HTTP/1.1 200 OK\r\ncontent-length: 1048577\r\n\r\n").await;
    let error = transport
        .send_streaming(get(&format!("http://{addr}/?apikey={SECRET}")), &options)
        .await
        .unwrap_err();
    task.abort();
    assert!(scrubbed(error).is_body_too_large());

    // No cap at all: 64 MiB (over the 32 MiB default) is read.
    let response = transport
        .send_streaming(
            get(&server.url("/download/67108864")),
            &RequestOptions::new().with_max_body_size(None),
        )
        .await
        .unwrap();
    let (bytes, _) = read(response.into_body()).await.unwrap();
    assert_eq!(bytes.len(), 64 * 1024 * 1024);
}

/// A raw server that writes `head` and then holds the connection open.
async fn stalling_server(head: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            tasks.spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.write_all(head).await;
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn the_idle_timeout_fires_on_a_server_that_stalls() {
    let (addr, task) =
        stalling_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nthe first bytes").await;
    let url = format!("http://{addr}/stall?apikey={SECRET}");
    let options = RequestOptions::new()
        .with_idle_timeout(Duration::from_millis(300))
        .with_deadline(Duration::from_secs(60));
    let started = std::time::Instant::now();
    let response = transport()
        .send_streaming(get(&url), &options)
        .await
        .unwrap();
    let mut body = response.into_body();
    assert_eq!(body.next_chunk().await.unwrap().unwrap(), "the first bytes");
    let error = scrubbed(body.next_chunk().await.unwrap().unwrap_err());
    task.abort();
    assert!(error.is_timeout() && error.is_transient(), "{error:?}");
    assert!(error.to_string().contains("idle timeout"), "{error}");
    // It fired for the idle timeout, long before the deadline.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn the_deadline_bounds_the_head_of_a_streaming_call() {
    let (addr, task) = stalling_server(b"").await;
    let url = format!("http://{addr}/silent?apikey={SECRET}");
    let options = RequestOptions::new().with_deadline(Duration::from_millis(300));
    let error = scrubbed(
        transport()
            .send_streaming(get(&url), &options)
            .await
            .unwrap_err(),
    );
    task.abort();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.to_string().contains("300ms"), "{error}");
}

#[tokio::test]
async fn a_redirect_comes_back_unfollowed() {
    let server = Server::start().await;
    let transport = transport();
    let response = transport
        .send_streaming(get(&server.url("/redirect")), &RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()[http::header::LOCATION], "/elsewhere");
    assert_eq!(response.into_body().collect().await.unwrap(), "moved");
    let response = transport
        .send(
            http::Request::get(server.url("/redirect"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let paths: Vec<String> = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/redirect", "/redirect"]);
}

#[tokio::test]
async fn an_unreadable_upload_fails_typed_and_quotes_no_key() {
    let server = Server::start().await;

    // A file that is not there fails before any request.
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-upload.bin");
    let error = Body::from_file(&missing).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RequestBody);
    assert!(error.to_string().contains("no-such-upload.bin"), "{error}");

    // A folder has no length to send.
    let error = Body::from_file(env!("CARGO_TARGET_TMPDIR"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RequestBody);

    // A stream that fails mid-upload.
    let chunks = futures_util::stream::iter(vec![
        Ok(Bytes::from(vec![b'a'; 300_000])),
        Err(std::io::Error::other("the disk is on fire")),
    ]);
    let error = failed_upload(&server, Body::from_stream(1_000_000, chunks)).await;
    assert!(
        error.is_request_body() && !error.is_transient(),
        "{error:?}"
    );
    assert!(error.to_string().contains("the disk is on fire"), "{error}");

    // A file that shrinks while it is sent ends short of its announced length.
    let path = pattern_file("shrinks", 3 * 1024 * 1024);
    let body = Body::from_file(&path).await.unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1024)
        .unwrap();
    let error = failed_upload(&server, body).await;
    std::fs::remove_file(&path).unwrap();
    assert!(error.is_request_body(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("ended after 1024 of its announced"),
        "{error}"
    );
}

/// The error of an upload of `body` that must fail, after checking that it quotes no key.
async fn failed_upload(server: &Server, body: Body) -> Error {
    let request = http::Request::post(server.url("/upload"))
        .body(body)
        .unwrap();
    let result = transport()
        .send_streaming(request, &RequestOptions::new())
        .await;
    scrubbed(result.unwrap_err())
}

/// The fields of a multipart body, parsed by multer (axum's parser, not ours): name, file
/// name, content type and bytes of each.
async fn parse_multipart(
    content_type: &str,
    body: Bytes,
) -> Vec<(String, Option<String>, Option<String>, Bytes)> {
    let boundary = multer::parse_boundary(content_type).unwrap();
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        fields.push((name, file_name, content_type, field.bytes().await.unwrap()));
    }
    fields
}

#[tokio::test]
async fn a_multipart_upload_parses_back_and_its_length_is_what_was_sent() {
    const SIZE: u64 = 5 * 1024 * 1024 + 7;
    let server = Server::start().await;
    let path = pattern_file("multipart", SIZE);
    let (content_type, body) = Multipart::new()
        .text("apikey", SECRET)
        .text("notify_url", "https://example.com/hook?a=1&b=\"2\"")
        .file("file", &path)
        .await
        .unwrap()
        .part(
            "extra",
            Some("odd \"name\"\r\n.txt"),
            Some("text/plain"),
            Body::from_stream(
                5,
                futures_util::stream::iter(vec![Ok(Bytes::from("he")), Ok(Bytes::from("llo"))]),
            ),
        )
        .finish();
    let length = body.length();
    let request = http::Request::post(server.url("/file/scan"))
        .header(http::header::CONTENT_TYPE, &content_type)
        .body(body)
        .unwrap();
    upload(request).await;
    std::fs::remove_file(&path).unwrap();

    let seen = server.only_request();
    assert_eq!(
        seen.body.len() as u64,
        length,
        "computed length != bytes sent"
    );
    assert_eq!(
        seen.headers[http::header::CONTENT_LENGTH],
        length.to_string()
    );
    assert_eq!(
        seen.headers[http::header::CONTENT_TYPE],
        content_type.as_str()
    );
    let fields = parse_multipart(&content_type, seen.body).await;
    let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, ["apikey", "notify_url", "file", "extra"]);
    assert_eq!(fields[0].3, SECRET);
    assert_eq!(fields[0].1, None);
    assert_eq!(fields[1].3, "https://example.com/hook?a=1&b=\"2\"");
    let file_name = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(fields[2].1.as_deref(), Some(file_name));
    assert_eq!(fields[2].2.as_deref(), Some("application/octet-stream"));
    assert_eq!(fields[2].3.len() as u64, SIZE);
    assert!(
        fields[2].3 == pattern_bytes(0, SIZE as usize),
        "file bytes differ"
    );
    // Quotes and line breaks in a file name are escaped as browsers do.
    assert_eq!(fields[3].1.as_deref(), Some("odd %22name%22%0D%0A.txt"));
    assert_eq!(fields[3].2.as_deref(), Some("text/plain"));
    assert_eq!(fields[3].3, "hello");
}

#[tokio::test]
async fn an_empty_multipart_form_is_well_formed() {
    let (content_type, body) = Multipart::new().finish();
    let length = body.length();
    let bytes = body.collect(1024).await.unwrap();
    assert_eq!(bytes.len() as u64, length);
    assert!(parse_multipart(&content_type, bytes).await.is_empty());
}

#[tokio::test]
async fn the_default_implementation_serves_a_transport_that_only_sends() {
    let replay = ReplayTransport::new();
    replay.push_response(200, vec![b'r'; 1000]);
    let chunks = futures_util::stream::iter(vec![Ok(Bytes::from("a=")), Ok(Bytes::from("1"))]);
    let request = http::Request::post("http://vt.example/upload")
        .body(Body::from_stream(3, chunks))
        .unwrap();
    let response = replay
        .send_streaming(request, &RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (body, chunks) = read(response.into_body()).await.unwrap();
    assert_eq!((body.len(), chunks), (1000, 1));
    assert_eq!(replay.requests()[0].body, "a=1");

    // The options' cap applies to the whole answer.
    replay.push_response(200, vec![b'r'; 1000]);
    let options = RequestOptions::new().with_max_body_size(Some(999));
    let error = replay
        .send_streaming(get("http://vt.example/big"), &options)
        .await
        .unwrap_err();
    assert!(error.is_body_too_large(), "{error:?}");

    // A streamed body too long to hold is refused before a byte is read or anything sent.
    let endless = futures_util::stream::repeat_with(|| Ok(Bytes::from_static(b"x")));
    let request = http::Request::post("http://vt.example/huge")
        .body(Body::from_stream(
            vt_transport::MAX_COLLECTED_REQUEST_BODY + 1,
            endless,
        ))
        .unwrap();
    let error = replay
        .send_streaming(request, &RequestOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{error:?}");
    assert_eq!(replay.requests().len(), 2);
}

/// A transport whose streaming calls answer 299, to see that `Arc` and `Box` forward
/// `send_streaming` rather than fall back on the default.
#[derive(Debug)]
struct Streams;

#[async_trait]
impl Transport for Streams {
    async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        Ok(http::Response::new(Bytes::new()))
    }

    async fn send_streaming(
        &self,
        _: http::Request<Body>,
        _: &RequestOptions,
    ) -> Result<http::Response<BodyStream>, Error> {
        let mut response = http::Response::new(BodyStream::empty());
        *response.status_mut() = http::StatusCode::from_u16(299).unwrap();
        Ok(response)
    }
}

#[tokio::test]
async fn arc_and_box_forward_streaming_calls() {
    let options = RequestOptions::new();
    let arc: Arc<dyn Transport> = Arc::new(Streams);
    let boxed: Box<dyn Transport> = Box::new(Streams);
    let arc_status = arc
        .send_streaming(get("http://x/"), &options)
        .await
        .unwrap();
    let box_status = boxed
        .send_streaming(get("http://x/"), &options)
        .await
        .unwrap();
    assert_eq!(arc_status.status(), 299);
    assert_eq!(box_status.status(), 299);
}
