//! Files sent and received, through the same pipeline as every request (pacing, retries,
//! deadlines, stops): uploads to `file/scan`, streamed from disk (through an upload URL
//! when the request would be over 32 MB), and downloads of `file/download` and
//! `file/network-traffic`, streamed to disk, following one redirect without the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use vt_model::{FileScan, Query, RawAnswer, Resource, UploadUrl};
use vt_transport::{Body, Multipart, RequestOptions};

use crate::client::{Attempt, Call, Client, Inner};
use crate::endpoint::{Endpoint, EndpointSpec, Params, FILE_SCAN, FILE_SCAN_UPLOAD_URL};
use crate::events::Event;
use crate::Error;

/// The largest `file/scan` request the service takes, multipart framing included.
pub const MAX_DIRECT_UPLOAD: u64 = 32 * 1024 * 1024;
/// The largest file an upload URL takes (private keys).
pub const MAX_UPLOAD: u64 = 200 * 1024 * 1024;
/// Room for the multipart framing around the file.
const FRAMING: u64 = 4096;
/// The largest download accepted: far above any file the service stores.
pub(crate) const MAX_DOWNLOAD: u64 = 2 * 1024 * 1024 * 1024;
/// A transfer says how far it is every this many bytes.
const PROGRESS_STEP: u64 = 1024 * 1024;
/// The slowest transfer rate a deadline allows for (bytes a second): a large file gets
/// the request timeout plus the time this rate needs for it.
const SLOWEST_RATE: u64 = 100 * 1024;

/// A file to upload, checked before anything is sent.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    path: PathBuf,
    length: u64,
}

/// What a download came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Downloaded {
    /// Saved, this many bytes.
    Saved {
        /// The file's size.
        bytes: u64,
    },
    /// The service has no such file (404); nothing was written.
    NotFound,
}

impl Upload {
    /// Checks that `path` is a regular file of at most [`MAX_UPLOAD`] bytes.
    pub(crate) async fn of(path: &Path) -> Result<Upload, Error> {
        let unreadable = |reason: String| Error::Upload {
            path: path.display().to_string(),
            reason,
        };
        let metadata = tokio::fs::metadata(path)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        if !metadata.is_file() {
            return Err(unreadable("not a regular file".to_owned()));
        }
        if metadata.len() > MAX_UPLOAD {
            return Err(unreadable(format!(
                "{} bytes, over the service's limit of {MAX_UPLOAD} (200 MiB)",
                metadata.len()
            )));
        }
        Ok(Upload {
            path: path.to_owned(),
            length: metadata.len(),
        })
    }

    /// Whether it goes through an upload URL (the request would be over 32 MB).
    fn needs_upload_url(&self) -> bool {
        self.length + FRAMING > MAX_DIRECT_UPLOAD
    }
}

/// A deadline for moving `bytes`: the request timeout, plus what the slowest rate allowed
/// needs for them.
pub(crate) fn deadline_for(timeout: Duration, bytes: u64) -> Duration {
    timeout + Duration::from_secs(bytes / SLOWEST_RATE)
}

impl Client {
    /// Uploads the file at `path` for analysis, streamed from disk (never held in memory).
    /// A request of up to 32 MB goes to `file/scan`; a larger file (up to 200 MiB, private
    /// keys) through an upload URL asked for first; beyond, or a path that is not a regular
    /// file, is [`Error::Upload`] before anything is sent. The answer names the scan_id to
    /// ask `file/report` with. [`Event::Transfer`]s say how far the upload is.
    pub async fn scan_file(&self, path: impl AsRef<Path>) -> Result<RawAnswer<FileScan>, Error> {
        let upload = Upload::of(path.as_ref()).await?;
        let params = Params::new();
        let upload_url = match upload.needs_upload_url() {
            false => None,
            true => {
                let call = Call::new(&FILE_SCAN_UPLOAD_URL, &params, "", 1);
                let url: UploadUrl = self.inner.call(call, |body| vt_model::decode(body)).await?;
                Some(url.upload_url)
            }
        };
        let spec = FILE_SCAN.spec();
        let mut call = Call::new(spec, &params, "", 1);
        call.upload = Some(&upload);
        call.url = upload_url.as_deref();
        self.inner
            .call(call, |body| RawAnswer::parse(body.clone()))
            .await
    }

