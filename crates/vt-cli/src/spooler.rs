//! Standard output written by a thread of its own: the lookups hand it whole buffers and go
//! on, while the kernel takes the bytes (a bulk run's 77 MB into a file's page cache is
//! about 40% of its wall time when the thread that drives the requests waits for it).
//!
//! Only the `write(2)` calls move: records are still encoded where they arrive, into a
//! buffer of [`CHUNK`] bytes, and the buffers go back and forth (a few at most), so nothing is
//! allocated or freed across threads per chunk.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes gathered before they are handed to the thread.
const CHUNK: usize = 256 * 1024;
/// Buffers at most in flight (handed over, not written yet).
const IN_FLIGHT: usize = 4;

/// A [`Write`] whose bytes another thread writes to `W`, in order.
///
/// `flush` hands over what is gathered without waiting for it to be written (a pipe then
/// gets its records within moments); [`Spooler::finish`] (or dropping it) waits until
/// everything is written. An error of the writing thread is returned by the next `write`,
/// `flush` or `finish`, with its kind (a closed pipe stays a `BrokenPipe`).
pub(crate) struct Spooler {
    gathering: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// Buffers made so far (at most `IN_FLIGHT + 1`).
    made: usize,
    /// The kind of the thread's error, once seen: every later call fails with it.
    failed: Option<io::ErrorKind>,
}

impl Spooler {
    /// Writes to `out` from a new thread.
    pub(crate) fn new<W: Write + Send + 'static>(mut out: W) -> io::Result<Spooler> {
        let (full, chunks) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, empty) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        let thread = std::thread::Builder::new()
            .name("vt-output".into())
            .spawn(move || {
                for mut chunk in chunks {
                    out.write_all(&chunk)?;
                    chunk.clear();
                    // The other side may be gone, or have enough: then the buffer is freed.
                    let _ = give_back.try_send(chunk);
                }
                out.flush()
            })?;
        Ok(Spooler {
            gathering: Vec::with_capacity(CHUNK),
            full: Some(full),
            empty,
            thread: Some(thread),
            made: 1,
            failed: None,
        })
    }

    /// Hands the gathered bytes over, and takes an empty buffer (one given back, or a new
    /// one while fewer than `IN_FLIGHT + 1` exist, or waits for one).
    fn hand_over(&mut self) -> io::Result<()> {
        if self.gathering.is_empty() {
            return Ok(());
        }
        let next = match self.empty.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if self.made <= IN_FLIGHT => {
                self.made += 1;
                Vec::with_capacity(CHUNK)
            }
            Err(_) => Vec::new(),
        };
        let chunk = std::mem::replace(&mut self.gathering, next);
        let sent = self.full.as_ref().map(|full| full.send(chunk));
        if !matches!(sent, Some(Ok(()))) {
            // The thread ended: its error says why.
            return Err(self.join().err().unwrap_or_else(gone));
        }
        if self.gathering.capacity() == 0 {
            // Every buffer is in flight: wait for one to come back.
            self.gathering = self
                .empty
                .recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        }
        Ok(())
    }

    /// Waits for the thread to write everything handed over; its error, if any.
    fn join(&mut self) -> io::Result<()> {
        self.full = None;
        let joined = match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(written)) => written,
            Some(Err(_)) => Err(io::Error::other("the output thread panicked")),
        };
        if let Err(error) = &joined {
            self.failed = Some(error.kind());
        }
        joined
    }

    /// An error already seen, again; or the output already finished.
    fn usable(&self) -> io::Result<()> {
        match (self.failed, &self.thread) {
            (Some(kind), _) => Err(io::Error::new(kind, "the output failed")),
            (None, None) => Err(gone()),
            (None, Some(_)) => Ok(()),
        }
    }

    /// Hands over the rest and waits until every byte is written.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "the output failed"));
        }
        self.hand_over()?;
        self.join()
    }
}

/// Standard output for records: spooled through a thread of its own when it is a file or a
/// pipe; written in place on a terminal, where records must not land in the middle of the
/// progress bar's line (drawn on the same terminal between records).
pub(crate) enum RecordsOut {
    Terminal(io::BufWriter<io::StdoutLock<'static>>),
    Spooled(Spooler),
}

impl RecordsOut {
    /// Standard output, `terminal` or not.
    pub(crate) fn stdout(terminal: bool) -> io::Result<RecordsOut> {
        Ok(if terminal {
            RecordsOut::Terminal(io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()))
        } else {
            RecordsOut::Spooled(Spooler::new(io::stdout())?)
        })
    }

    /// Writes everything out, and waits until it is written.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self {
            RecordsOut::Terminal(out) => out.flush(),
            RecordsOut::Spooled(out) => out.finish(),
        }
    }
}

impl Write for RecordsOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            RecordsOut::Terminal(out) => out.write(buf),
            RecordsOut::Spooled(out) => out.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            RecordsOut::Terminal(out) => out.write_all(buf),
            RecordsOut::Spooled(out) => out.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            RecordsOut::Terminal(out) => out.flush(),
            RecordsOut::Spooled(out) => out.flush(),
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the output was closed")
}

impl Write for Spooler {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.usable()?;
        self.gathering.extend_from_slice(buf);
        if self.gathering.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.usable()?;
        self.hand_over()
    }
}

impl Drop for Spooler {
    fn drop(&mut self) {
        // What was written must reach the output before the process ends (an error was, or
        // will have been, said by `finish`).
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An output that keeps what it is given, and fails once it holds `fail_after` bytes.
    #[derive(Clone)]
    struct Kept {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
    }

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            if bytes.len() >= self.fail_after {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
            }
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn kept(fail_after: usize) -> Kept {
        Kept {
            bytes: Arc::default(),
            fail_after,
        }
    }

    #[test]
    fn every_byte_arrives_in_order_flushed_or_not() {
        let out = kept(usize::MAX);
        let mut spooler = Spooler::new(out.clone()).unwrap();
        let mut expected = Vec::new();
        for i in 0..40_000u32 {
            let record = format!(
                "{{\"n\":{i},\"pad\":\"{}\"}}\n",
                "x".repeat((i % 97) as usize)
            );
            spooler.write_all(record.as_bytes()).unwrap();
            expected.extend_from_slice(record.as_bytes());
            if i % 5_000 == 0 {
                spooler.flush().unwrap();
            }
        }
        spooler.finish().unwrap();
        assert_eq!(*out.bytes.lock().unwrap(), expected);
    }

    #[test]
    fn what_is_written_arrives_when_the_spooler_is_dropped() {
        let out = kept(usize::MAX);
        let mut spooler = Spooler::new(out.clone()).unwrap();
        spooler.write_all(b"one line\n").unwrap();
        drop(spooler);
        assert_eq!(*out.bytes.lock().unwrap(), b"one line\n");
    }

    #[test]
    fn a_closed_output_is_a_broken_pipe_for_the_writer() {
        let mut spooler = Spooler::new(kept(CHUNK)).unwrap();
        let chunk = vec![b'x'; CHUNK];
        let error = (0..100)
            .find_map(|_| {
                spooler
                    .write_all(&chunk)
                    .and_then(|()| spooler.flush())
                    .err()
            })
            .expect("the closed output is seen");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(
            spooler.finish().unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
