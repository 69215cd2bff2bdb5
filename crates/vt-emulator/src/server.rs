//! The builder, the running server, and the handling of one request.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, LOCATION, VARY,
};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use vt_model::{Resource, ResourceKind};

use crate::chunks::{Chunks, Holder, Slabs};
use crate::comments::Comments;
use crate::dataset::Store;
use crate::faults::FaultPlan;
use crate::file_scan;
use crate::files::{FileScan, Files, Sample, ScanKind};
use crate::index::Key;
use crate::keys::Keys;
use crate::multipart::{Multipart, Refusal};
use crate::quota::{Limits, QuotaUnit, Quotas};
use crate::router::{Answer, Outcome, Payload, Route, Router, JSON, MAX_BODY, ROUTES};
use crate::sites::Sites;
use crate::stats::{endpoint_of, Counters, OTHER_ENDPOINT};
use crate::uploads::{Form, Spool};
use crate::urls::{Scan, Submissions};
use crate::wire::{self, Params};
use crate::{Clock, Dataset, Error, Fault, FaultKind, KeySpec, Stats, SystemClock, Tier};

/// The path of the counters, outside the API.
pub const STATS_PATH: &str = "/_emulator/stats";
/// The path that zeroes the counters and empties the quota windows (`POST`), outside the API.
pub const RESET_PATH: &str = "/_emulator/reset";

/// Where `--log-requests` lines go: one call per request, with one line (no newline).
#[derive(Clone)]
pub(crate) struct RequestLog(Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestLog")
    }
}
/// The one-time upload URLs handed out by `file/scan/upload_url`: `/upload/<token>`.
pub(crate) const UPLOAD_PATH: &str = "/upload/";
/// The one-time paths `file/download` redirects to: `/download/<token>`.
pub(crate) const DOWNLOAD_PATH: &str = "/download/";
/// The largest upload to an upload URL, as the service documents; a larger one is 413.
pub(crate) const UPLOAD_URL_MAX_BODY: usize = 200 << 20;
/// How long a shutdown waits for requests in flight.
const GRACE: Duration = Duration::from_secs(10);

/// Sets up an [`Emulator`]; see [`Emulator::builder`].
///
/// The defaults are those of the command line, except the address: `127.0.0.1:0` (a free
/// port), so that tests never collide. No key configured means every non-empty key is
/// accepted as private; no data given means the bundled dataset.
#[derive(Debug)]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    dataset: Option<Dataset>,
    paths: Vec<PathBuf>,
    keys: Vec<KeySpec>,
    public: Limits,
    private: Limits,
    batch_limit_public: usize,
    batch_limit_private: usize,
    queued: Vec<String>,
    samples: Vec<PathBuf>,
    faults: Vec<Fault>,
    seed: u64,
    slow_delay: Duration,
    analysis_delay: Duration,
    clock: Arc<dyn Clock>,
    routes: Vec<Route>,
    shuffle_batches: bool,
    limits: ConnectionLimits,
    max_data_file_size: Option<u64>,
    request_log: Option<RequestLog>,
}

/// What keeps one client from holding the server: how many connections are served at once,
/// how long a request's head may take to arrive (also how long a kept-alive connection may
/// stay idle), and how long a request may take from its head to its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

/// The default cap on open connections: far above what a test suite opens, far below the
/// common `ulimit -n` of 1024, so that the emulator never runs out of descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The default time a request's head may take, and a kept-alive connection may stay idle.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a request may take from its head to its answer (a 200 MiB upload over
/// loopback takes a second or two).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dataset: None,
            paths: Vec::new(),
            keys: Vec::new(),
            public: Limits {
                per_minute: Some(4),
                per_day: Some(500),
                unit: QuotaUnit::Request,
            },
            private: Limits::default(),
            batch_limit_public: 4,
            batch_limit_private: 25,
            queued: Vec::new(),
            samples: Vec::new(),
            faults: Vec::new(),
            seed: 0,
            slow_delay: Duration::from_secs(5),
            analysis_delay: Duration::from_secs(2),
            clock: Arc::new(SystemClock::new()),
            routes: ROUTES.to_vec(),
            shuffle_batches: false,
            limits: ConnectionLimits {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                header_timeout: DEFAULT_HEADER_TIMEOUT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
            },
            max_data_file_size: None,
            request_log: None,
        }
    }
}

impl EmulatorBuilder {
    /// The address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Serves these reports (instead of the bundled dataset); the paths given with
    /// [`EmulatorBuilder::data_path`] are added to them.
    pub fn dataset(mut self, dataset: Dataset) -> Self {
        self.dataset = Some(dataset);
        self
    }

    /// A JSON file, or a folder of them, to serve (repeatable; replaces the bundled dataset).
    /// Read by [`EmulatorBuilder::build`], which fails naming the first bad file.
    pub fn data_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// The largest data file the paths of [`EmulatorBuilder::data_path`] may hold, in bytes
    /// (default [`crate::DEFAULT_MAX_DATA_FILE_SIZE`], 256 MiB); a larger one stops
    /// [`EmulatorBuilder::build`] with an error naming it and the cap.
    pub fn max_data_file_size(mut self, bytes: u64) -> Self {
        self.max_data_file_size = Some(bytes);
        self
    }

