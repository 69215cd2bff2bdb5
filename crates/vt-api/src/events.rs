//! Typed progress events: what the client is doing, for progress bars and messages.
//!
//! Set an observer with [`ClientBuilder::observer`](crate::ClientBuilder::observer); it is
//! called synchronously, from whichever task or thread the event happens on, so it should be
//! quick (set a field, send on a channel). The same events are also logged with `tracing` at
//! debug level.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Something the client did or is waiting for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A request is leaving: any wait before it is over.
    Sending {
        /// The endpoint's path, e.g. `file/report`.
        endpoint: &'static str,
        /// How many queries the request carries.
        queries: usize,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// The quota window is full: the next request waits.
    Pacing {
        /// How long.
        wait: Duration,
        /// Until when (wall clock).
        until: SystemTime,
        /// True when the daily window is what holds it, false for the per-minute one.
        daily: bool,
    },
    /// The service answered a request of this client 204 (quota exceeded) although the pace
    /// had room for it: someone else spends the key, or it allows less than the client was
    /// told. Said for each such answer. Unless the request has had its last wait
    /// ([`RetryPolicy::max_rate_limit_waits`](crate::RetryPolicy::max_rate_limit_waits)), the
    /// key is then held for
    /// [`RetryPolicy::rate_limit_wait`](crate::RetryPolicy::rate_limit_wait), and
    /// [`HeldBy204`](Event::HeldBy204) is said when a request waits for the hold.
    Answered204 {
        /// The endpoint's path.
        endpoint: &'static str,
    },
    /// The service answered 204 (quota exceeded; to this process or to another sharing the
    /// quota ledger): every request of the key is held. Said each time a request waits for it.
    HeldBy204 {
        /// How long.
        wait: Duration,
        /// Until when (wall clock).
        until: SystemTime,
    },
    /// A file moving (an upload or a download): said every megabyte or so, and at the end.
    Transfer {
        /// The endpoint's path.
        endpoint: &'static str,
        /// Bytes moved so far.
        done: u64,
        /// The whole size, when known.
        total: Option<u64>,
    },
    /// An attempt failed in a way worth trying again.
    Retrying {
        /// The endpoint's path.
        endpoint: &'static str,
        /// How many queries the request carries.
        queries: usize,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// How many attempts are allowed in all.
        max_attempts: u32,
        /// The wait before the next attempt.
        wait: Duration,
        /// Why the attempt failed, in words (never the key).
        reason: String,
    },
    /// Less than a tenth of the daily quota is left (said once a run).
    QuotaLow {
        /// Requests left today.
        left: u32,
        /// The daily limit.
        per_day: u32,
        /// When the oldest request of the day frees, if known.
        next_release_at: Option<SystemTime>,
    },
    /// The daily quota is used up (said once a run): requests wait until it frees.
    QuotaExhausted {
        /// The daily limit.
        per_day: u32,
        /// When the next request may go.
        next_at: SystemTime,
    },
    /// 204s keep coming although the count had room for them (the service counts more than
    /// this client: resources rather than requests, or another program spends the key): the
    /// per-minute limit is lowered to what the service let through (said once).
    QuotaSlowedDown {
        /// The limit before.
        per_minute: u32,
        /// The limit from now on.
        now_per_minute: u32,
        /// What the limits count.
        unit: crate::QuotaUnit,
    },
    /// The run was stopped: every query not yet answered gets this error without being sent
    /// (a 403 for the key, or a service that cannot be reached at all).
    Stopped {
        /// Why, in words.
        reason: String,
    },
}

/// Receives [`Event`]s.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// The observer of a client, if any, and the debug log of every event.
#[derive(Clone, Default)]
pub(crate) struct Events {
    observer: Option<Observer>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Events {
    pub(crate) fn new(observer: Option<Observer>) -> Events {
        Events { observer }
    }

    pub(crate) fn emit(&self, event: Event) {
        tracing::debug!(?event, "event");
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}
