//! `url/report`, `url/scan`, `domain/report` and `ip-address/report`, every rule checked
//! through real HTTP on loopback.

mod common;

use std::time::Duration;

use common::{assert_empty, enc, exchange, get, post, temp_dir, Reply};
use serde_json::{json, Value};
use vt_emulator::{
    Dataset, Emulator, EmulatorBuilder, KeySpec, ManualClock, RunningEmulator, Tier,
};

const FORM: &str = "application/x-www-form-urlencoded";
const NOT_FOUND_MSG: &str = "Resource does not exist in the dataset";
const INVALID_MSG: &str = "Invalid URL, the scan request was not queued";
const QUEUED_MSG: &str = "Scan request successfully queued, come back later for the report";
const FINISHED_MSG: &str = "Scan finished, scan information embedded in this object";
/// The bundled clean report: stored `resource` "http://example.com", `url` with the slash.
const CLEAN_URL: &str = "http://example.com/";
const CLEAN_SHA256: &str = "2a1b402420ef46577471cdc7409b0fa2c6a204db316e59ade2d805435489a067";
const CLEAN_SCAN_ID: &str =
    "2a1b402420ef46577471cdc7409b0fa2c6a204db316e59ade2d805435489a067-1718101800";
/// The bundled detected report (with `detail` on some engines and an allinfo key).
const DETECTED_URL: &str = "https://login.example.net/account/verify.php?id=1";
/// The bundled report of a URL with commas.
const COMMAS_URL: &str = "https://shop.example.org/items/1,2,3?sort=price,desc";
/// SHA-256 of "http://www.google.com/", as the service names that URL.
const GOOGLE_SHA256: &str = "dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf";

/// Public key `pub` (with room for a test's requests), private key `priv`, URL analyses
/// finished at once.
fn with_keys() -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .key(KeySpec::new("priv", Tier::Private).unwrap())
        .public_per_minute(1000)
        .analysis_delay(Duration::ZERO)
}

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

/// `GET /vtapi/v2/{path}?{query}`, which must be answered.
async fn ask(emu: &RunningEmulator, path: &str, query: &str) -> Reply {
    get(emu.addr(), &format!("/vtapi/v2/{path}?{query}"))
        .await
        .expect("an answer")
}

/// `GET url/report` with a key and the resource (encoded here).
async fn url_report(emu: &RunningEmulator, key: &str, resource: &str, extra: &str) -> Reply {
    let query = format!("apikey={key}&resource={}{extra}", enc(resource));
    ask(emu, "url/report", &query).await
}

/// `POST url/scan` with a form body.
async fn url_scan(emu: &RunningEmulator, key: &str, url: &str) -> Reply {
    let body = format!("apikey={key}&url={}", enc(url));
    post(emu.addr(), "/vtapi/v2/url/scan", FORM, &body)
        .await
        .expect("an answer")
}

