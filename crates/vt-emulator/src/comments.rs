//! `/comments/put` and `/comments/get`: comments on files and URLs, kept in memory until the
//! emulator stops.
//!
//! A file is one resource whatever hash (or scan_id) names it: its comments are kept by its
//! SHA-256. A URL is kept by its normal form (a URL scan_id by itself). Comments are dated by
//! the emulator's clock (`YYYYmmddHHMMSS`, UTC), so that a manual clock makes them
//! deterministic.

use std::collections::HashMap;

use http::StatusCode;
use vt_model::UtcTimestamp;
use vt_server::Params;

use crate::chunks::Assembler;
use crate::file_rescan::known_file;
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::sites::url_key;
use crate::wire::{self, Object};
use crate::Tier;

/// `comments/put`, posted (as recorded).
pub(crate) const POSTED_MSG: &str = "Your comment was successfully posted";
/// `comments/put`, the same text already on the resource.
pub(crate) const DUPLICATE_MSG: &str = "Duplicate comment";
/// `comments/put` and `comments/get`, a resource the emulator does not know.
pub(crate) const UNKNOWN_MSG: &str = "Could not find resource";
/// `comments/get`, found (as documented).
pub(crate) const FOUND_MSG: &str = "Resource found, comments, if any, returned here";
/// The longest comment, in bytes, as clients cap it.
pub(crate) const MAX_COMMENT: usize = 4096;
/// The most comments in one `comments/get` answer, as documented.
pub(crate) const COMMENTS_PAGE: usize = 25;

/// What comments are kept by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// A file, by its SHA-256 (lower case).
    File(Box<str>),
    /// A URL, by its normal form, or a URL scan_id (lower case).
    Url(Box<str>),
}

/// One comment.
#[derive(Debug)]
struct Comment {
    /// Unix seconds, on the emulator's clock.
    unix: i64,
    text: Box<str>,
}

/// Every comment posted, by subject, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Comments {
    by_subject: HashMap<Subject, Vec<Comment>>,
}

impl Comments {
    /// Adds a comment; `false` when the subject already has this text.
    fn add(&mut self, subject: Subject, unix: i64, text: &str) -> bool {
        let comments = self.by_subject.entry(subject).or_default();
        if comments.iter().any(|c| *c.text == *text) {
            return false;
        }
        comments.push(Comment {
            unix,
            text: text.into(),
        });
        true
    }

    /// The newest [`COMMENTS_PAGE`] comments older than `before` (unix seconds), newest first.
    fn page(&self, subject: &Subject, before: Option<i64>) -> impl Iterator<Item = &Comment> {
        self.by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .rev()
            .filter(move |c| before.is_none_or(|before| c.unix < before))
            .take(COMMENTS_PAGE)
    }
}

/// The subject a resource names, if the emulator knows it: a file (a stored report, a held
/// file, a scan of one) by any hash or scan_id, else a stored or submitted URL (or URL
/// scan_id).
fn subject_of(state: &State, resource: &str) -> Option<Subject> {
    if let Some(key) = Key::parse(resource) {
        let files = state.files_if_any();
        if let Some((sha256, _)) = known_file(state, files.as_deref(), &key) {
            return Some(Subject::File(sha256));
        }
    }
    let key = url_key(resource)?;
    let submissions = state.submissions();
    let known = state.sites.url(&key).is_some()
        || submissions.by_url(&key).is_some()
        || submissions.by_scan_id(&key).is_some();
    known.then(|| Subject::Url(key.into()))
}

/// `YYYYmmddHHMMSS` of unix seconds.
fn comment_date(unix: i64) -> String {
    let text = UtcTimestamp::from_unix_seconds(unix)
        .map(|t| t.to_string())
        .unwrap_or_default();
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The unix seconds of `YYYYmmddHHMMSS` (UTC), if it is a moment of the calendar.
fn parse_comment_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let spaced = format!(
        "{}-{}-{} {}:{}:{}",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[8..10],
        &text[10..12],
        &text[12..14]
    );
    spaced
        .parse::<UtcTimestamp>()
        .ok()
        .map(UtcTimestamp::unix_seconds)
}

/// `{"response_code": code, "verbose_msg": message}`.
fn status(code: i64, message: &str) -> Answer {
    let mut out = Assembler::default();
    wire::write_code(&mut out, code, message);
    Answer::json(out.finish())
}

