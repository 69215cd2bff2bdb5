//! `/file/report`: reports by MD5, SHA-1, SHA-256 or scan_id, one or a batch.

use http::StatusCode;
use vt_server::{FileHashes, Params};

use crate::chunks::Assembler;
use crate::dataset::Ready;
use crate::files::{self, Files};
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::wire::{self, Object};
use crate::Tier;

/// The `file/report` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct FileReport;

/// The arguments of `/file/report`.
#[derive(Debug)]
pub(crate) struct ReportArgs<'r> {
    /// The items of `resource`, trimmed, empty ones dropped, as sent (for the echo).
    items: Vec<&'r str>,
    /// The whole report rather than its public view.
    allinfo: bool,
}

impl Endpoint for FileReport {
    type Args<'r> = ReportArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> ReportArgs<'r> {
        ReportArgs {
            items: params
                .first("resource")
                .map(wire::split_resources)
                .unwrap_or_default(),
            allinfo: params.first("allinfo").is_some_and(vt_server::is_on),
        }
    }

    fn resources_asked(args: &ReportArgs<'_>) -> usize {
        args.items.len()
    }

    /// A missing resource, or more than the tier's batch limit: 400.
    fn validate(state: &State, args: &ReportArgs<'_>, tier: Tier) -> Result<(), StatusCode> {
        let limit = match tier {
            Tier::Public => state.batch_limit_public,
            _ => state.batch_limit_private,
        };
        if args.items.is_empty() || args.items.len() > limit {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok(())
    }

    fn answer(state: &State, args: ReportArgs<'_>, _tier: Tier) -> Answer {
        let ReportArgs { items, allinfo } = args;
        // Keys first, then every lookup in a tight loop: the lookups do not depend on each
        // other, so their cache misses overlap.
        let keys: Vec<Option<Key>> = items.iter().map(|item| Key::parse(item)).collect();
        state.store.warm(keys.iter().flatten());
        let files = state.files_if_any();
        let resolved: Vec<Resolved> = keys
            .iter()
            .map(|key| resolve(state, files.as_deref(), key))
            .collect();
        drop(files);
        let small = items.iter().map(|item| item.len() + 120).sum::<usize>() + 2;
        let mut out = Assembler::with_capacity(small, 2 * items.len() + 1);
        wire::write_batch(
            &mut out,
            items.iter().zip(resolved),
            state.batch_shuffle(),
            |out, (item, resolved)| match resolved {
                Resolved::Found(ready) => wire::write_found(
                    out,
                    item,
                    state.store.slabs(),
                    state.store.members(ready, allinfo),
                ),
                Resolved::Made(made) => made.write(out, item),
                Resolved::Queued(scan_id) => {
                    wire::write_status(out, -2, item, Some(&scan_id), wire::QUEUED_MSG)
                }
                Resolved::NotFound => wire::write_status(out, 0, item, None, wire::NOT_FOUND_MSG),
                Resolved::Invalid => wire::write_status(out, 0, item, None, wire::INVALID_MSG),
            },
        );
        Answer::json(out.finish())
    }
}

/// What a resource names.
enum Resolved {
    Found(Ready),
    /// A report the emulator makes of a file it holds the bytes of.
    Made(MadeReport),
    /// Queued, with the scan_id to give.
    Queued(Box<str>),
    NotFound,
    Invalid,
}

/// A file's pending scan answers -2 by every hash of the file and by the scan's id; once
/// over, the stored report, else a report made of the file's bytes (a file with neither stays
/// queued); then, the stored reports.
fn resolve(state: &State, files: Option<&Files>, key: &Option<Key>) -> Resolved {
    let Some(key) = key else {
        return Resolved::Invalid;
    };
    if let Some((files, sha256)) = files.and_then(|f| Some((f, f.sha256_of(key)?))) {
        let scan = files.scan(sha256);
        let pending = scan.filter(|scan| !state.is_over(scan.at));
        if let Some(scan) = pending {
            return Resolved::Queued(scan.scan_id.clone());
        }
        if let Some(ready) = Key::parse(sha256).and_then(|k| state.store.find(&k)) {
            return Resolved::Found(ready);
        }
        if let Some(sample) = files.sample(sha256) {
            return Resolved::Made(MadeReport {
                hashes: sample.hashes.clone(),
                eicar: sample.eicar,
                unix: scan.map_or(state.start_unix(), |scan| scan.unix),
            });
        }
        if let Some(scan) = scan {
            return Resolved::Queued(scan.scan_id.clone());
        }
    }
    match state.store.find(key) {
        Some(ready) => Resolved::Found(ready),
        None => Resolved::NotFound,
    }
}

/// The engines of a report the emulator makes, with their version; each calls the EICAR test
/// file by its own name.
const ENGINES: [(&str, &str, &str); 10] = [
    ("Avast", "23.9.8494.0", "EICAR Test-NOT virus!!!"),
    ("Avira", "8.3.3.16", "Eicar-Test-Signature"),
    ("BitDefender", "7.2", "EICAR-Test-File (not a virus)"),
    ("ClamAV", "1.2.0.0", "Win.Test.EICAR_HDB-1"),
    ("ESET-NOD32", "28120", "Eicar test file"),
    ("Kaspersky", "22.0.1.28", "EICAR-Test-File"),
    ("McAfee", "6.0.6.653", "EICAR test file"),
    ("Microsoft", "1.1.23090.2007", "Virus:DOS/EICAR_Test_File"),
    ("Sophos", "2.3.1.0", "EICAR-AV-Test"),
    ("Symantec", "1.20.0.0", "EICAR Test String"),
];

/// `positives` of a report the emulator makes: every engine for the EICAR test file, none
/// otherwise.
pub(crate) fn made_positives(eicar: bool) -> u32 {
    match eicar {
        true => ENGINES.len() as u32,
        false => 0,
    }
}

/// A file report made from a file's bytes: the EICAR test file is detected by every engine,
/// anything else by none.
struct MadeReport {
    hashes: FileHashes,
    eicar: bool,
    /// When the analysis was made (unix seconds).
    unix: i64,
}

impl MadeReport {
    /// In the order of the service's recorded file reports (`scans` first, `resource` before
    /// `response_code`), with its separators.
    fn write(&self, out: &mut Assembler, echo: &str) {
        let sha256 = &*self.hashes.sha256;
        let date = files::scan_date(self.unix);
        let update: String = date.chars().take(10).filter(|c| *c != '-').collect();
        let mut report = Object::open(out);
        let scans = report.key("scans");
        let mut engines = Object::open(scans);
        for (engine, version, name) in ENGINES {
            let mut verdict = Object::open(engines.key(engine));
            verdict.key("detected").extend(match self.eicar {
                true => b"true",
                false => b"false" as &[u8],
            });
            verdict.str("version", version);
            if self.eicar {
                verdict.str("result", name);
            } else {
                verdict.key("result").extend(b"null");
            }
            verdict.str("update", &update);
            verdict.close();
        }
        engines.close();
        report
            .str("scan_id", &format!("{sha256}-{}", self.unix))
            .str("sha1", &self.hashes.sha1)
            .str("resource", echo)
            .int("response_code", 1)
            .str("scan_date", &date)
            .str("permalink", &files::permalink(sha256, self.unix))
            .str("verbose_msg", "Scan finished, information embedded")
            .int("total", ENGINES.len() as i64)
            .int("positives", i64::from(made_positives(self.eicar)))
            .str("sha256", sha256)
            .str("md5", &self.hashes.md5);
        report.close();
    }
}
