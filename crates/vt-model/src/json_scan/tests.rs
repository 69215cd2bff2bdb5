//! The scanner against the former scan (`reference`): on every body, both accept it and read
//! the same items (spans, codes, echoes, identifiers), or both refuse it after the same items,
//! with the same error (so of the same category: a truncated body stays `Truncated`).

use proptest::prelude::*;

use super::reference;
use crate::{DecodeCategory, Error, ItemScan};

/// What `scan_items` gives for `body`, collected as the reference gives it.
fn scanned(body: &[u8]) -> Vec<Result<ItemScan, Error>> {
    match crate::scan_items(body) {
        Ok(items) => items.collect(),
        Err(error) => vec![Err(error)],
    }
}

/// Panics, saying where, when the scanner and the reference disagree on `body`.
fn assert_agree(body: &[u8]) {
    let new = scanned(body);
    let old = reference::scan_items(body);
    assert!(
        new == old,
        "the scans disagree on {:?}:\n new: {new:?}\n old: {old:?}",
        String::from_utf8_lossy(body)
    );
}

fn category(body: &[u8]) -> Option<DecodeCategory> {
    let error = scanned(body).into_iter().find_map(Result::err)?;
    Some(error.as_decode()?.category)
}

/// Valid bodies of every kind the scan meets, and some it should not.
fn corpus() -> Vec<String> {
    let engines = r#"{"Bkav": {"detected": true, "version": "1.3.0.9899", "result": "W32.AIDetect", "update": "20260101"},
        "ClamAV": {"detected": false, "version": null, "result": null, "update": "20260102"}}"#;
    let found = format!(
        r#"{{"scans": {engines}, "scan_id": "275a-1549381312", "sha1": "3395", "resource": "44d8",
        "response_code": 1, "scan_date": "2019-02-05 15:41:52", "permalink": "https://x/y?a=1&b=2",
        "verbose_msg": "Scan finished", "total": 2, "positives": 1, "sha256": "275a", "md5": "44d8"}}"#
    );
    let not_found = r#"{"response_code": 0, "resource": "abc", "verbose_msg": "not there"}"#;
    let queued =
        r#"{"response_code": -2, "resource": "q", "scan_id": "s-1", "verbose_msg": "queued"}"#;
    let invalid = r#"{"response_code": -1, "verbose_msg": "Invalid resource"}"#;
    let unicode = r#"{"response_code": 1, "resource": "R\u0041\n\"\\\/\b\f\r\t", "md5": "\ud83d\ude00 é ✓",
        "url": "http://ex.test/\u00e9", "extra": "\ud800 lone \udc00 \uD800\u0041", "\u0073can_id": "k"}"#;
    let escaped_keys = r#"{"resp\u006fnse_code": 7, "re\u0073ource": "e", "sh\u00611": "x", "scans": {"\ud800": 1}}"#;
    let nested = r#"{"response_code": 1, "additional_info": {"a": [[{"b": [1, -2.5e-3, {"c": {}}]}], []],
        "d": {"e": [true, false, null, "x", 0, -0, 1E+2, 3.25e10]}}, "resource": {"k": [1, {"l": 2}]},
        "md5": ["m"], "sha1": 1.5, "sha256": true, "scan_id": null, "url": {"\u0041": 1}}"#;
    let numbers = r#"{"response_code": -9223372036854775808, "a": 1e400, "b": 18446744073709551616,
        "c": -0.0, "d": 0e0, "e": 123456789012345678901234567890, "f": 1E-400}"#;
    let codes = r#"[{"response_code": 9223372036854775807}, {"response_code": 9223372036854775808},
        {"response_code": -0}, {"response_code": 1.0}, {"response_code": 1e2}, {"response_code": "1"},
        {"response_code": [1]}, {"response_code": {"a": 1}}, {"response_code": null},
        {"response_code": 12345678901234567890123}, {"response_code": 1, "response_code": "x"}]"#;
    let deep = format!(
        r#"{{"response_code": 0, "deep": {}1{}, "resource": {}{}}}"#,
        "[{\"a\":".repeat(150),
        "}]".repeat(150),
        "[".repeat(150),
        "]".repeat(150)
    );
    let spaces = " \n\t[ {\"response_code\" : 1 , \"resource\" :\"a\" } ,\r\n{ } , [ ] , \"s\" , 12 , true ]\n ";
    vec![
        format!("[{found}, {not_found}, {queued}, {invalid}]"),
        found.clone(),
        not_found.to_owned(),
        format!("[{unicode}, {escaped_keys}]"),
        nested.to_owned(),
        numbers.to_owned(),
        codes.to_owned(),
        deep,
        spaces.to_owned(),
        r#"[7, "x", ["a", {"response_code": 1}], null, -1.5e7, {}]"#.to_owned(),
        r#"  "just a string\u00e9"  "#.to_owned(),
        "[]".to_owned(),
        "-12.5E+3".to_owned(),
    ]
}

