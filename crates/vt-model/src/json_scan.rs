//! The validating JSON scanner behind [`scan_items`](crate::scan_items): one pass over the
//! bytes of a body that checks it is JSON (RFC 8259) and reads only what the scan needs of each
//! answer (its `response_code`, its `resource` echo and the identifiers), skipping every other
//! value without building it.
//!
//! It replaces serde_json driven with `IgnoredAny`, which spent most of its time in generic
//! machinery (a visitor call per value, a peek and a bounds check per byte) for values nobody
//! reads; see docs/design.md. It is exactly as strict as that scan was, no more, no less,
//! which the equivalence tests (`tests` below, against `reference`, the former scan) check
//! byte by byte:
//! - values the former scan skipped (`IgnoredAny`) are checked for grammar only: escapes must
//!   be one of JSON's, `\u` with four hex digits, lone surrogates allowed; numbers must be in
//!   JSON's grammar, whatever their magnitude; the nesting is limited by memory only (serde_json
//!   skips ignored values with a heap stack, not with recursion, and so does this scanner);
//! - values it read (`deserialize_any`: the item itself, the keys of the item and the values
//!   of the keys it reads, and the keys of an object in such a value) are checked as serde_json
//!   reads them: a string's `\u` escapes must pair their surrogates, a number must not overflow
//!   an `f64`. Such strings and numbers, when they are not plain, are handed to serde_json
//!   itself, so that the rule is its rule.
//!
//! The UTF-8 of the body is checked once before the scan (a SIMD-fast pass of the standard
//! library), so the scanner never checks it again.

use std::borrow::Cow;

use crate::query::Identifiers;

/// The body is not well-formed JSON, or a value the former scan read is one serde_json refuses
/// (a lone surrogate, a number beyond `f64`): the caller reports the body's typed error, which
/// says where and why.
#[derive(Debug)]
pub(crate) struct Malformed;

type Scan<T> = Result<T, Malformed>;

/// What the scan reads of one answer.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    pub(crate) response_code: Option<i64>,
    pub(crate) resource: Option<Box<str>>,
    pub(crate) ids: Identifiers,
}

/// The keys of an answer the scan reads.
#[derive(Clone, Copy)]
enum Field {
    ResponseCode,
    Resource,
    Md5,
    Sha1,
    Sha256,
    ScanId,
    Url,
}

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "response_code" => Field::ResponseCode,
            "resource" => Field::Resource,
            "md5" => Field::Md5,
            "sha1" => Field::Sha1,
            "sha256" => Field::Sha256,
            "scan_id" => Field::ScanId,
            "url" => Field::Url,
            _ => return None,
        })
    }
}

/// A value read where the former scan read values (`deserialize_any`).
enum Read<'b> {
    Text(Cow<'b, str>),
    /// A number, and its value when it is an integer that fits an `i64` as serde_json reads it.
    Number(Option<i64>),
    /// `true`, `false`, `null`, an array or an object.
    Other,
}

impl Scanned {
    /// As the typed decoder does, a repeated key counts by its last value.
    fn set(&mut self, field: Field, value: Read<'_>) {
        let text = match &value {
            Read::Text(text) => Some(Box::<str>::from(&**text)),
            _ => None,
        };
        match field {
            Field::ResponseCode => {
                self.response_code = match value {
                    Read::Number(code) => code,
                    _ => None,
                }
            }
            Field::Resource => self.resource = text,
            Field::Md5 => self.ids.md5 = text,
            Field::Sha1 => self.ids.sha1 = text,
            Field::Sha256 => self.ids.sha256 = text,
            Field::ScanId => self.ids.scan_id = text,
            Field::Url => self.ids.url = text,
        }
    }
}

/// A body being scanned: its bytes, UTF-8 (checked).
#[derive(Debug)]
pub(crate) struct Scanner<'b> {
    body: &'b [u8],
    text: &'b str,
}

/// The containers open in a value being skipped, innermost first: one bit each (1: an object),
/// the innermost 64 in a word that stays in a register, the outer ones spilled to the heap, so
/// that nesting costs memory and never stack.
#[derive(Debug, Default)]
struct Open {
    word: u64,
    /// How many bits of `word` are in use; 0 only when nothing is open.
    in_word: u32,
    outer: Vec<u64>,
}

