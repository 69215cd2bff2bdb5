//! The output of the commands whose records are not one lookup answer each (downloads, the
//! hashes of a search, clusters, a sandbox report): a JSON object a record in jsonl and
//! json, cells in the table and CSV, with the same rules as every other output (service text
//! escaped in the table, CSV cells that cannot run as formulas, records flushed as they
//! come).

use std::io::{self, Write};

use crate::cli::Format;
use crate::output::{bold, csv_field, formula_neutralised, on_one_line, shown};

pub(crate) struct Rows<W: Write> {
    format: Format,
    out: W,
    columns: &'static [&'static str],
    color: bool,
    written: usize,
}

impl<W: Write> Rows<W> {
    /// Records of `columns` (the table's titles in capitals, CSV's header as given).
    pub(crate) fn new(
        format: Format,
        out: W,
        columns: &'static [&'static str],
        color: bool,
    ) -> Self {
        Rows {
            format,
            out,
            columns,
            color,
            written: 0,
        }
    }

    /// Whether records are JSON objects (jsonl, json) rather than cells.
    pub(crate) fn is_json(&self) -> bool {
        matches!(self.format, Format::Jsonl | Format::Json)
    }

    /// How many columns a row has.
    pub(crate) fn width(&self) -> usize {
        self.columns.len()
    }

    /// The header (table, csv) or the opening bracket (json).
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Json => self.out.write_all(b"[")?,
            Format::Jsonl => {}
            Format::Csv => writeln!(self.out, "{}", self.columns.join(","))?,
            Format::Table => {
                let titles: Vec<String> = self.columns.iter().map(|c| c.to_uppercase()).collect();
                writeln!(self.out, "{}", bold(&titles.join("  "), self.color))?;
            }
        }
        self.out.flush()
    }

    /// One record: `json` for jsonl and json (one object), `cells` for the table and CSV
    /// (one per column).
    pub(crate) fn row(&mut self, json: &[u8], cells: &[String]) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                self.out.write_all(&on_one_line(json))?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out
                    .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                self.out.write_all(&on_one_line(json))?;
            }
            Format::Csv => {
                let fields: Vec<String> = cells
                    .iter()
                    .map(|cell| csv_field(&formula_neutralised(cell)))
                    .collect();
                writeln!(self.out, "{}", fields.join(","))?;
            }
            Format::Table => {
                let fields: Vec<String> =
                    cells.iter().map(|cell| shown(cell).into_owned()).collect();
                writeln!(self.out, "{}", fields.join("  ").trim_end())?;
            }
        }
        self.written += 1;
        self.out.flush()
    }

    /// The closing bracket (json), and a final flush.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Json {
            self.out
                .write_all(if self.written == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()
    }
}
