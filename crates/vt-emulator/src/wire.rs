//! Answer bodies: JSON written with the service's separators, stored reports with their echo
//! put back, batches. (The parameters of a request are vt-server's [`vt_server::Params`].)

use crate::chunks::{Assembler, Slabs, Span};
use crate::json_text::WithoutResource;

pub(crate) const NOT_FOUND_MSG: &str =
    "The requested resource is not among the finished, queued or pending scans";
pub(crate) const INVALID_MSG: &str = "Invalid resource, check what you are submitting";
pub(crate) const QUEUED_MSG: &str = "Your resource is queued for analysis";

/// The resources of a `resource` parameter: split on `,`, each trimmed, empty ones dropped.
pub(crate) fn split_resources(resource: &str) -> Vec<&str> {
    resource
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect()
}

/// Writes `s` as a JSON string.
pub(crate) fn write_json_str(out: &mut Assembler, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f);
    if plain {
        out.push(b'"');
        out.extend(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(out.small_mut(), s).is_err() {
        // Writing a string into a Vec cannot fail; keep the output valid regardless.
        out.extend(b"\"\"");
    }
}

/// A JSON object written member by member with the separators of the service's recorded
/// answers (`", "` and `": "`, Python's defaults), in the order the members are written.
pub(crate) struct Object<'o> {
    out: &'o mut Assembler,
    empty: bool,
}

impl<'o> Object<'o> {
    pub(crate) fn open(out: &'o mut Assembler) -> Object<'o> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// A member whose value the caller writes next (raw JSON).
    pub(crate) fn key(&mut self, key: &str) -> &mut Assembler {
        if !self.empty {
            self.out.extend(b", ");
        }
        self.empty = false;
        write_json_str(self.out, key);
        self.out.extend(b": ");
        self.out
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        write_json_str(out, value);
        self
    }

    pub(crate) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key).extend(value.to_string().as_bytes());
        self
    }

    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON array written item by item with the service's separator (`", "`).
pub(crate) fn write_list<I>(
    out: &mut Assembler,
    items: impl IntoIterator<Item = I>,
    mut write_one: impl FnMut(&mut Assembler, I),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend(b", ");
        }
        write_one(out, item);
    }
    out.push(b']');
}

/// `{"response_code": code, "verbose_msg": message}`, the service's separators.
pub(crate) fn write_code(out: &mut Assembler, code: i64, message: &str) {
    let mut object = Object::open(out);
    object
        .int("response_code", code)
        .str("verbose_msg", message);
    object.close();
}

/// The bytes a view of a stored report takes in the slabs ([`store_members`]).
pub(crate) fn stored_len(members: &WithoutResource) -> usize {
    SPLIT_LEN + members.text.len()
}

/// The place of `resource` is kept in the 4 bytes before a view's members.
const SPLIT_LEN: usize = 4;

/// Stores a view's members in the slabs, after the place of `resource` in them (4 bytes,
/// little-endian); returns where the members are.
pub(crate) fn store_members(slabs: &mut Slabs, members: &WithoutResource) -> Span {
    slabs.reserve(stored_len(members));
    let split = u32::try_from(members.split).unwrap_or(u32::MAX);
    slabs.append(&split.to_le_bytes());
    slabs.append(&members.text)
}

/// A stored view with `resource` (`echo`, a JSON string written whole) put back where it was
/// loaded: `{` + the members before it + `resource` + the members after it + `}`.
fn write_stored_with(
    out: &mut Assembler,
    slabs: &Slabs,
    members: Span,
    write_echo: impl Fn(&mut Assembler),
) {
    let split_at = Span {
        start: members.start.saturating_sub(SPLIT_LEN as u32),
        len: SPLIT_LEN as u32,
        ..members
    };
    let split = slabs
        .get(split_at)
        .try_into()
        .map_or(0, u32::from_le_bytes)
        .min(members.len);
    out.push(b'{');
    if split > 0 {
        out.stored(
            slabs,
            Span {
                len: split,
                ..members
            },
        );
        out.extend(b", ");
    }
    out.extend(b"\"resource\": ");
    write_echo(out);
    if split < members.len {
        if split == 0 {
            out.extend(b", ");
        }
        out.stored(
            slabs,
            Span {
                start: members.start + split,
                len: members.len - split,
                ..members
            },
        );
    }
    out.push(b'}');
}

/// A found file report: its stored members with the echoed resource in its place. The echo
/// is a hash or scan_id (it was found), so it needs no escaping.
pub(crate) fn write_found(out: &mut Assembler, echo: &str, slabs: &Slabs, members: Span) {
    debug_assert!(echo.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    write_stored_with(out, slabs, members, |out| {
        out.push(b'"');
        out.extend(echo.as_bytes());
        out.push(b'"');
    });
}

/// A stored report (a URL report) with `echo`, any text, as its `resource`.
pub(crate) fn write_stored(out: &mut Assembler, echo: &str, slabs: &Slabs, members: Span) {
    write_stored_with(out, slabs, members, |out| write_json_str(out, echo));
}

/// The answers of a request as the service shapes them ([`vt_server::reply::write_batch`]:
/// one item's answer alone, several in an array), in request order, or shuffled when
/// `shuffle` gives a seed (`--shuffle-batches`: the service's order is not documented, so a
/// client must match items by `resource`).
pub(crate) fn write_batch<I>(
    out: &mut Assembler,
    items: impl ExactSizeIterator<Item = I>,
    shuffle: Option<u64>,
    write_one: impl FnMut(&mut Assembler, I),
) {
    let mut items: Vec<I> = items.collect();
    if let (Some(seed), true) = (shuffle, items.len() > 1) {
        shuffle_in_place(&mut items, seed);
    }
    vt_server::reply::write_batch(out, items.into_iter(), write_one);
}

/// A Fisher-Yates shuffle driven by SplitMix64 from `seed`: the same seed, the same order.
fn shuffle_in_place<T>(items: &mut [T], seed: u64) {
    let mut rng = crate::synthetic::SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// `response_code` 0 or -2 with its message (and, when queued, the bare SHA-256 as scan_id).
pub(crate) fn write_status(
    out: &mut Assembler,
    code: i8,
    echo: &str,
    scan_id: Option<&str>,
    message: &str,
) {
    let mut object = Object::open(out);
    object
        .int("response_code", code.into())
        .str("resource", echo);
    if let Some(scan_id) = scan_id {
        object.str("scan_id", scan_id);
    }
    object.str("verbose_msg", message);
    object.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_split_on_commas_with_or_without_spaces() {
        assert_eq!(split_resources("a,b, c ,,"), ["a", "b", "c"]);
        assert!(split_resources(" , ").is_empty());
    }

    #[test]
    fn status_answers_escape_what_they_echo() {
        let mut out = Assembler::default();
        write_status(&mut out, 0, "a\"b\u{e9}", None, INVALID_MSG);
        let body = out.finish().hold(std::sync::Arc::new(Slabs::default()));
        let v: serde_json::Value = serde_json::from_slice(&body.to_vec()).unwrap();
        assert_eq!(v["resource"], "a\"b\u{e9}");
        assert_eq!(v["response_code"], 0);
    }
}
