//! The URL, domain and IP endpoints through the one pipeline: what goes on the wire (method,
//! parameter, separator), how answers are matched, what is cached.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use vt_api::{
    Cache, Client, Domain, IpAddress, Params, Status, Url, DOMAIN_REPORT, IP_REPORT, URL_REPORT,
    URL_SCAN,
};

fn url(text: &str) -> Url {
    text.parse().unwrap()
}

fn url_report(resource: &str, positives: u32) -> serde_json::Value {
    serde_json::json!({
        "response_code": 1, "verbose_msg": "Scan finished, scan information embedded in this object",
        "resource": resource, "url": resource, "scan_id": "abc-1", "scan_date": "2026-11-18 08:53:20",
        "permalink": "https://www.virustotal.com/url/abc/analysis/1/", "filescan_id": null,
        "positives": positives, "total": 2,
        "scans": {"A": {"detected": positives > 0, "result": "malicious site"}, "B": {"detected": false, "result": "clean site"}}
    })
}

async fn outcomes<Q: vt_api::Query, T: vt_api::Report>(
    client: &Client,
    endpoint: &vt_api::Endpoint<Q, T>,
    queries: Vec<Q>,
    params: Params,
) -> Vec<vt_api::Outcome<Q, T>> {
    let mut stream = client.lookups(endpoint, futures_util::stream::iter(queries), params);
    let mut all = Vec::new();
    while let Some(outcome) = stream.next().await {
        all.push(outcome);
    }
    all
}

#[tokio::test(start_paused = true)]
async fn urls_go_joined_by_newlines_and_answers_match_by_their_exact_echo() {
    // A comma, a fragment, unicode, and two URLs that differ only in the case of their path.
    let asked = [
        "http://example.com/a,b?c=1#top",
        "https://example.org/Path",
        "https://example.org/path",
        "http://пример.испытание/",
    ];
    let mut transport = MockTransport::new();
    transport.expect_send().times(1).returning(|request| {
        assert_eq!(request.method(), http::Method::POST);
        assert!(request.uri().path().ends_with("/url/report"));
        let sent: Vec<String> = params(&request)["resource"]
            .split('\n')
            .map(str::to_owned)
            .collect();
        // Answered in reverse order: only the echo can match them.
        let answers = sent
            .iter()
            .enumerate()
            .rev()
            .map(|(i, r)| url_report(r, i as u32))
            .collect();
        Ok(response(200, body_of(answers)))
    });
    let client = client(Arc::new(transport), vt_api::Tier::Private);
    let got = outcomes(
        &client,
        &URL_REPORT,
        asked.iter().map(|u| url(u)).collect(),
        Params::new(),
    )
    .await;
    for (i, outcome) in got.iter().enumerate() {
        let report = outcome.result.as_ref().unwrap().as_found().unwrap();
        assert_eq!(outcome.query.as_str(), asked[i]);
        assert_eq!(report.resource.as_deref(), Some(asked[i]));
        assert_eq!(report.positives, Some(i as u32), "{}", asked[i]);
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_url_answer_without_resource_goes_to_its_place_unless_it_names_another_url() {
    let mut transport = MockTransport::new();
    transport.expect_send().times(1).returning(|_| {
        Ok(response(
            200,
            body_of(vec![
                serde_json::json!({"response_code": -1, "verbose_msg": "Invalid URL, the scan request was not queued"}),
                serde_json::json!({"response_code": 0, "url": "http://elsewhere.test/", "verbose_msg": "Resource does not exist in the dataset"}),
            ]),
        ))
    });
    let client = client(Arc::new(transport), vt_api::Tier::Private);
    let got = outcomes(
        &client,
        &URL_REPORT,
        vec![url("http://bad"), url("example.com")],
        Params::new(),
    )
    .await;
    assert_eq!(got[0].result.as_ref().unwrap().status(), Status::Invalid);
    assert_eq!(
        got[1].result.as_ref().unwrap_err().kind(),
        "mismatched_answer"
    );
}

#[tokio::test(start_paused = true)]
async fn domains_and_ips_go_one_a_request_by_get_and_their_answers_need_no_echo() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        counted.fetch_add(1, Ordering::SeqCst);
        assert_eq!(request.method(), http::Method::GET);
        let query = params(&request);
        let body = match (request.uri().path(), query.get("domain"), query.get("ip")) {
            (path, Some(domain), None) if path.ends_with("/domain/report") => serde_json::json!({
                "response_code": 1, "verbose_msg": "Domain found in dataset",
                "categories": [domain.clone()], "BitDefender category": "portals",
                "whois_timestamp": 1419179455.9518_f64,
            }),
            (path, None, Some(ip)) if path.ends_with("/ip-address/report") => match ip.as_str() {
                "8.8.8.8" => serde_json::json!({"response_code": 1, "asn": "15169", "as_owner": "Google", "country": "US"}),
                _ => serde_json::json!({"response_code": 0, "verbose_msg": "IP address not found"}),
            },
            other => panic!("unexpected request {other:?}"),
        };
        Ok(response(200, body.to_string()))
    });
    let client = client(Arc::new(transport), vt_api::Tier::Private);
    let domains: Vec<Domain> = ["Example.COM", "example.org"]
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    let got = outcomes(&client, &DOMAIN_REPORT, domains, Params::new()).await;
    let first = got[0].result.as_ref().unwrap().as_found().unwrap();
    assert_eq!(first.categories_merged(), ["example.com", "portals"]);
    let raw = got[0].result.as_ref().unwrap().bytes();
    assert!(std::str::from_utf8(raw)
        .unwrap()
        .contains("1419179455.9518"));
    let ips: Vec<IpAddress> = ["8.8.8.8", "192.0.2.1"]
        .iter()
        .map(|i| i.parse().unwrap())
        .collect();
    let got = outcomes(&client, &IP_REPORT, ips, Params::new()).await;
    let google = got[0].result.as_ref().unwrap().as_found().unwrap();
    assert_eq!(
        (google.asn(), google.owner()),
        (Some("15169".to_owned()), Some("Google"))
    );
    assert_eq!(got[1].result.as_ref().unwrap().status(), Status::NotFound);
    assert_eq!(requests.load(Ordering::SeqCst), 4, "one request each");
}

