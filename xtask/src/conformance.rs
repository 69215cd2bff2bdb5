//! `cargo xtask conformance DIR...`: proves that `vt-model` loses nothing on real bodies.
//!
//! The answer type is chosen by each folder's name: `url-report`, `url-scan`, `domain-report`
//! and `ip-address-report` hold those endpoints' bodies, any other folder `/file/report`'s.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use vt_model::{Body, DomainReport, FileReport, IpReport, Report, UrlReport, UrlScan};

/// Checks every `*.json` file of each folder (not recursively), one line per file, then a total.
pub(crate) fn run(dirs: &[PathBuf]) -> Result<()> {
    let mut files = Vec::new();
    for dir in dirs {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Files named *envelope* record an HTTP exchange, not a body.
            if name.ends_with(".json") && !name.contains("envelope") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut failed = 0usize;
    for file in &files {
        match check_file(file) {
            Ok(()) => println!("ok    {:<17} {}", endpoint_of(file), file.display()),
            Err(why) => {
                failed += 1;
                println!("FAIL  {:<17} {}: {why}", endpoint_of(file), file.display());
            }
        }
    }
    println!(
        "conformance: {} passed, {failed} failed",
        files.len() - failed
    );
    if files.is_empty() {
        bail!("no *.json body found in {dirs:?}");
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files did not survive a round trip",
            files.len()
        );
    }
    Ok(())
}

/// The endpoint whose answers a folder holds, by the folder's name (`url-report`, `url-scan`,
/// `domain-report`, `ip-address-report`); any other folder holds `/file/report` answers.
fn endpoint_of(file: &Path) -> &'static str {
    let folder = file
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    match folder {
        "url-report" => "url/report",
        "url-scan" => "url/scan",
        "domain-report" => "domain/report",
        "ip-address-report" => "ip-address/report",
        _ => "file/report",
    }
}

/// Decodes `body` as the answers of `endpoint` and encodes them back to a JSON value.
fn round_trip(endpoint: &str, body: &[u8]) -> Result<Value, String> {
    fn as_body<T: Report>(body: &[u8]) -> Result<Value, String> {
        let decoded: Body<T> = vt_model::decode(body).map_err(|e| format!("decode: {e}"))?;
        serde_json::to_value(&decoded).map_err(|e| format!("encode: {e}"))
    }
    match endpoint {
        "url/report" => as_body::<UrlReport>(body),
        "url/scan" => as_body::<UrlScan>(body),
        "domain/report" => as_body::<DomainReport>(body),
        "ip-address/report" => as_body::<IpReport>(body),
        _ => as_body::<FileReport>(body),
    }
}

fn check_file(file: &Path) -> Result<(), String> {
    let body = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let original: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    let encoded = round_trip(endpoint_of(file), &body)?;
    match first_difference(&original, &encoded, String::new()) {
        None => Ok(()),
        Some(path) => Err(format!(
            "lost or changed at {}",
            if path.is_empty() { "." } else { &path }
        )),
    }
}

/// The JSON path of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => {
                        if let Some(diff) = first_difference(value, other, here) {
                            return Some(diff);
                        }
                    }
                    None => return Some(here),
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{path}.{k} (added)"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(diff) = first_difference(x, y, format!("{path}[{i}]")) {
                    return Some(diff);
                }
            }
            (a.len() != b.len()).then(|| format!("{path} (length {} vs {})", a.len(), b.len()))
        }
        _ => (a != b).then_some(path),
    }
}