impl Open {
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.in_word == 0
    }

    #[inline(always)]
    fn push(&mut self, object: bool) {
        if self.in_word == u64::BITS {
            self.outer.push(self.word);
            self.in_word = 0;
        }
        self.word = self.word << 1 | u64::from(object);
        self.in_word += 1;
    }

    #[inline(always)]
    fn pop(&mut self) {
        self.word >>= 1;
        self.in_word -= 1;
        if self.in_word == 0 {
            if let Some(word) = self.outer.pop() {
                self.word = word;
                self.in_word = u64::BITS;
            }
        }
    }

    #[inline(always)]
    fn in_object(&self) -> bool {
        self.word & 1 == 1
    }
}

impl<'b> Scanner<'b> {
    pub(crate) fn new(text: &'b str) -> Scanner<'b> {
        Scanner {
            body: text.as_bytes(),
            text,
        }
    }

    /// Reads the answer starting at `at` (whitespace first): where it ends, and what the scan
    /// reads of it (nothing, when it is not an object).
    pub(crate) fn item(&self, at: usize) -> Scan<(usize, Scanned)> {
        let at = skip_space(self.body, at);
        let mut scanned = Scanned::default();
        let end = if self.body.get(at) == Some(&b'{') {
            self.object(at + 1, Some(&mut scanned))?
        } else {
            self.read_value(at)?.0
        };
        Ok((end, scanned))
    }

    /// The entries of an object, from just after its `{` to just after its `}`. Its keys are
    /// read as the typed decoder reads them. With `fields` (the answer itself), the keys the
    /// scan wants have their values read into it; every other value is skipped.
    fn object(&self, at: usize, mut fields: Option<&mut Scanned>) -> Scan<usize> {
        let body = self.body;
        let mut at = skip_space(body, at);
        if body.get(at) == Some(&b'}') {
            return Ok(at + 1);
        }
        loop {
            if body.get(at) != Some(&b'"') {
                return Err(Malformed);
            }
            let (key_end, escaped) = string_end(body, at + 1)?;
            let key = self.text_of(at, key_end, escaped)?;
            at = skip_space(body, key_end);
            if body.get(at) != Some(&b':') {
                return Err(Malformed);
            }
            let field = fields.as_ref().and_then(|_| Field::of(&key));
            at = match (field, fields.as_deref_mut()) {
                (Some(field), Some(scanned)) => {
                    let (end, value) = self.read_value(at + 1)?;
                    scanned.set(field, value);
                    end
                }
                _ => self.skip_value(at + 1)?,
            };
            at = skip_space(body, at);
            match body.get(at) {
                Some(b',') => at = skip_space(body, at + 1),
                Some(b'}') => return Ok(at + 1),
                _ => return Err(Malformed),
            }
        }
    }

    /// One value where the former scan read it (`deserialize_any`): strings decoded, numbers
    /// read, the keys of an object read; the inside of arrays and the values of objects are
    /// skipped.
    fn read_value(&self, at: usize) -> Scan<(usize, Read<'b>)> {
        let body = self.body;
        let at = skip_space(body, at);
        match body.get(at) {
            Some(b'"') => {
                let (end, escaped) = string_end(body, at + 1)?;
                Ok((end, Read::Text(self.text_of(at, end, escaped)?)))
            }
            Some(b'-' | b'0'..=b'9') => {
                let end = number_end(body, at)?;
                let number = self.text.get(at..end).ok_or(Malformed)?;
                Ok((end, Read::Number(integer_of(number)?)))
            }
            Some(b'{') => Ok((self.object(at + 1, None)?, Read::Other)),
            _ => Ok((self.skip_value(at)?, Read::Other)),
        }
    }

    /// The text of the string from `open` (its opening quote) to `end` (just after its closing
    /// one). A string with escapes is decoded by serde_json, whose rules (surrogates paired)
    /// are the typed decoder's.
    fn text_of(&self, open: usize, end: usize, escaped: bool) -> Scan<Cow<'b, str>> {
        if escaped {
            let quoted = self.text.get(open..end).ok_or(Malformed)?;
            serde_json::from_str::<String>(quoted)
                .map(Cow::Owned)
                .map_err(|_| Malformed)
        } else {
            let inner = self.text.get(open + 1..end - 1).ok_or(Malformed)?;
            Ok(Cow::Borrowed(inner))
        }
    }