#[track_caller]
fn ok_json(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

fn not_found(resource: &str) -> Value {
    json!({"response_code": 0, "resource": resource, "verbose_msg": NOT_FOUND_MSG})
}

fn invalid() -> Value {
    json!({"response_code": -1, "verbose_msg": INVALID_MSG})
}

/// The SHA-256 part of a scan_id, and its seconds.
fn scan_id_parts(scan_id: &Value) -> (String, i64) {
    let (digest, seconds) = scan_id.as_str().unwrap().split_once('-').unwrap();
    (digest.to_owned(), seconds.parse().unwrap())
}

#[tokio::test]
async fn a_stored_url_report_is_found_by_its_text_its_normal_form_and_its_scan_id() {
    let emu = start(with_keys()).await;
    for asked in [
        "http://example.com",
        CLEAN_URL,
        "HTTP://Example.COM",
        "example.com",
        CLEAN_SCAN_ID,
        &CLEAN_SCAN_ID.to_uppercase(),
    ] {
        let body = ok_json(&url_report(&emu, "priv", asked, "").await);
        assert_eq!(body["resource"], asked, "echoed exactly as sent");
        assert_eq!(body["url"], CLEAN_URL, "{asked}");
        assert_eq!(body["scan_id"], CLEAN_SCAN_ID);
        assert_eq!(body["response_code"], 1);
        assert_eq!(body["verbose_msg"], FINISHED_MSG);
        assert_eq!(body["filescan_id"], Value::Null);
        assert_eq!(
            (body["positives"].as_u64(), body["total"].as_u64()),
            (Some(0), Some(10))
        );
        assert_eq!(
            body["scans"]["Webroot"],
            json!({"detected": false, "result": "unrated site"})
        );
        assert_eq!(
            body["permalink"],
            format!("https://www.virustotal.com/url/{CLEAN_SHA256}/analysis/1718101800/")
        );
    }
    // POST answers like GET.
    let form = post(
        emu.addr(),
        "/vtapi/v2/url/report",
        FORM,
        &format!("apikey=priv&resource={}", enc("http://example.com")),
    )
    .await
    .unwrap();
    assert_eq!(ok_json(&form)["url"], CLEAN_URL);
}

#[tokio::test]
async fn allinfo_gives_every_stored_key_and_is_refused_to_a_public_key() {
    let emu = start(with_keys()).await;
    let public = ok_json(&url_report(&emu, "pub", DETECTED_URL, "").await);
    assert_eq!(public["positives"], 3);
    assert!(public.get("additional_info").is_none(), "{public}");
    assert_eq!(
        public["scans"]["BitDefender"],
        json!({"detected": true, "result": "phishing site",
               "detail": "http://www.bitdefender.com/site/Antiphishing/check/"})
    );
    assert_eq!(public["scans"]["Sophos"]["detail"], Value::Null);
    let all = ok_json(&url_report(&emu, "priv", DETECTED_URL, "&allinfo=1").await);
    assert_eq!(all["additional_info"]["resolution"], "203.0.113.45");
    let mut without = all.clone();
    without.as_object_mut().unwrap().remove("additional_info");
    assert_eq!(without, public, "the public view is the rest of the report");
    assert_empty(
        &url_report(&emu, "pub", DETECTED_URL, "&allinfo=1").await,
        403,
    );
    assert_eq!(
        url_report(&emu, "pub", DETECTED_URL, "&allinfo=0")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_batch_is_joined_by_newlines_and_answers_in_order() {
    let emu = start(with_keys()).await;
    let items = [
        "http://example.com",
        COMMAS_URL,
        "http://unknown.example/page#fragment",
        "http://bad host.example/",
        "https://Bücher.example/straße?q=ü",
        CLEAN_SCAN_ID,
    ];
    let expected_unknown = not_found("http://unknown.example/page#fragment");
    let check = |body: Value| {
        let items_out = body.as_array().expect("an array").clone();
        assert_eq!(items_out.len(), 6);
        assert_eq!(items_out[0]["resource"], "http://example.com");
        assert_eq!(items_out[0]["url"], CLEAN_URL);
        assert_eq!(items_out[1]["resource"], COMMAS_URL, "commas do not split");
        assert_eq!(items_out[1]["url"], COMMAS_URL);
        assert_eq!(items_out[2], expected_unknown);
        assert_eq!(
            items_out[3],
            invalid(),
            "a space inside: invalid, no resource"
        );
        assert_eq!(items_out[4], not_found("https://Bücher.example/straße?q=ü"));
        assert_eq!(items_out[5]["resource"], CLEAN_SCAN_ID);
    };
    check(ok_json(
        &url_report(&emu, "priv", &items.join("\n"), "").await,
    ));
    // CRLF and blank lines too, in a POST form.
    let body = format!(
        "apikey=priv&resource={}",
        enc(&format!("{}\r\n\n", items.join("\r\n")))
    );
    let reply = post(emu.addr(), "/vtapi/v2/url/report", FORM, &body)
        .await
        .unwrap();
    check(ok_json(&reply));
    // One item (with a trailing newline) answers an object.
    let one =
        ok_json(&url_report(&emu, "priv", "http://unknown.example/page#fragment\n", "").await);
    assert_eq!(one, expected_unknown);
    // Commas and ", " are not separators: the whole text is one URL.
    let joined = "http://example.com, http://unknown.example/";
    assert_eq!(
        ok_json(&url_report(&emu, "priv", joined, "").await),
        invalid()
    );
    let comma = "http://example.com,http://unknown.example/";
    assert_eq!(
        ok_json(&url_report(&emu, "priv", comma, "").await),
        not_found(comma)
    );
}

#[tokio::test]
async fn invalid_urls_answer_minus_one_without_resource() {
    let emu = start(with_keys()).await;
    for bad in [
        "http://",
        "http:///nohost",
        "a b",
        "1http://x.example/",
        "x.example:port/",
    ] {
        assert_eq!(
            ok_json(&url_report(&emu, "priv", bad, "").await),
            invalid(),
            "{bad:?}"
        );
        assert_eq!(
            ok_json(&url_report(&emu, "priv", bad, "&scan=1").await),
            invalid()
        );
        assert_eq!(
            ok_json(&url_scan(&emu, "priv", bad).await),
            invalid(),
            "{bad:?}"
        );
    }
    // A blank resource is an invalid URL, a missing one a bad request.
    assert_eq!(
        ok_json(&url_report(&emu, "priv", " \n ", "").await),
        invalid()
    );
    assert_empty(&ask(&emu, "url/report", "apikey=priv").await, 400);
    assert_empty(&ask(&emu, "url/report", "apikey=priv&scan=1").await, 400);
}

#[tokio::test]
async fn a_batch_over_the_tier_limit_is_a_bad_request() {
    let emu = start(with_keys()).await;
    let urls = |n: usize| {
        (0..n)
            .map(|i| format!("http://host{i}.example/a,b"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let four = ok_json(&url_report(&emu, "pub", &urls(4), "").await);
    assert_eq!(four.as_array().map(Vec::len), Some(4));
    assert_empty(&url_report(&emu, "pub", &urls(5), "").await, 400);
    let many = ok_json(&url_report(&emu, "priv", &urls(25), "").await);
    assert_eq!(many.as_array().map(Vec::len), Some(25));
    assert_empty(&url_report(&emu, "priv", &urls(26), "").await, 400);
    // url/scan has the same limits.
    assert_empty(&url_scan(&emu, "pub", &urls(5)).await, 400);
    assert_empty(&url_scan(&emu, "priv", &urls(26)).await, 400);
    let scanned = ok_json(&url_scan(&emu, "priv", &urls(25)).await);
    assert_eq!(scanned.as_array().map(Vec::len), Some(25));
}

#[tokio::test]
async fn scan_1_queues_an_unknown_url_and_its_report_is_finished_after_the_delay() {
    let clock = ManualClock::new();
    let emu = start(
        with_keys()
            .analysis_delay(Duration::from_secs(30))
            .clock(clock.clone()),
    )
    .await;
    let asked = "WWW.Google.com";
    let queued = ok_json(&url_report(&emu, "priv", asked, "&scan=1").await);
    let url = "http://www.google.com/";
    assert_eq!(queued["response_code"], 1);
    assert_eq!(queued["verbose_msg"], QUEUED_MSG);
    assert_eq!(queued["resource"], url, "the normalised URL, as recorded");
    assert_eq!(queued["url"], url);
    let (digest, seconds) = scan_id_parts(&queued["scan_id"]);
    assert_eq!(digest, GOOGLE_SHA256);
    assert_eq!(
        queued["permalink"],
        format!("https://www.virustotal.com/url/{GOOGLE_SHA256}/analysis/{seconds}/")
    );
    let date = queued["scan_date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "{date}");
    // Pending: -2 with the scan's fields, by text, normal form and scan_id.
    let scan_id = queued["scan_id"].as_str().unwrap().to_owned();
    for text in [asked, url, &scan_id] {
        let pending = ok_json(&url_report(&emu, "priv", text, "").await);
        assert_eq!(pending["response_code"], -2, "{text}");
        assert_eq!(pending["resource"], text);
        assert_eq!(pending["scan_id"], scan_id.as_str());
    }
    // Asking again with scan=1 does not submit it again.
    let again = ok_json(&url_report(&emu, "priv", url, "&scan=1").await);
    assert_eq!(again["response_code"], -2);
    assert_eq!(again["scan_id"], scan_id.as_str());
    clock.advance(Duration::from_secs(30));
    for text in [asked, url, &scan_id] {
        let done = ok_json(&url_report(&emu, "priv", text, "").await);
        assert_eq!(done["response_code"], 1);
        assert_eq!(done["verbose_msg"], FINISHED_MSG);
        assert_eq!(done["resource"], text);
        assert_eq!(done["url"], url);
        assert_eq!(done["scan_id"], scan_id.as_str());
        assert_eq!(done["scan_date"], date);
        assert_eq!(
            (done["positives"].as_u64(), done["total"].as_u64()),
            (Some(0), Some(10))
        );
        let scans = done["scans"].as_object().unwrap();
        assert_eq!(scans.len(), 10);
        assert!(scans
            .values()
            .all(|s| *s == json!({"detected": false, "result": "clean site"})));
    }
    // Without scan=1 an unknown URL is only not found; a known one is its stored report.
    let other = "http://other.example/";
    assert_eq!(
        ok_json(&url_report(&emu, "priv", other, "").await),
        not_found(other)
    );
    let known = ok_json(&url_report(&emu, "priv", "example.com", "&scan=1").await);
    assert_eq!(known["scan_id"], CLEAN_SCAN_ID);
}

#[tokio::test]
async fn url_scan_needs_a_url_encoded_form() {
    let emu = start(with_keys()).await;
    let body = "apikey=priv&url=http%3A%2F%2Fwww.google.com";
    for content_type in [
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=B",
    ] {
        let reply = post(emu.addr(), "/vtapi/v2/url/scan", content_type, body)
            .await
            .unwrap();
        assert_empty(&reply, 403);
    }
    let request = format!(
        "POST /vtapi/v2/url/scan HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let no_type = exchange(emu.addr(), request.as_bytes()).await.unwrap();
    assert_empty(&no_type, 403);
    // No body and no Content-Type, every parameter in the query (as virustotal-api 1.1.11 and
    // virustotal-python 0.2.0 send it): taken. An empty body with a type other than a form: 403.
    let in_query = "POST /vtapi/v2/url/scan?apikey=priv&url=query.example HTTP/1.1\r\n\
                    Host: h\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let in_query = exchange(emu.addr(), in_query.as_bytes()).await.unwrap();
    assert_eq!(ok_json(&in_query)["url"], "http://query.example/");
    let typed = post(
        emu.addr(),
        "/vtapi/v2/url/scan?apikey=priv&url=q.example",
        "text/plain",
        "",
    )
    .await
    .unwrap();
    assert_empty(&typed, 403);
    let with_charset = post(
        emu.addr(),
        "/vtapi/v2/url/scan",
        "Application/X-WWW-Form-URLEncoded; charset=utf-8",
        body,
    )
    .await
    .unwrap();
    assert_eq!(ok_json(&with_charset)["url"], "http://www.google.com/");
    // GET is not answered; a missing url is a bad request; the key comes first.
    let get_scan = ask(&emu, "url/scan", "apikey=priv&url=x.example").await;
    assert_eq!(
        (get_scan.status, get_scan.header("allow")),
        (405, Some("POST"))
    );
    let missing = post(emu.addr(), "/vtapi/v2/url/scan", FORM, "apikey=priv")
        .await
        .unwrap();
    assert_empty(&missing, 400);
    let keyless = post(emu.addr(), "/vtapi/v2/url/scan", FORM, "url=x.example")
        .await
        .unwrap();
    assert_empty(&keyless, 403);
    assert_eq!(
        emu.stats().status(200),
        2,
        "only the form and the query alone were scanned"
    );
}

#[tokio::test]
async fn url_scan_queues_then_url_report_gives_a_finished_report() {
    let emu = start(with_keys()).await;
    let scanned = ok_json(&url_scan(&emu, "priv", "HTTP://WWW.Google.COM").await);
    let url = "http://www.google.com/";
    let keys: Vec<&str> = scanned
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "permalink",
            "resource",
            "response_code",
            "scan_date",
            "scan_id",
            "url",
            "verbose_msg"
        ],
        "the recorded url/scan shape"
    );
    assert_eq!(
        (
            &scanned["resource"],
            &scanned["url"],
            &scanned["response_code"]
        ),
        (&json!(url), &json!(url), &json!(1))
    );
    assert_eq!(scanned["verbose_msg"], QUEUED_MSG);
    let (digest, _) = scan_id_parts(&scanned["scan_id"]);
    assert_eq!(digest, GOOGLE_SHA256);
    let scan_id = scanned["scan_id"].as_str().unwrap();
    for text in ["HTTP://WWW.Google.COM", url, "www.google.com", scan_id] {
        let done = ok_json(&url_report(&emu, "pub", text, "").await);
        assert_eq!(done["response_code"], 1, "{text}");
        assert_eq!(done["resource"], text);
        assert_eq!(done["url"], url);
        assert_eq!(done["scan_id"], scan_id);
        assert_eq!(done["positives"], 0);
    }
    // A batch: one per line, invalid items answered in place.
    let batch = "http://a.example/malware.exe\nbad url\nphishing.example/login";
    let scanned = ok_json(&url_scan(&emu, "priv", batch).await);
    let items = scanned.as_array().expect("an array");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["url"], "http://a.example/malware.exe");
    assert_eq!(items[1], invalid());
    assert_eq!(items[2]["url"], "http://phishing.example/login");
    // The test convenience: `malware` and `phishing` in a URL are detected by a few engines.
    let malware = ok_json(&url_report(&emu, "priv", "http://a.example/malware.exe", "").await);
    assert_eq!(
        (malware["positives"].as_u64(), malware["total"].as_u64()),
        (Some(3), Some(10))
    );
    let results: Vec<&str> = malware["scans"]
        .as_object()
        .unwrap()
        .values()
        .filter(|s| s["detected"] == true)
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["malicious site"; 3]);
    let phishing =
        ok_json(&url_report(&emu, "priv", items[2]["scan_id"].as_str().unwrap(), "").await);
    assert_eq!(phishing["positives"], 3);
    assert_eq!(
        phishing["scans"]["Kaspersky"],
        json!({"detected": true, "result": "phishing site"})
    );
}

#[tokio::test]
async fn a_scanned_url_the_data_holds_is_answered_with_its_stored_report() {
    let emu = start(with_keys()).await;
    let scanned = ok_json(&url_scan(&emu, "priv", DETECTED_URL).await);
    let scan_id = scanned["scan_id"].as_str().unwrap();
    assert_ne!(scan_id, "", "a new scan_id");
    let by_new_id = ok_json(&url_report(&emu, "priv", scan_id, "").await);
    assert_eq!(by_new_id["resource"], scan_id);
    assert_eq!(by_new_id["positives"], 3, "the stored report");
    assert_eq!(by_new_id["scans"]["Fortinet"]["result"], "malicious site");
}

#[tokio::test]
async fn domain_reports_are_found_in_any_case() {
    let emu = start(with_keys()).await;
    let stored: Value =
        serde_json::from_slice(include_bytes!("../data/domain/example.com.json")).unwrap();
    for asked in ["example.com", "EXAMPLE.Com", "%20example.com%20"] {
        let body =
            ok_json(&ask(&emu, "domain/report", &format!("apikey=pub&domain={asked}")).await);
        assert_eq!(body, stored, "{asked}");
    }
    let body = ok_json(&ask(&emu, "domain/report", "apikey=pub&domain=example.com").await);
    assert_eq!(body["BitDefender category"], "computersandsoftware");
    assert_eq!(body["Alexa rank"], 12345);
    assert_eq!(body["whois_timestamp"].as_f64(), Some(1_718_000_000.512_3));
    assert!(body["undetected_urls"][0].is_array(), "arrays of arrays");
    assert_eq!(body["resolutions"][0]["ip_address"], "192.0.2.10");
    assert!(body.get("resource").is_none(), "nothing is echoed");
    let other = ok_json(&ask(&emu, "domain/report", "apikey=pub&domain=login.example.net").await);
    assert_eq!(other["Dr.Web category"], "known infection source");
    assert_eq!(other["whois"], Value::Null);
    let unknown = ok_json(&ask(&emu, "domain/report", "apikey=pub&domain=nowhere.example").await);
    assert_eq!(
        unknown,
        json!({"response_code": 0, "verbose_msg": "Domain not found"})
    );
    assert_empty(&ask(&emu, "domain/report", "apikey=pub").await, 400);
    assert_empty(
        &ask(&emu, "domain/report", "apikey=pub&domain=%20").await,
        400,
    );
    assert_empty(&ask(&emu, "domain/report", "domain=example.com").await, 403);
    let posted = post(
        emu.addr(),
        "/vtapi/v2/domain/report",
        FORM,
        "apikey=pub&domain=example.com",
    )
    .await
    .unwrap();
    assert_eq!((posted.status, posted.header("allow")), (405, Some("GET")));
}

#[tokio::test]
async fn ip_address_reports_are_found_invalid_or_unknown() {
    let emu = start(with_keys()).await;
    let string_asn = ok_json(&ask(&emu, "ip-address/report", "apikey=pub&ip=192.0.2.10").await);
    assert_eq!(string_asn["asn"], "64500");
    assert_eq!(string_asn["verbose_msg"], "IP address found in dataset");
    let stored: Value =
        serde_json::from_slice(include_bytes!("../data/ip-address/198.51.100.7.json")).unwrap();
    let int_asn = ok_json(&ask(&emu, "ip-address/report", "apikey=pub&ip=198.51.100.7").await);
    assert_eq!(int_asn, stored);
    assert_eq!(int_asn["asn"], 64501);
    for bad in [
        "999.1.1.1",
        "8.8.8",
        "example.com",
        "2001%3Adb8%3A%3A1",
        "08.8.8.8",
    ] {
        let body = ok_json(&ask(&emu, "ip-address/report", &format!("apikey=pub&ip={bad}")).await);
        assert_eq!(
            body,
            json!({"response_code": -1, "verbose_msg": "Invalid IP address"}),
            "{bad}"
        );
    }
    let unknown = ok_json(&ask(&emu, "ip-address/report", "apikey=pub&ip=203.0.113.1").await);
    assert_eq!(
        unknown,
        json!({"response_code": 0, "verbose_msg": "IP address not found"})
    );
    assert_empty(&ask(&emu, "ip-address/report", "apikey=pub").await, 400);
    assert_empty(&ask(&emu, "ip-address/report", "apikey=pub&ip=").await, 400);
    assert_empty(
        &ask(&emu, "ip-address/report", "apikey=nope&ip=192.0.2.10").await,
        403,
    );
}

#[tokio::test]
async fn the_quota_applies_to_the_new_endpoints_too() {
    let clock = ManualClock::new();
    let emu = start(with_keys().public_per_minute(3).clock(clock.clone())).await;
    assert_eq!(
        ask(&emu, "domain/report", "apikey=pub&domain=example.com")
            .await
            .status,
        200
    );
    assert_eq!(
        ask(&emu, "ip-address/report", "apikey=pub&ip=192.0.2.10")
            .await
            .status,
        200
    );
    assert_eq!(url_report(&emu, "pub", "example.com", "").await.status, 200);
    for reply in [
        url_report(&emu, "pub", "example.com", "").await,
        url_scan(&emu, "pub", "example.com").await,
        ask(&emu, "domain/report", "apikey=pub&domain=example.com").await,
        ask(&emu, "ip-address/report", "apikey=pub&ip=192.0.2.10").await,
    ] {
        assert_empty(&reply, 204);
        assert_eq!(reply.header("content-type"), None);
    }
    // Bad requests are refused before the quota, and use none.
    assert_empty(&ask(&emu, "domain/report", "apikey=pub").await, 400);
    assert_eq!(
        url_report(&emu, "priv", "example.com", "").await.status,
        200
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(url_scan(&emu, "pub", "example.com").await.status, 200);
}

#[tokio::test]
async fn stats_count_each_endpoint() {
    let emu = start(with_keys()).await;
    url_report(&emu, "priv", "example.com\nhttp://x.example/", "").await;
    url_report(&emu, "priv", "example.com", "").await;
    url_scan(&emu, "priv", "a.example\nb.example\nc.example").await;
    ask(&emu, "domain/report", "apikey=priv&domain=example.com").await;
    ask(&emu, "ip-address/report", "apikey=priv&ip=192.0.2.10").await;
    ask(&emu, "ip-address/report", "apikey=priv").await;
    let stats = get(emu.addr(), "/_emulator/stats").await.unwrap().json();
    assert_eq!(
        stats,
        json!({
            "requests": 6,
            "by_status": {"200": 5, "400": 1},
            "by_endpoint": {"url/report": 2, "url/scan": 1, "domain/report": 1,
                            "ip-address/report": 2},
            "resources_asked": 8,
            "faults": {},
        })
    );
    assert_eq!(emu.stats().endpoint("url/scan"), 1);
}

fn url_report_json(url: &str, unix: u64, positives: u32) -> Value {
    let digest = "ab".repeat(32);
    json!({
        "response_code": 1, "verbose_msg": FINISHED_MSG, "resource": url, "url": url,
        "scan_id": format!("{digest}-{unix}"), "scan_date": "2024-01-02 03:04:05",
        "permalink": format!("https://www.virustotal.com/url/{digest}/analysis/{unix}/"),
        "filescan_id": null, "positives": positives, "total": 1,
        "scans": {"Engine": {"detected": positives > 0, "result": "clean site"}}
    })
}

#[tokio::test]
async fn a_data_folder_may_hold_urls_domains_and_ip_addresses() {
    let dir = temp_dir("sites");
    for sub in ["url", "domain", "ip-address"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let reports = json!([url_report_json("http://mine.example/a,b", 1_700_000_000, 1)]);
    std::fs::write(dir.join("url/mine.json"), reports.to_string()).unwrap();
    std::fs::write(
        dir.join("domain/Mine.Example.json"),
        r#"{"response_code": 1, "verbose_msg": "Domain found in dataset", "whois_timestamp": 1.5}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ip-address/10.0.0.1.json"),
        r#"{"response_code": 1, "asn": 65000, "country": "ZZ"}"#,
    )
    .unwrap();
    let emu = start(with_keys().data_path(&dir)).await;
    let found = ok_json(&url_report(&emu, "priv", "MINE.example/a,b", "").await);
    assert_eq!(found["resource"], "MINE.example/a,b");
    assert_eq!(found["url"], "http://mine.example/a,b");
    // The folder replaces the bundled data.
    assert_eq!(
        ok_json(&url_report(&emu, "priv", "example.com", "").await),
        not_found("example.com")
    );
    let domain = ok_json(&ask(&emu, "domain/report", "apikey=priv&domain=mine.example").await);
    assert_eq!(domain["whois_timestamp"].as_f64(), Some(1.5));
    let ip = ok_json(&ask(&emu, "ip-address/report", "apikey=priv&ip=10.0.0.1").await);
    assert_eq!(
        ip,
        json!({"response_code": 1, "asn": 65000, "country": "ZZ"})
    );
    emu.shutdown().await;

    let built = Emulator::builder().data_path(&dir).build().unwrap();
    assert_eq!((built.reports(), built.site_answers()), (0, (1, 1, 1)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_url_domain_or_ip_files_stop_start_up_naming_them() {
    for (file, content, reason) in [
        (
            "url/x.json",
            "[1]".to_owned(),
            "not a URL report: not a JSON object",
        ),
        (
            "url/x.json",
            "{\"response_code\": 1,".to_owned(),
            "not valid JSON",
        ),
        (
            "url/x.json",
            json!({"response_code": 0, "resource": "x"}).to_string(),
            "response_code 0, not 1",
        ),
        (
            "url/x.json",
            {
                let mut report = url_report_json("http://x.example/", 1, 0);
                report.as_object_mut().unwrap().remove("scan_id");
                report.to_string()
            },
            "no scan_id string",
        ),
        (
            "url/x.json",
            url_report_json("http:///", 1, 0).to_string(),
            "not a URL",
        ),
        (
            "domain/x.example.json",
            "[]".to_owned(),
            "not a JSON object",
        ),
        (
            "ip-address/300.1.1.1.json",
            "{\"response_code\": 1}".to_owned(),
            "not an IPv4 address",
        ),
        (
            "ip-address/10.0.0.1.json",
            "{\"response_code\": 1, \"asn\": 1.5}".to_owned(),
            "neither a string nor an integer",
        ),
    ] {
        let dir = temp_dir("bad-sites");
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let err = Emulator::builder()
            .data_path(&dir)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(reason), "{file}: {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn datasets_take_urls_domains_and_ip_addresses_in_memory() {
    let mut data = Dataset::new();
    let one = url_report_json("http://a.example/", 1_700_000_000, 0).to_string();
    assert_eq!(data.add_url_json("one.json", one.as_bytes()).unwrap(), 1);
    // The same URL again, older: the newer report is kept.
    let mut older = url_report_json("a.example", 1_600_000_000, 1);
    older["scan_date"] = json!("2020-01-01 00:00:00");
    data.add_url_json("older.json", older.to_string().as_bytes())
        .unwrap();
    assert_eq!(data.url_reports(), 1);
    data.add_domain_json("A.Example", br#"{"response_code": 1}"#)
        .unwrap();
    data.add_domain_json("a.example", br#"{"response_code": 1, "x": 2}"#)
        .unwrap();
    assert_eq!(data.domains(), 1, "domains are the same in any case");
    data.add_ip_json("10.1.2.3", br#"{"response_code": 1, "asn": "1"}"#)
        .unwrap();
    assert_eq!(data.ip_addresses(), 1);
    let err = data
        .add_ip_json("10.1.2", br#"{"response_code": 1}"#)
        .unwrap_err();
    assert!(err.to_string().starts_with("ip-address/10.1.2: "), "{err}");
    let bundled = Dataset::bundled();
    assert_eq!(
        (
            bundled.url_reports(),
            bundled.domains(),
            bundled.ip_addresses()
        ),
        (3, 2, 2)
    );
}
