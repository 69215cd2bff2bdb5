//! `/file/rescan` and `/file/rescan/delete`: new analyses of files the emulator knows (a
//! stored report, an upload or a sample), and their cancellation.

use http::StatusCode;
use vt_server::{FileHashes, Params};

use crate::chunks::Assembler;
use crate::files::{FileScan, Files, ScanKind};
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::wire::{self, Object};
use crate::Tier;

/// `file/rescan/delete`, a rescan cancelled.
const DELETED_MSG: &str = "Scheduled rescan deleted";
/// `file/rescan/delete`, nothing to cancel.
const NOT_DELETED_MSG: &str = "No scheduled rescan for this resource";

/// The arguments of `file/rescan` and `file/rescan/delete`.
#[derive(Debug)]
pub(crate) struct RescanArgs<'r> {
    /// The items of `resource`, trimmed, empty ones dropped.
    items: Vec<&'r str>,
    /// Whether `date` (`YYYYmmddHHMMSS`), `period` and `repeat` (numbers) are well formed
    /// when given; they are otherwise ignored (rescans are not scheduled).
    schedule_ok: bool,
}

fn rescan_args<'r>(params: &'r Params<'_>) -> RescanArgs<'r> {
    let digits = |name: &str, len: Option<usize>| {
        params.first(name).is_none_or(|v| {
            let v = v.trim();
            !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit())
                && len.is_none_or(|len| v.len() == len)
        })
    };
    RescanArgs {
        items: params
            .first("resource")
            .map(wire::split_resources)
            .unwrap_or_default(),
        schedule_ok: digits("date", Some(14)) && digits("period", None) && digits("repeat", None),
    }
}

/// No resource, more than the tier's batch limit, or a malformed schedule: 400.
fn validate_rescan(state: &State, args: &RescanArgs<'_>, tier: Tier) -> Result<(), StatusCode> {
    if args.items.is_empty() || args.items.len() > state.batch_limit(tier) || !args.schedule_ok {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(())
}

/// A file the emulator knows (a stored report, a held file, a scan of one) by any of its
/// hashes or the scan_id of its latest analysis: its SHA-256, and its MD5, SHA-1 and SHA-256
/// when known (a `--queued` SHA-256 alone has none).
pub(crate) fn known_file(
    state: &State,
    files: Option<&Files>,
    key: &Key,
) -> Option<(Box<str>, Option<FileHashes>)> {
    if let Some((files, sha256)) = files.and_then(|f| Some((f, f.sha256_of(key)?))) {
        let hashes = files.sample(sha256).map(|s| s.hashes.clone()).or_else(|| {
            let stored = state.store.find(&Key::parse(sha256)?)?;
            state.store.hashes(stored)
        });
        return Some((sha256.into(), hashes));
    }
    let hashes = state.store.hashes(state.store.find(key)?)?;
    Some((hashes.sha256.clone(), Some(hashes)))
}

/// `file/rescan` (`false`) and `file/rescan/delete` (`true`): the same arguments and checks.
#[derive(Debug)]
pub(crate) struct Rescan<const DELETE: bool>;

/// The `file/rescan` endpoint (its row is in [`crate::router::ROUTES`]).
pub(crate) type FileRescan = Rescan<false>;
/// The `file/rescan/delete` endpoint.
pub(crate) type FileRescanDelete = Rescan<true>;

impl<const DELETE: bool> Endpoint for Rescan<DELETE> {
    type Args<'r> = RescanArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> RescanArgs<'r> {
        rescan_args(params)
    }

    fn resources_asked(args: &RescanArgs<'_>) -> usize {
        args.items.len()
    }

    fn validate(state: &State, args: &RescanArgs<'_>, tier: Tier) -> Result<(), StatusCode> {
        validate_rescan(state, args, tier)
    }

    fn answer(state: &State, args: RescanArgs<'_>, _tier: Tier) -> Answer {
        let mut out = Assembler::default();
        let mut files = state.files();
        wire::write_batch(
            &mut out,
            args.items.iter(),
            state.batch_shuffle(),
            |out, item| match DELETE {
                false => rescan(state, &mut files, out, item),
                true => delete(&mut files, out, item),
            },
        );
        Answer::json(out.finish())
    }
}

/// One resource of `file/rescan`.
fn rescan(state: &State, files: &mut Files, out: &mut Assembler, item: &str) {
    let Some(key) = Key::parse(item) else {
        return wire::write_status(out, 0, item, None, wire::INVALID_MSG);
    };
    let Some((sha256, hashes)) = known_file(state, Some(files), &key) else {
        return wire::write_status(out, 0, item, None, wire::NOT_FOUND_MSG);
    };
    // Its other hashes lead to it, so that its rescan is found by all of them.
    if let Some(hashes) = hashes {
        files.name(&hashes);
    }
    let (unix, at) = state.now();
    let scan = FileScan::new(&sha256, unix, at, ScanKind::Rescan);
    // The recorded order, without verbose_msg.
    let mut object = Object::open(out);
    object
        .str("permalink", &scan.permalink(&sha256))
        .int("response_code", 1)
        .str("sha256", &sha256)
        .str("resource", item)
        .str("scan_id", &scan.scan_id);
    object.close();
    files.start_scan(&sha256, scan);
}

/// One resource of `file/rescan/delete`.
fn delete(files: &mut Files, out: &mut Assembler, item: &str) {
    let sha256 = Key::parse(item).and_then(|key| files.sha256_of(&key).map(Box::from));
    let deleted = sha256.is_some_and(|sha256| files.cancel_rescan(&sha256));
    let (code, message) = match deleted {
        true => (1, DELETED_MSG),
        false => (-1, NOT_DELETED_MSG),
    };
    let mut object = Object::open(out);
    object
        .int("response_code", code)
        .str("resource", item)
        .str("verbose_msg", message);
    object.close();
}
