//! `/file/search`: a documented subset of the service's search language (hashes,
//! `positives:`, `type:`, `tag:`, `fs:`, `ls:`; terms joined by spaces must all match) over the
//! files the emulator knows: the stored reports, and the files it holds the bytes of (uploads,
//! samples) whose analysis is over. Answers pages of [`PAGE`] SHA-256s, newest scan first.

use http::StatusCode;
use vt_model::FileReport;
use vt_server::{FileHashes, Params};

use crate::chunks::Assembler;
use crate::file_report;
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::sites::parse_day;
use crate::wire::{self, Object};
use crate::Tier;

/// The most hashes in one answer, as the service documents.
pub(crate) const PAGE: usize = 300;

/// The file types the service names with a short word (`type:peexe`), from the long names
/// reports give in `type` or ExifTool's `FileType`, lower case.
const TYPE_WORDS: [(&str, &str); 14] = [
    ("win32 exe", "peexe"),
    ("win64 exe", "peexe"),
    ("win32 dll", "pedll"),
    ("win64 dll", "pedll"),
    ("pdf", "pdf"),
    ("zip", "zip"),
    ("rar", "rar"),
    ("elf", "elf"),
    ("text", "text"),
    ("html", "html"),
    ("ms word document", "doc"),
    ("rtf", "rtf"),
    ("android", "android"),
    ("javascript", "javascript"),
];

/// What a file is searched by, gathered once: from a stored report when it is loaded, from a
/// held file when a search runs.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    /// MD5, SHA-1 and SHA-256 (those that are hashes at all).
    keys: [Option<Key>; 3],
    /// Lower case, as answered.
    sha256: Box<str>,
    positives: u32,
    /// The names `type:` accepts, lower case without spaces.
    types: Vec<Box<str>>,
    /// The report's `tags`, lower case.
    tags: Vec<Box<str>>,
    /// Unix seconds; the scan date when the report does not say.
    first_seen: i64,
    last_seen: i64,
    scan_date: i64,
}

impl Facts {
    /// The facts of a stored report.
    pub(crate) fn of_report(report: &FileReport) -> Facts {
        let scan_date = report.scan_date.unix_seconds();
        let exif_type = report
            .additional_info
            .as_ref()
            .and_then(|info| info.exiftool.as_ref())
            .and_then(|exif| exif.get("FileType"))
            .and_then(|t| t.as_str());
        let mut types = Vec::new();
        for long in report.file_type.as_deref().into_iter().chain(exif_type) {
            let long = long.trim().to_lowercase();
            let squeezed: String = long.split_whitespace().collect();
            let word = TYPE_WORDS.iter().find(|(name, _)| *name == long);
            types.extend(word.map(|(_, word)| Box::from(*word)));
            types.push(squeezed.into());
        }
        types.sort();
        types.dedup();
        Facts {
            keys: [
                Key::parse(&report.md5),
                Key::parse(&report.sha1),
                Key::parse(&report.sha256),
            ],
            sha256: report.sha256.trim().to_ascii_lowercase().into(),
            positives: report.positives,
            types,
            tags: report
                .tags
                .iter()
                .flatten()
                .map(|tag| tag.to_lowercase().into())
                .collect(),
            first_seen: report.first_seen.map_or(scan_date, |t| t.unix_seconds()),
            last_seen: report.last_seen.map_or(scan_date, |t| t.unix_seconds()),
            scan_date,
        }
    }

    /// The facts of a file the emulator made the report of (no type, no tags).
    fn of_made(hashes: &FileHashes, positives: u32, unix: i64) -> Facts {
        Facts {
            keys: [
                Key::parse(&hashes.md5),
                Key::parse(&hashes.sha1),
                Key::parse(&hashes.sha256),
            ],
            sha256: hashes.sha256.clone(),
            positives,
            types: Vec::new(),
            tags: Vec::new(),
            first_seen: unix,
            last_seen: unix,
            scan_date: unix,
        }
    }
}

/// How a number or date is compared: `N`, `N+` (at least), `N-` (at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Exactly,
    AtLeast,
    AtMost,
}