    /// Hands one line per request to `log` once it is answered: the method, the endpoint (or
    /// the path outside the API; `upload` and `download` for the one-time URLs, whose tokens
    /// are not shown), how many resources it names and the status (`reset` when the
    /// connection was closed without an answer). Never the key nor any other parameter's value.
    /// The binary's `--log-requests` prints them on stderr.
    pub fn request_log(mut self, log: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.request_log = Some(RequestLog(Arc::new(log)));
        self
    }

    /// Accepts a key of a tier (repeatable). Without any, every non-empty key is private.
    pub fn key(mut self, key: KeySpec) -> Self {
        self.keys.push(key);
        self
    }

    /// Requests per rolling minute of a public key (default 4).
    pub fn public_per_minute(mut self, n: u32) -> Self {
        self.public.per_minute = Some(n);
        self
    }

    /// Requests per rolling day of a public key (default 500).
    pub fn public_per_day(mut self, n: u32) -> Self {
        self.public.per_day = Some(n);
        self
    }

    /// Requests per rolling minute of a private key (default: no limit).
    pub fn private_per_minute(mut self, n: u32) -> Self {
        self.private.per_minute = Some(n);
        self
    }

    /// What the quotas count: each request (the default), or each resource of a request.
    pub fn quota_unit(mut self, unit: QuotaUnit) -> Self {
        self.public.unit = unit;
        self.private.unit = unit;
        self
    }

    /// Requests per rolling day of a private key (default: no limit).
    pub fn private_per_day(mut self, n: u32) -> Self {
        self.private.per_day = Some(n);
        self
    }

    /// Most resources in one request of a public key (default 4); more is 400.
    pub fn batch_limit_public(mut self, n: usize) -> Self {
        self.batch_limit_public = n;
        self
    }

    /// Most resources in one request of a private key (default 25); more is 400.
    pub fn batch_limit_private(mut self, n: usize) -> Self {
        self.batch_limit_private = n;
        self
    }

    /// Answers this resource (and every hash of its file) as queued, `response_code` -2,
    /// until the analysis delay has passed (repeatable). An MD5 or SHA-1 must be of a loaded
    /// report or sample, whose SHA-256 becomes the `scan_id`. A file the emulator has neither
    /// a report nor the bytes of stays queued.
    pub fn queued(mut self, resource: impl Into<String>) -> Self {
        self.queued.push(resource.into());
        self
    }

