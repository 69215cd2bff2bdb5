//! A loopback conformance suite for [`Transport`] backends, written once and run against each
//! backend, so that backends really are interchangeable.
//!
//! Every check starts its own small servers on `127.0.0.1:0` (hyper for well-behaved ones, raw
//! sockets for misbehaving ones), asks the backend for a transport configured with the check's
//! [`Options`], and asserts on what both sides saw: statuses passed through untouched, exact
//! body bytes, the request as the server received it, keep-alive reuse, and the error kind
//! of each failure (refused, timeout, truncated body, body over the cap). Checks never
//! measure durations; the timeout check only asserts that the error is a timeout.
//!
//! The suite must run inside a Tokio runtime (servers are spawned tasks); a current-thread
//! runtime makes [`Check::KeepAlive`] deterministic.
//!
//! ```no_run
//! # async fn example() {
//! use std::sync::Arc;
//! use vt_transport::conformance::{Options, Suite};
//! use vt_transport::Transport;
//!
//! /// Your backend, configured as the check asks.
//! fn my_backend(options: &Options) -> Arc<dyn Transport> {
//!     // e.g. HyperTransport::builder().connect_timeout(options.connect_timeout)
//!     //     .request_timeout(options.request_timeout)
//!     //     .max_body_size(options.max_body_size).build()
//!     # let _ = options;
//!     # Arc::new(vt_transport::ReplayTransport::new())
//! }
//!
//! Suite::new(my_backend).run_all().await.unwrap();
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{Error, ErrorKind, Transport};

/// How a check wants its transport configured. Backends map each field onto their own
/// settings; a backend without a body cap ignores `max_body_size` and runs the suite
/// [`without_body_cap`](Suite::without_body_cap).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on the whole request.
    pub request_timeout: Duration,
    /// Cap on the response body, in bytes.
    pub max_body_size: usize,
}

impl Default for Options {
    /// 2 s to connect, 10 s per request, 32 MiB of body: generous, so that only the checks
    /// that mean to fail do.
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_body_size: 32 * 1024 * 1024,
        }
    }
}

/// One property of a conformant transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// 200 with a body, 204 empty, 400, 403 empty `text/html`, 500: `Ok`, status, headers
    /// and body untouched.
    Statuses,
    /// Every byte value, and a chunked body, arrive exactly.
    BodyBytes,
    /// A GET arrives with its method, path, query and headers as sent, and no body.
    GetAsSent,
    /// A POST form arrives with its content type, length and body as sent.
    PostFormAsSent,
    /// A 1 MiB request body goes up and a 6 MiB response body comes down intact.
    LargeBodies,
    /// A port nobody listens on: [`Error::is_connect`].
    ConnectionRefused,
    /// A server that reads the request and never answers: [`Error::is_timeout`], within the
    /// 200 ms request timeout.
    Timeout,
    /// A body shorter than its `Content-Length`, then the connection closes:
    /// [`ErrorKind::Io`].
    TruncatedBody,
    /// A chunked body cut off mid-stream by a closed connection: [`ErrorKind::Io`].
    ClosedMidBody,
    /// 20 sequential requests to one server use one connection.
    ///
    /// Run it on a current-thread runtime (`#[tokio::test]`'s default): on a multi-threaded
    /// one, hyper-util's pool may open a second connection for the next request while the
    /// first is still on its way back to the pool (a spawned task returns it), which is
    /// correct behaviour but makes the count nondeterministic.
    KeepAlive,
    /// A body over [`Options::max_body_size`] is [`Error::is_body_too_large`], whether
    /// announced by `Content-Length` or streamed without end; a body of exactly the cap is
    /// accepted.
    BodyCap,
}

impl Check {
    /// Every check, in the order [`Suite::run_all`] runs them.
    pub const ALL: &'static [Check] = &[
        Check::Statuses,
        Check::BodyBytes,
        Check::GetAsSent,
        Check::PostFormAsSent,
        Check::LargeBodies,
        Check::ConnectionRefused,
        Check::Timeout,
        Check::TruncatedBody,
        Check::ClosedMidBody,
        Check::KeepAlive,
        Check::BodyCap,
    ];
}

