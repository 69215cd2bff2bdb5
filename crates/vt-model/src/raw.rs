//! Answers kept as the bytes the service sent, read by a fast scan, decoded on demand.
//!
//! A bulk lookup that writes JSON Lines never needs the typed view of a report: it needs to
//! know which question each answer belongs to, whether it is final (worth caching), and the
//! bytes. [`scan_body`] reads exactly that (each answer's place in the body, its
//! `response_code`, its echoed `resource` and the hashes or URL it names) while checking that
//! the body is well-formed JSON, and skips every other value without building it.
//! [`RawAnswer::answer`] decodes the typed view only when someone asks for it, once.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::answer::{locate, Answer, Report, Status, StatusReport};
use crate::json_scan::{skip_space, Scanned, Scanner};
use crate::query::Identifiers;
use crate::wire::Key;
use crate::Error;

/// What [`scan_body`] read of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemScan {
    /// Where the answer's JSON value lies in the body.
    pub span: Range<usize>,
    /// Its `response_code`; `None` when absent or not an integer, or when the item is not an
    /// object (that item does not decode).
    pub response_code: Option<i64>,
    /// The `resource` it echoes, when it has a string there.
    pub resource: Option<Box<str>>,
    /// The hashes or URL it names.
    pub ids: Identifiers,
}

/// Reads a response body (one answer, or a batch array) without decoding the answers: where
/// each lies, its `response_code`, its echo and identifiers. The whole body must be
/// well-formed JSON (else a typed [`Error::Decode`] for the body); an item of the wrong shape
/// is still scanned, with `response_code: None`, so that only that item fails.
///
/// ```
/// let body = br#"[{"response_code": 1, "resource": "A", "md5": "m", "scans": {"x": {}}},
///                 {"verbose_msg": "no code"}]"#;
/// let items = vt_model::scan_body(body)?;
/// assert_eq!(items[0].response_code, Some(1));
/// assert_eq!(items[0].resource.as_deref(), Some("A"));
/// assert_eq!(items[0].ids.md5.as_deref(), Some("m"));
/// assert_eq!(&body[items[1].span.clone()], br#"{"verbose_msg": "no code"}"#);
/// assert_eq!(items[1].response_code, None);
/// assert!(vt_model::scan_body(br#"[{"response_code": 1}"#).is_err());
/// # Ok::<(), vt_model::Error>(())
/// ```
pub fn scan_body(body: &[u8]) -> Result<Vec<ItemScan>, Error> {
    scan_items(body)?.collect()
}

/// [`scan_body`], one item at a time, for callers that keep only some of them (a hostile
/// body of a million tiny items then costs no more memory than its bytes). The body's UTF-8
/// is checked before the first item; a syntax error anywhere ends the iteration with the
/// body's typed error, after the items before it.
///
/// ```
/// let body = br#"[{"response_code": 0, "resource": "a"}, {"response_code": 0, "resource": "b"}]"#;
/// let echoes: Vec<String> = vt_model::scan_items(body)?
///     .map(|item| item.map(|item| item.resource.unwrap().into_string()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(echoes, ["a", "b"]);
/// # Ok::<(), vt_model::Error>(())
/// ```
pub fn scan_items(body: &[u8]) -> Result<ScanItems<'_>, Error> {
    // UTF-8 checked once for the whole body (a fast pass), so that the scan reads it as text
    // and no string is checked again.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Error::Decode(body_error(body)));
    };
    let start = skip_space(body, 0);
    let state = if body.get(start) == Some(&b'[') {
        ScanState::Array {
            at: start + 1,
            first: true,
        }
    } else {
        ScanState::One
    };
    Ok(ScanItems {
        body,
        scanner: Scanner::new(text),
        state,
    })
}

/// The items of a body, scanned one at a time: see [`scan_items`].
#[derive(Debug)]
pub struct ScanItems<'b> {
    body: &'b [u8],
    scanner: Scanner<'b>,
    state: ScanState,
}

#[derive(Debug)]
enum ScanState {
    /// The body is one answer.
    One,
    /// An array, read up to `at`; `first`: no item read yet.
    Array {
        at: usize,
        first: bool,
    },
    Done,
}

impl ScanItems<'_> {
    fn fail(&mut self) -> Option<Result<ItemScan, Error>> {
        self.state = ScanState::Done;
        Some(Err(Error::Decode(body_error(self.body))))
    }
}

