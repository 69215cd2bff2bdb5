//! The routes of the v2 API and the rule chain every one of them goes through.
//!
//! The routes' wire facts (methods, body cap, private-only, private parameters, file part) are
//! vt-server's ([`vt_server::routes`]); the emulator attaches to each the rule chain made for
//! its [`Endpoint`] ([`ROUTES`]). A request to `/vtapi/v2/PATH` is answered by the route of
//! `PATH` (404 when there is none) in this order, the same for every route:
//!
//! 1. the method ([`Route::methods`]): 405 with `Allow`;
//! 2. the body, for a POST: over [`Route::max_body`] 413;
//! 3. the parameters are read ([`Params`], query then body; steps 1 to 3 are
//!    [`vt_server::Received::read`]) and the route reads its arguments ([`Endpoint::args`]);
//!    the resources they name are counted in the stats;
//! 4. one fault draw ([`crate::faults::FaultPlan`]): `500`, `204` and `reset` answer here;
//!    `slow` and `truncate` shape the answer once it is made;
//! 5. the key: missing, empty or unknown 403;
//! 6. the tier: a public key on a [`Route::private_only`] route, or using one of its
//!    [`Route::private_params`], 403;
//! 7. the route's argument checks ([`Endpoint::validate`], e.g. 400 for a missing resource);
//! 8. the quota of the key (per tier): 204;
//! 9. the route's answer ([`Endpoint::answer`]).
//!
//! Steps 1 to 8 are the chain's, written once; a route only says what differs (its facts in
//! vt-server, its row in [`ROUTES`]) and how it reads, checks and answers (its [`Endpoint`]).

use std::path::PathBuf;

use http::StatusCode;
use vt_server::routes::{self, Route};
use vt_server::Params;

use crate::chunks::Assembled;
use crate::comments::{CommentsGet, CommentsPut};
use crate::domain_report::DomainReport;
use crate::file_bytes::{FileDownload, FileNetworkTraffic};
use crate::file_report::FileReport;
use crate::file_rescan::{FileRescan, FileRescanDelete};
use crate::file_scan::{FileScanEndpoint, UploadUrl};
use crate::ip_report::IpReport;
use crate::search::FileSearch;
use crate::server::State;
use crate::stored_answers::{FileBehaviour, FileClusters};
use crate::url_report::UrlReport;
use crate::url_scan::UrlScan;
use crate::{FaultKind, Tier};

