//! `multipart/form-data` bodies, read as they arrive, in time linear in their size.
//!
//! The body is searched for the delimiter `CRLF--boundary` with a substring searcher that is
//! linear in the haystack (memchr's two-way `memmem`), and every byte is handed to it about
//! once: after a piece without a delimiter only its last `delimiter - 1` bytes are kept (a
//! delimiter may start there), the rest goes to the part. The boundary is at most 70
//! characters (RFC 2046), so that tail is short; a part's header block is capped. Nothing is
//! held but that tail, the headers being read and what the [`Parts`] sink keeps.

use memchr::memmem::Finder;

use crate::receive::Refusal;

/// The longest boundary accepted (RFC 2046, section 5.1.1).
pub(crate) const MAX_BOUNDARY: usize = 70;
/// The longest header block of one part.
const MAX_HEADERS: usize = 16 * 1024;

/// What is done with the parts of a body.
pub(crate) trait Parts {
    /// A part begins, with the `name` and `filename` of its `Content-Disposition`.
    fn start(&mut self, name: Option<String>, filename: Option<String>) -> Result<(), Refusal>;
    /// The next bytes of the current part.
    fn data(&mut self, bytes: &[u8]) -> Result<(), Refusal>;
    /// The current part is over.
    fn end(&mut self) -> Result<(), Refusal>;
}

/// Where the reader is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first delimiter (discarded).
    Preamble,
    /// Just after a delimiter: `--` ends the body, anything else starts a part's headers.
    Delimited,
    /// In a part's header block.
    Headers,
    /// In a part's content.
    Content,
    /// After the closing delimiter (the epilogue is discarded).
    Done,
}

/// A `multipart/form-data` reader fed piece by piece.
#[derive(Debug)]
pub(crate) struct Multipart {
    delimiter: Finder<'static>,
    blank_line: Finder<'static>,
    stage: Stage,
    /// Bytes not handed on yet: a possible start of a delimiter, or a header block.
    pending: Vec<u8>,
    /// How much of `pending` was searched for the end of a header block already.
    headers_searched: usize,
    /// Bytes the searchers went through in all (up to each match): what the linear-time
    /// test counts.
    scanned: usize,
}

impl Multipart {
    /// A reader for `boundary`; `None` when it is empty or longer than [`MAX_BOUNDARY`].
    pub(crate) fn new(boundary: &str) -> Option<Multipart> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
            return None;
        }
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        Some(Multipart {
            delimiter: Finder::new(&delimiter).into_owned(),
            blank_line: Finder::new(b"\r\n\r\n").into_owned(),
            stage: Stage::Preamble,
            // The first delimiter may open the body: a CRLF before it makes it look like the
            // others.
            pending: b"\r\n".to_vec(),
            headers_searched: 0,
            scanned: 0,
        })
    }

    /// Bytes searched so far (each byte of the body about once).
    #[cfg(test)]
    pub(crate) fn scanned(&self) -> usize {
        self.scanned
    }

    /// Reads the next piece of the body.
    pub(crate) fn feed(&mut self, piece: &[u8], parts: &mut impl Parts) -> Result<(), Refusal> {
        if self.stage == Stage::Done {
            return Ok(());
        }
        self.pending.extend_from_slice(piece);
        loop {
            match self.stage {
                Stage::Preamble | Stage::Content => {
                    let content = self.stage == Stage::Content;
                    let found = self.delimiter.find(&self.pending);
                    self.scanned += searched(found, self.delimiter.needle(), &self.pending);
                    match found {
                        Some(at) => {
                            if content {
                                parts.data(&self.pending[..at])?;
                                parts.end()?;
                            }
                            self.pending.drain(..at + self.delimiter.needle().len());
                            self.stage = Stage::Delimited;
                        }
                        None => {
                            let keep = self.delimiter.needle().len() - 1;
                            let cut = self.pending.len().saturating_sub(keep);
                            if content && cut > 0 {
                                parts.data(&self.pending[..cut])?;
                            }
                            self.pending.drain(..cut);
                            return Ok(());
                        }
                    }
                }
                Stage::Delimited => {
                    if self.pending.len() < 2 {
                        return Ok(());
                    }
                    if self.pending.starts_with(b"--") {
                        self.stage = Stage::Done;
                        self.pending = Vec::new();
                        return Ok(());
                    }
                    // The rest of the delimiter's line (its CRLF) starts the header block.
                    self.stage = Stage::Headers;
                    self.headers_searched = 0;
                }
                Stage::Headers => {
                    // The end of the block may straddle pieces: search again from 3 bytes back.
                    let from = self.headers_searched.saturating_sub(3);
                    let haystack = &self.pending[from..];
                    let found = self.blank_line.find(haystack);
                    self.scanned += searched(found, self.blank_line.needle(), haystack);
                    let Some(at) = found else {
                        if self.pending.len() > MAX_HEADERS {
                            return Err(Refusal::Malformed);
                        }
                        self.headers_searched = self.pending.len();
                        return Ok(());
                    };
                    let end = from + at;
                    let (name, filename) = disposition(&self.pending[..end]);
                    parts.start(name, filename)?;
                    self.pending.drain(..end + 4);
                    self.stage = Stage::Content;
                }
                Stage::Done => return Ok(()),
            }
        }
    }

    /// The body is over. A part left open (no closing delimiter) ends with what was read,
    /// without a trailing CRLF.
    pub(crate) fn finish(mut self, parts: &mut impl Parts) -> Result<(), Refusal> {
        if self.stage == Stage::Content {
            let rest = self.pending.strip_suffix(b"\r\n").unwrap_or(&self.pending);
            parts.data(rest)?;
            parts.end()?;
        }
        self.stage = Stage::Done;
        Ok(())
    }
}

