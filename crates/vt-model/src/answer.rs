//! The answer for one resource, a whole response body, and decoding with typed errors.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::Serialize;

use crate::error::{DecodeCategory, DecodeError};
use crate::report::FileReport;
use crate::wire::{wire_object, Partial};
use crate::{Error, Extra};

/// What an endpoint said about one query: the shape every lookup-style v2 answer shares.
///
/// `T` is the endpoint's found report ([`FileReport`] for `/file/report`). Not found, queued and
/// invalid are ordinary outcomes, not errors; a `response_code` the model does not know is kept
/// whole as [`Answer::Unknown`] rather than refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer<T> {
    /// `response_code` 1: the report.
    Found(Box<T>),
    /// `response_code` 0: the service has no report (for `/file/report` also an invalid
    /// resource: see [`StatusReport::is_invalid_resource`]).
    NotFound(StatusReport),
    /// `response_code` -2: queued for analysis.
    Queued(StatusReport),
    /// `response_code` -1: the query was refused as invalid (URLs, IP addresses, ...).
    Invalid(StatusReport),
    /// Any other `response_code`, kept with its whole body.
    Unknown(StatusReport),
}

/// What `/file/report` said about one resource.
pub type FileReportAnswer = Answer<FileReport>;

/// The outcome of an answer, known from its `response_code` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// 1.
    Found,
    /// 0.
    NotFound,
    /// -2.
    Queued,
    /// -1.
    Invalid,
    /// Anything else.
    Unknown,
}

impl Status {
    /// The status of a `response_code`.
    pub fn of(response_code: i64) -> Status {
        match response_code {
            response_code::FOUND => Status::Found,
            response_code::NOT_FOUND => Status::NotFound,
            response_code::QUEUED => Status::Queued,
            response_code::INVALID => Status::Invalid,
            _ => Status::Unknown,
        }
    }