/// The rule chain run with a route's [`Endpoint`]: `serve::<E>`. Also says how many resources
/// the request names (for `--log-requests`).
pub(crate) type Serve = fn(&State, &Route, &Params<'_>) -> (Outcome, usize);

/// The served endpoints: each v2 route (its facts are vt-server's) with the chain made for
/// its [`Endpoint`].
///
/// **Adding an endpoint** (see also `docs/emulator.md`, "Adding an endpoint"):
///
/// 1. its route must be one of [`vt_server::routes::ROUTES`] (every v2 endpoint already is:
///    path, methods, body cap, whether only private keys may call it, which parameters only
///    private keys may use, whether it takes a file);
/// 2. write a unit struct implementing [`Endpoint`] in a module of its own (as
///    `file_report.rs` does): `args` reads the parameters it needs from [`Params`], `validate`
///    refuses bad arguments (400) before any quota is used, `answer` makes the 200;
/// 3. add its row here: `(routes::THE_ROUTE, serve::<TheEndpoint>)`.
///
/// The key, tier, quota and fault rules then apply to it as they do to `file/report`, and the
/// stats count it under its path. **A new kind of data** (URL reports, domains, comments, ...)
/// is a field of [`State`] filled by the builder (as `store` holds the file reports), read by
/// the endpoint's `answer`: nothing in the chain changes.
pub(crate) const ROUTES: &[(Route, Serve)] = &[
    (routes::FILE_REPORT, serve::<FileReport>),
    (routes::FILE_SCAN, serve::<FileScanEndpoint>),
    (routes::FILE_SCAN_UPLOAD_URL, serve::<UploadUrl>),
    (routes::FILE_RESCAN, serve::<FileRescan>),
    (routes::FILE_RESCAN_DELETE, serve::<FileRescanDelete>),
    (routes::FILE_DOWNLOAD, serve::<FileDownload>),
    (routes::FILE_NETWORK_TRAFFIC, serve::<FileNetworkTraffic>),
    (routes::FILE_BEHAVIOUR, serve::<FileBehaviour>),
    (routes::FILE_CLUSTERS, serve::<FileClusters>),
    (routes::FILE_SEARCH, serve::<FileSearch>),
    (routes::COMMENTS_PUT, serve::<CommentsPut>),
    (routes::COMMENTS_GET, serve::<CommentsGet>),
    (routes::URL_REPORT, serve::<UrlReport>),
    (routes::URL_SCAN, serve::<UrlScan>),
    (routes::DOMAIN_REPORT, serve::<DomainReport>),
    (routes::IP_ADDRESS_REPORT, serve::<IpReport>),
];

/// How one endpoint reads, checks and answers a request that passed the key and tier rules.
pub(crate) trait Endpoint {
    /// The request's arguments as the endpoint reads them, once, from the parameters.
    type Args<'r>;

    /// Reads the arguments; no rule has been applied yet (a missing argument is for
    /// `validate` to refuse).
    fn args<'r>(params: &'r Params<'_>) -> Self::Args<'r>;

    /// How many resources the request names, added to the stats' `resources_asked` whatever
    /// the answer.
    fn resources_asked(_args: &Self::Args<'_>) -> usize {
        0
    }

    /// The argument checks, after the key and tier, before the quota: `Err` is the status of
    /// an empty answer (400; `url/scan` also refuses a body that is not a url-encoded form,
    /// 403), which uses no quota.
    fn validate(_state: &State, _args: &Self::Args<'_>, _tier: Tier) -> Result<(), StatusCode> {
        Ok(())
    }

    /// The answer to an admitted request.
    fn answer(state: &State, args: Self::Args<'_>, tier: Tier) -> Answer;
}

/// What the chain decided.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// An answer, and the fault that shapes how it is sent (`slow`, `truncate`).
    Send(Answer, Option<FaultKind>),
    /// The `reset` fault: no answer, the connection is closed.
    Reset,
}

/// The rule chain from the fault draw on (steps 3 to 9 of the module docs) for the endpoint
/// `E`; a route's `serve`. Generic, so that the route table holds plain function pointers and
/// a request allocates nothing for the routing. Returns the outcome and how many resources
/// the request names.
pub(crate) fn serve<E: Endpoint>(
    state: &State,
    route: &Route,
    params: &Params<'_>,
) -> (Outcome, usize) {
    let args = E::args(params);
    let asked = E::resources_asked(&args);
    if asked > 0 {
        state.counters.resources(asked);
    }
    (chain::<E>(state, route, params, args), asked)
}

/// [`serve`] from the fault draw on.
fn chain<E: Endpoint>(
    state: &State,
    route: &Route,
    params: &Params<'_>,
    args: E::Args<'_>,
) -> Outcome {
    let fault = state.faults.draw();
    if let Some(kind) = fault {
        state.counters.fault(kind);
        match kind {
            FaultKind::InternalError => {
                return Outcome::Send(Answer::empty(StatusCode::INTERNAL_SERVER_ERROR), None)
            }
            FaultKind::Quota => return Outcome::Send(Answer::empty(StatusCode::NO_CONTENT), None),
            FaultKind::Reset => return Outcome::Reset,
            FaultKind::Slow | FaultKind::Truncate => {}
        }
    }
    let answer = match admit::<E>(state, route, params, &args) {
        Ok(tier) => E::answer(state, args, tier),
        Err(status) => Answer::empty(status),
    };
    Outcome::Send(answer, fault)
}

/// Key, tier, the endpoint's argument checks, quota: the tier of an admitted request, or the
/// status of the refusal.
fn admit<E: Endpoint>(
    state: &State,
    route: &Route,
    params: &Params<'_>,
    args: &E::Args<'_>,
) -> Result<Tier, StatusCode> {
    let key = params.first("apikey").unwrap_or("");
    let tier = state.keys.tier(key).ok_or(StatusCode::FORBIDDEN)?;
    if tier == Tier::Public && route.needs_private(params) {
        return Err(StatusCode::FORBIDDEN);
    }
    E::validate(state, args, tier)?;
    if !state
        .quotas
        .try_acquire(key, state.limits(tier), E::resources_asked(args))
    {
        return Err(StatusCode::NO_CONTENT);
    }
    Ok(tier)
}

/// What the rules decided, before faults shape how it is sent.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An empty body: the 204, or an error page ([`vt_server::reply::empty`]).
    Empty(StatusCode),
    /// A 200 with a JSON body, assembled in memory and from the slabs.
    Json(Assembled),
    /// A 200 with the bytes of a file of the emulator's, streamed (a download),
    /// `application/octet-stream`.
    File(PathBuf),
    /// `302 Found` to this location, empty body.
    Redirect(String),
}

impl Answer {
    /// An empty body: no Content-Type for 204, `text/html` otherwise (as recorded for 403).
    pub(crate) fn empty(status: StatusCode) -> Answer {
        Answer::Empty(status)
    }

