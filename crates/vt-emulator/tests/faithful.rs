//! The answers' bytes, checked through real HTTP on loopback: the service's separators, the
//! key order of the data as loaded, `resource` where the recordings have it, the recorded
//! headers, gzip, and shuffled batches.

mod common;

use std::io::Read as _;
use std::net::SocketAddr;

use common::{exchange, get, report, Reply};
use vt_emulator::{Dataset, Emulator, EmulatorBuilder, KeySpec, RunningEmulator, Tier};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const NOT_FOUND_MSG: &str =
    "The requested resource is not among the finished, queued or pending scans";

/// A file report written as the service writes a plain one: `scans` first (engines not in
/// name order), `resource` fourth, `positives` after `total`; Python's separators.
const RECORDED_SHAPE: &str = r#"{"scans": {"Zoner": {"detected": true, "version": "1.0", "result": "EICAR", "update": "20240611"}, "Avast": {"detected": false, "version": "23.9", "result": null, "update": "20240610"}}, "scan_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1718101800", "sha1": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "resource": "cccccccccccccccccccccccccccccccc", "response_code": 1, "scan_date": "2024-06-11 10:30:00", "permalink": "https://www.virustotal.com/file/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/analysis/1718101800/", "verbose_msg": "Scan finished, information embedded", "total": 2, "positives": 1, "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "md5": "cccccccccccccccccccccccccccccccc"}"#;
const RECORDED_MD5: &str = "cccccccccccccccccccccccccccccccc";
const RECORDED_SHA1: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

fn with_keys() -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .key(KeySpec::new("priv", Tier::Private).unwrap())
}

fn text(reply: &Reply) -> &str {
    std::str::from_utf8(&reply.body).expect("UTF-8")
}

/// The recorded-shape report loaded alone, as a file would hold it.
fn recorded_dataset(json: &str) -> Dataset {
    let mut data = Dataset::new();
    data.add_json("recorded.json", json.as_bytes()).unwrap();
    data
}

/// A GET with extra header lines (each ending in `\r\n`).
async fn get_with(addr: SocketAddr, target: &str, headers: &str) -> Reply {
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    exchange(addr, request.as_bytes()).await.expect("an answer")
}

#[tokio::test]
async fn the_eicar_report_matches_the_grep_of_shell_scripts() {
    // `grep -Eo '"positives": [0-9]+'`, the pattern of the issue's shell script.
    let emu = start(with_keys()).await;
    let reply = report(emu.addr(), &format!("apikey=priv&resource={EICAR_MD5}")).await;
    assert_eq!(reply.status, 200);
    let body = text(&reply);
    let at = body
        .find("\"positives\": ")
        .expect("\"positives\": in the answer")
        + 13;
    let digits = body[at..].bytes().take_while(u8::is_ascii_digit).count();
    assert!(digits > 0, "a number after \"positives\": in {body}");
    assert_eq!(&body[at..at + digits], "9");
    assert!(!body.contains(",\""), "no compact separator: {body}");
}

