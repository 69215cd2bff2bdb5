//! Request bodies read from files (feature `fs`): [`Body::from_file`](crate::Body::from_file)
//! and the file parts of [`Multipart`](crate::Multipart).

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::{AsyncRead, ReadBuf};

use crate::{Body, Error, ErrorKind};

/// How much of the file one chunk holds: large enough that a 200 MB upload is 800 reads,
/// small enough that a few in flight cost nothing.
const CHUNK: usize = 256 * 1024;

/// An error of the file at `path`, which is named (a path holds no secret; the URL is never
/// quoted).
fn file_error(path: &Path, what: &str, error: std::io::Error) -> Error {
    let detail = format!("{what} {}: {error}", path.display());
    Error::from_parts(ErrorKind::RequestBody, detail, error.into())
}

/// The file at `path` as a streamed body of its current size.
pub(crate) async fn file_body(path: &Path) -> Result<Body, Error> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| file_error(path, "cannot open", e))?;
    let metadata = file
        .metadata()
        .await
        .map_err(|e| file_error(path, "cannot read the size of", e))?;
    if !metadata.is_file() {
        return Err(Error::with_detail(
            ErrorKind::RequestBody,
            format!(
                "{} is not a regular file: a folder, a pipe or a device has no length to send",
                path.display()
            ),
        ));
    }
    let chunks = FileChunks {
        file,
        path: Arc::from(path),
        buffer: BytesMut::new(),
    };
    Ok(Body::from_checked_stream(metadata.len(), chunks))
}

/// The file, [`CHUNK`] bytes at a time, until its end.
struct FileChunks {
    file: tokio::fs::File,
    path: Arc<Path>,
    /// The buffer of the read in progress, kept across `Pending` polls.
    buffer: BytesMut,
}

impl Stream for FileChunks {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.buffer.len() != CHUNK {
            // A zeroed buffer: a memset per 256 KiB, and no `unsafe` (forbidden in the
            // workspace) to hand uninitialised memory to the read.
            this.buffer = BytesMut::zeroed(CHUNK);
        }
        let mut read = ReadBuf::new(&mut this.buffer);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => {
                Poll::Ready(Some(Err(file_error(&this.path, "cannot read", error))))
            }
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(this.buffer.split_to(n).freeze())))
            }
        }
    }
}
