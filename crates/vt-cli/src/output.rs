//! The four output formats, written one record at a time (nothing is held back, so memory
//! stays flat and a pipe sees results as they come). What is the same for every endpoint is
//! here once; what an answer kind shows (its table columns, its CSV header) is its
//! [`AnswerKind`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use vt_api::{Answer, RawAnswer, Report};

use crate::cli::Format;

/// A pipe is flushed at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// How the found reports of one endpoint are shown in the table and in CSV. jsonl and json
/// need nothing of it: they write the service's bytes.
pub(crate) trait AnswerKind: Report {
    /// The table's column titles after RESOURCE and STATUS.
    fn table_header() -> String;
    /// Those columns for a found report (`color`: ANSI colours allowed). Every text of the
    /// service in them goes through [`shown`] before it is painted: the table is for eyes.
    fn table_found(&self, color: bool) -> String;
    /// Those columns for an answer that is not a report (`-` placeholders), before its
    /// message.
    fn table_empty() -> String;
    /// CSV columns after `resource,status`.
    const CSV_HEADER: &'static [&'static str];
    /// The STATUS of a found answer (`response_code` 1): `found`, or what 1 means for this
    /// kind (`submitted` for a scan request).
    fn found_status(&self) -> &'static str {
        "found"
    }
    /// How many engines flagged it, for `--fail-on-positives` (reports with a verdict only).
    fn positives(&self) -> Option<u32> {
        None
    }
    /// What the engines called it, most common first (CSV's `detections`), if it has
    /// detections.
    fn detection_names(&self) -> String {
        String::new()
    }
    /// Those columns for a found report, one per header column.
    fn csv_found(&self) -> Vec<String>;
}

/// What happened to one input. The answer of a table or CSV record has been decoded
/// already (a failure to decode is a `Failed` record).
#[derive(Debug)]
pub(crate) enum Record<'a, T> {
    Answer {
        /// The resource as given.
        resource: &'a str,
        answer: &'a RawAnswer<T>,
        path: Option<&'a Path>,
        /// When the answer was fetched, if it came from the cache.
        cached_at: Option<SystemTime>,
        /// The input's label, if it had one.
        label: Option<&'a str>,
    },
    Failed {
        resource: Option<&'a str>,
        kind: &'a str,
        message: &'a str,
        path: Option<&'a Path>,
        label: Option<&'a str>,
    },
}

impl<T> Record<'_, T> {
    fn path(&self) -> Option<&Path> {
        match self {
            Record::Answer { path, .. } | Record::Failed { path, .. } => *path,
        }
    }

    fn label(&self) -> Option<&str> {
        match self {
            Record::Answer { label, .. } | Record::Failed { label, .. } => *label,
        }
    }

    fn resource(&self) -> &str {
        match self {
            Record::Answer { resource, .. } => resource,
            Record::Failed { resource, .. } => resource.unwrap_or("-"),
        }
    }
}

/// Settings of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableLayout {
    pub(crate) resource_width: usize,
    /// `Some(width)` when there is a path column.
    pub(crate) path_width: Option<usize>,
    pub(crate) color: bool,
}

/// Writes records in one format.
pub(crate) struct Output<W: Write, T> {
    format: Format,
    out: W,
    layout: TableLayout,
    written: usize,
    /// True: flush after every record (a terminal).
    eager: bool,
    /// The terminal's width, when the table goes to one: rows are cut to it.
    width: Option<usize>,
    last_flush: Instant,
    /// `--include` / `--exclude`, for jsonl and json.
    fields: Option<crate::fields::FieldFilter>,
    kind: std::marker::PhantomData<fn(&T)>,
}

