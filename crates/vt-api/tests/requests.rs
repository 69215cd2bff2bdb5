//! What the client sends and how often: mockall on the transport for exact requests, call
//! counts, retries and backoff, all on paused tokio time.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use vt_api::{ApiKey, Client, Error, FileReportAnswer, RequestMethod, RetryPolicy, Tier};

fn one_md5() -> vt_api::Resource {
    "44D88612FEA8A8F36DE82E1278ABB02F".parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn post_form_carries_the_key_in_the_body_not_the_url() {
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(1)
        .withf(|request| {
            let p = params(request);
            request.method() == http::Method::POST
                && request.uri() == "https://vt.test/vtapi/v2/file/report"
                && !request.uri().to_string().contains(KEY)
                && request.headers()[http::header::CONTENT_TYPE]
                    == "application/x-www-form-urlencoded"
                && p["apikey"] == KEY
                && p["resource"] == "44D88612FEA8A8F36DE82E1278ABB02F"
                && p["allinfo"] == "1"
        })
        .returning(|request| Ok(response(200, body_of(vec![found(&asked(&request)[0], 2)]))));
    let client = client(Arc::new(transport), Tier::Private);
    let answer = client.file_report(&one_md5(), true).await.unwrap();
    let report = answer.as_found().expect("found");
    assert_eq!(report.detection_ratio().to_string(), "2/3");
}

#[tokio::test(start_paused = true)]
async fn get_puts_the_parameters_in_the_query_when_asked_to() {
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(1)
        .withf(|request| {
            request.method() == http::Method::GET
                && request.uri().path() == "/vtapi/v2/file/report"
                && params(request)["resource"] == "44D88612FEA8A8F36DE82E1278ABB02F"
                && !params(request).contains_key("allinfo")
                && request.body().is_empty()
        })
        .returning(|request| Ok(response(200, body_of(vec![not_found(&asked(&request)[0])]))));
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .request_method(RequestMethod::Get)
        .transport(Arc::new(transport))
        .build()
        .unwrap();
    let answer = client.file_report(&one_md5(), false).await.unwrap();
    assert!(matches!(answer, FileReportAnswer::NotFound(_)));
}

/// Answers not found for every resource asked, counting requests and resources per request.
fn counting_service(calls: Arc<Mutex<Vec<usize>>>) -> MockTransport {
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        let asked = asked(&request);
        calls.lock().unwrap().push(asked.len());
        Ok(response(
            200,
            body_of(asked.iter().map(|r| not_found(r)).collect()),
        ))
    });
    transport
}

