//! `/file/download` and `/file/network-traffic`: the bytes of the files the emulator holds
//! (uploads and `--samples`), and a sample's pcap.

use http::StatusCode;
use vt_server::Params;

use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::{State, DOWNLOAD_PATH};
use crate::Tier;

/// `file/download` (`false`) and `file/network-traffic` (`true`): a `hash`, private keys
/// only, the bytes of a file the emulator holds.
///
/// `file/download` answers `302 Found` to a one-time path of the emulator that serves the
/// bytes (as the service redirects to another host); `file/network-traffic` serves a sample's
/// `<name>.pcap` itself. A file without them: 404.
#[derive(Debug)]
pub(crate) struct FileBytes<const TRAFFIC: bool>;

/// The `file/download` endpoint (its row is in [`crate::router::ROUTES`]).
pub(crate) type FileDownload = FileBytes<false>;
/// The `file/network-traffic` endpoint.
pub(crate) type FileNetworkTraffic = FileBytes<true>;

impl<const TRAFFIC: bool> Endpoint for FileBytes<TRAFFIC> {
    type Args<'r> = Option<Key>;

    fn args(params: &Params<'_>) -> Option<Key> {
        params.first("hash").and_then(Key::parse)
    }

    fn resources_asked(hash: &Option<Key>) -> usize {
        usize::from(hash.is_some())
    }

    /// A `hash` that is not one (none given too): 400.
    fn validate(_: &State, hash: &Option<Key>, _: Tier) -> Result<(), StatusCode> {
        match hash {
            Some(_) => Ok(()),
            None => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, hash: Option<Key>, _tier: Tier) -> Answer {
        let mut files = state.files();
        let sample = hash
            .and_then(|key| files.sha256_of(&key))
            .and_then(|sha256| files.sample(sha256));
        let path = match TRAFFIC {
            false => sample.map(|sample| sample.path.clone()),
            true => sample.and_then(|sample| sample.pcap.clone()),
        };
        match (path, TRAFFIC) {
            (None, _) => Answer::empty(StatusCode::NOT_FOUND),
            (Some(pcap), true) => Answer::file(pcap),
            (Some(path), false) => {
                let token = state.token();
                files.add_download_token(&token, path);
                Answer::redirect(format!("{}{DOWNLOAD_PATH}{token}", state.origin()))
            }
        }
    }
}
