//! A hostile or broken service: every failure is typed and confined to the resources it
//! concerns; nothing panics, nothing hangs, nothing is lost.

mod common;

use std::sync::Arc;

use common::*;
use vt_api::{Error, FileReportAnswer, Tier};
use vt_transport::ReplayTransport;

async fn run(replay: &Arc<ReplayTransport>, n: usize) -> Vec<Result<FileReportAnswer, Error>> {
    let client = client(replay.clone(), Tier::Public);
    let mut outcomes = client.file_reports(md5s(n), false);
    let mut all = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        // The typed view, as a library caller who reads the reports decodes it.
        all.push(outcome.result.and_then(|raw| Ok(raw.into_answer()?)));
    }
    all
}

#[tokio::test(start_paused = true)]
async fn an_array_longer_than_the_batch_answers_only_what_was_asked() {
    let replay = Arc::new(ReplayTransport::new());
    let asked = md5s(4);
    let mut answers: Vec<serde_json::Value> = asked.iter().map(|r| not_found(r.as_str())).collect();
    answers.extend((100..150).map(|i| not_found(&format!("{i:032x}"))));
    replay.push_response(200, body_of(answers));
    let results = run(&replay, 4).await;
    assert_eq!(results.len(), 4);
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(FileReportAnswer::NotFound(_)))));
}

#[tokio::test(start_paused = true)]
async fn an_html_page_with_status_200_fails_its_chunk_only() {
    let replay = Arc::new(ReplayTransport::new());
    let resources = md5s(8);
    replay.push_response(
        200,
        "<html><body>Please log in to the captive portal</body></html>",
    );
    replay.push_response(
        200,
        body_of(
            resources[4..]
                .iter()
                .map(|r| not_found(r.as_str()))
                .collect(),
        ),
    );
    let results = run(&replay, 8).await;
    for result in &results[..4] {
        match result {
            Err(Error::Decode(d)) => {
                assert_eq!(d.category, vt_model::DecodeCategory::Syntax);
                assert!(d.excerpt.contains("captive portal"), "{d:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(results[4..].iter().all(|r| r.is_ok()));
    assert_eq!(
        replay.requests().len(),
        2,
        "not retried: the page will not change"
    );
}

#[tokio::test(start_paused = true)]
async fn a_found_report_with_a_wrong_type_names_the_field() {
    let replay = Arc::new(ReplayTransport::new());
    let resource = &md5s(1)[0];
    let mut report = found(resource.as_str(), 1);
    report["positives"] = serde_json::json!("one");
    replay.push_response(200, body_of(vec![report]));
    let results = run(&replay, 1).await;
    match &results[0] {
        Err(Error::Decode(d)) => assert_eq!(d.path, "positives"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_status_with_a_huge_body_keeps_only_an_excerpt() {
    let replay = Arc::new(ReplayTransport::new());
    replay.push_response(418, "x".repeat(1 << 20));
    let results = run(&replay, 1).await;
    match &results[0] {
        Err(Error::UnexpectedStatus { status, excerpt }) => {
            assert_eq!(*status, 418);
            assert!(excerpt.len() <= 200);
        }
        other => panic!("{other:?}"),
    }
}