#[tokio::test]
async fn a_recorded_report_is_served_byte_for_byte_as_loaded() {
    let emu = start(with_keys().dataset(recorded_dataset(RECORDED_SHAPE))).await;
    for allinfo in ["", "&allinfo=1"] {
        let reply = report(
            emu.addr(),
            &format!("apikey=priv&resource={RECORDED_MD5}{allinfo}"),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(text(&reply), RECORDED_SHAPE, "allinfo {allinfo:?}");
    }
    // Asked by another hash: only the echo differs, in the same place.
    let reply = report(emu.addr(), &format!("apikey=priv&resource={RECORDED_SHA1}")).await;
    let expected = RECORDED_SHAPE.replace(
        &format!("\"resource\": \"{RECORDED_MD5}\""),
        &format!("\"resource\": \"{RECORDED_SHA1}\""),
    );
    assert_eq!(text(&reply), expected);
}

#[tokio::test]
async fn a_pretty_printed_report_is_served_with_the_services_separators_in_its_order() {
    let value: serde_json::Value = serde_json::from_str(RECORDED_SHAPE).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    // serde_json's Value sorts keys: load the pretty text of the recorded order instead.
    let pretty_in_order = RECORDED_SHAPE
        .replace(", \"", ",\n    \"")
        .replace("{\"", "{\n    \"");
    assert_ne!(pretty, pretty_in_order);
    let emu = start(with_keys().dataset(recorded_dataset(&pretty_in_order))).await;
    let reply = report(emu.addr(), &format!("apikey=priv&resource={RECORDED_MD5}")).await;
    assert_eq!(text(&reply), RECORDED_SHAPE);
}

#[tokio::test]
async fn without_a_stored_resource_the_echo_goes_before_response_code() {
    let without = RECORDED_SHAPE.replace(&format!("\"resource\": \"{RECORDED_MD5}\", "), "");
    let emu = start(with_keys().dataset(recorded_dataset(&without))).await;
    let reply = report(emu.addr(), &format!("apikey=priv&resource={RECORDED_SHA1}")).await;
    let expected = without.replace(
        "\"response_code\": 1",
        &format!("\"resource\": \"{RECORDED_SHA1}\", \"response_code\": 1"),
    );
    assert_eq!(text(&reply), expected);
}

#[tokio::test]
async fn not_found_invalid_and_queued_items_are_written_as_recorded() {
    let sha256 = "a".repeat(64);
    let emu = start(
        with_keys()
            .dataset(recorded_dataset(RECORDED_SHAPE))
            .queued(&sha256),
    )
    .await;
    let unknown = "0".repeat(32);
    let reply = report(
        emu.addr(),
        &format!("apikey=priv&resource={unknown},not-a-hash,{RECORDED_MD5}"),
    )
    .await;
    assert_eq!(
        text(&reply),
        format!(
            "[{{\"response_code\": 0, \"resource\": \"{unknown}\", \"verbose_msg\": \"{NOT_FOUND_MSG}\"}}, \
             {{\"response_code\": 0, \"resource\": \"not-a-hash\", \"verbose_msg\": \"Invalid resource, check what you are submitting\"}}, \
             {{\"response_code\": -2, \"resource\": \"{RECORDED_MD5}\", \"scan_id\": \"{sha256}\", \"verbose_msg\": \"Your resource is queued for analysis\"}}]"
        )
    );
}

#[tokio::test]
async fn url_reports_keep_their_loaded_order_and_the_echo_its_place() {
    // The recorded order (permalink, resource, url, ...), not the order of the keys' names.
    let stored = r#"{"permalink": "https://www.virustotal.com/url/dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf/analysis/1419457210/", "resource": "http://www.google.com", "url": "http://www.google.com/", "response_code": 1, "scan_date": "2014-12-24 21:40:10", "scan_id": "dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf-1419457210", "verbose_msg": "Scan finished, scan information embedded in this object", "filescan_id": null, "positives": 0, "total": 2, "scans": {"Opera": {"detected": false, "result": "clean site"}, "ADMINUSLabs": {"detected": false, "result": "clean site"}}}"#;
    let mut data = Dataset::new();
    data.add_url_json("google.json", stored.as_bytes()).unwrap();
    let emu = start(with_keys().dataset(data)).await;
    let reply = get(
        emu.addr(),
        "/vtapi/v2/url/report?apikey=priv&resource=http://www.google.com",
    )
    .await
    .unwrap();
    assert_eq!(text(&reply), stored);
    let reply = get(
        emu.addr(),
        "/vtapi/v2/url/report?apikey=priv&resource=WWW.GOOGLE.COM",
    )
    .await
    .unwrap();
    assert_eq!(
        text(&reply),
        stored.replace(
            "\"resource\": \"http://www.google.com\"",
            "\"resource\": \"WWW.GOOGLE.COM\""
        )
    );
}

#[tokio::test]
async fn domain_and_ip_answers_keep_their_loaded_order() {
    // Keys out of name order, and a float written as recorded.
    let domain = r#"{"BitDefender category": "computersandsoftware", "whois_timestamp": 1419179455.9518, "response_code": 1, "verbose_msg": "Domain found in dataset", "Alexa rank": 7}"#;
    let ip = r#"{"asn": "15169", "response_code": 1, "as_owner": "Google Inc.", "verbose_msg": "IP address found in dataset", "country": "US"}"#;
    let mut data = Dataset::new();
    data.add_domain_json("example.com", domain.as_bytes())
        .unwrap();
    data.add_ip_json("192.0.2.1", ip.as_bytes()).unwrap();
    let emu = start(with_keys().dataset(data)).await;
    let reply = get(
        emu.addr(),
        "/vtapi/v2/domain/report?apikey=priv&domain=example.com",
    )
    .await
    .unwrap();
    assert_eq!(text(&reply), domain);
    let reply = get(
        emu.addr(),
        "/vtapi/v2/ip-address/report?apikey=priv&ip=192.0.2.1",
    )
    .await
    .unwrap();
    assert_eq!(text(&reply), ip);
    let reply = get(
        emu.addr(),
        "/vtapi/v2/domain/report?apikey=priv&domain=unknown.example",
    )
    .await
    .unwrap();
    assert_eq!(
        text(&reply),
        r#"{"response_code": 0, "verbose_msg": "Domain not found"}"#
    );
}

#[tokio::test]
async fn headers_are_those_recorded() {
    let emu = start(with_keys()).await;
    let ok = report(emu.addr(), &format!("apikey=priv&resource={EICAR_MD5}")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert_eq!(ok.header("cache-control"), Some("no-cache"));
    assert_eq!(ok.header("vary"), Some("Accept-Encoding"));
    assert_eq!(ok.header("content-encoding"), None);

    // 403 as recorded: text/html, no-cache, Content-Length 0.
    let forbidden = report(emu.addr(), &format!("apikey=nobody&resource={EICAR_MD5}")).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(forbidden.header("cache-control"), Some("no-cache"));
    assert_eq!(forbidden.content_length(), Some(0));
    assert!(forbidden.body.is_empty());

    let bad = report(emu.addr(), "apikey=priv").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(bad.header("cache-control"), Some("no-cache"));
    assert!(bad.body.is_empty());

    let missing = get(emu.addr(), "/vtapi/v2/no/such/endpoint").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-cache"));
    assert!(missing.body.is_empty());
}

#[tokio::test]
async fn a_204_has_no_body_and_no_content_type() {
    let emu = start(with_keys().public_per_minute(1)).await;
    let query = format!("apikey=pub&resource={EICAR_MD5}");
    assert_eq!(report(emu.addr(), &query).await.status, 200);
    let over = report(emu.addr(), &query).await;
    assert_eq!(over.status, 204);
    assert_eq!(over.header("content-type"), None);
    assert_eq!(over.header("cache-control"), Some("no-cache"));
    assert!(over.body.is_empty());
}

fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

#[tokio::test]
async fn accept_encoding_gzip_gets_the_same_answer_gzipped() {
    let emu = start(with_keys()).await;
    let target = format!("/vtapi/v2/file/report?apikey=priv&resource={EICAR_MD5},{RECORDED_MD5}");
    let plain = get(emu.addr(), &target).await.unwrap();
    for accept in [
        "gzip",
        "gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
        "deflate, GZIP",
        "*",
    ] {
        let reply = get_with(
            emu.addr(),
            &target,
            &format!("Accept-Encoding: {accept}\r\n"),
        )
        .await;
        assert_eq!(reply.status, 200, "{accept}");
        assert_eq!(reply.header("content-encoding"), Some("gzip"), "{accept}");
        assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
        assert_eq!(reply.content_length(), Some(reply.body.len()));
        assert!(reply.body.len() < plain.body.len(), "{accept}: compressed");
        assert_eq!(gunzip(&reply.body), text(&plain), "{accept}");
    }
    for refused in ["gzip;q=0", "deflate", "identity"] {
        let reply = get_with(
            emu.addr(),
            &target,
            &format!("Accept-Encoding: {refused}\r\n"),
        )
        .await;
        assert_eq!(reply.header("content-encoding"), None, "{refused}");
        assert_eq!(reply.body, plain.body, "{refused}");
    }
    // Empty bodies stay empty.
    let forbidden = get_with(
        emu.addr(),
        "/vtapi/v2/file/report?apikey=nobody&resource=x",
        "Accept-Encoding: gzip\r\n",
    )
    .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.header("content-encoding"), None);
    assert!(forbidden.body.is_empty());
}

/// The `resource` of each item of a batch answer, in the order answered.
fn answered_resources(reply: &Reply) -> Vec<String> {
    let items = reply.json();
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["resource"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn shuffled_batches_answer_every_item_in_another_order_reproducibly() {
    let asked: Vec<String> = (0..25).map(|i| format!("{i:032x}")).collect();
    let query = format!("apikey=priv&resource={}", asked.join(","));

    let in_order = start(with_keys()).await;
    let reply = report(in_order.addr(), &query).await;
    assert_eq!(
        answered_resources(&reply),
        asked,
        "the request's order by default"
    );

    let mut orders = Vec::new();
    for _ in 0..2 {
        let emu = start(with_keys().shuffle_batches(true).seed(7)).await;
        let first = answered_resources(&report(emu.addr(), &query).await);
        let second = answered_resources(&report(emu.addr(), &query).await);
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, asked, "every item once");
        assert_ne!(first, asked, "shuffled");
        assert_ne!(first, second, "each batch its own order");
        orders.push((first, second));
    }
    assert_eq!(orders[0], orders[1], "the same seed, the same orders");

    // One resource is still one object.
    let emu = start(with_keys().shuffle_batches(true)).await;
    let one = report(emu.addr(), &format!("apikey=priv&resource={EICAR_MD5}")).await;
    assert!(one.json().is_object());
}