    /// Skips one value (whitespace first), checking its grammar only; returns where it ends.
    /// Iterative: the open containers are kept in [`Open`].
    fn skip_value(&self, at: usize) -> Scan<usize> {
        let body = self.body;
        let mut open = Open::default();
        let mut at = at;
        'value: loop {
            at = skip_space(body, at);
            let value = body.get(at);
            // Strings first: most values of an answer are strings, and a test ahead of the
            // jump table measured a few percent faster.
            if value == Some(&b'"') {
                at = string_end(body, at + 1)?.0;
            } else {
                match value {
                    Some(b'{') => {
                        at = skip_space(body, at + 1);
                        if body.get(at) == Some(&b'}') {
                            at += 1;
                        } else {
                            open.push(true);
                            at = key_and_colon(body, at)?;
                            continue 'value;
                        }
                    }
                    Some(b'[') => {
                        at = skip_space(body, at + 1);
                        if body.get(at) == Some(&b']') {
                            at += 1;
                        } else {
                            open.push(false);
                            continue 'value;
                        }
                    }
                    Some(b't') => at = literal_end(body, at, b"true")?,
                    Some(b'f') => at = literal_end(body, at, b"false")?,
                    Some(b'n') => at = literal_end(body, at, b"null")?,
                    Some(b'-' | b'0'..=b'9') => at = number_end(body, at)?,
                    _ => return Err(Malformed),
                }
            }
            // A value ended: close the containers it ends, up to the next value.
            loop {
                if open.is_empty() {
                    return Ok(at);
                }
                at = skip_space(body, at);
                match (body.get(at), open.in_object()) {
                    (Some(b','), true) => {
                        at = key_and_colon(body, at + 1)?;
                        continue 'value;
                    }
                    (Some(b','), false) => {
                        at += 1;
                        continue 'value;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        open.pop();
                        at += 1;
                    }
                    _ => return Err(Malformed),
                }
            }
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The first byte at or after `at` that is not JSON whitespace.
#[inline(always)]
pub(crate) fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body.get(at).is_some_and(|&b| is_space(b)) {
        at += 1;
    }
    at
}

/// A key (whitespace first) and its colon, skipped: where its value starts.
#[inline(always)]
fn key_and_colon(body: &[u8], at: usize) -> Scan<usize> {
    let at = skip_space(body, at);
    if body.get(at) != Some(&b'"') {
        return Err(Malformed);
    }
    let at = skip_space(body, string_end(body, at + 1)?.0);
    if body.get(at) != Some(&b':') {
        return Err(Malformed);
    }
    Ok(at + 1)
}

#[inline(always)]
fn literal_end<const N: usize>(body: &[u8], at: usize, literal: &[u8; N]) -> Scan<usize> {
    match body.get(at..).and_then(<[u8]>::first_chunk::<N>) {
        Some(bytes) if bytes == literal => Ok(at + N),
        _ => Err(Malformed),
    }
}

/// The end of the number starting at `at`, in JSON's grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(body: &[u8], mut at: usize) -> Scan<usize> {
    if body.get(at) == Some(&b'-') {
        at += 1;
    }
    match body.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits_end(body, at + 1),
        _ => return Err(Malformed),
    }
    if body.get(at) == Some(&b'.') {
        let end = digits_end(body, at + 1);
        if end == at + 1 {
            return Err(Malformed);
        }
        at = end;
    }
    if let Some(b'e' | b'E') = body.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = body.get(at) {
            at += 1;
        }
        let end = digits_end(body, at);
        if end == at {
            return Err(Malformed);
        }
        at = end;
    }
    Ok(at)
}

