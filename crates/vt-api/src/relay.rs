//! [`Client::relay`]: a request of any endpoint, its parameters given at run time, sent
//! through the one pipeline (stops, pacing, attempts, deadlines, status classification,
//! retries, refunds, 204 holds) with the client's key, and its answer returned as it came:
//! status, the headers a pass-through needs, and the body as a stream.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use vt_transport::{Body, BodyStream, RequestOptions};

use crate::client::{Attempt, Call, Client, Inner};
use crate::endpoint::{Batching, Encoding, EndpointSpec, Params};
use crate::transfer::{deadline_for, Upload, MAX_DOWNLOAD};
use crate::Error;

/// The headers of an answer that a relay keeps: those that describe the body, and where a
/// redirect points. Hop-by-hop headers (`Connection`, `Transfer-Encoding`) belong to one
/// connection, and cookies to the service.
const KEPT_HEADERS: [http::HeaderName; 10] = [
    http::header::CONTENT_TYPE,
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_DISPOSITION,
    http::header::CONTENT_ENCODING,
    http::header::LOCATION,
    http::header::LAST_MODIFIED,
    http::header::ETAG,
    http::header::CACHE_CONTROL,
    http::header::EXPIRES,
    http::header::RETRY_AFTER,
];

/// The most of a refused answer's body read for its error's excerpt.
const EXCERPT_READ: usize = 64 * 1024;

/// A request for [`Client::relay`]: parameters by wire name, and a file to upload.
///
/// ```
/// use vt_api::RelayRequest;
///
/// let request = RelayRequest::new([("resource", "44d88612fea8a8f36de82e1278abb02f"), ("APIKEY", "theirs")]);
/// // The client sends its own key: a caller's never goes on.
/// assert_eq!(request.params(), [("resource".to_owned(), "44d88612fea8a8f36de82e1278abb02f".to_owned())]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayRequest {
    params: Vec<(String, String)>,
    file: Option<PathBuf>,
}

impl RelayRequest {
    /// A request with these parameters, by wire name, in this order: the endpoint's query
    /// parameter (`resource`, `hash`, ...) among them, as the service takes it (joined
    /// queries included). An `apikey` among them, in any letter case, is dropped: the client
    /// adds its own key, as for every request.
    pub fn new<N: Into<String>, V: Into<String>>(
        params: impl IntoIterator<Item = (N, V)>,
    ) -> RelayRequest {
        let params = params
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .filter(|(name, _)| !name.trim().eq_ignore_ascii_case("apikey"))
            .collect();
        RelayRequest { params, file: None }
    }

    /// Sends the file at `path` too, as the multipart part `file` (for `file/scan`), streamed
    /// from disk when the request is sent (never whole in memory).
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> RelayRequest {
        self.file = Some(path.into());
        self
    }

    /// The parameters, in order (without any `apikey`).
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The file to upload, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

/// An answer of [`Client::relay`], as the service sent it: its status, the headers that
/// describe its body (the key cut out of any that would show it), and the body, read as it
/// arrives.
#[derive(Debug)]
pub struct RelayResponse {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: BodyStream,
}

impl RelayResponse {
    /// The status, e.g. 200, or 302 for `file/download` (the redirect is not followed).
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The headers kept: `Content-Type`, `Content-Length`, `Content-Disposition`,
    /// `Content-Encoding`, `Location`, `Last-Modified`, `ETag`, `Cache-Control`, `Expires`
    /// and `Retry-After`, when the service sent them.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The body, chunk by chunk as it arrives.
    pub fn into_body(self) -> BodyStream {
        self.body
    }

