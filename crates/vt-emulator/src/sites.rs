//! The data of `url/report`, `domain/report` and `ip-address/report`: stored JSON objects,
//! checked when loaded (objects, `response_code` 1, the keys the emulator indexes by) and
//! serialised once into the slabs the file reports are in, so that an answer references them
//! as it does a file report. Beside them, the answers of `file/behaviour` and `file/clusters`,
//! kept as the bytes loaded (key order and spacing too).
//!
//! These are checked as JSON values while loading, not decoded into typed reports, and served
//! as the text loaded (every key, in the order given, strings and numbers as written) with the
//! service's separators ([`crate::json_text::respace`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value};
use vt_model::{UpdateDate, UtcTimestamp};

use crate::chunks::{Slabs, Span};
use crate::json_text::{self, WithoutResource};
use crate::{urls, wire};

/// The keys of a URL report served without `allinfo`; with it, every stored key.
const URL_PUBLIC_FIELDS: [&str; 11] = [
    "response_code",
    "verbose_msg",
    "resource",
    "url",
    "scan_id",
    "scan_date",
    "permalink",
    "filescan_id",
    "positives",
    "total",
    "scans",
];

/// One stored URL report.
#[derive(Debug)]
struct UrlEntry {
    /// The keys it is found by: its normalised `url` and `resource`, its scan_id.
    keys: Vec<Box<str>>,
    scan_date: UtcTimestamp,
    views: UrlViews,
}

/// Where a URL report's members are (without braces and without `resource`, whose place is
/// kept before them: [`crate::wire::store_members`]): all of them, and the public ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UrlViews {
    full: Span,
    public: Span,
}

impl UrlViews {
    /// The members of the allinfo view or the public one.
    pub(crate) fn members(self, allinfo: bool) -> Span {
        if allinfo {
            self.full
        } else {
            self.public
        }
    }
}

/// URL reports, domain answers and IP address answers.
#[derive(Debug, Default)]
pub(crate) struct Sites {
    urls: Vec<UrlEntry>,
    /// Normalised URLs and lower-case scan_ids to their entry.
    url_index: HashMap<Box<str>, usize>,
    /// Lower-case domain to its whole answer (braces included).
    domains: HashMap<Box<str>, Span>,
    ips: HashMap<Ipv4Addr, Span>,
    /// `file/behaviour` answers by the lower-case name they were given (usually a hash).
    behaviours: HashMap<Box<str>, Span>,
    /// `file/clusters` answers by day (`YYYY-MM-DD`).
    clusters: HashMap<Box<str>, Span>,
}

/// A `YYYY-MM-DD` date of the calendar, as `file/clusters` and the search's `fs:` and `ls:`
/// take it.
pub(crate) fn parse_day(text: &str) -> Option<UpdateDate> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u16, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let month = u8::try_from(number(5..7)?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    UpdateDate::new(number(0..4)?, month, day)
}

/// Keeps the bytes of a stored answer (once, in the slabs) under `name`.
fn keep_raw(
    slabs: &mut Slabs,
    answers: &mut HashMap<Box<str>, Span>,
    name: String,
    json: &[u8],
) -> Result<(), String> {
    let span = slabs.append(&raw_object(json)?);
    answers.insert(name.into_boxed_str(), span);
    Ok(())
}

/// The text of a stored answer served as loaded (keys in their order, strings and numbers as
/// written) with the service's separators: a JSON object.
fn raw_object(json: &[u8]) -> Result<Vec<u8>, String> {
    let json = json.trim_ascii();
    serde_json::from_slice::<serde::de::IgnoredAny>(json)
        .map_err(|e| format!("not valid JSON: {e}"))?;
    match json.first() {
        Some(b'{') => Ok(json_text::respace(json)),
        _ => Err("not a JSON object".to_owned()),
    }
}

/// The key a URL or scan_id is stored and asked by: a scan_id in lower case, a URL
/// normalised; `None` for neither.
pub(crate) fn url_key(text: &str) -> Option<String> {
    let text = text.trim();
    if urls::is_scan_id(text) {
        Some(text.to_ascii_lowercase())
    } else {
        urls::normalise(text)
    }
}

