//! Decoding throughput: the typed, lossless model against `serde_json::Value` on the same bytes.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p vt-model --bench decode`). Inputs are
//! generated here, deterministically, in the shapes of real v2 answers:
//! - `allinfo_report`: one large allinfo report (a PE with imports, sections and a busy
//!   behaviour-v1 summary), about 140 KB;
//! - `batch_25`: a 25-report batch array as a private key gets it, 70 engines per report.
//!
//! `flatten_baseline` decodes the batch with a derive-based model that keeps unknown keys with
//! `#[serde(flatten)]`, the obvious alternative this crate avoids.
#![recursion_limit = "512"]

use std::collections::BTreeMap;

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use serde_json::{json, Map, Value};

fn main() {
    divan::main();
}

const ENGINES: usize = 70;

fn engine_name(i: usize) -> String {
    format!("Engine-{i:02}")
}

fn scans(seed: usize) -> Value {
    let mut scans = Map::new();
    for i in 0..ENGINES {
        let detected = !(i + seed).is_multiple_of(3);
        scans.insert(
            engine_name(i),
            json!({
                "detected": detected,
                "version": format!("{}.{}.{}", i % 9, (i * 7) % 100, seed % 1000),
                "result": if detected { Value::from(format!("Trojan.Win32.Agent.{}", (i * 31 + seed) % 997)) } else { Value::Null },
                "update": format!("2026{:02}{:02}", 1 + i % 12, 1 + (i + seed) % 28),
            }),
        );
    }
    Value::Object(scans)
}

fn hex(seed: usize, len: usize) -> String {
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
}

fn public_report(seed: usize) -> Value {
    let sha256 = hex(seed, 64);
    json!({
        "scans": scans(seed),
        "scan_id": format!("{sha256}-1795000000"),
        "sha1": hex(seed + 1, 40),
        "resource": hex(seed + 2, 32),
        "response_code": 1,
        "scan_date": "2026-11-18 08:53:20",
        "permalink": format!("https://www.virustotal.com/gui/file/{sha256}/detection/f-{sha256}-1795000000"),
        "verbose_msg": "Scan finished, information embedded",
        "total": ENGINES,
        "positives": ENGINES * 2 / 3,
        "sha256": sha256,
        "md5": hex(seed + 2, 32),
    })
}