/// A check that failed, with what was expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check.
    pub check: Check,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.check, self.message)
    }
}

impl std::error::Error for Failure {}

/// Every failed check of a [`Suite::run_all`]; `Debug` lists them one a line, so that
/// `.unwrap()` in a test prints a readable report.
#[derive(Clone, PartialEq, Eq)]
pub struct Failures(pub Vec<Failure>);

impl fmt::Debug for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} conformance check(s) failed:", self.0.len())?;
        for failure in &self.0 {
            writeln!(f, "  {failure}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Failures {}

type MakeTransport = dyn Fn(&Options) -> Arc<dyn Transport> + Send + Sync;

/// The suite, bound to one backend through a function that makes a transport for given
/// [`Options`]. The function is called once per check.
pub struct Suite {
    make: Box<MakeTransport>,
    body_cap: bool,
}

impl fmt::Debug for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("body_cap", &self.body_cap)
            .finish_non_exhaustive()
    }
}

type CheckResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Suite {
    /// A suite for the backend that `make` builds.
    pub fn new(make: impl Fn(&Options) -> Arc<dyn Transport> + Send + Sync + 'static) -> Suite {
        Suite {
            make: Box::new(make),
            body_cap: true,
        }
    }

    /// Skips [`Check::BodyCap`], for a backend that has no cap on the body size.
    #[must_use]
    pub fn without_body_cap(mut self) -> Suite {
        self.body_cap = false;
        self
    }

    /// Runs every check (in the order of [`Check::ALL`]) and returns all failures.
    pub async fn run_all(&self) -> Result<(), Failures> {
        let mut failures = Vec::new();
        for &check in Check::ALL {
            if check == Check::BodyCap && !self.body_cap {
                continue;
            }
            if let Err(failure) = self.run(check).await {
                failures.push(failure);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Failures(failures))
        }
    }

    /// Runs one check.
    pub async fn run(&self, check: Check) -> Result<(), Failure> {
        let result = match check {
            Check::Statuses => self.statuses().await,
            Check::BodyBytes => self.body_bytes().await,
            Check::GetAsSent => self.get_as_sent().await,
            Check::PostFormAsSent => self.post_form_as_sent().await,
            Check::LargeBodies => self.large_bodies().await,
            Check::ConnectionRefused => self.connection_refused().await,
            Check::Timeout => self.timeout().await,
            Check::TruncatedBody => self.truncated_body().await,
            Check::ClosedMidBody => self.closed_mid_body().await,
            Check::KeepAlive => self.keep_alive().await,
            Check::BodyCap => self.body_cap().await,
        };
        result.map_err(|message| Failure { check, message })
    }

    fn transport(&self, options: &Options) -> Arc<dyn Transport> {
        (self.make)(options)
    }

    async fn statuses(&self) -> CheckResult {
        let server = HyperServer::start(|seen: &Seen| match seen.path.as_str() {
            "/200" => reply(200, "hello"),
            "/204" => reply(204, ""),
            "/400" => reply(400, "bad request"),
            "/403" => {
                let mut response = reply(403, "");
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/html"),
                );
                response
            }
            "/500" => reply(500, "oops"),
            _ => reply(404, "unexpected request"),
        })
        .await?;
        let transport = self.transport(&Options::default());
        for (status, body) in [
            (200, "hello"),
            (204, ""),
            (400, "bad request"),
            (403, ""),
            (500, "oops"),
        ] {
            let url = server.url(&format!("/{status}"));
            let response = transport
                .send(get(&url)?)
                .await
                .map_err(|e| format!("GET /{status}: expected Ok, got {}", describe(&e)))?;
            ensure!(
                response.status() == status,
                "GET /{status}: status {} instead",
                response.status()
            );
            ensure!(
                response.body() == body.as_bytes(),
                "GET /{status}: body {:?}, expected {body:?}",
                response.body()
            );
            if status == 403 {
                let content_type = response.headers().get(http::header::CONTENT_TYPE);
                ensure!(
                    content_type.is_some_and(|v| v == "text/html"),
                    "GET /403: content-type {content_type:?}, expected text/html"
                );
            }
        }
        Ok(())
    }

    async fn body_bytes(&self) -> CheckResult {
        let all_bytes: Bytes = (0..=255u8).cycle().take(256 * 3 + 7).collect();
        let expected = all_bytes.clone();
        let server = HyperServer::start(move |_: &Seen| reply(200, expected.clone())).await?;
        let transport = self.transport(&Options::default());
        let response = transport
            .send(get(&server.url("/bytes"))?)
            .await
            .map_err(|e| format!("GET /bytes: {}", describe(&e)))?;
        ensure!(
            response.body() == &all_bytes,
            "binary body differs: {} bytes received, {} sent",
            response.body().len(),
            all_bytes.len()
        );

        let chunked = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                      5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
                )
                .await;
            hold(stream).await;
        })
        .await?;
        let response = transport
            .send(get(&chunked.url("/chunked"))?)
            .await
            .map_err(|e| format!("GET a chunked body: {}", describe(&e)))?;
        ensure!(
            response.body() == "hello world",
            "chunked body {:?}, expected \"hello world\"",
            response.body()
        );
        Ok(())
    }

    async fn get_as_sent(&self) -> CheckResult {
        let server = HyperServer::start(|_: &Seen| reply(200, "{}")).await?;
        let transport = self.transport(&Options::default());
        let path_and_query =
            "/api/v2/items/report?id=44d88612fea8a8f36de82e1278abb02f%2C3395856c&all=1&empty=";
        let request = http::Request::get(server.url(path_and_query))
            .header("accept", "application/json")
            .header("user-agent", "vt-conformance/1.0")
            .header("x-vt-check", "get as sent")
            .body(Bytes::new())
            .map_err(|e| e.to_string())?;
        let response = transport
            .send(request)
            .await
            .map_err(|e| format!("GET: {}", describe(&e)))?;
        ensure!(response.status() == 200, "status {}", response.status());
        let seen = server.only_request()?;
        ensure!(seen.method == "GET", "server saw method {}", seen.method);
        ensure!(
            seen.path_and_query == path_and_query,
            "server saw {:?}, sent {path_and_query:?}",
            seen.path_and_query
        );
        for (name, value) in [
            ("accept", "application/json"),
            ("user-agent", "vt-conformance/1.0"),
            ("x-vt-check", "get as sent"),
            ("host", server.authority().as_str()),
        ] {
            let got = seen.headers.get_all(name).iter().collect::<Vec<_>>();
            ensure!(
                got == [value],
                "server saw {name}: {got:?}, expected [{value:?}]"
            );
        }
        ensure!(
            seen.body.is_empty(),
            "a GET arrived with a body {:?}",
            seen.body
        );
        Ok(())
    }

    async fn post_form_as_sent(&self) -> CheckResult {
        let server = HyperServer::start(|_: &Seen| reply(200, "[]")).await?;
        let transport = self.transport(&Options::default());
        let form = "key=0123456789abcdef&id=a%2Cb%2Cc&all=true&note=caf%C3%A9+%26+more";
        let request = http::Request::post(server.url("/api/v2/items/report"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(form))
            .map_err(|e| e.to_string())?;
        let response = transport
            .send(request)
            .await
            .map_err(|e| format!("POST: {}", describe(&e)))?;
        ensure!(response.status() == 200, "status {}", response.status());
        ensure!(response.body() == "[]", "body {:?}", response.body());
        let seen = server.only_request()?;
        ensure!(seen.method == "POST", "server saw method {}", seen.method);
        ensure!(
            seen.path_and_query == "/api/v2/items/report",
            "server saw {:?}",
            seen.path_and_query
        );
        let content_type = seen.headers.get("content-type");
        ensure!(
            content_type.is_some_and(|v| v == "application/x-www-form-urlencoded"),
            "server saw content-type {content_type:?}"
        );
        let length = seen.headers.get("content-length");
        ensure!(
            length.is_some_and(|v| v.as_bytes() == form.len().to_string().as_bytes()),
            "server saw content-length {length:?}, expected {}",
            form.len()
        );
        ensure!(
            seen.body == form,
            "server saw body {:?}, sent {form:?}",
            seen.body
        );
        Ok(())
    }

    async fn large_bodies(&self) -> CheckResult {
        let down: Bytes = (0..6 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let up: Bytes = (0..1024 * 1024).map(|i: u32| (i % 241) as u8).collect();
        let answer = down.clone();
        let server = HyperServer::start(move |_: &Seen| reply(200, answer.clone())).await?;
        let transport = self.transport(&Options::default());
        let request = http::Request::post(server.url("/large"))
            .header("content-type", "application/octet-stream")
            .body(up.clone())
            .map_err(|e| e.to_string())?;
        let response = transport
            .send(request)
            .await
            .map_err(|e| format!("POST 1 MiB for 6 MiB: {}", describe(&e)))?;
        ensure!(
            response.body() == &down,
            "6 MiB body differs ({} bytes received)",
            response.body().len()
        );
        let seen = server.only_request()?;
        ensure!(
            seen.body == up,
            "1 MiB request body differs ({} bytes received by the server)",
            seen.body.len()
        );
        Ok(())
    }

    async fn connection_refused(&self) -> CheckResult {
        // Bind a port, then free it: nothing listens there for the moment of the check.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        drop(listener);
        let transport = self.transport(&Options::default());
        let result = transport.send(get(&format!("http://{addr}/"))?).await;
        expect_error(result, "a refused connection", Error::is_connect)
    }

    async fn timeout(&self) -> CheckResult {
        let server = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            hold(stream).await;
        })
        .await?;
        let options = Options {
            request_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        let transport = self.transport(&options);
        let result = transport.send(get(&server.url("/slow"))?).await;
        expect_error(result, "a server that never answers", Error::is_timeout)
    }

    async fn truncated_body(&self) -> CheckResult {
        let server = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"response_code\": 1")
                .await;
            let _ = stream.shutdown().await;
        })
        .await?;
        let transport = self.transport(&Options::default());
        let result = transport.send(get(&server.url("/truncated"))?).await;
        expect_error(result, "a truncated Content-Length body", |e| {
            e.kind() == ErrorKind::Io
        })
    }

    async fn closed_mid_body(&self) -> CheckResult {
        let server = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{\"response_co",
                )
                .await;
            let _ = stream.shutdown().await;
        })
        .await?;
        let transport = self.transport(&Options::default());
        let result = transport.send(get(&server.url("/cut"))?).await;
        expect_error(result, "a chunked body cut off", |e| {
            e.kind() == ErrorKind::Io
        })
    }

    async fn keep_alive(&self) -> CheckResult {
        let server = HyperServer::start(|seen: &Seen| reply(200, seen.path.clone())).await?;
        let transport = self.transport(&Options::default());
        for i in 0..20 {
            let path = format!("/request/{i}");
            let response = transport
                .send(get(&server.url(&path))?)
                .await
                .map_err(|e| format!("request {i}: {}", describe(&e)))?;
            ensure!(
                response.body() == path.as_bytes(),
                "request {i}: body {:?}",
                response.body()
            );
        }
        let connections = server.connections();
        ensure!(
            connections == 1,
            "20 sequential requests used {connections} connections, expected 1"
        );
        Ok(())
    }

    async fn body_cap(&self) -> CheckResult {
        const CAP: usize = 64 * 1024;
        let options = Options {
            max_body_size: CAP,
            ..Options::default()
        };
        let transport = self.transport(&options);

        let server = HyperServer::start(|seen: &Seen| {
            let size = if seen.path == "/at-cap" { CAP } else { CAP + 1 };
            reply(200, vec![b'x'; size])
        })
        .await?;
        let response = transport
            .send(get(&server.url("/at-cap"))?)
            .await
            .map_err(|e| format!("a body of exactly the cap: {}", describe(&e)))?;
        ensure!(
            response.body().len() == CAP,
            "a body of exactly the cap arrived with {} bytes",
            response.body().len()
        );
        let result = transport.send(get(&server.url("/over-cap"))?).await;
        expect_error(
            result,
            "a body one byte over the cap",
            Error::is_body_too_large,
        )?;

        // No length announced and no end: only a transport that counts as it reads stops.
        let endless = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            if stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut chunk = b"4000\r\n".to_vec();
            chunk.extend_from_slice(&[b'y'; 0x4000]);
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
        })
        .await?;
        let result = transport.send(get(&endless.url("/endless"))?).await;
        expect_error(result, "an endless chunked body", Error::is_body_too_large)
    }
}

