//! Bulk lookups: 100,000 resources through `Client::file_reports` (private tier) against the
//! in-process `vt-emulator` over loopback TCP, in hashes per second; beside it, the ceiling:
//! the very same requests sent straight through the transport (hyper) by a loop that only
//! reads the bytes, with the same number in flight. The ratio is what the API layer (batching,
//! scanning and matching answers, bookkeeping) costs; answers are passed on undecoded, as
//! `vt --format jsonl` writes them. Beside them: the client with the typed view of every
//! answer built (what the table and CSV need), and the ceiling that decodes every body.
//!
//! Run: `cargo bench -p vt-api --bench batch` (or `cargo xtask bench`).
//! Knobs: `VT_BENCH_RESOURCES` (default 100000), `VT_BENCH_ROUNDS` (default 3, best kept),
//! `VT_BENCH_ONLY` (`client` or `ceiling`: that run alone, undecoded, for profiling it).
//! It runs with mimalloc, the allocator of `vt` (with the system allocator, the client's
//! many small allocations and frees across threads make its figures vary by 1.6x from round
//! to round).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

/// The allocator `vt` runs with (both the client and the ceiling use it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use vt_api::{ApiKey, Client, Resource, Tier};
use vt_emulator::{Dataset, Emulator, KeySpec};
use vt_transport::{HyperTransport, Transport};

const KEY: &str = "bench-private-key";
/// One resource in this many is in the emulator's dataset; the others are not found.
const FOUND_EVERY: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A report in the shape of the service's public answer, 60 engines.
fn report(i: usize) -> serde_json::Value {
    let sha256 = format!("{i:064x}");
    let mut scans = serde_json::Map::new();
    for e in 0..60 {
        let detected = (i + e).is_multiple_of(4);
        scans.insert(
            format!("Engine{e:02}"),
            serde_json::json!({
                "detected": detected,
                "version": format!("{e}.0.{}", i % 97),
                "result": if detected { serde_json::Value::from(format!("Trojan.Gen.{}", i % 1000)) } else { serde_json::Value::Null },
                "update": "20261120",
            }),
        );
    }
    serde_json::json!({
        "response_code": 1, "verbose_msg": "Scan finished, information embedded",
        "resource": sha256, "scan_id": format!("{sha256}-1795000000"),
        "md5": format!("{i:032x}"), "sha1": format!("{i:040x}"), "sha256": sha256,
        "scan_date": "2026-11-18 08:53:20",
        "permalink": format!("https://www.virustotal.com/gui/file/{sha256}/detection/f-{sha256}-1795000000"),
        "positives": 15, "total": 60, "scans": scans,
    })
}