/// Where the former scan read a value and where it skipped it, on the edge: lone surrogates
/// and numbers beyond `f64` in each kind of place.
#[test]
fn read_and_skipped_places_are_told_apart_as_before() {
    for value in [
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        "1e400",
        "-1e400",
        &"9".repeat(400),
    ] {
        for body in [
            format!(r#"{{"response_code": 0, "resource": {value}}}"#),
            format!(r#"{{"response_code": 0, "resource": {{"k": {value}}}}}"#),
            format!(r#"{{"response_code": 0, "resource": [{value}]}}"#),
            format!(r#"{{"response_code": 0, "md5": {{{value}: 1}}}}"#),
            format!(r#"{{"response_code": 0, "md5": {{"a": {{{value}: 1}}}}}}"#),
            format!(r#"{{"response_code": 0, "other": {value}}}"#),
            format!(r#"{{{value}: 0}}"#),
            format!("[{value}]"),
            format!("[[{value}]]"),
            value.to_owned(),
        ] {
            assert_agree(body.as_bytes());
        }
    }
}

#[test]
fn the_corpus_scans_as_before() {
    for body in corpus() {
        assert!(scanned(body.as_bytes()).iter().all(Result::is_ok), "{body}");
        assert_agree(body.as_bytes());
    }
}

/// Every prefix of every body of the corpus: a truncated body is refused as before, and
/// stays `Truncated` (what vt-api retries on) wherever it was cut.
#[test]
fn every_truncation_is_refused_as_before() {
    for body in corpus() {
        let body = body.as_bytes();
        for cut in 0..body.len() {
            assert_agree(&body[..cut]);
        }
    }
    let batch = &corpus()[0];
    for cut in 1..batch.trim_end().len() - 1 {
        assert_eq!(
            category(&batch.as_bytes()[..cut]),
            Some(DecodeCategory::Truncated),
            "{:?}",
            &batch[..cut]
        );
    }
}

/// Every byte of every body of the corpus replaced by each of the bytes that matter to JSON,
/// deleted, or doubled.
#[test]
fn every_single_byte_mutation_scans_as_before() {
    const BYTES: &[u8] = b"\"\\{}[],: \t0-+.eEu1aftn/\x00\x1f\x7f\xc3\xff";
    for body in corpus() {
        let body = body.as_bytes();
        for at in 0..body.len() {
            let mut mutated = body.to_vec();
            for &byte in BYTES {
                mutated[at] = byte;
                assert_agree(&mutated);
            }
            let mut deleted = body.to_vec();
            deleted.remove(at);
            assert_agree(&deleted);
            let mut doubled = body.to_vec();
            doubled.insert(at, body[at]);
            assert_agree(&doubled);
        }
    }
}

/// Nesting costs memory, not stack, as it did: serde_json skipped ignored values with a heap
/// stack, so the former scan had no depth limit there; the typed decoder keeps serde_json's
/// limit of 128.
#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    const DEPTH: usize = 100_000;
    let opened = "[".repeat(DEPTH);
    let closed = "]".repeat(DEPTH);
    for body in [
        format!(r#"{{"response_code": 1, "deep": {opened}{closed}}}"#),
        format!(r#"{{"response_code": 1, "resource": {opened}{closed}}}"#),
        format!("[{opened}{closed}]"),
        format!(
            r#"[{{"a": {}1{}}}]"#,
            "{\"a\":".repeat(DEPTH),
            "}".repeat(DEPTH)
        ),
    ] {
        let items = scanned(body.as_bytes());
        assert!(items.iter().all(Result::is_ok), "refused");
        assert_agree(body.as_bytes());
        let truncated = &body.as_bytes()[..body.len() - DEPTH / 2];
        assert!(scanned(truncated).iter().any(Result::is_err));
        assert_agree(truncated);
    }
    let unclosed = format!(r#"{{"response_code": 1, "deep": {opened}"#);
    assert_agree(unclosed.as_bytes());
}

fn arb_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 _.:/-]{0,12}",
        Just("é✓".to_owned()),
        Just("\u{1F600}".to_owned()),
        Just(r"\n".to_owned()),
        Just(r#"\""#.to_owned()),
        Just(r"\\".to_owned()),
        Just(r"\/".to_owned()),
        Just(r"\u0041".to_owned()),
        Just(r"\ud83d\ude00".to_owned()),
        Just(r"\ud800".to_owned()),
        Just(r"\udc00".to_owned()),
        Just(r"\uD800\u0041".to_owned()),
        Just(r"\uD800\n".to_owned()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn arb_number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
        1 => prop_oneof![
            Just("1e400".to_owned()),
            Just("-0".to_owned()),
            Just("9223372036854775807".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("-9223372036854775808".to_owned()),
            Just("-9223372036854775809".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("9".repeat(400)),
        ],
    ]
}

fn arb_space() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\n\t"), 1 => Just(" \r\n ")]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "\"response_code\"",
            "\"resource\"",
            "\"md5\"",
            "\"sha1\"",
            "\"sha256\"",
            "\"scan_id\"",
            "\"url\"",
            "\"resp\\u006fnse_code\"",
            "\"scans\"",
        ])
        .prop_map(str::to_owned),
        1 => arb_string(),
    ]
}

/// A JSON value as text, with the strings, numbers and keys the scan must tell apart.
fn arb_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        arb_string(),
        arb_number(),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec((arb_space(), inner.clone()), 0..6).prop_map(|items| {
                let items: Vec<String> =
                    items.into_iter().map(|(s, v)| format!("{s}{v}")).collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec((arb_key(), arb_space(), inner), 0..6).prop_map(|entries| {
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(k, s, v)| format!("{k}{s}:{v}"))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }),
        ]
    })
}

/// A body: one item, or a batch of them, most items answers with the keys the scan reads.
fn arb_body() -> impl Strategy<Value = String> {
    let answer =
        prop::collection::vec((arb_key(), arb_space(), arb_value()), 0..8).prop_map(|entries| {
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(k, s, v)| format!("{k}:{s}{v}"))
                .collect();
            format!("{{{}}}", entries.join(","))
        });
    let item = prop_oneof![4 => answer, 1 => arb_value()];
    prop_oneof![
        1 => (arb_space(), item.clone()).prop_map(|(s, item)| format!("{s}{item}{s}")),
        3 => prop::collection::vec((arb_space(), item), 0..6).prop_map(|items| {
            let items: Vec<String> = items.into_iter().map(|(s, v)| format!("{s}{v}{s}")).collect();
            format!("[{}]", items.join(","))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_bodies_scan_as_before(body in arb_body()) {
        assert_agree(body.as_bytes());
    }

    #[test]
    fn generated_bodies_cut_or_mutated_scan_as_before(
        body in arb_body(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"\"\\{}[],: 0-.eEu\x01\x80".to_vec()),
    ) {
        let body = body.into_bytes();
        let at = at.index(body.len());
        assert_agree(&body[..at]);
        let mut mutated = body.clone();
        mutated[at] = byte;
        assert_agree(&mutated);
        mutated.remove(at);
        assert_agree(&mutated);
    }
}

/// The test fixtures and the fuzz seed corpus (real answers of every endpoint): whole, cut at
/// up to 2,000 places each, and with a byte replaced at as many.
#[test]
fn the_fixtures_and_the_fuzz_seeds_scan_as_before() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut folders = vec![
        root.join("tests/fixtures"),
        root.join("../../fuzz/corpus/decode_body"),
    ];
    let mut files = 0;
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            files += 1;
            let body = std::fs::read(&path).unwrap();
            assert_agree(&body);
            let stride = body.len().div_ceil(2_000).max(1);
            for at in (0..body.len()).step_by(stride) {
                assert_agree(&body[..at]);
                let mut mutated = body.clone();
                mutated[at] = b"\"\\{}[],:0"[at % 9];
                assert_agree(&mutated);
            }
        }
    }
    assert!(files > 20, "{files} files");
}
