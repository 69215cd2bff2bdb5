//! The project's own fixtures, each decoded, summarised and compared with what it must say,
//! and each re-encoded without loss.

use std::fmt::Write;
use std::path::Path;

use vt_model::{decode_body, FileReportAnswer, FileReportBody};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line per answer: what a user would ask of it first.
fn summarize(body: &FileReportBody) -> String {
    let mut out = String::new();
    for answer in body.answers() {
        let resource = answer.resource().unwrap_or("-");
        match answer {
            FileReportAnswer::Found(r) => {
                let engines: Vec<&str> = r.detecting_engines().take(3).collect();
                let top: Vec<String> = r
                    .top_detection_names(2)
                    .into_iter()
                    .map(|(name, n)| format!("{name} x{n}"))
                    .collect();
                let extra: Vec<&String> = r.extra.keys().collect();
                write!(
                    out,
                    "found {resource} {} at {} engines={} detected_by={} {engines:?} top={top:?} allinfo={} extra={extra:?}",
                    r.detection_ratio(),
                    r.scan_date,
                    r.scans.len(),
                    r.detecting_engines().count(),
                    r.additional_info.is_some(),
                )
                .unwrap();
            }
            FileReportAnswer::NotFound(s) => write!(
                out,
                "not_found {resource} invalid={}",
                s.is_invalid_resource()
            )
            .unwrap(),
            FileReportAnswer::Queued(s) => write!(
                out,
                "queued {resource} scan_id={}",
                s.scan_id.as_deref().unwrap_or("-")
            )
            .unwrap(),
            FileReportAnswer::Unknown(s) => {
                let extra: Vec<&String> = s.extra.keys().collect();
                write!(
                    out,
                    "unknown code={} {resource} extra={extra:?}",
                    s.response_code
                )
                .unwrap()
            }
            _ => write!(out, "other {resource}").unwrap(),
        }
        out.push('\n');
    }
    out
}

