//! `scan_body` through the public API: what it refuses and with which category, what it lets
//! through, and nesting that costs no stack. (Its equivalence with the former serde_json scan,
//! byte for byte, is tested inside the crate, in `json_scan/tests.rs`.)

use vt_model::{scan_body, DecodeCategory, Error};

fn category(body: &[u8]) -> Option<DecodeCategory> {
    match scan_body(body) {
        Ok(_) => None,
        Err(Error::Decode(error)) => Some(error.category),
        Err(other) => panic!("not a decode error: {other:?}"),
    }
}

const BATCH: &str = r#"[{"response_code": 1, "resource": "44d8", "md5": "44d8", "scans": {"Bkav": {"detected": true, "version": "1.3", "result": "W32.A\u0041", "update": "20260101"}}, "positives": 1, "total": 1},
    {"response_code": 0, "resource": "abc", "verbose_msg": "The requested resource is not among the finished, queued or pending scans"},
    {"response_code": -2, "resource": "q", "scan_id": "q-1", "verbose_msg": "queued"}]"#;

#[test]
fn a_cut_batch_is_truncated_wherever_it_was_cut() {
    assert_eq!(scan_body(BATCH.as_bytes()).unwrap().len(), 3);
    let body = BATCH.as_bytes();
    for cut in 1..body.len() {
        assert_eq!(
            category(&body[..cut]),
            Some(DecodeCategory::Truncated),
            "{:?}",
            &BATCH[..cut]
        );
    }
}

#[test]
fn values_that_are_read_are_held_to_serde_json_strictness_and_others_to_the_grammar() {
    // A lone surrogate: refused where the scan reads the string, let through where it skips it.
    assert!(scan_body(br#"{"response_code": 0, "resource": "\ud800"}"#).is_err());
    assert!(scan_body(br#"{"response_code": 0, "\udc00": 1}"#).is_err());
    let skipped = scan_body(br#"{"response_code": 0, "verbose_msg": "\ud800"}"#).unwrap();
    assert_eq!(skipped[0].response_code, Some(0));
    // The keys of an object read in place of a string are read too; deeper, they are skipped.
    assert!(scan_body(br#"{"response_code": 0, "resource": {"\ud800": 1}}"#).is_err());
    assert!(scan_body(br#"{"response_code": 0, "resource": [{"\ud800": 1}]}"#).is_ok());
    assert!(scan_body(br#"{"response_code": 0, "resource": {"a": {"\ud800": 1}}}"#).is_ok());
    assert!(scan_body(br#"["\ud800"]"#).is_err());
    assert!(scan_body(br#"[["\ud800"]]"#).is_ok());
    // A surrogate pair is one character.
    let paired = scan_body(br#"{"response_code": 0, "resource": "\ud83d\ude00"}"#).unwrap();
    assert_eq!(paired[0].resource.as_deref(), Some("\u{1F600}"));
    // A number beyond f64: the same.
    assert!(scan_body(br#"{"response_code": 1e400}"#).is_err());
    assert!(scan_body(br#"{"response_code": 0, "total": 1e400}"#).is_ok());
    // Integers as serde_json gives them: -0 and fractions are not codes.
    for (code, read) in [
        ("-0", None),
        ("0", Some(0)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("1.0", None),
        ("1e2", None),
    ] {
        let body = format!(r#"{{"response_code": {code}}}"#);
        assert_eq!(
            scan_body(body.as_bytes()).unwrap()[0].response_code,
            read,
            "{code}"
        );
    }
    // The grammar everywhere: control characters, bad escapes, leading zeros, trailing commas.
    for body in [
        "{\"response_code\": 0, \"x\": \"\u{1}\"}",
        r#"{"response_code": 0, "x": "\x"}"#,
        r#"{"response_code": 0, "x": "\u12"}"#,
        r#"{"response_code": 0, "x": 01}"#,
        r#"{"response_code": 0, "x": [1,]}"#,
        r#"{"response_code": 0, "x": {"a": 1,}}"#,
        r#"{"response_code": 0, "x": tru}"#,
        r#"[{"response_code": 0}] ]"#,
    ] {
        assert!(category(body.as_bytes()).is_some(), "{body}");
    }
}

#[test]
fn nesting_costs_memory_not_stack() {
    const DEPTH: usize = 100_000;
    let body = format!(
        r#"[{{"response_code": 1, "resource": "r", "deep": {}{}}}]"#,
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let items = scan_body(body.as_bytes()).unwrap();
    assert_eq!(items[0].resource.as_deref(), Some("r"));
    assert_eq!(
        &body.as_bytes()[items[0].span.clone()],
        &body.as_bytes()[1..body.len() - 1]
    );
    assert!(scan_body(&body.as_bytes()[..body.len() - 10]).is_err());
}
