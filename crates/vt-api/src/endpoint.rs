//! Endpoints as data: what the one request pipeline needs to know of each v2 endpoint.
//!
//! Pacing, retries, deadlines, status classification, batching, matching, caching and events
//! are the same for every endpoint and exist once (`client.rs`, `batch.rs`); an endpoint is a
//! description: its path, how it takes its parameters, how queries are batched and answers
//! matched, whether answers are cached, whether it needs a private key. Adding an endpoint is
//! one more `const` here (and its report type in vt-model).

use std::marker::PhantomData;

use vt_model::{
    Acknowledgement, BehaviourReport, ClusterDate, Clusters, Comments, Domain, DomainReport,
    FileReport, FileScan, IpAddress, IpReport, Rescan, Resource, SearchPage, SearchQuery, Subject,
    Url, UrlReport, UrlScan,
};

/// Which HTTP method an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Methods {
    /// GET or POST: the client's [`RequestMethod`](crate::RequestMethod) decides.
    GetOrPost,
    /// POST only.
    Post,
    /// GET only (parameters in the query string).
    Get,
}

/// How a POST carries its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`, one text part per parameter.
    Multipart,
}

/// How many queries one request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Batching {
    /// One query a request.
    Single,
    /// Up to the tier's batch size, joined by this separator in one parameter (`,` for
    /// hashes; a newline for URLs, which may hold commas).
    Joined(&'static str),
}

/// How the answers of a request are given to its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Matching {
    /// By the `resource` each answer echoes, by the query's case rules; an answer without one
    /// by its place in the batch, and then only when nothing in it (its hashes, its URL)
    /// contradicts the question.
    ByEcho,
    /// The endpoint answers one query with one object that need not echo it.
    Only,
}

/// What the pipeline needs to know of an endpoint, whatever its types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointSpec {
    /// The path under the base URL, e.g. `file/report`.
    pub path: &'static str,
    /// The parameter that carries the queries, e.g. `resource`.
    pub query_param: &'static str,
    /// The HTTP method.
    pub methods: Methods,
    /// How a POST carries its parameters.
    pub encoding: Encoding,
    /// How many queries a request carries.
    pub batching: Batching,
    /// How answers are matched to queries.
    pub matching: Matching,
    /// Whether final answers (found, not found) are kept in the cache.
    pub cacheable: bool,
    /// Whether the endpoint needs a private key: on a public one, nothing is sent.
    pub private_only: bool,
    /// Whether a found answer also answers the file's other hashes (a report names its md5,
    /// sha1 and sha256): the cache stores it under each.
    pub answers_other_hashes: bool,
}

/// An endpoint: its [`EndpointSpec`], and the types of its queries (`Q`) and found reports
/// (`T`).
pub struct Endpoint<Q, T> {
    spec: EndpointSpec,
    types: PhantomData<fn() -> (Q, T)>,
}

impl<Q, T> Endpoint<Q, T> {
    /// An endpoint of `spec`.
    pub const fn new(spec: EndpointSpec) -> Endpoint<Q, T> {
        Endpoint {
            spec,
            types: PhantomData,
        }
    }

    /// What the pipeline needs to know of it.
    pub fn spec(&self) -> &EndpointSpec {
        &self.spec
    }
}

impl<Q, T> Clone for Endpoint<Q, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, T> Copy for Endpoint<Q, T> {}

impl<Q, T> std::fmt::Debug for Endpoint<Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.spec.fmt(f)
    }
}

/// `/file/report`: hashes and scan_ids, batched by comma.
pub const FILE_REPORT: Endpoint<Resource, FileReport> = Endpoint::new(EndpointSpec {
    path: "file/report",
    query_param: "resource",
    methods: Methods::GetOrPost,
    encoding: Encoding::Form,
    batching: Batching::Joined(","),
    matching: Matching::ByEcho,
    cacheable: true,
    private_only: false,
    answers_other_hashes: true,
});

/// `/url/report`: URLs or scan_ids, batched by newline (URLs may hold commas), matched by the
/// `resource` each answer echoes, exactly (URL paths are case-sensitive).
pub const URL_REPORT: Endpoint<Url, UrlReport> = Endpoint::new(EndpointSpec {
    path: "url/report",
    query_param: "resource",
    methods: Methods::GetOrPost,
    encoding: Encoding::Form,
    batching: Batching::Joined("\n"),
    matching: Matching::ByEcho,
    cacheable: true,
    private_only: false,
    answers_other_hashes: false,
});