    /// Downloads what `endpoint` ([`FILE_DOWNLOAD`](crate::FILE_DOWNLOAD) or
    /// [`FILE_NETWORK_TRAFFIC`](crate::FILE_NETWORK_TRAFFIC), private keys) serves for
    /// `hash` to the file `to`, streamed (never held in memory): written beside it as
    /// `<to>.part` and renamed when complete, so that a failed download leaves nothing. One
    /// redirect is followed, and the key is never sent where it points. 404 is
    /// [`Downloaded::NotFound`].
    pub async fn download(
        &self,
        endpoint: &Endpoint<Resource, Bytes>,
        hash: &Resource,
        to: impl AsRef<Path>,
    ) -> Result<Downloaded, Error> {
        let to = to.as_ref();
        let params = Params::new();
        let call = Call::new(endpoint.spec(), &params, hash.wire_text(), 1);
        let part = part_path(to);
        let inner = &*self.inner;
        let (call, part_ref) = (&call, &part);
        let downloaded = inner
            .run(call, move || inner.download_attempt(call, part_ref))
            .await;
        match downloaded {
            Ok(Downloaded::Saved { bytes }) => {
                tokio::fs::rename(&part, to)
                    .await
                    .map_err(|e| download_error(to, &e))?;
                Ok(Downloaded::Saved { bytes })
            }
            other => {
                let _ = tokio::fs::remove_file(&part).await;
                other
            }
        }
    }
}

/// `<to>.part`.
fn part_path(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn download_error(to: &Path, error: &std::io::Error) -> Error {
    Error::Download {
        path: to.display().to_string(),
        reason: error.to_string(),
    }
}

impl Inner {
    /// Sends `call` with `upload` as its multipart part `file`, streamed from disk, and
    /// reads the (small) answer.
    pub(crate) async fn send_upload<V>(
        &self,
        call: &Call<'_>,
        upload: &Upload,
    ) -> Result<http::Response<Bytes>, Attempt<V>> {
        let request = self.multipart_request(call, Some(upload)).await?;
        let length = request.body().length();
        let deadline = deadline_for(self.retry().request_timeout, length);
        let options = RequestOptions::new()
            .with_deadline(deadline)
            .with_idle_timeout(self.retry().request_timeout);
        let response = self
            .within(deadline, self.transport().send_streaming(request, &options))
            .await?;
        let (head, body) = response.into_parts();
        let body = self
            .within(self.retry().request_timeout, body.collect())
            .await?;
        Ok(http::Response::from_parts(head, body))
    }

    /// The POST of `call` as a `multipart/form-data` form: its fields as text parts, then
    /// `upload`, if any, as the part `file`, streamed from disk (with [`Event::Transfer`]s).
    pub(crate) async fn multipart_request<V>(
        &self,
        call: &Call<'_>,
        upload: Option<&Upload>,
    ) -> Result<http::Request<Body>, Attempt<V>> {
        let form = self
            .fields(call)
            .into_iter()
            .fold(Multipart::new(), |form, (name, value)| {
                form.text(name, value)
            });
        let form = match upload {
            None => form,
            Some(upload) => {
                let file = Body::from_file(&upload.path)
                    .await
                    .map_err(|e| self.transport_failure(e))?;
                let total = file.length();
                let (events, endpoint) = (self.events.clone(), call.spec.path);
                let mut done = 0u64;
                let mut said = 0u64;
                let counted = file.into_chunks().map(move |chunk| {
                    let chunk = chunk.map_err(std::io::Error::other)?;
                    done += chunk.len() as u64;
                    if done - said >= PROGRESS_STEP || done == total {
                        said = done;
                        events.emit(Event::Transfer {
                            endpoint,
                            done,
                            total: Some(total),
                        });
                    }
                    Ok(chunk)
                });
                let filename = upload
                    .path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "file".to_owned());
                form.part(
                    "file",
                    Some(&filename),
                    Some("application/octet-stream"),
                    Body::from_stream(total, counted),
                )
            }
        };
        let (content_type, body) = form.finish();
        http::Request::post(self.url_of(call))
            .header(http::header::USER_AGENT, crate::client::USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body)
            .map_err(|_| {
                Attempt::Failed(Error::InvalidConfig(
                    "could not build the upload request".to_owned(),
                ))
            })
    }

    /// One attempt of a download: the request with the key, one redirect followed without
    /// it, the body written to `part` as it arrives.
    async fn download_attempt(&self, call: &Call<'_>, part: &Path) -> Attempt<Downloaded> {
        let first = match self.get_streaming(&self.url_with_fields(call)).await {
            Ok(response) => response,
            Err(failed) => return failed,
        };
        let status = first.status().as_u16();
        let response = match status {
            200 => first,
            301 | 302 | 303 | 307 | 308 => {
                let Some(location) = redirect_target(&self.url_of(call), first.headers()) else {
                    return Attempt::Failed(Error::UnexpectedStatus {
                        status,
                        excerpt: "a redirect without a usable Location".to_owned(),
                    });
                };
                // Where the file is: a storage host, asked without the key.
                let second = match self.get_streaming(&location).await {
                    Ok(response) => response,
                    Err(failed) => return failed,
                };
                match second.status().as_u16() {
                    200 => second,
                    404 => return Attempt::Answered(Downloaded::NotFound),
                    status => {
                        // Not the service's own refusal: it says nothing of the key.
                        let error = Error::UnexpectedStatus {
                            status,
                            excerpt: String::new(),
                        };
                        return match status >= 500 {
                            true => Attempt::Transient(error),
                            false => Attempt::Failed(error),
                        };
                    }
                }
            }
            404 => return Attempt::Answered(Downloaded::NotFound),
            _ => {
                let (head, body) = first.into_parts();
                let body = body.collect().await.unwrap_or_default();
                return self.refusal(call, status, &head.headers, &body);
            }
        };
        self.save(call.spec, response.into_body(), part).await
    }

    /// The URL of a GET of `call`, its fields in the query string.
    fn url_with_fields(&self, call: &Call<'_>) -> String {
        let fields = self.fields(call);
        format!(
            "{}?{}",
            self.url_of(call),
            crate::form::encode(&fields, call.queries.len())
        )
    }

    /// A GET of `url` whose body is read as it arrives, with a download's cap and deadline.
    async fn get_streaming(
        &self,
        url: &str,
    ) -> Result<http::Response<vt_transport::BodyStream>, Attempt<Downloaded>> {
        let request = http::Request::get(url)
            .header(http::header::USER_AGENT, crate::client::USER_AGENT)
            .body(Body::empty())
            .map_err(|_| {
                Attempt::Failed(Error::InvalidConfig(
                    "could not build the download request".to_owned(),
                ))
            })?;
        let timeout = self.retry().request_timeout;
        let options = RequestOptions::new()
            .with_max_body_size(Some(MAX_DOWNLOAD))
            .with_deadline(deadline_for(timeout, MAX_DOWNLOAD))
            .with_idle_timeout(timeout);
        // The head must come within the request timeout; the body has its own deadline.
        self.within(timeout, self.transport().send_streaming(request, &options))
            .await
    }

    /// Writes `body` to `part` as it arrives.
    async fn save(
        &self,
        spec: &EndpointSpec,
        mut body: vt_transport::BodyStream,
        part: &Path,
    ) -> Attempt<Downloaded> {
        let failed = |e: std::io::Error| {
            Attempt::Failed(Error::Download {
                path: part.display().to_string(),
                reason: e.to_string(),
            })
        };
        let mut file = match tokio::fs::File::create(part).await {
            Ok(file) => file,
            Err(e) => return failed(e),
        };
        let (mut done, mut said) = (0u64, 0u64);
        while let Some(chunk) = body.next_chunk().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => return self.transport_failure(error),
            };
            if let Err(e) = file.write_all(&chunk).await {
                return failed(e);
            }
            done += chunk.len() as u64;
            if done - said >= PROGRESS_STEP {
                said = done;
                self.events.emit(Event::Transfer {
                    endpoint: spec.path,
                    done,
                    total: None,
                });
            }
        }
        if let Err(e) = file.flush().await {
            return failed(e);
        }
        self.events.emit(Event::Transfer {
            endpoint: spec.path,
            done,
            total: Some(done),
        });
        Attempt::Answered(Downloaded::Saved { bytes: done })
    }
}

