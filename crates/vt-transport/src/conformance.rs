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

use crate::{Body, BodyStream, Error, ErrorKind, RequestOptions, Transport};

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
    /// [`Transport::send_streaming`]: a 3 MiB [`Body::from_stream`] in uneven chunks
    /// arrives intact with `Content-Length: 3145728`, and a 6 MiB answer comes back intact,
    /// chunk by chunk.
    Streaming,
    /// [`Transport::send_streaming`] with a 64 KiB cap in its [`RequestOptions`] (under the
    /// transport's own): a body of exactly the cap is read, one byte more (announced) and an
    /// endless chunked body are [`Error::is_body_too_large`].
    StreamingBodyCap,
    /// [`Transport::send_streaming`] with a request body that fails mid-stream, and one
    /// shorter than its announced length: [`ErrorKind::RequestBody`], not transient.
    StreamingRequestBodyFailure,
    /// [`Transport::send_streaming`]'s timers: a body that stalls after its first bytes ends
    /// in [`Error::is_timeout`] past the idle timeout (200 ms), one that trickles a byte every
    /// 20 ms past the deadline (500 ms). Only for backends that stream (the default
    /// implementation has no timer): run it with [`Suite::with_streaming_timeouts`].
    StreamingTimeouts,
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
        Check::Streaming,
        Check::StreamingBodyCap,
        Check::StreamingRequestBodyFailure,
        Check::StreamingTimeouts,
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
    streaming_timeouts: bool,
}

