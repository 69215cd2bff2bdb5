//! The accept loop: a handler called for every request, over plain TCP or TLS, with the
//! limits that keep one client from holding the server, and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::routes::API_PREFIX;
use crate::{Body, Error};

/// A request as a [`Handler`] gets it: the head, and the body as it arrives.
pub type Request = http::Request<Incoming>;

/// The default cap on open connections: far above what a test suite opens, far below the
/// common `ulimit -n` of 1024, so that a server never runs out of descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The default time a request's head may take, and a kept-alive connection may stay idle.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a request may take from its head to its answer (a 200 MiB upload over
/// loopback takes a second or two).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a shutdown waits for requests in flight.
const GRACE: Duration = Duration::from_secs(10);

/// What keeps one client from holding the server: how many connections are served at once,
/// how long a request's head (or a TLS handshake) may take to arrive, also how long a
/// kept-alive connection may stay idle, and how long a request may take from its head to its
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Connections served at once; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// The time a request's head may take, and a kept-alive connection may stay idle.
    pub header_timeout: Duration,
    /// The time a request may take from its head to its answer, its body included; over
    /// it, the connection is closed without an answer.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl Limits {
    /// Another cap on open connections (default [`DEFAULT_MAX_CONNECTIONS`]).
    pub fn max_connections(self, n: usize) -> Limits {
        Limits {
            max_connections: n,
            ..self
        }
    }

    /// Another header timeout (default [`DEFAULT_HEADER_TIMEOUT`]).
    pub fn header_timeout(self, timeout: Duration) -> Limits {
        Limits {
            header_timeout: timeout,
            ..self
        }
    }

    /// Another request timeout (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn request_timeout(self, timeout: Duration) -> Limits {
        Limits {
            request_timeout: timeout,
            ..self
        }
    }

    /// Refuses limits a server cannot run with: no connection at all, or a timeout of 0.
    pub fn check(&self) -> Result<(), Error> {
        if self.max_connections == 0 {
            return Err(Error::config("the connection cap must be at least 1"));
        }
        if self.header_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::config("a timeout must be longer than 0"));
        }
        Ok(())
    }
}

/// No answer: the connection is closed (a client gone while sending, an injected reset, a
/// request over its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no answer: the connection is closed")
    }
}

impl std::error::Error for Abort {}

/// What answers every request of a server, given the request and the client's address.
/// Implemented by any `Fn(Request, SocketAddr) -> impl Future<Output = Result<Response<Body>,
/// Abort>>`, `Send + Sync + 'static`, whose future is `Send + 'static`.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`, or [`Abort`] to close the connection without one.
    fn handle(
        &self,
        request: Request,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response<Body>, Abort>> + Send + 'static + use<Self>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Abort>> + Send + 'static,
{
    fn handle(
        &self,
        request: Request,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response<Body>, Abort>> + Send + 'static + use<F, Fut> {
        self(request, peer)
    }
}

/// A bound address, not yet serving: [`Listener::url`] can be said before the first request
/// is taken (a binary prints `listening on URL` once bound).
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<crate::TlsConfig>,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<Listener, Error> {
        let bind_error = |e: std::io::Error| Error::Bind {
            addr,
            source: Box::new(e),
        };
        let tcp = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = tcp.local_addr().map_err(bind_error)?;
        Ok(Listener {
            tcp,
            addr,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Serves HTTPS with this certificate rather than plain HTTP.
    #[cfg(feature = "tls")]
    pub fn tls(self, config: crate::TlsConfig) -> Listener {
        Listener {
            tls: Some(config),
            ..self
        }
    }

    /// The address bound (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, or `https://` with TLS.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// The base URL of the API: `http://HOST:PORT/vtapi/v2/` (or `https://`).
    pub fn url(&self) -> String {
        format!("{}{API_PREFIX}", self.origin())
    }

    fn scheme(&self) -> &'static str {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return "https";
        }
        "http"
    }

    /// Serves in the background on the current tokio runtime, `handler` answering every
    /// request, until [`Serving::shutdown`] (or until the handle is dropped). Fails only on
    /// [`Limits`] that fail [`Limits::check`].
    pub fn serve(self, handler: impl Handler, limits: Limits) -> Result<Serving, Error> {
        limits.check()?;
        let url = self.url();
        let addr = self.addr;
        #[cfg(feature = "tls")]
        let tls = self.tls.map(|config| config.acceptor());
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            self.tcp,
            tls,
            Arc::new(handler),
            limits,
            signal,
        ));
        Ok(Serving {
            addr,
            url,
            shutdown,
            task: Some(task),
        })
    }
}

