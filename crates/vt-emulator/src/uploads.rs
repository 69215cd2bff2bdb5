//! Uploaded files: written to the emulator's own temporary folder while they arrive (hashed on
//! the way), so that a large upload costs disk, not memory; and the multipart form they come
//! in.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use tempfile::{TempDir, TempPath};

use crate::hashes::{FileHashes, Hasher};
use crate::multipart::{Parts, Refusal};

/// The EICAR test file; followed by nothing but whitespace, up to 128 bytes in all, it is the
/// test file (the EICAR rules).
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The longest EICAR test file.
const EICAR_MAX: usize = 128;

/// Whether a file is the EICAR test file, from its first bytes and its size.
pub(crate) fn is_eicar(head: &[u8], size: u64) -> bool {
    size <= EICAR_MAX as u64
        && head.len() as u64 == size
        && head.starts_with(EICAR)
        && head[EICAR.len()..].iter().all(u8::is_ascii_whitespace)
}

/// The emulator's temporary folder, removed with everything in it when the emulator is
/// dropped.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: TempDir,
}

impl Spool {
    pub(crate) fn new() -> std::io::Result<Spool> {
        Ok(Spool {
            dir: tempfile::Builder::new().prefix("vt-emulator-").tempdir()?,
        })
    }

    /// Where kept files go.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new file in the folder, removed unless it is kept.
    fn writer(&self) -> std::io::Result<SpoolWriter> {
        let (file, path) = tempfile::NamedTempFile::new_in(self.dir.path())?.into_parts();
        Ok(SpoolWriter {
            file: BufWriter::with_capacity(64 * 1024, file),
            path,
            hasher: Hasher::default(),
            size: 0,
            head: Vec::new(),
        })
    }
}

/// A file being written and hashed.
#[derive(Debug)]
struct SpoolWriter {
    file: BufWriter<File>,
    path: TempPath,
    hasher: Hasher,
    size: u64,
    /// The first bytes, for the EICAR check.
    head: Vec<u8>,
}

impl SpoolWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        // Plain writes from the request's task: they land in the page cache in microseconds.
        self.file.write_all(bytes).map_err(|_| Refusal::Storage)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        let room = (EICAR_MAX + 1).saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        Ok(())
    }

    fn finish(mut self) -> Result<Upload, Refusal> {
        self.file.flush().map_err(|_| Refusal::Storage)?;
        Ok(Upload {
            path: self.path,
            eicar: is_eicar(&self.head, self.size),
            hashes: self.hasher.finish(),
        })
    }
}

/// An uploaded file in the emulator's folder (removed when dropped, unless kept).
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) path: TempPath,
    pub(crate) hashes: FileHashes,
    pub(crate) eicar: bool,
}

/// What a part is being read into.
#[derive(Debug, Default)]
enum Current {
    #[default]
    Skipped,
    Text(String, Vec<u8>),
    File(Box<SpoolWriter>),
}

/// A multipart form read whole: its text fields in memory (up to a cap), its `file` part (the
/// first one, on a route that takes files) in the emulator's folder.
#[derive(Debug)]
pub(crate) struct Form<'s> {
    spool: Option<&'s Spool>,
    /// Bytes of text fields still allowed.
    text_left: usize,
    current: Current,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) file: Option<Upload>,
}

impl<'s> Form<'s> {
    /// A form whose text fields may hold `text_cap` bytes; `spool` for a route that takes a
    /// file.
    pub(crate) fn new(spool: Option<&'s Spool>, text_cap: usize) -> Form<'s> {
        Form {
            spool,
            text_left: text_cap,
            current: Current::Skipped,
            fields: Vec::new(),
            file: None,
        }
    }
}

impl Parts for Form<'_> {
    fn start(&mut self, name: Option<String>, _filename: Option<String>) -> Result<(), Refusal> {
        self.current = match (name, self.spool) {
            (Some(name), Some(spool)) if name == "file" && self.file.is_none() => {
                Current::File(Box::new(spool.writer().map_err(|_| Refusal::Storage)?))
            }
            (Some(name), _) => Current::Text(name, Vec::new()),
            (None, _) => Current::Skipped,
        };
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        match &mut self.current {
            Current::Skipped => Ok(()),
            Current::Text(_, value) => {
                self.text_left = self
                    .text_left
                    .checked_sub(bytes.len())
                    .ok_or(Refusal::TooLarge)?;
                value.extend_from_slice(bytes);
                Ok(())
            }
            Current::File(writer) => writer.write(bytes),
        }
    }

    fn end(&mut self) -> Result<(), Refusal> {
        match std::mem::take(&mut self.current) {
            Current::Skipped => {}
            Current::Text(name, value) => {
                let value = match String::from_utf8(value) {
                    Ok(text) => text,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                self.fields.push((name, value));
            }
            Current::File(writer) => self.file = Some(writer.finish()?),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eicar_file_is_recognised_with_trailing_whitespace_only() {
        assert!(is_eicar(EICAR, EICAR.len() as u64));
        let spaced = [EICAR, b" \r\n\t"].concat();
        assert!(is_eicar(&spaced, spaced.len() as u64));
        let more = [EICAR, b"x"].concat();
        assert!(!is_eicar(&more, more.len() as u64));
        assert!(!is_eicar(&EICAR[1..], EICAR.len() as u64 - 1));
        // The head of a larger file.
        assert!(!is_eicar(EICAR, 4096));
    }
}