impl Iterator for ScanItems<'_> {
    type Item = Result<ItemScan, Error>;

    fn next(&mut self) -> Option<Result<ItemScan, Error>> {
        let body = self.body;
        match std::mem::replace(&mut self.state, ScanState::Done) {
            ScanState::Done => None,
            ScanState::One => {
                // One answer: its bytes are the body's, less the whitespace around.
                let start = skip_space(body, 0);
                let Ok((end, scanned)) = self.scanner.item(start) else {
                    return self.fail();
                };
                if skip_space(body, end) != body.len() {
                    return self.fail();
                }
                Some(Ok(into_item(scanned, start..end)))
            }
            ScanState::Array { at, first } => {
                // Each item is scanned where it lies, and the scanner says where it ended.
                let mut at = skip_space(body, at);
                if first && body.get(at) == Some(&b']') {
                    return self.end_of_array(at + 1);
                }
                let Ok((end, scanned)) = self.scanner.item(at) else {
                    return self.fail();
                };
                let item = into_item(scanned, at..end);
                at = skip_space(body, end);
                match body.get(at) {
                    Some(b',') => {
                        self.state = ScanState::Array {
                            at: at + 1,
                            first: false,
                        }
                    }
                    Some(b']') => {
                        if skip_space(body, at + 1) != body.len() {
                            return self.fail();
                        }
                    }
                    _ => return self.fail(),
                }
                Some(Ok(item))
            }
        }
    }
}

impl ScanItems<'_> {
    /// The empty array ends at `after`: nothing may follow but whitespace.
    fn end_of_array(&mut self, after: usize) -> Option<Result<ItemScan, Error>> {
        if skip_space(self.body, after) != self.body.len() {
            return self.fail();
        }
        None
    }
}

fn into_item(scanned: Scanned, span: Range<usize>) -> ItemScan {
    ItemScan {
        span,
        response_code: scanned.response_code,
        resource: scanned.resource,
        ids: scanned.ids,
    }
}

/// The typed decoder's account of a body the scan refused: what is wrong with it as answers
/// (an object, or an array of objects), with the path, line and column.
pub(crate) fn body_error(body: &[u8]) -> crate::DecodeError {
    let fallback = || de::Error::custom("the answers of this body cannot be delimited");
    if body.get(skip_space(body, 0)) == Some(&b'[') {
        locate::<Vec<StatusReport>>(body, fallback())
    } else {
        locate::<StatusReport>(body, fallback())
    }
}

/// Where the value of the top-level `resource` key lies in an answer's bytes (the last one,
/// as the decoder reads it), when it is a string.
fn resource_value_span(bytes: &[u8]) -> Option<Range<usize>> {
    struct Spans(Option<Range<usize>>);
    struct SpanVisitor<'b>(&'b [u8]);
    impl<'de> Visitor<'de> for SpanVisitor<'de> {
        type Value = Spans;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an answer")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spans, A::Error> {
            let mut span = None;
            while let Some(key) = map.next_key::<Key<'de>>()? {
                if &*key.0 == "resource" {
                    let value: &'de serde_json::value::RawValue = map.next_value()?;
                    let text = value.get();
                    // The value borrows from the bytes: its place is its address's offset.
                    let start = text.as_ptr() as usize - self.0.as_ptr() as usize;
                    span = text.starts_with('"').then_some(start..start + text.len());
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Spans(span))
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let spans = serde::Deserializer::deserialize_map(&mut deserializer, SpanVisitor(bytes)).ok()?;
    spans.0
}

/// One answer as the service sent it: its bytes, what the scan read of it, and the typed view,
/// decoded on demand and kept once decoded.
///
/// ```
/// use vt_model::{FileReport, RawAnswer, Status};
///
/// let raw = RawAnswer::<FileReport>::parse(
///     br#"{"response_code": 0, "resource": "abc", "verbose_msg": "not there"}"#.to_vec().into(),
/// )?;
/// assert_eq!(raw.status(), Status::NotFound);
/// assert_eq!(raw.resource(), Some("abc"));
/// assert_eq!(raw.answer()?.verbose_msg(), Some("not there"));
/// # Ok::<(), vt_model::Error>(())
/// ```
pub struct RawAnswer<T> {
    bytes: Bytes,
    response_code: i64,
    resource: Option<Box<str>>,
    /// `None` when the answer names nothing (most not-found answers): no allocation.
    ids: Option<Box<Identifiers>>,
    typed: OnceLock<Result<Answer<T>, Error>>,
    _report: PhantomData<fn() -> T>,
}

impl<T: Clone> Clone for RawAnswer<T> {
    fn clone(&self) -> Self {
        RawAnswer {
            bytes: self.bytes.clone(),
            response_code: self.response_code,
            resource: self.resource.clone(),
            ids: self.ids.clone(),
            typed: self.typed.clone(),
            _report: PhantomData,
        }
    }
}

