//! A hostile service, end to end: `vt-api` over the real `HyperTransport`, over loopback TCP,
//! against a small HTTP/1.1 server of the test that writes its answers byte by byte. Six
//! resources in batches of two make three requests; the server answers the one asking for
//! [`HOSTILE`] with the case's hostile answer and the others correctly. Each hostile answer
//! gives a typed error to the two resources of its chunk only, and nothing panics or hangs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{asked, body_of, md5s, not_found, KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vt_api::{ApiKey, Client, Error, RetryPolicy, Tier};
use vt_transport::HyperTransport;

/// The transport's cap on a response body.
const BODY_CAP: usize = 256 * 1024;
/// Inputs, in batches of [`BATCH`]: three requests.
const INPUTS: usize = 6;
const BATCH: usize = 2;
/// The input whose chunk (inputs 2 and 3) gets the hostile answer.
const HOSTILE: usize = 2;
/// Fails a test that would otherwise hang.
const GUARD: Duration = Duration::from_secs(30);

/// What the server sends for the hostile chunk.
enum Reply {
    /// A 200 with this body (and its `Content-Length`) and this content type.
    Body(&'static str, Vec<u8>),
    /// A 200 with a chunked body that never ends: chunks until the client hangs up.
    Endless,
}

/// The hostile server: its address and what it saw.
struct Server {
    url: String,
    /// Requests that asked for the hostile resource.
    hostile_requests: Arc<AtomicUsize>,
    /// Replies the client hung up on before their last byte (an endless body's end).
    hung_up: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the server: requests asking for the hostile resource get `hostile(asked)`, every
/// other request gets a not-found answer for each resource it asked.
async fn serve(hostile: impl Fn(&[String]) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/vtapi/v2", listener.local_addr().unwrap());
    let hostile_requests = Arc::new(AtomicUsize::new(0));
    let hung_up = Arc::new(AtomicUsize::new(0));
    let hostile = Arc::new(hostile);
    let marker = md5s(INPUTS)[HOSTILE].as_str().to_owned();
    let (requests, hangups) = (hostile_requests.clone(), hung_up.clone());
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let (hostile, requests, hangups) = (hostile.clone(), requests.clone(), hangups.clone());
            let marker = marker.clone();
            connections.spawn(async move {
                // Keep-alive: one request after another until the client closes.
                while let Some(resources) = read_request(&mut stream).await {
                    let reply = if resources.contains(&marker) {
                        requests.fetch_add(1, Ordering::SeqCst);
                        hostile(&resources)
                    } else {
                        Reply::Body("application/json", answers(&resources, &[]))
                    };
                    if write_reply(&mut stream, reply).await.is_err() {
                        hangups.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
    });
    Server {
        url,
        hostile_requests,
        hung_up,
        task,
    }
}

/// Reads one request (head, then the body its `Content-Length` announces) and returns the
/// resources it asked; `None` once the client closed the connection.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<String>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while data.len() < head_end + length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    }
    let body = Bytes::copy_from_slice(&data[head_end..head_end + length]);
    Some(asked(&http::Request::post("/").body(body).unwrap()))
}

async fn write_reply(stream: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Body(content_type, body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await
        }
        Reply::Endless => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n[\r\n")
                .await?;
            let mut chunk = b"4000\r\n".to_vec();
            chunk.extend_from_slice(&[b' '; 0x4000]);
            chunk.extend_from_slice(b"\r\n");
            loop {
                stream.write_all(&chunk).await?;
            }
        }
    }
}

/// A JSON array with a not-found answer for each of `resources`, then for each of `extra`.
fn answers(resources: &[String], extra: &[String]) -> Vec<u8> {
    let all = resources
        .iter()
        .chain(extra)
        .map(|r| not_found(r))
        .collect();
    body_of(all).to_vec()
}

/// `n` MD5-shaped resources that nobody asks for.
fn strangers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:032x}", 0xffff_0000 + i))
        .collect()
}

/// Runs the client over the server's six resources and returns each outcome's kind
/// (`not_found`, or the error's kind), after checking there is one outcome per input in input
/// order, with the errors of the hostile chunk.
async fn check(server: &Server) -> (Vec<&'static str>, Vec<Error>) {
    let transport = HyperTransport::builder()
        .max_body_size(BODY_CAP)
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let client = Client::builder(ApiKey::new(KEY))
        .base_url(&server.url)
        .limits(Tier::Private.limits().with_batch_size(BATCH))
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
                .with_request_timeout(Duration::from_secs(5)),
        )
        .transport(Arc::new(transport))
        .build()
        .unwrap();
    let inputs = md5s(INPUTS);
    let run = async {
        let mut outcomes = client.file_reports(inputs.clone(), false);
        let mut all = Vec::new();
        while let Some(outcome) = outcomes.next().await {
            all.push(outcome);
        }
        all
    };
    let outcomes = tokio::time::timeout(GUARD, run)
        .await
        .expect("the run hung");
    let resources: Vec<_> = outcomes.iter().map(|o| o.query.clone()).collect();
    assert_eq!(resources, inputs, "one outcome per input, in input order");
    let mut errors = Vec::new();
    let kinds = outcomes
        .into_iter()
        // The typed view, as a library caller who reads the reports decodes it.
        .map(
            |outcome| match outcome.result.and_then(|raw| Ok(raw.into_answer()?)) {
                Ok(answer) => answer.status(),
                Err(error) => {
                    let kind = error.kind();
                    errors.push(error);
                    kind
                }
            },
        )
        .collect();
    (kinds, errors)
}