impl<W: Write, T: AnswerKind> Output<W, T> {
    pub(crate) fn new(format: Format, out: W, layout: TableLayout, eager: bool) -> Output<W, T> {
        Output {
            format,
            out,
            layout,
            written: 0,
            eager,
            width: (eager && format == Format::Table)
                .then(|| console::Term::stdout().size_checked())
                .flatten()
                .map(|(_, columns)| usize::from(columns))
                .filter(|&columns| columns >= 20),
            last_flush: Instant::now(),
            fields: None,
            kind: std::marker::PhantomData,
        }
    }

    /// Filters the fields of the jsonl and json records.
    pub(crate) fn with_fields(mut self, fields: Option<crate::fields::FieldFilter>) -> Self {
        self.fields = fields;
        self
    }

    /// The header (table, csv) or the opening bracket (json).
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Json => self.out.write_all(b"[")?,
            Format::Jsonl => {}
            Format::Csv => {
                self.out.write_all(b"resource,status")?;
                for column in T::CSV_HEADER {
                    self.out.write_all(b",")?;
                    self.out.write_all(column.as_bytes())?;
                }
                if self.layout.path_width.is_some() {
                    self.out.write_all(b",path")?;
                }
                // After the columns scripts already read, so that they keep working.
                self.out
                    .write_all(b",cached_at,detections,message,error_kind,label\n")?;
            }
            Format::Table => {
                let l = self.layout;
                let mut line = String::new();
                if let Some(w) = l.path_width {
                    line.push_str(&format!("{:<w$}  ", "PATH"));
                }
                line.push_str(&format!(
                    "{:<rw$}  {:<9}  {:<5}  {}",
                    "RESOURCE",
                    "STATUS",
                    "AGE",
                    T::table_header(),
                    rw = l.resource_width
                ));
                let line = fitted(&line, self.width, false);
                writeln!(self.out, "{}", bold(&line, l.color))?;
            }
        }
        self.flush_if_due()
    }

    pub(crate) fn write(&mut self, record: &Record<'_, T>) -> io::Result<()> {
        match self.format {
            Format::Jsonl if self.fields.is_some() => {
                let filtered = self.filtered(record);
                self.out.write_all(&filtered)?;
                self.out.write_all(b"\n")?;
            }
            Format::Jsonl => {
                match record {
                    // The common case: the service's bytes, as they came.
                    Record::Answer {
                        answer,
                        path: None,
                        label: None,
                        ..
                    } if one_line(answer.bytes()) => self.out.write_all(answer.bytes())?,
                    _ => self.out.write_all(&json_record(record))?,
                }
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out
                    .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                let json = self.filtered(record);
                self.out.write_all(&json)?;
            }
            Format::Csv => self.csv(record)?,
            Format::Table => self.table(record)?,
        }
        self.written += 1;
        self.flush_if_due()
    }

    /// The closing bracket (json), and a final flush.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Json {
            self.out
                .write_all(if self.written == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()
    }

    /// The record's JSON, through `--include` / `--exclude` when given.
    fn filtered(&self, record: &Record<'_, T>) -> Vec<u8> {
        let json = json_record(record);
        match &self.fields {
            Some(fields) => fields.apply(&json),
            None => json,
        }
    }

    /// Where the records go.
    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Sends what has been written on, now.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        self.out.flush()
    }

    fn flush_if_due(&mut self) -> io::Result<()> {
        if self.eager || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.out.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    fn csv(&mut self, record: &Record<'_, T>) -> io::Result<()> {
        let blank = || std::iter::repeat_n(String::new(), T::CSV_HEADER.len());
        let mut fields: Vec<String> = match record {
            Record::Answer { answer, .. } => {
                let mut fields = vec![record.resource().to_owned(), status_of(answer).to_owned()];
                match typed(answer).and_then(Answer::as_found) {
                    Some(report) => fields.extend(report.csv_found()),
                    None => fields.extend(blank()),
                }
                fields
            }
            Record::Failed { .. } => {
                let mut fields = vec![record.resource().to_owned(), "error".to_owned()];
                fields.extend(blank());
                if fields[0] == "-" {
                    fields[0].clear();
                }
                fields
            }
        };
        if self.layout.path_width.is_some() {
            fields.push(
                record
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        match record {
            Record::Answer {
                answer, cached_at, ..
            } => fields.extend([
                cached_at.map(crate_utc).unwrap_or_default(),
                typed(answer)
                    .and_then(Answer::as_found)
                    .map(T::detection_names)
                    .unwrap_or_default(),
                typed(answer)
                    .and_then(Answer::verbose_msg)
                    .unwrap_or_default()
                    .to_owned(),
                String::new(),
            ]),
            Record::Failed { kind, message, .. } => fields.extend([
                String::new(),
                String::new(),
                (*message).to_owned(),
                (*kind).to_owned(),
            ]),
        }
        fields.push(record.label().unwrap_or_default().to_owned());
        // Every field, not only the service's: one rule is easier to trust than a list, and
        // the numbers and statuses vt writes itself never start with a formula character.
        let line: Vec<String> = fields
            .iter()
            .map(|f| csv_field(&formula_neutralised(f)))
            .collect();
        writeln!(self.out, "{}", line.join(","))
    }

    /// One row: every text that is not vt's own (paths, resources, the service's messages
    /// and report fields, error messages) goes through [`shown`], so a file name or an answer
    /// cannot move the cursor, erase rows or add lines.
    fn table(&mut self, record: &Record<'_, T>) -> io::Result<()> {
        let l = self.layout;
        let mut line = String::new();
        if let Some(w) = l.path_width {
            let path = record
                .path()
                .map(|p| p.to_string_lossy())
                .unwrap_or(Cow::Borrowed("-"));
            let path = shown(&path);
            line.push_str(&format!("{path:<w$}  "));
        }
        line.push_str(&format!(
            "{:<rw$}  ",
            shown(record.resource()),
            rw = l.resource_width
        ));
        match record {
            Record::Answer {
                answer, cached_at, ..
            } => {
                line.push_str(&format!(
                    "{:<9}  {:<5}  ",
                    status_of(answer),
                    cached_at.map_or("-".to_owned(), cache_age)
                ));
                let typed = typed(answer);
                match typed.and_then(Answer::as_found) {
                    Some(report) => line.push_str(&report.table_found(l.color)),
                    None => {
                        line.push_str(&T::table_empty());
                        line.push_str(&shown(typed.and_then(Answer::verbose_msg).unwrap_or("")));
                    }
                }
            }
            Record::Failed { message, .. } => {
                line.push_str(&paint(&format!("{:<9}", "error"), RED, l.color));
                line.push_str(&format!(
                    "  {:<5}  {}{}",
                    "-",
                    T::table_empty(),
                    shown(message)
                ));
            }
        }
        if let Some(label) = record.label() {
            line.push_str(&format!("  # {}", shown(label)));
        }
        let line = fitted(line.trim_end(), self.width, l.color);
        writeln!(self.out, "{line}")
    }
}

/// The STATUS cell: the outcome, in the answer kind's words when found.
fn status_of<T: AnswerKind>(answer: &RawAnswer<T>) -> &'static str {
    match typed(answer).and_then(Answer::as_found) {
        Some(report) => report.found_status(),
        None => answer.status().as_str(),
    }
}

/// The typed view of an answer, which the writer of a table or CSV record has decoded
/// already (a failure is written as an error record instead).
fn typed<T: Report>(answer: &RawAnswer<T>) -> Option<&Answer<T>> {
    answer.answer().ok()
}

/// Whether bytes fit on one line of JSON Lines (a pretty-printed answer does not: it is
/// re-encoded compactly instead, as the same JSON value).
fn one_line(raw: &[u8]) -> bool {
    memchr::memchr2(b'\n', b'\r', raw).is_none()
}

/// The jsonl/json record: the service's object as received (on one line, with `"path"` added
/// for `--hash`), or `{"resource": ..., "error": {"kind": ..., "message": ...}}`. Never the
/// typed view: the bytes pass through.
pub(crate) fn json_record<T>(record: &Record<'_, T>) -> Vec<u8> {
    let mut bytes = match record {
        Record::Answer { answer, .. } => on_one_line(answer.bytes()),
        Record::Failed {
            resource,
            kind,
            message,
            ..
        } => {
            let resource = resource.map_or_else(|| "null".to_owned(), json_string);
            format!(
                r#"{{"resource":{resource},"error":{{"kind":{},"message":{}}}}}"#,
                json_string(kind),
                json_string(message)
            )
            .into_bytes()
        }
    };
    let extra = [
        ("path", record.path().map(|p| p.to_string_lossy())),
        ("label", record.label().map(std::borrow::Cow::Borrowed)),
    ];
    for (key, value) in extra {
        // The object ends with `}`; the key goes in as its last.
        if let (Some(value), Some(b'}')) = (value, bytes.last()) {
            if bytes.len() > 2 {
                bytes.pop();
                bytes.extend_from_slice(format!(",\"{key}\":").as_bytes());
                bytes.extend_from_slice(json_string(&value).as_bytes());
                bytes.push(b'}');
            }
        }
    }
    bytes
}

/// JSON bytes on one line: line breaks are whitespace outside strings (inside, they are
/// escaped), so a pretty-printed body becomes one line, the same JSON value.
pub(crate) fn on_one_line(json: &[u8]) -> Vec<u8> {
    let mut bytes = json.to_vec();
    for byte in &mut bytes {
        if matches!(*byte, b'\n' | b'\r') {
            *byte = b' ';
        }
    }
    bytes
}

/// `line` cut to `width` columns with an ellipsis at the end (the last columns, detections
/// and messages, are the long ones); vt's own colour codes are not counted, and a cut inside
/// a painted cell ends the colour.
fn fitted(line: &str, width: Option<usize>, color: bool) -> Cow<'_, str> {
    let Some(width) = width else {
        return Cow::Borrowed(line);
    };
    let mut shown = 0;
    let mut in_escape = false;
    for (at, c) in line.char_indices() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => {
                if shown + 1 == width
                    && line[at..]
                        .chars()
                        .filter(|c| !c.is_control())
                        .nth(1)
                        .is_some()
                {
                    let reset = if color { "\x1b[0m" } else { "" };
                    return Cow::Owned(format!("{}…{reset}", &line[..at]));
                }
                shown += 1;
            }
        }
    }
    Cow::Borrowed(line)
}