    /// A 200 with a JSON body.
    pub(crate) fn json(body: Assembled) -> Answer {
        Answer::Json(body)
    }

    /// A 200 with the bytes of a file, `application/octet-stream`.
    pub(crate) fn file(path: PathBuf) -> Answer {
        Answer::File(path)
    }

    /// `302 Found` to `location`, empty body.
    pub(crate) fn redirect(location: String) -> Answer {
        Answer::Redirect(location)
    }

    /// The status it is counted under.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Answer::Empty(status) => *status,
            Answer::Json(_) | Answer::File(_) => StatusCode::OK,
            Answer::Redirect(_) => StatusCode::FOUND,
        }
    }
}

/// The raw loopback client of the integration tests, for the tests' routes below.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod raw_http;

#[cfg(test)]
mod tests {
    use super::raw_http::{exchange, get, post, Reply};
    use super::*;
    use crate::chunks::Assembler;
    use crate::{Emulator, EmulatorBuilder, KeySpec, RunningEmulator};
    use vt_server::reply::{HTML, JSON};
    use vt_server::routes::{Methods, PrivateParam};

    /// Answers the parameters it was given, in order, as `[[name, value], ...]`; refuses a
    /// request without `query` (400).
    struct Echo;

    impl Endpoint for Echo {
        type Args<'r> = Vec<(&'r str, &'r str)>;

        fn args<'r>(params: &'r Params<'_>) -> Self::Args<'r> {
            params.iter().collect()
        }

        fn validate(_: &State, args: &Self::Args<'_>, _: Tier) -> Result<(), StatusCode> {
            match args.iter().any(|&(name, _)| name == "query") {
                true => Ok(()),
                false => Err(StatusCode::BAD_REQUEST),
            }
        }

        fn answer(_: &State, args: Self::Args<'_>, _: Tier) -> Answer {
            let mut out = Assembler::default();
            out.extend(&serde_json::to_vec(&args).expect("pairs of strings"));
            Answer::json(out.finish())
        }
    }

    /// Private keys only, like the real `file/search`; GET only.
    const PRIVATE_ONLY: Route = Route::new("file/search", Methods::Get).private_only();

    /// The body cap of [`POST_ONLY`].
    const SMALL_BODY: usize = 256;

    /// POST only, small bodies, open to public keys except for `notify_url`.
    const POST_ONLY: Route = Route::new("file/rescan", Methods::Post)
        .max_body(SMALL_BODY)
        .private_params(&[PrivateParam::new("notify_url", |value| !value.is_empty())]);

    /// Public key `pub`, private key `priv`, and the two test routes.
    fn builder() -> EmulatorBuilder {
        Emulator::builder()
            .key(KeySpec::new("pub", Tier::Public).unwrap())
            .key(KeySpec::new("priv", Tier::Private).unwrap())
            .route(PRIVATE_ONLY, serve::<Echo>)
            .route(POST_ONLY, serve::<Echo>)
    }

    async fn start(builder: EmulatorBuilder) -> RunningEmulator {
        builder.start().await.expect("the emulator starts")
    }

    async fn form(emu: &RunningEmulator, target: &str, body: &str) -> Reply {
        let form = "application/x-www-form-urlencoded";
        post(emu.addr(), target, form, body)
            .await
            .expect("an answer")
    }

    fn statuses(replies: &[Reply]) -> Vec<u16> {
        replies.iter().map(|r| r.status).collect()
    }

    #[tokio::test]
    async fn a_private_only_route_refuses_a_public_key_before_its_arguments_and_quota() {
        let emu = start(builder().public_per_minute(1).private_per_minute(1)).await;
        let mut replies = Vec::new();
        for query in [
            "apikey=pub",          // no `query` either: the tier is checked first
            "apikey=pub&query=x",  // a valid request, still a public key
            "apikey=nope&query=x", // unknown key
            "query=x",             // no key
            "apikey=priv",         // the route's own check, before the quota
            "apikey=priv&query=x", // admitted: the minute's one request
            "apikey=priv&query=x", // over the quota
        ] {
            let target = format!("/vtapi/v2/file/search?{query}");
            replies.push(get(emu.addr(), &target).await.expect("an answer"));
        }
        assert_eq!(statuses(&replies), [403, 403, 403, 403, 400, 200, 204]);
        for refused in replies.iter().filter(|r| r.status != 200) {
            assert!(refused.body.is_empty(), "{refused:?}");
        }
        assert_eq!(replies[5].header("content-type"), Some(JSON));
        assert_eq!(replies[0].header("content-type"), Some(HTML));
        assert_eq!(replies[6].header("content-type"), None);
        let stats = emu.stats();
        assert_eq!(stats.endpoint("file/search"), 7);
        assert_eq!(
            (stats.status(403), stats.status(400), stats.status(204)),
            (4, 1, 1)
        );
        assert_eq!(stats.resources_asked, 0, "only file/report names resources");
    }

