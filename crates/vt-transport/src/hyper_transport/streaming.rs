//! The bodies of `HyperTransport`'s requests (bytes, or a [`Body`]'s chunks) and the response
//! body of a streaming call, read frame by frame under its cap, idle timeout and deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body_util::Full;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{BodyChunks, BoxError, Error};

use super::errors;

/// A request body as hyper sends it: bytes (exactly as [`Full`] sends them, for `send`), or
/// a streamed [`Body`](crate::Body)'s chunks with their exact length (so hyper writes
/// `Content-Length`, never chunked encoding).
pub(crate) enum OutBody {
    Full(Full<Bytes>),
    Stream(BodyChunks),
}

impl HttpBody for OutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OutBody::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            OutBody::Stream(chunks) => Pin::new(chunks)
                .poll_next(cx)
                .map(|item| item.map(|chunk| chunk.map(Frame::data).map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(full) => full.is_end_stream(),
            // Polled to its end even when empty, so that a stream longer than announced is
            // caught.
            OutBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(full) => full.size_hint(),
            OutBody::Stream(chunks) => SizeHint::with_exact(chunks.length()),
        }
    }
}

/// A timer that fails the body when it fires.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    error: fn(Duration) -> Error,
    duration: Duration,
}

impl Timer {
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Some((self.error)(self.duration)),
            Poll::Pending => None,
        }
    }
}

fn idle_error(idle: Duration) -> Error {
    Error::timeout(format!(
        "no data for {idle:?} while reading the response body (idle timeout)"
    ))
}

/// The error of a passed deadline (`total` is the whole allowed time).
pub(crate) fn deadline_error(total: Duration) -> Error {
    Error::timeout(format!("no complete response within {total:?}"))
}

/// The response body of a streaming call: hyper's frames as chunks, counted against the cap,
/// with a timer between chunks and one for the whole exchange.
pub(crate) struct Download {
    body: Incoming,
    received: u64,
    cap: Option<u64>,
    idle: Option<Timer>,
    deadline: Option<Timer>,
    done: bool,
}

impl Download {
    /// `deadline`: when the exchange must be over, and how long it was allowed in all.
    pub(crate) fn new(
        body: Incoming,
        cap: Option<u64>,
        idle: Option<Duration>,
        deadline: Option<(Instant, Duration)>,
    ) -> Download {
        Download {
            body,
            received: 0,
            cap,
            idle: idle.map(|duration| Timer {
                sleep: Box::pin(tokio::time::sleep(duration)),
                error: idle_error,
                duration,
            }),
            deadline: deadline.map(|(at, total)| Timer {
                sleep: Box::pin(tokio::time::sleep_until(at)),
                error: deadline_error,
                duration: total,
            }),
            done: false,
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Bytes, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for Download {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    if data.is_empty() {
                        continue;
                    }
                    this.received += data.len() as u64;
                    if let Some(cap) = this.cap {
                        if this.received > cap {
                            return this.fail(Error::over_cap(cap));
                        }
                    }
                    if let Some(idle) = &mut this.idle {
                        let next = Instant::now() + idle.duration;
                        idle.sleep.as_mut().reset(next);
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(error))) => {
                    return this.fail(errors::map(error, errors::Stage::Body));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        // Nothing to read now: has a timer fired meanwhile? The deadline first, the more
        // telling of the two when both have.
        let fired = this
            .deadline
            .as_mut()
            .and_then(|timer| timer.poll_fired(cx))
            .or_else(|| this.idle.as_mut().and_then(|timer| timer.poll_fired(cx)));
        match fired {
            Some(error) => this.fail(error),
            None => Poll::Pending,
        }
    }
}
