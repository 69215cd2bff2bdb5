//! The one pipeline every endpoint goes through: a run that stops at once when it must, quota
//! spent only by requests that reached the service, typed events, queued answers waited for
//! together, a cache scoped to its service that also answers a file's other hashes, answers
//! never given to the wrong question, and SQLite kept off the async runtime.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use vt_api::{ApiKey, Cache, Client, Error, Event, RetryPolicy, Tier};
use vt_transport::ErrorKind;

fn refused() -> vt_transport::Error {
    vt_transport::Error::with_detail(ErrorKind::Connect, "could not connect: connection refused")
}

#[tokio::test(start_paused = true)]
async fn a_service_that_cannot_be_reached_stops_the_run_and_costs_no_quota() {
    // A dead base URL used to pace doomed requests (1 min 37 s to fail) and spend the day's
    // count on them.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut transport = MockTransport::new();
    let counted = Arc::clone(&calls);
    transport.expect_send().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Err(refused())
    });
    let client = client(Arc::new(transport), Tier::Public);
    let started = tokio::time::Instant::now();
    let kinds = kinds(&client, md5s(40)).await;
    assert_eq!(kinds, vec!["unreachable"; 40]);
    let attempts = RetryPolicy::default().max_attempts as usize;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        attempts,
        "one request's retries"
    );
    assert_eq!(client.quota_status().await.used_today, 0);
    // The backoffs of one request, and no pacing (4 a minute would take 9 minutes for 10).
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let error = client.file_report(&md5s(1)[0], false).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot reach https://vt.test"),
        "{error}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        attempts,
        "nothing more is sent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_gateways_daily_limit_stops_the_run_at_once_without_waiting() {
    // A vt-gateway's 204 for the token's own daily limit: waiting a minute (three times, as
    // for the service's 204) cannot help; the run stops with one clear error.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut transport = MockTransport::new();
    let counted = Arc::clone(&calls);
    transport.expect_send().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(http::Response::builder()
            .status(204)
            .header(vt_api::GATEWAY_LIMIT_HEADER, "per-day")
            .body(bytes::Bytes::new())
            .unwrap())
    });
    let client = client(Arc::new(transport), Tier::Private);
    let started = tokio::time::Instant::now();
    let kinds = kinds(&client, md5s(60)).await;
    assert_eq!(kinds, vec!["gateway_daily_limit"; 60]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one request, then the run stops"
    );
    assert_eq!(started.elapsed(), Duration::ZERO, "no hold, no backoff");
    let error = client.file_report(&md5s(1)[0], false).await.unwrap_err();
    assert!(matches!(error, Error::GatewayDailyLimit), "{error}");
    assert!(error.stops_run() && !error.is_transient());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "nothing more is sent");
}

#[tokio::test]
async fn requests_that_never_reached_the_service_leave_the_shared_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(Cache::open(dir.path().join("ledger.sqlite3")).unwrap());
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(1)
        .returning(|_| Err(refused()));
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Public)
        .retry_policy(RetryPolicy::default().with_max_attempts(1))
        .transport(Arc::new(transport))
        .quota_ledger(Arc::clone(&cache))
        .build()
        .unwrap();
    let error = client.file_report(&md5s(1)[0], false).await.unwrap_err();
    assert_eq!(error.kind(), "unreachable");
    assert_eq!(client.quota_status().await.used_today, 0);
}

