//! A server of the test's own routes over loopback HTTP: the route table's 404, 405 and 413,
//! parameters read from the query and the body (a multipart file part spooled and hashed),
//! the service's answers, and a body streamed as it comes.

mod common;

use std::convert::Infallible;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::{exchange, request, Reply};
use http::{Response, StatusCode};
use vt_server::reply::{self, HTML, JSON};
use vt_server::routes::{self, Methods, Route};
use vt_server::{Body, Limits, Listener, Received, Router, Serving, Spool};

/// The body cap of [`SMALL`].
const SMALL_BODY: usize = 256;
/// `file/rescan` with a small body cap (a test's table: the facts are the test's).
const SMALL: Route = Route::new("file/rescan", Methods::Post).max_body(SMALL_BODY);

/// What the test server does at a route.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Answers the parameters, one `name=value` line each, then the upload if any.
    Echo,
    /// Answers a batch of the `resource` items, each `{"resource": "ITEM"}`.
    Batch,
}

/// Serves `file/scan` (as the wire has it: a file part), `file/report` (batches) and
/// [`SMALL`]; `/stream` outside the API streams three chunks.
async fn start(spool: Arc<Spool>) -> Serving {
    let router = Arc::new(
        Router::new([
            (routes::FILE_SCAN, Kind::Echo),
            (SMALL, Kind::Echo),
            (routes::FILE_REPORT, Kind::Batch),
        ])
        .unwrap(),
    );
    let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let handler = move |request: vt_server::Request, _peer: SocketAddr| {
        let router = Arc::clone(&router);
        let spool = Arc::clone(&spool);
        async move {
            let gzip = reply::accepts_gzip(request.headers());
            if request.uri().path() == "/stream" {
                let chunks = ["one ", "two ", "three"].map(Ok::<_, Infallible>);
                return Ok(Response::new(Body::from_stream(
                    futures_util::stream::iter(chunks),
                )));
            }
            let Some((route, kind)) = router.find(request.uri().path()) else {
                return Ok(reply::empty(StatusCode::NOT_FOUND));
            };
            let received = match Received::read(request, route, Some(&spool)).await {
                Ok(received) => received,
                Err(refusal) => return refusal.reply(),
            };
            let params = received.params();
            let body = match kind {
                Kind::Echo => echo(&params),
                Kind::Batch => {
                    let resources = params.first("resource").unwrap_or_default();
                    let items = resources
                        .split(',')
                        .map(|item| Bytes::from(format!("{{\"resource\": \"{item}\"}}")))
                        .collect();
                    reply::batch(items)
                }
            };
            Ok(reply::json(body, gzip))
        }
    };
    listener.serve(handler, Limits::default()).unwrap()
}

fn echo(params: &vt_server::Params<'_>) -> vt_server::BodyData {
    let mut text = String::new();
    for (name, value) in params.iter() {
        text.push_str(&format!("{name}={value}\n"));
    }
    if let Some(upload) = params.upload() {
        let hashes = upload.hashes();
        text.push_str(&format!(
            "file {} {:?} {} {} {}\n",
            upload.size(),
            upload.filename(),
            hashes.md5,
            hashes.sha1,
            hashes.sha256
        ));
    }
    text.into()
}

async fn server() -> (Serving, Arc<Spool>) {
    let spool = Arc::new(Spool::new("vt-server-test-").unwrap());
    (start(Arc::clone(&spool)).await, spool)
}

async fn send(serving: &Serving, raw: &[u8]) -> Reply {
    exchange(serving.local_addr(), raw)
        .await
        .expect("an answer")
}

async fn post(serving: &Serving, target: &str, content_type: &str, body: &[u8]) -> Reply {
    send(
        serving,
        &request("POST", target, Some((content_type, body))),
    )
    .await
}

const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART: &str = "multipart/form-data; boundary=B";

