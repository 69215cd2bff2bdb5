//! Lookups through the gateway against the same lookups straight to the emulator.
//!
//! `cargo xtask bench gateway` (= `cargo bench -p vt-gateway --bench throughput`, release).
//! One process, loopback only: an emulator with a private key and `VT_BENCH_REPORTS` generated
//! reports (default 20,000; `vt_emulator::ServiceReport`, as the emulator's own benchmark:
//! 60 engines each, about 6.7 KB, the size of the service's), a
//! gateway in front of it with the default settings (200 ms window, 64 MiB of memory for
//! recent answers) on a SQLite store in a temp folder, a token, and C keep-alive HTTP/1.1
//! clients asking `file/report`: 25 hashes a request (a bulk client) or one (an analyst). The
//! lookup list names each report once (MD5 in lower case, SHA-256 in upper case, alternately).
//! For each shape and C, alternating rounds of:
//!
//! 1. **direct**: the emulator with the real key, over the list (from the start again when
//!    it ends);
//! 2. **misses**: a fresh gateway on an empty store, over the list from its start without
//!    wrapping: every lookup is a report the gateway has never seen;
//! 3. **hits**: a gateway that asked the whole list once beforehand, with memory enough for
//!    all of it, over the same list as the direct run;
//! 4. **store**: the same hits through a second gateway on the same store, without memory:
//!    every hit read from the store.
//!
//! Each run lasts `VT_BENCH_SECS` (default 1.0) and counts the resources answered within it
//! (what the window keeps after it does not count, and no run is slowed by it); the best of
//! `VT_BENCH_ROUNDS` (default 2) rounds is kept. Prints resources/s, the ratios to direct,
//! the CPU time of the whole process per resource (client, servers, kernel: steadier when
//! other processes share the cores; a PostgreSQL server's own is not in it), and, from the
//! emulator's counters, the upstream requests the gateway sent for the clients' requests of
//! the miss runs (coalescing). With `VT_TEST_POSTGRES_URL` set (`cargo xtask postgres`), the
//! gateways run again on fresh PostgreSQL databases. `VT_BENCH_SHAPES` (`25` or `1`) and
//! `VT_BENCH_CLIENTS` (`8` or `32`) pick scenarios; `VT_BENCH_STORES=sqlite` skips
//! PostgreSQL (`postgres` skips SQLite); `VT_BENCH_ONLY` (`direct`, `misses`, `hits` or
//! `store`) runs one kind of run, for profiling it. `VT_BENCH_LATENCY_MS` delays every
//! answer of the emulator by that much (its `slow` fault on every request), as the service's
//! round trip over the internet would: the direct and miss runs then measure what a client
//! sees of the gateway in front of a distant service, not the gateway's CPU against an
//! upstream that answers in microseconds (give the runs a few seconds: `VT_BENCH_SECS=3`). `VT_BENCH_WINDOW_MS` sets the gateways'
//! coalescing window (default the gateway's, 200 ms). Logs go to stderr as `vt-gateway serve`
//! writes them, at its default level (`info`) or `VT_BENCH_LOG_LEVEL` (`off`, `debug` for a
//! line a request: send stderr to a file).
#![allow(clippy::print_stdout, missing_docs)]

/// The allocator of the `vt-gateway` binary (and of `vt`), for the emulator and the clients
/// alike: what a deployed gateway runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Kind, TestStore, KEY};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use vt_emulator::{
    Dataset, Emulator, Fault, FaultKind, KeySpec, RunningEmulator, ServiceReport, Tier,
};
use vt_gateway::{Allow, Gateway, RunningGateway, CACHE_HEADER, DEFAULT_MEMORY_CACHE};