    /// A short lower-case name: `found`, `not_found`, `queued`, `invalid` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::NotFound => "not_found",
            Status::Queued => "queued",
            Status::Invalid => "invalid",
            Status::Unknown => "unknown",
        }
    }

    /// Whether an answer with this status is final, and so worth keeping in a cache: found
    /// and not found (queued changes, invalid and unknown say nothing of the resource).
    pub fn is_final(self) -> bool {
        matches!(self, Status::Found | Status::NotFound)
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Status {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The found report of an endpoint: what [`Answer`] is generic over.
///
/// Implemented by the model's report types; the decoding hook is not for use outside the
/// crate.
pub trait Report:
    Serialize + Clone + fmt::Debug + PartialEq + Send + Sync + Sized + 'static
{
    /// The `response_code` the service sent (1).
    fn response_code(&self) -> i64;
    /// The query as echoed by the service, when it sent one.
    fn resource(&self) -> Option<&str>;
    /// The service's `verbose_msg`, when it sent one.
    fn verbose_msg(&self) -> Option<&str>;
    /// Decodes the entries of an object; `Ok(Err(..))` when a required field is absent.
    #[doc(hidden)]
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Partial>, A::Error>;
}

/// `impl Report` for a `wire_object!` report type with `response_code` and `verbose_msg`
/// fields, and a `resource` field when the endpoint echoes the query (`echoes`), none when it
/// does not (`silent`: domain and IP answers).
macro_rules! report_impl {
    ($name:ident, $echo:ident) => {
        impl $crate::Report for $name {
            fn response_code(&self) -> i64 {
                self.response_code
            }
            fn resource(&self) -> Option<&str> {
                $crate::answer::report_impl!(@resource $echo, self)
            }
            fn verbose_msg(&self) -> Option<&str> {
                self.verbose_msg.as_deref()
            }
            fn from_map<'de, A: serde::de::MapAccess<'de>>(
                map: A,
            ) -> Result<Result<Self, $crate::wire::Partial>, A::Error> {
                $name::from_map(map)
            }
        }
    };
    (@resource echoes, $report:expr) => {
        $report.resource.as_deref()
    };
    (@resource silent, $report:expr) => {{
        let _ = $report;
        None
    }};
}

pub(crate) use report_impl;

report_impl!(FileReport, echoes);

wire_object! {
    /// The short answer given when there is no report (not found, queued, invalid, or a code
    /// the model does not know), with every other key the service sent in `extra`.
    pub struct StatusReport {
        /// 0 not found, -2 queued, -1 invalid, anything else unknown.
        req response_code: i64 => "response_code",
        /// The service's explanation.
        opt verbose_msg: String => "verbose_msg",
        /// The query as asked.
        opt resource: String => "resource",
        /// For a queued file: its SHA-256 (the future scan_id).
        opt scan_id: String => "scan_id",
    }
}

impl StatusReport {
    /// True when the service said the resource is not a valid hash or scan_id
    /// ("Invalid resource, check what you are submitting").
    pub fn is_invalid_resource(&self) -> bool {
        self.verbose_msg
            .as_deref()
            .is_some_and(|m| m.trim_start().starts_with("Invalid resource"))
    }
}

/// `response_code` values of the v2 API.
pub mod response_code {
    /// The report is embedded (or the request was done).
    pub const FOUND: i64 = 1;
    /// Not among the finished, queued or pending scans, or (`/file/report`) an invalid resource.
    pub const NOT_FOUND: i64 = 0;
    /// Queued for analysis.
    pub const QUEUED: i64 = -2;
    /// Invalid query, or the request failed.
    pub const INVALID: i64 = -1;
}

impl<T: Report> Answer<T> {
    /// Classifies a short answer by its `response_code`.
    fn from_status(status: StatusReport) -> Answer<T> {
        match Status::of(status.response_code) {
            Status::NotFound => Answer::NotFound(status),
            Status::Queued => Answer::Queued(status),
            Status::Invalid => Answer::Invalid(status),
            Status::Found | Status::Unknown => Answer::Unknown(status),
        }
    }

    fn as_status(&self) -> Option<&StatusReport> {
        match self {
            Answer::Found(_) => None,
            Answer::NotFound(s) | Answer::Queued(s) | Answer::Invalid(s) | Answer::Unknown(s) => {
                Some(s)
            }
        }
    }

    /// The `response_code` the service sent.
    pub fn response_code(&self) -> i64 {
        match self {
            Answer::Found(report) => report.response_code(),
            _ => self.as_status().map_or(0, |s| s.response_code),
        }
    }

    /// The query as echoed by the service, when it sent one.
    pub fn resource(&self) -> Option<&str> {
        match self {
            Answer::Found(report) => report.resource(),
            _ => self.as_status().and_then(|s| s.resource.as_deref()),
        }
    }

    /// The service's `verbose_msg`, when it sent one.
    pub fn verbose_msg(&self) -> Option<&str> {
        match self {
            Answer::Found(report) => report.verbose_msg(),
            _ => self.as_status().and_then(|s| s.verbose_msg.as_deref()),
        }
    }

    /// The report, when found.
    pub fn as_found(&self) -> Option<&T> {
        match self {
            Answer::Found(report) => Some(report),
            _ => None,
        }
    }

    /// The outcome, as a [`Status`].
    pub fn outcome(&self) -> Status {
        match self {
            Answer::Found(_) => Status::Found,
            Answer::NotFound(_) => Status::NotFound,
            Answer::Queued(_) => Status::Queued,
            Answer::Invalid(_) => Status::Invalid,
            Answer::Unknown(_) => Status::Unknown,
        }
    }

    /// A short lower-case name of the outcome: `found`, `not_found`, `queued`, `invalid` or
    /// `unknown`.
    pub fn status(&self) -> &'static str {
        self.outcome().as_str()
    }

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Answer<T>, A::Error> {
        let status = match T::from_map(map)? {
            Ok(report) if report.response_code() == response_code::FOUND => {
                return Ok(Answer::Found(Box::new(report)));
            }
            // Every report field is there but the code says otherwise: believe the code.
            Ok(report) => match serde_json::to_value(&report) {
                Ok(serde_json::Value::Object(fields)) => status_from_fields(fields)?,
                Ok(_) => return Err(de::Error::custom("a report did not encode as an object")),
                Err(e) => return Err(de::Error::custom(e)),
            },
            Err(partial) => match partial.fields.get("response_code") {
                Some(code) if code.as_i64() == Some(response_code::FOUND) => {
                    return Err(de::Error::missing_field(partial.missing));
                }
                Some(_) => status_from_fields(partial.fields)?,
                None => return Err(de::Error::missing_field("response_code")),
            },
        };
        Ok(Answer::from_status(status))
    }
}

fn status_from_fields<E: de::Error>(fields: Extra) -> Result<StatusReport, E> {
    use serde::Deserialize;
    StatusReport::deserialize(serde_json::Value::Object(fields)).map_err(E::custom)
}

impl<'de, T: Report> serde::Deserialize<'de> for Answer<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnswerVisitor<T>(PhantomData<fn() -> T>);
        impl<'de, T: Report> Visitor<'de> for AnswerVisitor<T> {
            type Value = Answer<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an answer (a JSON object with a response_code)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Answer<T>, A::Error> {
                Answer::from_map(map)
            }
        }
        deserializer.deserialize_map(AnswerVisitor(PhantomData))
    }
}

