//! The upstream key appears in no answer, header, log line, metric or table of the store, in
//! any letter case, whatever happens: lookups, relays, refusals, an upstream gone.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{get, post, raw, shows_key, token, Kind, Setup, KEY};
use vt_emulator::Tier;
use vt_gateway::Allow;

/// Every log line of this test binary, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .init();
        logs
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn seen(response: &http::Response<bytes::Bytes>) -> String {
    let mut text = format!("{:?}\n", response.headers());
    text.push_str(&String::from_utf8_lossy(response.body()));
    text
}

async fn the_key_is_nowhere(kind: Kind) {
    let logs = logs();
    let setup = Setup::new(kind, Tier::Private, |g| {
        g.max_age(std::time::Duration::ZERO, std::time::Duration::ZERO)
    })
    .await;
    let http = raw();
    let base = setup.base();
    let all = token(&setup.store, "all", Allow::ALL).await;
    let none = token(&setup.store, "none", Allow::default()).await;
    let batch = setup.hashes[..6].join(",");
    let mut answers = Vec::new();
    for (path, params) in [
        (
            "file/report",
            vec![("apikey", all.as_str()), ("resource", batch.as_str())],
        ),
        (
            "file/report",
            vec![
                ("apikey", all.as_str()),
                ("resource", setup.hashes[9].as_str()),
                ("allinfo", "1"),
            ],
        ),
        (
            "url/report",
            vec![
                ("apikey", all.as_str()),
                ("resource", "http://example.com/"),
            ],
        ),
        (
            "domain/report",
            vec![("apikey", all.as_str()), ("domain", "example.com")],
        ),
        (
            "ip-address/report",
            vec![("apikey", all.as_str()), ("ip", "8.8.8.8")],
        ),
        (
            "comments/get",
            vec![
                ("apikey", all.as_str()),
                ("resource", setup.hashes[0].as_str()),
            ],
        ),
        (
            "file/report",
            vec![
                ("apikey", none.as_str()),
                ("resource", setup.hashes[0].as_str()),
                ("allinfo", "1"),
            ],
        ),
        (
            "file/report",
            vec![("apikey", KEY), ("resource", setup.hashes[0].as_str())],
        ),
        ("file/nothing", vec![("apikey", all.as_str())]),
    ] {
        answers.push(seen(&get(&http, &base, path, &params).await));
    }
    answers.push(seen(
        &post(
            &http,
            &base,
            "url/scan",
            &[("apikey", &all), ("url", "http://example.org/")],
        )
        .await,
    ));
    // The upstream gone: stale answers and 503s.
    setup.emulator.shutdown().await;
    answers.push(seen(
        &get(
            &http,
            &base,
            "file/report",
            &[("apikey", &all), ("resource", &batch)],
        )
        .await,
    ));
    answers.push(seen(
        &get(
            &http,
            &base,
            "file/report",
            &[("apikey", &all), ("resource", &setup.hashes[150])],
        )
        .await,
    ));
    answers.push(seen(
        &get(
            &http,
            &base,
            "comments/get",
            &[("apikey", &all), ("resource", &setup.hashes[0])],
        )
        .await,
    ));
    let root = base.trim_end_matches("vtapi/v2/").to_owned();
    answers.push(seen(&get(&http, &root, "metrics", &[]).await));
    answers.push(seen(&get(&http, &root, "_gateway/health", &[]).await));
    setup.gateway.shutdown().await;

    for answer in &answers {
        assert!(!shows_key(answer), "an answer shows the key: {answer}");
    }
    assert!(
        answers.iter().any(|a| a.contains("\"scans\"")),
        "the run answered lookups"
    );
    let dump = setup.store.dump_text().await.unwrap();
    assert!(
        dump.contains("file/report"),
        "the store was dumped: {dump:.200}"
    );
    assert!(!shows_key(&dump), "a table of the store holds the key");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logs.is_empty(), "the run logged");
    assert!(!shows_key(&logs), "a log line shows the key");
}
on_both_stores!(
    the_upstream_key_is_in_no_answer_log_metric_or_table,
    the_key_is_nowhere
);