/// A URL report checked and cut into its views, not placed yet.
struct CompiledUrl {
    keys: Vec<Box<str>>,
    scan_date: UtcTimestamp,
    full: WithoutResource,
    public: WithoutResource,
}

/// Where `resource` goes in a URL report that has none: just before `url`, where every
/// recorded URL report has it.
const RESOURCE_BEFORE: [&str; 1] = ["url"];

/// A value that must be an object with `response_code` 1.
fn answer_object(value: Value) -> Result<Map<String, Value>, String> {
    let Value::Object(object) = value else {
        return Err("not a JSON object".to_owned());
    };
    match object.get("response_code").and_then(Value::as_i64) {
        Some(1) => Ok(object),
        Some(code) => Err(format!("response_code {code}, not 1")),
        None => Err("no numeric response_code".to_owned()),
    }
}

fn parse(json: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(json).map_err(|e| format!("not valid JSON: {e}"))
}

/// Checks a URL report (its value) and cuts its text (re-spaced, as loaded) into its views.
fn compile_url(value: Value, loaded: &[u8]) -> Result<CompiledUrl, String> {
    let mut object = answer_object(value)?;
    let text = |key: &str| match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("no {key} string")),
    };
    let url = text("url")?;
    let normal = urls::normalise(url.trim()).ok_or_else(|| format!("url {url:?}: not a URL"))?;
    let scan_id = text("scan_id")?;
    if !urls::is_scan_id(scan_id.trim()) {
        return Err(format!("scan_id {scan_id:?}: not <sha256>-<unix seconds>"));
    }
    let scan_date: UtcTimestamp = text("scan_date")?
        .parse()
        .map_err(|e| format!("scan_date: {e}"))?;
    if !object.get("scans").is_some_and(Value::is_object) {
        return Err("no scans object".to_owned());
    }
    let mut keys = vec![
        normal.into_boxed_str(),
        scan_id.trim().to_ascii_lowercase().into(),
    ];
    if let Some(Value::String(resource)) = object.remove("resource") {
        if let Some(key) = url_key(&resource) {
            keys.push(key.into_boxed_str());
        }
    }
    keys.sort();
    keys.dedup();
    let members = json_text::members(loaded);
    let full = json_text::without_resource(&members, &RESOURCE_BEFORE, |_| true);
    let public = json_text::without_resource(&members, &RESOURCE_BEFORE, |key| {
        URL_PUBLIC_FIELDS.contains(&key)
    });
    Ok(CompiledUrl {
        keys,
        scan_date,
        full,
        public,
    })
}

