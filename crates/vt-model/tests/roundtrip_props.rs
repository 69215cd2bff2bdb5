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

/// The other endpoints' fixtures, each with the typed objects in it (JSON pointers) and the
/// check that decodes and re-encodes it as that endpoint's answers.
type Lossless = fn(&[u8]) -> Result<(), TestCaseError>;
const ENDPOINT_OBJECTS: &[(&str, &[&str], Lossless)] = &[
    (
        "url-report/found-detail-and-null-filescan.json",
        &["", "/scans/Beta Guard", "/scans/Eta"],
        assert_lossless_as::<vt_model::UrlReport>,
    ),
    (
        "url-scan/queued.json",
        &[""],
        assert_lossless_as::<vt_model::UrlScan>,
    ),
    (
        "domain-report/vendors-float-whois-timestamp.json",
        &[
            "",
            "/resolutions/0",
            "/detected_urls/1",
            "/detected_referrer_samples/0",
            "/undetected_downloaded_samples/0",
        ],
        assert_lossless_as::<vt_model::DomainReport>,
    ),
    (
        "domain-report/dns-records-int-whois-timestamp.json",
        &["", "/dns_records/0", "/dns_records/2"],
        assert_lossless_as::<vt_model::DomainReport>,
    ),
    (
        "ip-address-report/asn-string-2014.json",
        &[
            "",
            "/resolutions/2",
            "/detected_urls/0",
            "/detected_downloaded_samples/0",
        ],
        assert_lossless_as::<vt_model::IpReport>,
    ),
];

fn assert_lossless_as<T: vt_model::Report>(body: &[u8]) -> Result<(), TestCaseError> {
    let original: Value = serde_json::from_slice(body).unwrap();
    let decoded: vt_model::Body<T> =
        vt_model::decode(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(serde_json::to_value(&decoded).unwrap(), original);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn unknown_keys_survive_at_every_level_of_the_other_endpoints(
        fixture in 0..ENDPOINT_OBJECTS.len(),
        insertions in prop::collection::vec(
            (any::<prop::sample::Index>(), "[a-z_]{1,10}", arb_json()),
            1..6,
        ),
    ) {
        let (name, objects, check) = ENDPOINT_OBJECTS[fixture];
        let mut report = fixture_value(name);
        for (at, key, value) in insertions {
            let object = report
                .pointer_mut(objects[at.index(objects.len())])
                .and_then(Value::as_object_mut)
                .expect("pointer names an object of the fixture");
            object.insert(format!("zz_unknown_{key}"), value);
        }
        check(&serde_json::to_vec(&report).unwrap())?;
    }

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
