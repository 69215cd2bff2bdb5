//! `vt url report|scan`, `vt domain report` and `vt ip report`: the real binary against the
//! emulator's bundled URL, domain and IP answers, over loopback HTTP.

mod common;

use std::time::Duration;

use common::*;

const CLEAN_URL: &str = "http://example.com";
const DETECTED_URL: &str = "https://login.example.net/account/verify.php?id=1";
const COMMAS_URL: &str = "https://shop.example.org/items/1,2,3?sort=price,desc";
const UNKNOWN_URL: &str = "http://unknown.example/#top";
const UNICODE_URL: &str = "http://пример.испытание/путь?q=ü";

/// The emulator of every test here: scans finish at once.
fn env() -> Env {
    Env::with(|b| b.analysis_delay(Duration::ZERO))
}

fn vt(env: &Env, args: &[&str]) -> Output {
    run(env.vt().args(args))
}

/// `vt COMMAND report|scan --tier private --format FORMAT ARGS...`, which must succeed.
fn private(env: &Env, command: [&str; 2], format: &str, args: &[&str]) -> Output {
    let out = run(env
        .vt()
        .args(command)
        .args(["--tier", "private", "--format", format])
        .args(args));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn url_reports_in_one_batch_by_newline_each_matched_to_its_url() {
    let env = env();
    let out = private(
        &env,
        ["url", "report"],
        "jsonl",
        &[
            CLEAN_URL,
            DETECTED_URL,
            COMMAS_URL,
            UNKNOWN_URL,
            UNICODE_URL,
        ],
    );
    let records = lines_as_json(&out.stdout);
    let got: Vec<(&str, i64)> = records
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap(),
                r["response_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (CLEAN_URL, 1),
            (DETECTED_URL, 1),
            (COMMAS_URL, 1),
            (UNKNOWN_URL, 0),
            (UNICODE_URL, 0)
        ]
    );
    assert_eq!(records[1]["positives"], 3);
    let stats = env.stats();
    assert_eq!(stats.requests, 1, "one request of 5 URLs: {stats:?}");
    assert_eq!(stats.resources_asked, 5);
}

#[test]
fn url_report_table_and_csv() {
    let env = env();
    let urls = [CLEAN_URL, DETECTED_URL, COMMAS_URL, UNKNOWN_URL];
    let table = private(&env, ["url", "report"], "table", &urls);
    insta::assert_snapshot!(table.stdout);
    // Asked again (the cache would answer with today's date in `cached_at`).
    let mut again = vec!["--no-cache"];
    again.extend(urls);
    let csv = private(&env, ["url", "report"], "csv", &again);
    insta::assert_snapshot!(csv.stdout);
}

#[test]
fn a_scanned_url_is_reported_once_its_analysis_is_done() {
    let env = env();
    let target = "Malware.Example/dropper";
    let scan = private(&env, ["url", "scan"], "csv", &[target]);
    let row = scan.stdout.lines().nth(1).unwrap();
    // The service echoes the normalised URL: the record is still the input's.
    assert!(
        row.starts_with(&format!(
            "{target},submitted,http://malware.example/dropper,"
        )),
        "{row}"
    );
    let report = private(&env, ["url", "report"], "csv", &["--no-cache", target]);
    let row = report.stdout.lines().nth(1).unwrap();
    assert!(row.starts_with(&format!("{target},found,3,10,")), "{row}");
    // --scan submits what the service does not know; such answers are not cached.
    let unknown = "http://fresh.example/";
    for _ in 0..2 {
        let out = private(&env, ["url", "report"], "csv", &["--scan", unknown]);
        let status = out
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap();
        assert!(status == "submitted" || status == "found", "{}", out.stdout);
    }
    assert_eq!(env.stats().by_endpoint["url/report"], 3);
}