fn digits_end(body: &[u8], mut at: usize) -> usize {
    while body.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// A number's value as serde_json gives it to a visitor: an integer that fits an `i64`, or
/// nothing (a fraction, an exponent, `-0`, an integer out of range). A number that overflows an
/// `f64` is an error for serde_json, so it is one here.
fn integer_of(number: &str) -> Scan<Option<i64>> {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, number),
    };
    // The common case, read here: up to 18 digits always fit.
    if digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let value = digits
            .bytes()
            .fold(0_i64, |value, digit| value * 10 + i64::from(digit - b'0'));
        return Ok(match (negative, value) {
            // serde_json reads `-0` as a float.
            (true, 0) => None,
            (true, value) => Some(-value),
            (false, value) => Some(value),
        });
    }
    // Fractions, exponents, long integers: serde_json's own reading, which refuses a number
    // beyond an `f64`, and gives an integer only when it is one that fits.
    serde_json::from_str::<serde_json::Number>(number)
        .map(|number| number.as_i64())
        .map_err(|_| Malformed)
}

/// Which bytes end a run of plain string bytes: `"`, `\\`, and the control characters below
/// 0x20 (refused in strings).
const fn string_stop_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
}

static STRING_STOP: [bool; 256] = string_stop_table();

#[inline(always)]
fn is_string_stop(b: &u8) -> bool {
    STRING_STOP[usize::from(*b)]
}

/// How many bytes of a string are read a byte at a time before a word at a time.
const SHORT: usize = 16;

const ONES: u64 = u64::MAX / 0xff;
const HIGHS: u64 = ONES * 0x80;

/// The bytes of `word` that end a run of plain string bytes (`"`, `\\`, or a control
/// character), as the high bit of each, bytes in memory order from the low end. Classic SWAR
/// tests: a borrow of their subtractions can only flag a byte above a true one, so the lowest
/// flagged byte is exact, and it is all the caller reads.
#[inline(always)]
fn string_stops(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let quotes = quote.wrapping_sub(ONES) & !quote;
    let backslashes = backslash.wrapping_sub(ONES) & !backslash;
    let controls = word.wrapping_sub(ONES * 0x20) & !word;
    (quotes | backslashes | controls) & HIGHS
}

/// The end of the string whose opening quote is just before `at` (just after its closing
/// quote), and whether it has escapes. Escapes are checked for grammar only; control
/// characters are refused.
///
/// Most strings of an answer are short (keys, engine names, versions, dates): their first
/// bytes are looked up in a table two at a time, which measured faster for them than any
/// word test (on the bench's batch: `memchr2` then a control check, 1.6 GB/s; a SWAR test
/// eight bytes at a time, 2.4 GB/s; the table a byte at a time, 2.5 GB/s; two at a time,
/// 2.6 GB/s): nothing to set up, and the loads do not wait on one another. A longer string goes
/// on eight bytes at a time.
#[inline(always)]
fn string_end(body: &[u8], mut at: usize) -> Scan<(usize, bool)> {
    let mut escaped = false;
    loop {
        let rest = body.get(at..).unwrap_or_default();
        let short = rest.get(..SHORT).unwrap_or(rest);
        let (pairs, odd) = short.as_chunks::<2>();
        let mut plain = None;
        for (i, [first, second]) in pairs.iter().enumerate() {
            if is_string_stop(first) {
                plain = Some(2 * i);
                break;
            }
            if is_string_stop(second) {
                plain = Some(2 * i + 1);
                break;
            }
        }
        if plain.is_none() && odd.first().is_some_and(is_string_stop) {
            plain = Some(short.len() - 1);
        }
        if let Some(plain) = plain {
            at += plain;
        } else {
            at += short.len();
            while let Some(chunk) = body.get(at..).and_then(<[u8]>::first_chunk::<8>) {
                let stops = string_stops(u64::from_le_bytes(*chunk));
                if stops != 0 {
                    at += (stops.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            // The last bytes of the body, fewer than eight, if it ends in this string.
            while body.get(at).is_some_and(|b| !is_string_stop(b)) {
                at += 1;
            }
        }
        match body.get(at) {
            Some(b'"') => return Ok((at + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                at = escape_end(body, at + 1)?;
            }
            _ => return Err(Malformed),
        }
    }
}

/// The end of the escape whose backslash is just before `at`.
fn escape_end(body: &[u8], at: usize) -> Scan<usize> {
    match body.get(at) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 1),
        Some(b'u') => match body.get(at + 1..at + 5) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(at + 5),
            _ => Err(Malformed),
        },
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests;
