//! `/file/scan` and `/file/scan/upload_url`: files uploaded, hashed, kept in the emulator's
//! folder and queued for analysis.

use http::StatusCode;
use vt_server::{Params, Upload};

use crate::chunks::Assembler;
use crate::files::{is_eicar_file, FileScan, Sample, ScanKind};
use crate::router::{Answer, Endpoint};
use crate::server::{State, UPLOAD_PATH};
use crate::urls::QUEUED_MSG;
use crate::wire::Object;
use crate::Tier;

/// The `file/scan` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct FileScanEndpoint;

impl Endpoint for FileScanEndpoint {
    type Args<'r> = Option<&'r Upload>;

    fn args<'r>(params: &'r Params<'_>) -> Option<&'r Upload> {
        params.upload()
    }

    fn resources_asked(upload: &Option<&Upload>) -> usize {
        usize::from(upload.is_some())
    }

    /// No multipart part named `file`: 400.
    fn validate(_: &State, upload: &Option<&Upload>, _: Tier) -> Result<(), StatusCode> {
        match upload {
            Some(_) => Ok(()),
            None => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, upload: Option<&Upload>, _tier: Tier) -> Answer {
        match upload {
            Some(upload) => accept(state, upload),
            None => Answer::empty(StatusCode::BAD_REQUEST),
        }
    }
}

/// Keeps an uploaded file (named by its SHA-256 in the emulator's folder), queues its
/// analysis, and answers as the service does.
pub(crate) fn accept(state: &State, upload: &Upload) -> Answer {
    let hashes = upload.hashes();
    let sha256 = &*hashes.sha256;
    let kept = state.spool.path().join(sha256);
    // Moved, not copied: the upload's own clean-up then finds nothing to remove.
    if std::fs::rename(upload.path(), &kept).is_err() {
        return Answer::empty(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let eicar = is_eicar_file(&kept, upload.size());
    let (unix, at) = state.now();
    let scan = FileScan::new(sha256, unix, at, ScanKind::Upload);
    let mut files = state.files();
    // A sample of the same file keeps its traffic; its bytes are the same.
    if files.sample(sha256).is_none() {
        files.add_sample(Sample {
            hashes: hashes.clone(),
            path: kept,
            pcap: None,
            eicar,
        });
    }
    files.start_scan(sha256, scan.clone());
    drop(files);
    let mut out = Assembler::default();
    let mut object = Object::open(&mut out);
    object
        .str("scan_id", &scan.scan_id)
        .str("sha1", &hashes.sha1)
        .str("resource", sha256)
        .int("response_code", 1)
        .str("sha256", sha256)
        .str("permalink", &scan.permalink(sha256))
        .str("md5", &hashes.md5)
        .str("verbose_msg", QUEUED_MSG);
    object.close();
    Answer::json(out.finish())
}

/// The `file/scan/upload_url` endpoint: a one-time URL on the emulator itself.
#[derive(Debug)]
pub(crate) struct UploadUrl;

impl Endpoint for UploadUrl {
    type Args<'r> = ();

    fn args(_: &Params<'_>) {}

    fn answer(state: &State, _: (), _tier: Tier) -> Answer {
        let token = state.token();
        state.files().add_upload_token(&token);
        let url = format!("{}{UPLOAD_PATH}{token}", state.origin());
        let mut out = Assembler::default();
        let mut object = Object::open(&mut out);
        object.str("upload_url", &url);
        object.close();
        Answer::json(out.finish())
    }
}
