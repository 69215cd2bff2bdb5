//! Uploaded files: written to a temporary folder while they arrive (hashed on the way), so
//! that a large upload costs disk, not memory; and the multipart form they come in.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use tempfile::{TempDir, TempPath};

use crate::hashes::{FileHasher, FileHashes};
use crate::multipart::Parts;
use crate::receive::Refusal;

/// A temporary folder for uploads, removed with everything in it when dropped.
#[derive(Debug)]
pub struct Spool {
    dir: TempDir,
}

impl Spool {
    /// A new folder in the system's temporary folder, its name starting with `prefix` (such as
    /// `vt-emulator-`).
    pub fn new(prefix: &str) -> std::io::Result<Spool> {
        Ok(Spool {
            dir: tempfile::Builder::new().prefix(prefix).tempdir()?,
        })
    }

    /// The folder: uploads arrive in it, and files moved in stay until the spool is dropped.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new file in the folder, removed unless it is kept.
    fn writer(&self, filename: Option<String>) -> std::io::Result<SpoolWriter> {
        let (file, path) = tempfile::NamedTempFile::new_in(self.dir.path())?.into_parts();
        Ok(SpoolWriter {
            file: BufWriter::with_capacity(64 * 1024, file),
            path,
            hasher: FileHasher::default(),
            size: 0,
            filename,
        })
    }
}

/// A file being written and hashed.
#[derive(Debug)]
struct SpoolWriter {
    file: BufWriter<File>,
    path: TempPath,
    hasher: FileHasher,
    size: u64,
    filename: Option<String>,
}

impl SpoolWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        // Plain writes from the request's task: they land in the page cache in microseconds.
        self.file.write_all(bytes).map_err(|_| Refusal::Storage)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<Upload, Refusal> {
        self.file.flush().map_err(|_| Refusal::Storage)?;
        Ok(Upload {
            path: self.path,
            hashes: self.hasher.finish(),
            size: self.size,
            filename: self.filename,
        })
    }
}

/// An uploaded file in the [`Spool`]'s folder, removed when dropped unless it was moved away
/// (`std::fs::rename` of [`Upload::path`] keeps it).
#[derive(Debug)]
pub struct Upload {
    path: TempPath,
    hashes: FileHashes,
    size: u64,
    filename: Option<String>,
}

impl Upload {
    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its MD5, SHA-1 and SHA-256, computed as it arrived.
    pub fn hashes(&self) -> &FileHashes {
        &self.hashes
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The `filename` of its part's `Content-Disposition`, if any.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }
}

/// A multipart form read whole: its text fields, and its `file` part (the first one, on a
/// route that takes files) in the spool.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) file: Option<Upload>,
}

/// What a part is being read into.
#[derive(Debug, Default)]
enum Current {
    #[default]
    Skipped,
    Text(String, Vec<u8>),
    File(Box<SpoolWriter>),
}

/// Reads a multipart form: text fields in memory (up to a cap), the `file` part into the
/// spool when there is one.
#[derive(Debug)]
pub(crate) struct FormReader<'s> {
    spool: Option<&'s Spool>,
    /// Bytes of text fields still allowed.
    text_left: usize,
    current: Current,
    form: Form,
}

impl<'s> FormReader<'s> {
    /// A form whose text fields may hold `text_cap` bytes; `spool` for a route that takes a
    /// file.
    pub(crate) fn new(spool: Option<&'s Spool>, text_cap: usize) -> FormReader<'s> {
        FormReader {
            spool,
            text_left: text_cap,
            current: Current::Skipped,
            form: Form::default(),
        }
    }

    /// The form read (once the multipart reader has finished).
    pub(crate) fn finish(self) -> Form {
        self.form
    }
}

impl Parts for FormReader<'_> {
    fn start(&mut self, name: Option<String>, filename: Option<String>) -> Result<(), Refusal> {
        self.current = match (name, self.spool) {
            (Some(name), Some(spool)) if name == "file" && self.form.file.is_none() => {
                let writer = spool.writer(filename).map_err(|_| Refusal::Storage)?;
                Current::File(Box::new(writer))
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
                self.form.fields.push((name, value));
            }
            Current::File(writer) => self.form.file = Some(writer.finish()?),
        }
        Ok(())
    }
}
