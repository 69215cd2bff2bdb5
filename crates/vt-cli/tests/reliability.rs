//! Issue #6: every resource answered exactly once, whatever the network does.
//!
//! The real `vt` binary against the real emulator (or a server that never answers) over
//! loopback, in temp dirs: faults retried into the same output as a fault-free run, a run
//! killed with SIGKILL and started again, a service that hangs. `cargo xtask soak` is the long
//! version of the first test (docs/reliability.md).

mod common;

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use vt_emulator::{Dataset, EmulatorBuilder, Fault, Synthetic, SOAK_FAULTS};

/// With this seed every kind of fault is among the first 17 draws (one draw a request: reset
/// 2nd, 204 3rd, truncate 9th, slow 14th, 500 17th), so a run of 17 requests or more meets
/// each of them whatever the order of its requests.
const SEED: u64 = 1755;
/// The clock of `vt` runs this much faster: a 204's minute is one second, backoffs are
/// milliseconds.
const TIME_SCALE: u32 = 60;
/// `--timeout` on that clock: 2 s of real time, far above a loopback answer even on a loaded
/// machine, and below the `slow` fault's delay, so that a `slow` answer is cut and retried.
const TIMEOUT: &str = "120s";
const SLOW: Duration = Duration::from_secs(4);

/// Generated reports, and inputs asking for them (see [`Synthetic`]), as the soak makes them.
struct Corpus {
    json: String,
    inputs: Vec<String>,
}

impl Corpus {
    fn new(n: usize, seed: u64) -> Corpus {
        let Synthetic {
            reports_json,
            inputs,
            ..
        } = Synthetic::generate(n, seed);
        Corpus {
            json: reports_json,
            inputs,
        }
    }

    /// A [`standard_emulator`] that serves the reports instead of the bundled dataset.
    fn emulator(&self) -> EmulatorBuilder {
        let mut dataset = Dataset::new();
        dataset.add_json("generated", self.json.as_bytes()).unwrap();
        standard_emulator().dataset(dataset)
    }

    /// How many different resources the inputs name (the client's view: case aside).
    fn distinct(&self) -> u64 {
        self.inputs
            .iter()
            .map(|r| r.to_ascii_lowercase())
            .collect::<HashSet<_>>()
            .len() as u64
    }

    /// How many files the inputs name: a file asked by two of its hashes is asked once when
    /// the cache answers the second from the first (a found report names all three).
    fn distinct_files(&self) -> u64 {
        let reports: Vec<serde_json::Value> = serde_json::from_str(&self.json).unwrap();
        let mut file_of = std::collections::HashMap::new();
        for (i, report) in reports.iter().enumerate() {
            for kind in ["md5", "sha1", "sha256"] {
                if let Some(hash) = report[kind].as_str() {
                    file_of.insert(hash.to_ascii_lowercase(), i.to_string());
                }
            }
        }
        self.inputs
            .iter()
            .map(|r| r.to_ascii_lowercase())
            .map(|r| file_of.get(&r).cloned().unwrap_or(r))
            .collect::<HashSet<_>>()
            .len() as u64
    }

    /// The inputs, one a line, in a file of `env`'s temp dir.
    fn write(&self, env: &Env) -> PathBuf {
        env.write("inputs.txt", self.inputs.join("\n") + "\n")
    }
}

/// `vt file report --format jsonl` against `base_url`, the key in `VT_API_KEY`, the cache in
/// `cache` (a name under the temp dir).
fn vt(env: &Env, base_url: &str, cache: &str) -> Command {
    let mut command = env.vt_at(base_url);
    command
        .env("VT_API_KEY", KEY)
        .env("VT_CACHE_DIR", env.path(cache))
        .args(["file", "report", "--tier", "private", "--format", "jsonl"]);
    command
}

/// Exactly one record per input, in input order, none of them a failure.
fn assert_one_answer_per_input(stdout: &str, inputs: &[String]) {
    let records = lines_as_json(stdout);
    assert_eq!(records.len(), inputs.len(), "one record per input");
    for (n, (record, input)) in records.iter().zip(inputs).enumerate() {
        let resource = record["resource"].as_str().unwrap_or_default();
        assert!(
            resource.eq_ignore_ascii_case(input),
            "record {n} is about {resource:?}, not {input:?}"
        );
        assert!(record.get("error").is_none(), "record {n} failed: {record}");
    }
}