    /// The status, the headers and the body.
    pub fn into_parts(self) -> (http::StatusCode, http::HeaderMap, BodyStream) {
        (self.status, self.headers, self.body)
    }
}

impl Client {
    /// Sends a request of `endpoint` with the parameters of `request` (and its file) and
    /// returns the answer as it came: for a server that passes requests through to the
    /// service byte for byte.
    ///
    /// The request goes through the pipeline of every call: stops, the private-key check,
    /// pacing (a request of N queries joined in the endpoint's query parameter counts N with
    /// [`QuotaUnit::Resource`](crate::QuotaUnit::Resource)), the deadline of each attempt,
    /// retries with backoff (every relayed request can be sent again: the file is read
    /// anew), refunds of requests that never reached the service, 204 holds, and
    /// [`RetryPolicy::max_quota_wait`](crate::RetryPolicy::max_quota_wait). The client adds
    /// its own key, as for every endpoint. The method and encoding are the endpoint's
    /// ([`Methods::GetOrPost`](crate::Methods::GetOrPost): the client's
    /// [`RequestMethod`](crate::RequestMethod)). A file is sent to the endpoint as it is,
    /// whatever its size ([`Client::scan_file`] goes through an upload URL over 32 MB).
    ///
    /// What comes back:
    ///
    /// - **Returned as it came**, for the caller to pass on: every status from 200 to 499
    ///   but 204, 403 and 429. That is 200, a redirect (`file/download` answers 302 to
    ///   where the file is: never followed), 400 (the service refused the parameters), 404,
    ///   and so on. Its body is the service's own bytes, never decoded nor changed, read as
    ///   it arrives (up to 2 GiB, the request timeout at most between chunks); an error
    ///   while reading it comes from the stream, and is not retried (part of the body may
    ///   have been passed on).
    /// - **An error**, as for every call: 204 is waited out and the request sent again
    ///   ([`Error::RateLimited`] when 204s keep coming, [`Error::QuotaWait`] past the
    ///   policy's longest wait); 403 is [`Error::Forbidden`] (the key is refused: the
    ///   client sends nothing more) or [`Error::ForbiddenFeature`] (a private-only endpoint,
    ///   or `allinfo`: only requests of that feature stop); 429 and 5xx are retried, then
    ///   [`Error::UnexpectedStatus`]; a failed connection or a timeout is retried, then
    ///   [`Error::Transport`] or [`Error::Timeout`].
    /// - A file given to an endpoint that takes none (not a multipart POST), or one that
    ///   cannot be uploaded (not a regular file, over 200 MiB): [`Error::Upload`], and
    ///   nothing is sent.
    ///
    /// ```no_run
    /// # async fn example(client: vt_api::Client) -> Result<(), vt_api::Error> {
    /// use vt_api::{RelayRequest, FILE_DOWNLOAD};
    ///
    /// let hash = "44d88612fea8a8f36de82e1278abb02f";
    /// let answer = client
    ///     .relay(FILE_DOWNLOAD.spec(), RelayRequest::new([("hash", hash)]))
    ///     .await?;
    /// if answer.status() == 302 {
    ///     let location = answer.headers().get("location");
    ///     # let _ = location;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn relay(
        &self,
        endpoint: &EndpointSpec,
        request: RelayRequest,
    ) -> Result<RelayResponse, Error> {
        let inner = &*self.inner;
        let upload = match &request.file {
            None => None,
            Some(path) if !inner.is_multipart_post(endpoint) => {
                return Err(Error::Upload {
                    path: path.display().to_string(),
                    reason: format!("{} takes no file", endpoint.path),
                })
            }
            Some(path) => Some(Upload::of(path).await?),
        };
        let params = Params::new();
        let count = queries_in(endpoint, &request.params);
        let mut call = Call::new(endpoint, &params, "", count);
        call.relayed = Some(&request.params);
        let (call, upload) = (&call, upload.as_ref());
        inner
            .run(call, move || inner.relay_attempt(call, upload))
            .await
    }
}

/// How many queries `params` carry in the endpoint's query parameter (at least one).
fn queries_in(spec: &EndpointSpec, params: &[(String, String)]) -> usize {
    let value = params
        .iter()
        .find(|(name, _)| !spec.query_param.is_empty() && name == spec.query_param);
    match (value, spec.batching) {
        (Some((_, value)), Batching::Joined(separator)) => value
            .split(separator)
            .filter(|query| !query.trim().is_empty())
            .count()
            .max(1),
        _ => 1,
    }
}

