//! Streamed bodies: the request [`Body`] (bytes, or chunks of a known total length), the
//! response [`BodyStream`] (chunks as they arrive), and the [`RequestOptions`] of one
//! [`Transport::send_streaming`](crate::Transport::send_streaming) call.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::{Error, ErrorKind};

/// The default cap of [`RequestOptions`] on a response body: 32 MiB, the same as
/// `HyperTransport`'s cap for [`Transport::send`](crate::Transport::send).
pub const DEFAULT_STREAM_BODY_CAP: u64 = 32 * 1024 * 1024;

/// The largest streamed request body that the default
/// [`Transport::send_streaming`](crate::Transport::send_streaming) collects into memory to
/// hand to [`Transport::send`](crate::Transport::send): 256 MiB. A longer body fails with
/// [`ErrorKind::InvalidRequest`] before a byte is read. Backends that stream (such as
/// `HyperTransport`) have no such limit.
pub const MAX_COLLECTED_REQUEST_BODY: u64 = 256 * 1024 * 1024;

/// Chunks of a request body, checked against their announced length.
type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// A request body: bytes in memory, or a stream of chunks whose total length is known before
/// the first is read (it is sent as `Content-Length`: no chunked uploads).
///
/// A streamed body is read once, as it is sent, so memory holds a few chunks at a time
/// whatever its length. A stream that fails, or yields more or fewer bytes than announced,
/// fails the request with [`ErrorKind::RequestBody`].
///
/// ```
/// use vt_transport::Body;
///
/// let form = Body::from("a=1");
/// assert_eq!(form.length(), 3);
/// assert!(!form.is_stream());
/// ```
///
/// A file is streamed with `Body::from_file` (feature `fs`), any other source with
/// [`Body::from_stream`]; a `multipart/form-data` upload is built by [`Multipart`].
///
/// [`Multipart`]: crate::Multipart
pub struct Body {
    kind: Kind,
}

enum Kind {
    Bytes(Bytes),
    Stream { length: u64, chunks: Chunks },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body::from(Bytes::new())
    }

    /// A body of `length` bytes, read from `chunks` as it is sent. An `Err` from the stream
    /// (a file that cannot be read) fails the request with [`ErrorKind::RequestBody`], and so
    /// does a stream that yields more or fewer than `length` bytes.
    pub fn from_stream<S>(length: u64, chunks: S) -> Body
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        Body::from_checked_stream(length, IoChunks(Box::pin(chunks)))
    }

    /// A body of `length` bytes from chunks whose errors are already this crate's.
    pub(crate) fn from_checked_stream<S>(length: u64, chunks: S) -> Body
    where
        S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
    {
        Body {
            kind: Kind::Stream {
                length,
                chunks: Box::pin(chunks),
            },
        }
    }

    /// The file at `path`, streamed from disk as it is sent (256 KiB at a time); its length
    /// is the file's size now. It must be a regular file (a pipe or a device has no length).
    /// A file that cannot be opened fails here with [`ErrorKind::RequestBody`]; one that
    /// cannot be read, shrinks or grows while it is sent fails the request with the same kind.
    /// Needs the cargo feature `fs` and a Tokio runtime.
    #[cfg(feature = "fs")]
    pub async fn from_file(path: impl AsRef<std::path::Path>) -> Result<Body, Error> {
        crate::fs::file_body(path.as_ref()).await
    }

    /// The length in bytes: the `Content-Length` of the request.
    pub fn length(&self) -> u64 {
        match &self.kind {
            Kind::Bytes(bytes) => bytes.len() as u64,
            Kind::Stream { length, .. } => *length,
        }
    }

    /// The bytes, if the body is in memory.
    pub(crate) fn as_bytes_in_memory(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes),
            Kind::Stream { .. } => None,
        }
    }

    /// Whether the body is a stream (not bytes in memory).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream { .. })
    }

    /// The bytes, if the body is in memory; otherwise the body itself, unchanged. A backend
    /// sends the first kind as it sends [`Transport::send`](crate::Transport::send)'s bodies.
    pub fn try_into_bytes(self) -> Result<Bytes, Body> {
        match self.kind {
            Kind::Bytes(bytes) => Ok(bytes),
            kind => Err(Body { kind }),
        }
    }

    /// The body as a stream of chunks, checked against [`length`](Self::length): a backend
    /// sends these (with `Content-Length: length`).
    pub fn into_chunks(self) -> BodyChunks {
        match self.kind {
            Kind::Bytes(bytes) => BodyChunks {
                length: bytes.len() as u64,
                sent: 0,
                state: ChunksState::Once(Some(bytes)),
            },
            Kind::Stream { length, chunks } => BodyChunks {
                length,
                sent: 0,
                state: ChunksState::Stream(chunks),
            },
        }
    }

    /// The whole body in memory, for a backend that sends bytes only. A body announced
    /// longer than `limit` fails with [`ErrorKind::InvalidRequest`] before anything is read;
    /// a stream that fails or does not yield its length, with [`ErrorKind::RequestBody`].
    pub async fn collect(self, limit: u64) -> Result<Bytes, Error> {
        let length = self.length();
        if length > limit {
            return Err(Error::with_detail(
                ErrorKind::InvalidRequest,
                format!(
                    "a streamed request body of {length} bytes is over the {limit} bytes this \
                     transport holds in memory"
                ),
            ));
        }
        let mut chunks = match self.try_into_bytes() {
            Ok(bytes) => return Ok(bytes),
            Err(body) => body.into_chunks(),
        };
        // The length is checked by the chunks: at most `length` bytes arrive.
        let mut buffer = BytesMut::with_capacity(length as usize);
        while let Some(chunk) = chunks.next_chunk().await {
            buffer.extend_from_slice(&chunk?);
        }
        Ok(buffer.freeze())
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            kind: Kind::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(bytes))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes(bytes) => f.debug_tuple("Body::Bytes").field(&bytes.len()).finish(),
            Kind::Stream { length, .. } => f
                .debug_struct("Body::Stream")
                .field("length", length)
                .finish_non_exhaustive(),
        }
    }
}

