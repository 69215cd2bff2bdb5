//! The crate's one error type.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The header a vt-gateway adds to a 204 that is its own limit on the team token rather than
/// the service's quota: `X-VT-Gateway-Limit: per-day` ([`Error::GatewayDailyLimit`]). The
/// service never sends it; a client that does not know it sees the plain 204 of the wire.
pub const GATEWAY_LIMIT_HEADER: &str = "x-vt-gateway-limit";

/// Why a lookup failed. Not found and queued are not errors: they are
/// [`FileReportAnswer`](vt_model::FileReportAnswer)s.
///
/// No variant ever holds the API key: bodies are excerpted with the key cut out, and
/// transport errors whose text would show it are replaced by a redacted message.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource is not an MD5, SHA-1, SHA-256 or scan_id; nothing was sent.
    #[error("invalid resource {input:?}: {reason}")]
    InvalidResource {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The service kept answering 204 No Content (quota exceeded), even after waiting.
    #[error("quota exceeded: the service answered 204 No Content {answers} times in a row")]
    RateLimited {
        /// How many 204 answers were received for this request.
        answers: u32,
    },
    /// The quota has no room for this request within [`RetryPolicy::max_quota_wait`]: it
    /// fails at once, nothing sent and nothing counted. Trying again after `until` may
    /// succeed.
    ///
    /// [`RetryPolicy::max_quota_wait`]: crate::RetryPolicy::max_quota_wait
    #[error("{}", quota_wait_message(*wait, *until, *daily))]
    QuotaWait {
        /// How long the request would have waited.
        wait: Duration,
        /// When it would have gone, on the wall clock, as far as the count knows.
        until: SystemTime,
        /// Whether the daily quota is what holds it (else the per-minute one, or a 204's
        /// hold).
        daily: bool,
    },
    /// A vt-gateway answered 204 with [`GATEWAY_LIMIT_HEADER`] `per-day`: the team token used
    /// as the key has spent its own daily allowance there (not the service's quota, which a
    /// wait would free). It stops the run: nothing more is sent with this token.
    #[error(
        "204 from the gateway: this token's daily limit is used up; nothing more is sent \
         with it (its operator sets the limit: vt-gateway token add --per-day)"
    )]
    GatewayDailyLimit,
    /// 403 Forbidden for a request that needs nothing but a valid key: the key is missing or
    /// invalid. It stops the run: nothing more is sent with this key.
    #[error("403 Forbidden: the API key is missing or invalid")]
    Forbidden,
    /// 403 Forbidden for a request using a private-key feature (a private-only endpoint, or a
    /// parameter such as `allinfo`; through a vt-gateway, a right the token lacks): only
    /// requests using that feature stop.
    #[error(
        "403 Forbidden: this key may not use {feature} (it needs a private key; through a \
         vt-gateway, a token allowed it)"
    )]
    ForbiddenFeature {
        /// The endpoint or parameter, e.g. `allinfo`.
        feature: String,
    },
    /// The endpoint needs a private key and the client's tier is public: nothing was sent.
    #[error("{feature} needs a private key; nothing was sent (the key's tier is public)")]
    PrivateOnly {
        /// The endpoint, e.g. `file/search`.
        feature: String,
    },
    /// No request ever reached the service (connection refused, DNS, TLS) after the first
    /// request's retries: the run stops, and nothing it tried counts against the quota.
    #[error("cannot reach {service}: {reason}")]
    Unreachable {
        /// The service's scheme, host and port.
        service: String,
        /// The last transport error.
        #[source]
        reason: TransportError,
    },
    /// 400 Bad Request: the service refused the parameters.
    #[error("400 Bad Request: {excerpt:?}")]
    BadRequest {
        /// The start of the response body.
        excerpt: String,
    },
    /// Any other status that is not an answer, after retries where they apply.
    #[error("unexpected HTTP status {status}: {excerpt:?}")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        excerpt: String,
    },
    /// No complete response arrived (connection, TLS, timeout in the transport, ...), after
    /// retries where they apply.
    #[error("transport: {0}")]
    Transport(#[source] TransportError),
    /// The client's own deadline for one attempt passed, after retries.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A 200 answer whose body is not a `/file/report` answer.
    #[error("{0}")]
    Decode(#[source] vt_model::DecodeError),
    /// The service answered the batch but said nothing about this resource.
    #[error("the service's answer has no item for this resource")]
    MissingAnswer,
    /// The service answered this query twice in one batch: neither answer is trusted.
    #[error("the service's answer has two items for this resource")]
    DuplicateAnswer,
    /// The only answer that could be this query's (by its place in the batch, as it echoes
    /// no `resource`) names something else.
    #[error("the service's answer in this query's place is about something else ({detail})")]
    MismatchedAnswer {
        /// What the answer names instead.
        detail: String,
    },
    /// The runtime shut down before the answer arrived.
    #[error("cancelled: the runtime shut down before the answer arrived")]
    Cancelled,
    /// A file to upload that cannot be (not a regular file, unreadable, over 200 MiB):
    /// said before anything is sent.
    #[error("cannot upload {path}: {reason}")]
    Upload {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A download that could not be written where it was asked to go.
    #[error("cannot write {path}: {reason}")]
    Download {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The service turned the request down in a 200 answer (`response_code` -1 or an
    /// unknown code), e.g. a search query it cannot read.
    #[error("the service refused: {message} (response_code {code})")]
    Refused {
        /// The `response_code`.
        code: i64,
        /// Its `verbose_msg`, or a description when it sent none.
        message: String,
    },
    /// The cache could not be read or written (feature `cache`).
    #[error("cache: {0}")]
    Cache(String),
    /// Offline mode, and the cache has no fresh answer for this resource.
    #[error("not in the cache (offline)")]
    NotCached,
    /// The client was configured with something unusable (e.g. a base URL that is not a URL).
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
}

impl Error {
    /// A short, stable name for the kind of failure, for machine-readable output:
    /// `invalid_resource`, `rate_limited`, `quota_wait`, `forbidden`, `gateway_daily_limit`,
    /// `private_only`, `unreachable`,
    /// `bad_request`, `unexpected_status`, `transport`, `timeout`, `decode`, `missing_answer`,
    /// `duplicate_answer`, `mismatched_answer`, `invalid_config`, `cancelled`, `cache`,
    /// `not_cached`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidResource { .. } => "invalid_resource",
            Error::RateLimited { .. } => "rate_limited",
            Error::QuotaWait { .. } => "quota_wait",
            Error::Forbidden | Error::ForbiddenFeature { .. } => "forbidden",
            Error::GatewayDailyLimit => "gateway_daily_limit",
            Error::PrivateOnly { .. } => "private_only",
            Error::Unreachable { .. } => "unreachable",
            Error::DuplicateAnswer => "duplicate_answer",
            Error::MismatchedAnswer { .. } => "mismatched_answer",
            Error::BadRequest { .. } => "bad_request",
            Error::UnexpectedStatus { .. } => "unexpected_status",
            Error::Transport(_) => "transport",
            Error::Timeout(_) => "timeout",
            Error::Decode(_) => "decode",
            Error::MissingAnswer => "missing_answer",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Cancelled => "cancelled",
            Error::Cache(_) => "cache",
            Error::NotCached => "not_cached",
            Error::Refused { .. } => "refused",
            Error::Upload { .. } => "upload",
            Error::Download { .. } => "download",
        }
    }

    /// Whether this error stopped the whole run (or a whole feature): every query not yet
    /// answered gets it without being sent.
    pub fn stops_run(&self) -> bool {
        matches!(
            self,
            Error::Forbidden
                | Error::ForbiddenFeature { .. }
                | Error::Unreachable { .. }
                | Error::GatewayDailyLimit
        )
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited { .. }
            | Error::QuotaWait { .. }
            | Error::Timeout(_)
            | Error::MissingAnswer => true,
            Error::UnexpectedStatus { status, .. } => *status >= 500,
            Error::Transport(e) => e.inner().is_transient(),
            Error::Decode(d) => d.category == vt_model::DecodeCategory::Truncated,
            _ => false,
        }
    }
}

/// What [`Error::QuotaWait`] says.
fn quota_wait_message(wait: Duration, until: SystemTime, daily: bool) -> String {
    let what = if daily {
        "the daily quota is used up"
    } else {
        "no room in the quota"
    };
    format!(
        "{what} until {} (a wait of {}s, longer than allowed); nothing was sent",
        crate::format_utc(until),
        wait.as_secs_f64().ceil()
    )
}

impl From<vt_model::Error> for Error {
    fn from(e: vt_model::Error) -> Self {
        match e {
            vt_model::Error::InvalidResource { input, reason } => Error::InvalidResource {
                input,
                reason: reason.to_owned(),
            },
            vt_model::Error::Decode(d) => Error::Decode(d),
            other => Error::Decode(vt_model::DecodeError {
                path: ".".to_owned(),
                message: other.to_string(),
                line: 0,
                column: 0,
                excerpt: String::new(),
                category: vt_model::DecodeCategory::Shape,
            }),
        }
    }
}

/// A transport failure, shared so that every resource of a failed batch can hold it.
#[derive(Clone)]
pub struct TransportError(Arc<vt_transport::Error>, Option<Arc<str>>);

impl TransportError {
    pub(crate) fn new(inner: vt_transport::Error) -> TransportError {
        TransportError(Arc::new(inner), None)
    }

    /// The same error, naming the service it happened with (`https://host:port`).
    pub(crate) fn with_service(mut self, service: String) -> TransportError {
        self.1 = Some(service.into());
        self
    }

    /// The same error, not naming its service (for a message that names it already).
    pub(crate) fn without_service(&self) -> TransportError {
        TransportError(Arc::clone(&self.0), None)
    }

    /// The service the error happened with, when known.
    pub fn service(&self) -> Option<&str> {
        self.1.as_deref()
    }

    /// The transport's error, with its kind and predicates (`is_timeout()`, `is_connect()`...).
    pub fn inner(&self) -> &vt_transport::Error {
        &self.0
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(service) = &self.1 {
            write!(f, "{service}: ")?;
        }
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::error::Error for TransportError {
    // Display already shows the transport error itself; the chain goes on with its cause.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}
