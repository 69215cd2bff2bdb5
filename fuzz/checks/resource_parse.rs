//! What must hold when any text is parsed as a resource: no panic; an accepted one keeps the
//! text, has the lower-case key, a kind that fits its shape, and survives every round trip; a
//! refused one is quoted in the error.
//!
//! Shared by the fuzz target `resource_parse` and by crates/vt-model/tests/fuzz_regressions.rs.

use vt_model::{echo_key, Resource, ResourceKind};

/// Panics when an invariant does not hold for `data` (bytes that are not UTF-8 are skipped:
/// users' text reaches `Resource::parse` as `&str`).
pub(crate) fn check(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = input.trim();
    let resource = match Resource::parse(input) {
        Ok(resource) => resource,
        Err(error) => {
            assert_eq!(ResourceKind::detect(input), None, "{input:?}");
            let message = error.to_string();
            assert!(
                message.contains(&format!("{trimmed:?}")),
                "{message:?} does not quote {trimmed:?}"
            );
            return;
        }
    };
    assert_eq!(resource.as_str(), trimmed);
    assert_eq!(resource.key(), trimmed.to_ascii_lowercase());
    assert_eq!(resource.to_string(), trimmed);
    assert_eq!(ResourceKind::detect(input), Some(resource.kind()));
    assert_eq!(echo_key(input), resource.key());
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match resource.kind() {
        ResourceKind::Md5 => assert!(trimmed.len() == 32 && hex(trimmed)),
        ResourceKind::Sha1 => assert!(trimmed.len() == 40 && hex(trimmed)),
        ResourceKind::Sha256 => assert!(trimmed.len() == 64 && hex(trimmed)),
        ResourceKind::ScanId => {
            let (hash, seconds) = resource.key().split_once('-').expect("a scan_id has a '-'");
            assert!(hash.len() == 64 && hex(hash));
            assert!(!seconds.is_empty() && seconds.bytes().all(|b| b.is_ascii_digit()));
            let (part, unix) = resource.scan_id_parts().expect("a scan_id has parts");
            assert_eq!(part, hash);
            assert_eq!(seconds.parse::<u64>().ok(), Some(unix));
        }
        other => panic!("a kind the check does not know: {other:?}"),
    }
    if resource.kind() != ResourceKind::ScanId {
        assert_eq!(resource.scan_id_parts(), None);
    }
    let again = Resource::parse(resource.as_str()).expect("its own text parses");
    assert_eq!(again, resource);
    let lower = Resource::parse(resource.key()).expect("its key parses");
    assert_eq!(
        (lower.key(), lower.kind()),
        (resource.key(), resource.kind())
    );
    let json = serde_json::to_string(&resource).expect("a resource encodes");
    let back: Resource = serde_json::from_str(&json).expect("an encoded resource decodes");
    assert_eq!(back, resource);
}
