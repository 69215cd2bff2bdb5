//! `/file/report`: reports by MD5, SHA-1, SHA-256 or scan_id, one or a batch.

use hyper::StatusCode;

use crate::chunks::Assembler;
use crate::dataset::Ready;
use crate::index::Key;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::wire::{self, Params};
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
            allinfo: params.first("allinfo").is_some_and(wire::is_on),
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
        let resolved: Vec<Resolved<'_>> = keys.iter().map(|key| resolve(state, key)).collect();
        let small = items.iter().map(|item| item.len() + 120).sum::<usize>() + 2;
        let mut out = Assembler::with_capacity(small, 2 * items.len() + 1);
        wire::write_batch(
            &mut out,
            items.iter().zip(resolved),
            |out, (item, resolved)| match resolved {
                Resolved::Found(ready) => wire::write_found(
                    out,
                    item,
                    state.store.slabs(),
                    state.store.members(ready, allinfo),
                ),
                Resolved::Queued(sha256) => {
                    wire::write_status(out, -2, item, Some(sha256), wire::QUEUED_MSG)
                }
                Resolved::NotFound => wire::write_status(out, 0, item, None, wire::NOT_FOUND_MSG),
                Resolved::Invalid => wire::write_status(out, 0, item, None, wire::INVALID_MSG),
            },
        );
        Answer::json(out.finish())
    }
}

/// What a resource names.
enum Resolved<'a> {
    Found(Ready),
    /// Queued, with the SHA-256 to give as scan_id.
    Queued(&'a str),
    NotFound,
    Invalid,
}

fn resolve<'s>(state: &'s State, key: &Option<Key>) -> Resolved<'s> {
    let Some(key) = key else {
        return Resolved::Invalid;
    };
    if !state.queued.is_empty() {
        if let Some(sha256) = state.queued.get(key) {
            return Resolved::Queued(sha256);
        }
    }
    match state.store.find(key) {
        Some(ready) => Resolved::Found(ready),
        None => Resolved::NotFound,
    }
}
