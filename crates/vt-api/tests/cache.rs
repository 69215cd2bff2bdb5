//! The SQLite cache: a real file on disk, shared by clients and by concurrent writers.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use vt_api::{ApiKey, Cache, CacheScope, Client, Error, Tier};

/// The scope of the clients of these tests: file reports of vt.test, without allinfo.
fn scope() -> CacheScope {
    CacheScope::new("https://vt.test/vtapi/v2/", "file/report", "")
}

/// Not-found answers for `resources`, stored as fetched at `at`.
fn store_not_found(cache: &Cache, resources: &[vt_api::Resource], at: SystemTime) {
    let bodies: Vec<String> = resources
        .iter()
        .map(|r| not_found(r.as_str()).to_string())
        .collect();
    cache
        .put_all(
            &scope(),
            resources
                .iter()
                .zip(&bodies)
                .map(|(r, body)| (r.key(), 0, body.as_bytes())),
            at,
        )
        .unwrap();
}

fn cached_client(transport: MockTransport, cache: &Arc<Cache>, offline: bool) -> Client {
    Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(Arc::new(transport))
        .cache(Arc::clone(cache), Some(Duration::from_secs(3600)))
        .offline(offline)
        .build()
        .unwrap()
}

fn answering_service(times: usize) -> MockTransport {
    let mut transport = MockTransport::new();
    transport.expect_send().times(times).returning(|request| {
        // What a resource gets depends on the resource alone: md5s(n) are 0, 1, 2... in hex.
        let answers = asked(&request)
            .iter()
            .map(|r| (u128::from_str_radix(r, 16).unwrap(), r))
            .map(|(i, r)| match i % 3 {
                0 => found(r, 2),
                1 => not_found(r),
                _ => serde_json::json!({"response_code": -2, "resource": r, "verbose_msg": "Your resource is queued for analysis"}),
            })
            .collect();
        Ok(response(200, body_of(answers)))
    });
    transport
}

async fn statuses(client: &Client, n: usize) -> Vec<&'static str> {
    kinds(client, md5s(n)).await
}

#[tokio::test(start_paused = true)]
async fn a_second_run_costs_no_request_except_for_queued_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    let first = {
        let cache = Arc::new(Cache::open(&path).unwrap());
        statuses(&cached_client(answering_service(2), &cache, false), 30).await
    };
    // A new process, as it were: a fresh handle on the same file.
    let cache = Arc::new(Cache::open(&path).unwrap());
    assert_eq!(
        cache.len().unwrap(),
        20,
        "found and not found are stored, queued are not"
    );
    // Only the 10 queued ones are asked again, in one request.
    let second = statuses(&cached_client(answering_service(1), &cache, false), 30).await;
    assert_eq!(first, second);
}

#[tokio::test(start_paused = true)]
async fn offline_answers_from_the_cache_alone() {
    let cache = Arc::new(Cache::in_memory().unwrap());
    statuses(&cached_client(answering_service(1), &cache, false), 6).await;
    let offline = statuses(&cached_client(answering_service(0), &cache, true), 8).await;
    assert_eq!(
        offline,
        [
            "found",
            "not_found",
            "not_cached",
            "found",
            "not_found",
            "not_cached",
            "not_cached",
            "not_cached"
        ]
    );
    let client = cached_client(answering_service(0), &cache, true);
    let error = client.file_report(&md5s(8)[7], false).await.unwrap_err();
    assert!(matches!(error, Error::NotCached));
}

#[tokio::test(start_paused = true)]
async fn stale_entries_are_asked_again() {
    let cache = Arc::new(Cache::in_memory().unwrap());
    let resource = &md5s(1)[0];
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    store_not_found(&cache, std::slice::from_ref(resource), two_hours_ago);
    assert!(cache
        .get(&scope(), resource.key(), None, SystemTime::now())
        .unwrap()
        .is_some());
    for other in [
        CacheScope::new("https://vt.test/vtapi/v2/", "file/report", "allinfo=1"),
        CacheScope::new("http://127.0.0.1:9/vtapi/v2/", "file/report", ""),
        CacheScope::new("https://vt.test/vtapi/v2/", "url/report", ""),
    ] {
        assert!(
            cache
                .get(&other, resource.key(), None, SystemTime::now())
                .unwrap()
                .is_none(),
            "{other:?} is part of the key"
        );
    }
    // max_age is one hour: the entry is stale, so the service is asked, and the answer stored.
    let client = cached_client(answering_service(1), &cache, false);
    let answer = client.file_report(resource, false).await.unwrap();
    assert_eq!(answer.status(), "found");
    let fresh = cache
        .get(
            &scope(),
            resource.key(),
            Some(Duration::from_secs(60)),
            SystemTime::now(),
        )
        .unwrap()
        .unwrap();
    let fresh = vt_api::RawAnswer::<vt_api::FileReport>::parse(fresh.raw).unwrap();
    assert_eq!(fresh.into_answer().unwrap(), answer);
}