impl<T> RawAnswer<T> {
    /// The bytes of the answer exactly as the service sent them.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl<T> fmt::Debug for RawAnswer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAnswer")
            .field("response_code", &self.response_code)
            .field("resource", &self.resource)
            .field("bytes", &self.bytes.len())
            .field("decoded", &self.typed.get().is_some())
            .finish()
    }
}

impl<T: Report> RawAnswer<T> {
    /// An answer from its bytes (`item`, the exact span [`scan_body`] gave) and the scan of
    /// it. An item without an integer `response_code` is the typed error of its own decoding.
    pub fn from_scan(item: Bytes, scan: ItemScan) -> Result<RawAnswer<T>, Error> {
        let Some(response_code) = scan.response_code else {
            return Err(Error::Decode(locate::<StatusReport>(
                &item,
                de::Error::missing_field("response_code"),
            )));
        };
        Ok(RawAnswer {
            bytes: item,
            response_code,
            resource: scan.resource,
            ids: (!scan.ids.is_empty()).then(|| Box::new(scan.ids)),
            typed: OnceLock::new(),
            _report: PhantomData,
        })
    }

    /// An answer from the bytes of one JSON object (a cache entry, say).
    pub fn parse(bytes: Bytes) -> Result<RawAnswer<T>, Error> {
        let mut items = scan_body(&bytes)?;
        let is_array = bytes.get(skip_space(&bytes, 0)) == Some(&b'[');
        match (items.pop(), items.is_empty()) {
            (Some(scan), true) if !is_array => {
                let item = bytes.slice(scan.span.clone());
                RawAnswer::from_scan(item, scan)
            }
            _ => Err(Error::Decode(locate::<Answer<T>>(
                &bytes,
                de::Error::custom("expected one answer (a JSON object)"),
            ))),
        }
    }

    /// An answer built by the caller (not received): its bytes are its encoding.
    pub fn from_answer(answer: Answer<T>) -> RawAnswer<T> {
        let bytes = serde_json::to_vec(&answer).unwrap_or_default();
        let typed = OnceLock::new();
        let response_code = answer.response_code();
        let resource = answer.resource().map(Into::into);
        let _ = typed.set(Ok(answer));
        RawAnswer {
            bytes: bytes.into(),
            response_code,
            resource,
            ids: None,
            typed,
            _report: PhantomData,
        }
    }

    /// The `response_code` the service sent.
    pub fn response_code(&self) -> i64 {
        self.response_code
    }

    /// The outcome, known without decoding.
    pub fn status(&self) -> Status {
        Status::of(self.response_code)
    }

    /// The `resource` the answer echoes, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The hashes or URL the answer names.
    pub fn ids(&self) -> &Identifiers {
        static NONE: Identifiers = Identifiers {
            md5: None,
            sha1: None,
            sha256: None,
            scan_id: None,
            url: None,
        };
        self.ids.as_deref().unwrap_or(&NONE)
    }

