//! `multipart/form-data` request bodies (RFC 7578) whose parts may be streamed, with the
//! length of the whole body known before it is sent.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::{Body, BodyChunks, Error};

/// A `multipart/form-data` body: text fields and file parts, the files streamed as the body
/// is sent (never whole in memory), the `Content-Length` of the whole known up front.
///
/// The boundary is 128 random bits, drawn when the body is [finished](Self::finish) and
/// checked against every part held in memory; a streamed part cannot be checked before it
/// is sent, and 128 random bits are what makes a collision with it negligible. Names and
/// file names are written as browsers write them (WHATWG's HTML standard): `"` as `%22`,
/// CR as `%0D`, LF as `%0A`, anything else (UTF-8 included) as it is.
///
/// ```
/// # async fn example() -> Result<(), vt_transport::Error> {
/// use vt_transport::{Body, Multipart};
///
/// let (content_type, body) = Multipart::new()
///     .text("apikey", "0123456789abcdef")
///     .file("file", "/tmp/sample.exe").await?
///     .finish();
/// assert!(content_type.starts_with("multipart/form-data; boundary="));
/// let request = http::Request::post("https://www.virustotal.com/vtapi/v2/file/scan")
///     .header(http::header::CONTENT_TYPE, content_type)
///     .body(body)
///     .expect("a valid request");
/// # let _ = request;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Debug)]
struct Part {
    /// The part's headers after the boundary line, each ending in CRLF, then the empty line.
    head: String,
    body: Body,
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Multipart {
        Multipart::default()
    }

    /// Adds a text field.
    pub fn text(self, name: &str, value: impl Into<String>) -> Multipart {
        let head = format!(
            "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
            escape(name)
        );
        self.push(head, Body::from(value.into()))
    }

    /// Adds a part: a field `name` holding `body` (bytes, or a stream of known length), with a
    /// `filename` when it is a file, and a `Content-Type` when given.
    pub fn part(
        self,
        name: &str,
        filename: Option<&str>,
        content_type: Option<&str>,
        body: Body,
    ) -> Multipart {
        let mut head = format!("Content-Disposition: form-data; name=\"{}\"", escape(name));
        if let Some(filename) = filename {
            head.push_str(&format!("; filename=\"{}\"", escape(filename)));
        }
        head.push_str("\r\n");
        if let Some(content_type) = content_type {
            // A header value cannot hold a line break: one would end the header.
            let content_type: String = content_type
                .chars()
                .filter(|c| *c != '\r' && *c != '\n')
                .collect();
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        self.push(head, body)
    }

    /// Adds the file at `path` as the field `name`, streamed from disk when the body is sent
    /// (see [`Body::from_file`]), with the file's own name as `filename` and the type
    /// `application/octet-stream`. Fails as [`Body::from_file`] does. Needs the cargo feature
    /// `fs`.
    #[cfg(feature = "fs")]
    pub async fn file(
        self,
        name: &str,
        path: impl AsRef<std::path::Path>,
    ) -> Result<Multipart, Error> {
        let path = path.as_ref();
        let body = Body::from_file(path).await?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        Ok(self.part(
            name,
            Some(&filename),
            Some("application/octet-stream"),
            body,
        ))
    }

    fn push(mut self, head: String, body: Body) -> Multipart {
        self.parts.push(Part { head, body });
        self
    }

    /// The `Content-Type` header value (`multipart/form-data; boundary=...`) and the body,
    /// whose [`length`](Body::length) is the `Content-Length` of the whole.
    pub fn finish(self) -> (String, Body) {
        let boundary = self.boundary();
        let mut segments = VecDeque::with_capacity(self.parts.len() * 2 + 1);
        let mut length = 0u64;
        let any = !self.parts.is_empty();
        for (i, part) in self.parts.into_iter().enumerate() {
            // The CRLF that ends the previous part's data belongs to the boundary line.
            let lead = if i == 0 { "" } else { "\r\n" };
            let framing = format!("{lead}--{boundary}\r\n{}", part.head);
            length += framing.len() as u64 + part.body.length();
            segments.push_back(Body::from(framing));
            segments.push_back(part.body);
        }
        let lead = if any { "\r\n" } else { "" };
        let end = format!("{lead}--{boundary}--\r\n");
        length += end.len() as u64;
        segments.push_back(Body::from(end));
        let chunks = Segments {
            pending: segments,
            current: None,
        };
        (
            format!("multipart/form-data; boundary={boundary}"),
            Body::from_checked_stream(length, chunks),
        )
    }

    /// A boundary that occurs in no part held in memory (nor in the parts' headers).
    fn boundary(&self) -> String {
        loop {
            let boundary = random_boundary();
            let inside = |bytes: &[u8]| {
                bytes
                    .windows(boundary.len())
                    .any(|w| w == boundary.as_bytes())
            };
            let clash = self.parts.iter().any(|part| {
                inside(part.head.as_bytes())
                    || part.body.as_bytes_in_memory().is_some_and(|b| inside(b))
            });
            if !clash {
                return boundary;
            }
        }
    }
}

/// `vt-` and 128 random bits in hex, from std's randomly keyed SipHash (no `rand` crate):
/// each `RandomState` has keys of its own.
fn random_boundary() -> String {
    use std::hash::BuildHasher;
    use std::time::{SystemTime, UNIX_EPOCH};
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let a = std::hash::RandomState::new().hash_one(now);
    let b = std::hash::RandomState::new().hash_one((now, a));
    format!("vt-{a:016x}{b:016x}")
}

/// A name or file name inside a quoted header parameter.
fn escape(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The framing and the parts' bodies, one after the other.
struct Segments {
    pending: VecDeque<Body>,
    current: Option<BodyChunks>,
}

impl Stream for Segments {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(current) = &mut this.current {
                match Pin::new(current).poll_next(cx) {
                    Poll::Ready(None) => this.current = None,
                    Poll::Ready(Some(Err(error))) => {
                        this.pending.clear();
                        this.current = None;
                        return Poll::Ready(Some(Err(error)));
                    }
                    other => return other,
                }
            }
            match this.pending.pop_front() {
                Some(body) => this.current = Some(body.into_chunks()),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl fmt::Debug for Segments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segments")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}
