//! Where the reports' bytes live (slabs, in huge pages where the system has them), and an
//! answer as a list of chunks: small pieces written per request (the echoed resources) and
//! stored report bytes referenced in place. hyper sends it with one vectored write.

use std::fmt;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::Buf;

/// The first slab, on the heap: a small dataset (tests, the bundled one) stays small.
const FIRST_SLAB: usize = 1 << 20;
/// The later slabs: mapped memory with the huge-page advice, so that serving reports spread
/// over hundreds of MiB does not miss the TLB on every page (measured in
/// docs/emulator-benchmarks.md).
const MAPPED_SLAB: usize = 64 << 20;
/// A stored piece smaller than this is copied among the small pieces instead.
const COPY_BELOW: usize = 256;
/// The `slab` of a part that lies in the answer's own small pieces.
const SMALL: u32 = u32::MAX;

/// Where a run of stored bytes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) slab: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// Zeroed memory for the stored reports and their index: mapped, with the huge-page advice
/// (a served dataset is hundreds of MiB read at random), or on the heap.
pub(crate) enum Region {
    Mapped(memmap2::MmapMut),
    Heap(Box<[u8]>),
}

impl Region {
    /// Mapped memory, or heap memory when mapping fails.
    pub(crate) fn mapped(len: usize) -> Region {
        match memmap2::MmapMut::map_anon(len) {
            Ok(map) => {
                // Only advice: without it (or on other systems) the pages are ordinary ones.
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                Region::Mapped(map)
            }
            Err(_) => Region::heap(len),
        }
    }

    /// Heap memory (zeroed pages are only touched once written).
    pub(crate) fn heap(len: usize) -> Region {
        Region::Heap(vec![0; len].into_boxed_slice())
    }
}

impl std::ops::Deref for Region {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Region::Mapped(map) => map,
            Region::Heap(heap) => heap,
        }
    }
}

impl std::ops::DerefMut for Region {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Region::Mapped(map) => map,
            Region::Heap(heap) => heap,
        }
    }
}

struct Slab {
    region: Region,
    used: usize,
}

/// The stored bytes of every report, packed in slabs, appended to while loading and read-only
/// once served.
#[derive(Default)]
pub(crate) struct Slabs {
    slabs: Vec<Slab>,
}

impl fmt::Debug for Slabs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slabs")
            .field("slabs", &self.slabs.len())
            .finish()
    }
}

impl Slabs {
    /// Makes sure the next `needed` bytes go in one slab.
    pub(crate) fn reserve(&mut self, needed: usize) {
        if self
            .slabs
            .last()
            .is_some_and(|s| s.region.len() - s.used >= needed)
        {
            return;
        }
        let region = if self.slabs.is_empty() {
            Region::heap(needed.max(FIRST_SLAB))
        } else {
            Region::mapped(needed.max(MAPPED_SLAB))
        };
        self.slabs.push(Slab { region, used: 0 });
    }

    /// Copies `bytes` in, after the last ones (in the same slab when
    /// [`Slabs::reserve`] made room).
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Span {
        self.reserve(bytes.len());
        let index = self.slabs.len() - 1;
        let slab = &mut self.slabs[index];
        let start = slab.used;
        slab.region[start..start + bytes.len()].copy_from_slice(bytes);
        slab.used += bytes.len();
        Span {
            slab: u32::try_from(index).unwrap_or(u32::MAX),
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn get(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        let bytes = self
            .slabs
            .get(span.slab as usize)
            .and_then(|slab| slab.region[..slab.used].get(start..start + span.len as usize));
        // Every span comes from `append`: a miss would send fewer bytes than announced.
        debug_assert!(bytes.is_some(), "{span:?} is not in the slabs");
        bytes.unwrap_or_default()
    }
}

/// What keeps the slabs alive while an answer that references them is sent: the server's
/// shared state, which each request holds anyway (so an answer costs no reference count of
/// its own).
pub(crate) trait Holder: fmt::Debug + Send + Sync + 'static {
    fn slabs(&self) -> &Slabs;
}

/// Puts an answer together: `push`/`extend` write small pieces, `stored` references stored
/// bytes.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    small: Vec<u8>,
    parts: Vec<Span>,
    run_start: usize,
}

