//! The API key appears in no error, no Debug output, no excerpt, whatever the service does.

mod common;

use std::sync::Arc;

use common::*;
use vt_api::{ApiKey, Client, RequestMethod, RetryPolicy, Tier};
use vt_transport::ReplayTransport;

/// Every way an error or the client can be shown, chained causes included.
fn shown(error: &vt_api::Error) -> String {
    let mut text = format!("{error} {error:?}");
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(&format!(" {c} {c:?}"));
        cause = c.source();
    }
    text
}

#[tokio::test(start_paused = true)]
async fn no_error_or_debug_output_shows_the_key() {
    let replay = Arc::new(ReplayTransport::new());
    let echo = format!("bad request for apikey={KEY}");
    replay.push_response(400, echo.clone());
    replay.push_response(418, echo.clone());
    replay.push_response(200, format!("<html>{KEY}</html>"));
    // A backend that puts the URL, key included, in its error text (GET mode).
    replay.push_error(vt_transport::Error::with_detail(
        vt_transport::ErrorKind::Connect,
        format!("error sending request for url (https://vt.test/vtapi/v2/file/report?apikey={KEY}&resource=x)"),
    ));
    replay.push_error(vt_transport::Error::new(
        vt_transport::ErrorKind::Tls,
        std::io::Error::other(format!("handshake failed for ?apikey={KEY}")),
    ));
    // Last: a 403 stops every request of the key after it.
    replay.push_response(403, "");
    let client = Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .request_method(RequestMethod::Get)
        .retry_policy(RetryPolicy::default().with_max_attempts(1))
        .transport(replay.clone())
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains(KEY), "{client:?}");
    let resource = "44d88612fea8a8f36de82e1278abb02f".parse().unwrap();
    let mut kinds = Vec::new();
    for _ in 0..6 {
        let error = client.file_report(&resource, true).await.unwrap_err();
        let text = shown(&error);
        assert!(!text.contains(KEY), "the key leaked: {text}");
        kinds.push(error.kind());
    }
    assert_eq!(
        kinds,
        [
            "bad_request",
            "unexpected_status",
            "decode",
            "transport",
            "transport",
            "forbidden",
        ]
    );
    assert_eq!(replay.remaining(), 0);
    // And the key did travel, where it belongs: in every request.
    assert!(replay
        .requests()
        .iter()
        .all(|r| r.uri.query().unwrap().contains("apikey=")));
}

#[test]
fn builder_errors_do_not_show_the_key() {
    let error = Client::builder(ApiKey::new(KEY))
        .base_url("not a url")
        .transport(Arc::new(ReplayTransport::new()))
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), "invalid_config");
    assert!(!shown(&error).contains(KEY));
    assert_eq!(format!("{:?}", ApiKey::new(KEY)), "ApiKey(<redacted>)");
}

/// `resource` looked up by a client with `key` on a service that answers `body` with 200.
async fn answer_with_key(key: &str, body: String) -> vt_api::FileReportOutcome {
    let replay = Arc::new(ReplayTransport::new());
    replay.push_response(200, body);
    let client = Client::builder(ApiKey::new(key))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(replay.clone())
        .build()
        .unwrap();
    let resource: vt_api::Resource = "44d88612fea8a8f36de82e1278abb02f".parse().unwrap();
    let mut outcomes = client.file_reports(vec![resource], false);
    outcomes.next().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_short_test_key_that_occurs_in_an_answer_leaves_the_answer_as_received() {
    // "k" is in "permalink", "test" in many a detection name: a key that short is no
    // VirusTotal key (those are 64 hex digits) and is in a report by chance, not by echo.
    for key in ["k", "test"] {
        let mut report = found("44d88612fea8a8f36de82e1278abb02f", 2);
        report["scans"]["Alpha"]["result"] = "Trojan.test.Gen".into();
        let body = report.to_string();
        let outcome = answer_with_key(key, body.clone()).await;
        assert_eq!(outcome.result.as_ref().unwrap().status(), "found");
        assert_eq!(
            outcome.bytes().map(|b| &b[..]),
            Some(body.as_bytes()),
            "key {key:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_echoed_into_an_answer_is_cut_out_of_it() {
    let mut report = found("44d88612fea8a8f36de82e1278abb02f", 2);
    report["echo"] = format!("you asked with apikey={KEY}").into();
    let outcome = answer_with_key(KEY, report.to_string()).await;
    assert_eq!(outcome.result.as_ref().unwrap().status(), "found");
    let raw = String::from_utf8(outcome.bytes().unwrap().to_vec()).unwrap();
    assert!(!raw.contains(KEY), "{raw}");
    assert!(raw.contains("apikey=<redacted>"), "{raw}");
}

/// Every way `KEY` can be written in a JSON body: as sent, upper-cased, mixed case, every
/// character `\u`-escaped (hex digits in both cases), and partly escaped.
fn echoes_of_the_key() -> Vec<String> {
    let escaped = |upper_hex: bool, every: usize| -> String {
        KEY.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % every == 0 {
                    if upper_hex {
                        format!("\\u{:04X}", c as u32)
                    } else {
                        format!("\\u{:04x}", c as u32)
                    }
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let mixed: String = KEY
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    vec![
        KEY.to_owned(),
        KEY.to_uppercase(),
        mixed,
        escaped(false, 1),
        escaped(true, 1),
        escaped(true, 3),
    ]
}

/// Whether `text` shows the key in any form: as JSON text once its escapes are read, in any
/// case.
fn shows_the_key(text: &str) -> bool {
    let unescaped: String =
        serde_json::from_str::<String>(&format!("\"{}\"", text.replace('"', "\\\"")))
            .unwrap_or_else(|_| text.to_owned());
    unescaped.to_lowercase().contains(&KEY.to_lowercase())
        || text.to_lowercase().contains(&KEY.to_lowercase())
}

#[tokio::test(start_paused = true)]
async fn a_key_echoed_in_any_case_or_escaped_is_cut_out_of_answers_and_errors() {
    for echo in echoes_of_the_key() {
        // In an answer: the bytes handed on (output, cache) no longer hold it.
        let mut report = found("44d88612fea8a8f36de82e1278abb02f", 2);
        report["echo"] = "ECHO".into();
        let body = report
            .to_string()
            .replace("ECHO", &format!("you asked with apikey={echo}"));
        let outcome = answer_with_key(KEY, body).await;
        let answer = outcome.result.unwrap();
        let raw = String::from_utf8(answer.bytes().to_vec()).unwrap();
        assert!(!shows_the_key(&raw), "{echo}: {raw}");
        assert!(raw.contains("apikey=<redacted>"), "{raw}");
        assert_eq!(answer.status(), "found");
        // In a 400's body: the error quoting it does not show it.
        let replay = Arc::new(ReplayTransport::new());
        replay.push_response(400, format!("bad request for apikey={echo}"));
        let client = Client::builder(ApiKey::new(KEY))
            .base_url("https://vt.test/vtapi/v2/")
            .transport(replay.clone())
            .build()
            .unwrap();
        let resource = "44d88612fea8a8f36de82e1278abb02f".parse().unwrap();
        let error = client.file_report(&resource, false).await.unwrap_err();
        let text = shown(&error);
        assert!(!shows_the_key(&text), "{echo}: {text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
