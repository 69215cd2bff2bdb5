//! The batch call: exactly one outcome per input, in input order, whatever the service does.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use std::time::Duration;

use vt_api::{Error, Resource, Tier};
use vt_transport::ReplayTransport;

async fn collect(
    client: &vt_api::Client,
    resources: Vec<Resource>,
) -> Vec<vt_api::FileReportOutcome> {
    let mut outcomes = client.file_reports(resources, false);
    let mut all = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        all.push(outcome);
    }
    all
}

#[tokio::test(start_paused = true)]
async fn answers_are_matched_by_echo_whatever_the_array_order() {
    let replay = Arc::new(ReplayTransport::new());
    let resources = md5s(3);
    // The service answers in reverse order, in upper case.
    let answers = resources
        .iter()
        .rev()
        .enumerate()
        .map(|(i, r)| found(&r.as_str().to_uppercase(), i as u32))
        .collect();
    replay.push_response(200, body_of(answers));
    let client = client(replay.clone(), Tier::Public);
    let outcomes = collect(&client, resources.clone()).await;
    let got: Vec<(String, u32)> = outcomes
        .iter()
        .map(|o| {
            let report = o.result.as_ref().unwrap().as_found().unwrap().clone();
            (o.query.to_string(), report.positives)
        })
        .collect();
    let expected: Vec<(String, u32)> = resources
        .iter()
        .zip([2, 1, 0])
        .map(|(r, p)| (r.to_string(), p))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(replay.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_asked_once_and_every_copy_gets_the_answer() {
    let replay = Arc::new(ReplayTransport::new());
    let a: Resource = "0123456789abcdef0123456789abcdef".parse().unwrap();
    let a_upper: Resource = "0123456789ABCDEF0123456789ABCDEF".parse().unwrap();
    let b: Resource = "fedcba9876543210fedcba9876543210".parse().unwrap();
    replay.push_response(
        200,
        body_of(vec![not_found(a.as_str()), found(b.as_str(), 3)]),
    );
    let client = client(replay.clone(), Tier::Public);
    let outcomes = collect(
        &client,
        vec![a.clone(), b.clone(), a_upper.clone(), a.clone()],
    )
    .await;
    let got: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|o| {
            (
                o.query.as_str(),
                o.result.as_ref().unwrap().status().as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (a.as_str(), "not_found"),
            (b.as_str(), "found"),
            (a_upper.as_str(), "not_found"),
            (a.as_str(), "not_found")
        ]
    );
    let requests = replay.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        params(&to_request(&requests[0]))["resource"],
        format!("{a},{b}")
    );
}

fn to_request(recorded: &vt_transport::RecordedRequest) -> http::Request<Bytes> {
    http::Request::builder()
        .method(recorded.method.clone())
        .uri(recorded.uri.clone())
        .body(recorded.body.clone())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failed_chunk_fails_only_its_own_resources() {
    let replay = Arc::new(ReplayTransport::new());
    let resources = md5s(10);
    replay.push_response(
        200,
        body_of(
            resources[..4]
                .iter()
                .map(|r| not_found(r.as_str()))
                .collect(),
        ),
    );
    replay.push_response(400, "");
    replay.push_response(
        200,
        body_of(
            resources[8..]
                .iter()
                .map(|r| not_found(r.as_str()))
                .collect(),
        ),
    );
    let client = client(replay.clone(), Tier::Public);
    let outcomes = collect(&client, resources.clone()).await;
    let kinds: Vec<&str> = outcomes.iter().map(kind_of).collect();
    assert_eq!(
        kinds,
        ["not_found"; 4]
            .into_iter()
            .chain(["bad_request"; 4])
            .chain(["not_found"; 2])
            .collect::<Vec<_>>()
    );
    let order: Vec<&Resource> = outcomes.iter().map(|o| &o.query).collect();
    assert_eq!(
        order,
        resources.iter().collect::<Vec<_>>(),
        "input order kept"
    );
}

#[tokio::test(start_paused = true)]
async fn missing_and_unasked_answers_are_handled_per_resource() {
    let replay = Arc::new(ReplayTransport::new());
    let resources = md5s(3);
    let stranger = "ffffffffffffffffffffffffffffffff";
    // Answers for the first and third only, plus one nobody asked about.
    replay.push_response(
        200,
        body_of(vec![
            not_found(stranger),
            not_found(resources[2].as_str()),
            not_found(resources[0].as_str()),
        ]),
    );
    let client = client(replay.clone(), Tier::Public);
    let outcomes = collect(&client, resources.clone()).await;
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].result.as_ref().unwrap().status(), "not_found");
    assert!(matches!(outcomes[1].result, Err(Error::MissingAnswer)));
    assert_eq!(outcomes[2].result.as_ref().unwrap().status(), "not_found");
}

