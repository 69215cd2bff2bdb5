//! Reading a resource list (`vt file report --input FILE`, `-` for stdin): one resource a
//! line, streamed with bounded memory whatever the file holds.
//!
//! The rules, in the order they apply:
//! - Lines end with `\n` or `\r\n`; a last line without an ending counts.
//! - A UTF-8 byte order mark at the very start is skipped. A UTF-16 one stops the reading with
//!   [`ListError::Utf16`]: such a file is not a list this reader can read.
//! - A line longer than [`MAX_LINE`] bytes (ending excluded) is [`ListError::TooLong`]; it is
//!   skipped without being held in memory, only its length is counted. A line that goes on
//!   past [`MAX_SKIPPED_LINE`] is [`ListError::NoLineEnd`], and the reading stops there: a
//!   source that never ends a line (`/dev/zero`, a stream of binary) would otherwise be
//!   skipped for ever.
//! - A line holding a NUL byte is [`ListError::Nul`], one that is not UTF-8
//!   [`ListError::NotUtf8`]; both name the line and the byte.
//! - `#` starts a comment (whole line or trailing); what is left is trimmed, and a line left
//!   empty is skipped. What remains is the resource text, given to the caller unvalidated.
//!
//! Errors of one line do not stop the reading (the caller lists them all); an I/O error, a
//! UTF-16 file or a line without an end in sight ends it.
//!
//! ```
//! use vt_cli::list::{ListError, ListReader};
//!
//! let file = b"\xEF\xBB\xBF# incident 42\r\n44d88612fea8a8f36de82e1278abb02f  # eicar\r\n\nbad\0\n";
//! let mut list = ListReader::new(&file[..], "hashes.txt");
//! let entry = list.next_entry().unwrap()?;
//! assert_eq!((entry.line, entry.text), (2, "44d88612fea8a8f36de82e1278abb02f"));
//! let error = list.next_entry().unwrap().unwrap_err();
//! assert!(matches!(error, ListError::Nul { line: 4, byte: 4, .. }));
//! assert_eq!(error.to_string(), "line 4 of hashes.txt: holds a NUL byte (byte 4); is it a binary file?");
//! assert!(list.next_entry().is_none());
//! # Ok::<(), ListError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, Read};

/// The longest line accepted, in bytes, line ending excluded. A resource is at most 77 bytes
/// (a scan_id); the rest is room for indentation and a trailing comment.
pub const MAX_LINE: usize = 4096;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// How far an over-long line is skipped, counting its length, before the source is given up
/// as one that never ends a line. Above the 1 GiB line of the tests (whose length is
/// reported, and the reading goes on), and small enough that `/dev/zero` is given up at once
/// (0.15 s, debug build).
pub const MAX_SKIPPED_LINE: u64 = 2 << 30;

/// How much of an over-long line is read at a time while it is skipped.
const SKIP_CHUNK: u64 = 64 * 1024;

