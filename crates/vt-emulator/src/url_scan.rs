//! `/url/scan`: submits URLs (one, or a batch joined by newlines) for analysis.

use http::StatusCode;
use vt_server::Params;

use crate::chunks::Assembler;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::urls;
use crate::wire;
use crate::Tier;

/// The `url/scan` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct UrlScan;

/// The arguments of `/url/scan`.
#[derive(Debug)]
pub(crate) struct UrlScanArgs<'r> {
    /// Whether the body was `application/x-www-form-urlencoded`, or there was neither a body
    /// nor a `Content-Type` (every parameter in the query).
    form: bool,
    /// Whether `url` was given at all.
    given: bool,
    /// The items of `url`, split on newlines, trimmed, empty ones dropped.
    items: Vec<&'r str>,
}

impl Endpoint for UrlScan {
    type Args<'r> = UrlScanArgs<'r>;

    fn args<'r>(params: &'r Params<'_>) -> UrlScanArgs<'r> {
        let url = params.first("url");
        UrlScanArgs {
            form: params.content_type().is_some_and(|content_type| {
                vt_server::is_form_urlencoded(content_type)
                    || (content_type.is_empty() && params.empty_body())
            }),
            given: url.is_some(),
            items: url.map(urls::split_items).unwrap_or_default(),
        }
    }

    fn resources_asked(args: &UrlScanArgs<'_>) -> usize {
        args.items.len()
    }

    /// A body that is not `application/x-www-form-urlencoded` (a multipart one too, or one
    /// without a `Content-Type`): 403, as the service answers. A POST with no body and no
    /// `Content-Type`, its parameters in the query, is taken: two PyPI clients send `url/scan`
    /// so, and one's own tests against the service expect a 200 (docs/emulator.md, "Tried with
    /// third-party clients"). No `url` at all, or more items than the tier's batch limit: 400.
    fn validate(state: &State, args: &UrlScanArgs<'_>, tier: Tier) -> Result<(), StatusCode> {
        if !args.form {
            return Err(StatusCode::FORBIDDEN);
        }
        if !args.given || args.items.len() > state.batch_limit(tier) {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok(())
    }

    fn answer(state: &State, args: UrlScanArgs<'_>, _tier: Tier) -> Answer {
        let mut out = Assembler::default();
        if args.items.is_empty() {
            urls::write_invalid(&mut out);
        }
        let mut submissions = state.submissions();
        wire::write_batch(
            &mut out,
            args.items.iter(),
            state.batch_shuffle(),
            |out, item| match urls::normalise(item) {
                Some(url) => state.submit(&mut submissions, &url).write_queued(out),
                None => urls::write_invalid(out),
            },
        );
        Answer::json(out.finish())
    }
}