/// Where a redirect points, resolved against the URL asked (`Location` may be relative).
fn redirect_target(asked: &str, headers: &http::HeaderMap) -> Option<String> {
    let location = headers.get(http::header::LOCATION)?.to_str().ok()?.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    let asked: http::Uri = asked.parse().ok()?;
    let origin = format!("{}://{}", asked.scheme_str()?, asked.authority()?.as_str());
    location
        .strip_prefix('/')
        .map(|path| format!("{origin}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_resolved_against_the_url_asked() {
        let mut headers = http::HeaderMap::new();
        let asked = "https://vt.test/vtapi/v2/file/download?apikey=k&hash=h";
        headers.insert(http::header::LOCATION, "/download/t1".parse().unwrap());
        assert_eq!(
            redirect_target(asked, &headers).as_deref(),
            Some("https://vt.test/download/t1")
        );
        headers.insert(
            http::header::LOCATION,
            "https://storage.test/f?sig=1".parse().unwrap(),
        );
        assert_eq!(
            redirect_target(asked, &headers).as_deref(),
            Some("https://storage.test/f?sig=1")
        );
        headers.insert(http::header::LOCATION, "relative/x".parse().unwrap());
        assert_eq!(redirect_target(asked, &headers), None);
    }

    #[test]
    fn deadlines_grow_with_the_size() {
        let timeout = Duration::from_secs(30);
        assert_eq!(deadline_for(timeout, 0), timeout);
        assert_eq!(
            deadline_for(timeout, 200 * 1024 * 1024),
            timeout + Duration::from_secs(2048)
        );
    }
}
