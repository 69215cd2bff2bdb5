//! The body of an answer: bytes known up front (sent with their `Content-Length`), or a
//! stream of byte chunks (a relayed download).

use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_util::StreamExt as _;
use hyper::body::{Frame, SizeHint};

use crate::serve::InFlight;
use crate::BoxError;

/// The body of an answer ([`crate::reply`] makes the service's), as hyper sends it.
///
/// - whole bytes: `Body::from(bytes)`, or a [`BodyData`] (any [`Buf`], such as one that
///   references bytes kept elsewhere, sent with one vectored write); its length is known, so
///   the answer has a `Content-Length`;
/// - [`Body::from_stream`]: chunks as they come (chunked, unless the answer says its
///   `Content-Length`); an error from the stream closes the connection, short of the answer.
pub struct Body {
    kind: Kind,
    /// Set by the server: keeps the request counted as in flight until its answer is sent or
    /// dropped.
    _in_flight: Option<InFlight>,
}

enum Kind {
    /// `None` once sent.
    Whole(Option<BodyData>),
    Stream(Pin<Box<dyn Stream<Item = Result<BodyData, BoxError>> + Send>>),
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body {
            kind: Kind::Whole(None),
            _in_flight: None,
        }
    }

    /// A body sent chunk by chunk as `stream` yields them.
    pub fn from_stream<S, D, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<D, E>> + Send + 'static,
        D: Into<BodyData>,
        E: Into<BoxError>,
    {
        let stream = stream.map(|item| item.map(Into::into).map_err(Into::into));
        Body {
            kind: Kind::Stream(Box::pin(stream)),
            _in_flight: None,
        }
    }

    /// The same body, its request counted as in flight until it is sent or dropped.
    pub(crate) fn counted(self, in_flight: InFlight) -> Body {
        Body {
            _in_flight: Some(in_flight),
            ..self
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Whole(data) => f.debug_tuple("Body").field(data).finish(),
            Kind::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl<T: Into<BodyData>> From<T> for Body {
    fn from(data: T) -> Body {
        Body {
            kind: Kind::Whole(Some(data.into())),
            _in_flight: None,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = BodyData;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<BodyData>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Whole(data) => Poll::Ready(
                data.take()
                    .filter(|d| d.has_remaining())
                    .map(|d| Ok(Frame::data(d))),
            ),
            Kind::Stream(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|item| item.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Whole(data) => data.as_ref().is_none_or(|d| !d.has_remaining()),
            Kind::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Whole(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.remaining() as u64))
            }
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// Bytes of a [`Body`]: a [`Bytes`], the pieces of a batch ([`crate::reply::batch`]), or any
/// [`Buf`] ([`BodyData::from_buf`]), read by hyper without a copy.
pub struct BodyData(Repr);

enum Repr {
    Bytes(Bytes),
    Pieces(Pieces),
    Buf(Box<dyn Buf + Send>),
}

impl BodyData {
    /// Any buffer, such as one whose chunks reference bytes kept elsewhere; hyper writes its
    /// chunks with one vectored write.
    pub fn from_buf(buf: impl Buf + Send + 'static) -> BodyData {
        BodyData(Repr::Buf(Box::new(buf)))
    }

    pub(crate) fn from_pieces(pieces: Pieces) -> BodyData {
        BodyData(Repr::Pieces(pieces))
    }
}

impl fmt::Debug for BodyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyData({} bytes)", self.remaining())
    }
}

impl From<Bytes> for BodyData {
    fn from(bytes: Bytes) -> BodyData {
        BodyData(Repr::Bytes(bytes))
    }
}

impl From<Vec<u8>> for BodyData {
    fn from(bytes: Vec<u8>) -> BodyData {
        BodyData(Repr::Bytes(bytes.into()))
    }
}

impl From<String> for BodyData {
    fn from(text: String) -> BodyData {
        BodyData(Repr::Bytes(text.into()))
    }
}

impl From<&'static [u8]> for BodyData {
    fn from(bytes: &'static [u8]) -> BodyData {
        BodyData(Repr::Bytes(Bytes::from_static(bytes)))
    }
}

impl From<&'static str> for BodyData {
    fn from(text: &'static str) -> BodyData {
        BodyData(Repr::Bytes(Bytes::from_static(text.as_bytes())))
    }
}

