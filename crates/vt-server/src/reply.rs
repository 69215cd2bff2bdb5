//! The service's answers, byte for byte: the empty ones (the 204 of a quota, the 400, 403,
//! 404, 405, 413 and 500 pages), JSON with the recorded headers, gzipped when the client
//! accepts it, and the batch form that joins items into the array the service sends.
//!
//! Recorded headers: `Cache-Control: no-cache` on every API answer; `Content-Type:
//! text/html; charset=utf-8` on the empty ones except the 204, which has none; `Content-Type:
//! application/json` and `Vary: Accept-Encoding` on JSON ones.

use bytes::{Buf, Bytes};
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
    VARY,
};
use http::{Response, StatusCode};

use crate::body::Pieces;
use crate::routes::Methods;
use crate::{Body, BodyData};

/// The `Content-Type` of JSON answers.
pub const JSON: &str = "application/json";
/// The `Content-Type` of the empty error pages.
pub const HTML: &str = "text/html; charset=utf-8";

/// An answer with an empty body, as the service sends it: the 204 of a quota (no
/// `Content-Type`), and the 400, 403, 404, 405, 413 and 500 pages (`text/html`).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status != StatusCode::NO_CONTENT {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(HTML));
    }
    response
}

/// 405 for a method a route does not answer, with `Allow`.
pub fn method_not_allowed(methods: Methods) -> Response<Body> {
    let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(methods.allow()));
    response
}

/// A 200 with a JSON body (one answer, or a batch from [`batch`]), gzipped when `gzip` (see
/// [`accepts_gzip`]) and not empty.
pub fn json(body: impl Into<BodyData>, gzip: bool) -> Response<Body> {
    let mut body = body.into();
    let gzipped = gzip && body.has_remaining();
    if gzipped {
        body = BodyData::from(gzipped_bytes(body));
    }
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether a request's `Accept-Encoding` takes gzip (`gzip`, `x-gzip` or `*`, with a `q` above
/// 0 or none).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|param| {
                param.trim().split_once('=').is_some_and(|(key, q)| {
                    key.trim().eq_ignore_ascii_case("q") && q.trim().parse::<f32>() == Ok(0.0)
                })
            });
            !refused
                && (name.eq_ignore_ascii_case("gzip")
                    || name.eq_ignore_ascii_case("x-gzip")
                    || name == "*")
        })
}

/// A body gzipped, on the fly at the fastest level: answers are kept uncompressed (measured in
/// docs/emulator-benchmarks.md).
fn gzipped_bytes(mut body: impl Buf) -> Bytes {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.remaining() / 4 + 64),
        flate2::Compression::fast(),
    );
    while body.has_remaining() {
        let chunk = body.chunk();
        let n = chunk.len();
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(chunk);
        body.advance(n);
    }
    encoder.finish().unwrap_or_default().into()
}

/// Where [`write_batch`] writes its brackets and separators (the caller writes the items): a
/// `Vec<u8>`, or a server's own answer assembler.
pub trait BatchOut {
    /// Appends fixed text.
    fn put(&mut self, text: &'static [u8]);
}

impl BatchOut for Vec<u8> {
    fn put(&mut self, text: &'static [u8]) {
        self.extend_from_slice(text);
    }
}

impl BatchOut for Pieces {
    fn put(&mut self, text: &'static [u8]) {
        self.push(Bytes::from_static(text));
    }
}

/// The answers of a request as the service shapes them: one item's answer alone, several in
/// an array with the service's separator (`[a, b, c]`), none as nothing. `write_item` writes
/// each item, in the order given.
pub fn write_batch<O: BatchOut + ?Sized, I>(
    out: &mut O,
    items: impl ExactSizeIterator<Item = I>,
    mut write_item: impl FnMut(&mut O, I),
) {
    let many = items.len() > 1;
    if many {
        out.put(b"[");
    }
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.put(b", ");
        }
        write_item(out, item);
    }
    if many {
        out.put(b"]");
    }
}

/// [`write_batch`] of answers held as bytes, none copied: the body of [`json`] for a batch.
pub fn batch(items: Vec<Bytes>) -> BodyData {
    let mut pieces = Pieces::with_capacity(2 * items.len() + 1);
    write_batch(&mut pieces, items.into_iter(), Pieces::push);
    BodyData::from_pieces(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderName;

    fn bytes_of(mut data: BodyData) -> Vec<u8> {
        data.copy_to_bytes(data.remaining()).to_vec()
    }

    fn headers(response: &Response<Body>) -> Vec<(&str, &str)> {
        response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn a_batch_is_its_items_joined_as_the_service_joins_them() {
        let items = [r#"{"response_code": 1}"#, r#"{"response_code": 0}"#, "{}"];
        let held = |n: usize| {
            items[..n]
                .iter()
                .map(|item| Bytes::from_static(item.as_bytes()))
                .collect()
        };
        assert_eq!(
            bytes_of(batch(held(3))),
            br#"[{"response_code": 1}, {"response_code": 0}, {}]"#
        );
        assert_eq!(bytes_of(batch(held(1))), br#"{"response_code": 1}"#);
        assert_eq!(bytes_of(batch(held(0))), b"");
        // Written into bytes of one's own, the same.
        for n in 0..=3 {
            let mut out = Vec::new();
            write_batch(&mut out, items[..n].iter(), |out, item| {
                out.extend_from_slice(item.as_bytes())
            });
            assert_eq!(out, bytes_of(batch(held(n))), "{n} items");
        }
    }

    #[test]
    fn empty_answers_carry_the_recorded_headers() {
        let quota = empty(StatusCode::NO_CONTENT);
        assert_eq!(headers(&quota), [("cache-control", "no-cache")]);
        let forbidden = empty(StatusCode::FORBIDDEN);
        assert_eq!(forbidden.status(), 403);
        assert_eq!(
            headers(&forbidden),
            [("cache-control", "no-cache"), ("content-type", HTML)]
        );
        let wrong_method = method_not_allowed(Methods::GetOrPost);
        assert_eq!(
            headers(&wrong_method),
            [
                ("cache-control", "no-cache"),
                ("content-type", HTML),
                ("allow", "GET, POST")
            ]
        );
        use hyper::body::Body as _;
        assert_eq!(forbidden.body().size_hint().exact(), Some(0));
    }

    #[test]
    fn json_is_gzipped_only_when_asked_and_not_empty() {
        let plain = json("{\"a\": 1}", false);
        assert_eq!(
            headers(&plain),
            [
                ("cache-control", "no-cache"),
                ("content-type", JSON),
                ("vary", "Accept-Encoding")
            ]
        );
        let gzipped = json("{\"a\": 1}", true);
        assert_eq!(
            gzipped.headers().get(CONTENT_ENCODING).unwrap(),
            "gzip",
            "{:?}",
            headers(&gzipped)
        );
        let nothing = json(Bytes::new(), true);
        assert!(nothing.headers().get(CONTENT_ENCODING).is_none());
    }

    #[test]
    fn gzip_is_accepted_unless_refused_with_q_0() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                HeaderName::from_static("accept-encoding"),
                value.parse().unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("x-gzip"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("identity, br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
