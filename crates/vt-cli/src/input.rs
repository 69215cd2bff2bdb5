//! Reading and validating what to look up (hashes, URLs, domains, IP addresses), before
//! anything is sent.
//!
//! Every input is validated first; a bad one stops the run with exit status 2, naming the
//! value and where it was. Valid inputs are kept in memory up to a bound, then spooled to an
//! anonymous temporary file, so a run over millions of hashes uses flat memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vt_api::{ApiKey, Query, RepeatCounter, Resource};
use vt_cli::list::ListReader;

use crate::UsageError;

/// Resources held in memory before the list moves to a temporary file.
const IN_MEMORY: usize = 50_000;
/// How many bad inputs are listed before the rest are only counted.
const ERRORS_SHOWN: usize = 10;

/// A query users type: how it is read from their text. Implemented by each kind a command
/// takes.
pub(crate) trait Input: Query {
    /// Validates one input (trimmed by the caller's rules); the error names what is wrong.
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error>;

    /// What the user may have meant by an input that is not valid (a path, a URL given
    /// to a hash lookup...), if something fits.
    fn did_you_mean(_text: &str) -> Option<String> {
        None
    }
}

impl Input for Resource {
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error> {
        Resource::parse(text)
    }

    fn did_you_mean(text: &str) -> Option<String> {
        let text = text.trim();
        let hex = text.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && !text.is_empty() {
            return Some(format!(
                "it has {} hex digits, where an MD5 has 32, a SHA-1 40 and a SHA-256 64",
                text.len()
            ));
        }
        if Path::new(text).is_dir() {
            return Some(format!(
                "{text} is a folder: to look its files up, use --hash {text}"
            ));
        }
        if Path::new(text).exists() {
            return Some(format!(
                "{text} is a file: to look it up by its hash, use --hash {text}"
            ));
        }
        if vt_api::Url::parse(text).is_ok() && text.contains(['.', '/']) {
            return Some(format!("to look up a URL, use: vt url report {text}"));
        }
        None
    }
}

impl Input for vt_api::Subject {
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error> {
        vt_api::Subject::parse(text)
    }
}

impl Input for vt_api::Url {
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error> {
        vt_api::Url::parse(text)
    }
}

impl Input for vt_api::Domain {
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error> {
        vt_api::Domain::parse(text)
    }
}

impl Input for vt_api::IpAddress {
    fn parse_input(text: &str) -> Result<Self, vt_api::vt_model::Error> {
        vt_api::IpAddress::parse(text)
    }
}

/// The validated inputs, in input order.
#[derive(Debug)]
pub(crate) struct Inputs<Q> {
    memory: Vec<Labelled<Q>>,
    spool: Option<BufWriter<File>>,
    len: usize,
    /// The widest resource, for the table.
    pub(crate) max_width: usize,
    /// Counts the inputs, when repeats are to be answered without a cache.
    pub(crate) repeats: Option<RepeatCounter>,
}

/// Where an input came from, for messages.
enum Origin<'a> {
    Argument(usize),
    Line(u64, &'a str),
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Argument(n) => write!(f, "argument {n}"),
            Origin::Line(n, source) => write!(f, "line {n} of {source}"),
        }
    }
}

struct Validator<'k, Q> {
    resources: Inputs<Q>,
    errors: Vec<String>,
    bad: usize,
    /// The API key, which must not be sent as a resource nor quoted in an error (a key file
    /// or the config file given to `--input` by mistake).
    key: Option<&'k ApiKey>,
    options: ReadOptions,
}

/// How lists are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadOptions {
    /// Count the inputs, so that repeats far apart are answered once without the cache.
    pub(crate) count_repeats: bool,
    /// Say bad lines on stderr and go on, instead of refusing the list.
    pub(crate) skip_invalid: bool,
    /// Take every hash found anywhere in the text (logs, reports, e-mails).
    pub(crate) extract: bool,
    /// The lists are CSV with a header, the inputs in this column.
    pub(crate) column: Option<Column>,
}

/// `--column NAME|N`: the lists are CSV with a header, and this column holds the inputs.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    Named(String),
    Numbered(usize),
}

impl std::str::FromStr for Column {
    type Err = String;

    fn from_str(text: &str) -> Result<Column, String> {
        match text.trim().parse::<usize>() {
            Ok(0) => Err("columns are numbered from 1".to_owned()),
            Ok(n) => Ok(Column::Numbered(n)),
            Err(_) if text.trim().is_empty() => Err("give a column name or number".to_owned()),
            Err(_) => Ok(Column::Named(text.trim().to_owned())),
        }
    }
}

