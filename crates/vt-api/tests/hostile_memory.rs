//! A hostile 200 holding a million tiny items beyond what was asked: counted, not kept. Its own
//! test binary (one test), so that the process's peak memory is this test's.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;

use common::*;
use vt_api::Tier;
use vt_transport::ReplayTransport;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_million_unasked_items_cost_no_more_than_their_bytes() {
    let asked = md5s(4);
    // 800,000 items nobody asked about (28 MB, under the transport's 32 MiB cap), then the
    // answers to the questions.
    let mut body = String::with_capacity(29 << 20);
    body.push('[');
    for _ in 0..800_000 {
        body.push_str(r#"{"response_code":0,"resource":"x"},"#);
    }
    let answers: Vec<String> = asked
        .iter()
        .map(|r| not_found(r.as_str()).to_string())
        .collect();
    body.push_str(&answers.join(","));
    body.push(']');
    let size = body.len();
    let replay = Arc::new(ReplayTransport::new());
    replay.push_response(200, body);
    let client = client(replay, Tier::Public);
    // Linux resets the peak resident size (VmHWM) to the current one on "5".
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:") * 1024;
    let kinds = kinds(&client, asked).await;
    let peak = (status_kib("VmHWM:") * 1024).saturating_sub(before);
    assert_eq!(kinds, ["not_found"; 4]);
    // Keeping a scan of every item cost about 130 bytes an item (104 MB here, 461 MB RSS for
    // 1.5 million): now the body's bytes are the only big thing, and they were allocated
    // before.
    assert!(
        peak < size / 4,
        "the peak grew by {peak} bytes for a body of {size}"
    );
}