fn allinfo_report() -> Value {
    let mut report = public_report(7);
    let paths = |n: usize, what: &str| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"path": format!("C:\\Users\\user\\AppData\\Local\\Temp\\{what}{i}.tmp"), "success": i % 5 != 0}))
            .collect()
    };
    let imports: Map<String, Value> = (0..40)
        .map(|d| {
            let functions: Vec<Value> = (0..60)
                .map(|f| format!("Function{d}_{f}W").into())
                .collect();
            (format!("LIBRARY{d}_!_dll"), Value::Array(functions))
        })
        .collect();
    let exiftool: Map<String, Value> = (0..40)
        .map(|i| (format!("ExifTag{i}"), Value::from(format!("value {i}"))))
        .collect();
    let sections: Vec<Value> = [
        ".text", ".rdata", ".data", ".pdata", ".rsrc", ".reloc", ".tls", ".idata",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| {
        json!([
            name,
            4096 * (i + 1),
            30000 + i,
            30208 + i,
            format!("{}.{}", 3 + i % 5, i),
            hex(i + 100, 32)
        ])
    })
    .collect();
    let fields = json!({
        "first_seen": "2024-01-02 03:04:05",
        "last_seen": "2026-11-18 08:53:20",
        "submission_names": (0..100).map(|i| format!("sample_{i}.exe")).collect::<Vec<_>>(),
        "times_submitted": 321,
        "unique_sources": 77,
        "size": 1_234_567,
        "type": "Win32 EXE",
        "tags": ["peexe", "overlay", "runtime-modules", "detect-debug-environment"],
        "ssdeep": format!("24576:{}:{}", hex(1, 60), hex(2, 40)),
        "authentihash": hex(3, 64),
        "vhash": "025056655d155d15155bz4c!z",
        "ITW_urls": (0..100).map(|i| format!("http://198.51.100.{}/payload{i}.exe", i % 250)).collect::<Vec<_>>(),
        "community_reputation": -45,
        "harmless_votes": 2,
        "malicious_votes": 31,
        "additional_info": {
            "magic": "PE32 executable for MS Windows (GUI) Intel 80386 32-bit",
            "trid": "Win32 Executable MS Visual C++ (generic) (47.3%)\nWin64 Executable (generic) (15.9%)\nWin32 Dynamic Link Library (generic) (11.2%)",
            "exiftool": exiftool,
            "sigcheck": {"publisher": "n/a", "verified": "Unsigned", "link date": "10:00 AM 11/1/2026"},
            "pe-imphash": hex(4, 32),
            "pe-timestamp": 1_793_527_200,
            "pe-entry-point": 6699,
            "pe-machine-type": 332,
            "pe-resource-list": (0..30).map(|i| (hex(i + 200, 64), Value::from("data"))).collect::<Map<_, _>>(),
            "pe-resource-langs": {"ENGLISH US": 28, "NEUTRAL": 2},
            "pe-resource-types": {"RT_ICON": 20, "RT_GROUP_ICON": 5, "RT_VERSION": 1, "RT_MANIFEST": 1, "RT_RCDATA": 3},
            "pe-debug": [{"type": 2, "type_str": "IMAGE_DEBUG_TYPE_CODEVIEW", "size": 60, "offset": 140000, "codeview": {"signature": "RSDS", "age": 1, "name": "C:\\build\\app.pdb"}}],
            "imports": imports,
            "exports": (0..50).map(|i| format!("Export{i}")).collect::<Vec<_>>(),
            "sections": sections,
            "compressed_parents": (0..20).map(|i| hex(i + 300, 64)).collect::<Vec<_>>(),
            "behaviour-v1": {
                "filesystem": {"opened": paths(300, "opened"), "read": paths(200, "read"), "written": paths(100, "written"), "deleted": paths(50, "deleted"), "replaced": [], "moved": [], "copied": [], "downloaded": []},
                "network": {
                    "udp": (0..100).map(|i| format!("203.0.113.{}:16471", i % 250)).collect::<Vec<_>>(),
                    "tcp": (0..50).map(|i| format!("198.51.100.{}:443", i % 250)).collect::<Vec<_>>(),
                    "dns": (0..50).map(|i| json!({"hostname": format!("host{i}.example.test"), "ip": format!("198.51.100.{i}")})).collect::<Vec<_>>(),
                    "http": (0..50).map(|i| json!({"url": format!("http://host{i}.example.test/gate.php?id={i}"), "method": "POST", "user-agent": "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"})).collect::<Vec<_>>(),
                },
                "mutex": {"opened": (0..30).map(|i| json!({"mutex": format!("Global\\M{i}"), "success": true})).collect::<Vec<_>>(), "created": []},
                "registry": {"set": (0..200).map(|i| json!({"key": format!("HKCU\\Software\\Vendor\\Key{i}"), "value": format!("{i}")})).collect::<Vec<_>>(), "deleted": []},
                "process": {"created": [{"proc": "C:\\Windows\\system32\\cmd.exe", "success": true}], "terminated": [], "injected": [], "shellcmds": [], "tree": [{"pid": 376, "name": "sample.exe", "children": [{"pid": 400, "name": "cmd.exe", "children": []}]}]},
                "service": {"opened": [], "created": []},
                "runtime-dlls": (0..80).map(|i| json!({"file": format!("lib{i}.dll"), "success": true})).collect::<Vec<_>>(),
                "hooking": [],
            },
        },
    });
    let (Value::Object(report_fields), Value::Object(more)) = (&mut report, fields) else {
        unreachable!("both are objects")
    };
    report_fields.extend(more);
    report
}