#[test]
fn a_url_report_by_scan_id_is_the_scanned_urls_report() {
    // The answer names the URL, not the scan_id asked: it was once refused as "about
    // something else".
    let env = env();
    let scan = private(
        &env,
        ["url", "scan"],
        "jsonl",
        &["http://third-party.example/path?q=1"],
    );
    let scan_id = lines_as_json(&scan.stdout)[0]["scan_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = private(&env, ["url", "report"], "jsonl", &[&scan_id]);
    let record = &lines_as_json(&report.stdout)[0];
    assert_eq!(record["resource"], scan_id.as_str(), "{}", report.stdout);
    assert_eq!(record["response_code"], 1, "{}", report.stdout);
    assert_eq!(record["url"], "http://third-party.example/path?q=1");
}

#[test]
fn domains_are_asked_one_a_request_whatever_their_case() {
    let env = env();
    let out = private(
        &env,
        ["domain", "report"],
        "table",
        &["example.com", "LOGIN.example.net", "nothing.example"],
    );
    insta::assert_snapshot!(out.stdout);
    assert_eq!(env.stats().by_endpoint["domain/report"], 3);
}

#[test]
fn domain_answers_pass_through_jsonl_byte_for_byte() {
    // Vendor keys with spaces, a float whois_timestamp (example.com) and an integer one
    // (login.example.net), as the service sent them: jsonl writes the bytes received, never a
    // re-encoding.
    let env = env();
    let domains = ["example.com", "login.example.net"];
    let bodies: Vec<String> = env.runtime().block_on(async {
        let transport = vt_api::vt_transport::HyperTransport::new().unwrap();
        let mut bodies = Vec::new();
        for domain in domains {
            let request = http::Request::get(format!(
                "{}domain/report?apikey={KEY}&domain={domain}",
                env.url()
            ))
            .body(bytes::Bytes::new())
            .unwrap();
            let body = vt_api::vt_transport::Transport::send(&transport, request)
                .await
                .unwrap()
                .into_body();
            bodies.push(String::from_utf8(body.to_vec()).unwrap());
        }
        bodies
    });
    assert!(
        bodies[0].contains("\"BitDefender category\""),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[0].contains("\"whois_timestamp\": 1718000000.5123"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].contains("\"whois_timestamp\": 1718190000"),
        "{}",
        bodies[1]
    );
    let out = private(&env, ["domain", "report"], "jsonl", &domains);
    assert_eq!(out.stdout, format!("{}\n{}\n", bodies[0], bodies[1]));
}

#[test]
fn ip_reports_and_addresses_refused_before_anything_is_sent() {
    let env = env();
    let out = private(
        &env,
        ["ip", "report"],
        "csv",
        &["192.0.2.10", "198.51.100.7", "203.0.113.5"],
    );
    insta::assert_snapshot!(out.stdout);
    let requests = env.stats().requests;
    for (bad, why) in [
        ("2001:db8::1", "IPv6 is not supported"),
        ("10.0.0.0/8", "give one address, not a network"),
        ("1.2.3", "four numbers"),
        ("01.2.3.4", "four numbers"),
    ] {
        let out = vt(&env, &["ip", "report", "192.0.2.10", bad]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("argument 2: invalid IP address \"{bad}\"")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(why), "{}", out.stderr);
    }
    let bad_url = vt(&env, &["url", "report", "http://a b.example/"]);
    assert_eq!(bad_url.code, 2, "{}", bad_url.stderr);
    let bad_domain = vt(&env, &["domain", "report", "https://example.com/x"]);
    assert_eq!(bad_domain.code, 2, "{}", bad_domain.stderr);
    assert!(
        bad_domain.stderr.contains("vt url report"),
        "{}",
        bad_domain.stderr
    );
    assert_eq!(env.stats().requests, requests, "nothing was sent");
}

#[test]
fn lists_of_urls_come_from_files_and_stdin_with_comments() {
    let env = env();
    let list = env.write(
        "urls.txt",
        format!("# suspicious links\n{CLEAN_URL}\n\n{COMMAS_URL}\n"),
    );
    let out = run_with_stdin(
        env.vt()
            .args([
                "url", "report", "--tier", "private", "--format", "csv", "-i",
            ])
            .arg(&list)
            .args(["-i", "-"]),
        &format!("{DETECTED_URL}\n"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let resources: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(",found,").next().unwrap().trim_matches('"'))
        .collect();
    assert_eq!(resources, [CLEAN_URL, COMMAS_URL, DETECTED_URL]);
}