/// A time as the service writes it, UTC: `YYYY-MM-DD HH:MM:SS`.
fn crate_utc(at: SystemTime) -> String {
    vt_api::format_utc(at).trim_end_matches(" UTC").to_owned()
}

/// How long ago an answer was fetched, short: `12s`, `5m`, `3h`, `2d`.
fn cache_age(at: SystemTime) -> String {
    crate::ui::age(SystemTime::now().duration_since(at).unwrap_or_default())
}

pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Text as it may be shown to a person (a table row, a line on stderr): every character that
/// a terminal would act on instead of showing, or that reorders what is shown, is written as
/// a visible escape, so a file name or a service's answer cannot erase rows, add fake ones,
/// retitle the window or reverse a name. `\n`, `\r` and `\t` by name; the other C0
/// controls and DEL as `\x1b`; the C1 controls and the bidi overrides and isolates
/// (U+202A-U+202E, U+2066-U+2069) as `\u{9b}`. A backslash is kept as it is, so that
/// ordinary text (a Windows path) shows unchanged. Borrowed when nothing needs escaping,
/// which is nearly always.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(must_be_escaped) else {
        return Cow::Borrowed(text);
    };
    let mut escaped = String::with_capacity(text.len() + 8);
    escaped.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(escaped, "\\x{:02x}", u32::from(c));
            }
            c if must_be_escaped(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// C0 controls, DEL, C1 controls, and the bidi embeddings, overrides and isolates.
fn must_be_escaped(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A CSV field a spreadsheet will not run as a formula (the OWASP rule): one that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front. Otherwise as it is:
/// CSV is for programs too, and keeps the bytes.
pub(crate) fn formula_neutralised(field: &str) -> Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}

pub(crate) fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

pub(crate) const RED: &str = "31";
const YELLOW: &str = "33";
const GREEN: &str = "32";

/// The colour of a detection ratio: green for none, yellow for one or two, red beyond.
pub(crate) fn ratio_color(positives: u32) -> &'static str {
    match positives {
        0 => GREEN,
        1..=2 => YELLOW,
        _ => RED,
    }
}

