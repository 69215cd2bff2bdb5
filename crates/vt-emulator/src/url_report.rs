//! `/url/report`: URL reports by URL or scan_id, one or a batch joined by newlines; `scan=1`
//! submits the URLs the data does not hold.

use http::StatusCode;
use vt_server::Params;

use crate::chunks::Assembler;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::sites::url_key;
use crate::urls::{self, Scan};
use crate::wire;
use crate::Tier;

/// The `url/report` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct UrlReport;

/// The arguments of `/url/report`.
#[derive(Debug)]
pub(crate) struct UrlReportArgs<'r> {
    /// Whether `resource` was given at all.
    given: bool,
    /// The items of `resource`, split on newlines, trimmed, empty ones dropped, as sent.
    items: Vec<&'r str>,
    /// The whole stored report rather than its public fields.
    allinfo: bool,
    /// Submit the URLs that are not found.
    scan: bool,
}

impl Endpoint for UrlReport {
    type Args<'r> = UrlReportArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> UrlReportArgs<'r> {
        let resource = params.first("resource");
        UrlReportArgs {
            given: resource.is_some(),
            items: resource.map(urls::split_items).unwrap_or_default(),
            allinfo: params.first("allinfo").is_some_and(vt_server::is_on),
            scan: params.first("scan").is_some_and(vt_server::is_on),
        }
    }

    fn resources_asked(args: &UrlReportArgs<'_>) -> usize {
        args.items.len()
    }

    /// No `resource` at all, or more items than the tier's batch limit: 400. A blank
    /// `resource` is not refused here: it is an invalid URL (-1).
    fn validate(state: &State, args: &UrlReportArgs<'_>, tier: Tier) -> Result<(), StatusCode> {
        if !args.given || args.items.len() > state.batch_limit(tier) {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok(())
    }

    fn answer(state: &State, args: UrlReportArgs<'_>, _tier: Tier) -> Answer {
        let mut out = Assembler::default();
        if args.items.is_empty() {
            urls::write_invalid(&mut out);
        }
        wire::write_batch(
            &mut out,
            args.items.iter(),
            state.batch_shuffle(),
            |out, item| write_item(state, out, item, &args),
        );
        Answer::json(out.finish())
    }
}

/// One item's answer: stored, submitted (pending or finished), submitted now, not found, or
/// invalid.
fn write_item(state: &State, out: &mut Assembler, item: &str, args: &UrlReportArgs<'_>) {
    let Some(key) = url_key(item) else {
        urls::write_invalid(out);
        return;
    };
    if let Some(views) = state.sites.url(&key) {
        write_stored(state, out, item, views.members(args.allinfo));
        return;
    }
    let mut submissions = state.submissions();
    let by_scan_id = urls::is_scan_id(&key);
    let submitted = match by_scan_id {
        true => submissions.by_scan_id(&key),
        false => submissions.by_url(&key),
    };
    if let Some(scan) = submitted {
        write_submitted(state, out, item, scan, args.allinfo);
    } else if args.scan && !by_scan_id {
        state.submit(&mut submissions, &key).write_queued(out);
    } else {
        wire::write_status(out, 0, item, None, urls::NOT_FOUND_MSG);
    }
}

/// A submitted URL: queued until its analysis is over, then the stored report of its URL if
/// the data has one, else the emulator's own report.
fn write_submitted(state: &State, out: &mut Assembler, echo: &str, scan: &Scan, allinfo: bool) {
    if !state.is_finished(scan) {
        scan.write_pending(out, echo);
    } else if let Some(views) = state.sites.url(&scan.url) {
        write_stored(state, out, echo, views.members(allinfo));
    } else {
        scan.write_finished(out, echo);
    }
}

/// A stored report: its ready members with the echo in the place `resource` was loaded at.
fn write_stored(state: &State, out: &mut Assembler, echo: &str, members: crate::chunks::Span) {
    wire::write_stored(out, echo, state.store.slabs(), members);
}