impl Assembler {
    pub(crate) fn with_capacity(small: usize, pieces: usize) -> Assembler {
        Assembler {
            small: Vec::with_capacity(small),
            parts: Vec::with_capacity(pieces),
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

    /// References stored bytes of `slabs` (copied when tiny).
    pub(crate) fn stored(&mut self, slabs: &Slabs, span: Span) {
        if (span.len as usize) < COPY_BELOW {
            self.small.extend_from_slice(slabs.get(span));
            return;
        }
        self.end_run();
        self.parts.push(span);
    }

    fn end_run(&mut self) {
        if self.small.len() > self.run_start {
            self.parts.push(Span {
                slab: SMALL,
                start: u32::try_from(self.run_start).unwrap_or(u32::MAX),
                len: u32::try_from(self.small.len() - self.run_start).unwrap_or(u32::MAX),
            });
            self.run_start = self.small.len();
        }
    }

    /// The answer, to be given the slabs it references ([`Assembled::hold`]) before it can
    /// be sent.
    pub(crate) fn finish(mut self) -> Assembled {
        self.end_run();
        Assembled {
            small: self.small,
            parts: self.parts,
        }
    }
}

impl vt_server::reply::BatchOut for Assembler {
    fn put(&mut self, text: &'static [u8]) {
        self.extend(text);
    }
}

/// An answer put together but not readable yet: only [`Assembled::hold`] makes it a body,
/// so a body with stored parts always has the slabs they are in (were they missing, its
/// stored parts would read as nothing while `remaining` still counted them: a
/// `Content-Length` never sent). The rules build answers from `&State`; the `Arc` that keeps
/// the slabs alive is the request's own, handed over only when the answer is sent, so it
/// costs no reference count.
#[derive(Debug, Default)]
#[must_use = "an answer is sent only once it holds its slabs"]
pub(crate) struct Assembled {
    small: Vec<u8>,
    parts: Vec<Span>,
}

impl Assembled {
    /// The body, keeping the slabs of the stored parts alive (taken only when there is one).
    pub(crate) fn hold(self, holder: Arc<impl Holder>) -> Chunks {
        let holder: Option<Arc<dyn Holder>> = if self.parts.iter().any(|p| p.slab != SMALL) {
            Some(holder)
        } else {
            None
        };
        Chunks::new(self.small, self.parts, holder)
    }
}

/// A body as a list of chunks, read by hyper as one [`Buf`] (in a [`vt_server::BodyData`]).
/// Made only by [`Assembled::hold`], with the slabs of its stored parts.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    holder: Option<Arc<dyn Holder>>,
    small: Vec<u8>,
    parts: Vec<Span>,
    /// The first part not wholly sent, and how much of it was.
    next: usize,
    offset: usize,
    remaining: usize,
}

impl Chunks {
    fn new(small: Vec<u8>, parts: Vec<Span>, holder: Option<Arc<dyn Holder>>) -> Chunks {
        let remaining = parts.iter().map(|p| p.len as usize).sum();
        Chunks {
            holder,
            small,
            parts,
            next: 0,
            offset: 0,
            remaining,
        }
    }