impl fmt::Debug for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("body_cap", &self.body_cap)
            .field("streaming_timeouts", &self.streaming_timeouts)
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
            streaming_timeouts: false,
        }
    }

    /// Runs [`Check::StreamingTimeouts`] too, for a backend that overrides
    /// [`Transport::send_streaming`] with real streaming (the default implementation cannot
    /// enforce an idle timeout or a deadline: it has no timer).
    #[must_use]
    pub fn with_streaming_timeouts(mut self) -> Suite {
        self.streaming_timeouts = true;
        self
    }

    /// Skips [`Check::BodyCap`], for a backend that has no cap on the body size.
    #[must_use]
    pub fn without_body_cap(mut self) -> Suite {
        self.body_cap = false;
        self
    }

    /// Runs every check (in the order of [`Check::ALL`]) and returns all failures; not
    /// [`Check::BodyCap`] after [`without_body_cap`](Self::without_body_cap), and
    /// [`Check::StreamingTimeouts`] only after
    /// [`with_streaming_timeouts`](Self::with_streaming_timeouts).
    pub async fn run_all(&self) -> Result<(), Failures> {
        let mut failures = Vec::new();
        for &check in Check::ALL {
            if (check == Check::BodyCap && !self.body_cap)
                || (check == Check::StreamingTimeouts && !self.streaming_timeouts)
            {
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
            Check::Streaming => self.streaming().await,
            Check::StreamingBodyCap => self.streaming_body_cap().await,
            Check::StreamingRequestBodyFailure => self.streaming_request_body_failure().await,
            Check::StreamingTimeouts => self.streaming_timeouts().await,
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
        let endless = endless_server().await?;
        let result = transport.send(get(&endless.url("/endless"))?).await;
        expect_error(result, "an endless chunked body", Error::is_body_too_large)
    }
    async fn streaming(&self) -> CheckResult {
        const UP: usize = 3 * 1024 * 1024;
        let down: Bytes = (0..6 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let up: Bytes = (0..UP).map(|i| (i % 241) as u8).collect();
        let answer = down.clone();
        let server = HyperServer::start(move |_: &Seen| reply(200, answer.clone())).await?;
        let transport = self.transport(&Options::default());
        let request = http::Request::post(server.url("/upload"))
            .header("content-type", "application/octet-stream")
            .body(Body::from_stream(UP as u64, uneven_chunks(up.clone())))
            .map_err(|e| e.to_string())?;
        let response = transport
            .send_streaming(request, &RequestOptions::new())
            .await
            .map_err(|e| format!("streamed POST of 3 MiB: {}", describe(&e)))?;
        ensure!(response.status() == 200, "status {}", response.status());
        let (received, chunks) = read_stream(response.into_body())
            .await
            .map_err(|e| format!("reading the 6 MiB answer: {}", describe(&e)))?;
        ensure!(
            received == down,
            "6 MiB streamed answer differs ({} bytes received in {chunks} chunks)",
            received.len()
        );
        let seen = server.only_request()?;
        let length = seen.headers.get("content-length");
        ensure!(
            length.is_some_and(|v| v.as_bytes() == UP.to_string().as_bytes()),
            "server saw content-length {length:?}, expected {UP}"
        );
        ensure!(
            seen.body == up,
            "streamed request body differs ({} bytes received by the server)",
            seen.body.len()
        );
        Ok(())
    }

    async fn streaming_body_cap(&self) -> CheckResult {
        const CAP: u64 = 64 * 1024;
        let options = RequestOptions::new().with_max_body_size(Some(CAP));
        let transport = self.transport(&Options::default());
        let server = HyperServer::start(|seen: &Seen| {
            let size = if seen.path == "/at-cap" { CAP } else { CAP + 1 };
            reply(200, vec![b'x'; size as usize])
        })
        .await?;
        let response = transport
            .send_streaming(get_body(&server.url("/at-cap"))?, &options)
            .await
            .map_err(|e| format!("a streamed body of exactly the cap: {}", describe(&e)))?;
        let (body, _) = read_stream(response.into_body())
            .await
            .map_err(|e| format!("a streamed body of exactly the cap: {}", describe(&e)))?;
        ensure!(
            body.len() as u64 == CAP,
            "a streamed body of exactly the cap arrived with {} bytes",
            body.len()
        );
        expect_streaming_error(
            &*transport,
            get_body(&server.url("/over-cap"))?,
            &options,
            "a streamed body one byte over the cap",
            Error::is_body_too_large,
        )
        .await?;
        let endless = endless_server().await?;
        expect_streaming_error(
            &*transport,
            get_body(&endless.url("/endless"))?,
            &options,
            "an endless chunked body, streamed",
            Error::is_body_too_large,
        )
        .await
    }

    async fn streaming_request_body_failure(&self) -> CheckResult {
        let server = HyperServer::start(|_: &Seen| reply(200, "{}")).await?;
        let transport = self.transport(&Options::default());
        let failing = FailingChunks { left: 8 };
        let request = http::Request::post(server.url("/upload"))
            .body(Body::from_stream(1024 * 1024, failing))
            .map_err(|e| e.to_string())?;
        expect_streaming_error(
            &*transport,
            request,
            &RequestOptions::new(),
            "a request body stream that fails",
            |e| e.kind() == ErrorKind::RequestBody && !e.is_transient(),
        )
        .await?;
        let short = uneven_chunks(Bytes::from_static(b"only 24 bytes, not 1000"));
        let request = http::Request::post(server.url("/upload"))
            .body(Body::from_stream(1000, short))
            .map_err(|e| e.to_string())?;
        expect_streaming_error(
            &*transport,
            request,
            &RequestOptions::new(),
            "a request body stream shorter than its length",
            |e| e.kind() == ErrorKind::RequestBody,
        )
        .await
    }

    async fn streaming_timeouts(&self) -> CheckResult {
        let stalls = RawServer::start(|mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst bytes")
                .await;
            hold(stream).await;
        })
        .await?;
        let transport = self.transport(&Options::default());
        let options = RequestOptions::new()
            .with_idle_timeout(Duration::from_millis(200))
            .with_deadline(Duration::from_secs(8));
        expect_streaming_error(
            &*transport,
            get_body(&stalls.url("/stalls"))?,
            &options,
            "a body that stalls (idle timeout)",
            Error::is_timeout,
        )
        .await?;

        let trickles = RawServer::start(|mut stream| async move {
            if !chunked_head(&mut stream).await {
                return;
            }
            // A byte every 20 ms, for 10 s at most: never idle, never done.
            for _ in 0..500 {
                if stream.write_all(b"1\r\nz\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await?;
        let options = RequestOptions::new()
            .with_idle_timeout(Duration::from_secs(5))
            .with_deadline(Duration::from_millis(500));
        expect_streaming_error(
            &*transport,
            get_body(&trickles.url("/trickles"))?,
            &options,
            "a body that trickles past the deadline",
            Error::is_timeout,
        )
        .await
    }
}

/// A GET with an empty [`Body`].
fn get_body(url: &str) -> Result<http::Request<Body>, String> {
    http::Request::get(url)
        .body(Body::empty())
        .map_err(|e| format!("building GET {url}: {e}"))
}

/// The body's chunks, gathered, and how many there were.
async fn read_stream(mut body: BodyStream) -> Result<(Bytes, usize), Error> {
    let mut all = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = body.next_chunk().await {
        all.extend_from_slice(&chunk?);
        chunks += 1;
    }
    Ok((Bytes::from(all), chunks))
}

/// A streaming call's response with its body read to the end, as `send` would return it.
async fn read_all(
    result: Result<http::Response<BodyStream>, Error>,
) -> Result<http::Response<Bytes>, Error> {
    let (parts, body) = result?.into_parts();
    let (body, _) = read_stream(body).await?;
    Ok(http::Response::from_parts(parts, body))
}

/// `bytes` in chunks of 1, 7, 4096, 65536 and 1 MiB bytes, over and over.
fn uneven_chunks(bytes: Bytes) -> impl futures_core::Stream<Item = std::io::Result<Bytes>> {
    let mut rest = bytes;
    let mut sizes = [1, 7, 4096, 65_536, 1 << 20].into_iter().cycle();
    let chunks = std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = sizes.next().unwrap_or(1).min(rest.len());
        Some(Ok(rest.split_to(size)))
    });
    Iter(chunks)
}

/// An iterator as a stream that is always ready.
struct Iter<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

/// A request body stream that yields `left` chunks of 1 KiB, then an I/O error.
struct FailingChunks {
    left: usize,
}

impl futures_core::Stream for FailingChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("the disk is on fire"))));
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Bytes::from(vec![b'u'; 1024]))))
    }
}

/// Checks that a streaming call fails, at once or while its body is read, as `predicate` wants.
async fn expect_streaming_error(
    transport: &dyn Transport,
    request: http::Request<Body>,
    options: &RequestOptions,
    case: &str,
    predicate: impl Fn(&Error) -> bool,
) -> CheckResult {
    let result = read_all(transport.send_streaming(request, options).await).await;
    expect_error(result, case, predicate)
}

/// Reads the request head and answers the head of a 200 with a chunked body; `false` if the
/// client has gone.
async fn chunked_head(stream: &mut TcpStream) -> bool {
    read_head(stream).await;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .is_ok()
}

/// A server that answers every request with an endless chunked body.
async fn endless_server() -> Result<RawServer, String> {
    RawServer::start(|mut stream| async move {
        if !chunked_head(&mut stream).await {
            return;
        }
        let mut chunk = b"4000\r\n".to_vec();
        chunk.extend_from_slice(&[b'y'; 0x4000]);
        chunk.extend_from_slice(b"\r\n");
        while stream.write_all(&chunk).await.is_ok() {}
    })
    .await
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