/// A value with an optional `+` or `-` after it.
fn bounded(value: &str) -> (&str, Bound) {
    if let Some(v) = value.strip_suffix('+') {
        (v, Bound::AtLeast)
    } else if let Some(v) = value.strip_suffix('-') {
        (v, Bound::AtMost)
    } else {
        (value, Bound::Exactly)
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// A bare MD5, SHA-1 or SHA-256.
    Hash(Key),
    Positives(u32, Bound),
    Type(String),
    Tag(String),
    /// `fs:`: midnight UTC of the day (unix seconds), and the bound.
    FirstSeen(i64, Bound),
    LastSeen(i64, Bound),
}

impl Term {
    /// One space-separated word of a query; `None` when it is not in the subset served.
    fn parse(word: &str) -> Option<Term> {
        let Some((modifier, value)) = word.split_once(':') else {
            // A bare word must be a hash (a scan_id is not searched for).
            let key = Key::parse(word).filter(|_| !word.contains('-'))?;
            return Some(Term::Hash(key));
        };
        if value.is_empty() {
            return None;
        }
        match modifier.to_ascii_lowercase().as_str() {
            "positives" => {
                let (number, bound) = bounded(value);
                Some(Term::Positives(number.parse().ok()?, bound))
            }
            "type" => Some(Term::Type(value.to_lowercase())),
            "tag" => Some(Term::Tag(value.to_lowercase())),
            "fs" | "ls" => {
                let (day, bound) = bounded(value);
                let start = parse_day(day)?.start().unix_seconds();
                match modifier.eq_ignore_ascii_case("fs") {
                    true => Some(Term::FirstSeen(start, bound)),
                    false => Some(Term::LastSeen(start, bound)),
                }
            }
            _ => None,
        }
    }

    fn matches(&self, facts: &Facts) -> bool {
        let on_day = |seconds: i64, start: i64, bound: Bound| match bound {
            Bound::Exactly => (start..start + 86_400).contains(&seconds),
            Bound::AtLeast => seconds >= start,
            Bound::AtMost => seconds < start + 86_400,
        };
        match self {
            Term::Hash(key) => facts.keys.contains(&Some(*key)),
            Term::Positives(n, Bound::Exactly) => facts.positives == *n,
            Term::Positives(n, Bound::AtLeast) => facts.positives >= *n,
            Term::Positives(n, Bound::AtMost) => facts.positives <= *n,
            Term::Type(name) => facts.types.iter().any(|t| **t == **name),
            Term::Tag(tag) => facts.tags.iter().any(|t| **t == **tag),
            Term::FirstSeen(start, bound) => on_day(facts.first_seen, *start, *bound),
            Term::LastSeen(start, bound) => on_day(facts.last_seen, *start, *bound),
        }
    }
}

/// A query: every term must match. `None` when it is blank or a term is not in the subset.
fn parse_query(query: &str) -> Option<Vec<Term>> {
    let terms: Vec<Term> = query
        .split_whitespace()
        .map(Term::parse)
        .collect::<Option<_>>()?;
    (!terms.is_empty()).then_some(terms)
}

/// The first bytes of every offset: they make its base64 start with `++++` (and `/` appears
/// often after), so that a client that does not percent-encode the offset it sends back is
/// caught (a `+` in a query string is a space).
const OFFSET_MAGIC: [u8; 3] = [0xfb, 0xef, 0xbe];

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The opaque offset of the page starting at `position`: base64 (with padding) of
/// [`OFFSET_MAGIC`] and the position in decimal.
fn encode_offset(position: usize) -> String {
    let mut bytes = OFFSET_MAGIC.to_vec();
    bytes.extend_from_slice(position.to_string().as_bytes());
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= group.len() {
                true => out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63])),
                false => out.push('='),
            }
        }
    }
    out
}

/// The position an offset of [`encode_offset`] stands for; `None` for any other text.
fn decode_offset(offset: &str) -> Option<usize> {
    let mut bytes = Vec::new();
    let (mut bits, mut held) = (0u32, 0u32);
    for c in offset.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|&b| b == c)? as u32;
        bits = bits << 6 | value;
        held += 6;
        if held >= 8 {
            held -= 8;
            bytes.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    let position = bytes.strip_prefix(&OFFSET_MAGIC)?;
    let position = std::str::from_utf8(position).ok()?.parse().ok()?;
    (encode_offset(position) == offset).then_some(position)
}

