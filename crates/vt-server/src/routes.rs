//! The v2 endpoints as wire facts: each path under `/vtapi/v2/` with the methods it answers
//! (405 with `Allow` for others), its body cap (413 over it), whether only private keys may
//! call it, which of its parameters only private keys may use, and whether it takes a file.
//! What a server does with a request is its own: a [`Router`] attaches a value of the
//! server's (a handler, a kind) to each route it serves; any other path is the service's 404.

use http::Method;

use crate::params::{is_on, Params};
use crate::Error;

/// Where the API lives: `/vtapi/v2/file/report` is the route `file/report`.
pub const API_PREFIX: &str = "/vtapi/v2/";

/// The largest POST body a route reads unless it says otherwise; a larger one is 413.
pub const MAX_BODY: usize = 1 << 20;

/// The largest `file/scan` request (the file and the form around it), as the service
/// documents; a larger one is 413.
pub const FILE_SCAN_MAX_BODY: usize = 32 << 20;

/// `allinfo=1` (or `true`): the whole stored report, private keys only.
pub const ALLINFO: PrivateParam = PrivateParam::new("allinfo", is_on);

/// `file/report`: reports by MD5, SHA-1, SHA-256 or scan_id, one or a batch.
pub const FILE_REPORT: Route =
    Route::new("file/report", Methods::GetOrPost).private_params(&[ALLINFO]);
/// `file/scan`: a file uploaded in a multipart part named `file`.
pub const FILE_SCAN: Route = Route::new("file/scan", Methods::Post)
    .max_body(FILE_SCAN_MAX_BODY)
    .takes_file();
/// `file/scan/upload_url`: a one-time URL for a larger upload.
pub const FILE_SCAN_UPLOAD_URL: Route =
    Route::new("file/scan/upload_url", Methods::Get).private_only();
/// `file/rescan`: files analysed again.
pub const FILE_RESCAN: Route = Route::new("file/rescan", Methods::Post).private_only();
/// `file/rescan/delete`: scheduled rescans cancelled.
pub const FILE_RESCAN_DELETE: Route =
    Route::new("file/rescan/delete", Methods::Post).private_only();
/// `file/download`: a file's bytes.
pub const FILE_DOWNLOAD: Route = Route::new("file/download", Methods::Get).private_only();
/// `file/network-traffic`: a file's network traffic (a pcap).
pub const FILE_NETWORK_TRAFFIC: Route =
    Route::new("file/network-traffic", Methods::Get).private_only();
/// `file/behaviour`: a file's sandbox report.
pub const FILE_BEHAVIOUR: Route = Route::new("file/behaviour", Methods::Get).private_only();
/// `file/clusters`: the clusters of a day.
pub const FILE_CLUSTERS: Route = Route::new("file/clusters", Methods::Get).private_only();
/// `file/search`: hashes of the files a query matches.
pub const FILE_SEARCH: Route = Route::new("file/search", Methods::GetOrPost).private_only();
/// `comments/put`: a comment on a file or URL.
pub const COMMENTS_PUT: Route = Route::new("comments/put", Methods::Post);
/// `comments/get`: the comments on a file or URL.
pub const COMMENTS_GET: Route = Route::new("comments/get", Methods::Get).private_only();
/// `url/report`: URL reports, one or a batch (`scan=1` submits the unknown ones).
pub const URL_REPORT: Route =
    Route::new("url/report", Methods::GetOrPost).private_params(&[ALLINFO]);
/// `url/scan`: URLs submitted for analysis.
pub const URL_SCAN: Route = Route::new("url/scan", Methods::Post);
/// `domain/report`: what is known of a domain.
pub const DOMAIN_REPORT: Route = Route::new("domain/report", Methods::Get);
/// `ip-address/report`: what is known of an IPv4 address.
pub const IP_ADDRESS_REPORT: Route = Route::new("ip-address/report", Methods::Get);