#[test]
fn two_writers_on_one_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite3");
    let resources = md5s(400);
    std::thread::scope(|scope| {
        for half in resources.chunks(200) {
            let path = path.clone();
            scope.spawn(move || {
                let cache = Cache::open(&path).unwrap();
                for chunk in half.chunks(4) {
                    store_not_found(&cache, chunk, SystemTime::now());
                }
            });
        }
    });
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.len().unwrap(), 400);
    for r in &resources {
        assert!(cache
            .get(&scope(), r.key(), None, SystemTime::now())
            .unwrap()
            .is_some());
    }
}

/// Set in the child processes of the kill test: the cache file to write to.
const CHILD_CACHE: &str = "VT_API_TEST_CHILD_CACHE";
/// Set in the child processes of the kill test: the first resource number to write.
const CHILD_START: &str = "VT_API_TEST_CHILD_START";

/// Not a test of its own: the writer process of `killed_writers_leave_a_consistent_cache`,
/// which runs this test binary again with the variables above set. Without them it returns.
#[test]
fn child_writer() {
    let (Ok(path), Ok(start)) = (std::env::var(CHILD_CACHE), std::env::var(CHILD_START)) else {
        return;
    };
    let start: usize = start.parse().unwrap();
    let cache = Cache::open(path).unwrap();
    // Write batches of 4 until killed.
    for batch in (start..).step_by(4) {
        let resources: Vec<vt_api::Resource> = (batch..batch + 4)
            .map(|i| format!("{i:032x}").parse().unwrap())
            .collect();
        store_not_found(&cache, &resources, SystemTime::now());
    }
}

#[test]
fn killed_writers_leave_a_consistent_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.sqlite3");
    Cache::open(&path).unwrap();
    let exe = std::env::current_exe().unwrap();
    // Two processes write to the same file at once.
    let mut children: Vec<std::process::Child> = [0usize, 1 << 40]
        .iter()
        .map(|start| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
                .env(CHILD_CACHE, &path)
                .env(CHILD_START, start.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let reader = Cache::open(&path).unwrap();
    // Let them write for a while (bounded), then kill both mid-flight.
    for _ in 0..2000 {
        if reader.len().unwrap() >= 400 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for child in &mut children {
        assert!(
            child.try_wait().unwrap().is_none(),
            "a writer died on its own"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    cache.check_integrity().unwrap();
    let rows = cache.len().unwrap();
    assert!(rows >= 400, "{rows}");
    assert_eq!(rows % 4, 0, "a batch is stored whole or not at all");
}

/// Set in the child processes of the opening test: a file whose appearance says "open now".
const CHILD_GO: &str = "VT_API_TEST_CHILD_GO";

/// Not a test of its own: a process of `processes_opening_a_new_cache_file_at_once_all_get_it`,
/// which opens the cache file once the go file appears. Without the variables it returns.
#[test]
fn child_opener() {
    let (Ok(path), Ok(go)) = (std::env::var(CHILD_CACHE), std::env::var(CHILD_GO)) else {
        return;
    };
    while !std::path::Path::new(&go).exists() {
        std::hint::spin_loop();
    }
    match Cache::open(path).and_then(|cache| cache.len()) {
        Ok(0) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn processes_opening_a_new_cache_file_at_once_all_get_it() {
    // Two `vt` started together on a fresh machine each set up the same new file. Switching
    // it to WAL takes a lock SQLite does not wait for (its busy handler is not called there),
    // so one of them used to get "database is locked" and run without the cache, and so
    // without the quota count it shares with the other.
    let exe = std::env::current_exe().unwrap();
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let (path, go) = (dir.path().join("new.sqlite3"), dir.path().join("go"));
        let openers: Vec<std::process::Child> = (0..4)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args(["--exact", "child_opener", "--nocapture", "--test-threads=1"])
                    .env(CHILD_CACHE, &path)
                    .env(CHILD_GO, &go)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Let every process reach its spin before the go.
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(&go, b"").unwrap();
        for opener in openers {
            let output = opener.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
