//! The routes of the v2 API and the rule chain every one of them goes through.
//!
//! A request to `/vtapi/v2/PATH` is answered by the [`Route`] of `PATH` (404 when there is
//! none) in this order, the same for every route:
//!
//! 1. the method ([`Route::methods`]): 405 with `Allow`;
//! 2. the body, for a POST: over [`Route::max_body`] 413;
//! 3. the parameters are read ([`Params`], query then body) and the route reads its
//!    arguments ([`Endpoint::args`]); the resources they name are counted in the stats;
//! 4. one fault draw ([`crate::faults::FaultPlan`]): `500`, `204` and `reset` answer here;
//!    `slow` and `truncate` shape the answer once it is made;
//! 5. the key: missing, empty or unknown 403;
//! 6. the tier: a public key on a [`Route::private_only`] route, or using one of its
//!    [`Route::private_params`], 403;
//! 7. the route's argument checks ([`Endpoint::validate`], e.g. 400 for a missing resource);
//! 8. the quota of the key (per tier): 204;
//! 9. the route's answer ([`Endpoint::answer`]).
//!
//! Steps 1 to 8 are the chain's, written once; a route only says what differs (its row in
//! [`ROUTES`]) and how it reads, checks and answers (its [`Endpoint`]).

use std::path::PathBuf;

use hyper::{Method, StatusCode};

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
use crate::stats::{ENDPOINTS, OTHER_ENDPOINT};
use crate::stored_answers::{FileBehaviour, FileClusters};
use crate::url_report::UrlReport;
use crate::url_scan::UrlScan;
use crate::wire::{self, Params};
use crate::{Error, FaultKind, Tier};

/// The largest POST body a route reads unless it says otherwise; a larger one is 413.
pub(crate) const MAX_BODY: usize = 1 << 20;
pub(crate) const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";
const OCTET_STREAM: &str = "application/octet-stream";

/// The served endpoints, one row each.
///
/// **Adding an endpoint** (see also `docs/emulator.md`, "Adding an endpoint"):
///
/// 1. its path must be in [`crate::stats::ENDPOINTS`] (every v2 endpoint already is, so that
///    requests to it are counted before it is served);
/// 2. write a unit struct implementing [`Endpoint`] in a module of its own (as
///    `file_report.rs` does): `args` reads the parameters it needs from [`Params`], `validate`
///    refuses bad arguments (400) before any quota is used, `answer` makes the 200;
/// 3. add its row here: path, methods, body cap, whether only private keys may call it,
///    which parameters only private keys may use, and `serve: serve::<TheEndpoint>`.
///
/// The key, tier, quota and fault rules then apply to it as they do to `file/report`, and the
/// stats count it under its path. **A new kind of data** (URL reports, domains, comments, ...)
/// is a field of [`State`] filled by the builder (as `store` holds the file reports), read by
/// the endpoint's `answer`: nothing in the chain changes.
pub(crate) const ROUTES: &[Route] = &[
    Route::new("file/report", Methods::GetOrPost, serve::<FileReport>).private_params(&[ALLINFO]),
    Route::new("file/scan", Methods::Post, serve::<FileScanEndpoint>)
        .max_body(FILE_SCAN_MAX_BODY)
        .takes_file(),
    Route::new("file/scan/upload_url", Methods::Get, serve::<UploadUrl>).private_only(),
    Route::new("file/rescan", Methods::Post, serve::<FileRescan>).private_only(),
    Route::new(
        "file/rescan/delete",
        Methods::Post,
        serve::<FileRescanDelete>,
    )
    .private_only(),
    Route::new("file/download", Methods::Get, serve::<FileDownload>).private_only(),
    Route::new(
        "file/network-traffic",
        Methods::Get,
        serve::<FileNetworkTraffic>,
    )
    .private_only(),
    Route::new("file/behaviour", Methods::Get, serve::<FileBehaviour>).private_only(),
    Route::new("file/clusters", Methods::Get, serve::<FileClusters>).private_only(),
    Route::new("file/search", Methods::GetOrPost, serve::<FileSearch>).private_only(),
    Route::new("comments/put", Methods::Post, serve::<CommentsPut>),
    Route::new("comments/get", Methods::Get, serve::<CommentsGet>).private_only(),
    Route::new("url/report", Methods::GetOrPost, serve::<UrlReport>).private_params(&[ALLINFO]),
    Route::new("url/scan", Methods::Post, serve::<UrlScan>),
    Route::new("domain/report", Methods::Get, serve::<DomainReport>),
    Route::new("ip-address/report", Methods::Get, serve::<IpReport>),
];