/// The arguments of `comments/put`.
#[derive(Debug)]
pub(crate) struct PutArgs<'r> {
    /// Trimmed; `None` when missing or blank.
    resource: Option<&'r str>,
    /// As sent; `None` when missing, blank or longer than [`MAX_COMMENT`] bytes.
    comment: Option<&'r str>,
}

/// The `comments/put` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct CommentsPut;

/// A parameter trimmed, `None` when missing or blank.
fn non_blank<'r>(params: &'r Params<'_>, name: &str) -> Option<&'r str> {
    params.first(name).map(str::trim).filter(|v| !v.is_empty())
}

impl Endpoint for CommentsPut {
    type Args<'r> = PutArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> PutArgs<'r> {
        PutArgs {
            resource: non_blank(params, "resource"),
            comment: params
                .first("comment")
                .filter(|c| !c.trim().is_empty() && c.len() <= MAX_COMMENT),
        }
    }

    fn resources_asked(args: &PutArgs<'_>) -> usize {
        usize::from(args.resource.is_some())
    }

    /// A resource missing or blank; a comment missing, blank or over 4096 bytes: 400.
    fn validate(_: &State, args: &PutArgs<'_>, _: Tier) -> Result<(), StatusCode> {
        match (args.resource, args.comment) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, args: PutArgs<'_>, _tier: Tier) -> Answer {
        let (Some(resource), Some(comment)) = (args.resource, args.comment) else {
            return Answer::empty(StatusCode::BAD_REQUEST);
        };
        let Some(subject) = subject_of(state, resource) else {
            return status(0, UNKNOWN_MSG);
        };
        let (unix, _) = state.now();
        match state.comments().add(subject, unix, comment) {
            true => status(1, POSTED_MSG),
            false => status(0, DUPLICATE_MSG),
        }
    }
}

/// The arguments of `comments/get`.
#[derive(Debug)]
pub(crate) struct GetArgs<'r> {
    /// Trimmed; `None` when missing or blank.
    resource: Option<&'r str>,
    /// `before` in unix seconds; `Err` when given but not `YYYYmmddHHMMSS`.
    before: Result<Option<i64>, ()>,
}

/// The `comments/get` endpoint.
#[derive(Debug)]
pub(crate) struct CommentsGet;

impl Endpoint for CommentsGet {
    type Args<'r> = GetArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> GetArgs<'r> {
        GetArgs {
            resource: non_blank(params, "resource"),
            before: match params.first("before").map(str::trim) {
                None => Ok(None),
                Some(before) => parse_comment_date(before).map(Some).ok_or(()),
            },
        }
    }

    fn resources_asked(args: &GetArgs<'_>) -> usize {
        usize::from(args.resource.is_some())
    }

    /// A resource missing or blank, a `before` not `YYYYmmddHHMMSS`: 400.
    fn validate(_: &State, args: &GetArgs<'_>, _: Tier) -> Result<(), StatusCode> {
        match (args.resource, args.before) {
            (Some(_), Ok(_)) => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, args: GetArgs<'_>, _tier: Tier) -> Answer {
        let (Some(resource), Ok(before)) = (args.resource, args.before) else {
            return Answer::empty(StatusCode::BAD_REQUEST);
        };
        let mut out = Assembler::default();
        let mut object = Object::open(&mut out);
        let Some(subject) = subject_of(state, resource) else {
            object
                .int("response_code", 0)
                .str("verbose_msg", UNKNOWN_MSG)
                .str("resource", resource);
            object.close();
            return Answer::json(out.finish());
        };
        object
            .int("response_code", 1)
            .str("verbose_msg", FOUND_MSG)
            .str("resource", resource);
        let comments = state.comments();
        let page = comments.page(&subject, before);
        wire::write_list(object.key("comments"), page, |out, comment| {
            let mut item = Object::open(out);
            item.str("date", &comment_date(comment.unix))
                .str("comment", &comment.text);
            item.close();
        });
        object.close();
        Answer::json(out.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_dates_round_trip_and_refuse_what_is_not_a_moment() {
        assert_eq!(comment_date(1_333_545_820), "20120404132340");
        assert_eq!(parse_comment_date("20120404132340"), Some(1_333_545_820));
        for bad in [
            "2012040413234",
            "201204041323400",
            "20121304132340",
            "2012-04-04",
        ] {
            assert_eq!(parse_comment_date(bad), None, "{bad}");
        }
    }
}