/// What is wrong with a list; each error names its source and line.
#[derive(Debug)]
#[non_exhaustive]
pub enum ListError {
    /// A line longer than the limit (ending excluded).
    TooLong {
        /// The list's name, as given to [`ListReader::new`].
        source: String,
        /// 1-based line number.
        line: u64,
        /// The line's length in bytes, ending excluded.
        length: u64,
        /// The limit it broke.
        max: usize,
    },
    /// A line holding a NUL byte (the list is probably a binary file).
    Nul {
        /// The list's name.
        source: String,
        /// 1-based line number.
        line: u64,
        /// 1-based position of the first NUL in the line, in bytes.
        byte: usize,
    },
    /// A line that is not UTF-8.
    NotUtf8 {
        /// The list's name.
        source: String,
        /// 1-based line number.
        line: u64,
        /// 1-based position of the first byte that is not UTF-8, in bytes.
        byte: usize,
    },
    /// A line went on past [`MAX_SKIPPED_LINE`] bytes without an end; nothing more is read
    /// (`/dev/zero`, a binary stream, a list without line ends).
    NoLineEnd {
        /// The list's name.
        source: String,
        /// 1-based line number.
        line: u64,
        /// The bytes of the line read before giving up.
        skipped: u64,
    },
    /// The list starts with a UTF-16 byte order mark; nothing more is read.
    Utf16 {
        /// The list's name.
        source: String,
    },
    /// Reading failed; nothing more is read.
    Read {
        /// The list's name.
        source: String,
        /// The line being read (1-based).
        line: u64,
        /// What the reader said.
        error: io::Error,
    },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::TooLong {
                source,
                line,
                length,
                max,
            } => write!(
                f,
                "line {line} of {source}: {length} bytes long, more than the {max} a line may \
                 hold (one resource a line)"
            ),
            ListError::Nul { source, line, byte } => write!(
                f,
                "line {line} of {source}: holds a NUL byte (byte {byte}); is it a binary file?"
            ),
            ListError::NotUtf8 { source, line, byte } => write!(
                f,
                "line {line} of {source}: not valid UTF-8 (byte {byte}); save the list as UTF-8 \
                 text"
            ),
            ListError::NoLineEnd {
                source,
                line,
                skipped,
            } => write!(
                f,
                "line {line} of {source} goes on past {skipped} bytes without a line end; is it \
                 a text list? Nothing more of it is read"
            ),
            ListError::Utf16 { source } => write!(
                f,
                "{source} is UTF-16 text (it starts with a UTF-16 byte order mark); save the \
                 list as UTF-8 text"
            ),
            ListError::Read {
                source,
                line,
                error,
            } => write!(f, "cannot read {source} (line {line}): {error}"),
        }
    }
}

impl std::error::Error for ListError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One line that holds something: where it was and its text, without comment or surrounding
/// whitespace (never empty, never longer than the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 1-based line number.
    pub line: u64,
    /// The text to parse as a resource.
    pub text: &'a str,
    /// The line's trailing comment, trimmed (empty when none): a ticket number, a note.
    pub comment: &'a str,
}

/// Reads a list line by line, holding at most one line of [`MAX_LINE`] bytes (plus a
/// reading buffer of the caller's choice); see the [module](self) for the rules.
#[derive(Debug)]
pub struct ListReader<R> {
    reader: R,
    source: String,
    max_line: usize,
    /// How far an over-long line is skipped before the reading stops.
    max_skipped_line: u64,
    /// Lines read so far.
    line: u64,
    buffer: Vec<u8>,
    done: bool,
}

/// How a line read ended.
enum LineRead {
    End,
    /// The line is in `buffer`, ending removed.
    Line,
    TooLong(u64),
}

impl<R: BufRead> ListReader<R> {
    /// A reader of `reader`, which errors call `source` (a path, or `stdin`).
    pub fn new(reader: R, source: impl Into<String>) -> ListReader<R> {
        ListReader {
            reader,
            source: source.into(),
            max_line: MAX_LINE,
            max_skipped_line: MAX_SKIPPED_LINE,
            line: 0,
            buffer: Vec::new(),
            done: false,
        }
    }

    /// The same reader with another line length limit (at least 1), for tests that probe
    /// the limit without megabytes of input.
    pub fn with_max_line(mut self, max_line: usize) -> ListReader<R> {
        self.max_line = max_line.max(1);
        self
    }

    /// The same reader giving up on a line longer than `max` bytes (at least the line
    /// limit), for tests that probe it without gibibytes of input.
    pub fn with_max_skipped_line(mut self, max: u64) -> ListReader<R> {
        self.max_skipped_line = max.max(self.max_line as u64);
        self
    }