#[tokio::test(start_paused = true)]
async fn batches_by_tier_size() {
    for (tier, n, expected) in [
        (Tier::Public, 10, vec![4, 4, 2]),
        (Tier::Private, 60, vec![25, 25, 10]),
        (Tier::Private, 1, vec![1]),
    ] {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let client = client(Arc::new(counting_service(Arc::clone(&calls))), tier);
        let mut outcomes = client.file_reports(md5s(n), false);
        let mut count = 0;
        while let Some(outcome) = outcomes.next().await {
            assert_eq!(outcome.result.unwrap().status(), vt_api::Status::NotFound);
            count += 1;
        }
        assert_eq!(count, n);
        let mut sizes = calls.lock().unwrap().clone();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(sizes, expected, "{tier:?} with {n} resources");
    }
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_growing_backoff_then_reported() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&times);
    let mut transport = MockTransport::new();
    transport.expect_send().times(4).returning(move |_| {
        seen.lock().unwrap().push(tokio::time::Instant::now());
        Ok(response(503, "<html>busy</html>"))
    });
    let retry = RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_secs(1), Duration::from_secs(8));
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .retry_policy(retry)
        .transport(Arc::new(transport))
        .build()
        .unwrap();
    let error = client.file_report(&one_md5(), false).await.unwrap_err();
    match &error {
        Error::UnexpectedStatus { status, excerpt } => {
            assert_eq!((*status, excerpt.as_str()), (503, "<html>busy</html>"))
        }
        other => panic!("{other:?}"),
    }
    let times = times.lock().unwrap();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Full jitter: each wait is at most 1 s, 2 s, 4 s.
    for (gap, ceiling) in gaps.iter().zip([1, 2, 4]) {
        assert!(*gap <= Duration::from_secs(ceiling), "{gaps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_gives_the_answer() {
    let mut transport = MockTransport::new();
    let mut seq = mockall::Sequence::new();
    transport
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(vt_transport::Error::io("connection reset by peer")));
    transport
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(response(200, r#"{"response_code": 0, "resource": "44D8"#)));
    transport
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|request| Ok(response(200, body_of(vec![found(&asked(&request)[0], 1)]))));
    let client = client(Arc::new(transport), Tier::Private);
    let answer = client.file_report(&one_md5(), false).await.unwrap();
    assert_eq!(answer.status(), "found");
}

#[tokio::test(start_paused = true)]
async fn forbidden_and_bad_request_are_not_retried() {
    for (status, kind) in [(403, "forbidden"), (400, "bad_request")] {
        let mut transport = MockTransport::new();
        transport
            .expect_send()
            .times(1)
            .returning(move |_| Ok(response(status, "")));
        let client = client(Arc::new(transport), Tier::Private);
        let error = client.file_report(&one_md5(), true).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_204_is_waited_out_then_retried() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&times);
    let mut transport = MockTransport::new();
    let mut calls = 0;
    transport.expect_send().times(3).returning(move |request| {
        seen.lock().unwrap().push(tokio::time::Instant::now());
        calls += 1;
        if calls < 3 {
            Ok(response(204, ""))
        } else {
            Ok(response(200, body_of(vec![not_found(&asked(&request)[0])])))
        }
    });
    let client = client(Arc::new(transport), Tier::Private);
    let answer = client.file_report(&one_md5(), false).await.unwrap();
    assert_eq!(answer.status(), "not_found");
    let times = times.lock().unwrap();
    assert!(times[1] - times[0] >= Duration::from_secs(60));
    assert!(times[2] - times[1] >= Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn endless_204s_become_a_rate_limit_error() {
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(4)
        .returning(|_| Ok(response(204, "")));
    let client = client(Arc::new(transport), Tier::Private);
    let error = client.file_report(&one_md5(), false).await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { answers: 4 }),
        "{error:?}"
    );
}

/// A service that accepts the request and never answers.
#[derive(Debug, Default)]
struct Hanging(std::sync::atomic::AtomicUsize);

#[vt_transport::async_trait]
impl vt_transport::Transport for Hanging {
    async fn send(
        &self,
        _request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, vt_transport::Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_never_answers_times_out_every_attempt() {
    let hanging = Arc::new(Hanging::default());
    let retry = RetryPolicy::default()
        .with_max_attempts(3)
        .with_request_timeout(Duration::from_secs(20));
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .retry_policy(retry)
        .transport(hanging.clone())
        .build()
        .unwrap();
    let error = client.file_report(&one_md5(), false).await.unwrap_err();
    assert!(
        matches!(error, Error::Timeout(d) if d == Duration::from_secs(20)),
        "{error:?}"
    );
    assert_eq!(hanging.0.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn the_public_tier_paces_100_resources_over_the_right_minutes_with_no_204() {
    // A service that enforces the public quota itself: a 5th request in a rolling minute
    // would get a 204.
    let times = Arc::new(Mutex::new(Vec::<tokio::time::Instant>::new()));
    let seen = Arc::clone(&times);
    let got_204 = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&got_204);
    let mut transport = MockTransport::new();
    transport.expect_send().times(25).returning(move |request| {
        let now = tokio::time::Instant::now();
        let mut times = seen.lock().unwrap();
        let last_minute = times
            .iter()
            .filter(|&&t| now - t < Duration::from_secs(60))
            .count();
        times.push(now);
        if last_minute >= 4 {
            *counted.lock().unwrap() += 1;
            return Ok(response(204, ""));
        }
        Ok(response(
            200,
            body_of(asked(&request).iter().map(|r| not_found(r)).collect()),
        ))
    });
    let client = client(Arc::new(transport), Tier::Public);
    let start = tokio::time::Instant::now();
    let mut outcomes = client.file_reports(md5s(100), false);
    let mut n = 0;
    while let Some(outcome) = outcomes.next().await {
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        n += 1;
    }
    assert_eq!(n, 100);
    assert_eq!(*got_204.lock().unwrap(), 0, "pacing let a 204 through");
    // 25 requests at 4 a minute: the last one goes out in the 7th minute, not later.
    let elapsed = times.lock().unwrap().last().copied().unwrap() - start;
    assert!(elapsed >= Duration::from_secs(6 * 60), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(6 * 60 + 10),
        "{elapsed:?}: quota left unused"
    );
}

#[tokio::test(start_paused = true)]
async fn queued_resources_are_polled_until_found_or_the_deadline() {
    let queued = |resource: &str| serde_json::json!({"response_code": -2, "resource": resource, "scan_id": "ab", "verbose_msg": "Your resource is queued for analysis"});
    let mut transport = MockTransport::new();
    let mut calls = 0;
    transport.expect_send().times(3).returning(move |request| {
        calls += 1;
        let resource = &asked(&request)[0];
        let answer = if calls < 3 {
            queued(resource)
        } else {
            found(resource, 1)
        };
        Ok(response(200, body_of(vec![answer])))
    });
    let patient = client(Arc::new(transport), Tier::Private);
    let start = tokio::time::Instant::now();
    let answer = patient
        .wait_for_report(
            &one_md5(),
            false,
            Duration::from_secs(30),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), "found");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(60),
        "two waits of 30 s"
    );

    // A deadline shorter than the analysis: the last answer, still queued, comes back.
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .times(3)
        .returning(move |request| Ok(response(200, body_of(vec![queued(&asked(&request)[0])]))));
    let client = client(Arc::new(transport), Tier::Private);
    let answer = client
        .wait_for_report(
            &one_md5(),
            false,
            Duration::from_secs(30),
            Duration::from_secs(75),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), "queued");
}