/// Whether an answer of `status` is returned as it came (see [`Client::relay`]); the others
/// are the pipeline's: 204 held and retried, 403 an error, 429 and 5xx retried.
fn is_returned(status: u16) -> bool {
    (200..500).contains(&status) && !matches!(status, 204 | 403 | 429)
}

/// The start of `body`: at least `limit` bytes of it, when it is that long.
async fn first_bytes(mut body: BodyStream, limit: usize) -> Result<Bytes, vt_transport::Error> {
    let mut read = BytesMut::new();
    while read.len() < limit {
        match body.next_chunk().await {
            Some(chunk) => read.extend_from_slice(&chunk?),
            None => break,
        }
    }
    Ok(read.freeze())
}

impl Inner {
    /// Whether requests of `spec` are `multipart/form-data` POSTs (`file/scan`).
    fn is_multipart_post(&self, spec: &EndpointSpec) -> bool {
        self.method_of(spec) == http::Method::POST && spec.encoding == Encoding::Multipart
    }

    /// One attempt of a relay: the request, and its answer's head; the body is the caller's
    /// to read, unless the status is the pipeline's.
    async fn relay_attempt(
        &self,
        call: &Call<'_>,
        upload: Option<&Upload>,
    ) -> Attempt<RelayResponse> {
        let request = if self.is_multipart_post(call.spec) {
            // vt-transport's form writes the caller's names escaped, the file streamed.
            match self.multipart_request(call, upload).await {
                Ok(request) => request,
                Err(failed) => return failed,
            }
        } else {
            match self.request(call) {
                Ok(request) => request.map(Body::from),
                Err(error) => return Attempt::Failed(error),
            }
        };
        let timeout = self.retry().request_timeout;
        let sent = request.body().length();
        let options = RequestOptions::new()
            .with_max_body_size(Some(MAX_DOWNLOAD))
            .with_deadline(deadline_for(timeout, sent.saturating_add(MAX_DOWNLOAD)))
            .with_idle_timeout(timeout);
        // The head must come within the time the request's body needs; the answer's body
        // has the deadline of the options.
        let response = match self
            .within(
                deadline_for(timeout, sent),
                self.transport().send_streaming(request, &options),
            )
            .await
        {
            Ok(response) => response,
            Err(failed) => return failed,
        };
        let (head, body) = response.into_parts();
        let status = head.status.as_u16();
        if is_returned(status) {
            let headers = KEPT_HEADERS
                .iter()
                .flat_map(|name| {
                    head.headers
                        .get_all(name)
                        .iter()
                        .map(|value| (name.clone(), self.header_without_echoed_key(value)))
                })
                .collect();
            return Attempt::Answered(RelayResponse {
                status: head.status,
                headers,
                body,
            });
        }
        let excerpt = self
            .within::<_, ()>(timeout, first_bytes(body, EXCERPT_READ))
            .await
            .unwrap_or_default();
        self.refusal(call, status, &head.headers, &excerpt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn joined_queries_count_one_each() {
        let rescan = crate::FILE_RESCAN.spec();
        assert_eq!(queries_in(rescan, &pairs(&[("resource", "a, b,c,")])), 3);
        assert_eq!(queries_in(rescan, &pairs(&[("date", "x")])), 1);
        let behaviour = crate::FILE_BEHAVIOUR.spec();
        assert_eq!(queries_in(behaviour, &pairs(&[("hash", "a,b")])), 1);
        let scan = crate::FILE_SCAN.spec();
        assert_eq!(queries_in(scan, &pairs(&[("", "a,b")])), 1);
    }

    #[test]
    fn the_pipelines_statuses_are_not_returned() {
        for status in [200, 302, 400, 404, 413] {
            assert!(is_returned(status), "{status}");
        }
        for status in [204, 403, 429, 500, 503] {
            assert!(!is_returned(status), "{status}");
        }
    }
}
