//! The four output formats, written one record at a time (nothing is held back, so memory
//! stays flat and a pipe sees results as they come).

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use vt_api::FileReportAnswer;

use crate::cli::Format;

/// How many detection names the table shows.
const TOP_NAMES: usize = 3;
/// A pipe is flushed at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// What happened to one input.
#[derive(Debug)]
pub(crate) enum Record<'a> {
    Answer {
        /// The resource as given.
        resource: &'a str,
        answer: &'a FileReportAnswer,
        /// The answer's bytes as the service sent them, when known.
        raw: Option<&'a [u8]>,
        path: Option<&'a Path>,
    },
    Failed {
        resource: Option<&'a str>,
        kind: &'a str,
        message: &'a str,
        path: Option<&'a Path>,
    },
}

impl Record<'_> {
    fn path(&self) -> Option<&Path> {
        match self {
            Record::Answer { path, .. } | Record::Failed { path, .. } => *path,
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
pub(crate) struct Output<W: Write> {
    format: Format,
    out: W,
    layout: TableLayout,
    written: usize,
    /// True: flush after every record (a terminal).
    eager: bool,
    last_flush: Instant,
}

impl<W: Write> Output<W> {
    pub(crate) fn new(format: Format, out: W, layout: TableLayout, eager: bool) -> Output<W> {
        Output {
            format,
            out,
            layout,
            written: 0,
            eager,
            last_flush: Instant::now(),
        }
    }

    /// The header (table, csv) or the opening bracket (json).
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Json => self.out.write_all(b"[")?,
            Format::Jsonl => {}
            Format::Csv => {
                self.out.write_all(
                    b"resource,status,positives,total,scan_date,md5,sha1,sha256,permalink",
                )?;
                if self.layout.path_width.is_some() {
                    self.out.write_all(b",path")?;
                }
                self.out.write_all(b"\n")?;
            }
            Format::Table => {
                let l = self.layout;
                let mut line = String::new();
                if let Some(w) = l.path_width {
                    line.push_str(&format!("{:<w$}  ", "PATH"));
                }
                line.push_str(&format!(
                    "{:<rw$}  {:<9}  {:>7}  {:<19}  DETECTIONS",
                    "RESOURCE",
                    "STATUS",
                    "RATIO",
                    "SCAN DATE",
                    rw = l.resource_width
                ));
                writeln!(self.out, "{}", bold(&line, l.color))?;
            }
        }
        self.flush_if_due()
    }

    pub(crate) fn write(&mut self, record: &Record<'_>) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                match record {
                    // The common case: the service's bytes, as they came.
                    Record::Answer {
                        raw: Some(raw),
                        path: None,
                        ..
                    } if one_line(raw) => self.out.write_all(raw)?,
                    Record::Answer {
                        answer, path: None, ..
                    } => serde_json::to_writer(&mut self.out, answer).map_err(io::Error::from)?,
                    _ => self.out.write_all(&json_record(record))?,
                }
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out
                    .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                self.out.write_all(&json_record(record))?;
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

    fn flush_if_due(&mut self) -> io::Result<()> {
        if self.eager || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.out.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    fn csv(&mut self, record: &Record<'_>) -> io::Result<()> {
        let mut fields: Vec<String> = match record {
            Record::Answer { answer, .. } => {
                let mut fields = vec![record.resource().to_owned(), answer.status().to_owned()];
                match answer.as_found() {
                    Some(r) => fields.extend([
                        r.positives.to_string(),
                        r.total.to_string(),
                        r.scan_date.to_string(),
                        r.md5.clone(),
                        r.sha1.clone(),
                        r.sha256.clone(),
                        r.permalink.clone(),
                    ]),
                    None => fields.extend(std::iter::repeat_n(String::new(), 7)),
                }
                fields
            }
            Record::Failed { .. } => {
                let mut fields = vec![record.resource().to_owned(), "error".to_owned()];
                fields.extend(std::iter::repeat_n(String::new(), 7));
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
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(self.out, "{}", line.join(","))
    }

    fn table(&mut self, record: &Record<'_>) -> io::Result<()> {
        let l = self.layout;
        let mut line = String::new();
        if let Some(w) = l.path_width {
            let path = record
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "-".to_owned());
            line.push_str(&format!("{path:<w$}  "));
        }
        line.push_str(&format!(
            "{:<rw$}  ",
            record.resource(),
            rw = l.resource_width
        ));
        match record {
            Record::Answer { answer, .. } => {
                line.push_str(&format!("{:<9}  ", answer.status()));
                match answer.as_found() {
                    Some(report) => {
                        let ratio = report.detection_ratio();
                        let text = format!("{:>7}", ratio.to_string());
                        line.push_str(&paint(&text, ratio_color(ratio.positives), l.color));
                        line.push_str(&format!("  {}  ", report.scan_date));
                        let names: Vec<String> = report
                            .top_detection_names(TOP_NAMES)
                            .into_iter()
                            .map(|(name, count)| {
                                if count > 1 {
                                    format!("{name} ({count})")
                                } else {
                                    name.to_owned()
                                }
                            })
                            .collect();
                        line.push_str(&names.join(", "));
                    }
                    None => {
                        line.push_str(&format!("{:>7}  {:<19}  ", "-", "-"));
                        line.push_str(answer.verbose_msg().unwrap_or(""));
                    }
                }
            }
            Record::Failed { message, .. } => {
                line.push_str(&paint(&format!("{:<9}", "error"), RED, l.color));
                line.push_str(&format!("  {:>7}  {:<19}  {message}", "-", "-"));
            }
        }
        writeln!(self.out, "{}", line.trim_end())
    }
}

/// Whether bytes fit on one line of JSON Lines (a pretty-printed answer does not: it is
/// re-encoded compactly instead, as the same JSON value).
fn one_line(raw: &[u8]) -> bool {
    memchr::memchr2(b'\n', b'\r', raw).is_none()
}

/// The jsonl/json record: the service's object as received (with `"path"` added for
/// `--hash`), or `{"resource": ..., "error": {"kind": ..., "message": ...}}`.
pub(crate) fn json_record(record: &Record<'_>) -> Vec<u8> {
    let mut bytes = match record {
        Record::Answer { raw: Some(raw), .. } if one_line(raw) => raw.to_vec(),
        Record::Answer { answer, .. } => {
            serde_json::to_vec(answer).unwrap_or_else(|e| {
                // The model's types always encode; keep the promise of one record anyway.
                let message = json_string(&e.to_string());
                format!(r#"{{"resource":null,"error":{{"kind":"encode","message":{message}}}}}"#)
                    .into_bytes()
            })
        }
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
    if let Some(path) = record.path() {
        // The object ends with `}`; `path` goes in as its last key.
        if bytes.last() == Some(&b'}') && bytes.len() > 2 {
            bytes.pop();
            bytes.extend_from_slice(b",\"path\":");
            bytes.extend_from_slice(json_string(&path.to_string_lossy()).as_bytes());
            bytes.push(b'}');
        }
    }
    bytes
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

const RED: &str = "31";
const YELLOW: &str = "33";
const GREEN: &str = "32";

fn ratio_color(positives: u32) -> &'static str {
    match positives {
        0 => GREEN,
        1..=2 => YELLOW,
        _ => RED,
    }
}

fn paint(text: &str, color: &str, on: bool) -> String {
    if on {
        format!("\x1b[{color}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn bold(text: &str, on: bool) -> String {
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
    fn a_failed_record_puts_the_resource_first() {
        let record = Record::Failed {
            resource: Some("abc"),
            kind: "timeout",
            message: "no \"answer\"",
            path: Some(Path::new("/tmp/x y")),
        };
        assert_eq!(
            String::from_utf8(json_record(&record)).unwrap(),
            r#"{"resource":"abc","error":{"kind":"timeout","message":"no \"answer\""},"path":"/tmp/x y"}"#
        );
    }
}