impl<T: Report> serde::Serialize for Answer<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Found(report) => report.serialize(serializer),
            Answer::NotFound(s) | Answer::Queued(s) | Answer::Invalid(s) | Answer::Unknown(s) => {
                s.serialize(serializer)
            }
        }
    }
}

/// A whole response body: one object for one query, an array for several.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body<T> {
    /// The answer to a single query.
    One(Answer<T>),
    /// The answers to a batch, in the order the service sent them.
    Batch(Vec<Answer<T>>),
}

/// A whole `/file/report` response body.
pub type FileReportBody = Body<FileReport>;

impl<T> Body<T> {
    /// The answers, one or many.
    pub fn answers(&self) -> &[Answer<T>] {
        match self {
            Body::One(answer) => std::slice::from_ref(answer),
            Body::Batch(answers) => answers,
        }
    }

    /// The answers, one or many, by value.
    pub fn into_answers(self) -> Vec<Answer<T>> {
        match self {
            Body::One(answer) => vec![answer],
            Body::Batch(answers) => answers,
        }
    }
}

impl<'de, T: Report> serde::Deserialize<'de> for Body<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor<T>(PhantomData<fn() -> T>);
        impl<'de, T: Report> Visitor<'de> for BodyVisitor<T> {
            type Value = Body<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an answer: a JSON object, or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<T>, A::Error> {
                Answer::from_map(map).map(Body::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<T>, A::Error> {
                // A batch holds at most a few dozen answers; cap the hint all the same.
                let mut answers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(answer) = seq.next_element()? {
                    answers.push(answer);
                }
                Ok(Body::Batch(answers))
            }
        }
        deserializer.deserialize_any(BodyVisitor(PhantomData))
    }
}

impl<T: Report> serde::Serialize for Body<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::One(answer) => answer.serialize(serializer),
            Body::Batch(answers) => {
                let mut seq = serializer.serialize_seq(Some(answers.len()))?;
                for answer in answers {
                    seq.serialize_element(answer)?;
                }
                seq.end()
            }
        }
    }
}

/// Decodes a `/file/report` response body, one object or a batch array.
///
/// ```
/// use vt_model::{decode_body, FileReportAnswer};
///
/// let body = br#"[{"response_code": 0, "resource": "99017f6eebbac24f351415dd410d522d",
///   "verbose_msg": "The requested resource is not among the finished, queued or pending scans"},
///  {"response_code": -2, "resource": "x", "scan_id": "y", "verbose_msg": "Your resource is queued for analysis"}]"#;
/// let answers = decode_body(body)?.into_answers();
/// assert!(matches!(answers[0], FileReportAnswer::NotFound(_)));
/// assert_eq!(answers[1].status(), "queued");
///
/// let err = decode_body(br#"{"response_code": 1, "scans": {"#).unwrap_err();
/// assert!(err.to_string().contains("truncated"));
/// # Ok::<(), vt_model::Error>(())
/// ```
pub fn decode_body(body: &[u8]) -> Result<FileReportBody, Error> {
    decode(body)
}

/// Decodes a body like [`decode_body`], and also gives, for each answer, where its JSON
/// object lies in `body`: the exact bytes the service sent for it, for callers that pass
/// answers on untouched (a cache, JSON Lines output).
///
/// ```
/// let body = br#"[{"response_code": 0, "resource": "a"}, {"response_code": -2, "resource": "b"}]"#;
/// let answers = vt_model::decode_body_spans(body)?;
/// assert_eq!(&body[answers[1].1.clone()], br#"{"response_code": -2, "resource": "b"}"#);
/// assert_eq!(answers[1].0.status(), "queued");
/// # Ok::<(), vt_model::Error>(())
/// ```
pub fn decode_body_spans(body: &[u8]) -> Result<Vec<(FileReportAnswer, Range<usize>)>, Error> {
    let is_json_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let skip_space = |mut at: usize| {
        while body.get(at).is_some_and(|&b| is_json_space(b)) {
            at += 1;
        }
        at
    };
    let start = skip_space(0);
    if body.get(start) != Some(&b'[') {
        // One answer: its bytes are the body's, less the whitespace around.
        let answer = decode_answer(body)?;
        let end = body
            .iter()
            .rposition(|&b| !is_json_space(b))
            .map_or(start, |e| e + 1);
        return Ok(vec![(answer, start..end.max(start))]);
    }
    // An array, in one pass: each item is decoded where it lies, and the decoder says where
    // it ended. Any failure is reported by the typed decoder over the whole body, whose
    // errors give the item's index, the path in it, and the line and column in the body.
    let mut answers = Vec::new();
    let mut at = skip_space(start + 1);
    if body.get(at) == Some(&b']') {
        at += 1;
    } else {
        loop {
            let mut items =
                serde_json::Deserializer::from_slice(&body[at..]).into_iter::<FileReportAnswer>();
            let Some(Ok(answer)) = items.next() else {
                return Err(typed_error(body));
            };
            let end = at + items.byte_offset();
            answers.push((answer, at..end));
            at = skip_space(end);
            match body.get(at) {
                Some(b',') => at = skip_space(at + 1),
                Some(b']') => {
                    at += 1;
                    break;
                }
                _ => return Err(typed_error(body)),
            }
        }
    }
    if skip_space(at) != body.len() {
        return Err(typed_error(body));
    }
    Ok(answers)
}