/// How many bytes a search went through: up to the end of the match, or the whole haystack.
fn searched(found: Option<usize>, needle: &[u8], haystack: &[u8]) -> usize {
    found.map_or(haystack.len(), |at| at + needle.len())
}

/// The `name` and `filename` of a header block's `Content-Disposition`.
fn disposition(headers: &[u8]) -> (Option<String>, Option<String>) {
    let headers = String::from_utf8_lossy(headers);
    let mut found = (None, None);
    for line in headers.lines() {
        let Some((header, rest)) = line.split_once(':') else {
            continue;
        };
        if !header.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        for attr in rest.split(';') {
            let Some((key, value)) = attr.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim() {
                "name" => found.0 = Some(value),
                "filename" => found.1 = Some(value),
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps every part whole.
    #[derive(Default)]
    struct Collect {
        parts: Vec<(Option<String>, Option<String>, Vec<u8>)>,
    }

    impl Parts for Collect {
        fn start(&mut self, name: Option<String>, file: Option<String>) -> Result<(), Refusal> {
            self.parts.push((name, file, Vec::new()));
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
            if let Some(last) = self.parts.last_mut() {
                last.2.extend_from_slice(bytes);
            }
            Ok(())
        }
        fn end(&mut self) -> Result<(), Refusal> {
            Ok(())
        }
    }

    fn read(boundary: &str, body: &[u8], piece: usize) -> (Collect, usize) {
        let mut reader = Multipart::new(boundary).expect("a valid boundary");
        let mut parts = Collect::default();
        for chunk in body.chunks(piece.max(1)) {
            reader.feed(chunk, &mut parts).unwrap();
        }
        let scanned = reader.scanned();
        reader.finish(&mut parts).unwrap();
        (parts, scanned)
    }

    const BODY: &[u8] =
        b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nkey\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\r\n--Xy\r\n\x00\xff\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_are_the_same_whatever_the_pieces_the_body_arrives_in() {
        for piece in [1, 2, 3, 7, 64, BODY.len()] {
            let (parts, _) = read("XyZ", BODY, piece);
            let expected = [
                (Some("apikey"), None, &b"key"[..]),
                (Some("file"), Some("a.bin"), b"\r\n--Xy\r\n\x00\xff"),
                (Some("empty"), None, b""),
            ];
            assert_eq!(parts.parts.len(), 3, "pieces of {piece}");
            for ((name, file, data), (n, f, d)) in parts.parts.iter().zip(expected) {
                assert_eq!((name.as_deref(), file.as_deref()), (n, f), "{piece}");
                assert_eq!(data, d, "pieces of {piece}");
            }
        }
    }

    #[test]
    fn a_body_opening_with_its_delimiter_or_missing_the_last_one_is_read() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n";
        let (parts, _) = read("B", body, 5);
        assert_eq!(parts.parts.len(), 1);
        assert_eq!(parts.parts[0].2, b"1");
    }

    #[test]
    fn a_boundary_over_70_characters_or_empty_is_refused() {
        assert!(Multipart::new(&"b".repeat(70)).is_some());
        assert!(Multipart::new(&"b".repeat(71)).is_none());
        assert!(Multipart::new("").is_none());
    }

    /// The regression of the old parser, which compared the delimiter at every position of
    /// every part (quadratic): a body of near-delimiters. Each byte is now searched about
    /// once, whatever the pieces.
    #[test]
    fn each_byte_is_searched_about_once_even_in_a_crafted_body() {
        let boundary = "a".repeat(MAX_BOUNDARY);
        let near = format!("\r\n--{}", "a".repeat(MAX_BOUNDARY - 1));
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
        )
        .into_bytes();
        while body.len() < 1 << 20 {
            body.extend_from_slice(near.as_bytes());
        }
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        for piece in [body.len(), 64 * 1024, 1500] {
            let (parts, scanned) = read(&boundary, &body, piece);
            assert_eq!(parts.parts.len(), 1);
            let pieces = body.len().div_ceil(piece);
            // The body once, plus the kept tail (under 75 bytes) again for each piece.
            assert!(
                scanned <= body.len() + pieces * 80,
                "{scanned} bytes searched for a body of {} in pieces of {piece}",
                body.len()
            );
        }
    }
}