pub(crate) fn paint(text: &str, color: &str, on: bool) -> String {
    if on {
        format!("\x1b[{color}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

pub(crate) fn bold(text: &str, on: bool) -> String {
    paint(text, "1", on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn shown_borrows_clean_text_unicode_and_backslashes_included() {
        for clean in [
            "",
            "Trojan.Generic.3611249",
            "http://пример.test/путь",
            r"C:\Users\me\x.exe",
            "名前 😀",
        ] {
            assert!(matches!(shown(clean), Cow::Borrowed(_)), "{clean}");
        }
    }

    #[test]
    fn shown_escapes_every_c0_control_del_and_c1_control() {
        assert_eq!(shown("a\nb\rc\td"), r"a\nb\rc\td");
        assert_eq!(shown("\x1b[1A\x1b[2K\x07\0"), r"\x1b[1A\x1b[2K\x07\x00");
        assert_eq!(shown("\x7f"), r"\x7f");
        assert_eq!(shown("\u{9b}31m\u{85}"), r"\u{9b}31m\u{85}");
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(c).unwrap();
            let text = c.to_string();
            let escaped = shown(&text);
            assert!(
                escaped.starts_with('\\') && !escaped.chars().any(char::is_control),
                "{c:?} shown as {escaped:?}"
            );
        }
        // The first character that is not a control, either side, is kept as it is.
        assert_eq!(shown("\u{a0}é\u{1f}"), "\u{a0}é\\x1f");
    }

    #[test]
    fn shown_escapes_the_bidi_overrides_and_isolates() {
        assert_eq!(shown("exe.\u{202e}txt"), r"exe.\u{202e}txt");
        for c in (0x202a..=0x202e).chain(0x2066..=0x2069) {
            let text = char::from_u32(c).unwrap().to_string();
            assert_eq!(shown(&text), format!("\\u{{{c:x}}}"));
        }
        // Marks that do not reorder (LRM) and their neighbours are left alone.
        assert!(matches!(
            shown("\u{200e}\u{2029}\u{206a}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn csv_fields_that_a_spreadsheet_would_run_get_a_quote_in_front() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(formula_neutralised(formula), format!("'{formula}"));
        }
        for plain in ["", "https://x.test/=1", "a=b", "0", "'already"] {
            assert!(matches!(formula_neutralised(plain), Cow::Borrowed(_)));
        }
        // Neutralised, then quoted as CSV needs.
        assert_eq!(
            csv_field(&formula_neutralised(r#"=HYPERLINK("http://evil","x")"#)),
            r#""'=HYPERLINK(""http://evil"",""x"")""#
        );
    }

    #[test]
    fn a_failed_record_puts_the_resource_first() {
        let record: Record<'_, vt_api::FileReport> = Record::Failed {
            resource: Some("abc"),
            kind: "timeout",
            message: "no \"answer\"",
            path: Some(Path::new("/tmp/x y")),
            label: Some("ticket 1"),
        };
        assert_eq!(
            String::from_utf8(json_record(&record)).unwrap(),
            r#"{"resource":"abc","error":{"kind":"timeout","message":"no \"answer\""},"path":"/tmp/x y","label":"ticket 1"}"#
        );
    }
}