#[test]
fn faults_are_retried_into_the_same_output_as_a_fault_free_run() {
    let corpus = Corpus::new(1_000, 6);
    let mut env = Env::empty();
    let inputs = corpus.write(&env);
    let clean = env.start(corpus.emulator());
    let mut faulty = corpus.emulator();
    for fault in SOAK_FAULTS {
        faulty = faulty.fault(fault.parse::<Fault>().unwrap());
    }
    let faulty = env.start(faulty.seed(SEED).slow_delay(SLOW));

    let expected = run(vt(&env, &env.emulator(clean).url(), "cache-clean")
        .arg("-i")
        .arg(&inputs));
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    assert_one_answer_per_input(&expected.stdout, &corpus.inputs);

    let out = run(vt(&env, &env.emulator(faulty).url(), "cache-faulty")
        .env("VT_TESTING_TIME_SCALE", TIME_SCALE.to_string())
        .args(["--timeout", TIMEOUT])
        .arg("-i")
        .arg(&inputs));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout == expected.stdout, "the outputs differ");
    assert_one_answer_per_input(&out.stdout, &corpus.inputs);

    let (clean, faulty) = (env.emulator(clean).stats(), env.emulator(faulty).stats());
    for fault in SOAK_FAULTS {
        let kind = fault.parse::<Fault>().unwrap().kind();
        assert!(faulty.fault(kind) > 0, "no {kind} fault: {faulty:?}");
    }
    assert!(faulty.requests > clean.requests, "{clean:?}\n{faulty:?}");
    // A fresh cache answers a repeat that is far from its first copy, and a file asked by
    // another of its hashes once its report is in: the fault-free run asks for each resource
    // once at most and each file at least once, and the other run asks again only what a
    // fault cut off (at most a batch of 25 a fault).
    let (distinct, files) = (corpus.distinct(), corpus.distinct_files());
    assert!(
        files <= clean.resources_asked && clean.resources_asked <= distinct,
        "{files} files, {distinct} resources: {clean:?}"
    );
    let faults: u64 = faulty.faults.values().sum();
    assert!(
        files < faulty.resources_asked && faulty.resources_asked <= distinct + 25 * faults,
        "{faulty:?}"
    );
}

#[test]
fn a_killed_run_started_again_asks_only_for_what_it_had_not_received() {
    let corpus = Corpus::new(2_000, 9);
    let distinct = corpus.distinct();
    let mut env = Env::empty();
    let inputs = corpus.write(&env);
    let clean = env.start(corpus.emulator());
    // Every answer takes 25 ms, one request at a time: the run lasts long enough to be
    // killed halfway.
    let paced = env.start(
        corpus
            .emulator()
            .fault("slow:1".parse().unwrap())
            .slow_delay(Duration::from_millis(25)),
    );
    let expected = run(vt(&env, &env.emulator(clean).url(), "cache-clean")
        .arg("-i")
        .arg(&inputs));
    assert_eq!(expected.code, 0, "{}", expected.stderr);

    const BATCH: u64 = 25;
    const CONCURRENCY: u64 = 1;
    let url = env.emulator(paced).url();
    let paced_run = || {
        let mut command = vt(&env, &url, "cache");
        command
            .args(["--batch-size", &BATCH.to_string()])
            .args(["--concurrency", &CONCURRENCY.to_string()])
            .arg("-i")
            .arg(&inputs);
        command
    };
    let mut first = paced_run()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + GUARD;
    while env.emulator(paced).stats().resources_asked < distinct / 2 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "the run does not progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let asked_first = settled(|| env.emulator(paced).stats().resources_asked);

    // The cache is the journal: it holds every batch whose answer had arrived, whole (one
    // transaction a batch), and nothing else.
    let cache = vt_api::Cache::open(env.path("cache").join("file-report.sqlite3")).unwrap();
    cache.check_integrity().unwrap();
    let kept = cache.len().unwrap() as u64;
    drop(cache);
    assert!(
        0 < kept && kept < distinct,
        "killed halfway: {kept} of {distinct}"
    );
    // Lost to the kill: what was asked and not yet stored, at most the requests in flight.
    assert!(
        kept <= asked_first && asked_first - kept <= BATCH * CONCURRENCY,
        "asked {asked_first}, stored {kept}"
    );

    let second = run(&mut paced_run());
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stdout == expected.stdout, "the outputs differ");
    assert_one_answer_per_input(&second.stdout, &corpus.inputs);
    // The second run asks for what the cache did not hold (less the files it holds under
    // another of their hashes), each once.
    let asked_second = env.emulator(paced).stats().resources_asked - asked_first;
    assert!(
        asked_second <= distinct - kept,
        "{asked_second} > {distinct} - {kept}"
    );
    assert!(kept + asked_second >= corpus.distinct_files());
    assert!(asked_first + asked_second <= distinct + BATCH * CONCURRENCY);
}