#[tokio::test(start_paused = true)]
async fn items_without_a_resource_are_matched_by_position() {
    let replay = Arc::new(ReplayTransport::new());
    let resources = md5s(2);
    let short = serde_json::json!({"response_code": -1, "verbose_msg": "Invalid resource"});
    replay.push_response(200, body_of(vec![short, not_found(resources[1].as_str())]));
    let client = client(replay.clone(), Tier::Public);
    let outcomes = collect(&client, resources).await;
    assert_eq!(outcomes[0].result.as_ref().unwrap().response_code(), -1);
    assert_eq!(outcomes[1].result.as_ref().unwrap().status(), "not_found");
}

#[tokio::test(start_paused = true)]
async fn private_keys_keep_several_requests_in_flight_and_yield_in_input_order() {
    // Each request waits until `concurrency` requests are in flight at once, then answers;
    // the later chunks are answered first.
    #[derive(Debug)]
    struct Gate {
        in_flight: AtomicUsize,
        peak: AtomicUsize,
        notify: tokio::sync::Notify,
        order: Mutex<Vec<usize>>,
    }
    #[vt_transport::async_trait]
    impl vt_transport::Transport for Gate {
        async fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, vt_transport::Error> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            if now >= 4 {
                self.notify.notify_waiters();
            } else {
                self.notify.notified().await;
            }
            let asked = asked(&request);
            let first: usize = usize::from_str_radix(&asked[0], 16).unwrap();
            self.order.lock().unwrap().push(first);
            tokio::time::sleep(std::time::Duration::from_millis(100 - first as u64)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(response(
                200,
                body_of(asked.iter().map(|r| not_found(r)).collect()),
            ))
        }
    }
    let gate = Arc::new(Gate {
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        notify: tokio::sync::Notify::new(),
        order: Mutex::new(Vec::new()),
    });
    let client = client(gate.clone(), Tier::Private);
    let resources = md5s(100);
    let outcomes = collect(&client, resources.clone()).await;
    assert_eq!(gate.peak.load(Ordering::SeqCst), 4);
    let order: Vec<&Resource> = outcomes.iter().map(|o| &o.query).collect();
    assert_eq!(order, resources.iter().collect::<Vec<_>>());
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
}