    /// A folder of files whose bytes `file/download` serves (and whose reports the emulator
    /// makes, unless the data has one), each named anything: they are hashed when loaded. A
    /// file `<name>.pcap` beside a file `<name>` is its network traffic (repeatable).
    pub fn samples_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.samples.push(path.into());
        self
    }

    /// Injects a fault (repeatable); the probabilities must add up to at most 1.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The seed of the fault draws (default 0): the same seed and the same requests give the
    /// same faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Answer batches (several resources) in a shuffled order rather than the request's
    /// (default off), drawn from the [`EmulatorBuilder::seed`]: a client must then match the
    /// items by `resource`, as the service's order is not documented.
    pub fn shuffle_batches(mut self, shuffle: bool) -> Self {
        self.shuffle_batches = shuffle;
        self
    }

    /// The most connections served at once (default [`DEFAULT_MAX_CONNECTIONS`]); more wait
    /// to be accepted until one closes.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// How long a request's head may take to arrive, and a kept-alive connection may stay
    /// idle, before the connection is closed (default [`DEFAULT_HEADER_TIMEOUT`]).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// How long a request may take from its head to its answer (its body included) before
    /// the connection is closed (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout;
        self
    }

    /// The delay of the `slow` fault (default 5 s).
    pub fn slow_delay(mut self, delay: Duration) -> Self {
        self.slow_delay = delay;
        self
    }

    /// How long after a URL or a file is submitted (`url/scan`, `url/report` with `scan=1`,
    /// `file/scan`, `file/rescan`, and `--queued` from the start) its report is finished
    /// (default 2 s, on the [`EmulatorBuilder::clock`]); until then it is answered as queued.
    /// 0 finishes it at once; `Duration::MAX` never.
    pub fn analysis_delay(mut self, delay: Duration) -> Self {
        self.analysis_delay = delay;
        self
    }

    /// The clock of the quota windows and of the URL analyses (default: the real monotonic
    /// time).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Serves one more route, or another one at a served path (the tests' routes: the served
    /// ones are [`ROUTES`]).
    #[cfg(test)]
    pub(crate) fn route(mut self, route: Route) -> Self {
        self.routes.retain(|served| served.path != route.path);
        self.routes.push(route);
        self
    }

    /// Loads the data and checks the settings; nothing is bound yet.
    pub fn build(self) -> Result<Emulator, Error> {
        let mut dataset = match self.dataset {
            Some(dataset) => dataset,
            None if self.paths.is_empty() => Dataset::bundled(),
            None => Dataset::new(),
        };
        if let Some(bytes) = self.max_data_file_size {
            dataset.set_max_file_size(bytes);
        }
        for path in &self.paths {
            dataset.add_path(path)?;
        }
        if self.batch_limit_public == 0 || self.batch_limit_private == 0 {
            return Err(Error::config("a batch limit must be at least 1"));
        }
        if self.limits.max_connections == 0 {
            return Err(Error::config("the connection cap must be at least 1"));
        }
        if self.limits.header_timeout.is_zero() || self.limits.request_timeout.is_zero() {
            return Err(Error::config("a timeout must be longer than 0"));
        }
        // Unix seconds of the clock's origin: submissions are dated by the clock, so that a
        // manual clock moves their dates too.
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(self.clock.now());
        let clock_origin_unix = i64::try_from(wall.as_secs()).unwrap_or(0);
        let spool = Spool::new().map_err(|e| {
            Error::config(format!(
                "cannot create the emulator's temporary folder: {e}"
            ))
        })?;
        let mut files = Files::default();
        for folder in &self.samples {
            load_samples(&mut files, folder)?;
        }
        for text in &self.queued {
            let resource = Resource::parse(text)
                .map_err(|e| Error::config(format!("queued resource: {e}")))?;
            let given = Key::of(&resource);
            let (sha256, keys) = match dataset.keys_of(text) {
                Some((sha256, keys)) => (sha256.to_owned(), keys),
                None => {
                    let sha256 = match resource.kind() {
                        ResourceKind::Sha256 => Some(resource.key().to_owned()),
                        ResourceKind::ScanId => resource
                            .scan_id_parts()
                            .map(|(sha256, _)| sha256.to_ascii_lowercase()),
                        _ => given
                            .and_then(|key| files.sha256_of(&key))
                            .map(str::to_owned),
                    };
                    let sha256 = sha256.ok_or_else(|| {
                        Error::config(format!(
                            "queued resource {text:?}: an MD5 or SHA-1 must be of a loaded report \
                             or sample (a queued answer carries the SHA-256 as scan_id); give \
                             the SHA-256"
                        ))
                    })?;
                    (sha256, Vec::new())
                }
            };
            for key in keys.into_iter().chain(given) {
                files.alias_key(key, &sha256);
            }
            let scan = FileScan {
                scan_id: sha256.as_str().into(),
                unix: clock_origin_unix,
                at: self.clock.now(),
                kind: ScanKind::Queued,
            };
            files.start_scan(&sha256, scan);
        }
        let (store, sites) = dataset.into_store();
        let state = State {
            router: Router::new(&self.routes)?,
            store,
            has_files: AtomicBool::new(!files.is_empty()),
            files: Mutex::new(files),
            spool,
            addr: OnceLock::new(),
            token_seed: wall.as_nanos() as u64,
            next_token: AtomicU64::new(0),
            sites,
            submissions: Mutex::default(),
            comments: Mutex::default(),
            analysis_delay: self.analysis_delay,
            clock_origin_unix,
            clock: Arc::clone(&self.clock),
            keys: Keys::new(self.keys),
            public: self.public,
            private: self.private,
            batch_limit_public: self.batch_limit_public,
            batch_limit_private: self.batch_limit_private,
            quotas: Quotas::new(self.clock),
            faults: FaultPlan::new(self.faults, self.seed)?,
            slow_delay: self.slow_delay,
            counters: Counters::default(),
            shuffle_seed: self.shuffle_batches.then_some(self.seed),
            batches: AtomicU64::new(0),
            limits: self.limits,
            request_log: self.request_log,
        };
        Ok(Emulator {
            listen: self.listen,
            state: Arc::new(state),
        })
    }

    /// [`EmulatorBuilder::build`], then [`Emulator::start`].
    pub async fn start(self) -> Result<RunningEmulator, Error> {
        self.build()?.start().await
    }
}

/// A configured emulator with its data loaded, not yet listening.
///
/// ```no_run
/// use vt_emulator::{Emulator, KeySpec, Tier};
///
/// # async fn demo() -> Result<(), vt_emulator::Error> {
/// let emulator = Emulator::builder()
///     .key(KeySpec::new("test-key", Tier::Public)?)
///     .start()
///     .await?;
/// let url = emulator.url(); // http://127.0.0.1:PORT/vtapi/v2/
/// // ... point a client at `url`, then check what it sent:
/// assert_eq!(emulator.stats().requests, 0);
/// emulator.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Emulator {
    listen: SocketAddr,
    state: Arc<State>,
}

impl Emulator {
    /// Starts setting up an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// How many reports (distinct files) are served.
    pub fn reports(&self) -> usize {
        self.state.store.len()
    }

    /// How many URL reports, domain answers and IP address answers are served, in this order.
    pub fn site_answers(&self) -> (usize, usize, usize) {
        self.state.sites.counts()
    }

    /// Binds the address and serves in the background on the current tokio runtime until
    /// [`RunningEmulator::shutdown`] (or until the handle is dropped).
    pub async fn start(self) -> Result<RunningEmulator, Error> {
        let bind_error = |e: std::io::Error| Error::Bind {
            addr: self.listen,
            source: Box::new(e),
        };
        let listener = TcpListener::bind(self.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        // An emulator is started once: `start` takes it by value.
        let _ = self.state.addr.set(addr);
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&self.state), signal));
        Ok(RunningEmulator {
            addr,
            state: self.state,
            shutdown,
            task: Some(task),
        })
    }
}