    fn part(&self, span: Span) -> &[u8] {
        if span.slab == SMALL {
            let start = span.start as usize;
            return &self.small[start..start + span.len as usize];
        }
        debug_assert!(self.holder.is_some(), "a stored part without its slabs");
        self.holder
            .as_deref()
            .map_or(&[], |holder| holder.slabs().get(span))
    }

    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|&p| self.part(p).iter().copied())
            .collect()
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        match self.parts.get(self.next) {
            Some(&span) => &self.part(span)[self.offset..],
            None => &[],
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the body");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(span) = self.parts.get(self.next) else {
                break;
            };
            let left = span.len as usize - self.offset;
            if cnt < left {
                self.offset += cnt;
                break;
            }
            cnt -= left;
            self.next += 1;
            self.offset = 0;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut offset = self.offset;
        for (slot, &span) in dst
            .iter_mut()
            .zip(&self.parts[self.next.min(self.parts.len())..])
        {
            *slot = IoSlice::new(&self.part(span)[offset..]);
            offset = 0;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Holder for Slabs {
        fn slabs(&self) -> &Slabs {
            self
        }
    }

    #[test]
    fn assembles_small_and_stored_pieces_in_order() {
        let mut slabs = Slabs::default();
        let _before = slabs.append(b"ignored");
        let stored = slabs.append(&[b'x'; 300]);
        let tiny = slabs.append(b"tiny");
        let slabs = Arc::new(slabs);
        let mut a = Assembler::default();
        a.extend(b"[{");
        a.stored(&slabs, stored);
        a.push(b'}');
        a.stored(&slabs, tiny);
        a.extend(b"]");
        let mut chunks = a.finish().hold(Arc::clone(&slabs));
        let whole = chunks.to_vec();
        assert_eq!(whole.len(), 2 + 300 + 1 + 4 + 1);
        assert_eq!(&whole[..3], b"[{x");
        assert_eq!(&whole[whole.len() - 6..], b"}tiny]");
        assert_eq!(chunks.chunks_vectored(&mut [IoSlice::new(&[]); 8]), 3);
        chunks.advance(1);
        assert_eq!(chunks.chunk(), b"{");
        chunks.advance(301);
        assert_eq!(chunks.remaining(), 6);
        assert_eq!(chunks.chunk(), b"}tiny]");
        assert_eq!(chunks.chunks_vectored(&mut [IoSlice::new(&[]); 8]), 1);
        chunks.advance(6);
        assert!(!chunks.has_remaining());
        assert_eq!(chunks.chunks_vectored(&mut [IoSlice::new(&[]); 8]), 0);
    }

    #[test]
    fn a_held_answer_reads_every_byte_it_announces() {
        let mut slabs = Slabs::default();
        let report = |i: u8| vec![b'a' + i; 300 << 10];
        let spans: Vec<Span> = (0..8).map(|i| slabs.append(&report(i))).collect();
        assert!(spans.iter().any(|s| s.slab > 0), "past the first slab");
        let slabs = Arc::new(slabs);
        let mut a = Assembler::default();
        let mut expected = Vec::new();
        for (i, &span) in (0..).zip(&spans) {
            a.push(b',');
            a.stored(&slabs, span);
            expected.push(b',');
            expected.extend(report(i));
        }
        let mut body = a.finish().hold(Arc::clone(&slabs));
        assert!(body.holder.is_some());
        assert_eq!(body.remaining(), expected.len());
        let mut read = Vec::new();
        while body.has_remaining() {
            let chunk = body.chunk();
            assert!(
                !chunk.is_empty(),
                "{} bytes announced, none given",
                body.remaining()
            );
            read.extend_from_slice(chunk);
            let n = chunk.len();
            body.advance(n);
        }
        assert!(read == expected);

        // Nothing stored: the slabs are not taken.
        let mut small = Assembler::default();
        small.extend(b"{}");
        let body = small.finish().hold(Arc::clone(&slabs));
        assert!(body.holder.is_none());
        assert_eq!(body.to_vec(), b"{}");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "is not in the slabs")]
    fn a_span_outside_the_slabs_is_caught_in_debug_builds() {
        let mut slabs = Slabs::default();
        let span = slabs.append(&[0; 300]);
        let _ = slabs.get(Span { len: 301, ..span });
    }

    #[test]
    fn large_datasets_go_on_in_mapped_slabs() {
        let mut slabs = Slabs::default();
        let report = vec![b'r'; 300 << 10];
        let spans: Vec<Span> = (0..8).map(|_| slabs.append(&report)).collect();
        assert!(spans.iter().any(|s| s.slab > 0), "past the first slab");
        for span in spans {
            assert_eq!(slabs.get(span), &report[..]);
        }
    }
}
