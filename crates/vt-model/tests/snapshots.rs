//! insta pins the documented sample of the v2 reference page: how it re-encodes and how the
//! typed model reads it. A change to either is a visible diff in review.

use std::path::Path;

fn documented_sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/documented-sample.json");
    std::fs::read(path).unwrap()
}

#[test]
fn documented_sample_reencoded() {
    let body = vt_model::decode_body(&documented_sample()).unwrap();
    insta::assert_json_snapshot!(body);
}

#[test]
fn documented_sample_typed_view() {
    let answer = vt_model::decode_answer(&documented_sample()).unwrap();
    insta::assert_debug_snapshot!(answer);
}

#[test]
fn documented_sample_questions() {
    let answer = vt_model::decode_answer(&documented_sample()).unwrap();
    let report = answer.as_found().unwrap();
    let summary = serde_json::json!({
        "status": answer.status(),
        "detection_ratio": report.detection_ratio().to_string(),
        "detecting_engines": report.detecting_engines().collect::<Vec<_>>(),
        "detection_names": report.detection_names().collect::<Vec<_>>(),
        "scan_date_unix": report.scan_date.unix_seconds(),
        "scan_id_matches_date": report.scan_id.ends_with(&format!("-{}", report.scan_date.unix_seconds())),
    });
    insta::assert_json_snapshot!(summary);
}
