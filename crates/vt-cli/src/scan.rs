//! `vt file scan`: hash the files, look them all up first (in batches, like `vt file
//! report`), upload only those the service does not know (`--force`: all), then print the
//! report of every file like `vt file report`: known files from the lookup, uploaded ones
//! by their new scan_id (queued, or finished with `--wait`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use futures_util::stream;
use vt_api::{Params, RawAnswer, Resource, Status, FILE_REPORT};

use crate::cli::{Global, ScanArgs};
use crate::driver::{self, Row};
use crate::output::TableLayout;
use crate::session::{Credentials, Session};
use crate::{hash, ui, wants_color};

/// What became of one file before the report lookups.
enum Fate {
    /// Not read (a folder could not be listed, a file not hashed).
    Unread(String),
    /// The service knows it: its report, from the look before the upload.
    Known(Resource, RawAnswer<vt_api::FileReport>),
    /// Hashed (this SHA-256), to be uploaded unless the look finds it.
    ToUpload(Resource),
    /// Uploaded: the scan_id of its analysis.
    Uploaded(Resource),
    /// The look or the upload failed.
    Failed(&'static str, String),
}

pub(crate) async fn run(args: &ScanArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let session = Session::start(&args.client, global, credentials, None)?;
    let paths = args.paths.clone();
    let files = tokio::task::spawn_blocking(move || hash::list(&paths, false))
        .await
        .context("listing files failed")?;
    let bar = ui::progress(files.len(), files.len() > 1 && !global.quiet, "hashing");
    let counter = bar.clone();
    let hashed = tokio::task::spawn_blocking(move || hash::hash_files(files, &|| counter.inc(1)))
        .await
        .context("hashing failed")?;
    ui::finish_progress(&bar);

    let mut fates: Vec<Fate> = hashed
        .iter()
        .map(|file| match &file.result {
            Err(message) => Fate::Unread(message.clone()),
            Ok(hex) => match Resource::parse(hex) {
                Ok(sha256) => Fate::ToUpload(sha256),
                Err(error) => Fate::Unread(error.to_string()),
            },
        })
        .collect();
    if !args.force {
        look_before_upload(&session, &mut fates).await;
    }
    upload(&session, global, &hashed, &mut fates).await;

    let total = fates.len();
    let layout = TableLayout {
        resource_width: 64,
        path_width: Some(
            hashed
                .iter()
                .map(|h| h.path.to_string_lossy().chars().count())
                .max()
                .unwrap_or(4)
                .clamp(4, 80),
        ),
        color: session.format == crate::cli::Format::Table
            && wants_color(global.color, session.stdout_terminal),
    };
    let queries: Vec<Resource> = fates
        .iter()
        .filter_map(|fate| match fate {
            Fate::Uploaded(scan_id) => Some(scan_id.clone()),
            _ => None,
        })
        .collect();
    let rows = hashed.iter().zip(fates).map(|(file, fate)| {
        let path = file.path.as_path();
        match fate {
            Fate::Unread(message) => Row::Failed {
                path,
                kind: "io",
                message,
            },
            Fate::Failed(kind, message) => Row::Failed {
                path,
                kind,
                message,
            },
            Fate::Known(query, answer) => Row::Known {
                path: Some(path),
                query,
                answer,
            },
            Fate::Uploaded(_) => Row::Ask { path: Some(path) },
            Fate::ToUpload(_) => Row::Failed {
                path,
                kind: "missing_answer",
                message: "neither looked up nor uploaded".to_owned(),
            },
        }
    });
    driver::run(
        &session,
        global,
        driver::Lookups {
            endpoint: &FILE_REPORT,
            params: Params::new(),
            wait_queued: args.wait.or(args.client.wait_queued),
            repeats: None,
            queries: queries.into_iter().map(|scan_id| (scan_id, None)),
            rows,
            total,
            layout,
        },
    )
    .await
}

/// Looks every hashed file up, in batches: a file the service has a report of (or has
/// queued) is not uploaded.
async fn look_before_upload(session: &Session, fates: &mut [Fate]) {
    let hashes: Vec<Resource> = fates
        .iter()
        .filter_map(|fate| match fate {
            Fate::ToUpload(sha256) => Some(sha256.clone()),
            _ => None,
        })
        .collect();
    if hashes.is_empty() {
        return;
    }
    let mut answers = HashMap::new();
    let mut outcomes = session
        .client
        .lookups(&FILE_REPORT, stream::iter(hashes), Params::new());
    while let Some(outcome) = outcomes.next().await {
        answers.insert(outcome.query.as_str().to_owned(), outcome.result);
    }
    for fate in fates.iter_mut() {
        let Fate::ToUpload(sha256) = fate else {
            continue;
        };
        // `get`, not `remove`: two copies of one file share its answer.
        *fate = match answers.get(sha256.as_str()).cloned() {
            Some(Ok(answer)) if matches!(answer.status(), Status::Found | Status::Queued) => {
                Fate::Known(sha256.clone(), answer)
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => Fate::Failed(error.kind(), error.to_string()),
            None => Fate::Failed(
                "missing_answer",
                "the look before the upload had no answer".into(),
            ),
        };
    }
}

/// Uploads the files still to upload, one after another, showing the bytes sent; says how
/// many uploads the look spared.
async fn upload(session: &Session, global: &Global, hashed: &[hash::Hashed], fates: &mut [Fate]) {
    // Copies of one file are uploaded once.
    let to_upload = fates
        .iter()
        .filter_map(|fate| match fate {
            Fate::ToUpload(sha256) => Some(sha256.as_str()),
            _ => None,
        })
        .collect::<std::collections::HashSet<_>>()
        .len();
    let known: Vec<&Path> = hashed
        .iter()
        .zip(fates.iter())
        .filter(|(_, fate)| matches!(fate, Fate::Known(..)))
        .map(|(file, _)| file.path.as_path())
        .collect();
    if !known.is_empty() && !global.quiet {
        let bytes: u64 = known
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|m| m.len())
            .sum();
        ui::eprint_line(&format!(
            "vt: {} of {} files already known to the service: {} upload{} ({}) not sent \
             (--force uploads anyway)",
            known.len(),
            fates.len(),
            known.len(),
            if known.len() == 1 { "" } else { "s" },
            ui::bytes(bytes)
        ));
    }
    if to_upload == 0 {
        return;
    }
    let bar = ui::progress(to_upload, !global.quiet, "uploading");
    let mut sent: HashMap<String, Result<Resource, (&'static str, String)>> = HashMap::new();
    for (file, fate) in hashed.iter().zip(fates.iter_mut()) {
        let Fate::ToUpload(sha256) = fate else {
            continue;
        };
        let result = match sent.get(sha256.as_str()) {
            Some(result) => result.clone(),
            None => {
                let result = upload_one(session, &file.path).await;
                sent.insert(sha256.as_str().to_owned(), result.clone());
                bar.inc(1);
                result
            }
        };
        *fate = match result {
            Ok(scan_id) => Fate::Uploaded(scan_id),
            Err((kind, message)) => Fate::Failed(kind, message),
        };
    }
    ui::finish_progress(&bar);
}

/// Uploads one file: the scan_id of its analysis, or the kind and message of the failure.
async fn upload_one(session: &Session, path: &Path) -> Result<Resource, (&'static str, String)> {
    let answer = session
        .client
        .scan_file(path)
        .await
        .map_err(|error| (error.kind(), error.to_string()))?;
    match answer
        .as_found()
        .map(|receipt| Resource::parse(&receipt.scan_id))
    {
        Some(Ok(scan_id)) => Ok(scan_id),
        Some(Err(error)) => Err(("decode", format!("the upload's scan_id: {error}"))),
        None => Err((
            "refused",
            answer
                .answer()
                .ok()
                .and_then(|a| a.verbose_msg())
                .unwrap_or("the upload was not accepted")
                .to_owned(),
        )),
    }
}