    /// The next line that holds something, or the next error; `None` at the end. After an
    /// error of one line, reading goes on with the next line; after [`ListError::Read`],
    /// [`ListError::NoLineEnd`] or [`ListError::Utf16`] it is over.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, ListError>> {
        let (start, end) = loop {
            if self.done {
                return None;
            }
            match self.read_line() {
                Ok(LineRead::End) => {
                    self.done = true;
                    return None;
                }
                Ok(LineRead::TooLong(length)) => {
                    return Some(Err(ListError::TooLong {
                        source: self.source.clone(),
                        line: self.line,
                        length,
                        max: self.max_line,
                    }))
                }
                Ok(LineRead::Line) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
            if let Some(at) = self.buffer.iter().position(|&b| b == 0) {
                return Some(Err(ListError::Nul {
                    source: self.source.clone(),
                    line: self.line,
                    byte: at + 1,
                }));
            }
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text,
                Err(e) => {
                    return Some(Err(ListError::NotUtf8 {
                        source: self.source.clone(),
                        line: self.line,
                        byte: e.valid_up_to() + 1,
                    }))
                }
            };
            let kept = text.split('#').next().unwrap_or("");
            let trimmed = kept.trim();
            if !trimmed.is_empty() {
                // Offsets, not the slice: the borrow must not outlive this loop turn.
                let start = trimmed.as_ptr() as usize - text.as_ptr() as usize;
                break (start, start + trimmed.len());
            }
        };
        let line = std::str::from_utf8(&self.buffer).ok()?;
        let comment = line
            .split_once('#')
            .map_or("", |(_, comment)| comment.trim());
        Some(Ok(Entry {
            line: self.line,
            text: &line[start..end],
            comment,
        }))
    }

    /// Reads one line into `buffer` (ending removed) when it fits, else counts its length
    /// while skipping it. Uses `read_until` on a bounded `take` so that no more than the limit
    /// is ever buffered.
    fn read_line(&mut self) -> Result<LineRead, ListError> {
        self.buffer.clear();
        let first = self.line == 0;
        // The content, a `\r` and the `\n`; a byte order mark on top for the first line.
        let limit = (self.max_line as u64 + 2) + if first { BOM.len() as u64 } else { 0 };
        let read = self.read_until(limit, self.line + 1)?;
        if read == 0 {
            return Ok(LineRead::End);
        }
        self.line += 1;
        if first {
            if self.buffer.starts_with(b"\xFF\xFE") || self.buffer.starts_with(b"\xFE\xFF") {
                self.done = true;
                return Err(ListError::Utf16 {
                    source: self.source.clone(),
                });
            }
            if self.buffer.starts_with(BOM) {
                self.buffer.drain(..BOM.len());
            }
        }
        let ended = self.buffer.last() == Some(&b'\n');
        if ended || read < limit {
            if ended {
                self.buffer.pop();
            }
            if self.buffer.last() == Some(&b'\r') {
                self.buffer.pop();
            }
            if self.buffer.len() > self.max_line {
                return Ok(LineRead::TooLong(self.buffer.len() as u64));
            }
            return Ok(LineRead::Line);
        }
        // Too long: count the rest of the line in bounded chunks, keeping only its last byte
        // (a `\r` before the `\n` is not part of the length).
        let mut length = self.buffer.len() as u64;
        let mut last = self.buffer.last().copied();
        loop {
            self.buffer.clear();
            let read = self.read_until(SKIP_CHUNK, self.line)?;
            if read == 0 {
                break;
            }
            let ended = self.buffer.last() == Some(&b'\n');
            if ended {
                self.buffer.pop();
            }
            length += self.buffer.len() as u64;
            last = self.buffer.last().copied().or(last);
            if ended {
                break;
            }
            if length > self.max_skipped_line {
                self.done = true;
                self.buffer = Vec::new();
                return Err(ListError::NoLineEnd {
                    source: self.source.clone(),
                    line: self.line,
                    skipped: length,
                });
            }
        }
        if last == Some(b'\r') {
            length -= 1;
        }
        self.buffer.clear();
        Ok(LineRead::TooLong(length))
    }

    /// `read_until(b'\n')` into `buffer`, reading at most `limit` bytes of line `line`.
    fn read_until(&mut self, limit: u64, line: u64) -> Result<u64, ListError> {
        // (`read_until` retries interrupted reads itself.)
        match (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)
        {
            Ok(read) => Ok(read as u64),
            Err(error) => {
                self.done = true;
                Err(ListError::Read {
                    source: self.source.clone(),
                    line,
                    error,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a list gives: texts as `Ok((line, text))`, errors as their message.
    fn read(list: &[u8], max: usize) -> Vec<Result<(u64, String), String>> {
        let mut reader = ListReader::new(list, "l").with_max_line(max);
        let mut items = Vec::new();
        while let Some(entry) = reader.next_entry() {
            items.push(
                entry
                    .map(|e| (e.line, e.text.to_owned()))
                    .map_err(|e| e.to_string()),
            );
        }
        items
    }

    #[track_caller]
    fn check(list: &[u8], max: usize, expect: &[Result<(u64, &str), &str>]) {
        let expect: Vec<Result<(u64, String), String>> = expect
            .iter()
            .map(|e| e.map(|(n, t)| (n, t.to_owned())).map_err(str::to_owned))
            .collect();
        assert_eq!(
            read(list, max),
            expect,
            "{:?}",
            String::from_utf8_lossy(list)
        );
    }

    #[test]
    fn the_limit_excludes_the_line_ending() {
        check(
            b"abcd\r\nabcd\nabcd",
            4,
            &[Ok((1, "abcd")), Ok((2, "abcd")), Ok((3, "abcd"))],
        );
        check(
            b"abcde\r\nabcde\nabcde\r",
            4,
            &[
                Err("line 1 of l: 5 bytes long, more than the 4 a line may hold (one resource a line)"),
                Err("line 2 of l: 5 bytes long, more than the 4 a line may hold (one resource a line)"),
                Err("line 3 of l: 5 bytes long, more than the 4 a line may hold (one resource a line)"),
            ],
        );
        // A comment does not make room: the limit is on the raw line.
        check(b"ab #cd\nx", 4, &[Err("line 1 of l: 6 bytes long, more than the 4 a line may hold (one resource a line)"), Ok((2, "x"))]);
    }

    #[test]
    fn a_byte_order_mark_counts_only_at_the_start() {
        check(b"\xEF\xBB\xBFabcd\n", 4, &[Ok((1, "abcd"))]);
        check(b"\xEF\xBB\xBF", 4, &[]);
        check(
            b"a\n\xEF\xBB\xBFb\n",
            8,
            &[Ok((1, "a")), Ok((2, "\u{feff}b"))],
        );
        check(
            b"\xFE\xFF\x00a\nb\n",
            8,
            &[Err("l is UTF-16 text (it starts with a UTF-16 byte order mark); save the list as UTF-8 text")],
        );
    }

    #[test]
    fn a_long_line_is_counted_in_chunks_without_being_kept() {
        let mut list = vec![b'x'; 3 * SKIP_CHUNK as usize + 7];
        list.extend_from_slice(b"\r\nok\n");
        let mut reader = ListReader::new(&list[..], "l");
        match reader.next_entry() {
            Some(Err(ListError::TooLong {
                line: 1, length, ..
            })) => {
                assert_eq!(length, 3 * SKIP_CHUNK + 7)
            }
            other => panic!("{other:?}"),
        }
        assert!(reader.buffer.capacity() <= SKIP_CHUNK as usize + MAX_LINE + 8);
        assert_eq!(reader.next_entry().unwrap().unwrap().text, "ok");
    }

    #[test]
    fn a_line_past_the_skipping_bound_ends_the_list() {
        // Endless: a reader that never ends a line, like /dev/zero.
        let zeros = io::BufReader::new(io::repeat(0));
        let mut reader = ListReader::new(zeros, "/dev/zero").with_max_skipped_line(1 << 20);
        let error = reader.next_entry().unwrap().unwrap_err();
        assert!(
            matches!(error, ListError::NoLineEnd { line: 1, skipped, .. } if skipped > 1 << 20 && skipped <= (1 << 20) + 2 * SKIP_CHUNK),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("line 1 of /dev/zero goes on past ")
                && error
                    .to_string()
                    .contains("without a line end; is it a text list?"),
            "{error}"
        );
        assert!(reader.next_entry().is_none());
        // A line up to the bound is still measured, and the reading goes on.
        let mut list = vec![b'x'; 1 << 20];
        list.extend_from_slice(b"\nok\n");
        let mut reader = ListReader::new(&list[..], "l").with_max_skipped_line(1 << 20);
        assert!(matches!(
            reader.next_entry(),
            Some(Err(ListError::TooLong { length, .. })) if length == 1 << 20
        ));
        assert_eq!(reader.next_entry().unwrap().unwrap().text, "ok");
    }

    #[test]
    fn a_read_error_ends_the_list() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut reader = ListReader::new(io::BufReader::new(Failing), "l");
        let error = reader.next_entry().unwrap().unwrap_err();
        assert_eq!(error.to_string(), "cannot read l (line 1): disk on fire");
        assert!(reader.next_entry().is_none());
    }
}
