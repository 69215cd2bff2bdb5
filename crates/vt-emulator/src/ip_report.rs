//! `/ip-address/report`: the stored answer for one IPv4 address.

use std::net::Ipv4Addr;

use http::StatusCode;
use vt_server::Params;

use crate::chunks::Assembler;
use crate::router::{Answer, Endpoint};
use crate::server::State;
use crate::wire;
use crate::Tier;

/// An `ip` that is not an IPv4 address.
pub(crate) const INVALID_MSG: &str = "Invalid IP address";
/// An address the data has no answer for (an assumption: no recording shows this answer).
pub(crate) const NOT_FOUND_MSG: &str = "IP address not found";

/// The `ip-address/report` endpoint (its row is in [`crate::router::ROUTES`]).
#[derive(Debug)]
pub(crate) struct IpReport;

impl Endpoint for IpReport {
    /// The `ip` parameter, trimmed.
    type Args<'r> = Option<&'r str>;

    fn args<'r>(params: &'r Params<'_>) -> Option<&'r str> {
        params.first("ip").map(str::trim)
    }

    fn resources_asked(ip: &Option<&str>) -> usize {
        usize::from(ip.is_some_and(|ip| !ip.is_empty()))
    }

    /// No `ip`, or a blank one: 400.
    fn validate(_: &State, ip: &Option<&str>, _: Tier) -> Result<(), StatusCode> {
        match ip {
            Some(ip) if !ip.is_empty() => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    fn answer(state: &State, ip: Option<&str>, _tier: Tier) -> Answer {
        let mut out = Assembler::default();
        let (code, message) = match ip.unwrap_or_default().parse::<Ipv4Addr>() {
            Err(_) => (-1, INVALID_MSG),
            Ok(ip) => match state.sites.ip(ip) {
                Some(span) => {
                    out.stored(state.store.slabs(), span);
                    return Answer::json(out.finish());
                }
                None => (0, NOT_FOUND_MSG),
            },
        };
        wire::write_code(&mut out, code, message);
        Answer::json(out.finish())
    }
}