impl Sites {
    /// Adds the URL reports of one document (one report or an array of them): all or none.
    pub(crate) fn add_urls(&mut self, slabs: &mut Slabs, json: &[u8]) -> Result<usize, String> {
        let values = match parse(json)? {
            Value::Array(values) if values.is_empty() => {
                return Err("an empty array, not a URL report".to_owned())
            }
            Value::Array(values) => values,
            value => vec![value],
        };
        let text = json_text::respace(json.trim_ascii());
        let texts = match text.first() {
            Some(b'[') => json_text::items(&text),
            _ => vec![text.as_slice()],
        };
        let many = values.len() > 1;
        let compiled = values
            .into_iter()
            .zip(texts)
            .enumerate()
            .map(|(i, (value, text))| {
                compile_url(value, text).map_err(|e| match many {
                    true => format!("item {i}: not a URL report: {e}"),
                    false => format!("not a URL report: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let added = compiled.len();
        for url in compiled {
            self.insert_url(slabs, url);
        }
        Ok(added)
    }

    /// Keeps the most recent report of a URL (on a tie, the later one); the keys of a
    /// replaced report no longer find anything but its URL.
    fn insert_url(&mut self, slabs: &mut Slabs, url: CompiledUrl) {
        let existing = url.keys.iter().find_map(|k| self.url_index.get(k)).copied();
        if let Some(i) = existing {
            if url.scan_date < self.urls[i].scan_date {
                return;
            }
            for key in std::mem::take(&mut self.urls[i].keys) {
                self.url_index.remove(&key);
            }
        }
        let full = wire::store_members(slabs, &url.full);
        let public = if url.public == url.full {
            full
        } else {
            wire::store_members(slabs, &url.public)
        };
        let views = UrlViews { full, public };
        let entry = UrlEntry {
            keys: url.keys,
            scan_date: url.scan_date,
            views,
        };
        let i = match existing {
            Some(i) => {
                self.urls[i] = entry;
                i
            }
            None => {
                self.urls.push(entry);
                self.urls.len() - 1
            }
        };
        for key in &self.urls[i].keys {
            self.url_index.insert(key.clone(), i);
        }
    }

    /// Adds the answer for a domain (replacing an earlier one).
    pub(crate) fn add_domain(
        &mut self,
        slabs: &mut Slabs,
        domain: &str,
        json: &[u8],
    ) -> Result<(), String> {
        let domain = domain.trim().to_lowercase();
        if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(format!("{domain:?} is not a domain name"));
        }
        answer_object(parse(json)?).map_err(|e| format!("not a domain answer: {e}"))?;
        let span = slabs.append(&json_text::respace(json.trim_ascii()));
        self.domains.insert(domain.into(), span);
        Ok(())
    }

    /// Adds the answer for an IPv4 address (replacing an earlier one).
    pub(crate) fn add_ip(
        &mut self,
        slabs: &mut Slabs,
        ip: &str,
        json: &[u8],
    ) -> Result<(), String> {
        let ip: Ipv4Addr = ip
            .trim()
            .parse()
            .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let object =
            answer_object(parse(json)?).map_err(|e| format!("not an IP address answer: {e}"))?;
        match object.get("asn") {
            None | Some(Value::String(_)) => {}
            Some(Value::Number(n)) if n.is_u64() => {}
            Some(other) => return Err(format!("asn {other}: neither a string nor an integer")),
        }
        let span = slabs.append(&json_text::respace(json.trim_ascii()));
        self.ips.insert(ip, span);
        Ok(())
    }

    /// Adds the `file/behaviour` answer named `name` (a hash of the file, any case), replacing
    /// an earlier one; kept as loaded.
    pub(crate) fn add_behaviour(
        &mut self,
        slabs: &mut Slabs,
        name: &str,
        json: &[u8],
    ) -> Result<(), String> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err("a behaviour report needs a name (a hash of the file)".to_owned());
        }
        keep_raw(slabs, &mut self.behaviours, name, json)
    }

    /// Adds the `file/clusters` answer of a day (`YYYY-MM-DD`), replacing an earlier one;
    /// kept as loaded.
    pub(crate) fn add_clusters(
        &mut self,
        slabs: &mut Slabs,
        day: &str,
        json: &[u8],
    ) -> Result<(), String> {
        let day = day.trim();
        if parse_day(day).is_none() {
            return Err(format!("{day:?} is not a date written YYYY-MM-DD"));
        }
        keep_raw(slabs, &mut self.clusters, day.to_owned(), json)
    }

    /// The stored `file/behaviour` answer named so (lower case).
    pub(crate) fn behaviour(&self, name: &str) -> Option<Span> {
        self.behaviours.get(name).copied()
    }

    /// The stored `file/clusters` answer of a day (`YYYY-MM-DD`).
    pub(crate) fn clusters(&self, day: &str) -> Option<Span> {
        self.clusters.get(day).copied()
    }

    /// How many `file/behaviour` and `file/clusters` answers are held.
    pub(crate) fn extra_counts(&self) -> (usize, usize) {
        (self.behaviours.len(), self.clusters.len())
    }

    /// The stored report of a URL or scan_id, any case of a scan_id, any form of a URL that
    /// normalises the same.
    pub(crate) fn url(&self, key: &str) -> Option<UrlViews> {
        self.url_index.get(key).map(|&i| self.urls[i].views)
    }

    /// The stored answer of a domain (given in lower case).
    pub(crate) fn domain(&self, domain: &str) -> Option<Span> {
        self.domains.get(domain).copied()
    }

    /// The stored answer of an IP address.
    pub(crate) fn ip(&self, ip: Ipv4Addr) -> Option<Span> {
        self.ips.get(&ip).copied()
    }

    /// How many URL reports, domain answers and IP address answers are held.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (self.urls.len(), self.domains.len(), self.ips.len())
    }
}
