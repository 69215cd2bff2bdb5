//! Throughput of the emulator against a minimal hyper server answering the same bytes.
//!
//! `cargo bench -p vt-emulator` (release). Self-contained: loads generated reports (100,000 by
//! default, `VT_BENCH_REPORTS` to change), starts the emulator and the ceiling server on
//! `127.0.0.1:0`, and drives each with a keep-alive hyper client over several connections, for
//! a bounded time and number of requests (`VT_BENCH_SECS` per run, default 1.5;
//! `VT_BENCH_ROUNDS` alternating runs of each, default 4). Prints, for single-resource and
//! 25-resource requests, requests/s and their ratio, the CPU time of the whole process per
//! request (steadier when other processes share the cores), a digest of the answers (equal
//! digests: byte-identical answers), and the RSS. `VT_BENCH_GZIP=1` asks for gzip answers
//! (`Accept-Encoding: gzip`): the emulator compresses each answer, the ceiling serves the
//! compressed bytes it fetched (what caching the compressed forms would cost).
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use vt_emulator::{Dataset, Emulator, KeySpec, ServiceReport, Tier};

const CONNECTIONS: usize = 16;
const MAX_REQUESTS: u64 = 5_000_000;
const ENGINES: usize = 60;
const TARGETS: usize = 1024;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `Name:   N kB` line of a /proc file, in KiB.
fn proc_kib(file: &str, name: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    proc_kib("/proc/self/status", "VmRSS:")
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

/// Whether the answers are asked for gzipped (`VT_BENCH_GZIP=1`).
fn gzip() -> bool {
    static GZIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GZIP.get_or_init(|| env_or("VT_BENCH_GZIP", 0u8) == 1)
}

async fn fetch(client: &mut Client, addr: SocketAddr, target: &str) -> (u16, Bytes) {
    client.ready().await.expect("ready");
    let mut request = Request::get(target).header("host", addr.to_string());
    if gzip() {
        request = request.header("accept-encoding", "gzip");
    }
    let request = request.body(Empty::new()).unwrap();
    let response = client.send_request(request).await.expect("answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// CPU time of every thread of this process (server and client alike), in ns.
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
#[derive(Clone, Copy)]
struct Run {
    per_sec: f64,
    /// CPU time of the whole process per request, in µs: steadier than requests/s when other
    /// processes take turns on the cores.
    cpu_us: f64,
}

impl Run {
    /// No run yet; also the `cpu_us` of a run whose CPU time could not be read.
    const NONE: Run = Run {
        per_sec: 0.0,
        cpu_us: f64::INFINITY,
    };

    fn best(self, other: Run) -> Run {
        Run {
            per_sec: self.per_sec.max(other.per_sec),
            cpu_us: self.cpu_us.min(other.cpu_us),
        }
    }
}

/// Requests over `CONNECTIONS` keep-alive connections, for `secs` or `MAX_REQUESTS`.
async fn drive(addr: SocketAddr, targets: Arc<Vec<(String, usize)>>, secs: f64) -> Run {
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_ns();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let targets = Arc::clone(&targets);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let mut client = connect(addr).await;
            let mut i = c * 61;
            while Instant::now() < deadline && done.load(Ordering::Relaxed) < MAX_REQUESTS {
                let (target, expected_len) = &targets[i % targets.len()];
                let (status, body) = fetch(&mut client, addr, target).await;
                assert_eq!((status, body.len()), (200, *expected_len), "{target}");
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let requests = done.load(Ordering::Relaxed) as f64;
    let cpu_after = cpu_ns();
    // A thread that exits between the readings takes its time out of the second sum (so
    // saturating); no schedstat reads 0 (no figure at all).
    let cpu = cpu_after.saturating_sub(cpu_before);
    Run {
        per_sec: requests / started.elapsed().as_secs_f64(),
        cpu_us: if cpu_before == 0 || cpu_after == 0 || cpu == 0 {
            Run::NONE.cpu_us
        } else {
            cpu as f64 / 1000.0 / requests
        },
    }
}

/// The ceiling: hyper answering the same bytes from a map, with nothing else to do.
async fn ceiling(answers: Arc<HashMap<String, Bytes>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let answers = Arc::clone(&answers);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let body = request
                            .uri()
                            .path_and_query()
                            .and_then(|pq| answers.get(pq.as_str()))
                            .cloned()
                            .unwrap_or_default();
                        async move {
                            let mut response = Response::new(Full::new(body));
                            response
                                .headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn main() {
    let reports: u64 = env_or("VT_BENCH_REPORTS", 100_000);
    let secs: f64 = env_or("VT_BENCH_SECS", 1.5);
    // For profiling one side: `emulator` or `ceiling` (default: both).
    let only: String = env_or("VT_BENCH_ONLY", String::new());
    // Runs alternate between the two servers; the best of each is kept, so that another
    // process stealing the CPU for a while does not decide the ratio.
    let rounds: usize = env_or("VT_BENCH_ROUNDS", 4);
    // `1`, `25`, or both (default).
    let sizes: String = env_or("VT_BENCH_SIZES", String::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let rss_before = rss_kib();
    let load_started = Instant::now();
    let mut dataset = Dataset::new();
    let mut md5s = Vec::new();
    let mut sha256s = Vec::new();
    for i in 0..reports {
        let generated = ServiceReport::generate(i, ENGINES);
        dataset
            .add_json("generated", generated.json.as_bytes())
            .expect("a generated report loads");
        if i % (reports / 2048).max(1) == 0 {
            md5s.push(generated.md5);
            sha256s.push(generated.sha256.to_uppercase());
        }
    }
    let load_time = load_started.elapsed();
    let emulator = Emulator::builder()
        .dataset(dataset)
        .key(KeySpec::new("bench", Tier::Private).unwrap())
        .build()
        .unwrap();
    let rss_after = rss_kib();
    let huge_after = proc_kib("/proc/self/smaps_rollup", "AnonHugePages:");
    let served = emulator.reports();

    runtime.block_on(async move {
        let running = emulator.start().await.unwrap();
        let emu_addr = running.addr();
        let single: Vec<String> = (0..TARGETS)
            .map(|i| {
                let resource = if i % 2 == 0 { &md5s[i % md5s.len()] } else { &sha256s[i % sha256s.len()] };
                format!("/vtapi/v2/file/report?apikey=bench&resource={resource}")
            })
            .collect();
        let batch: Vec<String> = (0..TARGETS)
            .map(|i| {
                let resources: Vec<&str> = (0..25)
                    .map(|j| {
                        let k = i * 25 + j;
                        if j % 2 == 0 { md5s[k % md5s.len()].as_str() } else { sha256s[k % sha256s.len()].as_str() }
                    })
                    .collect();
                format!("/vtapi/v2/file/report?apikey=bench&resource={}", resources.join(",%20"))
            })
            .collect();
        println!(
            "vt-emulator throughput: {served} reports loaded in {:.1} s; {CONNECTIONS} keep-alive connections, {secs} s per run, best of {rounds} alternating runs",
            load_time.as_secs_f64()
        );
        for (name, targets) in [("1 resource", single), ("25 resources", batch)] {
            if !sizes.is_empty() && !name.starts_with(&format!("{sizes} ")) {
                continue;
            }
            // The emulator's answers, fetched once: the ceiling serves the same bytes.
            let mut client = connect(emu_addr).await;
            let mut answers = HashMap::new();
            let mut with_len = Vec::new();
            for target in &targets {
                let (status, body) = fetch(&mut client, emu_addr, target).await;
                assert_eq!(status, 200);
                with_len.push((target.clone(), body.len()));
                answers.insert(target.clone(), body);
            }
            let mean_len = with_len.iter().map(|(_, l)| l).sum::<usize>() / with_len.len();
            // FNV-1a of every answer in order: equal digests across versions of the emulator
            // mean byte-identical answers.
            let digest = targets.iter().flat_map(|t| answers[t].iter()).fold(
                0xcbf2_9ce4_8422_2325_u64,
                |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3),
            );
            let ceiling_addr = ceiling(Arc::new(answers)).await;
            let targets = Arc::new(with_len);
            let _ = drive(emu_addr, Arc::clone(&targets), secs / 4.0).await; // warm-up
            let mut best_emu = Run::NONE;
            let mut best_ceiling = Run::NONE;
            for _ in 0..rounds {
                if only != "emulator" {
                    best_ceiling =
                        best_ceiling.best(drive(ceiling_addr, Arc::clone(&targets), secs).await);
                }
                if only != "ceiling" {
                    best_emu = best_emu.best(drive(emu_addr, Arc::clone(&targets), secs).await);
                }
            }
            println!(
                "{name:>13} ({mean_len:>6} B answers, digest {digest:016x}): emulator {:>9.0} req/s   ceiling {:>9.0} req/s   ratio {:.1}%",
                best_emu.per_sec,
                best_ceiling.per_sec,
                100.0 * best_emu.per_sec / best_ceiling.per_sec
            );
            // Only when both sides' CPU time was read (schedstat exists).
            if best_emu.cpu_us.is_finite() && best_ceiling.cpu_us.is_finite() {
                println!(
                    "{:>13}  CPU per request (client, server and kernel): emulator {:.1} µs   ceiling {:.1} µs   ratio {:.1}%",
                    "",
                    best_emu.cpu_us,
                    best_ceiling.cpu_us,
                    100.0 * best_ceiling.cpu_us / best_emu.cpu_us
                );
            }
        }
        let stats = running.stats();
        println!(
            "emulator answered {} requests ({} resources); by status {:?}",
            stats.requests, stats.resources_asked, stats.by_status
        );
        running.shutdown().await;
    });
    println!(
        "RSS: {} MiB before loading, {} MiB with {served} reports loaded ({:.1} KiB per report; {} MiB of it in huge pages)",
        rss_before / 1024,
        rss_after / 1024,
        (rss_after.saturating_sub(rss_before)) as f64 / served.max(1) as f64,
        huge_after / 1024
    );
}