/// A user's stream of `io::Result` chunks, its errors made [`ErrorKind::RequestBody`].
struct IoChunks(Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>);

impl Stream for IoChunks {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx).map(|item| {
            item.map(|chunk| {
                chunk
                    .map_err(|e| Error::from_parts(ErrorKind::RequestBody, e.to_string(), e.into()))
            })
        })
    }
}

/// The chunks of a request [`Body`], in order, checked against its announced length: a
/// stream that yields more, or ends with fewer, fails with [`ErrorKind::RequestBody`] (and
/// nothing more is yielded after an error). Empty chunks are skipped.
pub struct BodyChunks {
    length: u64,
    sent: u64,
    state: ChunksState,
}

enum ChunksState {
    Once(Option<Bytes>),
    Stream(Chunks),
    Done,
}

impl BodyChunks {
    /// The announced length of the whole body.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The next chunk, `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    fn fail(&mut self, detail: String) -> Poll<Option<Result<Bytes, Error>>> {
        self.state = ChunksState::Done;
        Poll::Ready(Some(Err(Error::with_detail(
            ErrorKind::RequestBody,
            detail,
        ))))
    }
}

impl Stream for BodyChunks {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let chunks = match &mut this.state {
                ChunksState::Done => return Poll::Ready(None),
                ChunksState::Once(bytes) => {
                    let bytes = bytes.take().filter(|b| !b.is_empty());
                    this.state = ChunksState::Done;
                    this.sent = this.length;
                    return Poll::Ready(bytes.map(Ok));
                }
                ChunksState::Stream(chunks) => chunks,
            };
            match chunks.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.len() as u64 > this.length - this.sent {
                        let length = this.length;
                        return this.fail(format!(
                            "the body stream yielded more than its announced {length} bytes"
                        ));
                    }
                    this.sent += chunk.len() as u64;
                    if !chunk.is_empty() {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.state = ChunksState::Done;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    if this.sent < this.length {
                        let (sent, length) = (this.sent, this.length);
                        return this.fail(format!(
                            "the body stream ended after {sent} of its announced {length} bytes"
                        ));
                    }
                    this.state = ChunksState::Done;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.state {
            ChunksState::Done => (0, Some(0)),
            ChunksState::Once(bytes) => {
                let n = usize::from(bytes.as_ref().is_some_and(|b| !b.is_empty()));
                (n, Some(n))
            }
            ChunksState::Stream(_) => (0, None),
        }
    }
}

