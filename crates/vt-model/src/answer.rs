//! The answer for one resource, a whole response body, and decoding with typed errors.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;

use crate::error::{DecodeCategory, DecodeError};
use crate::report::FileReport;
use crate::wire::wire_object;
use crate::{Error, Extra};

/// What `/file/report` said about one resource.
///
/// Not found and queued are ordinary outcomes, not errors. A `response_code` the model does
/// not know is kept whole as [`FileReportAnswer::Unknown`] rather than refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FileReportAnswer {
    /// `response_code` 1: the report.
    Found(Box<FileReport>),
    /// `response_code` 0: the service has no report, or the resource was invalid
    /// (see [`StatusReport::is_invalid_resource`]).
    NotFound(StatusReport),
    /// `response_code` -2: the file is queued for analysis.
    Queued(StatusReport),
    /// Any other `response_code`, kept with its whole body.
    Unknown(StatusReport),
}

wire_object! {
    /// The short answer given when there is no report (not found, queued, or a code the model
    /// does not know), with every other key the service sent in `extra`.
    pub struct StatusReport {
        /// 0 not found, -2 queued, anything else unknown.
        req response_code: i64 => "response_code",
        /// The service's explanation.
        opt verbose_msg: String => "verbose_msg",
        /// The resource as asked.
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

/// `response_code` values of `/file/report`.
pub mod response_code {
    /// The report is embedded.
    pub const FOUND: i64 = 1;
    /// Not among the finished, queued or pending scans, or an invalid resource.
    pub const NOT_FOUND: i64 = 0;
    /// Queued for analysis.
    pub const QUEUED: i64 = -2;
}

impl FileReportAnswer {
    /// Classifies a short answer by its `response_code`.
    fn from_status(status: StatusReport) -> FileReportAnswer {
        match status.response_code {
            response_code::NOT_FOUND => FileReportAnswer::NotFound(status),
            response_code::QUEUED => FileReportAnswer::Queued(status),
            _ => FileReportAnswer::Unknown(status),
        }
    }

    /// The `response_code` the service sent.
    pub fn response_code(&self) -> i64 {
        match self {
            FileReportAnswer::Found(report) => report.response_code,
            FileReportAnswer::NotFound(s)
            | FileReportAnswer::Queued(s)
            | FileReportAnswer::Unknown(s) => s.response_code,
        }
    }

    /// The resource as echoed by the service, when it sent one.
    pub fn resource(&self) -> Option<&str> {
        match self {
            FileReportAnswer::Found(report) => report.resource.as_deref(),
            FileReportAnswer::NotFound(s)
            | FileReportAnswer::Queued(s)
            | FileReportAnswer::Unknown(s) => s.resource.as_deref(),
        }
    }

    /// The service's `verbose_msg`, when it sent one.
    pub fn verbose_msg(&self) -> Option<&str> {
        match self {
            FileReportAnswer::Found(report) => report.verbose_msg.as_deref(),
            FileReportAnswer::NotFound(s)
            | FileReportAnswer::Queued(s)
            | FileReportAnswer::Unknown(s) => s.verbose_msg.as_deref(),
        }
    }

    /// The report, when found.
    pub fn as_found(&self) -> Option<&FileReport> {
        match self {
            FileReportAnswer::Found(report) => Some(report),
            _ => None,
        }
    }

    /// A short lower-case name of the outcome: `found`, `not_found`, `queued` or `unknown`.
    pub fn status(&self) -> &'static str {
        match self {
            FileReportAnswer::Found(_) => "found",
            FileReportAnswer::NotFound(_) => "not_found",
            FileReportAnswer::Queued(_) => "queued",
            FileReportAnswer::Unknown(_) => "unknown",
        }
    }

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<FileReportAnswer, A::Error> {
        let status = match FileReport::from_map(map)? {
            Ok(report) if report.response_code == response_code::FOUND => {
                return Ok(FileReportAnswer::Found(Box::new(report)));
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
        Ok(FileReportAnswer::from_status(status))
    }
}

fn status_from_fields<E: de::Error>(fields: Extra) -> Result<StatusReport, E> {
    use serde::Deserialize;
    StatusReport::deserialize(serde_json::Value::Object(fields)).map_err(E::custom)
}

impl<'de> serde::Deserialize<'de> for FileReportAnswer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnswerVisitor;
        impl<'de> Visitor<'de> for AnswerVisitor {
            type Value = FileReportAnswer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a /file/report answer (a JSON object with a response_code)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileReportAnswer, A::Error> {
                FileReportAnswer::from_map(map)
            }
        }
        deserializer.deserialize_map(AnswerVisitor)
    }
}

impl serde::Serialize for FileReportAnswer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FileReportAnswer::Found(report) => report.serialize(serializer),
            FileReportAnswer::NotFound(s)
            | FileReportAnswer::Queued(s)
            | FileReportAnswer::Unknown(s) => s.serialize(serializer),
        }
    }
}

/// A whole `/file/report` response body: one object for one resource, an array for several.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FileReportBody {
    /// The answer to a single resource.
    One(FileReportAnswer),
    /// The answers to a comma-separated batch, in the order the service sent them.
    Batch(Vec<FileReportAnswer>),
}

impl FileReportBody {
    /// The answers, one or many.
    pub fn answers(&self) -> &[FileReportAnswer] {
        match self {
            FileReportBody::One(answer) => std::slice::from_ref(answer),
            FileReportBody::Batch(answers) => answers,
        }
    }

    /// The answers, one or many, by value.
    pub fn into_answers(self) -> Vec<FileReportAnswer> {
        match self {
            FileReportBody::One(answer) => vec![answer],
            FileReportBody::Batch(answers) => answers,
        }
    }
}

impl<'de> serde::Deserialize<'de> for FileReportBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = FileReportBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a /file/report answer: a JSON object, or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileReportBody, A::Error> {
                FileReportAnswer::from_map(map).map(FileReportBody::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FileReportBody, A::Error> {
                // A batch holds at most a few dozen answers; cap the hint all the same.
                let mut answers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(answer) = seq.next_element()? {
                    answers.push(answer);
                }
                Ok(FileReportBody::Batch(answers))
            }
        }
        deserializer.deserialize_any(BodyVisitor)
    }
}

impl serde::Serialize for FileReportBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FileReportBody::One(answer) => answer.serialize(serializer),
            FileReportBody::Batch(answers) => {
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
fn typed_error(body: &[u8]) -> Error {
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
    serde_json::from_slice(body).map_err(|fast_error| Error::Decode(locate::<T>(body, fast_error)))
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
fn locate<T: DeserializeOwned>(body: &[u8], fast_error: serde_json::Error) -> DecodeError {
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
fn excerpt(body: &[u8], line: usize, column: usize) -> String {
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
