//! Many clients at once through one gateway whose upstream fails and shuffles: every request
//! gets exactly one answer, and an answer is never another request's.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{data, emulator, gateway, get, raw, start_emulator, token, Kind, TestStore};
use vt_emulator::{Fault, FaultKind, Tier};
use vt_gateway::{Allow, CACHE_HEADER};

const CLIENTS: usize = 12;
const REQUESTS_EACH: usize = 10;
/// The files at the head of the pool that every client asks often.
const HOT: usize = 40;

/// A small deterministic generator (xorshift64*): the same lists on every run.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// A client's requests: mostly `file/report` of one to 25 resources of `pool` (the
/// emulator's known and unknown files), some in the other letter case, some asked twice in
/// one request; a fifth `url/report` of one to four URLs, or of the same hashes (the same
/// text must not find the other endpoint's answers).
fn requests(pool: &[String], seed: u64) -> Vec<(&'static str, String)> {
    let mut draw = Draw(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..REQUESTS_EACH)
        .map(|_| {
            let (endpoint, most, separator) = if draw.below(5) == 0 {
                ("url/report", 4, "\n")
            } else {
                ("file/report", 25, ",")
            };
            let size = match draw.below(4) {
                0 => 1,
                1 => most,
                _ => 1 + draw.below(most),
            };
            let mut list: Vec<String> = Vec::with_capacity(size);
            while list.len() < size {
                if !list.is_empty() && draw.below(10) == 0 {
                    let again = list[draw.below(list.len())].clone();
                    list.push(again);
                    continue;
                }
                if endpoint == "url/report" && draw.below(2) == 0 {
                    list.push(format!("http://host-{}.example/", draw.below(HOT)));
                    continue;
                }
                // A third from a few files that every client asks (in flight together, or
                // cached), the rest from all of them (mostly not asked before).
                let from = if draw.below(3) == 0 { HOT } else { pool.len() };
                let hash = &pool[draw.below(from)];
                list.push(match draw.below(3) {
                    0 => hash.to_ascii_uppercase(),
                    1 => hash.to_ascii_lowercase(),
                    _ => hash.clone(),
                });
            }
            (endpoint, list.join(separator))
        })
        .collect()
}

/// Twelve clients, ten requests each of overlapping lists (1 to 25 hashes, known files by
/// any of their hashes, unknown ones, repeated, in either letter case; some URL reports),
/// through a gateway whose upstream answers 8% of its
/// requests with a 500, resets as many, truncates as many, and answers batches out of order.
/// Each request is answered once: a 200 that is byte for byte what a fault-free emulator on
/// the same data answers to the same request, or a 503 when the upstream failed every try.
/// The audit log has each request once, with the outcome its client saw.
async fn a_crowd_under_faults(kind: Kind) {
    let (dataset, mut pool) = data(1500, 23);
    let (same_data, _) = data(1500, 23);
    // Every hash of each known file too (a found report is kept under its MD5, SHA-1 and
    // SHA-256, and answers the others from the cache, echoing what was asked).
    let reports: Vec<serde_json::Value> =
        serde_json::from_str(&vt_emulator::Synthetic::generate(1500, 23).reports_json).unwrap();
    for report in &reports {
        for hash in ["md5", "sha1", "sha256"] {
            pool.push(report[hash].as_str().unwrap().to_owned());
        }
    }
    pool.sort_unstable();
    pool.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let mut faulty = emulator(Tier::Private, dataset)
        .shuffle_batches(true)
        .seed(5);
    for kind in [
        FaultKind::InternalError,
        FaultKind::Reset,
        FaultKind::Truncate,
    ] {
        faulty = faulty.fault(Fault::new(kind, 0.08).unwrap());
    }
    let upstream = start_emulator(faulty).await;
    let oracle = start_emulator(emulator(Tier::Private, same_data)).await;
    let store_guard = TestStore::new(kind).await;
    let store = store_guard.open().await;
    let running = gateway(&upstream, vt_api::Tier::Private, store.clone())
        .window(Duration::from_millis(40))
        .start()
        .await
        .unwrap();
    let secret = token(&store, "crowd", Allow::default()).await;

    let pool = Arc::new(pool);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (base, secret, pool) = (running.url(), secret.clone(), Arc::clone(&pool));
        let oracle = oracle.url();
        clients.push(tokio::spawn(async move {
            let http = raw();
            let mut seen = Vec::new();
            for (endpoint, list) in requests(&pool, client as u64) {
                let through = get(
                    &http,
                    &base,
                    endpoint,
                    &[("apikey", &secret), ("resource", &list)],
                )
                .await;
                let status = through.status().as_u16();
                if status == 200 {
                    let direct = get(
                        &http,
                        &oracle,
                        endpoint,
                        &[("apikey", common::KEY), ("resource", &list)],
                    )
                    .await;
                    assert_eq!(direct.status(), 200);
                    assert!(
                        through.body() == direct.body(),
                        "client {client} asked {endpoint} {list:?}: the gateway answered\n{}\nthe service\n{}",
                        String::from_utf8_lossy(through.body()),
                        String::from_utf8_lossy(direct.body())
                    );
                    // The header's word, as the audit log says it.
                    let source = match through.headers()[CACHE_HEADER].to_str().unwrap() {
                        "hit" => "cache",
                        "miss" => "upstream",
                        other => other,
                    };
                    seen.push(source.to_owned());
                } else {
                    assert_eq!(status, 503, "client {client} asked {endpoint} {list:?}: {status}");
                    seen.push("error".to_owned());
                }
            }
            seen
        }));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for client in clients {
        for outcome in client.await.unwrap() {
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    running.shutdown().await;

    let sent = CLIENTS * REQUESTS_EACH;
    assert_eq!(outcomes.values().sum::<usize>(), sent);
    let answered = sent - outcomes.get("error").copied().unwrap_or(0);
    // A request fails when one of its upstream batches failed three tries (a quarter of
    // the tries fail): rare, but such a batch holds the lookups of several requests.
    assert!(
        answered * 2 >= sent,
        "most requests answered, and compared: {outcomes:?}"
    );
    let stats = upstream.stats();
    for kind in [
        FaultKind::InternalError,
        FaultKind::Reset,
        FaultKind::Truncate,
    ] {
        assert!(stats.fault(kind) > 0, "no {kind} was injected: {stats:?}");
    }
    assert!(stats.endpoint("url/report") > 0, "{stats:?}");

    let audit = store
        .audit(std::time::UNIX_EPOCH, Some("crowd"))
        .await
        .unwrap();
    let mut audited: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &audit {
        *audited.entry(entry.outcome.clone()).or_default() += 1;
    }
    assert_eq!(
        audited, outcomes,
        "the audit log, by outcome, against what clients saw"
    );
}
on_both_stores!(
    a_crowd_under_upstream_faults_gets_each_its_own_answer_once,
    a_crowd_under_faults
);
