//! Tiers and their limits, and the retry policy.

use std::time::Duration;

/// The kind of API key, which sets the defaults of [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Tier {
    /// A free key: 4 requests a minute, 500 a day, 4 resources a request, no `allinfo`.
    #[default]
    Public,
    /// A paid key: quota per contract, 25 resources a request, `allinfo` allowed.
    Private,
}

impl Tier {
    /// The default limits of this tier.
    pub fn limits(self) -> Limits {
        match self {
            Tier::Public => Limits {
                batch_size: 4,
                per_minute: Some(4),
                per_day: Some(500),
                concurrency: 1,
                quota_unit: QuotaUnit::Request,
            },
            Tier::Private => Limits {
                batch_size: 25,
                per_minute: None,
                per_day: None,
                concurrency: 4,
                quota_unit: QuotaUnit::Request,
            },
        }
    }
}

/// How the client spends the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Resources per request (comma-separated), at least 1.
    pub batch_size: usize,
    /// Requests in any rolling minute; `None` for no limit.
    pub per_minute: Option<u32>,
    /// Requests in any rolling 24 hours; `None` for no limit.
    pub per_day: Option<u32>,
    /// Requests in flight at once, at least 1.
    pub concurrency: usize,
    /// What `per_minute` and `per_day` count: requests, or the resources they carry.
    pub quota_unit: QuotaUnit,
}

/// What the service counts against the quota. Whether a batch of N resources costs one
/// request or N is not documented (docs/wire-assumptions.md): long-lived v2 clients pace by
/// request, and the client slows down by itself when 204s show that the service counts more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum QuotaUnit {
    /// One request, whatever it carries.
    #[default]
    Request,
    /// Each resource of a request (a batch of 4 costs 4).
    Resource,
}

impl Limits {
    /// Whether requests are paced at all: a per-minute or daily limit above 0 (a limit of 0
    /// counts as none). Without one, no quota count is kept and a quota ledger is not used.
    ///
    /// ```
    /// use vt_api::Tier;
    /// assert!(Tier::Public.limits().is_paced());
    /// assert!(!Tier::Private.limits().is_paced());
    /// assert!(!Tier::Public.limits().with_per_minute(Some(0)).with_per_day(None).is_paced());
    /// ```
    pub fn is_paced(&self) -> bool {
        self.per_minute.is_some_and(|n| n > 0) || self.per_day.is_some_and(|n| n > 0)
    }

    /// Sets the number of resources per request.
    pub fn with_batch_size(mut self, batch_size: usize) -> Limits {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets the per-minute request limit.
    pub fn with_per_minute(mut self, per_minute: Option<u32>) -> Limits {
        self.per_minute = per_minute;
        self
    }

    /// Sets the per-day request limit.
    pub fn with_per_day(mut self, per_day: Option<u32>) -> Limits {
        self.per_day = per_day;
        self
    }

    /// Sets what the per-minute and per-day limits count.
    pub fn with_quota_unit(mut self, unit: QuotaUnit) -> Limits {
        self.quota_unit = unit;
        self
    }

    /// Sets how many requests may be in flight at once.
    pub fn with_concurrency(mut self, concurrency: usize) -> Limits {
        self.concurrency = concurrency.max(1);
        self
    }
}

/// When and how often a failed request is tried again.
///
/// 5xx answers, timeouts, refused or reset connections and truncated bodies are retried with
/// exponential backoff and full jitter, up to `max_attempts` in all. A 204 (quota exceeded
/// despite pacing, e.g. another program on the same key) is waited out `rate_limit_wait` at a
/// time, up to `max_rate_limit_waits` times. 400 and 403 are never retried.
///
/// A request waits for the quota as long as it takes (the next minute, the next day, a 204's
/// hold), unless `max_quota_wait` says how long it may wait at most: a server in front of
/// many clients answers "no room now" at once rather than holding its client for a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per request for transient failures, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// How many 204 answers to wait out before reporting the resources as rate limited.
    pub max_rate_limit_waits: u32,
    /// How long to wait after a 204.
    pub rate_limit_wait: Duration,
    /// Deadline for one attempt, from sending to the whole body.
    pub request_timeout: Duration,
    /// The longest a request waits for the quota (for room in the per-minute or daily
    /// window, or for the end of a 204's hold); `None` (the default): as long as it takes.
    /// When the wait would be longer, the request fails at once with [`Error::QuotaWait`]
    /// (nothing sent, nothing counted), whatever the call: lookups, single calls, uploads,
    /// downloads and [`Client::relay`](crate::Client::relay).
    ///
    /// [`Error::QuotaWait`]: crate::Error::QuotaWait
    pub max_quota_wait: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // A long unattended run over a flaky network: eight attempts make losing a
            // request to a 10% fault rate a one-in-10^8 event, and the backoff (0.5 s
            // doubling to 30 s) spreads them over about a minute. A deadline of 30 s cuts a
            // stalled connection well before the transport's own 60 s.
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_rate_limit_waits: 3,
            rate_limit_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_quota_wait: None,
        }
    }
}

impl RetryPolicy {
    /// Sets the attempts per request (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> RetryPolicy {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Sets the first backoff and its cap.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> RetryPolicy {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets how many 204s are waited out, and how long each wait is.
    pub fn with_rate_limit_waits(mut self, waits: u32, wait: Duration) -> RetryPolicy {
        self.max_rate_limit_waits = waits;
        self.rate_limit_wait = wait;
        self
    }

    /// Sets the deadline of one attempt.
    pub fn with_request_timeout(mut self, timeout: Duration) -> RetryPolicy {
        self.request_timeout = timeout;
        self
    }

    /// Sets the longest a request waits for the quota (`None`: as long as it takes); see
    /// [`RetryPolicy::max_quota_wait`]. `Some(Duration::ZERO)`: a request goes now or fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = vt_api::RetryPolicy::default().with_max_quota_wait(Some(Duration::ZERO));
    /// assert_eq!(policy.max_quota_wait, Some(Duration::ZERO));
    /// assert_eq!(vt_api::RetryPolicy::default().max_quota_wait, None);
    /// ```
    pub fn with_max_quota_wait(mut self, max_wait: Option<Duration>) -> RetryPolicy {
        self.max_quota_wait = max_wait;
        self
    }

    /// The ceiling of the backoff before retry number `retry` (1 for the first retry); the
    /// actual wait is drawn uniformly below it (full jitter).
    pub(crate) fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How the request carries its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RequestMethod {
    /// POST with an `application/x-www-form-urlencoded` body: the key stays out of URLs and
    /// therefore out of proxy and server logs. The default.
    #[default]
    PostForm,
    /// GET with query parameters, as some proxies require.
    Get,
}