/// A serving emulator. Dropping it stops the server without waiting; prefer
/// [`RunningEmulator::shutdown`], which lets requests in flight finish.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The address it listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API, `http://HOST:PORT/vtapi/v2/`.
    pub fn url(&self) -> String {
        format!("http://{}/vtapi/v2/", self.addr)
    }

    /// The counters since start, as `GET /_emulator/stats` gives them.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Stops accepting connections, closes those with no request in flight (idle, or a head
    /// still arriving) at once, lets requests in flight finish (up to 10 s), and returns once
    /// the server is down.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Accepts connections until told to stop, then waits for the open ones to finish.
async fn serve(listener: TcpListener, state: Arc<State>, mut signal: watch::Receiver<bool>) {
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    // One permit per open connection: at the cap, new connections wait in the listen queue
    // until one closes (an idle or stalled one does within the header timeout).
    let slots = Arc::new(Semaphore::new(state.limits.max_connections));
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
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    let signal = signal.clone();
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        serve_connection(stream, state, signal).await;
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

async fn serve_connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    mut signal: watch::Receiver<bool>,
) {
    let limits = state.limits;
    // Requests of this connection being handled or answered: at shutdown, a connection with
    // none (idle, or a head still arriving) is closed at once rather than waited for.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&in_flight);
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        let guard = InFlight::new(&counted);
        async move {
            // Over the cap, the connection is closed without an answer (as a reset is).
            let response = tokio::time::timeout(limits.request_timeout, state.handle(request))
                .await
                .unwrap_or(Err(ResetFault))?;
            Ok::<_, ResetFault>(response.map(|body| GuardedBody {
                body,
                _guard: guard,
            }))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
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

/// Counts a request of a connection from its head to the end of its answer's body.
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

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

/// An answer's body that keeps its request counted as in flight until it is sent or dropped.
#[derive(Debug)]
struct GuardedBody {
    body: ReplyBody,
    _guard: InFlight,
}

impl hyper::body::Body for GuardedBody {
    type Data = Chunks;
    type Error = TruncatedBody;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunks>, TruncatedBody>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The `reset` fault: the service fails, and hyper closes the connection without an answer.
#[derive(Debug)]
struct ResetFault;

impl std::fmt::Display for ResetFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault: connection reset")
    }
}

impl std::error::Error for ResetFault {}

/// Everything a request needs, shared by the connections: the rule chain's settings and the
/// data the routes answer from (a new kind of data is a new field here, filled by the builder).
#[derive(Debug)]
pub(crate) struct State {
    /// The served endpoints.
    pub(crate) router: Router,
    /// The file reports, by MD5, SHA-1, SHA-256 and scan_id.
    pub(crate) store: Store,
    /// Uploads, samples, file scans (`--queued` among them) and one-time tokens.
    files: Mutex<Files>,
    /// Whether `files` may hold anything: `file/report` skips its lock otherwise.
    has_files: AtomicBool,
    /// The emulator's temporary folder (uploads).
    pub(crate) spool: Spool,
    /// The address listened on, once started (for the one-time URLs).
    addr: OnceLock<SocketAddr>,
    /// What makes the one-time tokens of this run differ from another run's.
    token_seed: u64,
    next_token: AtomicU64,
    /// URL reports, domains and IP addresses (their bytes are in the store's slabs).
    pub(crate) sites: Sites,
    /// The URLs submitted since start.
    submissions: Mutex<Submissions>,
    /// The comments posted since start.
    comments: Mutex<Comments>,
    /// How long a submitted URL's analysis takes.
    pub(crate) analysis_delay: Duration,
    /// The clock of the quotas and of the analyses.
    clock: Arc<dyn Clock>,
    /// The unix seconds at the clock's origin.
    clock_origin_unix: i64,
    pub(crate) keys: Keys,
    public: Limits,
    private: Limits,
    pub(crate) batch_limit_public: usize,
    pub(crate) batch_limit_private: usize,
    pub(crate) quotas: Quotas,
    pub(crate) faults: FaultPlan,
    slow_delay: Duration,
    pub(crate) counters: Counters,
    /// The seed of the batch orders when batches are shuffled.
    shuffle_seed: Option<u64>,
    /// How many batch orders were drawn (each batch gets its own).
    batches: AtomicU64,
    limits: ConnectionLimits,
    /// Where `--log-requests` lines go, if anywhere.
    request_log: Option<RequestLog>,
}

impl Holder for State {
    fn slabs(&self) -> &Slabs {
        self.store.slabs()
    }
}

impl State {
    /// The seed of this batch's order, when batches are shuffled: the emulator's seed and the
    /// batch's number, so that the same seed and requests give the same orders.
    pub(crate) fn batch_shuffle(&self) -> Option<u64> {
        let seed = self.shuffle_seed?;
        let n = self.batches.fetch_add(1, Ordering::Relaxed);
        Some(crate::synthetic::SplitMix64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64())
    }

    /// The limits of a tier's quota.
    pub(crate) fn limits(&self, tier: Tier) -> Limits {
        match tier {
            Tier::Public => self.public,
            _ => self.private,
        }
    }

    /// The most resources in one request of a tier.
    pub(crate) fn batch_limit(&self, tier: Tier) -> usize {
        match tier {
            Tier::Public => self.batch_limit_public,
            _ => self.batch_limit_private,
        }
    }

    /// The submitted URLs, locked (a poisoned lock is taken over: it holds plain data).
    pub(crate) fn submissions(&self) -> MutexGuard<'_, Submissions> {
        self.submissions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The comments, locked (a poisoned lock is taken over: it holds plain data).
    pub(crate) fn comments(&self) -> MutexGuard<'_, Comments> {
        self.comments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A scan of `url` (normalised) submitted now, recorded.
    pub(crate) fn submit(&self, submissions: &mut Submissions, url: &str) -> Scan {
        let at = self.clock.now();
        let unix = self
            .clock_origin_unix
            .saturating_add(i64::try_from(at.as_secs()).unwrap_or(i64::MAX));
        let scan = Scan::new(url, unix, at);
        submissions.submit(scan.clone());
        scan
    }

    /// Whether a scan's analysis is over.
    pub(crate) fn is_finished(&self, scan: &Scan) -> bool {
        self.is_over(scan.at)
    }

    /// Whether an analysis started at `at` (on the clock) is over.
    pub(crate) fn is_over(&self, at: Duration) -> bool {
        self.clock.now().saturating_sub(at) >= self.analysis_delay
    }

    /// Now, in unix seconds and on the clock.
    pub(crate) fn now(&self) -> (i64, Duration) {
        let at = self.clock.now();
        let unix = self
            .clock_origin_unix
            .saturating_add(i64::try_from(at.as_secs()).unwrap_or(i64::MAX));
        (unix, at)
    }

    /// The unix seconds the emulator started at (the date of reports made of samples never
    /// scanned).
    pub(crate) fn start_unix(&self) -> i64 {
        self.clock_origin_unix
    }

    /// The files, locked (a poisoned lock is taken over: it holds plain data); `None` when
    /// none was ever added (no lock taken).
    pub(crate) fn files_if_any(&self) -> Option<MutexGuard<'_, Files>> {
        self.has_files.load(Ordering::Acquire).then(|| self.files())
    }

    /// The files, locked, for a change: `file/report` takes the lock from now on.
    pub(crate) fn files(&self) -> MutexGuard<'_, Files> {
        self.has_files.store(true, Ordering::Release);
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new one-time token: 32 hex digits, different for every call and every run.
    pub(crate) fn token(&self) -> String {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        let mix = |mut z: u64| {
            // SplitMix64's finaliser: consecutive counters give unrelated tokens.
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^ (z >> 31)
        };
        let high = mix(self.token_seed ^ n.wrapping_mul(0x9e3779b97f4a7c15));
        format!("{high:016x}{:016x}", mix(high ^ n))
    }

    /// `http://ADDR` of the running emulator.
    pub(crate) fn origin(&self) -> String {
        match self.addr.get() {
            Some(addr) => format!("http://{addr}"),
            None => "http://127.0.0.1".to_owned(),
        }
    }

    /// [`State::answer`], and the request's line handed to the request log, if any.
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<ReplyBody>, ResetFault> {
        let Some(log) = self.request_log.clone() else {
            return self.answer(request, &mut 0).await;
        };
        let method = request.method().clone();
        let what = logged_path(request.uri().path());
        let mut asked = 0;
        let result = self.answer(request, &mut asked).await;
        let status = match &result {
            Ok(response) => response.status().as_str().to_owned(),
            Err(ResetFault) => "reset".to_owned(),
        };
        (log.0)(&format!(
            "{method} {what} resources={asked} status={status}"
        ));
        result
    }

    /// Routes a request and runs the rule chain (see [`crate::router`]); `asked` is set to
    /// how many resources it names.
    async fn answer(
        self: Arc<Self>,
        request: Request<Incoming>,
        asked: &mut usize,
    ) -> Result<Response<ReplyBody>, ResetFault> {
        let gzip = accepts_gzip(request.headers());
        let path = request.uri().path();
        if path == STATS_PATH {
            return Ok(self.stats_reply(request.method()));
        }
        if path == RESET_PATH {
            return Ok(self.reset_reply(request.method()));
        }
        let endpoint = endpoint_of(path);
        self.counters.request(endpoint);
        if endpoint == OTHER_ENDPOINT {
            if let Some(token) = path.strip_prefix(UPLOAD_PATH) {
                let token = token.to_owned();
                return self.upload(&token, request).await;
            }
            if let Some(token) = path.strip_prefix(DOWNLOAD_PATH) {
                let answer = self.download(token, request.method());
                return Ok(answer);
            }
        }
        // A copy (a few words), so that `self` can be handed on while the route is in use.
        let Some(route) = self.router.route(endpoint).copied() else {
            return Ok(self.send(Answer::empty(StatusCode::NOT_FOUND), None));
        };
        let Some(post) = route.methods.reads_body(request.method()) else {
            return Ok(self.method_not_allowed(route.methods.allow()));
        };
        let (parts, body) = request.into_parts();
        let content_type = content_type(&parts.headers);
        let body = if post {
            let spool = route.takes_file.then_some(&self.spool);
            match read_request(body, content_type, route.max_body, spool).await {
                Ok(body) => body,
                Err(BodyError::Refused(refusal)) => {
                    return Ok(self.send(Answer::empty(refusal.status()), None))
                }
                // The client went away while sending.
                Err(BodyError::Gone) => return Err(ResetFault),
            }
        } else {
            RequestBody::None
        };
        let mut params = Params::default();
        if let Some(query) = parts.uri.query() {
            params.add_urlencoded(query.as_bytes());
        }
        if post {
            params.set_content_type(content_type);
        }
        match &body {
            RequestBody::None => {}
            RequestBody::Bytes(bytes) if bytes.is_empty() => params.set_empty_body(),
            RequestBody::Bytes(bytes) => params.add_urlencoded(bytes),
            RequestBody::Form(form) => params.add_form(form),
        }
        let (outcome, named) = (route.serve)(&self, &route, &params);
        *asked = named;
        drop(params);
        drop(body);
        match outcome {
            Outcome::Reset => Err(ResetFault),
            Outcome::Send(answer, fault) => {
                if fault == Some(FaultKind::Slow) {
                    tokio::time::sleep(self.slow_delay).await;
                }
                Ok(self.send_encoded(answer, fault, gzip))
            }
        }
    }

    /// `POST /upload/<token>`: one multipart upload (up to 200 MB) to a URL handed out by
    /// `file/scan/upload_url`, answered as `file/scan`; the token is spent by the first
    /// upload accepted. No key, tier, quota or fault: the token is the permission.
    async fn upload(
        self: Arc<Self>,
        token: &str,
        request: Request<Incoming>,
    ) -> Result<Response<ReplyBody>, ResetFault> {
        if request.method() != Method::POST {
            return Ok(self.method_not_allowed("POST"));
        }
        if !self.files().has_upload_token(token) {
            return Ok(self.send(Answer::empty(StatusCode::NOT_FOUND), None));
        }
        let (parts, body) = request.into_parts();
        let content_type = content_type(&parts.headers);
        let body =
            match read_request(body, content_type, UPLOAD_URL_MAX_BODY, Some(&self.spool)).await {
                Ok(body) => body,
                Err(BodyError::Refused(refusal)) => {
                    return Ok(self.send(Answer::empty(refusal.status()), None))
                }
                Err(BodyError::Gone) => return Err(ResetFault),
            };
        let upload = match &body {
            RequestBody::Form(form) => form.file.as_ref(),
            _ => None,
        };
        let answer = match upload {
            None => Answer::empty(StatusCode::BAD_REQUEST),
            Some(_) if !self.files().spend_upload_token(token) => {
                Answer::empty(StatusCode::NOT_FOUND)
            }
            Some(upload) => file_scan::accept(&self, upload),
        };
        drop(body);
        Ok(self.send(answer, None))
    }

    /// 405 with `Allow`.
    fn method_not_allowed(self: Arc<Self>, allow: &'static str) -> Response<ReplyBody> {
        let mut reply = self.send(Answer::empty(StatusCode::METHOD_NOT_ALLOWED), None);
        reply
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        reply
    }

    /// `GET /download/<token>`: the bytes `file/download` redirected to, once.
    fn download(self: Arc<Self>, token: &str, method: &Method) -> Response<ReplyBody> {
        if method != Method::GET {
            return self.method_not_allowed("GET");
        }
        let path = self.files().spend_download_token(token);
        match path {
            Some(path) => self.send(Answer::file(path), None),
            None => self.send(Answer::empty(StatusCode::NOT_FOUND), None),
        }
    }

    /// Turns an answer into a response, shaped by a `truncate` fault, and counts its status.
    fn send(self: Arc<Self>, answer: Answer, fault: Option<FaultKind>) -> Response<ReplyBody> {
        self.send_encoded(answer, fault, false)
    }

    /// [`State::send`], the body of a JSON answer gzipped when `gzip` (the client accepts
    /// it). Headers as recorded: `Cache-Control: no-cache` on every API answer, `Vary:
    /// Accept-Encoding` on JSON ones.
    fn send_encoded(
        self: Arc<Self>,
        answer: Answer,
        fault: Option<FaultKind>,
        gzip: bool,
    ) -> Response<ReplyBody> {
        self.counters.status(answer.status.as_u16());
        let location = answer.location;
        let json = answer.content_type == Some(JSON);
        let mut chunks = match answer.body {
            Payload::Bytes(body) => body.hold(self),
            Payload::File(path) => return file_response(&path, fault),
        };
        let gzipped = gzip && json && chunks.has_remaining();
        if gzipped {
            chunks = gzipped_body(chunks);
        }
        let full_len = chunks.remaining();
        let body = if fault == Some(FaultKind::Truncate) && full_len > 0 {
            ReplyBody::Truncated {
                half: Some(chunks.cut(full_len / 2)),
                pause: None,
            }
        } else {
            ReplyBody::Full(Some(chunks))
        };
        let mut response = Response::new(body);
        *response.status_mut() = answer.status;
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Some(content_type) = answer.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if json {
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if fault == Some(FaultKind::Truncate) && full_len > 0 {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(full_len));
        }
        if let Some(location) = location.and_then(|l| HeaderValue::try_from(l).ok()) {
            headers.insert(LOCATION, location);
        }
        response
    }

    fn stats_reply(&self, method: &Method) -> Response<ReplyBody> {
        if method != Method::GET {
            return bare_method_not_allowed("GET");
        }
        json_reply(&self.counters.snapshot())
    }

    /// `POST /_emulator/reset`: the counters as they were, then zeroed, and every key's quota
    /// windows emptied.
    fn reset_reply(&self, method: &Method) -> Response<ReplyBody> {
        if method != Method::POST {
            return bare_method_not_allowed("POST");
        }
        let before = self.counters.snapshot();
        self.counters.reset();
        self.quotas.reset();
        json_reply(&before)
    }
}