impl Buf for BodyData {
    fn remaining(&self) -> usize {
        match &self.0 {
            Repr::Bytes(bytes) => bytes.remaining(),
            Repr::Pieces(pieces) => pieces.remaining(),
            Repr::Buf(buf) => buf.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(bytes) => bytes.chunk(),
            Repr::Pieces(pieces) => pieces.chunk(),
            Repr::Buf(buf) => buf.chunk(),
        }
    }

    fn advance(&mut self, cnt: usize) {
        match &mut self.0 {
            Repr::Bytes(bytes) => bytes.advance(cnt),
            Repr::Pieces(pieces) => pieces.advance(cnt),
            Repr::Buf(buf) => buf.advance(cnt),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        match &self.0 {
            Repr::Bytes(bytes) => bytes.chunks_vectored(dst),
            Repr::Pieces(pieces) => pieces.chunks_vectored(dst),
            Repr::Buf(buf) => buf.chunks_vectored(dst),
        }
    }
}

/// Bytes in pieces read as one buffer, none copied: the items of a batch and the separators
/// between them.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    pieces: Vec<Bytes>,
    /// The first piece not wholly sent (the pieces before it are sent).
    next: usize,
    remaining: usize,
}

impl Pieces {
    pub(crate) fn with_capacity(pieces: usize) -> Pieces {
        Pieces {
            pieces: Vec::with_capacity(pieces),
            ..Pieces::default()
        }
    }

    /// Adds a piece after the others (an empty one is left out: a piece read as empty would
    /// say the body is over).
    pub(crate) fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.remaining += piece.len();
            self.pieces.push(piece);
        }
    }
}

impl Buf for Pieces {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.pieces.get(self.next).map_or(&[], |piece| piece)
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the body");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(piece) = self.pieces.get_mut(self.next) else {
                break;
            };
            if cnt < piece.len() {
                piece.advance(cnt);
                break;
            }
            cnt -= piece.len();
            self.next += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let pieces = self.pieces.get(self.next..).unwrap_or_default();
        let mut n = 0;
        for (slot, piece) in dst.iter_mut().zip(pieces) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut buf: impl Buf) -> Vec<u8> {
        let mut out = Vec::new();
        while buf.has_remaining() {
            let chunk = buf.chunk();
            assert!(
                !chunk.is_empty(),
                "{} bytes left, none given",
                buf.remaining()
            );
            out.extend_from_slice(chunk);
            let n = chunk.len();
            buf.advance(n);
        }
        out
    }

    #[test]
    fn pieces_read_in_order_whatever_the_steps() {
        let mut pieces = Pieces::default();
        for piece in ["[", "", "abc", ", ", "de", "]"] {
            pieces.push(Bytes::from_static(piece.as_bytes()));
        }
        assert_eq!(pieces.remaining(), 9);
        let vectored = |pieces: &Pieces| pieces.chunks_vectored(&mut [IoSlice::new(&[]); 8]);
        assert_eq!(vectored(&pieces), 5, "the empty piece left out");
        pieces.advance(2);
        assert_eq!(pieces.chunk(), b"bc");
        pieces.advance(5);
        assert_eq!(pieces.chunk(), b"e");
        assert_eq!(vectored(&pieces), 2);
        assert_eq!(read_all(pieces), b"e]");
    }

    #[test]
    fn body_data_of_any_kind_reads_back_its_bytes() {
        let from_buf = BodyData::from_buf(Bytes::from_static(b"any").chain(&b" buf"[..]));
        assert_eq!(from_buf.remaining(), 7);
        assert_eq!(read_all(from_buf), b"any buf");
        assert_eq!(read_all(BodyData::from("text")), b"text");
        assert_eq!(read_all(BodyData::from(vec![1, 2])), [1, 2]);
    }
}