fn allinfo_bytes() -> Vec<u8> {
    serde_json::to_vec(&allinfo_report()).unwrap()
}

fn batch_bytes() -> Vec<u8> {
    let batch: Vec<Value> = (0..25).map(public_report).collect();
    serde_json::to_vec(&batch).unwrap()
}

#[divan::bench(args = ["allinfo_report", "batch_25"])]
fn typed(bencher: Bencher<'_, '_>, input: &str) {
    let bytes = if input == "batch_25" {
        batch_bytes()
    } else {
        allinfo_bytes()
    };
    assert!(vt_model::decode_body(&bytes).is_ok());
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| vt_model::decode_body(black_box(&bytes)).unwrap());
}

/// What vt-api runs on every body: the typed answers and where each lies in the body.
#[divan::bench]
fn typed_with_spans_batch_25(bencher: Bencher<'_, '_>) {
    let bytes = batch_bytes();
    assert_eq!(vt_model::decode_body_spans(&bytes).unwrap().len(), 25);
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| vt_model::decode_body_spans(black_box(&bytes)).unwrap());
}

/// What vt-api runs on every body now: where each answer lies, its code and echo, the JSON
/// and its UTF-8 checked, nothing decoded (the typed view is built only when asked for). Its
/// strings are short (keys, engine names, versions, dates), the scanner's common case.
#[divan::bench]
fn scan_batch_25(bencher: Bencher<'_, '_>) {
    let bytes = batch_bytes();
    assert_eq!(vt_model::scan_body(&bytes).unwrap().len(), 25);
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| vt_model::scan_body(black_box(&bytes)).unwrap());
}

/// The scan of one allinfo report: longer strings (paths, URLs, import names) and deeper
/// nesting than a batch of public reports.
#[divan::bench]
fn scan_allinfo_report(bencher: Bencher<'_, '_>) {
    let bytes = allinfo_bytes();
    assert_eq!(vt_model::scan_body(&bytes).unwrap().len(), 1);
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| vt_model::scan_body(black_box(&bytes)).unwrap());
}

/// What the scan was before it was written by hand, and what it beat: serde_json skipping the
/// body as one value (`IgnoredAny`), UTF-8 not checked.
#[divan::bench]
fn skip_only_baseline_batch_25(bencher: Bencher<'_, '_>) {
    let bytes = batch_bytes();
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&bytes)).unwrap());
}

/// The spans as they were found before `decode_body_spans` made one pass: the array as raw
/// values, then each answer typed from its raw value.
#[divan::bench]
fn spans_two_pass_baseline_batch_25(bencher: Bencher<'_, '_>) {
    use serde_json::value::RawValue;
    let bytes = batch_bytes();
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let items: Vec<&RawValue> = serde_json::from_slice(black_box(&bytes)).unwrap();
        items
            .into_iter()
            .map(|item| vt_model::decode_answer(item.get().as_bytes()).unwrap())
            .collect::<Vec<_>>()
    });
}

#[divan::bench(args = ["allinfo_report", "batch_25"])]
fn untyped_value(bencher: Bencher<'_, '_>, input: &str) {
    let bytes = if input == "batch_25" {
        batch_bytes()
    } else {
        allinfo_bytes()
    };
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap());
}

/// The derive-and-flatten way of keeping unknown keys, for comparison.
mod flatten {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    pub(super) struct Report {
        response_code: i64,
        verbose_msg: Option<String>,
        resource: Option<String>,
        scan_id: String,
        md5: String,
        sha1: String,
        sha256: String,
        scan_date: String,
        permalink: String,
        positives: u32,
        total: u32,
        scans: BTreeMap<String, Scan>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    pub(super) struct Scan {
        detected: bool,
        version: Option<String>,
        result: Option<String>,
        update: Option<String>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }
}

#[divan::bench]
fn flatten_baseline_batch_25(bencher: Bencher<'_, '_>) {
    let bytes = batch_bytes();
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| serde_json::from_slice::<Vec<flatten::Report>>(black_box(&bytes)).unwrap());
}
