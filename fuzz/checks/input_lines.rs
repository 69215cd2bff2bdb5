//! What must hold when any bytes are read as an `--input` list by the reader `vt` uses
//! (`vt_cli::list::ListReader`): no panic, no hang, and exactly what a plain reading of the
//! whole list in memory (`model` below) gives, however the bytes arrive and whatever the line
//! limit. What it yields then goes through `Resource::parse`, as in `vt`.
//!
//! The first byte is not part of the list: its low five bits choose how many bytes each read
//! hands out (1 to 32, so that line ends and the BOM fall across reads), its high three bits the
//! line limit (the real one, or a small one so that over-long lines are cheap to reach).
//!
//! Shared by the fuzz target `input_lines` and by crates/vt-cli/tests/fuzz_regressions.rs.

use std::io::{BufReader, Read};

use vt_cli::list::{ListError, ListReader, MAX_LINE};
// `Resource` comes from the includer: vt-model's, which vt-cli reaches through vt-api (vt-cli's
// only workspace dependency).
use super::Resource;

const LIMITS: [usize; 8] = [MAX_LINE, 1, 2, 3, 5, 8, 32, 64];

/// What the reader yields, comparable.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Text(u64, String),
    TooLong(u64, u64),
    Nul(u64, usize),
    NotUtf8(u64, usize),
    Utf16,
}

/// A reader that hands out at most `chunk` bytes a read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Panics when an invariant does not hold for `data`.
pub(crate) fn check(data: &[u8]) {
    let Some((&control, list)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(control & 0x1f) + 1;
    let max = LIMITS[usize::from(control >> 5)];
    let reader = BufReader::with_capacity(chunk, Chunked { data: list, chunk });
    let mut lines = ListReader::new(reader, "fuzz.txt").with_max_line(max);
    let mut got = Vec::new();
    while let Some(entry) = lines.next_entry() {
        // Each call consumes at least one line: more items than lines would be a loop.
        assert!(got.len() <= list.len(), "more items than bytes");
        let item = match entry {
            Ok(entry) => {
                let text = entry.text;
                assert!(!text.is_empty() && text.len() <= max, "{text:?}");
                assert!(!text.contains('#') && text.trim() == text, "{text:?}");
                if let Ok(resource) = Resource::parse(text) {
                    assert_eq!(resource.as_str(), text);
                }
                Item::Text(entry.line, text.to_owned())
            }
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains("fuzz.txt"), "{message:?}");
                match error {
                    ListError::TooLong {
                        line,
                        length,
                        max: m,
                        ..
                    } => {
                        assert_eq!(m, max);
                        assert!(message.contains(&format!("line {line} ")), "{message:?}");
                        Item::TooLong(line, length)
                    }
                    ListError::Nul { line, byte, .. } => Item::Nul(line, byte),
                    ListError::NotUtf8 { line, byte, .. } => Item::NotUtf8(line, byte),
                    ListError::Utf16 { .. } => Item::Utf16,
                    other => panic!("unexpected error reading from memory: {other:?}"),
                }
            }
        };
        got.push(item);
    }
    assert!(lines.next_entry().is_none(), "items after the end");
    assert_eq!(got, model(list, max));
}

/// The rules of `vt_cli::list`, applied to the whole list at once.
fn model(list: &[u8], max: usize) -> Vec<Item> {
    if list.starts_with(b"\xFF\xFE") || list.starts_with(b"\xFE\xFF") {
        return vec![Item::Utf16];
    }
    let list = list.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(list);
    if list.is_empty() {
        return Vec::new();
    }
    let list = list.strip_suffix(b"\n").unwrap_or(list);
    let mut items = Vec::new();
    for (i, raw) in list.split(|&b| b == b'\n').enumerate() {
        let number = i as u64 + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > max {
            items.push(Item::TooLong(number, line.len() as u64));
            continue;
        }
        if let Some(at) = line.iter().position(|&b| b == 0) {
            items.push(Item::Nul(number, at + 1));
            continue;
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => {
                items.push(Item::NotUtf8(number, e.valid_up_to() + 1));
                continue;
            }
        };
        let text = text.split('#').next().unwrap_or("").trim();
        if !text.is_empty() {
            items.push(Item::Text(number, text.to_owned()));
        }
    }
    items
}