fn get(url: &str) -> Result<http::Request<Bytes>, String> {
    http::Request::get(url)
        .body(Bytes::new())
        .map_err(|e| format!("building GET {url}: {e}"))
}

fn reply(status: u16, body: impl Into<Bytes>) -> http::Response<Bytes> {
    let mut response = http::Response::new(body.into());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// An error with its kind and its chain of causes, for failure messages.
fn describe(error: &Error) -> String {
    let mut text = format!("{:?} error: {error}", error.kind());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn expect_error(
    result: Result<http::Response<Bytes>, Error>,
    case: &str,
    predicate: impl Fn(&Error) -> bool,
) -> CheckResult {
    match result {
        Ok(response) => Err(format!(
            "{case}: expected an error, got status {} with {} bytes",
            response.status(),
            response.body().len()
        )),
        Err(error) if predicate(&error) => Ok(()),
        Err(error) => Err(format!("{case}: wrong error kind: {}", describe(&error))),
    }
}

/// A request as a server of the suite received it.
#[derive(Debug, Clone)]
struct Seen {
    method: http::Method,
    path: String,
    path_and_query: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Handler = dyn Fn(&Seen) -> http::Response<Bytes> + Send + Sync;

/// Aborts the server's accept loop, and with it every connection task, when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A well-behaved HTTP/1.1 server (hyper, keep-alive on) that records every request and
/// counts the connections it accepted.
struct HyperServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    _task: Task,
}

impl HyperServer {
    async fn start(
        handler: impl Fn(&Seen) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> Result<HyperServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding a test server: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            let connections = Arc::clone(&connections);
            async move {
                let mut tasks = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    let seen = Arc::clone(&seen);
                    let handler = Arc::clone(&handler);
                    let service = hyper::service::service_fn(move |request| {
                        serve(request, Arc::clone(&seen), Arc::clone(&handler))
                    });
                    tasks.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Ok(HyperServer {
            addr,
            seen,
            connections,
            _task: Task(task),
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    fn authority(&self) -> String {
        self.addr.to_string()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn only_request(&self) -> Result<Seen, String> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match seen.as_slice() {
            [one] => Ok(one.clone()),
            all => Err(format!(
                "the server received {} requests, expected 1",
                all.len()
            )),
        }
    }
}

async fn serve(
    request: http::Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Handler>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(reply(400, "unreadable request body").map(Full::new)),
    };
    let request = Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let response = handler(&request);
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    Ok(response.map(Full::new))
}

/// A server that hands each accepted connection to a function writing raw bytes, for the
/// misbehaving servers.
struct RawServer {
    addr: SocketAddr,
    _task: Task,
}

impl RawServer {
    async fn start<F, Fut>(on_connection: F) -> Result<RawServer, String>
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding a test server: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                tasks.spawn(on_connection(stream));
            }
        });
        Ok(RawServer {
            addr,
            _task: Task(task),
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }
}

/// Reads a request head (the requests to raw servers have no body).
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Keeps the connection open, reading and discarding, until the client closes it.
async fn hold(mut stream: TcpStream) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
}