/// Every v2 endpoint, once. A route's index here is its number ([`endpoint`], [`Router::get`]).
pub const ROUTES: [Route; 16] = [
    FILE_REPORT,
    FILE_SCAN,
    FILE_SCAN_UPLOAD_URL,
    FILE_RESCAN,
    FILE_RESCAN_DELETE,
    FILE_DOWNLOAD,
    FILE_NETWORK_TRAFFIC,
    FILE_BEHAVIOUR,
    FILE_CLUSTERS,
    FILE_SEARCH,
    COMMENTS_PUT,
    COMMENTS_GET,
    URL_REPORT,
    URL_SCAN,
    DOMAIN_REPORT,
    IP_ADDRESS_REPORT,
];

/// The index in [`ROUTES`] of a request path (`/vtapi/v2/file/report` is 0); `None` for any
/// other path.
pub fn endpoint(path: &str) -> Option<usize> {
    let rest = path.strip_prefix(API_PREFIX)?;
    ROUTES.iter().position(|route| route.path == rest)
}

/// One endpoint as the wire has it. The v2 ones are the constants of this module; another
/// table (a test's) is made with [`Route::new`] and the builder methods.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Route {
    /// The path under `/vtapi/v2/`.
    pub path: &'static str,
    /// The methods answered; any other is 405.
    pub methods: Methods,
    /// The largest POST body read; a larger one is 413.
    pub max_body: usize,
    /// Only private keys may call it: a public key is 403.
    pub private_only: bool,
    /// Parameters only private keys may use: a public key using one is 403.
    pub private_params: &'static [PrivateParam],
    /// A multipart part named `file` is written to the spool (hashed on the way) rather than
    /// read as text: [`Params::upload`].
    pub takes_file: bool,
}

impl Route {
    /// A route open to every key, with the default body cap ([`MAX_BODY`]), no private
    /// parameter, and no file.
    pub const fn new(path: &'static str, methods: Methods) -> Route {
        Route {
            path,
            methods,
            max_body: MAX_BODY,
            private_only: false,
            private_params: &[],
            takes_file: false,
        }
    }

    /// Only private keys may call it.
    pub const fn private_only(self) -> Route {
        Route {
            private_only: true,
            ..self
        }
    }

    /// Parameters only private keys may use.
    pub const fn private_params(self, params: &'static [PrivateParam]) -> Route {
        Route {
            private_params: params,
            ..self
        }
    }

    /// Another body cap.
    pub const fn max_body(self, max_body: usize) -> Route {
        Route { max_body, ..self }
    }

    /// Takes an uploaded file.
    pub const fn takes_file(self) -> Route {
        Route {
            takes_file: true,
            ..self
        }
    }

    /// Whether this request needs a private key: the route is private-only, or the request
    /// uses one of its private parameters (its first value, as the service reads it).
    pub fn needs_private(&self, params: &Params<'_>) -> bool {
        self.private_only
            || self
                .private_params
                .iter()
                .any(|param| params.first(param.name).is_some_and(param.is_used))
    }
}

/// The methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
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
    pub fn reads_body(self, method: &Method) -> Option<bool> {
        match (self, method) {
            (Methods::Get | Methods::GetOrPost, &Method::GET) => Some(false),
            (Methods::Post | Methods::GetOrPost, &Method::POST) => Some(true),
            _ => None,
        }
    }

    /// The `Allow` header of a 405.
    pub fn allow(self) -> &'static str {
        match self {
            Methods::Get => "GET",
            Methods::Post => "POST",
            Methods::GetOrPost => "GET, POST",
        }
    }
}

/// A parameter only private keys may use.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PrivateParam {
    /// Its name.
    pub name: &'static str,
    /// Whether its value uses the private feature: e.g. `allinfo=0` is allowed on a public
    /// key, `allinfo=1` is not.
    pub is_used: fn(&str) -> bool,
}

impl PrivateParam {
    /// A parameter `name`, private when `is_used` says so of its value.
    pub const fn new(name: &'static str, is_used: fn(&str) -> bool) -> PrivateParam {
        PrivateParam { name, is_used }
    }
}

/// The routes a server serves, each with the server's value for it (a handler, a kind), found
/// by the route's number without comparing paths again.
#[derive(Debug)]
pub struct Router<T> {
    by_endpoint: [Option<(Route, T)>; ROUTES.len()],
}