impl fmt::Debug for BodyChunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyChunks")
            .field("length", &self.length)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// A response body, read chunk by chunk as it arrives.
///
/// The chunks come under the [`RequestOptions`] of the call: past the cap, the next item is
/// an [`Error::is_body_too_large`]; a stall longer than the idle timeout, or the deadline,
/// an [`Error::is_timeout`]; a connection cut mid-body, [`ErrorKind::Io`]. After an error the
/// stream ends. Dropping it before the end closes the connection (it is not reused).
pub struct BodyStream {
    state: StreamState,
}

enum StreamState {
    Once(Option<Bytes>),
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>),
}

impl BodyStream {
    /// An empty body.
    pub fn empty() -> BodyStream {
        BodyStream::from_bytes(Bytes::new())
    }

    /// A body already in memory, as one chunk (none if empty).
    pub fn from_bytes(bytes: Bytes) -> BodyStream {
        BodyStream {
            state: StreamState::Once(Some(bytes)),
        }
    }

    /// A body read from `chunks`, for a backend that streams. The backend applies the
    /// [`RequestOptions`] (cap, idle timeout, deadline) in the stream.
    pub fn from_stream<S>(chunks: S) -> BodyStream
    where
        S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
    {
        BodyStream {
            state: StreamState::Stream(Box::pin(chunks)),
        }
    }

    /// The next chunk of the body, `None` at its end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The rest of the body in memory (still under the call's cap): for a small answer,
    /// such as an error page, met on a streaming call.
    pub async fn collect(mut self) -> Result<Bytes, Error> {
        let mut buffer = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await {
            let chunk = chunk?;
            if buffer.is_empty() {
                // One chunk (the usual small answer) is returned without a copy.
                if let StreamState::Once(None) = self.state {
                    return Ok(chunk);
                }
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.state {
            StreamState::Once(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(Ok)),
            StreamState::Stream(chunks) => chunks.as_mut().poll_next(cx),
        }
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            StreamState::Once(bytes) => f
                .debug_struct("BodyStream")
                .field("in_memory", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            StreamState::Stream(_) => f.debug_struct("BodyStream").finish_non_exhaustive(),
        }
    }
}

/// Limits of one [`Transport::send_streaming`](crate::Transport::send_streaming) call.
///
/// The default: a 32 MiB cap on the response body ([`DEFAULT_STREAM_BODY_CAP`]), the
/// transport's own request timeout as the deadline, no idle timeout. A large download sets
/// its own:
///
/// ```
/// use std::time::Duration;
/// use vt_transport::RequestOptions;
///
/// let download = RequestOptions::new()
///     .with_max_body_size(Some(700 * 1024 * 1024))
///     .with_deadline(Duration::from_secs(3600))
///     .with_idle_timeout(Duration::from_secs(60));
/// assert_eq!(download.max_body_size(), Some(700 * 1024 * 1024));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RequestOptions {
    max_body_size: Option<u64>,
    deadline: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            max_body_size: Some(DEFAULT_STREAM_BODY_CAP),
            deadline: None,
            idle_timeout: None,
        }
    }
}

impl RequestOptions {
    /// The defaults (see [`RequestOptions`]).
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }

    /// Caps the response body at `bytes`, or not at all with `None`. Past the cap the body
    /// stream yields [`Error::is_body_too_large`] (at once, when `Content-Length` announces
    /// more). The cap is counted as the body arrives: memory does not depend on it.
    pub fn with_max_body_size(mut self, bytes: Option<u64>) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Bounds the whole exchange, from sending the request to the last byte of the
    /// response body, in place of the transport's own request timeout. Past it,
    /// [`Error::is_timeout`] (from the call, or from the body stream).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Bounds the wait for each chunk of the response body (from the response head to the
    /// first chunk, then between chunks). Past it, the body stream yields
    /// [`Error::is_timeout`]: a stalled download fails long before its deadline.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The cap on the response body, `None` for none.
    pub fn max_body_size(&self) -> Option<u64> {
        self.max_body_size
    }

    /// The deadline of the whole exchange, `None` for the transport's own request timeout.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The bound on the wait for each chunk of the response body, `None` for none.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
}