/// The value once it has stopped changing (a request written just before the kill may still
/// be on its way to the emulator).
fn settled(read: impl Fn() -> u64) -> u64 {
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// A TCP server that accepts connections and never completes an answer: `silent` says
/// nothing at all; otherwise, once a request has come, it sends a 200's headers and then one
/// byte of the body every 100 ms, for ever. It stops by itself when dropped (or after
/// [`GUARD`]).
struct Hanging {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hanging {
    fn start(silent: bool) -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, connections) = (Arc::clone(&stop), Arc::clone(&connections));
            std::thread::spawn(move || {
                let deadline = Instant::now() + GUARD;
                // Each connection, and whether its request has come (the headers go only
                // then: sent at once, they could reach the client before its request left,
                // and hyper refuses an answer to nothing asked, a transport error, not the
                // timeout this server is for).
                let mut open: Vec<(TcpStream, bool)> = Vec::new();
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    while let Ok((stream, _)) = listener.accept() {
                        connections.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_nonblocking(true);
                        open.push((stream, false));
                    }
                    if !silent {
                        use std::io::{Read, Write};
                        for (stream, asked) in &mut open {
                            if *asked {
                                let _ = stream.write_all(b" ");
                            } else if stream.read(&mut [0; 4096]).is_ok_and(|n| n > 0) {
                                *asked = true;
                                let _ = stream.write_all(
                                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                      Content-Length: 100000\r\n\r\n[",
                                );
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Hanging {
            addr,
            stop,
            connections,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/vtapi/v2/", self.addr)
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `vt --timeout 1s --retries 2` against a server that never completes an answer: exit 1, a
/// `timeout` record for each input in input order, and three attempts a request.
fn check_hanging_service(silent: bool) {
    let env = Env::empty();
    let server = Hanging::start(silent);
    let inputs: Vec<String> = (0..5).map(|i| format!("{i:064x}")).collect();
    let out = run(vt(&env, &server.url(), "cache")
        .args(["--timeout", "1s", "--retries", "2", "--batch-size", "2"])
        .args(&inputs));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), inputs.len(), "{}", out.stdout);
    for (record, input) in records.iter().zip(&inputs) {
        assert_eq!(record["resource"], input.as_str());
        assert_eq!(record["error"]["kind"], "timeout", "{record}");
    }
    // Each retry is said in words, with the attempt and the wait.
    assert!(
        out.stderr
            .contains("attempt 1 of 3 for 2 resources failed (no answer within")
            && out.stderr.contains("); retrying in "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("5 of 5 lookups failed"),
        "{}",
        out.stderr
    );
    // Three requests (2 + 2 + 1 resources), three attempts each, each on a new connection
    // (a timed-out one is not reused).
    assert_eq!(server.connections.load(Ordering::Relaxed), 9);
}

#[test]
fn a_service_that_never_answers_ends_in_timeout_records_not_a_hang() {
    check_hanging_service(true);
}

#[test]
fn a_service_that_sends_headers_then_trickles_the_body_is_cut_by_the_deadline() {
    check_hanging_service(false);
}