impl<T> Router<T> {
    /// Fails on a path that is not a v2 endpoint or is routed twice: a mistake in a route
    /// table, caught when the server is set up rather than by a request. A route's facts may
    /// differ from those of [`ROUTES`] (a test's table).
    pub fn new(served: impl IntoIterator<Item = (Route, T)>) -> Result<Router<T>, Error> {
        let mut by_endpoint = [const { None }; ROUTES.len()];
        for (route, value) in served {
            let slot = ROUTES
                .iter()
                .position(|known| known.path == route.path)
                .and_then(|i| by_endpoint.get_mut(i))
                .ok_or_else(|| {
                    Error::config(format!("route {:?}: not a v2 endpoint", route.path))
                })?;
            if slot.is_some() {
                return Err(Error::config(format!("route {:?} twice", route.path)));
            }
            *slot = Some((route, value));
        }
        Ok(Router { by_endpoint })
    }

    /// The route numbered `endpoint` ([`endpoint`]), if served.
    pub fn get(&self, endpoint: usize) -> Option<(&Route, &T)> {
        let (route, value) = self.by_endpoint.get(endpoint)?.as_ref()?;
        Some((route, value))
    }

    /// The route of a request path (`/vtapi/v2/...`), if served.
    pub fn find(&self, path: &str) -> Option<(&Route, &T)> {
        self.get(endpoint(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_table_naming_no_endpoint_or_one_twice_is_refused() {
        let unknown = Route::new("file/nothing", Methods::Get);
        let error = Router::new([(unknown, ())]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "route \"file/nothing\": not a v2 endpoint"
        );
        let twice = Router::new([(FILE_SEARCH, 1), (FILE_SEARCH, 2)]).unwrap_err();
        assert_eq!(twice.to_string(), "route \"file/search\" twice");

        let router = Router::new(ROUTES.map(|route| (route, route.path))).unwrap();
        for (i, route) in ROUTES.iter().enumerate() {
            let path = format!("{API_PREFIX}{}", route.path);
            assert_eq!(endpoint(&path), Some(i));
            assert_eq!(router.find(&path).map(|(_, v)| *v), Some(route.path));
        }
        assert_eq!(endpoint("/vtapi/v2/file/report/"), None);
        assert_eq!(endpoint("/vtapi/v3/files"), None);
        assert_eq!(endpoint("file/report"), None);
        assert!(router.get(ROUTES.len()).is_none());

        let some = Router::new([(URL_SCAN, ())]).unwrap();
        assert!(some.find("/vtapi/v2/url/scan").is_some());
        assert!(some.find("/vtapi/v2/url/report").is_none());
    }

    #[test]
    fn methods_answer_get_and_post_as_the_route_says() {
        assert_eq!(Methods::Get.reads_body(&Method::GET), Some(false));
        assert_eq!(Methods::Get.reads_body(&Method::POST), None);
        assert_eq!(Methods::Post.reads_body(&Method::POST), Some(true));
        assert_eq!(Methods::GetOrPost.reads_body(&Method::PUT), None);
        assert_eq!(Methods::GetOrPost.allow(), "GET, POST");
    }

    #[test]
    fn a_private_parameter_needs_a_private_key_only_when_used() {
        let used = Params::from_urlencoded(b"resource=x&allinfo=true&allinfo=0");
        let unused = Params::from_urlencoded(b"resource=x&allinfo=0&allinfo=1");
        assert!(FILE_REPORT.needs_private(&used));
        assert!(!FILE_REPORT.needs_private(&unused));
        assert!(
            !DOMAIN_REPORT.needs_private(&used),
            "not a parameter of its"
        );
        assert!(FILE_SEARCH.needs_private(&unused));
        let taking_files: Vec<&str> = ROUTES
            .iter()
            .filter(|route| route.takes_file)
            .map(|route| route.path)
            .collect();
        assert_eq!(taking_files, ["file/scan"]);
        assert_eq!(FILE_SCAN.max_body, FILE_SCAN_MAX_BODY);
    }
}
