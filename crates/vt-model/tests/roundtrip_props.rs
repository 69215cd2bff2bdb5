//! Property tests: unknown keys with random JSON values, placed at every level of a report,
//! survive decode and encode; no input bytes make decoding panic.

use std::path::Path;

use proptest::prelude::*;
use serde_json::{Map, Value};

fn fixture_value(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every object of the allinfo fixture that the model decodes into a typed struct, as JSON
/// pointers. Unknown keys put there must land in that struct's `extra`.
const TYPED_OBJECTS: &[&str] = &[
    "",
    "/scans/Bkav",
    "/scans/Avira",
    "/additional_info",
    "/additional_info/behaviour-v1",
    "/additional_info/behaviour-v1/filesystem",
    "/additional_info/behaviour-v1/filesystem/opened/0",
    "/additional_info/behaviour-v1/network",
    "/additional_info/behaviour-v1/network/dns/0",
    "/additional_info/behaviour-v1/network/http/0",
    "/additional_info/behaviour-v1/mutex",
    "/additional_info/behaviour-v1/mutex/opened/0",
    "/additional_info/behaviour-v1/registry",
    "/additional_info/behaviour-v1/process",
    "/additional_info/behaviour-v1/process/created/0",
    "/additional_info/behaviour-v1/process/tree/0",
    "/additional_info/behaviour-v1/process/tree/0/children/0",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Decodes and re-encodes `body`, and compares with the JSON value of the same bytes.
fn assert_lossless(body: &[u8]) -> Result<(), TestCaseError> {
    let original: Value = serde_json::from_slice(body).unwrap();
    let decoded = vt_model::decode_body(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let reencoded = serde_json::to_value(&decoded).unwrap();
    prop_assert_eq!(reencoded, original);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn unknown_keys_survive_at_every_level(
        insertions in prop::collection::vec(
            (0..TYPED_OBJECTS.len(), "[a-z_]{1,10}", arb_json()),
            1..8,
        ),
        as_batch in any::<bool>(),
    ) {
        let mut report = fixture_value("allinfo-pe-unknown-keys.json");
        for (at, key, value) in insertions {
            let object = report
                .pointer_mut(TYPED_OBJECTS[at])
                .and_then(Value::as_object_mut)
                .expect("pointer names an object of the fixture");
            // The prefix keeps clear of every key the model knows.
            object.insert(format!("zz_unknown_{key}"), value);
        }
        let body = if as_batch {
            let not_found = fixture_value("not-found.json");
            Value::Array(vec![not_found, report])
        } else {
            report
        };
        assert_lossless(&serde_json::to_vec(&body).unwrap())?;
    }

    #[test]
    fn unknown_keys_survive_in_short_answers(key in "[a-z]{1,10}", value in arb_json()) {
        for name in ["not-found.json", "queued.json", "unknown-response-code.json"] {
            let mut answer = fixture_value(name);
            answer.as_object_mut().unwrap().insert(format!("zz_{key}"), value.clone());
            assert_lossless(&serde_json::to_vec(&answer).unwrap())?;
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = vt_model::decode_body(&bytes);
    }

    #[test]
    fn mutated_reports_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = serde_json::to_vec(&fixture_value("allinfo-pe-unknown-keys.json")).unwrap();
        let i = at.index(body.len());
        body[i] = byte;
        if let Err(err) = vt_model::decode_body(&body) {
            prop_assert!(!err.to_string().is_empty());
        }
    }
}