/// The arguments of `file/search`.
#[derive(Debug)]
pub(crate) struct SearchArgs {
    /// The terms; `None` when the query is missing, blank or outside the subset.
    terms: Option<Vec<Term>>,
    /// Where the page starts; `None` for an offset the emulator did not give.
    position: Option<usize>,
}

/// The `file/search` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct FileSearch;

impl Endpoint for FileSearch {
    type Args<'r> = SearchArgs;

    fn args(params: &Params<'_>) -> SearchArgs {
        SearchArgs {
            terms: params.first("query").and_then(parse_query),
            position: match params.first("offset") {
                None => Some(0),
                Some(offset) => decode_offset(offset),
            },
        }
    }

    /// A query missing, blank, or with a term outside the subset; an offset not given by the
    /// emulator: 400.
    fn validate(_: &State, args: &SearchArgs, _: Tier) -> Result<(), StatusCode> {
        match (&args.terms, args.position) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, args: SearchArgs, _tier: Tier) -> Answer {
        let terms = args.terms.unwrap_or_default();
        let start = args.position.unwrap_or_default();
        let mut found: Vec<(i64, &str)> = Vec::new();
        let made = made_facts(state);
        let stored = state.store.catalog().iter();
        for facts in stored.chain(&made) {
            if terms.iter().all(|term| term.matches(facts)) {
                found.push((facts.scan_date, &facts.sha256));
            }
        }
        // Newest scan first, then by SHA-256: the same order for every page.
        found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let page = found.get(start..).unwrap_or_default();
        let (page, more) = match page.len() > PAGE {
            true => (&page[..PAGE], true),
            false => (page, false),
        };
        let mut out = Assembler::default();
        let mut object = Object::open(&mut out);
        object.int("response_code", 1);
        if more {
            object.str("offset", &encode_offset(start + PAGE));
        }
        wire::write_list(object.key("hashes"), page, |out, (_, sha256)| {
            wire::write_json_str(out, sha256)
        });
        object.close();
        Answer::json(out.finish())
    }
}

/// The facts of the files the emulator holds the bytes of, whose analysis is over and which
/// have no stored report (a stored report is searched as stored, as `file/report` answers it).
fn made_facts(state: &State) -> Vec<Facts> {
    let Some(files) = state.files_if_any() else {
        return Vec::new();
    };
    files
        .samples()
        .filter(|sample| {
            Key::parse(&sample.hashes.sha256).is_none_or(|key| state.store.find(&key).is_none())
        })
        .filter_map(|sample| {
            let scan = files.scan(&sample.hashes.sha256);
            if scan.is_some_and(|scan| !state.is_over(scan.at)) {
                return None;
            }
            let unix = scan.map_or(state.start_unix(), |scan| scan.unix);
            let positives = file_report::made_positives(sample.eicar);
            Some(Facts::of_made(&sample.hashes, positives, unix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_need_percent_encoding() {
        for position in [0, 300, 600, 12_345_678] {
            let offset = encode_offset(position);
            assert!(offset.starts_with("++++"), "{offset}");
            assert_eq!(decode_offset(&offset), Some(position));
        }
        assert_eq!(decode_offset("    MzAw"), None, "a + read as a space");
        assert_eq!(
            decode_offset("MzAw"),
            None,
            "base64 of 300 without the prefix"
        );
        assert_eq!(decode_offset(""), None);
    }

    #[test]
    fn query_terms_of_the_subset_parse_and_others_do_not() {
        let md5 = "44D88612FEA8A8F36DE82E1278ABB02F";
        assert!(matches!(parse_query(md5).as_deref(), Some([Term::Hash(_)])));
        assert_eq!(
            parse_query("positives:5+ TYPE:PEexe tag:Overlay").unwrap(),
            [
                Term::Positives(5, Bound::AtLeast),
                Term::Type("peexe".into()),
                Term::Tag("overlay".into())
            ]
        );
        assert_eq!(
            parse_query("fs:2024-01-02-").unwrap(),
            [Term::FirstSeen(1_704_153_600, Bound::AtMost)]
        );
        for bad in [
            "",
            "  ",
            "positives:",
            "positives:x",
            "positives:-1",
            "fs:2024-02-30",
            "ls:20240101",
            "engines:kaspersky",
            "evil",
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f-1549381312",
        ] {
            assert_eq!(parse_query(bad), None, "{bad:?}");
        }
    }
}