#[tokio::test(start_paused = true)]
async fn scans_and_scan_requests_are_never_answered_from_the_cache() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        counted.fetch_add(1, Ordering::SeqCst);
        let query = params(&request);
        let url = query
            .get("url")
            .or_else(|| query.get("resource"))
            .unwrap()
            .clone();
        Ok(response(
            200,
            serde_json::json!({
                "response_code": 1, "verbose_msg": "Scan request successfully queued, come back later for the report",
                "resource": url, "url": url, "scan_id": "abc-1", "scan_date": "2026-11-18 08:53:20",
                "permalink": "https://www.virustotal.com/url/abc/analysis/1/",
            })
            .to_string(),
        ))
    });
    let cache = Arc::new(Cache::in_memory().unwrap());
    let client = cached(Arc::new(transport), &cache);
    let target = url("http://new.example/");
    for _ in 0..2 {
        let scanned = client
            .lookup(&URL_SCAN, &target, &Params::new())
            .await
            .unwrap();
        assert_eq!(scanned.as_found().unwrap().scan_id, "abc-1");
        let queued = client
            .lookup(&URL_REPORT, &target, &Params::new().submitting("scan", "1"))
            .await
            .unwrap();
        assert!(queued.as_found().unwrap().is_queued_scan());
    }
    assert_eq!(requests.load(Ordering::SeqCst), 4);
    assert_eq!(cache.len().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_scan_echoing_the_normalised_url_goes_to_the_url_it_names() {
    // url/scan echoes `http://example.com/` for `example.com`: no exact echo, yet the
    // answer is that question's, and never another's.
    let mut transport = MockTransport::new();
    transport.expect_send().times(1).returning(|request| {
        assert!(request.uri().path().ends_with("/url/scan"));
        let normalised = ["http://other.example/x", "http://example.com/"];
        let answers = normalised
            .iter()
            .map(|u| {
                serde_json::json!({
                    "response_code": 1, "verbose_msg": "Scan request successfully queued, come back later for the report",
                    "resource": u, "url": u, "scan_id": format!("{u}-1"), "scan_date": "2026-11-18 08:53:20",
                    "permalink": "https://www.virustotal.com/url/abc/analysis/1/",
                })
            })
            .collect();
        Ok(response(200, body_of(answers)))
    });
    let client = client(Arc::new(transport), vt_api::Tier::Private);
    let got = outcomes(
        &client,
        &URL_SCAN,
        vec![url("Example.COM"), url("other.example/x")],
        Params::new(),
    )
    .await;
    let scan_ids: Vec<&str> = got
        .iter()
        .map(|o| {
            o.result
                .as_ref()
                .unwrap()
                .as_found()
                .unwrap()
                .scan_id
                .as_str()
        })
        .collect();
    assert_eq!(
        scan_ids,
        ["http://example.com/-1", "http://other.example/x-1"]
    );
}
