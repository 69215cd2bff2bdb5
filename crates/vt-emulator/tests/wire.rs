//! Every rule of the wire, checked through real HTTP on loopback.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_empty, get, post, report, temp_dir};
use serde_json::{json, Value};
use vt_emulator::{
    Dataset, Emulator, EmulatorBuilder, Fault, FaultKind, KeySpec, ManualClock, RunningEmulator,
    Tier,
};

const SAMPLE_MD5: &str = "99017f6eebbac24f351415dd410d522d";
const SAMPLE_SHA256: &str = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const PE_SHA256: &str = "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc";
const UNKNOWN_MD5: &str = "00000000000000000000000000000001";
const PUBLIC_FIELDS: [&str; 12] = [
    "response_code",
    "verbose_msg",
    "resource",
    "scan_id",
    "md5",
    "sha1",
    "sha256",
    "scan_date",
    "permalink",
    "positives",
    "total",
    "scans",
];
const NOT_FOUND_MSG: &str =
    "The requested resource is not among the finished, queued or pending scans";
const INVALID_MSG: &str = "Invalid resource, check what you are submitting";

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

/// Public key `pub`, private key `priv`.
fn with_keys() -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .key(KeySpec::new("priv", Tier::Private).unwrap())
}

fn keys_of(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn public_part(value: &Value) -> Value {
    let object = value.as_object().expect("an object");
    Value::Object(
        object
            .iter()
            .filter(|(k, _)| PUBLIC_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn report_json(sha256: &str, md5: &str, scan_date: &str, unix: u64) -> String {
    json!({
        "response_code": 1, "verbose_msg": "Scan finished, information embedded",
        "resource": sha256, "scan_id": format!("{sha256}-{unix}"), "md5": md5,
        "sha1": "1111111111111111111111111111111111111111", "sha256": sha256,
        "scan_date": scan_date, "permalink": format!("https://www.virustotal.com/file/{sha256}/analysis/{unix}/"),
        "positives": 0, "total": 0, "scans": {}
    })
    .to_string()
}

#[tokio::test]
async fn the_bundled_dataset_serves_the_documented_sample_with_the_resource_echoed() {
    let emu = start(Emulator::builder()).await;
    let asked = SAMPLE_MD5.to_uppercase();
    let reply = report(emu.addr(), &format!("apikey=anything&resource={asked}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["resource"], asked.as_str(), "echoed exactly as sent");
    assert_eq!(body["response_code"], 1);
    assert_eq!(body["md5"], SAMPLE_MD5);
    assert_eq!(body["sha256"], SAMPLE_SHA256);
    assert_eq!(
        (body["positives"].clone(), body["total"].clone()),
        (json!(40), json!(40))
    );
    assert_eq!(body["scans"].as_object().unwrap().len(), 5);
    assert_eq!(body["scans"]["McAfee"]["result"], "Generic.dx!rkx");
    assert_eq!(keys_of(&body), BTreeSet::from(PUBLIC_FIELDS));
    let decoded = vt_model::decode_body(&reply.body).unwrap();
    assert_eq!(decoded.answers()[0].status(), "found");
}

#[tokio::test]
async fn every_hash_and_the_scan_id_find_the_report_in_any_case() {
    let emu = start(Emulator::builder()).await;
    let sha1 = "4d1740485713a2ab3a4f5822a01f645fe8387f92";
    let scan_id = format!("{SAMPLE_SHA256}-1273894724");
    for asked in [
        SAMPLE_MD5.to_owned(),
        sha1.to_uppercase(),
        SAMPLE_SHA256.to_owned(),
        scan_id.to_uppercase(),
    ] {
        let body = report(emu.addr(), &format!("apikey=k&resource={asked}"))
            .await
            .json();
        assert_eq!(body["response_code"], 1, "{asked}");
        assert_eq!(body["resource"], asked.as_str());
        assert_eq!(body["md5"], SAMPLE_MD5);
    }
}

#[tokio::test]
async fn post_forms_answer_exactly_like_get() {
    let emu = start(Emulator::builder()).await;
    let query = format!("apikey=k&resource={PE_SHA256}&allinfo=1");
    let by_get = report(emu.addr(), &query).await;
    let form = post(
        emu.addr(),
        "/vtapi/v2/file/report",
        "application/x-www-form-urlencoded",
        &query,
    )
    .await
    .unwrap();
    let multipart_body = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk\r\n\
         --b0undary\r\nContent-Disposition: form-data; name=\"resource\"\r\n\r\n{PE_SHA256}\r\n\
         --b0undary\r\nContent-Disposition: form-data; name=\"allinfo\"\r\n\r\ntrue\r\n--b0undary--\r\n"
    );
    let multipart = post(
        emu.addr(),
        "/vtapi/v2/file/report",
        "multipart/form-data; boundary=b0undary",
        &multipart_body,
    )
    .await
    .unwrap();
    assert_eq!(by_get.status, 200);
    assert!(by_get.json().get("additional_info").is_some());
    assert_eq!(form.status, 200);
    assert_eq!(form.body, by_get.body);
    assert_eq!(multipart.status, 200);
    assert_eq!(multipart.body, by_get.body);
}

#[tokio::test]
async fn a_repeated_parameter_counts_by_its_first_value_query_before_body() {
    let emu = start(with_keys()).await;
    let addr = emu.addr();
    let query = format!("apikey=nope&apikey=priv&resource={SAMPLE_MD5}");
    assert_empty(&report(addr, &query).await, 403);
    let query = format!("apikey=priv&apikey=nope&resource={SAMPLE_MD5}");
    assert_eq!(report(addr, &query).await.status, 200);
    // A public key: the first allinfo is off, so the second does not make it a private request.
    let query = format!("apikey=pub&resource={SAMPLE_MD5}&allinfo=0&allinfo=1");
    let allinfo_off = report(addr, &query).await;
    assert_eq!(allinfo_off.status, 200);
    assert_eq!(
        keys_of(&allinfo_off.json()),
        PUBLIC_FIELDS.into_iter().collect()
    );
    let query = format!("apikey=pub&resource={SAMPLE_MD5}&allinfo=1&allinfo=0");
    assert_empty(&report(addr, &query).await, 403);
    // The query's resource wins over the body's; the body still gives the key.
    let mixed = post(
        addr,
        &format!("/vtapi/v2/file/report?resource={SAMPLE_MD5}"),
        "application/x-www-form-urlencoded",
        &format!("resource={UNKNOWN_MD5}&apikey=priv&apikey=nope"),
    )
    .await
    .unwrap();
    assert_eq!(mixed.status, 200);
    assert_eq!(mixed.json()["resource"], SAMPLE_MD5);
    assert_eq!(mixed.json()["response_code"], 1);
    assert_eq!(emu.stats().resources_asked, 5);
}

#[tokio::test]
async fn allinfo_gives_the_whole_report_and_plain_requests_the_public_view() {
    let emu = start(with_keys()).await;
    let full = report(
        emu.addr(),
        &format!("apikey=priv&resource={PE_SHA256}&allinfo=1"),
    )
    .await;
    let also_full = report(
        emu.addr(),
        &format!("apikey=priv&resource={PE_SHA256}&allinfo=TRUE"),
    )
    .await;
    let plain = report(emu.addr(), &format!("apikey=priv&resource={PE_SHA256}")).await;
    let off = report(
        emu.addr(),
        &format!("apikey=priv&resource={PE_SHA256}&allinfo=0"),
    )
    .await;
    let full = full.json();
    for key in [
        "additional_info",
        "first_seen",
        "submission_names",
        "ITW_urls",
        "vhash",
    ] {
        assert!(full.get(key).is_some(), "allinfo has {key}");
    }
    assert_eq!(full["additional_info"]["pe-machine-type"], 332);
    assert_eq!(also_full.json(), full);
    let plain = plain.json();
    assert_eq!(keys_of(&plain), BTreeSet::from(PUBLIC_FIELDS));
    assert_eq!(plain, public_part(&full));
    assert_eq!(off.json(), plain);
    // An engine's extra key stays in the public view: it is part of `scans`.
    assert_eq!(plain["scans"]["Cylance"]["category"], "malicious");
}

#[tokio::test]
async fn missing_unknown_or_empty_keys_are_forbidden_with_an_empty_html_body() {
    let emu = start(with_keys()).await;
    for query in [
        format!("resource={SAMPLE_MD5}"),
        format!("apikey=&resource={SAMPLE_MD5}"),
        format!("apikey=nope&resource={SAMPLE_MD5}"),
        String::new(),
    ] {
        let reply = report(emu.addr(), &query).await;
        assert_empty(&reply, 403);
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(reply.content_length(), Some(0));
    }
    let reply = report(emu.addr(), &format!("apikey=pub&resource={SAMPLE_MD5}")).await;
    assert_eq!(reply.status, 200, "a listed key works");
}

#[tokio::test]
async fn without_listed_keys_any_non_empty_key_is_private() {
    let emu = start(Emulator::builder()).await;
    let reply = report(
        emu.addr(),
        &format!("apikey=x&resource={PE_SHA256}&allinfo=1"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.json().get("additional_info").is_some());
    let many = vec![SAMPLE_MD5; 25].join(",");
    assert_eq!(
        report(emu.addr(), &format!("apikey=x&resource={many}"))
            .await
            .status,
        200
    );
    assert_empty(
        &report(emu.addr(), &format!("apikey=&resource={SAMPLE_MD5}")).await,
        403,
    );
}

#[tokio::test]
async fn allinfo_with_a_public_key_is_forbidden() {
    let emu = start(with_keys()).await;
    for flag in ["1", "true"] {
        let reply = report(
            emu.addr(),
            &format!("apikey=pub&resource={PE_SHA256}&allinfo={flag}"),
        )
        .await;
        assert_empty(&reply, 403);
    }
    let reply = report(
        emu.addr(),
        &format!("apikey=pub&resource={PE_SHA256}&allinfo=0"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(emu.stats().status(403), 2);
}

#[tokio::test]
async fn a_missing_resource_is_a_bad_request() {
    let emu = start(with_keys()).await;
    for query in [
        "apikey=priv",
        "apikey=priv&resource=",
        "apikey=priv&resource=%20,%20",
    ] {
        assert_empty(&report(emu.addr(), query).await, 400);
    }
}

#[tokio::test]
async fn batches_answer_an_array_in_request_order_with_or_without_spaces() {
    let emu = start(with_keys()).await;
    let upper = SAMPLE_MD5.to_uppercase();
    for separator in [",", ", ", "%2C", "%2C%20", "%2C+"] {
        let query = format!(
            "apikey=priv&resource={upper}{separator}{UNKNOWN_MD5}{separator}not-a-hash{separator}{EICAR_MD5}"
        );
        let reply = report(emu.addr(), &query).await;
        assert_eq!(reply.status, 200, "{separator:?}");
        let items = reply.json();
        let items = items.as_array().expect("an array");
        let echoed: Vec<&str> = items
            .iter()
            .map(|i| i["resource"].as_str().unwrap())
            .collect();
        assert_eq!(
            echoed,
            [upper.as_str(), UNKNOWN_MD5, "not-a-hash", EICAR_MD5]
        );
        let codes: Vec<i64> = items
            .iter()
            .map(|i| i["response_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, [1, 0, 0, 1]);
        assert_eq!(items[1]["verbose_msg"], NOT_FOUND_MSG);
        assert_eq!(items[2]["verbose_msg"], INVALID_MSG);
        assert_eq!(
            vt_model::decode_body(&reply.body).unwrap().answers().len(),
            4
        );
    }
}

#[tokio::test]
async fn a_batch_over_the_tier_limit_is_a_bad_request() {
    let emu = start(with_keys()).await;
    let batch = |n: usize| vec![SAMPLE_MD5; n].join(", ");
    let public_ok = report(emu.addr(), &format!("apikey=pub&resource={}", batch(4))).await;
    assert_eq!(public_ok.json().as_array().unwrap().len(), 4);
    assert_empty(
        &report(emu.addr(), &format!("apikey=pub&resource={}", batch(5))).await,
        400,
    );
    let private_ok = report(emu.addr(), &format!("apikey=priv&resource={}", batch(25))).await;
    assert_eq!(private_ok.json().as_array().unwrap().len(), 25);
    assert_empty(
        &report(emu.addr(), &format!("apikey=priv&resource={}", batch(26))).await,
        400,
    );

    let custom = start(with_keys().batch_limit_public(2).batch_limit_private(3)).await;
    assert_empty(
        &report(custom.addr(), &format!("apikey=pub&resource={}", batch(3))).await,
        400,
    );
    assert_empty(
        &report(custom.addr(), &format!("apikey=priv&resource={}", batch(4))).await,
        400,
    );
    assert_eq!(
        report(custom.addr(), &format!("apikey=priv&resource={}", batch(3)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_public_key_over_its_minute_gets_204_until_the_minute_rolls() {
    let clock = ManualClock::new();
    let emu = start(with_keys().clock(clock.clone())).await;
    let ask = |key: &'static str| {
        let addr = emu.addr();
        async move { report(addr, &format!("apikey={key}&resource={SAMPLE_MD5}")).await }
    };
    for _ in 0..4 {
        assert_eq!(ask("pub").await.status, 200);
    }
    let over = ask("pub").await;
    assert_empty(&over, 204);
    assert_eq!(over.header("content-type"), None);
    assert_eq!(ask("priv").await.status, 200, "private keys have no quota");
    clock.advance(Duration::from_secs(59));
    assert_empty(&ask("pub").await, 204);
    clock.advance(Duration::from_secs(1));
    for _ in 0..4 {
        assert_eq!(ask("pub").await.status, 200);
    }
    assert_empty(&ask("pub").await, 204);
    assert_eq!(emu.stats().status(204), 3);
}

#[tokio::test]
async fn a_public_key_over_its_day_gets_204_until_the_day_rolls() {
    let clock = ManualClock::new();
    let emu = start(
        with_keys()
            .public_per_minute(1000)
            .public_per_day(3)
            .clock(clock.clone()),
    )
    .await;
    let query = format!("apikey=pub&resource={SAMPLE_MD5}");
    for _ in 0..3 {
        assert_eq!(report(emu.addr(), &query).await.status, 200);
        clock.advance(Duration::from_secs(3600));
    }
    assert_empty(&report(emu.addr(), &query).await, 204);
    // The first request was 3 hours ago; it leaves the day at 24 hours.
    clock.advance(Duration::from_secs(21 * 3600 - 1));
    assert_empty(&report(emu.addr(), &query).await, 204);
    clock.advance(Duration::from_secs(1));
    assert_eq!(report(emu.addr(), &query).await.status, 200);
    assert_empty(&report(emu.addr(), &query).await, 204);
}

#[tokio::test]
async fn private_quotas_apply_only_when_given() {
    let emu = start(with_keys().private_per_minute(1).clock(ManualClock::new())).await;
    let query = format!("apikey=priv&resource={SAMPLE_MD5}");
    assert_eq!(report(emu.addr(), &query).await.status, 200);
    assert_empty(&report(emu.addr(), &query).await, 204);
}

#[tokio::test]
async fn queued_resources_answer_minus_two_with_the_bare_sha256() {
    let other = "a".repeat(64);
    let emu = start(
        with_keys()
            .queued(PE_SHA256.to_uppercase())
            .queued(format!("{other}-1700000000"))
            .queued(SAMPLE_MD5),
    )
    .await;
    let cases = [
        (PE_SHA256.to_uppercase(), PE_SHA256),
        (PE_SHA256.to_owned(), PE_SHA256),
        (format!("{other}-1700000000"), other.as_str()),
        (SAMPLE_MD5.to_owned(), SAMPLE_SHA256),
        (SAMPLE_SHA256.to_owned(), SAMPLE_SHA256),
    ];
    for (asked, sha256) in cases {
        let body = report(emu.addr(), &format!("apikey=priv&resource={asked}"))
            .await
            .json();
        assert_eq!(
            body,
            json!({"response_code": -2, "resource": asked, "scan_id": sha256,
                   "verbose_msg": "Your resource is queued for analysis"}),
        );
    }
    let err = with_keys().queued(UNKNOWN_MD5).build().unwrap_err();
    assert!(err.to_string().contains(UNKNOWN_MD5), "{err}");
    assert!(with_keys().queued("nope").build().is_err());
}

#[tokio::test]
async fn invalid_and_unknown_resources_answer_zero_with_their_messages() {
    let emu = start(with_keys()).await;
    let invalid = report(emu.addr(), "apikey=priv&resource=some_wrong_resource_id").await;
    assert_eq!(
        invalid.json(),
        json!({"response_code": 0, "resource": "some_wrong_resource_id", "verbose_msg": INVALID_MSG})
    );
    let odd = report(emu.addr(), "apikey=priv&resource=%22quoted%22%C3%A9").await;
    assert_eq!(
        odd.json()["resource"],
        "\"quoted\"\u{e9}",
        "echo is escaped as JSON"
    );
    let unknown = report(emu.addr(), &format!("apikey=priv&resource={UNKNOWN_MD5}")).await;
    assert_eq!(
        unknown.json(),
        json!({"response_code": 0, "resource": UNKNOWN_MD5, "verbose_msg": NOT_FOUND_MSG})
    );
}

#[tokio::test]
async fn stats_count_every_api_request_by_status_and_endpoint() {
    let emu = start(with_keys()).await;
    let addr = emu.addr();
    report(addr, &format!("apikey=priv&resource={SAMPLE_MD5}")).await;
    report(
        addr,
        &format!("apikey=priv&resource={SAMPLE_MD5}, {UNKNOWN_MD5},x"),
    )
    .await;
    report(addr, &format!("apikey=nope&resource={SAMPLE_MD5}")).await;
    report(addr, "apikey=priv").await;
    // Another v2 endpoint: counted under its name, its resource too.
    get(addr, "/vtapi/v2/comments/get?apikey=priv&resource=x")
        .await
        .unwrap();
    get(addr, "/favicon.ico").await.unwrap();
    let expected = json!({
        "requests": 6,
        "by_status": {"200": 3, "403": 1, "400": 1, "404": 1},
        "by_endpoint": {"file/report": 4, "comments/get": 1, "other": 1},
        "resources_asked": 6,
        "faults": {},
    });
    let stats = get(addr, "/_emulator/stats").await.unwrap();
    assert_eq!(stats.status, 200);
    assert_eq!(stats.header("content-type"), Some("application/json"));
    assert_eq!(stats.json(), expected);
    // Reading the stats is not counted.
    assert_eq!(
        get(addr, "/_emulator/stats").await.unwrap().json(),
        expected
    );
    let snapshot = emu.stats();
    assert_eq!(snapshot.requests, 6);
    assert_eq!(snapshot.endpoint("file/report"), 4);
    assert_eq!(serde_json::to_value(&snapshot).unwrap(), expected);
}

#[tokio::test]
async fn other_paths_are_not_found_and_other_methods_not_allowed() {
    let emu = start(Emulator::builder()).await;
    for path in [
        "/",
        "/vtapi/v2/",
        "/vtapi/v2/file/report/extra",
        "/download/not-a-token",
        "/api/v3/files/x",
        "/_emulator/other",
    ] {
        assert_empty(&get(emu.addr(), path).await.unwrap(), 404);
    }
    let put = common::exchange(
        emu.addr(),
        b"PUT /vtapi/v2/file/report?apikey=k&resource=x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, POST"));
}

async fn with_fault(kind: FaultKind) -> RunningEmulator {
    start(
        with_keys()
            .fault(Fault::new(kind, 1.0).unwrap())
            .slow_delay(Duration::from_millis(10)),
    )
    .await
}

#[tokio::test]
async fn fault_500_answers_internal_server_error() {
    let emu = with_fault(FaultKind::InternalError).await;
    assert_empty(
        &report(emu.addr(), &format!("apikey=priv&resource={SAMPLE_MD5}")).await,
        500,
    );
    assert_eq!(emu.stats().fault(FaultKind::InternalError), 1);
    assert_eq!(emu.stats().status(500), 1);
}

#[tokio::test]
async fn fault_204_answers_a_spurious_quota() {
    let emu = with_fault(FaultKind::Quota).await;
    assert_empty(
        &report(emu.addr(), &format!("apikey=priv&resource={SAMPLE_MD5}")).await,
        204,
    );
    assert_eq!(emu.stats().fault(FaultKind::Quota), 1);
}

#[tokio::test]
async fn fault_reset_closes_the_connection_without_an_answer() {
    let emu = with_fault(FaultKind::Reset).await;
    let target = format!("/vtapi/v2/file/report?apikey=priv&resource={SAMPLE_MD5}");
    assert!(
        get(emu.addr(), &target).await.is_none(),
        "no byte of answer"
    );
    let stats = emu.stats();
    assert_eq!((stats.requests, stats.fault(FaultKind::Reset)), (1, 1));
    assert!(stats.by_status.is_empty(), "a reset has no status");
    // The stats endpoint is never faulted.
    assert_eq!(
        get(emu.addr(), "/_emulator/stats").await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn fault_truncate_sends_half_the_promised_body() {
    let query = format!("apikey=priv&resource={PE_SHA256}&allinfo=1");
    let whole = report(start(with_keys()).await.addr(), &query).await;
    let emu = with_fault(FaultKind::Truncate).await;
    let cut = report(emu.addr(), &query).await;
    assert_eq!(cut.status, 200);
    assert_eq!(
        cut.content_length(),
        Some(whole.body.len()),
        "the whole length is promised"
    );
    assert_eq!(
        cut.body,
        whole.body[..whole.body.len() / 2],
        "half of it arrives"
    );
    let err = vt_model::decode_body(&cut.body).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[tokio::test]
async fn fault_slow_still_answers_in_full() {
    let query = format!("apikey=priv&resource={SAMPLE_MD5}");
    let normal = report(start(with_keys()).await.addr(), &query).await;
    let emu = with_fault(FaultKind::Slow).await;
    let slow = report(emu.addr(), &query).await;
    assert_eq!((slow.status, &slow.body), (200, &normal.body));
    assert_eq!(emu.stats().fault(FaultKind::Slow), 1);

    // With the default-sized delay of an hour, no answer comes while a client would wait.
    let stuck = start(
        with_keys()
            .fault(Fault::new(FaultKind::Slow, 1.0).unwrap())
            .slow_delay(Duration::from_secs(3600)),
    )
    .await;
    let pending = tokio::time::timeout(Duration::from_millis(200), report(stuck.addr(), &query));
    assert!(pending.await.is_err(), "the answer is held back");
}

async fn statuses(seed: u64) -> Vec<Option<u16>> {
    let emu = start(
        with_keys()
            .fault("500:0.25".parse().unwrap())
            .fault("204:0.25".parse().unwrap())
            .fault("reset:0.2".parse().unwrap())
            .seed(seed),
    )
    .await;
    let target = format!("/vtapi/v2/file/report?apikey=priv&resource={SAMPLE_MD5}");
    let mut seen = Vec::new();
    for _ in 0..24 {
        seen.push(get(emu.addr(), &target).await.map(|r| r.status));
    }
    seen
}

#[tokio::test]
async fn faults_are_reproducible_with_a_seed() {
    let first = statuses(42).await;
    assert_eq!(first, statuses(42).await, "same seed, same faults");
    for expected in [Some(200), Some(500), Some(204), None] {
        assert!(first.contains(&expected), "{expected:?} in {first:?}");
    }
    assert_ne!(first, statuses(43).await, "another seed, other faults");
}

#[tokio::test]
async fn a_file_that_is_not_json_stops_start_up_naming_it() {
    let dir = temp_dir("not-json");
    std::fs::write(
        dir.join("good.json"),
        report_json(
            &"b".repeat(64),
            UNKNOWN_MD5,
            "2020-01-01 00:00:00",
            1577836800,
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.json"),
        "{\"response_code\": 1, \"scans\": ",
    )
    .unwrap();
    let err = Emulator::builder().data_path(&dir).build().unwrap_err();
    let message = err.to_string();
    assert!(err.is_data());
    assert!(message.contains("broken.json"), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");
    std::fs::write(dir.join("broken.json"), "<html>oops</html>").unwrap();
    let message = Emulator::builder()
        .data_path(&dir)
        .build()
        .unwrap_err()
        .to_string();
    assert!(message.contains("broken.json: not valid JSON"), "{message}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_file_that_is_not_a_report_stops_start_up_naming_it() {
    let dir = temp_dir("not-report");
    let file = dir.join("odd.json");
    for (content, says) in [
        ("{\"foo\": 1}", "not a report"),
        ("[1, 2]", "not a report"),
        ("[]", "not a report"),
        (
            "{\"response_code\": 0, \"resource\": \"x\", \"verbose_msg\": \"nope\"}",
            "odd.json: not a report: response_code 0 (not_found), not 1",
        ),
        ("{\"response_code\": 1, \"md5\": \"x\"}", "not a report"),
    ] {
        std::fs::write(&file, content).unwrap();
        let message = Emulator::builder()
            .data_path(&file)
            .build()
            .unwrap_err()
            .to_string();
        assert!(message.contains("odd.json"), "{message}");
        assert!(message.contains(says), "{content}: {message}");
    }
    let missing = Emulator::builder()
        .data_path(dir.join("absent.json"))
        .build()
        .unwrap_err();
    assert!(missing.to_string().contains("absent.json"), "{missing}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_same_file_twice_keeps_the_most_recent_scan_date() {
    let sha256 = "c".repeat(64);
    let older = report_json(&sha256, UNKNOWN_MD5, "2019-01-01 00:00:00", 1546300800);
    let newer = report_json(&sha256, UNKNOWN_MD5, "2021-06-01 12:00:00", 1622548800);
    for (first, second) in [(&older, &newer), (&newer, &older)] {
        let dir = temp_dir("twice");
        std::fs::write(dir.join("a.json"), first).unwrap();
        std::fs::write(dir.join("b.json"), second).unwrap();
        let emu = start(with_keys().data_path(&dir)).await;
        let body = report(emu.addr(), &format!("apikey=priv&resource={UNKNOWN_MD5}"))
            .await
            .json();
        assert_eq!(body["scan_date"], "2021-06-01 12:00:00");
        let old_scan = report(
            emu.addr(),
            &format!("apikey=priv&resource={sha256}-1546300800"),
        )
        .await;
        assert_eq!(
            old_scan.json()["response_code"],
            0,
            "the older analysis is gone"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn given_data_replaces_the_bundled_dataset() {
    let mut data = Dataset::new();
    data.add_json(
        "mem.json",
        report_json(
            &"d".repeat(64),
            UNKNOWN_MD5,
            "2020-01-01 00:00:00",
            1577836800,
        )
        .as_bytes(),
    )
    .unwrap();
    let emulator = with_keys().dataset(data).build().unwrap();
    assert_eq!(emulator.reports(), 1);
    let emu = emulator.start().await.unwrap();
    assert_eq!(
        report(emu.addr(), &format!("apikey=priv&resource={UNKNOWN_MD5}"))
            .await
            .json()["response_code"],
        1
    );
    assert_eq!(
        report(emu.addr(), &format!("apikey=priv&resource={SAMPLE_MD5}"))
            .await
            .json()["response_code"],
        0
    );
    assert_eq!(
        Emulator::builder().build().unwrap().reports(),
        4,
        "the bundled dataset"
    );
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let emu = start(Emulator::builder()).await;
    let addr = emu.addr();
    assert_eq!(get(addr, "/_emulator/stats").await.unwrap().status, 200);
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The recorded answers of the real service, from `../shared/fixtures` when it is there.
fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/v2-file-report");
    dir.is_dir().then_some(dir)
}

#[tokio::test]
async fn recorded_reports_are_served_back_identically() {
    let Some(dir) = fixtures() else { return };
    let mut served = 0;
    for entry in std::fs::read_dir(dir.join("recorded")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(body) = vt_model::decode_body(&bytes) else {
            continue;
        };
        if body.answers().iter().any(|a| a.as_found().is_none()) {
            continue;
        }
        let recorded: Value = serde_json::from_slice(&bytes).unwrap();
        let items = match &recorded {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        let emu = start(Emulator::builder().data_path(&path)).await;
        let resources: Vec<&str> = items
            .iter()
            .map(|i| i["resource"].as_str().unwrap())
            .collect();
        // A redacted recording ("...xxxx") cannot be asked for: it is not a hash.
        if resources
            .iter()
            .any(|r| vt_model::Resource::parse(r).is_err())
        {
            continue;
        }
        let joined = resources.join(", ");
        let full = report(emu.addr(), &format!("apikey=k&allinfo=1&resource={joined}")).await;
        assert_eq!(full.json(), recorded, "{}", path.display());
        let plain = report(emu.addr(), &format!("apikey=k&resource={joined}"))
            .await
            .json();
        let expected = match &recorded {
            Value::Array(items) => Value::Array(items.iter().map(public_part).collect()),
            one => public_part(one),
        };
        assert_eq!(plain, expected, "{}", path.display());
        served += items.len();
    }
    assert!(served >= 9, "{served} recorded reports served");
}

#[tokio::test]
async fn recorded_short_answers_are_given_identically() {
    let Some(dir) = fixtures() else { return };
    let emu = start(Emulator::builder().dataset(Dataset::new())).await;
    for file in [
        "recorded/pwelch__virustotal_api__file-report-not-found.json",
        "mock/Ostorlab__agent_virustotal__MOCK-invalid-resource.json",
        "mock/polarityio__virustotal__MOCK-batch-array-4-not-found.json",
    ] {
        let recorded: Value =
            serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        let resources: Vec<&str> = match &recorded {
            Value::Array(items) => items
                .iter()
                .map(|i| i["resource"].as_str().unwrap())
                .collect(),
            one => vec![one["resource"].as_str().unwrap()],
        };
        let reply = report(
            emu.addr(),
            &format!("apikey=k&resource={}", resources.join(", ")),
        )
        .await;
        assert_eq!(reply.json(), recorded, "{file}");
    }
    // The recorded 403: text/html, Content-Length 0, empty body.
    let keyed = start(with_keys()).await;
    let forbidden = post(
        keyed.addr(),
        "/vtapi/v2/file/report",
        "application/x-www-form-urlencoded",
        "apikey=REDACTED&resource=01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b",
    )
    .await
    .unwrap();
    assert_empty(&forbidden, 403);
    assert_eq!(
        forbidden.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(forbidden.content_length(), Some(0));
}

#[tokio::test]
async fn one_keep_alive_connection_serves_many_requests() {
    use http_body_util::BodyExt;
    let emu = start(with_keys()).await;
    let stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    for resource in [SAMPLE_MD5, EICAR_MD5, UNKNOWN_MD5] {
        let request = hyper::Request::get(format!(
            "/vtapi/v2/file/report?apikey=priv&resource={resource}"
        ))
        .header("host", emu.addr().to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["resource"], resource);
    }
    assert_eq!(emu.stats().requests, 3);
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let emu = start(
        with_keys()
            .fault(Fault::new(FaultKind::Slow, 1.0).unwrap())
            .slow_delay(Duration::from_millis(100)),
    )
    .await;
    let addr = emu.addr();
    let in_flight =
        tokio::spawn(
            async move { report(addr, &format!("apikey=priv&resource={SAMPLE_MD5}")).await },
        );
    // Wait until the request has arrived (bounded), then stop the server under it.
    for _ in 0..1000 {
        if emu.stats().requests == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(emu.stats().requests, 1);
    emu.shutdown().await;
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["md5"], SAMPLE_MD5);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// One generated report of [`reports_across_slabs_are_answered_byte_for_byte`]: loaded
/// compact, its members expected as the emulator writes them (the service's separators, the
/// order loaded, no `resource`).
struct Generated {
    /// md5, sha1, sha256, scan_id.
    resources: [String; 4],
    /// The members as loaded (compact).
    loaded: String,
    public: String,
    full: String,
}

/// Compact members with the service's separators (the generated values hold no `":` or `,"`).
fn spaced(compact: &str) -> String {
    compact.replace("\":", "\": ").replace(",\"", ", \"")
}

/// About 36 KB of allinfo members (a long `ssdeep` of the report's own digits, so that a
/// report's bytes differ from its neighbours'); the public view is its first 700 bytes or so.
/// The hashes count in their last digits (md5, sha256: every leading byte the same) or in
/// their first (sha1), and all hold letters, so that upper case differs.
fn generated(i: usize) -> Generated {
    let md5 = format!("abcdef{i:026x}");
    let sha1 = format!("{i:08x}{}", "e".repeat(32));
    let sha256 = format!("{:056x}{i:08x}", 0xc0ff_ee00_dead_beef_u64);
    let unix = 1_600_000_000 + i;
    let scan_id = format!("{sha256}-{unix}");
    let public = format!(
        "\"response_code\":1,\"verbose_msg\":\"Scan finished, information embedded\",\
         \"scan_id\":\"{scan_id}\",\"md5\":\"{md5}\",\"sha1\":\"{sha1}\",\"sha256\":\"{sha256}\",\
         \"scan_date\":\"2020-09-13 12:26:40\",\
         \"permalink\":\"https://www.virustotal.com/file/{sha256}/analysis/{unix}/\",\
         \"positives\":1,\"total\":2,\"scans\":{{\
         \"A-Engine\":{{\"detected\":true,\"version\":\"1.0\",\"result\":\"Trojan.{i}\",\"update\":\"20200913\"}},\
         \"B-Engine\":{{\"detected\":false,\"version\":\"2.0\",\"result\":null,\"update\":\"20200912\"}}}}"
    );
    let full = format!(
        "{public},\"first_seen\":\"2020-01-01 00:00:00\",\"size\":{i},\"ssdeep\":\"{}\"",
        format!("{i:05}:").repeat(6000)
    );
    Generated {
        resources: [md5, sha1, sha256, scan_id],
        public: spaced(&public),
        full: spaced(&full),
        loaded: full,
    }
}

/// `{"resource": ECHO, ` and the members: the emulator's answer for a found report that was
/// loaded without `resource` and starts with `response_code` (it goes just before).
fn expected_found(echo: &str, members: &str) -> String {
    format!("{{\"resource\": \"{echo}\", {members}}}")
}

#[tokio::test]
async fn reports_across_slabs_are_answered_byte_for_byte() {
    // The first slab is 1 MiB, the next ones 64 MiB (crates/vt-emulator/src/chunks.rs):
    // 2,000 reports of 36 KB fill the first, a second, and go on in a third.
    const REPORTS: usize = 2000;
    let reports: Vec<Generated> = (0..REPORTS).map(generated).collect();
    let stored: usize = reports.iter().map(|r| r.full.len()).sum();
    assert!(stored > 65 << 20, "{stored} bytes: three slabs");
    let mut data = Dataset::new();
    for (i, one) in reports.iter().enumerate() {
        let json = format!("{{{}}}", one.loaded);
        data.add_json(&format!("report {i}"), json.as_bytes())
            .unwrap();
    }
    let emu = start(with_keys().dataset(data)).await;
    assert!(reports[0].full.starts_with(&reports[0].public));

    // Every report alone: by each kind of resource in turn, in upper case, the allinfo and
    // the public view alternating.
    for (i, one) in reports.iter().enumerate() {
        let allinfo = i % 2 == 0;
        let asked = one.resources[(i / 2) % 4].to_uppercase();
        let query = format!(
            "apikey=priv&resource={asked}{}",
            if allinfo { "&allinfo=1" } else { "" }
        );
        let reply = report(emu.addr(), &query).await;
        let members = if allinfo { &one.full } else { &one.public };
        assert_eq!(reply.status, 200, "{query}");
        assert_eq!(reply.content_length(), Some(reply.body.len()), "{query}");
        assert!(
            reply.body == expected_found(&asked, members).as_bytes(),
            "report {i}, asked by {asked}, allinfo {allinfo}: {} bytes",
            reply.body.len()
        );
    }

    // Batches of 25 with one report from every 25th of the dataset (all three slabs in one
    // answer), an unknown resource in the middle.
    for batch in 0..40 {
        let allinfo = batch % 2 == 0;
        let mut asked = Vec::new();
        let mut expected = Vec::new();
        for j in 0..25 {
            if j == 12 {
                let unknown = format!("{:032X}", 0xffff_0000 + batch);
                expected.push(format!(
                    "{{\"response_code\": 0, \"resource\": \"{unknown}\", \"verbose_msg\": \"{NOT_FOUND_MSG}\"}}"
                ));
                asked.push(unknown);
                continue;
            }
            let one = &reports[(batch * 7 + j * REPORTS / 25) % REPORTS];
            let resource = one.resources[(batch + j) % 4].to_uppercase();
            let members = if allinfo { &one.full } else { &one.public };
            expected.push(expected_found(&resource, members));
            asked.push(resource);
        }
        let query = format!(
            "apikey=priv&resource={}{}",
            asked.join(", "),
            if allinfo { "&allinfo=1" } else { "" }
        );
        let reply = report(emu.addr(), &query).await;
        assert_eq!(reply.status, 200, "batch {batch}");
        assert_eq!(
            reply.content_length(),
            Some(reply.body.len()),
            "batch {batch}"
        );
        let expected = format!("[{}]", expected.join(", "));
        assert!(
            reply.body == expected.as_bytes(),
            "batch {batch}, allinfo {allinfo}: {} bytes, expected {}",
            reply.body.len(),
            expected.len()
        );
    }
    let stats = emu.stats();
    assert_eq!((stats.requests, stats.status(200)), (2040, 2040));
}

/// A gateway holding each item's answer apart writes a batch with vt-server's batch form:
/// byte for byte what the emulator writes for the batch.
#[tokio::test]
async fn a_batch_is_its_items_answers_joined_by_vt_servers_batch_form() {
    let emu = start(Emulator::builder()).await;
    let items = [
        EICAR_MD5,
        UNKNOWN_MD5,
        "not-a-hash",
        SAMPLE_SHA256,
        PE_SHA256,
    ];
    let mut singles = Vec::new();
    for item in items {
        let single = report(emu.addr(), &format!("apikey=k&resource={item}")).await;
        assert_eq!(single.status, 200);
        singles.push(bytes::Bytes::from(single.body));
    }
    let batch = report(
        emu.addr(),
        &format!("apikey=k&resource={}", items.join(",")),
    )
    .await;
    let mut joined = vt_server::reply::batch(singles);
    let len = bytes::Buf::remaining(&joined);
    let joined = bytes::Buf::copy_to_bytes(&mut joined, len);
    assert!(
        joined == batch.body,
        "vt-server: {}\nemulator: {}",
        String::from_utf8_lossy(&joined),
        String::from_utf8_lossy(&batch.body)
    );
    emu.shutdown().await;
}