/// `--log-requests`' name of a path: the endpoint under `/vtapi/v2/`, `upload` or `download`
/// for the one-time URLs (their tokens are not shown), else the path (at most 100 characters,
/// escaped).
fn logged_path(path: &str) -> String {
    if let Some(endpoint) = path.strip_prefix("/vtapi/v2/") {
        if crate::stats::ENDPOINTS.contains(&endpoint) {
            return endpoint.to_owned();
        }
    }
    if path.starts_with(UPLOAD_PATH) {
        return "upload".to_owned();
    }
    if path.starts_with(DOWNLOAD_PATH) {
        return "download".to_owned();
    }
    let shown: String = path.chars().take(100).collect();
    let escaped = format!("{shown:?}");
    // Without the quotes, unless escaping changed something.
    if escaped.len() == shown.len() + 2 {
        shown
    } else {
        escaped
    }
}

/// 405 with `Allow`, outside the API (no `Cache-Control`, not counted).
fn bare_method_not_allowed(allow: &'static str) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::Full(None));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The stats as a JSON 200.
fn json_reply(stats: &Stats) -> Response<ReplyBody> {
    let body = serde_json::to_vec(stats).unwrap_or_default();
    let mut response = Response::new(ReplyBody::Full(Some(Chunks::from_vec(body))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// Whether a request's `Accept-Encoding` takes gzip (`gzip`, `x-gzip` or `*`, with a `q` above
/// 0 or none).
fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|param| {
                param.trim().split_once('=').is_some_and(|(key, q)| {
                    key.trim().eq_ignore_ascii_case("q") && q.trim().parse::<f32>() == Ok(0.0)
                })
            });
            !refused
                && (name.eq_ignore_ascii_case("gzip")
                    || name.eq_ignore_ascii_case("x-gzip")
                    || name == "*")
        })
}