/// The kinds `check` gives when the hostile chunk fails with `kind` and the others are
/// answered.
fn hostile_chunk_fails_with(kind: &'static str) -> Vec<&'static str> {
    let mut kinds = vec!["not_found"; INPUTS];
    kinds[HOSTILE] = kind;
    kinds[HOSTILE + 1] = kind;
    kinds
}

fn transport_error(error: &Error) -> &vt_transport::Error {
    match error {
        Error::Transport(e) => e.inner(),
        other => panic!("not a transport error: {other:?}"),
    }
}

fn decode_error(error: &Error) -> &vt_model::DecodeError {
    match error {
        Error::Decode(d) => d,
        other => panic!("not a decode error: {other:?}"),
    }
}

#[tokio::test]
async fn a_body_over_the_cap_fails_its_chunk_without_a_retry() {
    let server = serve(|_| Reply::Body("application/json", vec![b' '; 1 << 20])).await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("transport"));
    for error in &errors {
        assert!(transport_error(error).is_body_too_large(), "{error:?}");
        assert!(!error.is_transient());
    }
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_endless_body_fails_its_chunk_and_ends() {
    let server = serve(|_| Reply::Endless).await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("transport"));
    for error in &errors {
        assert!(transport_error(error).is_body_too_large(), "{error:?}");
    }
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
    // The client hung up: the server's writing stops.
    let hung_up = async {
        while server.hung_up.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(GUARD, hung_up)
        .await
        .expect("the client never closed the endless connection");
}

#[tokio::test]
async fn invalid_utf8_in_a_json_string_fails_its_chunk_as_a_decode_error() {
    let server = serve(|asked| {
        let mut body = answers(asked, &[]);
        let at = body.windows(11).position(|w| w == b"The request").unwrap();
        body[at..at + 3].copy_from_slice(b"\xff\xfe\xfd");
        Reply::Body("application/json", body)
    })
    .await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("decode"));
    for error in &errors {
        let decode = decode_error(error);
        assert_eq!(decode.category, vt_model::DecodeCategory::Syntax);
        assert!(decode.message.contains("unicode"), "{decode:?}");
        assert!(!error.is_transient());
    }
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn deeply_nested_json_fails_its_answers_without_overflowing_the_stack() {
    const DEPTH: usize = 100_000;
    let nested = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    // At the top, an item that is not an object: no answer, so its decode error is what the
    // questions of its chunk get.
    let server = serve({
        let nested = nested.clone();
        move |_| Reply::Body("application/json", nested.clone().into())
    })
    .await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("decode"));
    for error in &errors {
        assert!(
            decode_error(error).message.contains("invalid type"),
            "{error}"
        );
        assert!(!error.is_transient());
    }
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
    // Inside answers that echo their questions: the scan skips the depth without recursion
    // (the stack is safe, and jsonl could pass the bytes on); the typed view stops at
    // serde_json's recursion limit, for each of those answers only. (Shallower, for the
    // body to stay under the transport's cap with one copy an answer.)
    let nested = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
    let server = serve(move |asked| {
        let items: Vec<String> = asked
            .iter()
            .map(|r| format!(r#"{{"response_code":0,"resource":"{r}","x":{nested}}}"#))
            .collect();
        Reply::Body("application/json", format!("[{}]", items.join(",")).into())
    })
    .await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("decode"));
    for error in &errors {
        assert!(
            decode_error(error).message.contains("recursion limit"),
            "{error}"
        );
        assert!(!error.is_transient());
    }
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_array_longer_than_the_batch_answers_only_what_was_asked() {
    let server =
        serve(|asked| Reply::Body("application/json", answers(asked, &strangers(50)))).await;
    let (kinds, _) = check(&server).await;
    assert_eq!(kinds, vec!["not_found"; INPUTS], "nothing extra is yielded");
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn items_about_resources_nobody_asked_leave_the_asked_ones_missing() {
    let server = serve(|_| Reply::Body("application/json", answers(&strangers(BATCH), &[]))).await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("missing_answer"));
    assert!(errors.iter().all(|e| matches!(e, Error::MissingAnswer)));
    assert_eq!(server.hostile_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_html_page_with_status_200_fails_its_chunk_as_a_decode_error() {
    let page = b"<!DOCTYPE html><html><body>Please log in to the captive portal</body></html>";
    let server = serve(|_| Reply::Body("text/html", page.to_vec())).await;
    let (kinds, errors) = check(&server).await;
    assert_eq!(kinds, hostile_chunk_fails_with("decode"));
    for error in &errors {
        let decode = decode_error(error);
        assert_eq!(decode.category, vt_model::DecodeCategory::Syntax);
        assert!(decode.excerpt.contains("captive portal"), "{decode:?}");
        assert!(!error.is_transient());
    }
    assert_eq!(
        server.hostile_requests.load(Ordering::SeqCst),
        1,
        "not retried: the page will not change"
    );
}