#[tokio::test(start_paused = true)]
async fn events_say_what_the_client_does() {
    let mut transport = MockTransport::new();
    let mut answers = vec![
        Ok(response(500, "")),
        Ok(response(204, "")),
        Ok(response(200, body_of(vec![not_found(md5s(1)[0].as_str())]))),
    ]
    .into_iter();
    transport
        .expect_send()
        .times(3)
        .returning(move |_| answers.next().unwrap());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(Arc::new(transport))
        .observer(move |event| seen.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();
    client.file_report(&md5s(1)[0], false).await.unwrap();
    let events = events.lock().unwrap();
    let names: Vec<String> = events
        .iter()
        .map(|event| match event {
            Event::Sending { attempt, .. } => format!("sending {attempt}"),
            Event::Retrying {
                attempt,
                max_attempts,
                reason,
                ..
            } => {
                assert!(reason.contains("500"), "{reason}");
                format!("retrying {attempt} of {max_attempts}")
            }
            Event::Answered204 { endpoint } => format!("204 on {endpoint}"),
            Event::HeldBy204 { wait, .. } => format!("held {}", wait.as_secs()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "sending 1",
            "retrying 1 of 8",
            "sending 2",
            "204 on file/report",
            "held 60",
            "sending 2"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn queued_resources_are_waited_for_together() {
    // Three queued resources with --wait-queued used to take 16 requests, one after another.
    let resources = md5s(3);
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        let round = counted.fetch_add(1, Ordering::SeqCst);
        let answers = asked(&request)
            .iter()
            .map(|r| match round {
                0 => serde_json::json!({"response_code": -2, "resource": r, "verbose_msg": "Your resource is queued for analysis"}),
                _ => found(r, 1),
            })
            .collect();
        Ok(response(200, body_of(answers)))
    });
    let client = client(Arc::new(transport), Tier::Private);
    let mut outcomes = client
        .file_reports(resources, false)
        .wait_queued(Duration::from_secs(1), Duration::from_secs(10));
    let mut statuses = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        statuses.push(outcome.result.unwrap().status().as_str().to_owned());
    }
    assert_eq!(statuses, ["found"; 3]);
    assert_eq!(requests.load(Ordering::SeqCst), 2, "one batch, asked twice");
}

#[tokio::test(start_paused = true)]
async fn waiting_for_queued_resources_is_bounded_in_time() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        counted.fetch_add(1, Ordering::SeqCst);
        let answers = asked(&request)
            .iter()
            .map(|r| serde_json::json!({"response_code": -2, "resource": r}))
            .collect();
        Ok(response(200, body_of(answers)))
    });
    let client = client(Arc::new(transport), Tier::Private);
    let started = tokio::time::Instant::now();
    let mut outcomes = client
        .file_reports(md5s(2), false)
        .wait_queued(Duration::from_secs(2), Duration::from_secs(10));
    while let Some(outcome) = outcomes.next().await {
        assert_eq!(outcome.result.unwrap().status(), "queued");
    }
    // Asked at 0, 2, 4, 6, 8 and 10 s, both in each request; then the last answer stands.
    assert_eq!(requests.load(Ordering::SeqCst), 6);
    assert!(started.elapsed() <= Duration::from_secs(11));
}

