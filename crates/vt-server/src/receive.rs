//! A request read to its parameters under its route's rules: the method (405), the body cap
//! (413), a multipart body part by part as it arrives, its file part into a spool.

use std::pin::Pin;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts as Head;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use crate::multipart::Multipart;
use crate::params::{multipart_boundary, Params};
use crate::reply;
use crate::routes::{Methods, Route, MAX_BODY};
use crate::uploads::{Form, FormReader, Spool};
use crate::{Abort, Body, Request};

/// Why a request was not read to its parameters. Each is answered as the service does
/// ([`Refusal::reply`]), except [`Refusal::Gone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A method the route does not answer: 405 with `Allow`.
    MethodNotAllowed(Methods),
    /// A body over the route's cap: 413.
    TooLarge,
    /// A multipart body that is not read (a boundary over 70 characters, a part's header
    /// block over 16 KiB): 400.
    Malformed,
    /// The uploaded file could not be written to the spool: 500.
    Storage,
    /// The client stopped sending: no answer, the connection is closed.
    Gone,
}

impl Refusal {
    /// The service's answer, or [`Abort`] for [`Refusal::Gone`].
    pub fn reply(self) -> Result<Response<Body>, Abort> {
        let status = match self {
            Refusal::MethodNotAllowed(methods) => return Ok(reply::method_not_allowed(methods)),
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
            Refusal::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::Gone => return Err(Abort),
        };
        Ok(reply::empty(status))
    }
}

/// A request read whole: its head, and its body read as parameters (a url-encoded form, or a
/// multipart form with its file part in the spool). [`Received::params`] gives them.
#[derive(Debug)]
pub struct Received {
    head: Head,
    body: ReadBody,
}

/// A request body, read.
#[derive(Debug)]
enum ReadBody {
    /// A GET.
    None,
    /// A url-encoded form (whatever its Content-Type, when not multipart).
    Bytes(Bytes),
    /// A multipart form.
    Form(Box<Form>),
}

impl Received {
    /// Reads `request` under `route`'s rules: its method (else
    /// [`Refusal::MethodNotAllowed`]), then for a POST its body up to the route's cap (else
    /// [`Refusal::TooLarge`]), a multipart one part by part as it arrives, its first part
    /// named `file` written to `spool` and hashed on the way when the route takes a file and a
    /// spool is given (else read as text).
    pub async fn read(
        request: Request,
        route: &Route,
        spool: Option<&Spool>,
    ) -> Result<Received, Refusal> {
        let post = route
            .methods
            .reads_body(request.method())
            .ok_or(Refusal::MethodNotAllowed(route.methods))?;
        let (head, body) = request.into_parts();
        let body = if post {
            let spool = spool.filter(|_| route.takes_file);
            read_body(body, content_type(&head.headers), route.max_body, spool).await?
        } else {
            ReadBody::None
        };
        Ok(Received { head, body })
    }

    /// The request's method, URI, headers.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The parameters: the query string's, then the body's, in the order sent.
    pub fn params(&self) -> Params<'_> {
        let mut params = Params::default();
        if let Some(query) = self.head.uri.query() {
            params.add_urlencoded(query.as_bytes());
        }
        if !matches!(self.body, ReadBody::None) {
            params.set_content_type(content_type(&self.head.headers));
        }
        match &self.body {
            ReadBody::None => {}
            ReadBody::Bytes(bytes) if bytes.is_empty() => params.set_empty_body(),
            ReadBody::Bytes(bytes) => params.add_urlencoded(bytes),
            ReadBody::Form(form) => params.add_form(form),
        }
        params
    }
}

/// The `Content-Type` of a request (`""` when absent or not text).
fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads a request body of at most `limit` bytes: a multipart one part by part as it arrives
/// (its `file` part into `spool`, when given), any other whole.
async fn read_body(
    body: Incoming,
    content_type: &str,
    limit: usize,
    spool: Option<&Spool>,
) -> Result<ReadBody, Refusal> {
    match multipart_boundary(content_type) {
        Some(boundary) => {
            let mut reader = Multipart::new(boundary).ok_or(Refusal::Malformed)?;
            let mut form = FormReader::new(spool, MAX_BODY.min(limit));
            each_piece(body, limit, |piece| reader.feed(piece, &mut form)).await?;
            reader.finish(&mut form)?;
            Ok(ReadBody::Form(Box::new(form.finish())))
        }
        None => {
            let mut collected = Vec::new();
            each_piece(body, limit, |piece| {
                collected.extend_from_slice(piece);
                Ok(())
            })
            .await?;
            Ok(ReadBody::Bytes(Bytes::from(collected)))
        }
    }
}

/// Hands each piece of a body on as it arrives; more than `limit` bytes in all is 413.
async fn each_piece(
    mut body: Incoming,
    limit: usize,
    mut each: impl FnMut(&[u8]) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    use hyper::body::Body as _;
    let mut read = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(()),
            Some(Err(_)) => return Err(Refusal::Gone),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read += data.len();
                    if read > limit {
                        return Err(Refusal::TooLarge);
                    }
                    each(&data)?;
                }
            }
        }
    }
}