/// `/url/scan`: submits URLs (POST form only: the service answers 403 to any other body),
/// batched by newline. Never cached: each call is a new submission.
pub const URL_SCAN: Endpoint<Url, UrlScan> = Endpoint::new(EndpointSpec {
    path: "url/scan",
    query_param: "url",
    methods: Methods::Post,
    encoding: Encoding::Form,
    batching: Batching::Joined("\n"),
    matching: Matching::ByEcho,
    cacheable: false,
    private_only: false,
    answers_other_hashes: false,
});

/// `/domain/report`: one domain a request; the answer does not name the domain.
pub const DOMAIN_REPORT: Endpoint<Domain, DomainReport> = Endpoint::new(EndpointSpec {
    path: "domain/report",
    query_param: "domain",
    methods: Methods::Get,
    encoding: Encoding::Form,
    batching: Batching::Single,
    matching: Matching::Only,
    cacheable: true,
    private_only: false,
    answers_other_hashes: false,
});

/// `/ip-address/report`: one IPv4 address a request; the answer does not name the address.
pub const IP_REPORT: Endpoint<IpAddress, IpReport> = Endpoint::new(EndpointSpec {
    path: "ip-address/report",
    query_param: "ip",
    methods: Methods::Get,
    encoding: Encoding::Form,
    batching: Batching::Single,
    matching: Matching::Only,
    cacheable: true,
    private_only: false,
    answers_other_hashes: false,
});

/// The spec of an endpoint that is asked one query at a time, matched by place (its answer
/// need not echo the query), never cached: the shape of every action and data endpoint
/// below.
const fn single(
    path: &'static str,
    query_param: &'static str,
    methods: Methods,
    private_only: bool,
) -> EndpointSpec {
    EndpointSpec {
        path,
        query_param,
        methods,
        encoding: Encoding::Form,
        batching: Batching::Single,
        matching: Matching::Only,
        cacheable: false,
        private_only,
        answers_other_hashes: false,
    }
}

/// `/file/scan`: uploads one file (multipart, streamed from disk; see
/// [`Client::scan_file`](crate::Client::scan_file)); the answer names the file's hashes and
/// the scan_id of its analysis. The request has no query: the file is the question.
pub const FILE_SCAN: Endpoint<Resource, FileScan> = Endpoint::new(EndpointSpec {
    path: "file/scan",
    query_param: "",
    methods: Methods::Post,
    encoding: Encoding::Multipart,
    batching: Batching::Single,
    matching: Matching::Only,
    cacheable: false,
    private_only: false,
    answers_other_hashes: false,
});

/// `/file/scan/upload_url` (private keys): a one-time URL for a file over 32 MB.
pub(crate) const FILE_SCAN_UPLOAD_URL: EndpointSpec =
    single("file/scan/upload_url", "", Methods::Get, true);

/// `/file/download` (private keys): a file's bytes, through one redirect (see
/// [`Client::download`](crate::Client::download)).
pub const FILE_DOWNLOAD: Endpoint<Resource, bytes::Bytes> =
    Endpoint::new(single("file/download", "hash", Methods::Get, true));

/// `/file/network-traffic` (private keys): the pcap of a file's sandbox run.
pub const FILE_NETWORK_TRAFFIC: Endpoint<Resource, bytes::Bytes> =
    Endpoint::new(single("file/network-traffic", "hash", Methods::Get, true));

/// `/file/rescan` (private keys): queues a new analysis of files already in the store,
/// batched by comma; each answer names the new scan_id. Parameters: `date`, `period`,
/// `repeat`, `notify_url`, `notify_changes_only`. Never cached.
pub const FILE_RESCAN: Endpoint<Resource, Rescan> = Endpoint::new(EndpointSpec {
    path: "file/rescan",
    query_param: "resource",
    methods: Methods::Post,
    encoding: Encoding::Form,
    batching: Batching::Joined(","),
    matching: Matching::ByEcho,
    cacheable: false,
    private_only: true,
    answers_other_hashes: false,
});

/// `/file/rescan/delete` (private keys): cancels the scheduled rescans of one file.
pub const FILE_RESCAN_DELETE: Endpoint<Resource, Acknowledgement> = Endpoint::new(single(
    "file/rescan/delete",
    "resource",
    Methods::Post,
    true,
));

/// `/comments/get` (private keys): a page of up to 25 comments on a file or URL, newest
/// first; `before` (`YYYYmmddHHMMSS`) asks for older ones.
pub const COMMENTS_GET: Endpoint<Subject, Comments> =
    Endpoint::new(single("comments/get", "resource", Methods::Get, true));

