//! A transport for tests: answers queued responses in order and records every request.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::{async_trait, Error, ErrorKind, Transport};

/// A request as the [`ReplayTransport`] received it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Full URI.
    pub uri: http::Uri,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Request body.
    pub body: Bytes,
}

/// Answers queued responses (or errors) in order, and records the requests it was sent, in
/// the style of smithy-rs's `StaticReplayClient`. A request with nothing queued for it fails
/// with [`ErrorKind::Other`], so an unexpected request fails the test loudly.
///
/// ```
/// # tokio_test_block_on(async {
/// use vt_transport::{Bytes, ReplayTransport, Transport};
///
/// let replay = ReplayTransport::new();
/// replay.push_response(204, "");
/// let request = http::Request::post("http://127.0.0.1/x").body(Bytes::from("a=1")).unwrap();
/// let response = replay.send(request).await.unwrap();
/// assert_eq!(response.status(), 204);
/// assert_eq!(replay.requests()[0].body, "a=1");
/// assert_eq!(replay.remaining(), 0);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ReplayTransport {
    state: Mutex<ReplayState>,
}

#[derive(Debug, Default)]
struct ReplayState {
    answers: VecDeque<Result<http::Response<Bytes>, Error>>,
    requests: Vec<RecordedRequest>,
}

impl ReplayTransport {
    /// An empty replay: every request fails until answers are queued.
    pub fn new() -> ReplayTransport {
        ReplayTransport::default()
    }

    /// Queues a response with `status` and `body` (no headers).
    pub fn push_response(&self, status: u16, body: impl Into<Bytes>) {
        let mut response = http::Response::new(body.into());
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        self.push(Ok(response));
    }

    /// Queues a transport error.
    pub fn push_error(&self, error: Error) {
        self.push(Err(error));
    }

    /// Queues any answer.
    pub fn push(&self, answer: Result<http::Response<Bytes>, Error>) {
        self.lock().answers.push_back(answer);
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many queued answers have not been used.
    pub fn remaining(&self) -> usize {
        self.lock().answers.len()
    }

    fn lock(&self) -> MutexGuard<'_, ReplayState> {
        // A panic elsewhere in a test must not hide what was recorded.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Transport for ReplayTransport {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        let (parts, body) = request.into_parts();
        let mut state = self.lock();
        let answer = state.answers.pop_front().unwrap_or_else(|| {
            Err(Error::with_detail(
                ErrorKind::Other,
                format!(
                    "replay transport has nothing queued for {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            ))
        });
        state.requests.push(RecordedRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        });
        answer
    }
}
