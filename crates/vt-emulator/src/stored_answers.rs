//! `/file/behaviour` and `/file/clusters`: answers the data folders hold (`behaviour/`,
//! `clusters/`), served as the bytes loaded.

use http::StatusCode;
use vt_server::Params;

use crate::chunks::{Assembler, Span};
use crate::file_rescan::known_file;
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::sites::parse_day;
use crate::wire;
use crate::Tier;

/// `file/behaviour` of a file without a stored behaviour report (the wording is the
/// emulator's: no recording shows it).
pub(crate) const NO_BEHAVIOUR_MSG: &str = "No behaviour report for this file";
/// `file/clusters` of a day without stored clusters (the emulator's wording).
pub(crate) const NO_CLUSTERS_MSG: &str = "No clusters for this date";

/// The stored answer, or `{"response_code": 0, "verbose_msg": message}`.
fn stored_or_not_found(state: &State, stored: Option<Span>, message: &str) -> Answer {
    let mut out = Assembler::default();
    match stored {
        Some(span) => out.stored(state.store.slabs(), span),
        None => wire::write_code(&mut out, 0, message),
    }
    Answer::json(out.finish())
}

/// The `file/behaviour` endpoint (its row is in [`crate::router::ROUTES`]): `hash`, an MD5,
/// SHA-1 or SHA-256.
#[derive(Debug)]
pub(crate) struct FileBehaviour;

/// The `hash` of `file/behaviour`: its text (trimmed) and its key.
type HashArg<'r> = Option<(&'r str, Key)>;

impl Endpoint for FileBehaviour {
    type Args<'r> = HashArg<'r>;

    fn args<'r>(params: &'r Params<'_>) -> HashArg<'r> {
        let hash = params.first("hash")?.trim();
        // A scan_id is not a hash of the file.
        let key = Key::parse(hash).filter(|_| !hash.contains('-'))?;
        Some((hash, key))
    }

    fn resources_asked(hash: &HashArg<'_>) -> usize {
        usize::from(hash.is_some())
    }

    /// A `hash` missing or not an MD5, SHA-1 or SHA-256: 400.
    fn validate(_: &State, hash: &HashArg<'_>, _: Tier) -> Result<(), StatusCode> {
        hash.map(|_| ()).ok_or(StatusCode::BAD_REQUEST)
    }

    /// The report stored under the hash given, else under another hash of the same file.
    fn answer(state: &State, hash: HashArg<'_>, _tier: Tier) -> Answer {
        let stored = hash.and_then(|(text, key)| {
            let given = state.sites.behaviour(&text.to_ascii_lowercase());
            given.or_else(|| {
                let files = state.files_if_any();
                let (sha256, hashes) = known_file(state, files.as_deref(), &key)?;
                let others = hashes.map(|h| [h.md5, h.sha1]).into_iter().flatten();
                std::iter::once(sha256)
                    .chain(others)
                    .find_map(|name| state.sites.behaviour(&name))
            })
        });
        stored_or_not_found(state, stored, NO_BEHAVIOUR_MSG)
    }
}

/// The `file/clusters` endpoint: `date`, `YYYY-MM-DD`.
#[derive(Debug)]
pub(crate) struct FileClusters;

impl Endpoint for FileClusters {
    /// The `date`, trimmed, when it is a day of the calendar written `YYYY-MM-DD`.
    type Args<'r> = Option<&'r str>;

    fn args<'r>(params: &'r Params<'_>) -> Option<&'r str> {
        let date = params.first("date")?.trim();
        parse_day(date).map(|_| date)
    }

    /// A `date` missing or not `YYYY-MM-DD` (a day of the calendar): 400.
    fn validate(_: &State, date: &Option<&str>, _: Tier) -> Result<(), StatusCode> {
        date.map(|_| ()).ok_or(StatusCode::BAD_REQUEST)
    }

    fn answer(state: &State, date: Option<&str>, _tier: Tier) -> Answer {
        let stored = date.and_then(|date| state.sites.clusters(date));
        stored_or_not_found(state, stored, NO_CLUSTERS_MSG)
    }
}
