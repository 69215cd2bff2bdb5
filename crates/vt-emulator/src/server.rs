//! The builder, the running server, and the handling of one request.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{Method, Response, StatusCode};
use hyper::body::Body as _;
use vt_model::{Resource, ResourceKind};
use vt_server::routes::{self, Methods, Route, ROUTES};
use vt_server::{reply, Abort, Body, BodyData, Listener, Received, Router, Serving, Spool};
// Not the quotas' `Limits`: what keeps one client from holding the server.
use vt_server::Limits as ConnectionLimits;

use crate::chunks::{Holder, Slabs};
use crate::comments::Comments;
use crate::dataset::Store;
use crate::faults::FaultPlan;
use crate::file_scan;
use crate::files::{FileScan, Files, Sample, ScanKind};
use crate::index::Key;
use crate::keys::Keys;
use crate::quota::{Limits, QuotaUnit, Quotas};
use crate::router::{self, Answer, Outcome, Serve};
use crate::sites::Sites;
use crate::stats::{endpoint_of, Counters, OTHER_ENDPOINT};
use crate::urls::{Scan, Submissions};
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
/// The rules of an upload to a one-time URL (`/upload/<token>`, outside the API): a POST, a
/// multipart body of up to 200 MiB, its file part spooled.
const UPLOAD_URL: Route = Route::new("upload", Methods::Post)
    .max_body(UPLOAD_URL_MAX_BODY)
    .takes_file();

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
    routes: Vec<(Route, Serve)>,
    shuffle_batches: bool,
    limits: ConnectionLimits,
    max_data_file_size: Option<u64>,
    request_log: Option<RequestLog>,
    #[cfg(feature = "tls")]
    tls: Option<vt_server::TlsConfig>,
}

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
            routes: router::ROUTES.to_vec(),
            shuffle_batches: false,
            limits: ConnectionLimits::default(),
            max_data_file_size: None,
            request_log: None,
            #[cfg(feature = "tls")]
            tls: None,
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

    /// The most connections served at once (default [`crate::DEFAULT_MAX_CONNECTIONS`]);
    /// more wait to be accepted until one closes.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits = self.limits.max_connections(n);
        self
    }

    /// How long a request's head may take to arrive, and a kept-alive connection may stay
    /// idle, before the connection is closed (default [`crate::DEFAULT_HEADER_TIMEOUT`]).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.limits = self.limits.header_timeout(timeout);
        self
    }

    /// How long a request may take from its head to its answer (its body included) before
    /// the connection is closed (default [`crate::DEFAULT_REQUEST_TIMEOUT`]).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits = self.limits.request_timeout(timeout);
        self
    }

    /// Serves HTTPS with this certificate and key rather than plain HTTP (feature `tls`): the
    /// URLs the emulator gives (its own, the one-time upload and download URLs) are then
    /// `https://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::TlsConfig) -> Self {
        self.tls = Some(config);
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
    /// ones are [`crate::router::ROUTES`]).
    #[cfg(test)]
    pub(crate) fn route(mut self, route: Route, serve: Serve) -> Self {
        self.routes.retain(|(served, _)| served.path != route.path);
        self.routes.push((route, serve));
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
        self.limits.check().map_err(Error::from_server)?;
        // Unix seconds of the clock's origin: submissions are dated by the clock, so that a
        // manual clock moves their dates too.
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(self.clock.now());
        let clock_origin_unix = i64::try_from(wall.as_secs()).unwrap_or(0);
        let spool = Spool::new("vt-emulator-").map_err(|e| {
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
            router: Router::new(self.routes).map_err(Error::from_server)?,
            store,
            has_files: AtomicBool::new(!files.is_empty()),
            files: Mutex::new(files),
            spool,
            origin: OnceLock::new(),
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
            #[cfg(feature = "tls")]
            tls: self.tls,
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
    #[cfg(feature = "tls")]
    tls: Option<vt_server::TlsConfig>,
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
        let listener = Listener::bind(self.listen)
            .await
            .map_err(Error::from_server)?;
        #[cfg(feature = "tls")]
        let listener = match self.tls {
            Some(tls) => listener.tls(tls),
            None => listener,
        };
        // An emulator is started once: `start` takes it by value.
        let _ = self.state.origin.set(listener.origin());
        let state = Arc::clone(&self.state);
        let handler = move |request, _peer: SocketAddr| Arc::clone(&state).handle(request);
        let serving = listener
            .serve(handler, self.state.limits)
            .map_err(Error::from_server)?;
        Ok(RunningEmulator {
            state: self.state,
            serving,
        })
    }
}

/// A serving emulator. Dropping it stops the server without waiting; prefer
/// [`RunningEmulator::shutdown`], which lets requests in flight finish.
#[derive(Debug)]
pub struct RunningEmulator {
    state: Arc<State>,
    serving: Serving,
}

impl RunningEmulator {
    /// The address it listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// The base URL of the API, `http://HOST:PORT/vtapi/v2/` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        self.serving.url().to_owned()
    }

    /// The counters since start, as `GET /_emulator/stats` gives them.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Stops accepting connections, closes those with no request in flight (idle, or a head
    /// still arriving) at once, lets requests in flight finish (up to 10 s), and returns once
    /// the server is down.
    pub async fn shutdown(self) {
        self.serving.shutdown().await;
    }
}

