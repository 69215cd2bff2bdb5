//! JSON text as the service writes it: Python's `json.dumps` separators (`", "` between
//! members and items, `": "` after a key) and no other whitespace, keys and items in the order
//! they were loaded, strings and numbers as written. Loaded data is re-spaced once with
//! [`respace`]; an object's members ([`members`]) or an array's items ([`items`]) are then
//! cut out of that text without decoding it.

/// `json` (valid JSON, checked by the caller) with the service's separators: whitespace
/// outside strings dropped, `,` written `", "` and `:` written `": "`. Strings, numbers and
/// the order of everything are kept byte for byte.
pub(crate) fn respace(json: &[u8]) -> Vec<u8> {
    // About one separator per 12 bytes in a report: room for their spaces up front.
    let mut out = Vec::with_capacity(json.len() + json.len() / 8);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let end = string_end(json, i);
                out.extend_from_slice(&json[i..end]);
                i = end;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b',' => out.extend_from_slice(b", "),
            b':' => out.extend_from_slice(b": "),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// The index just past the string that starts (with its `"`) at `start`.
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(found) = memchr::memchr2(b'"', b'\\', &json[i..]) {
        let at = i + found;
        if json[at] == b'\\' {
            // An escape: the next byte is part of it, whatever it is.
            i = at + 2;
            if i >= json.len() {
                return json.len();
            }
        } else {
            return at + 1;
        }
    }
    json.len()
}

/// The top-level pieces of a re-spaced object or array (`{...}` or `[...]`, no whitespace
/// around it): the text between its brackets split at the `", "` of depth one.
fn top_level(text: &[u8]) -> Vec<&[u8]> {
    let inner = match text {
        [b'{' | b'[', inner @ .., b'}' | b']'] => inner,
        _ => return Vec::new(),
    };
    let mut pieces = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'"' => {
                i = string_end(inner, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                pieces.push(&inner[start..i]);
                // Past the `", "`.
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < inner.len() {
        pieces.push(&inner[start..]);
    }
    pieces
}

/// The items of a re-spaced array, each as written.
pub(crate) fn items(array: &[u8]) -> Vec<&[u8]> {
    top_level(array)
}

/// One member of a re-spaced object: its key (decoded) and the member's whole text
/// (`"key": value`).
#[derive(Debug)]
pub(crate) struct Member<'t> {
    pub(crate) key: String,
    pub(crate) text: &'t [u8],
}

/// The members of a re-spaced object, in order.
pub(crate) fn members(object: &[u8]) -> Vec<Member<'_>> {
    top_level(object)
        .into_iter()
        .map(|text| {
            let key_end = if text.first() == Some(&b'"') {
                string_end(text, 0)
            } else {
                0
            };
            let key = serde_json::from_slice::<String>(&text[..key_end]).unwrap_or_default();
            Member { key, text }
        })
        .collect()
}

/// An object's members with the echoed `resource` taken out, ready to be served: the other
/// members joined by `", "`, and where the echo goes back in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WithoutResource {
    /// The other members, joined by `", "` (no braces).
    pub(crate) text: Vec<u8>,
    /// The length of the members that come before `resource` in `text` (0: it comes first;
    /// otherwise `text[split..]` is empty or starts with `", "`).
    pub(crate) split: usize,
}

/// Takes `resource` out of `members`, keeping the place it had; when there is none, its place
/// is just before the first member named in `before` (the place the recordings show), else
/// first. Members for which `keep` is false are left out.
pub(crate) fn without_resource(
    members: &[Member<'_>],
    before: &[&str],
    keep: impl Fn(&str) -> bool,
) -> WithoutResource {
    let kept: Vec<&Member<'_>> = members.iter().filter(|m| keep(&m.key)).collect();
    let place = kept
        .iter()
        .position(|m| m.key == "resource")
        .or_else(|| {
            before
                .iter()
                .find_map(|name| kept.iter().position(|m| m.key == *name))
        })
        .unwrap_or(0);
    let mut text = Vec::new();
    let mut split = 0;
    for (i, member) in kept.iter().enumerate() {
        if i == place {
            split = text.len();
        }
        if member.key == "resource" {
            continue;
        }
        if !text.is_empty() {
            text.extend_from_slice(b", ");
        }
        text.extend_from_slice(member.text);
    }
    if place >= kept.len() {
        split = text.len();
    }
    WithoutResource { text, split }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respacing_gives_pythons_separators_and_keeps_order_and_strings() {
        let pretty = b"{\n  \"scans\" : {\"B\": {\"detected\":true},\"A\":null},\n  \"s\": \"a, b: \\\"c\\\\\",\n  \"n\": [1 ,2.50, -3e2]\n}\n";
        assert_eq!(
            respace(pretty.trim_ascii()),
            b"{\"scans\": {\"B\": {\"detected\": true}, \"A\": null}, \"s\": \"a, b: \\\"c\\\\\", \"n\": [1, 2.50, -3e2]}"
        );
        // Already spaced as the service spaces it: unchanged.
        let recorded = b"{\"response_code\": 0, \"resource\": \"x\", \"verbose_msg\": \"m\"}";
        assert_eq!(respace(recorded), recorded);
    }

    #[test]
    fn members_and_items_are_cut_at_depth_one_only() {
        let object = respace(br#"{"a":{"x":[1,2]},"resource":"r, s","b":"}"}"#);
        let cut = members(&object);
        let keys: Vec<&str> = cut.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["a", "resource", "b"]);
        assert_eq!(cut[0].text, br#""a": {"x": [1, 2]}"#);
        assert_eq!(cut[2].text, br#""b": "}""#);
        let array = respace(br#"[{"a":1},{"b":[2,3]}]"#);
        assert_eq!(items(&array), [&br#"{"a": 1}"#[..], br#"{"b": [2, 3]}"#]);
        assert!(items(b"[]").is_empty() && members(b"{}").is_empty());
    }

    #[test]
    fn resource_keeps_its_place_or_goes_before_the_named_member() {
        let object = respace(br#"{"scans":{},"sha1":"s","resource":"r","response_code":1}"#);
        let all = |_: &str| true;
        let found = without_resource(&members(&object), &["response_code"], all);
        assert_eq!(
            found.text,
            br#""scans": {}, "sha1": "s", "response_code": 1"#
        );
        assert_eq!(&found.text[..found.split], br#""scans": {}, "sha1": "s""#);

        let object = respace(br#"{"scans":{},"response_code":1,"total":2}"#);
        let absent = without_resource(&members(&object), &["response_code"], all);
        assert_eq!(&absent.text[..absent.split], br#""scans": {}"#);
        let first = without_resource(&members(&object), &["url"], all);
        assert_eq!(first.split, 0);
        let public = without_resource(&members(&object), &["response_code"], |k| k != "scans");
        assert_eq!(
            (public.text.as_slice(), public.split),
            (&br#""response_code": 1, "total": 2"#[..], 0)
        );
    }
}