/// A serving server. Dropping it stops the server without waiting; prefer
/// [`Serving::shutdown`], which lets requests in flight finish.
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    url: String,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Serving {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API, as [`Listener::url`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections, closes those with no request in flight (idle, a head or
    /// a TLS handshake still arriving) at once, lets requests in flight finish (up to 10 s),
    /// and returns once the server is down.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
/// No TLS in this build: never made.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Acceptor {}

/// Accepts connections until told to stop, then waits for the open ones to finish.
async fn accept_loop<H: Handler>(
    listener: TcpListener,
    tls: Option<Acceptor>,
    handler: Arc<H>,
    limits: Limits,
    mut signal: watch::Receiver<bool>,
) {
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    // One permit per open connection: at the cap, new connections wait in the listen queue
    // until one closes (an idle or stalled one does within the header timeout).
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let slot = tokio::select! {
            biased;
            _ = signal.changed() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        tokio::select! {
            biased;
            _ = signal.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        handler: Arc::clone(&handler),
                        peer,
                        limits,
                        signal: signal.clone(),
                    };
                    let tls = tls.clone();
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        connection.serve(stream, tls).await;
                        drop(slot);
                        drop(alive);
                    });
                }
                // Out of file descriptors or a connection reset before accept: go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
    drop(listener);
    drop(alive);
    let _ = tokio::time::timeout(GRACE, all_done.recv()).await;
}

/// One accepted connection and what serving it needs.
struct Connection<H> {
    handler: Arc<H>,
    peer: SocketAddr,
    limits: Limits,
    signal: watch::Receiver<bool>,
}

impl<H: Handler> Connection<H> {
    /// Serves the connection, after its TLS handshake when there is TLS.
    async fn serve(self, stream: TcpStream, tls: Option<Acceptor>) {
        let Some(acceptor) = tls else {
            return self.serve_http(stream).await;
        };
        #[cfg(feature = "tls")]
        {
            // A handshake is held to the header timeout, and dropped at shutdown, as a head
            // still arriving is.
            let handshake =
                tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream));
            let mut signal = self.signal.clone();
            let stream = tokio::select! {
                biased;
                _ = signal.changed() => return,
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    _ => return,
                },
            };
            self.serve_http(stream).await;
        }
        #[cfg(not(feature = "tls"))]
        match acceptor {}
    }

    async fn serve_http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            handler,
            peer,
            limits,
            mut signal,
        } = self;
        // Requests of this connection being handled or answered: at shutdown, a connection
        // with none (idle, or a head still arriving) is closed at once rather than waited for.
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&in_flight);
        let service = service_fn(move |request| {
            let guard = InFlight::new(&counted);
            let answer = handler.handle(request, peer);
            async move {
                // Over the cap, the connection is closed without an answer.
                let response = tokio::time::timeout(limits.request_timeout, answer)
                    .await
                    .unwrap_or(Err(Abort))?;
                Ok::<_, Abort>(response.map(|body| body.counted(guard)))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        if !*signal.borrow_and_update() {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = signal.changed() => {}
            }
        }
        connection.as_mut().graceful_shutdown();
        let idle = async {
            while in_flight.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            _ = connection.as_mut() => {}
            // Dropping the connection closes it.
            () = idle => {}
        }
    }
}

/// Counts a request of a connection from its head to the end of its answer's body (held by
/// the body: [`Body::counted`]).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
