//! The scan as it was before the hand-written scanner: serde_json driven with `IgnoredAny`
//! over everything the scan does not read. Kept, for the tests only, as the definition of what
//! the scanner must accept and read.

use std::fmt;
use std::ops::Range;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json_scan::skip_space;
use crate::query::Identifiers;
use crate::raw::body_error;
use crate::wire::Key;
use crate::{Error, ItemScan};

/// Every item the former `scan_items` gave for `body`, in order, its error last if it failed
/// (the former iterator, collected).
pub(crate) fn scan_items(body: &[u8]) -> Vec<Result<ItemScan, Error>> {
    let fail = || Err(Error::Decode(body_error(body)));
    let Ok(text) = std::str::from_utf8(body) else {
        return vec![fail()];
    };
    let start = skip_space(body, 0);
    if body.get(start) != Some(&b'[') {
        // One answer: its bytes are the body's, less the whitespace around.
        let Ok(scanned) = serde_json::from_str::<Scanned>(text) else {
            return vec![fail()];
        };
        let end = body
            .iter()
            .rposition(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .map_or(start, |e| e + 1);
        return vec![Ok(scanned.into_item(start..end.max(start)))];
    }
    let mut items = Vec::new();
    let mut at = start + 1;
    let mut first = true;
    loop {
        at = skip_space(body, at);
        if first && body.get(at) == Some(&b']') {
            if skip_space(body, at + 1) != body.len() {
                items.push(fail());
            }
            return items;
        }
        first = false;
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Scanned>();
        let Some(Ok(scanned)) = stream.next() else {
            items.push(fail());
            return items;
        };
        let end = at + stream.byte_offset();
        let item = scanned.into_item(at..end);
        at = skip_space(body, end);
        match body.get(at) {
            Some(b',') => at += 1,
            Some(b']') => {
                if skip_space(body, at + 1) != body.len() {
                    items.push(fail());
                } else {
                    items.push(Ok(item));
                }
                return items;
            }
            _ => {
                items.push(fail());
                return items;
            }
        }
        items.push(Ok(item));
    }
}

/// Skips the items of an array or the entries of an object (each checked, nothing built).
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// One answer as the scan reads it.
#[derive(Default)]
struct Scanned {
    response_code: Option<i64>,
    resource: Option<Box<str>>,
    ids: Identifiers,
}

impl Scanned {
    fn into_item(self, span: Range<usize>) -> ItemScan {
        ItemScan {
            span,
            response_code: self.response_code,
            resource: self.resource,
            ids: self.ids,
        }
    }
}

/// A string value, or nothing for any other JSON type (which is skipped, not built).
struct MaybeText(Option<Box<str>>);

impl<'de> serde::Deserialize<'de> for MaybeText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = MaybeText;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<MaybeText, E> {
        Ok(MaybeText(Some(v.into())))
    }
    fn visit_bool<E>(self, _: bool) -> Result<MaybeText, E> {
        Ok(MaybeText(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<MaybeText, E> {
        Ok(MaybeText(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<MaybeText, E> {
        Ok(MaybeText(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<MaybeText, E> {
        Ok(MaybeText(None))
    }
    fn visit_unit<E>(self) -> Result<MaybeText, E> {
        Ok(MaybeText(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeText, A::Error> {
        skip_seq(seq).map(|()| MaybeText(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeText, A::Error> {
        skip_map(map).map(|()| MaybeText(None))
    }
}

/// An integer `response_code`, or nothing for anything else.
struct MaybeCode(Option<i64>);

impl<'de> serde::Deserialize<'de> for MaybeCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl<'de> Visitor<'de> for CodeVisitor {
            type Value = MaybeCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<MaybeCode, E> {
                Ok(MaybeCode(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<MaybeCode, E> {
                Ok(MaybeCode(i64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<MaybeCode, E> {
                Ok(MaybeCode(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<MaybeCode, E> {
                Ok(MaybeCode(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<MaybeCode, E> {
                Ok(MaybeCode(None))
            }
            fn visit_unit<E>(self) -> Result<MaybeCode, E> {
                Ok(MaybeCode(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeCode, A::Error> {
                skip_seq(seq).map(|()| MaybeCode(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeCode, A::Error> {
                skip_map(map).map(|()| MaybeCode(None))
            }
        }
        deserializer.deserialize_any(CodeVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Scanned {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScanVisitor;
        impl<'de> Visitor<'de> for ScanVisitor {
            type Value = Scanned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an answer")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scanned, A::Error> {
                let mut scanned = Scanned::default();
                // As the typed decoder does, a repeated key counts by its last value.
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let text = |map: &mut A| map.next_value::<MaybeText>().map(|t| t.0);
                    match &*key.0 {
                        "response_code" => scanned.response_code = map.next_value::<MaybeCode>()?.0,
                        "resource" => scanned.resource = text(&mut map)?,
                        "md5" => scanned.ids.md5 = text(&mut map)?,
                        "sha1" => scanned.ids.sha1 = text(&mut map)?,
                        "sha256" => scanned.ids.sha256 = text(&mut map)?,
                        "scan_id" => scanned.ids.scan_id = text(&mut map)?,
                        "url" => scanned.ids.url = text(&mut map)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(scanned)
            }
            // Not an object: scanned (so the body's syntax is checked), but it has no code.
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scanned, A::Error> {
                skip_seq(seq).map(|()| Scanned::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
            fn visit_unit<E>(self) -> Result<Scanned, E> {
                Ok(Scanned::default())
            }
        }
        deserializer.deserialize_any(ScanVisitor)
    }
}