#[tokio::test(start_paused = true)]
async fn a_found_report_answers_the_files_other_hashes_from_the_cache() {
    let md5 = md5s(1).remove(0);
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(1)
        .returning(|request| Ok(response(200, body_of(vec![found(&asked(&request)[0], 3)]))));
    let cache = Arc::new(Cache::in_memory().unwrap());
    let client = cached(Arc::new(transport), &cache);
    let by_md5 = client.file_report(&md5, false).await.unwrap();
    let sha256: vt_api::Resource = by_md5.as_found().unwrap().sha256.parse().unwrap();
    // The same file by its SHA-256: no request (the mock allows one), the same report,
    // echoing what was asked, as the service would.
    let by_sha256 = client.file_report(&sha256, false).await.unwrap();
    let (found_md5, found_sha256) = (by_md5.as_found().unwrap(), by_sha256.as_found().unwrap());
    assert_eq!(found_sha256.resource.as_deref(), Some(sha256.as_str()));
    assert_eq!(found_md5.resource.as_deref(), Some(md5.as_str()));
    assert_eq!(
        (
            &found_sha256.scan_id,
            found_sha256.positives,
            &found_sha256.scans
        ),
        (&found_md5.scan_id, found_md5.positives, &found_md5.scans)
    );
    // Another service does not share it.
    let elsewhere = Client::builder(ApiKey::new(KEY))
        .base_url("https://elsewhere.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(Arc::new(MockTransport::new()))
        .cache(Arc::clone(&cache), None)
        .offline(true)
        .build()
        .unwrap();
    let error = elsewhere.file_report(&sha256, false).await.unwrap_err();
    assert!(matches!(error, Error::NotCached), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn an_answer_without_resource_that_names_another_file_is_given_to_no_one() {
    // Positional matching once gave EICAR's report to another hash and `not_found` to EICAR.
    let asked = md5s(2);
    let mut elsewhere = found(&"f".repeat(32), 5);
    elsewhere.as_object_mut().unwrap().remove("resource");
    elsewhere["md5"] = "f".repeat(32).into();
    let mut plain = not_found(asked[1].as_str());
    plain.as_object_mut().unwrap().remove("resource");
    let mut transport = MockTransport::new();
    transport.expect_send().times(1).returning(move |_| {
        Ok(response(
            200,
            body_of(vec![elsewhere.clone(), plain.clone()]),
        ))
    });
    let client = client(Arc::new(transport), Tier::Public);
    assert_eq!(
        kinds(&client, asked).await,
        ["mismatched_answer", "not_found"]
    );
}

#[tokio::test(start_paused = true)]
async fn kept_repeats_are_answered_again_without_asking_but_errors_are_asked_again() {
    // No cache. Two hashes at the start, 600 others, then both again: far beyond the window.
    // The first is found and kept for its copy; the second first gets an answer about
    // another file (an error), which is not kept: its copy is asked again, and answered.
    let head = md5s(2);
    let filler: Vec<vt_api::Resource> = (1_000..1_600)
        .map(|i| format!("{i:032x}").parse().unwrap())
        .collect();
    let inputs: Vec<vt_api::Resource> = head
        .iter()
        .chain(&filler)
        .chain(head.iter().rev())
        .cloned()
        .collect();
    let mut counter = vt_api::RepeatCounter::default();
    inputs.iter().for_each(|query| counter.add(query));
    let repeats = counter.finish();
    assert_eq!(repeats.len(), 2);
    let asked_for = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked_for);
    let failing = head[1].as_str().to_owned();
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        let asked = asked(&request);
        let first_time = !log.lock().unwrap().contains(&failing);
        log.lock().unwrap().extend(asked.iter().cloned());
        let answers = asked
            .iter()
            .map(|r| match first_time && *r == failing {
                // An answer about another file: an error for this question only.
                true => {
                    let mut other = found(r, 1);
                    other["md5"] = "f".repeat(32).into();
                    other
                }
                false => found(r, 1),
            })
            .collect();
        Ok(response(200, body_of(answers)))
    });
    let client = client(Arc::new(transport), Tier::Private);
    let mut outcomes = client
        .file_reports(inputs.clone(), false)
        .keep_repeats(repeats);
    let mut got = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        got.push((outcome.query.as_str().to_owned(), kind_of(&outcome)));
    }
    assert_eq!(got.len(), inputs.len());
    for ((query, _), asked) in got.iter().zip(&inputs) {
        assert_eq!(
            query,
            asked.as_str(),
            "each input its own outcome, in order"
        );
    }
    let n = got.len();
    assert_eq!(got[1].1, "mismatched_answer");
    assert_eq!((got[n - 2].1, got[n - 1].1), ("found", "found"));
    let asked = asked_for.lock().unwrap();
    let times = |r: &vt_api::Resource| asked.iter().filter(|a| *a == r.as_str()).count();
    assert_eq!(times(&head[0]), 1, "the kept answer served its copy");
    assert_eq!(times(&head[1]), 2, "the error was not kept");
}

#[tokio::test(start_paused = true)]
async fn a_question_answered_twice_trusts_neither_answer() {
    let asked = md5s(2);
    let (a, b) = (asked[0].as_str().to_owned(), asked[1].as_str().to_owned());
    let mut transport = MockTransport::new();
    transport.expect_send().times(1).returning(move |_| {
        Ok(response(
            200,
            body_of(vec![
                found(&a, 1),
                not_found(&a.to_uppercase()),
                not_found(&b),
            ]),
        ))
    });
    let client = client(Arc::new(transport), Tier::Public);
    assert_eq!(
        kinds(&client, asked).await,
        ["duplicate_answer", "not_found"]
    );
}

#[test]
fn a_locked_cache_file_never_blocks_the_async_runtime() {
    // Another process holds the file (a long write): the lookup waits for it, but on the
    // blocking pool; the runtime's one thread keeps running other tasks meanwhile.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.sqlite3");
    let cache = Arc::new(Cache::open(&path).unwrap());
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        locker.execute_batch("COMMIT").unwrap();
    });
    runtime.block_on(async {
        let counted = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mut transport = MockTransport::new();
        transport
            .expect_send()
            .times(1)
            .returning(|request| Ok(response(200, body_of(vec![not_found(&asked(&request)[0])]))));
        let client = cached(Arc::new(transport), &cache);
        let answer = client.file_report(&md5s(1)[0], false).await.unwrap();
        assert_eq!(answer.status(), "not_found");
        ticker.abort();
    });
    release.join().unwrap();
    // The lookup took the 600 ms of the lock; a runtime blocked by it would have ticked ~0.
    let ticks = ticks.load(Ordering::SeqCst);
    assert!(
        ticks >= 20,
        "the runtime stood still while SQLite waited: {ticks} ticks"
    );
    assert_eq!(cache.len().unwrap(), 1);
}