/// `/comments/put`: posts the comment given as the `comment` parameter on a file or URL.
pub const COMMENTS_PUT: Endpoint<Subject, Acknowledgement> =
    Endpoint::new(single("comments/put", "resource", Methods::Post, false));

/// `/file/search` (private keys): one page of up to 300 SHA-256s matching the query;
/// `offset` asks for the next (see [`Client::search`](crate::Client::search)).
pub const FILE_SEARCH: Endpoint<SearchQuery, SearchPage> =
    Endpoint::new(single("file/search", "query", Methods::GetOrPost, true));

/// `/file/behaviour` (private keys): a file's sandbox report, a document without
/// `response_code` (see [`Client::document`](crate::Client::document)).
pub const FILE_BEHAVIOUR: Endpoint<Resource, BehaviourReport> =
    Endpoint::new(single("file/behaviour", "hash", Methods::Get, true));

/// `/file/clusters` (private keys): the clusters of similar files of one day, a document
/// (see [`Client::document`](crate::Client::document)).
pub const FILE_CLUSTERS: Endpoint<ClusterDate, Clusters> =
    Endpoint::new(single("file/clusters", "date", Methods::Get, true));

/// Parameters of a request beyond its queries and the key: the ones that change the answer
/// (part of the cache's scope), some of which may need a private key (`allinfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params {
    pairs: Vec<Param>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Param {
    name: &'static str,
    value: String,
    private: bool,
    /// The request does something besides answering (`scan=1` submits unknown URLs): its
    /// answers are not final, and not cached.
    submits: bool,
}

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// `allinfo=1` when `on` (a private-key feature of the report endpoints).
    pub fn allinfo(on: bool) -> Params {
        if on {
            Params::new().private("allinfo", "1")
        } else {
            Params::new()
        }
    }

    /// Adds a parameter any key may send.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Params {
        self.pairs.push(Param {
            name,
            value: value.into(),
            private: false,
            submits: false,
        });
        self
    }

    /// Adds a parameter that makes the request submit something (`scan=1` on `url/report`):
    /// its answers are never cached.
    pub fn submitting(mut self, name: &'static str, value: impl Into<String>) -> Params {
        self.pairs.push(Param {
            name,
            value: value.into(),
            private: false,
            submits: true,
        });
        self
    }

    /// Adds a parameter that needs a private key (a 403 for it stops only the requests that
    /// carry it).
    pub fn private(mut self, name: &'static str, value: impl Into<String>) -> Params {
        self.pairs.push(Param {
            name,
            value: value.into(),
            private: true,
            submits: false,
        });
        self
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.pairs.iter().map(|p| (p.name, p.value.as_str()))
    }

    /// `name=value` pairs in name order, joined by `&`: the cache's scope.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn canonical(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = self.pairs().collect();
        pairs.sort_unstable();
        pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether a parameter makes the request submit something (answers not cached).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn submits(&self) -> bool {
        self.pairs.iter().any(|p| p.submits)
    }

    /// The names of the private-key parameters, joined by `+`, if any.
    pub(crate) fn private_names(&self) -> Option<String> {
        let names: Vec<&str> = self
            .pairs
            .iter()
            .filter(|p| p.private)
            .map(|p| p.name)
            .collect();
        (!names.is_empty()).then(|| names.join("+"))
    }
}

/// Every v2 endpoint this crate describes.
static ALL: [EndpointSpec; 16] = [
    FILE_REPORT.spec,
    URL_REPORT.spec,
    URL_SCAN.spec,
    DOMAIN_REPORT.spec,
    IP_REPORT.spec,
    FILE_SCAN.spec,
    FILE_SCAN_UPLOAD_URL,
    FILE_DOWNLOAD.spec,
    FILE_NETWORK_TRAFFIC.spec,
    FILE_RESCAN.spec,
    FILE_RESCAN_DELETE.spec,
    COMMENTS_GET.spec,
    COMMENTS_PUT.spec,
    FILE_SEARCH.spec,
    FILE_BEHAVIOUR.spec,
    FILE_CLUSTERS.spec,
];

/// The description of the endpoint at `path` (under the base URL, e.g. `file/report`), for a
/// caller that routes requests by their path, such as a gateway relaying them with
/// [`Client::relay`](crate::Client::relay).
///
/// ```
/// assert_eq!(vt_api::endpoint_spec("comments/get").unwrap().path, "comments/get");
/// assert!(vt_api::endpoint_spec("file/scan/upload_url").is_some());
/// assert!(vt_api::endpoint_spec("file/nothing").is_none());
/// ```
pub fn endpoint_spec(path: &str) -> Option<&'static EndpointSpec> {
    ALL.iter().find(|spec| spec.path == path)
}