#[tokio::test]
async fn an_unknown_path_is_the_services_404_and_a_wrong_method_405_with_allow() {
    let (serving, _spool) = server().await;
    for path in [
        "/vtapi/v2/file/nothing",
        "/vtapi/v2/url/report",
        "/",
        "/vtapi/v2/",
    ] {
        let reply = send(&serving, &request("GET", path, None)).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.names(), ["cache-control", "content-type"], "{path}");
        assert_eq!(reply.header("content-type"), Some(HTML));
        assert_eq!(reply.header("content-length"), Some("0"));
        assert!(reply.body.is_empty());
    }
    for (method, path, allow) in [
        ("GET", "file/scan", "POST"),
        ("PUT", "file/rescan", "POST"),
        ("DELETE", "file/report", "GET, POST"),
    ] {
        let reply = send(
            &serving,
            &request(method, &format!("/vtapi/v2/{path}"), None),
        )
        .await;
        assert_eq!(
            (reply.status, reply.header("allow")),
            (405, Some(allow)),
            "{method} {path}"
        );
        assert_eq!(reply.names(), ["cache-control", "content-type", "allow"]);
        assert!(reply.body.is_empty());
    }
    serving.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_routes_cap_is_413_before_anything_is_read_from_it() {
    let (serving, _spool) = server().await;
    let target = "/vtapi/v2/file/rescan";
    let fits = "x=".to_owned() + &"y".repeat(SMALL_BODY - 2);
    let reply = post(&serving, target, FORM, fits.as_bytes()).await;
    assert_eq!(reply.status, 200);
    let over = fits + "y";
    let reply = post(&serving, target, FORM, over.as_bytes()).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("content-type"), Some(HTML));
    assert!(reply.body.is_empty());
    // Multipart counts the same bytes.
    let multipart = format!(
        "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n{}\r\n--B--\r\n",
        "y".repeat(SMALL_BODY)
    );
    let reply = post(&serving, target, MULTIPART, multipart.as_bytes()).await;
    assert_eq!(reply.status, 413);
    // A boundary the multipart reader refuses: 400.
    let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
    let reply = post(&serving, target, &long, b"").await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn parameters_come_from_the_query_then_the_body_in_the_order_sent() {
    let (serving, _spool) = server().await;
    let body = b"query=b1&x=2&apikey=pub&flag&x=%41+B";
    let target = "/vtapi/v2/file/rescan?apikey=priv&query=q1&x=1&query=q%202";
    let reply = post(&serving, target, FORM, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        "apikey=priv\nquery=q1\nx=1\nquery=q 2\nquery=b1\nx=2\napikey=pub\nflag=\nx=A B\n"
    );
    assert_eq!(reply.names(), ["cache-control", "content-type", "vary"]);
    assert_eq!(reply.header("content-type"), Some(JSON));

    let multipart = b"--B\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nm1\r\n\
        --B\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk%20ey\r\n--B--\r\n";
    let reply = post(
        &serving,
        "/vtapi/v2/file/rescan?query=q1",
        MULTIPART,
        multipart,
    )
    .await;
    // Multipart values are taken as sent, not percent-decoded.
    assert_eq!(reply.text(), "query=q1\nquery=m1\napikey=k%20ey\n");
}

#[tokio::test]
async fn a_file_part_is_spooled_and_hashed_on_the_way_then_removed_with_the_request() {
    let (serving, spool) = server().await;
    let multipart = b"--B\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk\r\n\
        --B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"nl.txt\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\n\r\n--B--\r\n";
    let reply = post(&serving, "/vtapi/v2/file/scan", MULTIPART, multipart).await;
    assert_eq!(reply.status, 200);
    // The recorded file/scan answer's hashes of a one-byte file holding "\n".
    assert_eq!(
        reply.text(),
        "apikey=k\nfile 1 Some(\"nl.txt\") 68b329da9893e34099c7d8ad5cb9c940 \
         adc83b19e793491b1c6ea0fd8b46cd9f32e592fc \
         01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b\n"
    );
    let left = std::fs::read_dir(spool.path()).unwrap().count();
    assert_eq!(
        left, 0,
        "the upload is removed once the request is answered"
    );
    // A route that takes no file reads a file part as text.
    let reply = post(&serving, "/vtapi/v2/file/rescan", MULTIPART, multipart).await;
    assert_eq!(reply.text(), "apikey=k\nfile=\n\n");
}

#[tokio::test]
async fn a_batch_is_joined_as_the_service_joins_it_and_gzipped_when_accepted() {
    let (serving, _spool) = server().await;
    let target = "/vtapi/v2/file/report?resource=a,b,c";
    let reply = send(&serving, &request("GET", target, None)).await;
    assert_eq!(
        reply.text(),
        r#"[{"resource": "a"}, {"resource": "b"}, {"resource": "c"}]"#
    );
    // Its length known up front, not chunked.
    let length = reply.body.len().to_string();
    assert_eq!(reply.header("content-length"), Some(length.as_str()));
    let one = send(
        &serving,
        &request("GET", "/vtapi/v2/file/report?resource=a", None),
    )
    .await;
    assert_eq!(one.text(), r#"{"resource": "a"}"#);

    let gzip_request = format!(
        "GET {target} HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    let gzipped = send(&serving, gzip_request.as_bytes()).await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gzipped.names(),
        ["cache-control", "content-type", "vary", "content-encoding"]
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, reply.body);
}

#[tokio::test]
async fn a_stream_of_chunks_is_sent_as_it_comes() {
    let (serving, _spool) = server().await;
    let reply = send(&serving, &request("GET", "/stream", None)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.text(), "one two three");
}