/// The cells of one CSV line (RFC 4180: quoted cells may hold commas and doubled quotes).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// An input and the label it came with (a file name of `sha256sum` output, a trailing
/// comment), carried into its record.
pub(crate) type Labelled<Q> = (Q, Option<Box<str>>);

impl<'k, Q: Input> Validator<'k, Q> {
    fn new(key: Option<&'k ApiKey>, options: ReadOptions) -> Validator<'k, Q> {
        let mut resources = Inputs::new();
        if options.count_repeats {
            resources.repeats = Some(RepeatCounter::default());
        }
        Validator {
            resources,
            errors: Vec::new(),
            bad: 0,
            key,
            options,
        }
    }

    /// One input: `text`, or `TEXT  label` (as `sha256sum` writes `HASH  name`), with the
    /// line's `comment` as (more of) its label.
    fn take(&mut self, text: &str, origin: Origin<'_>, comment: &str) -> Result<()> {
        if self.key.is_some_and(|key| key.matches(text)) {
            self.reject(format!(
                "{origin}: this is the API key; it is not sent as a resource"
            ));
            return Ok(());
        }
        let from_a_list = matches!(origin, Origin::Line(..));
        let parsed = Q::parse_input(text)
            .map(|query| (query, None))
            .or_else(|error| {
                // A line of a list as `HASH  name`, `HASH *name` (binary mode) or `URL  note`:
                // the first word is the input, the rest its label. (An argument is one input.)
                let (first, rest) = text
                    .split_once(char::is_whitespace)
                    .filter(|_| from_a_list)
                    .ok_or(error.clone())?;
                let query = Q::parse_input(first).map_err(|_| error)?;
                let rest = rest.trim_start().trim_start_matches('*');
                Ok::<_, vt_api::vt_model::Error>((query, Some(rest)))
            });
        match parsed {
            Ok((query, name)) => {
                let label = match (name.filter(|n| !n.is_empty()), comment) {
                    (Some(name), "") => Some(name.to_owned()),
                    (Some(name), comment) => Some(format!("{name}; {comment}")),
                    (None, "") => None,
                    (None, comment) => Some(comment.to_owned()),
                };
                self.resources
                    .push(query, label.map(String::into_boxed_str))
            }
            Err(error) => {
                let message = match Q::did_you_mean(text) {
                    Some(hint) => format!("{origin}: {error}\n  did you mean: {hint}"),
                    None => format!("{origin}: {error}"),
                };
                let message = match self.key {
                    Some(key) => key.redact(&message).into_owned(),
                    None => message,
                };
                self.reject(message);
                Ok(())
            }
        }
    }

    /// `--extract`: every MD5, SHA-1 and SHA-256 in `text` (runs of exactly 32, 40 or 64
    /// hex digits between non-alphanumeric characters), each an input labelled by its line.
    fn extract(&mut self, text: &str, origin: Origin<'_>) -> Result<()> {
        let label = origin.to_string();
        for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            if matches!(word.len(), 32 | 40 | 64) && word.bytes().all(|b| b.is_ascii_hexdigit()) {
                if let Ok(query) = Q::parse_input(word) {
                    self.resources
                        .push(query, Some(label.clone().into_boxed_str()))?;
                }
            }
        }
        Ok(())
    }

    /// Counts a bad input, keeping its message if it is among the first few; with
    /// `--skip-invalid`, says it on stderr instead.
    fn reject(&mut self, message: String) {
        if self.options.skip_invalid {
            crate::ui::eprint_line(&format!("vt: skipped {message}"));
            return;
        }
        self.bad += 1;
        if self.errors.len() < ERRORS_SHOWN {
            self.errors.push(message);
        }
    }
}

impl<Q: Input> Inputs<Q> {
    fn new() -> Inputs<Q> {
        Inputs {
            memory: Vec::new(),
            spool: None,
            len: 0,
            max_width: 0,
            repeats: None,
        }
    }

    fn push(&mut self, query: Q, label: Option<Box<str>>) -> Result<()> {
        self.len += 1;
        self.max_width = self.max_width.max(query.wire_text().chars().count());
        if let Some(counter) = &mut self.repeats {
            counter.add(&query);
        }
        if self.spool.is_none() && self.memory.len() < IN_MEMORY {
            self.memory.push((query, label));
            return Ok(());
        }
        let spool = match &mut self.spool {
            Some(spool) => spool,
            None => self.spool.insert(BufWriter::new(
                tempfile::tempfile().context("cannot create a temporary file for the input")?,
            )),
        };
        // One a line, the label after a tab: no valid input holds a line break or a tab, and
        // a label's are made spaces.
        let label: String = label
            .as_deref()
            .unwrap_or("")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(spool, "{}\t{label}", query.wire_text()).context("cannot spool the input")
    }

