//! `--include` / `--exclude`: which fields of the jsonl and json records are written, as the
//! official vt-cli filters them. A pattern is a dotted path of keys (`scans.*.result`), each
//! segment a glob where `*` matches any run of characters; arrays are looked through (a
//! pattern applies to each element). Including a path keeps its whole subtree; excluding it
//! removes it.

use serde_json::{Map, Value};

/// The filters given, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldFilter {
    include: Vec<Vec<String>>,
    exclude: Vec<Vec<String>>,
}

impl FieldFilter {
    /// The filter of these patterns; `None` when there are none (records pass untouched).
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Option<FieldFilter> {
        let split = |patterns: &[String]| -> Vec<Vec<String>> {
            patterns
                .iter()
                .map(|p| p.split('.').map(str::to_owned).collect())
                .collect()
        };
        (!include.is_empty() || !exclude.is_empty()).then(|| FieldFilter {
            include: split(include),
            exclude: split(exclude),
        })
    }

    /// The record's JSON with the filters applied; the bytes as they were when they are not
    /// one JSON value.
    pub(crate) fn apply(&self, json: &[u8]) -> Vec<u8> {
        let Ok(mut value) = serde_json::from_slice::<Value>(json) else {
            return json.to_vec();
        };
        if !self.include.is_empty() {
            value =
                keep(&value, &self.include, &mut Vec::new()).unwrap_or(Value::Object(Map::new()));
        }
        for pattern in &self.exclude {
            remove(&mut value, pattern);
        }
        serde_json::to_vec(&value).unwrap_or_else(|_| json.to_vec())
    }
}

/// Whether `key` matches the glob `segment` (`*` any run of characters).
fn glob(segment: &str, key: &str) -> bool {
    let mut parts = segment.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = key.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// The parts of `value` under `path` that some pattern reaches: all of a subtree a pattern
/// ends at, the matching children of one a pattern goes through; `None` when nothing matches.
fn keep(value: &Value, patterns: &[Vec<String>], path: &mut Vec<String>) -> Option<Value> {
    let depth = path.len();
    let matches_so_far =
        |p: &Vec<String>| p.len() >= depth && p.iter().zip(path.iter()).all(|(s, k)| glob(s, k));
    let reaching: Vec<&Vec<String>> = patterns.iter().filter(|p| matches_so_far(p)).collect();
    if reaching.iter().any(|p| p.len() == depth) {
        return Some(value.clone());
    }
    if reaching.is_empty() {
        return None;
    }
    match value {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, child) in map {
                path.push(key.clone());
                if let Some(child) = keep(child, patterns, path) {
                    kept.insert(key.clone(), child);
                }
                path.pop();
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| keep(item, patterns, path))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// Removes what `pattern` reaches from `value`.
fn remove(value: &mut Value, pattern: &[String]) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    match value {
        Value::Object(map) => {
            if rest.is_empty() {
                map.retain(|key, _| !glob(first, key));
            } else {
                for (key, child) in map.iter_mut() {
                    if glob(first, key) {
                        remove(child, rest);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| remove(item, pattern)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(json: &str, include: &[&str], exclude: &[&str]) -> Value {
        let own = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let filter = FieldFilter::new(&own(include), &own(exclude)).unwrap();
        serde_json::from_slice(&filter.apply(json.as_bytes())).unwrap()
    }

    const REPORT: &str = r#"{"resource": "r", "positives": 2, "scans": {"A": {"detected": true, "result": "X"}, "B": {"detected": false, "result": null}}, "list": [{"a": 1, "b": 2}]}"#;

    #[test]
    fn include_keeps_what_the_patterns_reach_and_exclude_removes_it() {
        assert_eq!(
            filtered(REPORT, &["resource", "scans.*.result"], &[]),
            serde_json::json!({"resource": "r", "scans": {"A": {"result": "X"}, "B": {"result": null}}})
        );
        assert_eq!(
            filtered(REPORT, &[], &["scans", "list.b"]),
            serde_json::json!({"resource": "r", "positives": 2, "list": [{"a": 1}]})
        );
        assert_eq!(
            filtered(REPORT, &["pos*"], &[]),
            serde_json::json!({"positives": 2})
        );
        assert!(glob("a*c", "abbc") && glob("*", "") && !glob("a*c", "abd"));
    }
}
