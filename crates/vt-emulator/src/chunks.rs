//! An answer as a list of chunks: small pieces written per request (the echoed resources),
//! and the stored reports referenced without a copy. hyper sends it with one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::Range;

use bytes::{Buf, Bytes};

/// A stored piece smaller than this is copied among the small pieces instead.
const COPY_BELOW: usize = 256;

/// Puts an answer together: `push`/`extend` write small pieces into one buffer, `stored`
/// references a stored report.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    small: Vec<u8>,
    chunks: Vec<Piece>,
    run_start: usize,
}

#[derive(Debug)]
enum Piece {
    Small(Range<usize>),
    Stored(Bytes),
}

impl Assembler {
    pub(crate) fn with_capacity(small: usize, pieces: usize) -> Assembler {
        Assembler {
            small: Vec::with_capacity(small),
            chunks: Vec::with_capacity(pieces),
            run_start: 0,
        }
    }

    pub(crate) fn push(&mut self, byte: u8) {
        self.small.push(byte);
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.small.extend_from_slice(bytes);
    }

    /// The buffer of small pieces, to write into directly.
    pub(crate) fn small_mut(&mut self) -> &mut Vec<u8> {
        &mut self.small
    }

    pub(crate) fn stored(&mut self, bytes: Bytes) {
        if bytes.len() < COPY_BELOW {
            self.extend(&bytes);
            return;
        }
        self.end_run();
        self.chunks.push(Piece::Stored(bytes));
    }

    fn end_run(&mut self) {
        if self.small.len() > self.run_start {
            self.chunks
                .push(Piece::Small(self.run_start..self.small.len()));
            self.run_start = self.small.len();
        }
    }

    pub(crate) fn finish(mut self) -> Chunks {
        self.end_run();
        let small = Bytes::from(self.small);
        let mut chunks = Chunks::default();
        for piece in self.chunks {
            chunks.push(match piece {
                Piece::Small(range) => small.slice(range),
                Piece::Stored(bytes) => bytes,
            });
        }
        chunks
    }
}

/// A body as a list of byte chunks, read by hyper as one [`Buf`].
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Chunks {
    pub(crate) fn one(bytes: Bytes) -> Chunks {
        let mut chunks = Chunks::default();
        chunks.push(bytes);
        chunks
    }

    fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.remaining += bytes.len();
            self.parts.push_back(bytes);
        }
    }

    /// The first `len` bytes.
    pub(crate) fn cut(self, mut len: usize) -> Chunks {
        let mut kept = Chunks::default();
        for part in self.parts {
            if len == 0 {
                break;
            }
            let take = part.len().min(len);
            len -= take;
            kept.push(part.slice(..take));
        }
        kept
    }

    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.parts.iter().flat_map(|p| p.iter().copied()).collect()
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |part| part)
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the body");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                break;
            };
            if cnt < front.len() {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_small_and_stored_pieces_in_order() {
        let stored = Bytes::from(vec![b'x'; 300]);
        let mut a = Assembler::default();
        a.extend(b"[{");
        a.stored(stored);
        a.push(b'}');
        a.stored(Bytes::from_static(b"tiny"));
        a.extend(b"]");
        let mut chunks = a.finish();
        let whole = chunks.to_vec();
        assert_eq!(whole.len(), 2 + 300 + 1 + 4 + 1);
        assert_eq!(&whole[..3], b"[{x");
        assert_eq!(&whole[whole.len() - 6..], b"}tiny]");
        let mut iovs = [IoSlice::new(&[]); 8];
        assert_eq!(chunks.chunks_vectored(&mut iovs), 3);
        let half = Chunks {
            parts: chunks.parts.clone(),
            remaining: chunks.remaining,
        }
        .cut(100);
        assert_eq!(half.to_vec(), whole[..100]);
        chunks.advance(302);
        assert_eq!(chunks.remaining(), 6);
        assert_eq!(chunks.chunk(), b"}tiny]");
    }
}
