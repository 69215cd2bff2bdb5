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
    replay.push_response(403, "");
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
            "forbidden",
            "decode",
            "transport",
            "transport"
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
