//! Bodies that are not a `/file/report` answer: each gives a typed error that says where and
//! why, and none makes the model panic.

use std::path::Path;

use vt_model::{decode_answer, decode_body, DecodeCategory, Error};

fn documented_sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/documented-sample.json");
    std::fs::read(path).unwrap()
}

/// Decodes `body`, expects a decode error, and checks its category, path and message.
#[track_caller]
fn check(body: &[u8], category: DecodeCategory, path: &str, message: &str) {
    let err = match decode_body(body) {
        Ok(decoded) => panic!("decoded {decoded:?}, expected an error"),
        Err(err) => err,
    };
    let decode = err
        .as_decode()
        .unwrap_or_else(|| panic!("not a decode error: {err:?}"));
    assert_eq!(decode.category, category, "{err}");
    assert_eq!(decode.path, path, "{err}");
    assert!(
        decode.message.contains(message),
        "{:?} should contain {message:?}",
        decode.message
    );
    let shown = err.to_string();
    assert!(shown.contains(path), "{shown:?} names the path");
}

#[test]
fn empty_body_as_after_a_204() {
    check(b"", DecodeCategory::Truncated, ".", "EOF while parsing");
}

#[test]
fn html_error_page() {
    check(
        b"<html><body>502 Bad Gateway</body></html>",
        DecodeCategory::Syntax,
        ".",
        "expected value",
    );
}

#[test]
fn truncated_in_the_middle_of_the_scans() {
    let body = documented_sample();
    let cut = body.windows(7).position(|w| w == b"McAfee\"").unwrap() + 20;
    let err = decode_body(&body[..cut]).unwrap_err();
    let decode = err.as_decode().unwrap();
    assert_eq!(decode.category, DecodeCategory::Truncated);
    assert!(decode.path.starts_with("scans.McAfee"), "{}", decode.path);
    assert!(decode.line > 1);
    assert!(decode.excerpt.contains("McAfee"), "{:?}", decode.excerpt);
    let shown = err.to_string();
    assert!(
        shown.starts_with("response body is truncated at scans.McAfee"),
        "{shown}"
    );
    assert!(shown.contains("(line "), "{shown}");
}

#[test]
fn wrong_types_name_the_path() {
    check(
        br#"{"response_code": 1, "positives": "40"}"#,
        DecodeCategory::Shape,
        "positives",
        "invalid type: string \"40\", expected u32",
    );
    check(
        br#"[{"response_code": 0}, {"response_code": 1, "scans": {"X": {"detected": "yes"}}}]"#,
        DecodeCategory::Shape,
        "[1].scans.X.detected",
        "expected a boolean",
    );
    check(
        br#"{"response_code": "1"}"#,
        DecodeCategory::Shape,
        "response_code",
        "expected i64",
    );
}

#[test]
fn a_found_report_must_have_its_fields() {
    check(
        br#"{"response_code": 1, "resource": "x", "verbose_msg": "Scan finished"}"#,
        DecodeCategory::Shape,
        ".",
        "missing field `scan_id`",
    );
    check(
        br#"{"resource": "x"}"#,
        DecodeCategory::Shape,
        ".",
        "missing field `response_code`",
    );
}

#[test]
fn bad_dates_are_refused_with_the_expected_shape() {
    let body = String::from_utf8(documented_sample())
        .unwrap()
        .replace("2010-05-15 03:38:44", "2010-05-15T03:38:44Z");
    check(
        body.as_bytes(),
        DecodeCategory::Shape,
        "scan_date",
        "YYYY-MM-DD HH:MM:SS",
    );
    let body =
        String::from_utf8(documented_sample())
            .unwrap()
            .replacen("20100514", "2010-05-14", 1);
    check(
        body.as_bytes(),
        DecodeCategory::Shape,
        "scans.nProtect.update",
        "YYYYMMDD",
    );
}

#[test]
fn not_an_object_or_array() {
    check(b"42", DecodeCategory::Shape, ".", "expected an answer");
    check(
        b"\"text\"",
        DecodeCategory::Shape,
        ".",
        "expected an answer",
    );
    check(b"[1]", DecodeCategory::Shape, "[0]", "expected an answer");
    let err = decode_answer(b"[]").unwrap_err();
    assert!(
        matches!(err, Error::Decode(_)),
        "a batch is not a single answer"
    );
}

#[test]
fn trailing_garbage_and_invalid_utf8() {
    check(
        br#"{"response_code": 0} x"#,
        DecodeCategory::Syntax,
        ".",
        "trailing characters",
    );
    check(
        b"{\"response_code\": 0, \"resource\": \"\xff\xfe\"}",
        DecodeCategory::Syntax,
        "resource",
        "invalid unicode",
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    for depth in [200usize, 100_000] {
        let mut body = String::from(r#"{"response_code": 0, "x": "#);
        body.push_str(&"[".repeat(depth));
        body.push_str(&"]".repeat(depth));
        body.push('}');
        let err = decode_body(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        // The path says where without a [0] for every level.
        let path = &err.as_decode().unwrap().path;
        assert!(path.starts_with("x[0][0]") && path.len() <= 120, "{path}");
    }
}

#[test]
fn every_prefix_of_a_body_fails_cleanly() {
    let body = documented_sample();
    let whole = body.trim_ascii_end().len();
    for cut in 0..whole {
        let err = decode_body(&body[..cut]).expect_err("a cut body never decodes");
        let decode = err.as_decode().unwrap();
        assert_eq!(
            decode.category,
            DecodeCategory::Truncated,
            "cut at {cut}: {err}"
        );
    }
}
