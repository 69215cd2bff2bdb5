//! `/domain/report`: the stored answer for one domain.

use http::StatusCode;
use vt_server::Params;

use crate::chunks::Assembler;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::wire;
use crate::Tier;

/// A domain the data has no answer for (an assumption: no recording shows this answer).
pub(crate) const NOT_FOUND_MSG: &str = "Domain not found";

/// The `domain/report` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct DomainReport;

impl Endpoint for DomainReport {
    /// The `domain` parameter, trimmed.
    type Args<'r> = Option<&'r str>;

    fn args<'r>(params: &'r Params<'_>) -> Option<&'r str> {
        params.first("domain").map(str::trim)
    }

    fn resources_asked(domain: &Option<&str>) -> usize {
        usize::from(domain.is_some_and(|d| !d.is_empty()))
    }

    /// No `domain`, or a blank one: 400.
    fn validate(_: &State, domain: &Option<&str>, _: Tier) -> Result<(), StatusCode> {
        match domain {
            Some(domain) if !domain.is_empty() => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, domain: Option<&str>, _tier: Tier) -> Answer {
        let mut out = Assembler::default();
        let domain = domain.unwrap_or_default().to_lowercase();
        match state.sites.domain(&domain) {
            Some(span) => out.stored(state.store.slabs(), span),
            None => wire::write_code(&mut out, 0, NOT_FOUND_MSG),
        }
        Answer::json(out.finish())
    }
}