/// The typed decoder's account of a body the span pass could not read.
pub(crate) fn typed_error(body: &[u8]) -> Error {
    match decode_body(body) {
        Err(error) => error,
        // Not expected: both passes read the same JSON grammar.
        Ok(_) => Error::Decode(DecodeError {
            path: ".".to_owned(),
            message: "the answers of this body cannot be delimited".to_owned(),
            line: 0,
            column: 0,
            excerpt: String::new(),
            category: DecodeCategory::Syntax,
        }),
    }
}

/// Decodes a body that must hold the answer for a single resource (a JSON object).
pub fn decode_answer(body: &[u8]) -> Result<FileReportAnswer, Error> {
    decode(body)
}

/// Decodes any model type from a body, with a typed error that locates the failure.
///
/// The fast path is plain `serde_json`; only when it fails is the body decoded once more with
/// path tracking, so success pays nothing for the error's JSON path.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    // UTF-8 checked once for the whole body (a fast pass) rather than string by string.
    let decoded = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    decoded.map_err(|fast_error| Error::Decode(locate::<T>(body, fast_error)))
}

/// Longest JSON path an error shows whole.
const PATH_SHOWN: usize = 120;

/// A path of at most [`PATH_SHOWN`] characters: a failure deep in nested arrays has a path of
/// hundreds of `[0]`; its start and end say where it is.
fn shortened(path: String) -> String {
    if path.chars().count() <= PATH_SHOWN {
        return path;
    }
    let head: String = path.chars().take(PATH_SHOWN / 2).collect();
    let tail: Vec<char> = path.chars().rev().take(PATH_SHOWN / 2 - 3).collect();
    format!("{head}...{}", tail.into_iter().rev().collect::<String>())
}

/// Builds the typed error for a body that failed to decode as `T`.
pub(crate) fn locate<T: DeserializeOwned>(
    body: &[u8],
    fast_error: serde_json::Error,
) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let (path, error) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(tracked) => (shortened(tracked.path().to_string()), tracked.into_inner()),
        // The value itself decoded: what failed is what follows it.
        Ok(_) => (
            ".".to_owned(),
            deserializer.end().err().unwrap_or(fast_error),
        ),
    };
    let category = match error.classify() {
        serde_json::error::Category::Eof => DecodeCategory::Truncated,
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            DecodeCategory::Syntax
        }
        serde_json::error::Category::Data => DecodeCategory::Shape,
    };
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    DecodeError {
        path,
        message,
        line,
        column,
        excerpt: excerpt(body, line, column),
        category,
    }
}

/// 80 bytes of the body around a 1-based line and column (40 either side where the body
/// allows, more on one side near an end), as lossy UTF-8.
pub(crate) fn excerpt(body: &[u8], line: usize, column: usize) -> String {
    const CONTEXT: usize = 40;
    if body.is_empty() {
        return String::new();
    }
    let offset = if line == 0 {
        0
    } else {
        let line_start = body
            .split_inclusive(|&b| b == b'\n')
            .take(line - 1)
            .map(<[u8]>::len)
            .sum::<usize>();
        (line_start + column.saturating_sub(1)).min(body.len())
    };
    let end = offset
        .saturating_sub(CONTEXT)
        .saturating_add(2 * CONTEXT)
        .min(body.len());
    let start = end.saturating_sub(2 * CONTEXT);
    String::from_utf8_lossy(&body[start..end]).into_owned()
}