    /// The typed view, decoded the first time it is asked for. A body that is well-formed but
    /// not this endpoint's answer (a wrong type, a missing field) fails here, for this answer
    /// only.
    pub fn answer(&self) -> Result<&Answer<T>, Error> {
        self.typed
            .get_or_init(|| crate::decode(&self.bytes))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The same answer as the service gives when asked with `resource`: its top-level
    /// `resource` echo replaced, every other byte kept. A cached answer given to another
    /// spelling of the question (another case, or another hash of the same file) then echoes
    /// what was asked, as the service would. `None` when the answer has no `resource` to
    /// replace.
    pub fn with_resource(&self, resource: &str) -> Option<RawAnswer<T>> {
        let span = resource_value_span(&self.bytes)?;
        let echo = serde_json::to_string(resource).ok()?;
        let mut bytes = Vec::with_capacity(self.bytes.len() + echo.len());
        bytes.extend_from_slice(&self.bytes[..span.start]);
        bytes.extend_from_slice(echo.as_bytes());
        bytes.extend_from_slice(&self.bytes[span.end..]);
        Some(RawAnswer {
            bytes: bytes.into(),
            response_code: self.response_code,
            resource: Some(resource.into()),
            ids: self.ids.clone(),
            typed: OnceLock::new(),
            _report: PhantomData,
        })
    }

    /// The report, when the answer is found and decodes (a decode failure reads as `None`
    /// here; [`RawAnswer::answer`] says what it was).
    pub fn as_found(&self) -> Option<&T> {
        self.answer().ok()?.as_found()
    }

    /// The typed view, by value.
    pub fn into_answer(self) -> Result<Answer<T>, Error> {
        match self.typed.into_inner() {
            Some(decoded) => decoded,
            None => crate::decode(&self.bytes),
        }
    }
}

/// Encodes the typed view (the same JSON value as the bytes; use [`RawAnswer::bytes`] for the
/// bytes themselves).
impl<T: Report> serde::Serialize for RawAnswer<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.answer()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileReport, FileReportAnswer};

    fn scan(body: &str) -> Result<Vec<ItemScan>, Error> {
        scan_body(body.as_bytes())
    }

    #[test]
    fn spans_codes_and_echoes_are_read_without_decoding() {
        let body = r#" [ {"scans": {"a": {"detected": true}}, "response_code": 1, "resource": "R\u0041"} ,
            {"response_code": -2, "resource": "b", "scan_id": "s"}, 7, ["x"], {"response_code": "1"} ] "#;
        let items = scan(body).unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].response_code, Some(1));
        assert_eq!(items[0].resource.as_deref(), Some("RA"));
        assert!(body[items[0].span.clone()].starts_with("{\"scans\""));
        assert!(body[items[0].span.clone()].ends_with("\"R\\u0041\"}"));
        assert_eq!(items[1].ids.scan_id.as_deref(), Some("s"));
        assert_eq!(&body[items[2].span.clone()], "7");
        assert_eq!(items[2].response_code, None);
        assert_eq!(items[3].response_code, None);
        assert_eq!(items[4].response_code, None);
        assert_eq!(scan("[]").unwrap(), vec![]);
    }

    #[test]
    fn a_body_that_is_not_json_fails_whole_and_says_where() {
        for body in [
            "",
            "[",
            "[{\"response_code\": 1}",
            "[{\"response_code\": 1},]",
            "[{\"response_code\": 1}] x",
            "<html>",
            "{\"response_code\": 1, \"scans\": {\"a\": \"\u{1}\"}}",
        ] {
            let Err(Error::Decode(error)) = scan(body) else {
                panic!("{body:?} scanned");
            };
            assert!(!error.message.is_empty(), "{body:?}");
        }
    }

    #[test]
    fn a_malformed_item_fails_alone_and_decodes_lazily() {
        let body = Bytes::from_static(
            br#"[{"response_code": 1, "resource": "a", "positives": "many"}, {"resource": "b"}]"#,
        );
        let items = scan_body(&body).unwrap();
        let first =
            RawAnswer::<FileReport>::from_scan(body.slice(items[0].span.clone()), items[0].clone())
                .unwrap();
        assert_eq!(first.status(), Status::Found);
        let Err(Error::Decode(error)) = first.answer() else {
            panic!("decoded");
        };
        assert!(error.path.contains("positives") || error.message.contains("positives"));
        let Err(Error::Decode(error)) =
            RawAnswer::<FileReport>::from_scan(body.slice(items[1].span.clone()), items[1].clone())
        else {
            panic!("an item without a code was accepted");
        };
        assert!(error.message.contains("response_code"), "{error:?}");
    }

    #[test]
    fn a_new_echo_replaces_the_top_level_resource_only() {
        let raw = RawAnswer::<FileReport>::parse(Bytes::from_static(
            br#"{"other": {"a": {"resource": "x"}}, "resource" : "44d8", "response_code": 0}"#,
        ))
        .unwrap();
        let echoed = raw.with_resource("SHA\"256").unwrap();
        assert_eq!(
            echoed.bytes().as_ref(),
            br#"{"other": {"a": {"resource": "x"}}, "resource" : "SHA\"256", "response_code": 0}"#
        );
        assert_eq!(echoed.resource(), Some("SHA\"256"));
        assert_eq!(echoed.answer().unwrap().resource(), Some("SHA\"256"));
        let without = RawAnswer::<FileReport>::parse(Bytes::from_static(
            br#"{"response_code": -1, "verbose_msg": "Invalid"}"#,
        ))
        .unwrap();
        assert!(without.with_resource("a").is_none());
    }

    #[test]
    fn parse_takes_one_object_and_decodes_once() {
        let raw = RawAnswer::<FileReport>::parse(Bytes::from_static(
            b"\n{\"response_code\": -1, \"verbose_msg\": \"Invalid\"}\n",
        ))
        .unwrap();
        assert_eq!(raw.status(), Status::Invalid);
        assert_eq!(
            raw.bytes().as_ref(),
            b"{\"response_code\": -1, \"verbose_msg\": \"Invalid\"}"
        );
        assert!(matches!(raw.answer(), Ok(FileReportAnswer::Invalid(_))));
        assert!(
            RawAnswer::<FileReport>::parse(Bytes::from_static(b"[{\"response_code\": 1}]"))
                .is_err()
        );
        let rebuilt = RawAnswer::from_answer(raw.clone().into_answer().unwrap());
        assert_eq!(rebuilt.response_code(), -1);
    }
}