    /// How many inputs.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The inputs with their labels, in input order; reading the spool back is lazy.
    pub(crate) fn into_iter(self) -> Result<Box<dyn Iterator<Item = Labelled<Q>> + Send>> {
        let memory = self.memory.into_iter();
        let Some(spool) = self.spool else {
            return Ok(Box::new(memory));
        };
        let mut file = spool
            .into_inner()
            .map_err(|e| e.into_error())
            .context("cannot spool the input")?;
        file.rewind().context("cannot read the spooled input")?;
        let lines = BufReader::new(file)
            .lines()
            .map_while(|line| line.ok())
            .filter_map(|line| {
                let (text, label) = line.split_once('\t').unwrap_or((&line, ""));
                let label = (!label.is_empty()).then(|| label.into());
                Some((Q::parse_input(text).ok()?, label))
            });
        Ok(Box::new(memory.chain(lines)))
    }
}

/// Reads the positional inputs, then each `--input` file (`-` is stdin), validating
/// everything; any bad input is a [`UsageError`] listing the first few. The API `key`, if
/// known, is refused as an input and never quoted. With `count_repeats` (a run without the
/// cache), the inputs are counted as they are read, so that an input that comes again far
/// down the list is answered without asking again.
pub(crate) fn read<Q: Input>(
    arguments: &[String],
    inputs: &[PathBuf],
    key: Option<&ApiKey>,
    options: ReadOptions,
) -> Result<Inputs<Q>> {
    let mut validator = Validator::new(key, options);
    for (i, text) in arguments.iter().enumerate() {
        validator.take(text, Origin::Argument(i + 1), "")?;
    }
    let mut stdin_used = false;
    for path in inputs {
        if path == Path::new("-") {
            if stdin_used {
                return Err(UsageError::new("stdin (-) given twice as --input").into());
            }
            stdin_used = true;
            read_lines(io::stdin().lock(), "stdin", &mut validator)?;
        } else {
            if path.is_dir() {
                return Err(UsageError::new(format!(
                    "--input {} is a folder, not a list; to hash the files in it, use --hash {}",
                    path.display(),
                    path.display()
                ))
                .into());
            }
            let file = File::open(path).map_err(|e| {
                UsageError::new(format!("cannot read --input {}: {e}", path.display()))
            })?;
            read_lines(file, &path.display().to_string(), &mut validator)?;
        }
    }
    if validator.bad > 0 {
        let mut message = validator.errors.join("\n");
        if validator.bad > validator.errors.len() {
            message.push_str(&format!(
                "\n... and {} more invalid inputs",
                validator.bad - validator.errors.len()
            ));
        }
        message.push_str("\nnothing was sent");
        return Err(UsageError::new(message).into());
    }
    Ok(validator.resources)
}

/// The lists to read: those given; or, when nothing at all was given (`other_input`: e.g.
/// `--hash`) and stdin is piped, stdin (`cat list | vt file report`).
pub(crate) fn lists_or_piped_stdin(
    arguments: &[String],
    inputs: &[PathBuf],
    other_input: bool,
) -> Vec<PathBuf> {
    use std::io::IsTerminal;
    let nothing = arguments.is_empty() && inputs.is_empty() && !other_input;
    if nothing && !io::stdin().is_terminal() {
        return vec![PathBuf::from("-")];
    }
    inputs.to_vec()
}

/// The error when nothing is left to look up: the lists read were empty (said by name), or
/// nothing was given at all (`how` says what to give).
pub(crate) fn nothing_to_look_up(lists: &[PathBuf], how: &str) -> UsageError {
    if lists.is_empty() {
        return UsageError::new(format!("nothing to look up: {how}"));
    }
    let names: Vec<String> = lists
        .iter()
        .map(|path| match path.to_str() {
            Some("-") => "stdin".to_owned(),
            _ => path.display().to_string(),
        })
        .collect();
    UsageError::new(format!(
        "nothing to look up: {} held nothing but blank lines and comments",
        names.join(" and ")
    ))
}

/// The header's names and the index of the column `--column` names in it.
fn column_of(
    cells: &[String],
    column: Option<&Column>,
    origin: &Origin<'_>,
) -> Result<(Vec<String>, usize)> {
    let at = match column {
        Some(Column::Numbered(n)) if *n <= cells.len() => Some(n - 1),
        Some(Column::Named(name)) => cells.iter().position(|c| c.eq_ignore_ascii_case(name)),
        _ => None,
    };
    match at {
        Some(at) => Ok((cells.to_vec(), at)),
        None => Err(UsageError::new(format!(
            "{origin} (the CSV header: {}) has no column {}",
            cells.join(", "),
            match column {
                Some(Column::Named(name)) => format!("named {name:?}"),
                Some(Column::Numbered(n)) => format!("number {n}"),
                None => String::new(),
            }
        ))
        .into()),
    }
}