/// A body gzipped, on the fly at the fastest level: reports are stored once, uncompressed
/// (measured in docs/emulator-benchmarks.md).
fn gzipped_body(mut body: Chunks) -> Chunks {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.remaining() / 4 + 64),
        flate2::Compression::fast(),
    );
    while body.has_remaining() {
        let chunk = body.chunk();
        let n = chunk.len();
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(chunk);
        body.advance(n);
    }
    Chunks::from_vec(encoder.finish().unwrap_or_default())
}

/// The `Content-Type` of a request (`""` when absent or not text).
fn content_type(headers: &hyper::HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A request body, read.
#[derive(Debug)]
enum RequestBody<'s> {
    /// A GET.
    None,
    /// A url-encoded form (whatever its Content-Type, when not multipart).
    Bytes(Bytes),
    /// A multipart form.
    Form(Box<Form<'s>>),
}

/// Why a request body was not read.
#[derive(Debug)]
enum BodyError {
    Refused(Refusal),
    /// The client stopped sending.
    Gone,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
            Refusal::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Reads a request body of at most `limit` bytes: a multipart one part by part as it arrives
/// (its `file` part into `spool`, when given), any other whole.
async fn read_request<'s>(
    body: Incoming,
    content_type: &str,
    limit: usize,
    spool: Option<&'s Spool>,
) -> Result<RequestBody<'s>, BodyError> {
    match wire::multipart_boundary(content_type) {
        Some(boundary) => {
            let mut reader =
                Multipart::new(boundary).ok_or(BodyError::Refused(Refusal::Malformed))?;
            let mut form = Form::new(spool, MAX_BODY.min(limit));
            each_piece(body, limit, |piece| reader.feed(piece, &mut form)).await?;
            reader.finish(&mut form).map_err(BodyError::Refused)?;
            Ok(RequestBody::Form(Box::new(form)))
        }
        None => {
            let mut collected = Vec::new();
            each_piece(body, limit, |piece| {
                collected.extend_from_slice(piece);
                Ok(())
            })
            .await?;
            Ok(RequestBody::Bytes(Bytes::from(collected)))
        }
    }
}