/// The largest `file/scan` request (the file and the form around it), as the service
/// documents; a larger one is 413.
pub(crate) const FILE_SCAN_MAX_BODY: usize = 32 << 20;

/// `allinfo=1` (or `true`): the whole stored report, private keys only.
const ALLINFO: PrivateParam = PrivateParam {
    name: "allinfo",
    is_used: wire::is_on,
};

/// One endpoint: where it is, who may call it, and its handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    /// The path under `/vtapi/v2/`, one of [`ENDPOINTS`].
    pub(crate) path: &'static str,
    /// The methods answered; any other is 405.
    pub(crate) methods: Methods,
    /// The largest POST body read; a larger one is 413.
    pub(crate) max_body: usize,
    /// Only private keys may call it: a public key is 403.
    pub(crate) private_only: bool,
    /// Parameters only private keys may use: a public key using one is 403.
    pub(crate) private_params: &'static [PrivateParam],
    /// A multipart part named `file` is written to the emulator's folder (hashed on the
    /// way) rather than read as text: [`Params::upload`].
    pub(crate) takes_file: bool,
    /// The chain run with the route's [`Endpoint`]: `serve::<E>`.
    /// Also says how many resources the request names (for `--log-requests`).
    pub(crate) serve: fn(&State, &Route, &Params<'_>) -> (Outcome, usize),
}

impl Route {
    /// A route open to every key, with the default body cap and no private parameter.
    pub(crate) const fn new(
        path: &'static str,
        methods: Methods,
        serve: fn(&State, &Route, &Params<'_>) -> (Outcome, usize),
    ) -> Route {
        Route {
            path,
            methods,
            max_body: MAX_BODY,
            private_only: false,
            private_params: &[],
            takes_file: false,
            serve,
        }
    }

    /// Only private keys may call it.
    pub(crate) const fn private_only(self) -> Route {
        Route {
            private_only: true,
            ..self
        }
    }

    /// Parameters only private keys may use.
    pub(crate) const fn private_params(self, params: &'static [PrivateParam]) -> Route {
        Route {
            private_params: params,
            ..self
        }
    }

    /// Another body cap.
    pub(crate) const fn max_body(self, max_body: usize) -> Route {
        Route { max_body, ..self }
    }

    /// Takes an uploaded file.
    pub(crate) const fn takes_file(self) -> Route {
        Route {
            takes_file: true,
            ..self
        }
    }
}

/// The methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Methods {
    /// `GET` with query parameters.
    Get,
    /// `POST` with a form body (and query parameters).
    Post,
    /// Either.
    GetOrPost,
}

impl Methods {
    /// `None` when `method` is not answered; otherwise whether the parameters come in a body
    /// too (a POST).
    pub(crate) fn reads_body(self, method: &Method) -> Option<bool> {
        match (self, method) {
            (Methods::Get | Methods::GetOrPost, &Method::GET) => Some(false),
            (Methods::Post | Methods::GetOrPost, &Method::POST) => Some(true),
            _ => None,
        }
    }

    /// The `Allow` header of a 405.
    pub(crate) fn allow(self) -> &'static str {
        match self {
            Methods::Get => "GET",
            Methods::Post => "POST",
            Methods::GetOrPost => "GET, POST",
        }
    }
}

/// A parameter only private keys may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrivateParam {
    /// Its name.
    pub(crate) name: &'static str,
    /// Whether its value (the first one, as routes read it) uses the private feature: e.g.
    /// `allinfo=0` is allowed on a public key, `allinfo=1` is not.
    pub(crate) is_used: fn(&str) -> bool,
}

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

impl Route {
    /// Whether this request needs a private key: the route is private-only, or it uses a
    /// private parameter.
    fn needs_private(&self, params: &Params<'_>) -> bool {
        self.private_only
            || self
                .private_params
                .iter()
                .any(|param| params.first(param.name).is_some_and(param.is_used))
    }
}

/// The routes by endpoint index (the stats' numbering), for a lookup without comparing paths
/// again.
#[derive(Debug)]
pub(crate) struct Router {
    by_endpoint: [Option<Route>; ENDPOINTS.len()],
}