/// One resource a line, by the rules of [`vt_cli::list`] (comments, blank lines, line
/// endings, a BOM, bounded line length); an unreadable line counts as a bad input.
fn read_lines<Q: Input>(
    reader: impl Read,
    source: &str,
    validator: &mut Validator<'_, Q>,
) -> Result<()> {
    let mut list = ListReader::new(BufReader::with_capacity(64 * 1024, reader), source);
    // With `--column`: the header's names, and where the inputs are.
    let mut header: Option<(Vec<String>, usize)> = None;
    while let Some(entry) = list.next_entry() {
        match entry {
            Ok(entry) if validator.options.column.is_some() => {
                // A `#` inside a cell is the cell's (the reader took it for a comment).
                let line = match entry.comment {
                    "" => entry.text.to_owned(),
                    comment => format!("{}#{comment}", entry.text),
                };
                let cells = csv_cells(&line);
                let origin = Origin::Line(entry.line, source);
                let Some((names, at)) = &header else {
                    header = Some(column_of(
                        &cells,
                        validator.options.column.as_ref(),
                        &origin,
                    )?);
                    continue;
                };
                let Some(value) = cells.get(*at) else {
                    validator.reject(format!("{origin}: has no column {}", at + 1));
                    continue;
                };
                let others: Vec<String> = names
                    .iter()
                    .zip(&cells)
                    .enumerate()
                    .filter(|(i, (_, cell))| i != at && !cell.is_empty())
                    .map(|(_, (name, cell))| format!("{name}={cell}"))
                    .collect();
                validator.take(value, origin, &others.join("; "))?
            }
            Ok(entry) if validator.options.extract => {
                let text = format!("{} {}", entry.text, entry.comment);
                validator.extract(&text, Origin::Line(entry.line, source))?
            }
            Ok(entry) => {
                validator.take(entry.text, Origin::Line(entry.line, source), entry.comment)?
            }
            Err(error) => validator.reject(error.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let mut validator = Validator::<Resource>::new(None, ReadOptions::default());
        let text = format!("# a list\n\n  {MD5}  # eicar\r\n{}\n", MD5.to_uppercase());
        read_lines(text.as_bytes(), "list.txt", &mut validator).unwrap();
        assert_eq!(validator.bad, 0);
        let got: Vec<String> = validator
            .resources
            .into_iter()
            .unwrap()
            .map(|(r, _)| r.as_str().to_owned())
            .collect();
        assert_eq!(got, [MD5.to_owned(), MD5.to_uppercase()]);
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let mut validator = Validator::<Resource>::new(None, ReadOptions::default());
        let text = format!("{MD5}\n\nnot-a-hash\n");
        read_lines(text.as_bytes(), "list.txt", &mut validator).unwrap();
        assert_eq!(validator.bad, 1);
        assert!(
            validator.errors[0].starts_with("line 3 of list.txt: invalid resource \"not-a-hash\""),
            "{}",
            validator.errors[0]
        );
    }

    #[test]
    fn the_api_key_is_refused_as_a_resource_and_never_quoted() {
        // A key file, or the config file, given to --input by mistake.
        let key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let api_key = ApiKey::new(key);
        let mut validator = Validator::<Resource>::new(Some(&api_key), ReadOptions::default());
        let text = format!("{key}\napi_key = {key}\n{MD5}\n");
        read_lines(text.as_bytes(), "config", &mut validator).unwrap();
        assert_eq!((validator.bad, validator.resources.len()), (2, 1));
        let errors = validator.errors.join("\n");
        assert!(!errors.contains(key), "{errors}");
        assert!(
            errors.contains("line 1 of config: this is the API key")
                && errors.contains("line 2 of config: invalid resource \"api_key = <redacted>\""),
            "{errors}"
        );
    }

    #[test]
    fn a_long_input_is_spooled_and_read_back_in_order() {
        let mut resources = Inputs::<Resource>::new();
        let n = IN_MEMORY + 10;
        for i in 0..n {
            resources
                .push(Resource::parse(&format!("{i:032x}")).unwrap(), None)
                .unwrap();
        }
        assert!(resources.spool.is_some());
        assert_eq!(resources.len(), n);
        let back: Vec<Resource> = resources.into_iter().unwrap().map(|(r, _)| r).collect();
        assert_eq!(back.len(), n);
        assert_eq!(back[n - 1].as_str(), format!("{:032x}", n - 1));
    }
}