/// Hands each piece of a body on as it arrives; more than `limit` bytes in all is 413.
async fn each_piece(
    mut body: Incoming,
    limit: usize,
    mut each: impl FnMut(&[u8]) -> Result<(), Refusal>,
) -> Result<(), BodyError> {
    use hyper::body::Body as _;
    let mut read = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(()),
            Some(Err(_)) => return Err(BodyError::Gone),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read += data.len();
                    if read > limit {
                        return Err(BodyError::Refused(Refusal::TooLarge));
                    }
                    each(&data).map_err(BodyError::Refused)?;
                }
            }
        }
    }
}

/// Hashes the files of a `--samples` folder (not of its sub-folders; a `*.pcap` file is the
/// traffic of the file named like it without `.pcap`, not a sample).
fn load_samples(files: &mut Files, folder: &std::path::Path) -> Result<(), Error> {
    let read_error = |path: &std::path::Path, e: std::io::Error| Error::Read {
        path: path.to_owned(),
        source: Box::new(e),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| read_error(folder, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(folder, e))?;
    paths.retain(|p| p.is_file() && p.extension().is_none_or(|x| x != "pcap"));
    paths.sort();
    for path in paths {
        let sample = Sample::load(&path).map_err(|e| read_error(&path, e))?;
        files.add_sample(sample);
    }
    Ok(())
}

/// A file's bytes as a 200 `application/octet-stream` (404 when it cannot be opened),
/// half of them for the `truncate` fault.
fn file_response(path: &std::path::Path, fault: Option<FaultKind>) -> Response<ReplyBody> {
    let opened = std::fs::File::open(path).and_then(|file| Ok((file.metadata()?.len(), file)));
    let Ok((len, file)) = opened else {
        let mut response = Response::new(ReplyBody::Full(None));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let truncate = fault == Some(FaultKind::Truncate) && len > 0;
    let mut response = Response::new(ReplyBody::File {
        file,
        left: if truncate { len / 2 } else { len },
        cut: truncate,
        pause: None,
    });
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// The body of an answer: whole, or cut in the middle by the `truncate` fault.
#[derive(Debug)]
pub(crate) enum ReplyBody {
    /// The whole body (`None` once sent, or for an empty body).
    Full(Option<Chunks>),
    /// The first half, then a pause (so that it is flushed), then an error that makes hyper
    /// close the connection short of the promised `Content-Length`.
    Truncated {
        half: Option<Chunks>,
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    /// A file, read in pieces as it is sent; `cut` ends it like `Truncated` once `left` bytes
    /// are sent.
    File {
        file: std::fs::File,
        left: u64,
        cut: bool,
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

/// How much of a file one frame carries.
const FILE_PIECE: u64 = 64 * 1024;

/// The end of a truncated body: a pause (so that what was sent is flushed), then an error
/// that makes hyper close the connection.
fn cut_short(
    pause: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Chunks>, TruncatedBody>>> {
    let sleep =
        pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
    if sleep.as_mut().poll(cx).is_pending() {
        return Poll::Pending;
    }
    Poll::Ready(Some(Err(TruncatedBody)))
}

/// Ends a truncated body; hyper then closes the connection.
#[derive(Debug)]
pub(crate) struct TruncatedBody;

impl std::fmt::Display for TruncatedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault: body truncated")
    }
}

impl std::error::Error for TruncatedBody {}

impl hyper::body::Body for ReplyBody {
    type Data = Chunks;
    type Error = TruncatedBody;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunks>, TruncatedBody>>> {
        match self.get_mut() {
            ReplyBody::Full(body) => Poll::Ready(
                body.take()
                    .filter(|b| b.has_remaining())
                    .map(|b| Ok(Frame::data(b))),
            ),
            ReplyBody::Truncated { half, pause } => {
                if let Some(half) = half.take() {
                    return Poll::Ready(Some(Ok(Frame::data(half))));
                }
                cut_short(pause, cx)
            }
            ReplyBody::File {
                file,
                left,
                cut,
                pause,
            } => {
                use std::io::Read as _;
                if *left == 0 {
                    return match cut {
                        true => cut_short(pause, cx),
                        false => Poll::Ready(None),
                    };
                }
                // A plain read: the file is the emulator's own, in the page cache.
                let mut piece = vec![0; usize::try_from((*left).min(FILE_PIECE)).unwrap_or(0)];
                match file.read(&mut piece) {
                    Ok(n) if n > 0 => {
                        piece.truncate(n);
                        *left -= n as u64;
                        Poll::Ready(Some(Ok(Frame::data(Chunks::from_vec(piece)))))
                    }
                    // The file shrank or failed: the promised length cannot be kept.
                    _ => Poll::Ready(Some(Err(TruncatedBody))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(body) => body.as_ref().is_none_or(|b| !b.has_remaining()),
            ReplyBody::Truncated { .. } => false,
            ReplyBody::File { left, cut, .. } => *left == 0 && !cut,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(Some(body)) => SizeHint::with_exact(body.remaining() as u64),
            ReplyBody::Full(None) => SizeHint::with_exact(0),
            ReplyBody::Truncated { .. } | ReplyBody::File { .. } => SizeHint::default(),
        }
    }
}