fn main() {
    let resources = env_usize("VT_BENCH_RESOURCES", 100_000);
    let rounds = env_usize("VT_BENCH_ROUNDS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let mut dataset = Dataset::new();
        let reports: Vec<serde_json::Value> = (0..resources / FOUND_EVERY).map(report).collect();
        let json = serde_json::to_vec(&reports).expect("reports encode");
        dataset.add_json("bench", &json).expect("reports load");
        // Freed now, not after the runs (a profile of them would show it).
        drop((reports, json));
        let emulator = Emulator::builder()
            .key(KeySpec::new(KEY, vt_emulator::Tier::Private).expect("a key"))
            .dataset(dataset)
            .start()
            .await
            .expect("the emulator starts");
        // Found ones are asked by MD5, the rest by SHA-256s the dataset does not hold.
        let inputs: Vec<Resource> = (0..resources)
            .map(|i| {
                let text = if i.is_multiple_of(FOUND_EVERY) {
                    format!("{:032x}", i / FOUND_EVERY)
                } else {
                    format!("{:064x}", usize::MAX - i)
                };
                text.parse().expect("a valid resource")
            })
            .collect();
        let limits = Tier::Private.limits();
        let transport = Arc::new(HyperTransport::new().expect("a transport"));
        let client = Client::builder(ApiKey::new(KEY))
            .base_url(emulator.url())
            .tier(Tier::Private)
            .transport(transport.clone())
            .build()
            .expect("a client");
        // The ceiling's requests: the same form bodies the client sends.
        let url = format!("{}file/report", emulator.url());
        let bodies: Vec<Bytes> = inputs
            .chunks(limits.batch_size)
            .map(|chunk| {
                let joined: Vec<&str> = chunk.iter().map(Resource::as_str).collect();
                Bytes::from(format!("apikey={KEY}&resource={}", joined.join("%2C")))
            })
            .collect();

        println!(
            "{resources} resources ({} found), private tier: batches of {}, {} in flight, loopback emulator",
            resources / FOUND_EVERY,
            limits.batch_size,
            limits.concurrency
        );
        let mut best_client = Duration::MAX;
        let mut best_client_decoding = Duration::MAX;
        let mut best_ceiling = Duration::MAX;
        let mut best_decoding = Duration::MAX;
        let rate = |took: Duration| resources as f64 / took.as_secs_f64();
        match std::env::var("VT_BENCH_ONLY").as_deref() {
            Ok("client") => {
                for round in 1..=rounds {
                    let took = through_client(&client, &inputs, false).await;
                    println!("round {round}: client {:>9.0} hashes/s", rate(took));
                }
                return;
            }
            Ok("ceiling") => {
                for round in 1..=rounds {
                    let took = ceiling(&transport, &url, &bodies, limits.concurrency, false).await;
                    println!("round {round}: ceiling {:>9.0} hashes/s", rate(took));
                }
                return;
            }
            _ => {}
        }
        for round in 1..=rounds {
            let ceiling_time = ceiling(&transport, &url, &bodies, limits.concurrency, false).await;
            let decoding = ceiling(&transport, &url, &bodies, limits.concurrency, true).await;
            let through_client_decoding = through_client(&client, &inputs, true).await;
            let through_client = through_client(&client, &inputs, false).await;
            println!(
                "round {round}: client {:>9.0} hashes/s   ceiling {:>9.0} hashes/s   client + decoding {:>9.0} hashes/s   ceiling + decoding {:>9.0} hashes/s",
                rate(through_client),
                rate(ceiling_time),
                rate(through_client_decoding),
                rate(decoding)
            );
            best_client = best_client.min(through_client);
            best_client_decoding = best_client_decoding.min(through_client_decoding);
            best_ceiling = best_ceiling.min(ceiling_time);
            best_decoding = best_decoding.min(decoding);
        }
        let (client_rate, ceiling_rate) = (rate(best_client), rate(best_ceiling));
        let decoding_rate = rate(best_decoding);
        println!(
            "best: client {client_rate:.0} hashes/s, ceiling {ceiling_rate:.0} hashes/s, ratio {:.1}%",
            100.0 * client_rate / ceiling_rate
        );
        let client_decoding_rate = rate(best_client_decoding);
        println!(
            "      client with the typed view of every answer {client_decoding_rate:.0} hashes/s; \
             ceiling + typed decoding {decoding_rate:.0} hashes/s: {:.1}% of it",
            100.0 * client_decoding_rate / decoding_rate
        );
        emulator.shutdown().await;
    });
}

/// The stream of outcomes; `decode`: also build the typed view of every answer (what the
/// table and CSV need; jsonl and json pass the bytes through).
async fn through_client(client: &Client, inputs: &[Resource], decode: bool) -> Duration {
    let start = Instant::now();
    let mut outcomes = client.file_reports(inputs.iter().cloned(), false);
    let mut n = 0usize;
    while let Some(outcome) = outcomes.next().await {
        let answer = outcome.result.expect("an answer");
        if decode {
            answer.answer().expect("a typed answer");
        }
        n += 1;
    }
    assert_eq!(n, inputs.len());
    start.elapsed()
}

/// The requests straight through the transport, `in_flight` at once; with `decode`, each
/// body is also decoded into typed answers, as the client must (then dropped).
async fn ceiling(
    transport: &HyperTransport,
    url: &str,
    bodies: &[Bytes],
    in_flight: usize,
    decode: bool,
) -> Duration {
    let start = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut next = bodies.iter();
    loop {
        while pending.len() < in_flight {
            let Some(body) = next.next() else { break };
            let request = http::Request::post(url)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.clone())
                .expect("a request");
            pending.push(transport.send(request));
        }
        match pending.next().await {
            Some(response) => {
                let response = response.expect("a response");
                assert_eq!(response.status(), 200);
                let body = response.into_body();
                if decode {
                    let answers = vt_model::decode_body_spans(&body).expect("answers decode");
                    std::hint::black_box(answers);
                }
                std::hint::black_box(body);
            }
            None => break,
        }
    }
    start.elapsed()
}