    #[tokio::test]
    async fn a_private_parameter_is_refused_to_a_public_key_only_when_used() {
        let emu = start(builder()).await;
        let target = "/vtapi/v2/file/rescan";
        let used = form(&emu, target, "apikey=pub&query=x&notify_url=http://h/").await;
        assert_eq!(used.status, 403);
        let unused = form(&emu, target, "apikey=pub&query=x&notify_url=").await;
        assert_eq!(unused.status, 200);
        let private = form(&emu, target, "apikey=priv&query=x&notify_url=http://h/").await;
        assert_eq!(private.status, 200);
        // The file/report route's private parameter is on its own row, not the chain's.
        let allinfo = form(&emu, target, "apikey=pub&query=x&allinfo=1").await;
        assert_eq!(allinfo.status, 200);
    }

    #[tokio::test]
    async fn a_method_a_route_does_not_answer_is_405_with_its_allow() {
        let emu = start(builder()).await;
        let get_on_post_only = get(emu.addr(), "/vtapi/v2/file/rescan?apikey=priv&query=x")
            .await
            .expect("an answer");
        assert_eq!(get_on_post_only.status, 405);
        assert_eq!(get_on_post_only.header("allow"), Some("POST"));
        assert!(get_on_post_only.body.is_empty());
        for (method, path, allow) in [
            ("POST", "file/search", "GET"),
            ("PUT", "file/search", "GET"),
            ("DELETE", "file/rescan", "POST"),
            ("PUT", "file/report", "GET, POST"),
        ] {
            let request = format!(
                "{method} /vtapi/v2/{path}?apikey=priv&query=x HTTP/1.1\r\nHost: h\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let reply = exchange(emu.addr(), request.as_bytes())
                .await
                .expect("an answer");
            assert_eq!(
                (reply.status, reply.header("allow")),
                (405, Some(allow)),
                "{method} {path}"
            );
            assert!(reply.body.is_empty());
        }
        assert_eq!(emu.stats().status(405), 5);
    }

    #[tokio::test]
    async fn a_body_over_the_routes_cap_is_413_before_any_rule() {
        let emu = start(builder()).await;
        let target = "/vtapi/v2/file/rescan";
        let head = "apikey=priv&query=";
        let fits = format!("{head}{}", "x".repeat(SMALL_BODY - head.len()));
        assert_eq!(form(&emu, target, &fits).await.status, 200);
        let over = format!("{fits}x");
        assert_eq!(form(&emu, target, &over).await.status, 413);
        // No key at all: the body cap comes first.
        let keyless = format!("query={}", "x".repeat(SMALL_BODY));
        assert_eq!(form(&emu, target, &keyless).await.status, 413);
    }

    #[tokio::test]
    async fn parameters_keep_every_value_in_order_query_then_body() {
        let emu = start(builder()).await;
        let reply = form(
            &emu,
            "/vtapi/v2/file/rescan?apikey=priv&query=q1&x=1&query=q%202",
            "query=b1&x=2&apikey=pub&flag&x=%41+B",
        )
        .await;
        assert_eq!(reply.status, 200, "the first apikey (query) wins");
        assert_eq!(
            reply.json(),
            serde_json::json!([
                ["apikey", "priv"],
                ["query", "q1"],
                ["x", "1"],
                ["query", "q 2"],
                ["query", "b1"],
                ["x", "2"],
                ["apikey", "pub"],
                ["flag", ""],
                ["x", "A B"]
            ])
        );
        let multipart = post(
            emu.addr(),
            "/vtapi/v2/file/rescan?query=q1",
            "multipart/form-data; boundary=B",
            "--B\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nm1\r\n\
             --B\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\npriv\r\n--B--\r\n",
        )
        .await
        .expect("an answer");
        assert_eq!(
            multipart.json(),
            serde_json::json!([["query", "q1"], ["query", "m1"], ["apikey", "priv"]])
        );
    }

    #[test]
    fn every_v2_route_is_served_once() {
        let router = vt_server::Router::new(ROUTES.iter().copied()).unwrap();
        for route in routes::ROUTES {
            let path = format!("/vtapi/v2/{}", route.path);
            assert!(router.find(&path).is_some(), "{path} is not served");
        }
        assert_eq!(ROUTES.len(), routes::ROUTES.len());
    }
}