const ENGINES: usize = 60;
/// The shapes of requests: hashes per request.
const SHAPES: [usize; 2] = [25, 1];
/// Concurrent clients.
const CLIENTS: [usize; 2] = [8, 32];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Report `i` (the emulator's benchmark data: 60 engines, a few allinfo fields), and the hash
/// the list asks it by.
fn report(i: u64) -> (String, String) {
    let report = ServiceReport::generate(i, ENGINES);
    let asked = if i.is_multiple_of(2) {
        report.md5
    } else {
        report.sha256.to_ascii_uppercase()
    };
    (report.json, asked)
}

/// The request targets of `key` over `hashes`, `shape` hashes each.
fn targets(key: &str, hashes: &[String], shape: usize) -> Arc<Vec<String>> {
    Arc::new(
        hashes
            .chunks(shape)
            .map(|chunk| {
                format!(
                    "/vtapi/v2/file/report?apikey={key}&resource={}",
                    chunk.join(",")
                )
            })
            .collect(),
    )
}

type Client = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// CPU time of every thread of this process (servers and clients alike), in ns.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// What one run measured.
#[derive(Clone, Copy, Default)]
struct Run {
    /// Resources answered within the run's time, per second.
    per_sec: f64,
    /// CPU time of the whole process per resource, in µs (infinite: not read).
    cpu_us: f64,
    /// Requests answered, those after the run's time included.
    requests: u64,
    /// Answers by `X-VT-Gateway-Cache`: hit, and anything else.
    hits: u64,
    others: u64,
    /// Whether the list ended before the time did.
    ran_out: bool,
}

impl Run {
    const NONE: Run = Run {
        per_sec: 0.0,
        cpu_us: f64::INFINITY,
        requests: 0,
        hits: 0,
        others: 0,
        ran_out: false,
    };

    fn best(self, other: Run) -> Run {
        Run {
            per_sec: self.per_sec.max(other.per_sec),
            cpu_us: self.cpu_us.min(other.cpu_us),
            requests: self.requests + other.requests,
            hits: self.hits + other.hits,
            others: self.others + other.others,
            ran_out: self.ran_out || other.ran_out,
        }
    }
}

/// `clients` keep-alive clients taking the next target in turn for `secs` (from the start of
/// the list again when it ends, if `wrap`), each answer checked to be a 200.
async fn drive(
    addr: SocketAddr,
    targets: Arc<Vec<String>>,
    shape: usize,
    clients: usize,
    secs: f64,
    wrap: bool,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let in_time = Arc::new(AtomicU64::new(0));
    let (requests, hits, others) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let cpu_before = cpu_ns();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (targets, next, in_time, last) = (
            Arc::clone(&targets),
            Arc::clone(&next),
            Arc::clone(&in_time),
            Arc::clone(&last),
        );
        let (requests, hits, others) = (
            Arc::clone(&requests),
            Arc::clone(&hits),
            Arc::clone(&others),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = connect(addr).await;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= targets.len() && !wrap {
                    break;
                }
                let target = &targets[i % targets.len()];
                client.ready().await.expect("ready");
                let request = Request::get(target.as_str())
                    .header("host", addr.to_string())
                    .body(Empty::new())
                    .unwrap();
                let response = client.send_request(request).await.expect("answer");
                assert_eq!(response.status(), 200, "{target}");
                let hit = response
                    .headers()
                    .get(CACHE_HEADER)
                    .is_some_and(|v| v == "hit");
                response.into_body().collect().await.expect("body");
                let now = Instant::now();
                requests.fetch_add(1, Ordering::Relaxed);
                if hit { &hits } else { &others }.fetch_add(1, Ordering::Relaxed);
                if now <= deadline {
                    in_time.fetch_add(shape as u64, Ordering::Relaxed);
                    let mut last = last.lock().unwrap();
                    *last = (*last).max(now);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let cpu_after = cpu_ns();
    let ran_out = next.load(Ordering::Relaxed) >= targets.len() && !wrap;
    // A run that ran out of the list ends with its last answer; else with its time.
    let end = if ran_out {
        *last.lock().unwrap()
    } else {
        deadline
    };
    let resources = in_time.load(Ordering::Relaxed);
    let cpu = cpu_after.saturating_sub(cpu_before);
    let answered = requests.load(Ordering::Relaxed) * shape as u64;
    Run {
        per_sec: resources as f64 / (end - started).as_secs_f64(),
        // Every answer's CPU, those after the time included.
        cpu_us: if cpu_before == 0 || cpu == 0 || answered == 0 {
            f64::INFINITY
        } else {
            cpu as f64 / 1000.0 / answered as f64
        },
        requests: requests.load(Ordering::Relaxed),
        hits: hits.load(Ordering::Relaxed),
        others: others.load(Ordering::Relaxed),
        ran_out,
    }
}

/// A gateway on a fresh store of `kind` in front of `emulator`, and a token for it.
struct Fresh {
    gateway: RunningGateway,
    token: String,
    store: TestStore,
}

impl Fresh {
    /// With the default memory for recent answers.
    async fn start(kind: Kind, emulator: &RunningEmulator) -> Fresh {
        Fresh::with_memory(kind, emulator, DEFAULT_MEMORY_CACHE).await
    }

    async fn with_memory(kind: Kind, emulator: &RunningEmulator, memory: usize) -> Fresh {
        let store = TestStore::new(kind).await;
        let token = store
            .open()
            .await
            .add_token("bench", Allow::default(), None)
            .await
            .unwrap();
        let gateway = gateway(&store, emulator, memory).await;
        Fresh {
            gateway,
            token,
            store,
        }
    }
}

/// A gateway on `store` in front of `emulator` with `memory` bytes for recent answers, and
/// the window of `VT_BENCH_WINDOW_MS` when set.
async fn gateway(store: &TestStore, emulator: &RunningEmulator, memory: usize) -> RunningGateway {
    let mut builder = Gateway::builder(
        &emulator.url(),
        vt_api::ApiKey::new(KEY),
        store.open().await,
    )
    .tier(vt_api::Tier::Private)
    .memory_cache(memory);
    if let Some(window_ms) = window_ms() {
        builder = builder.window(Duration::from_millis(window_ms));
    }
    builder.start().await.unwrap()
}

fn window_ms() -> Option<u64> {
    std::env::var("VT_BENCH_WINDOW_MS").ok()?.parse().ok()
}

/// The emulator's `file/report` requests and resources asked so far.
fn upstream(emulator: &RunningEmulator) -> (u64, u64) {
    let stats = emulator.stats();
    (stats.endpoint("file/report"), stats.resources_asked)
}

/// The settings and the shared parts of every run.
struct Bench {
    emulator: RunningEmulator,
    hashes: Vec<String>,
    secs: f64,
    rounds: usize,
    /// `direct`, `misses`, `hits`, or empty for all.
    only: String,
}

/// What the runs of one scenario measured, the best of the rounds.
struct Scenario {
    direct: Run,
    misses: Run,
    /// Hits served from memory, and from the store alone.
    hits: Run,
    store_hits: Run,
    /// The clients' requests of the miss runs, and the upstream requests and resources the
    /// gateway sent for them.
    sent: u64,
    asked: (u64, u64),
    /// Upstream requests during the hit runs (none expected).
    hit_upstream: u64,
}

impl Bench {
    fn runs(&self, kind: &str) -> bool {
        self.only.is_empty() || self.only == kind
    }

    /// Every scenario on a store of `kind`.
    async fn store(&self, kind: Kind, scenarios: &[(usize, usize)]) {
        let name = match kind {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        };
        println!("\n{name} store");
        // The hits' gateway, with memory for the whole list (twice its size, as the older of
        // the two generations is dropped when the newer holds half), fills its store and its
        // memory by asking the whole list once, in batches; a second gateway on the same store
        // without memory serves its hits from the store alone.
        let memory = self.hashes.len() * (16 << 10);
        let warm = Fresh::with_memory(kind, &self.emulator, memory).await;
        let from_store = gateway(&warm.store, &self.emulator, 0).await;
        if self.runs("hits") || self.runs("store") {
            let started = Instant::now();
            let list = targets(&warm.token, &self.hashes, 25);
            // Until the list ends.
            let filled = drive(warm.gateway.addr(), list, 25, 32, 3600.0, false).await;
            println!(
                "the hits' gateway filled with the {} reports in {:.1} s ({:.0} resources/s, \
                 all misses, 32 clients of 25)",
                self.hashes.len(),
                started.elapsed().as_secs_f64(),
                filled.per_sec
            );
        }
        println!(
            "{:>5} {:>7} | {:>9} | {:>9} {:>6} | {:>9} {:>6} | {:>9} {:>6} | {:>22} | misses: \
             requests -> upstream (resources)",
            "shape",
            "clients",
            "direct",
            "misses",
            "ratio",
            "hits",
            "ratio",
            "store",
            "ratio",
            "CPU µs/res d/m/h/s"
        );
        for &(shape, clients) in scenarios {
            let s = self
                .scenario(kind, (&warm, &from_store), shape, clients)
                .await;
            let ratio = |run: &Run| 100.0 * run.per_sec / s.direct.per_sec;
            println!(
                "{shape:>5} {clients:>7} | {:>9.0} | {:>9.0} {:>5.1}% | {:>9.0} {:>5.1}% | \
                 {:>9.0} {:>5.1}% | {:>4.1} {:>5.1} {:>5.1} {:>5.1} | {} -> {} ({}){}",
                s.direct.per_sec,
                s.misses.per_sec,
                ratio(&s.misses),
                s.hits.per_sec,
                ratio(&s.hits),
                s.store_hits.per_sec,
                ratio(&s.store_hits),
                s.direct.cpu_us,
                s.misses.cpu_us,
                s.hits.cpu_us,
                s.store_hits.cpu_us,
                s.sent,
                s.asked.0,
                s.asked.1,
                if s.misses.ran_out {
                    "; the list ran out"
                } else {
                    ""
                }
            );
            // The scenarios are what they say: every miss asked upstream, every hit not.
            let not_hits = s.hits.others + s.store_hits.others;
            if s.misses.hits > 0 || not_hits > 0 || s.hit_upstream > 0 {
                println!(
                    "{:>15} note: {} hits among the misses' answers, {not_hits} others among \
                     the hits', {} upstream requests during the hits",
                    "", s.misses.hits, s.hit_upstream
                );
            }
        }
        from_store.shutdown().await;
        warm.gateway.shutdown().await;
    }

    /// The rounds of one shape and number of clients, each a direct run, a miss run on a fresh
    /// gateway and a hit run on each of `warm` (memory) and `from_store` (the store alone).
    async fn scenario(
        &self,
        kind: Kind,
        (warm, from_store): (&Fresh, &RunningGateway),
        shape: usize,
        clients: usize,
    ) -> Scenario {
        let direct_targets = targets(KEY, &self.hashes, shape);
        let hit_targets = targets(&warm.token, &self.hashes, shape);
        let mut s = Scenario {
            direct: Run::NONE,
            misses: Run::NONE,
            hits: Run::NONE,
            store_hits: Run::NONE,
            sent: 0,
            asked: (0, 0),
            hit_upstream: 0,
        };
        let emulator = &self.emulator;
        for _ in 0..self.rounds {
            if self.runs("direct") {
                let list = Arc::clone(&direct_targets);
                let run = drive(emulator.addr(), list, shape, clients, self.secs, true).await;
                s.direct = s.direct.best(run);
            }
            if self.runs("misses") {
                let fresh = Fresh::start(kind, emulator).await;
                let list = targets(&fresh.token, &self.hashes, shape);
                let before = upstream(emulator);
                let run = drive(fresh.gateway.addr(), list, shape, clients, self.secs, false).await;
                let after = upstream(emulator);
                s.asked.0 += after.0 - before.0;
                s.asked.1 += after.1 - before.1;
                s.sent += run.requests;
                s.misses = s.misses.best(run);
                fresh.gateway.shutdown().await;
            }
            let before = upstream(emulator);
            let hit_runs = [
                ("hits", &warm.gateway, &mut s.hits),
                ("store", from_store, &mut s.store_hits),
            ];
            for (kind, gateway, best) in hit_runs {
                if self.runs(kind) {
                    let list = Arc::clone(&hit_targets);
                    let run = drive(gateway.addr(), list, shape, clients, self.secs, true).await;
                    *best = best.best(run);
                }
            }
            s.hit_upstream += upstream(emulator).0 - before.0;
        }
        s
    }
}

fn main() {
    let reports: u64 = env_or("VT_BENCH_REPORTS", 20_000);
    let secs: f64 = env_or("VT_BENCH_SECS", 1.0);
    let rounds: usize = env_or("VT_BENCH_ROUNDS", 2);
    let only_shape: usize = env_or("VT_BENCH_SHAPES", 0);
    let only_clients: usize = env_or("VT_BENCH_CLIENTS", 0);
    let scenarios: Vec<(usize, usize)> = SHAPES
        .iter()
        .flat_map(|&shape| CLIENTS.iter().map(move |&clients| (shape, clients)))
        .filter(|&(shape, clients)| {
            (only_shape == 0 || only_shape == shape)
                && (only_clients == 0 || only_clients == clients)
        })
        .collect();
    let stores: String = env_or("VT_BENCH_STORES", String::new());
    let mut kinds = Vec::new();
    if stores != "postgres" {
        kinds.push(Kind::Sqlite);
    }
    if std::env::var_os("VT_TEST_POSTGRES_URL").is_some() && stores != "sqlite" {
        kinds.push(Kind::Postgres);
    }
    // Logs as `vt-gateway serve` writes them (its default level unless told), so that what
    // a deployed gateway logs for each request is measured with it: the subscriber of
    // main.rs's `init_logs`, written again here because the library may not write to stderr
    // (tidy); keep the two alike.
    let log_level: tracing_subscriber::filter::LevelFilter = env_or(
        "VT_BENCH_LOG_LEVEL",
        tracing_subscriber::filter::LevelFilter::INFO,
    );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(log_level)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let load_started = Instant::now();
    let mut dataset = Dataset::new();
    let mut hashes = Vec::with_capacity(reports as usize);
    for i in 0..reports {
        let (json, asked) = report(i);
        dataset
            .add_json("generated", json.as_bytes())
            .expect("a generated report loads");
        hashes.push(asked);
    }
    let latency_ms: u64 = env_or("VT_BENCH_LATENCY_MS", 0);
    let mut emulator = Emulator::builder()
        .dataset(dataset)
        .key(KeySpec::new(KEY, Tier::Private).unwrap());
    if latency_ms > 0 {
        emulator = emulator
            .fault(Fault::new(FaultKind::Slow, 1.0).unwrap())
            .slow_delay(Duration::from_millis(latency_ms));
    }
    let emulator = emulator.build().unwrap();
    println!(
        "vt-gateway throughput: {reports} reports ({ENGINES} engines) loaded in {:.1} s; {secs} s \
         per run, best of {rounds} alternating rounds",
        load_started.elapsed().as_secs_f64()
    );
    if latency_ms > 0 {
        println!("every answer of the emulator delayed by {latency_ms} ms (VT_BENCH_LATENCY_MS)");
    }
    if let Some(window_ms) = window_ms() {
        println!("the gateways' window {window_ms} ms (VT_BENCH_WINDOW_MS)");
    }
    runtime.block_on(async move {
        let bench = Bench {
            emulator: emulator.start().await.unwrap(),
            hashes,
            secs,
            rounds,
            only: env_or("VT_BENCH_ONLY", String::new()),
        };
        let first = &targets(KEY, &bench.hashes, 25)[0];
        let mut client = connect(bench.emulator.addr()).await;
        let request = Request::get(first.as_str()).body(Empty::new()).unwrap();
        let answers = client.send_request(request).await.unwrap().into_body();
        let size = answers.collect().await.unwrap().to_bytes().len() / 25;
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load.split_whitespace().next().unwrap_or("?");
        println!("answers of about {size} B each; load average {load}");
        for kind in kinds {
            bench.store(kind, &scenarios).await;
        }
        bench.emulator.shutdown().await;
    });
}