/// Everything a request needs, shared by the connections: the rule chain's settings and the
/// data the routes answer from (a new kind of data is a new field here, filled by the builder).
#[derive(Debug)]
pub(crate) struct State {
    /// The served endpoints.
    pub(crate) router: Router<Serve>,
    /// The file reports, by MD5, SHA-1, SHA-256 and scan_id.
    pub(crate) store: Store,
    /// Uploads, samples, file scans (`--queued` among them) and one-time tokens.
    files: Mutex<Files>,
    /// Whether `files` may hold anything: `file/report` skips its lock otherwise.
    has_files: AtomicBool,
    /// The emulator's temporary folder (uploads).
    pub(crate) spool: Spool,
    /// `http://ADDR` (or `https://`) listened on, once started (for the one-time URLs).
    origin: OnceLock<String>,
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

    /// `http://ADDR` (or `https://`) of the running emulator.
    pub(crate) fn origin(&self) -> &str {
        self.origin.get().map_or("http://127.0.0.1", String::as_str)
    }

    /// [`State::answer`], and the request's line handed to the request log, if any.
    async fn handle(self: Arc<Self>, request: vt_server::Request) -> Result<Response<Body>, Abort> {
        let Some(log) = self.request_log.clone() else {
            return self.answer(request, &mut 0).await;
        };
        let method = request.method().clone();
        let what = logged_path(request.uri().path());
        let mut asked = 0;
        let result = self.answer(request, &mut asked).await;
        let status = match &result {
            Ok(response) => response.status().as_str().to_owned(),
            Err(Abort) => "reset".to_owned(),
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
        request: vt_server::Request,
        asked: &mut usize,
    ) -> Result<Response<Body>, Abort> {
        let gzip = reply::accepts_gzip(request.headers());
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
        let Some((route, serve)) = self.router.get(endpoint).map(|(r, s)| (*r, *s)) else {
            return Ok(self.send_empty(StatusCode::NOT_FOUND));
        };
        let spool = Some(&self.spool);
        let received = match Received::read(request, &route, spool).await {
            Ok(received) => received,
            Err(refusal) => return refusal.reply().map(|reply| self.counted(reply)),
        };
        let params = received.params();
        let (outcome, named) = serve(&self, &route, &params);
        *asked = named;
        drop(params);
        drop(received);
        match outcome {
            Outcome::Reset => Err(Abort),
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
        request: vt_server::Request,
    ) -> Result<Response<Body>, Abort> {
        if UPLOAD_URL.methods.reads_body(request.method()).is_none() {
            return Ok(self.counted(reply::method_not_allowed(UPLOAD_URL.methods)));
        }
        if !self.files().has_upload_token(token) {
            return Ok(self.send_empty(StatusCode::NOT_FOUND));
        }
        let received = match Received::read(request, &UPLOAD_URL, Some(&self.spool)).await {
            Ok(received) => received,
            Err(refusal) => return refusal.reply().map(|reply| self.counted(reply)),
        };
        let answer = match received.params().upload() {
            None => Answer::empty(StatusCode::BAD_REQUEST),
            Some(_) if !self.files().spend_upload_token(token) => {
                Answer::empty(StatusCode::NOT_FOUND)
            }
            Some(upload) => file_scan::accept(&self, upload),
        };
        drop(received);
        Ok(self.send(answer, None))
    }

    /// `GET /download/<token>`: the bytes `file/download` redirected to, once.
    fn download(self: Arc<Self>, token: &str, method: &Method) -> Response<Body> {
        if Methods::Get.reads_body(method).is_none() {
            return self.counted(reply::method_not_allowed(Methods::Get));
        }
        let path = self.files().spend_download_token(token);
        match path {
            Some(path) => self.send(Answer::file(path), None),
            None => self.send_empty(StatusCode::NOT_FOUND),
        }
    }

    /// A response of the API, its status counted.
    fn counted(&self, response: Response<Body>) -> Response<Body> {
        self.counters.status(response.status().as_u16());
        response
    }

    /// The service's empty answer of `status`, counted.
    fn send_empty(&self, status: StatusCode) -> Response<Body> {
        self.counted(reply::empty(status))
    }

    /// Turns an answer into a response, shaped by a `truncate` fault, and counts its status.
    fn send(self: Arc<Self>, answer: Answer, fault: Option<FaultKind>) -> Response<Body> {
        self.send_encoded(answer, fault, false)
    }

    /// [`State::send`], the body of a JSON answer gzipped when `gzip` (the client accepts
    /// it); the headers are vt-server's ([`vt_server::reply`]), as recorded.
    fn send_encoded(
        self: Arc<Self>,
        answer: Answer,
        fault: Option<FaultKind>,
        gzip: bool,
    ) -> Response<Body> {
        self.counters.status(answer.status().as_u16());
        let response = match answer {
            Answer::Empty(status) => reply::empty(status),
            Answer::Redirect(location) => {
                let mut response = reply::empty(StatusCode::FOUND);
                if let Ok(location) = HeaderValue::try_from(location) {
                    response.headers_mut().insert(LOCATION, location);
                }
                response
            }
            Answer::Json(body) => reply::json(BodyData::from_buf(body.hold(self)), gzip),
            Answer::File(path) => return file_response(&path, fault),
        };
        match fault {
            Some(FaultKind::Truncate) => truncated(response),
            _ => response,
        }
    }

    fn stats_reply(&self, method: &Method) -> Response<Body> {
        if method != Method::GET {
            return bare_method_not_allowed("GET");
        }
        json_reply(&self.counters.snapshot())
    }

    /// `POST /_emulator/reset`: the counters as they were, then zeroed, and every key's quota
    /// windows emptied.
    fn reset_reply(&self, method: &Method) -> Response<Body> {
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
    if let Some(endpoint) = routes::endpoint(path) {
        return ROUTES[endpoint].path.to_owned();
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
fn bare_method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The stats as a JSON 200.
fn json_reply(stats: &Stats) -> Response<Body> {
    let body = serde_json::to_vec(stats).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply::JSON));
    response
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
fn file_response(path: &std::path::Path, fault: Option<FaultKind>) -> Response<Body> {
    let opened = std::fs::File::open(path).and_then(|file| Ok((file.metadata()?.len(), file)));
    let Ok((len, file)) = opened else {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let truncate = fault == Some(FaultKind::Truncate) && len > 0;
    let mut response = Response::new(Body::from_stream(FilePieces {
        file,
        left: if truncate { len / 2 } else { len },
        cut: truncate.then(CutShort::default),
    }));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// The `truncate` fault on an answer whose length is known: its `Content-Length` promised,
/// half of its bytes sent, then the connection closed ([`CutShort`]). An empty answer is
/// left whole.
fn truncated(response: Response<Body>) -> Response<Body> {
    let (mut head, body) = response.into_parts();
    let full_len = body.size_hint().exact().unwrap_or(0);
    if full_len == 0 {
        return Response::from_parts(head, body);
    }
    head.headers
        .insert(CONTENT_LENGTH, HeaderValue::from(full_len));
    let half = Halved {
        body,
        left: usize::try_from(full_len / 2).unwrap_or(usize::MAX),
        cut: CutShort::default(),
    };
    Response::from_parts(head, Body::from_stream(half))
}

/// The first `left` bytes of a body, then [`CutShort`].
struct Halved {
    body: Body,
    left: usize,
    cut: CutShort,
}

impl Stream for Halved {
    type Item = Result<BodyData, TruncatedBody>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while this.left > 0 {
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(_) => break,
            };
            if let Ok(mut data) = frame.into_data() {
                // A copy, on the fault's path only.
                let piece = data.copy_to_bytes(data.remaining().min(this.left));
                this.left -= piece.len();
                return Poll::Ready(Some(Ok(BodyData::from(piece))));
            }
        }
        this.cut.poll(cx)
    }
}

/// How much of a file one chunk carries.
const FILE_PIECE: u64 = 64 * 1024;

/// A file, read in pieces as it is sent; with `cut`, ended by [`CutShort`] once `left` bytes
/// are sent.
struct FilePieces {
    file: std::fs::File,
    left: u64,
    cut: Option<CutShort>,
}

impl Stream for FilePieces {
    type Item = Result<Bytes, TruncatedBody>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use std::io::Read as _;
        let this = self.get_mut();
        if this.left == 0 {
            return match &mut this.cut {
                Some(cut) => cut.poll(cx),
                None => Poll::Ready(None),
            };
        }
        // A plain read: the file is the emulator's own, in the page cache.
        let mut piece = vec![0; usize::try_from(this.left.min(FILE_PIECE)).unwrap_or(0)];
        match this.file.read(&mut piece) {
            Ok(n) if n > 0 => {
                piece.truncate(n);
                this.left -= n as u64;
                Poll::Ready(Some(Ok(Bytes::from(piece))))
            }
            // The file shrank or failed: the promised length cannot be kept.
            _ => Poll::Ready(Some(Err(TruncatedBody))),
        }
    }
}

/// The end of a truncated body: a pause (so that what was sent is flushed), then an error
/// that makes hyper close the connection short of the promised `Content-Length`.
#[derive(Default)]
struct CutShort {
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl CutShort {
    fn poll<T>(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TruncatedBody>>> {
        let sleep = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(TruncatedBody)))
    }
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