#[tokio::test(start_paused = true)]
async fn a_large_run_holds_only_a_window_of_inputs() {
    // Inputs are produced lazily; count how far ahead of the output the reader gets.
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let inputs = (0..10_000usize).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        format!("{i:032x}").parse::<Resource>().unwrap()
    });
    let mut transport = MockTransport::new();
    transport.expect_send().times(400).returning(|request| {
        Ok(response(
            200,
            body_of(asked(&request).iter().map(|r| not_found(r)).collect()),
        ))
    });
    let client = client(Arc::new(transport), Tier::Private);
    let mut outcomes = client.file_reports(inputs, false);
    let mut yielded = 0usize;
    let mut max_ahead = 0usize;
    while let Some(outcome) = outcomes.next().await {
        assert!(outcome.result.is_ok());
        yielded += 1;
        max_ahead = max_ahead.max(produced.load(Ordering::SeqCst) - yielded);
    }
    assert_eq!(yielded, 10_000);
    assert!(
        max_ahead <= 25 * 5 * 2,
        "read {max_ahead} inputs ahead of the output"
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeat_read_after_its_answer_arrived_shares_it() {
    // One resource is slow; the others answer at once. A repeat of an answered resource read
    // while the slow one still holds the head of the queue is not asked again.
    #[derive(Debug, Default)]
    struct OneSlow(Mutex<Vec<String>>);
    #[vt_transport::async_trait]
    impl vt_transport::Transport for OneSlow {
        async fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, vt_transport::Error> {
            let asked = asked(&request);
            self.0.lock().unwrap().extend(asked.iter().cloned());
            if asked[0].starts_with('5') {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            }
            Ok(response(
                200,
                body_of(asked.iter().map(|r| not_found(r)).collect()),
            ))
        }
    }
    let slow = Arc::new(OneSlow::default());
    let client = vt_api::Client::builder(vt_api::ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .limits(
            Tier::Private
                .limits()
                .with_batch_size(1)
                .with_concurrency(2),
        )
        .transport(slow.clone())
        .build()
        .unwrap();
    let r = |c: char| -> Resource { c.to_string().repeat(32).parse().unwrap() };
    // The window is 1 x (2 + 1) x 2 = 6 inputs: the 7th is read once the first is yielded.
    let inputs = vec![r('a'), r('5'), r('b'), r('c'), r('d'), r('e'), r('b')];
    let outcomes = collect(&client, inputs.clone()).await;
    let order: Vec<&Resource> = outcomes.iter().map(|o| &o.query).collect();
    assert_eq!(order, inputs.iter().collect::<Vec<_>>());
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(slow.0.lock().unwrap().len(), 6, "b was asked once");
}

#[tokio::test(start_paused = true)]
async fn a_403_for_the_key_stops_the_run_and_sends_nothing_more() {
    // A wrong key on the public tier used to pace 2,500 doomed requests for 10,000 hashes:
    // now the first 403 answers every input left at once.
    let replay = Arc::new(ReplayTransport::new());
    replay.push_response(
        200,
        body_of(md5s(4).iter().map(|r| not_found(r.as_str())).collect()),
    );
    replay.push_response(403, "");
    let client = client(replay.clone(), Tier::Public);
    let started = tokio::time::Instant::now();
    let outcomes = collect(&client, md5s(40)).await;
    let kinds: Vec<&str> = outcomes.iter().map(kind_of).collect();
    let expected: Vec<&str> = ["not_found"; 4]
        .into_iter()
        .chain(["forbidden"; 36])
        .collect();
    assert_eq!(kinds, expected);
    assert_eq!(replay.requests().len(), 2, "nothing sent after the 403");
    // The second request waited for the quota (4 a minute would pace 10 requests over
    // 9 minutes); nothing after it did.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_403_for_allinfo_stops_only_allinfo() {
    let replay = Arc::new(ReplayTransport::new());
    replay.push_response(403, "");
    replay.push_response(200, body_of(vec![not_found(md5s(1)[0].as_str())]));
    let client = client(replay.clone(), Tier::Private);
    let resource = &md5s(1)[0];
    let error = client.file_report(resource, true).await.unwrap_err();
    assert!(matches!(&error, Error::ForbiddenFeature { feature } if feature == "allinfo"));
    assert!(
        error
            .to_string()
            .contains("may not use allinfo (it needs a private key"),
        "{error}"
    );
    // Asked again with allinfo: refused without a request.
    let again = client.file_report(resource, true).await.unwrap_err();
    assert_eq!(again.kind(), "forbidden");
    assert_eq!(replay.requests().len(), 1);
    // Without allinfo the key still works.
    let answer = client.file_report(resource, false).await.unwrap();
    assert_eq!(answer.status(), "not_found");
    assert_eq!(replay.requests().len(), 2);
}