/// Decodes the fixture, checks its summary, and checks that encoding gives the same JSON value.
#[track_caller]
fn check(name: &str, expect: &str) {
    let body = fixture(name);
    let decoded = decode_body(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(summarize(&decoded).trim_end(), expect.trim(), "{name}");
    let original: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let reencoded = serde_json::to_value(&decoded).unwrap();
    assert_eq!(
        reencoded, original,
        "{name}: lost something in a round trip"
    );
}

#[test]
fn documented_sample() {
    check(
        "documented-sample.json",
        r#"found 99017f6eebbac24f351415dd410d522d 40/40 at 2010-05-15 03:38:44 engines=5 detected_by=5 ["CAT-QuickHeal", "McAfee", "TheHacker"] top=["Generic.dx!rkx x1", "Trojan.Generic.3611249 x1"] allinfo=false extra=[]"#,
    );
}

#[test]
fn not_found_and_invalid_resource() {
    check(
        "not-found.json",
        "not_found 845be6a6746f1f873794465e021a9059155859e393f68cc13ac0dec248050cc3 invalid=false",
    );
    check(
        "invalid-resource.json",
        "not_found hello, world invalid=true",
    );
}

#[test]
fn queued_keeps_the_bare_sha256_scan_id() {
    check(
        "queued.json",
        "queued 186A2C503B4B62259706103E381D3BE1 scan_id=3dd80b4c30f4a1e5fdd81c2508add8036c07e263b518e8efcf433e5e1a238b85",
    );
}

#[test]
fn batch_array_in_the_order_sent() {
    check(
        "batch-mixed.json",
        r#"
found e0c18486c2f9d35f19509711794bb86c 2/3 at 2026-11-18 08:53:20 engines=3 detected_by=2 ["Avast", "ClamAV"] top=["Win.Trojan.Agent-1 x1", "Win32:Malware-gen x1"] allinfo=false extra=[]
not_found d824d0c4481534b35ce58aeca66ba07f315d8c7554cb69b3a6e76cfd2394ea91 invalid=false
queued 186A2C503B4B62259706103E381D3BE1 scan_id=3dd80b4c30f4a1e5fdd81c2508add8036c07e263b518e8efcf433e5e1a238b85
"#,
    );
}

#[test]
fn unknown_response_code_is_kept_whole() {
    check(
        "unknown-response-code.json",
        r#"unknown code=-3 ff2d244334378d6a4dd028c7742034e8a7dd2bf987f75d4768e3ee1143c92284 extra=["detail", "retry_after"]"#,
    );
}

#[test]
fn empty_scans_with_total_zero() {
    check(
        "empty-scans.json",
        r#"found 80fe3abb9d31728f03100b544f74674f4eb8e9245327e59cf19d93b7039485ab 0/0 at 2026-11-19 00:00:00 engines=0 detected_by=0 [] top=[] allinfo=false extra=[]"#,
    );
}

#[test]
fn null_version_and_result_and_missing_engine_keys() {
    check(
        "null-version-result.json",
        r#"found 2e80a68b24b5696423e528fb5367a79ab0529d23 1/3 at 2026-11-18 08:53:20 engines=3 detected_by=1 ["NoUpdateKey"] top=["Trojan.Generic x1"] allinfo=false extra=[]"#,
    );
}

#[test]
fn unicode_everywhere() {
    check(
        "unicode.json",
        r#"found d5325b6091249f0a735136923bb48bb4eb3d046789801a4726fb7297361a18f2 2/3 at 2026-11-18 08:53:20 engines=3 detected_by=2 ["Антивирус", "安全"] top=["Троян.Агент ✓ x1", "木马/Win32.Agent x1"] allinfo=false extra=[]"#,
    );
}

#[test]
fn allinfo_with_unknown_keys_at_every_level() {
    check(
        "allinfo-pe-unknown-keys.json",
        r#"found 21b118991ee66bf4baf2375cfce264f1df168a5688de9803c6f848560805b0b3 51/64 at 2026-11-18 08:53:20 engines=64 detected_by=51 ["ALYac", "AVG", "Acronis"] top=["Gen:Variant.Razy.12345 x13", "Trojan:Win32/Wacatac.B!ml x13"] allinfo=true extra=["x_report_level_unknown"]"#,
    );
}

#[test]
fn allinfo_fields_are_typed_and_unknown_keys_stay_where_they_were() {
    let body = fixture("allinfo-pe-unknown-keys.json");
    let answer = vt_model::decode_answer(&body).unwrap();
    let r = answer.as_found().expect("found");
    assert_eq!(r.first_seen.unwrap().to_string(), "2024-01-02 03:04:05");
    assert_eq!(r.size, Some(431_616));
    assert_eq!(r.file_type.as_deref(), Some("Win32 EXE"));
    assert_eq!(r.vhash(), Some("025056655d155d15155bz4c!z"));
    assert_eq!(r.authentihash().map(str::len), Some(64));
    assert_eq!(r.itw_urls.as_ref().map(Vec::len), Some(2));
    assert_eq!(r.community_reputation, Some(-12));
    assert_eq!(r.scans["Avira"].extra["engine_build"], "8.3.64.102");
    assert_eq!(r.scans["Avira"].update.unwrap().to_string(), "20261113");

    let info = r.additional_info.as_ref().unwrap();
    assert_eq!(info.pe_machine_type, Some(332));
    assert_eq!(info.imports.as_ref().unwrap()["DLL3_!_dll"].len(), 25);
    assert_eq!(info.pe_resource_langs.as_ref().unwrap()["ENGLISH US"], 2);
    assert_eq!(info.exiftool.as_ref().unwrap()["NumericTag"], 42);
    assert_eq!(info.extra["x_additional_info_unknown"], "kept");
    let sections = info.sections.as_ref().unwrap();
    assert_eq!(sections[0].name, ".text");
    assert_eq!(sections[0].entropy(), Some(6.51));
    assert_eq!(sections[2].rest, [serde_json::json!("extra element")]);
    assert_eq!(
        sections[3].entropy(),
        Some(5.01),
        "entropy sent as a number"
    );

    let behaviour = info.behaviour_v1.as_ref().unwrap();
    assert!(behaviour.extra.contains_key("x_behaviour_unknown"));
    assert_eq!(
        behaviour.extra["extra"],
        serde_json::json!(["DeviceIoControl"])
    );
    let fs = behaviour.filesystem.as_ref().unwrap();
    assert_eq!(fs.opened.as_ref().unwrap()[0].extra["x_op_unknown"], 7);
    assert_eq!(fs.moved.as_ref().unwrap()[0].extra["from"], "C:\\a");
    assert!(fs.extra.contains_key("x_filesystem_unknown"));
    let net = behaviour.network.as_ref().unwrap();
    assert_eq!(net.dns.as_ref().unwrap()[0].extra["ttl"], 300);
    let http = &net.http.as_ref().unwrap()[0];
    assert_eq!(http.user_agent, Some(None), "null user-agent stays null");
    assert_eq!(http.extra["body_len"], 512);
    assert!(net.extra.contains_key("x_network_unknown"));
    let tree = &behaviour.process.as_ref().unwrap().tree.as_ref().unwrap()[0];
    let child = &tree.children.as_ref().unwrap()[0];
    assert_eq!(
        (child.pid, child.extra["x_node_unknown"].as_i64()),
        (Some(1004), Some(1))
    );
    assert_eq!(
        behaviour.mutex.as_ref().unwrap().created.as_ref().unwrap()[0]
            .mutex
            .as_deref(),
        Some("Local\\y")
    );
}

#[test]
fn public_view_drops_allinfo_and_unknown_top_level_keys() {
    let body = fixture("allinfo-pe-unknown-keys.json");
    let answer = vt_model::decode_answer(&body).unwrap();
    let public = serde_json::to_value(answer.as_found().unwrap().to_public()).unwrap();
    let keys: Vec<&String> = public.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "md5",
            "permalink",
            "positives",
            "resource",
            "response_code",
            "scan_date",
            "scan_id",
            "scans",
            "sha1",
            "sha256",
            "total",
            "verbose_msg"
        ]
    );
}

#[test]
fn spans_locate_each_answer_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // The file-report fixtures only: the other endpoints' are in folders named after them.
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let body = fixture(&name);
        let plain = decode_body(&body).unwrap().into_answers();
        let spanned = vt_model::decode_body_spans(&body).unwrap();
        assert_eq!(spanned.len(), plain.len(), "{name}");
        for ((answer, span), expected) in spanned.iter().zip(&plain) {
            assert_eq!(answer, expected, "{name}");
            let item: serde_json::Value = serde_json::from_slice(&body[span.clone()]).unwrap();
            assert_eq!(item, serde_json::to_value(expected).unwrap(), "{name}");
        }
    }
    let err = vt_model::decode_body_spans(br#"[{"response_code": 0}, {"response_code": "x"}]"#)
        .unwrap_err();
    assert_eq!(err.as_decode().unwrap().path, "[1].response_code");
    let err = vt_model::decode_body_spans(b"[{\"response_code\": 0}, ").unwrap_err();
    assert_eq!(
        err.as_decode().unwrap().category,
        vt_model::DecodeCategory::Truncated
    );
}