impl Router {
    /// Fails on a path that is not a v2 endpoint or is routed twice: a mistake in a route
    /// table, caught when the server is built rather than by a request.
    pub(crate) fn new(routes: &[Route]) -> Result<Router, Error> {
        let mut by_endpoint = [None; ENDPOINTS.len()];
        for route in routes {
            let slot = ENDPOINTS
                .iter()
                .position(|&path| path == route.path)
                .and_then(|i| by_endpoint.get_mut(i))
                .ok_or_else(|| {
                    Error::config(format!("route {:?}: not a v2 endpoint", route.path))
                })?;
            if slot.is_some() {
                return Err(Error::config(format!("route {:?} twice", route.path)));
            }
            *slot = Some(*route);
        }
        Ok(Router { by_endpoint })
    }

    /// The route of an endpoint index (`None` for [`OTHER_ENDPOINT`] or an endpoint not
    /// served).
    pub(crate) fn route(&self, endpoint: usize) -> Option<&Route> {
        debug_assert!(endpoint <= OTHER_ENDPOINT);
        self.by_endpoint.get(endpoint)?.as_ref()
    }
}

/// What the rules decided, before faults shape how it is sent.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Payload,
    /// The `Location` of a redirect.
    pub(crate) location: Option<String>,
}

/// The body of an answer.
#[derive(Debug)]
pub(crate) enum Payload {
    /// Bytes assembled in memory and from the slabs.
    Bytes(Assembled),
    /// A file of the emulator's, streamed (a download).
    File(PathBuf),
}

impl Answer {
    /// An empty body: no Content-Type for 204, `text/html` otherwise (as recorded for 403).
    pub(crate) fn empty(status: StatusCode) -> Answer {
        let content_type = match status {
            StatusCode::NO_CONTENT => None,
            _ => Some(HTML),
        };
        Answer {
            status,
            content_type,
            body: Payload::Bytes(Assembled::default()),
            location: None,
        }
    }

    /// A 200 with a JSON body.
    pub(crate) fn json(body: Assembled) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: Some(JSON),
            body: Payload::Bytes(body),
            location: None,
        }
    }

    /// A 200 with the bytes of a file, `application/octet-stream`.
    pub(crate) fn file(path: PathBuf) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: Some(OCTET_STREAM),
            body: Payload::File(path),
            location: None,
        }
    }

    /// `302 Found` to `location`, empty body.
    pub(crate) fn redirect(location: String) -> Answer {
        Answer {
            location: Some(location),
            ..Answer::empty(StatusCode::FOUND)
        }
    }
}

/// The raw loopback client of the integration tests, for the tests' routes below.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod http;

#[cfg(test)]
mod tests {
    use super::http::{exchange, get, post, Reply};
    use super::*;
    use crate::chunks::Assembler;
    use crate::{Emulator, EmulatorBuilder, KeySpec, RunningEmulator};

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
    const PRIVATE_ONLY: Route =
        Route::new("file/search", Methods::Get, serve::<Echo>).private_only();

    /// The body cap of [`POST_ONLY`].
    const SMALL_BODY: usize = 256;

    /// POST only, small bodies, open to public keys except for `notify_url`.
    const POST_ONLY: Route = Route::new("file/rescan", Methods::Post, serve::<Echo>)
        .max_body(SMALL_BODY)
        .private_params(&[PrivateParam {
            name: "notify_url",
            is_used: |value| !value.is_empty(),
        }]);

    /// Public key `pub`, private key `priv`, and the two test routes.
    fn builder() -> EmulatorBuilder {
        Emulator::builder()
            .key(KeySpec::new("pub", Tier::Public).unwrap())
            .key(KeySpec::new("priv", Tier::Private).unwrap())
            .route(PRIVATE_ONLY)
            .route(POST_ONLY)
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
    fn a_route_table_naming_no_endpoint_or_one_twice_is_refused() {
        let unknown = Route {
            path: "file/nothing",
            ..PRIVATE_ONLY
        };
        assert!(Router::new(&[unknown]).is_err());
        assert!(Router::new(&[PRIVATE_ONLY, PRIVATE_ONLY]).is_err());
        let router = Router::new(ROUTES).unwrap();
        let file_report = crate::stats::endpoint_of("/vtapi/v2/file/report");
        assert_eq!(
            router.route(file_report).map(|r| r.path),
            Some("file/report")
        );
        assert!(router.route(OTHER_ENDPOINT).is_none());
        let file_search = crate::stats::endpoint_of("/vtapi/v2/file/search");
        assert_eq!(
            router.route(file_search).map(|r| r.path),
            Some("file/search")
        );
    }
}
