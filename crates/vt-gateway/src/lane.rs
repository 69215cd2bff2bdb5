//! One lookup endpoint as the gateway serves it: the shared cache in front, and behind it
//! the coalescer that merges the misses of every client into upstream batches.
//!
//! A miss joins the lane's pending queries, or, when the same question (by its match key) is
//! pending or in flight already, waits for that one answer (single flight). The pending
//! queries leave together when a batch is full or when the window since the first of them
//! has passed, through vt-api's pipeline (pacing, retries, matching). Each answer is kept in
//! the store before the clients waiting for it are answered, so that a client asking just
//! after finds it there.
//!
//! In front of the store, the answers read or kept lately stay in memory ([`HotAnswers`],
//! bounded, in `hot.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::oneshot;
use vt_api::{CacheScope, Client, Endpoint, Params, Query, RawAnswer, Report, Status};

use crate::hot::{Hot, HotAnswers, HotHit};
use crate::metrics::Metrics;
use crate::store::{Store, StoredAnswer, ToKeep};
use crate::throttle::throttled;

/// Why the service gave no answer to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The key's quota has no room now (the pacer would wait longer than allowed, or the
    /// service answered 204): the client is answered 204.
    Quota,
    /// The service refused the gateway's key (403): a configuration problem of the gateway.
    KeyRefused,
    /// Anything else: the service cannot be reached, answered 5xx, or sent a body that is
    /// not an answer.
    Unavailable(String),
}

impl Failure {
    /// What a client is told when nothing is cached (never the key: vt-api's errors hold
    /// none).
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::Quota => "the upstream quota has no room now".to_owned(),
            Failure::KeyRefused => {
                "the upstream service refused the gateway's key (see the gateway's log)".to_owned()
            }
            Failure::Unavailable(why) => format!("the upstream service cannot answer: {why}"),
        }
    }

    pub(crate) fn of(error: &vt_api::Error) -> Failure {
        use vt_api::Error as E;
        match error {
            E::RateLimited { .. } => Failure::Quota,
            E::Forbidden | E::ForbiddenFeature { .. } | E::PrivateOnly { .. } => {
                Failure::KeyRefused
            }
            other if is_quota_wait(other) => Failure::Quota,
            other => Failure::Unavailable(other.to_string()),
        }
    }
}

/// Whether `error` says the pacer had no room within the allowed wait.
fn is_quota_wait(error: &vt_api::Error) -> bool {
    matches!(error, vt_api::Error::QuotaWait { .. })
}

/// The bytes of one answer as the client asked it, or why there is none.
pub(crate) type Fetched = Result<Bytes, Failure>;

/// The cache rules: how long a found answer and any other final answer stay fresh.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    pub(crate) found: Duration,
    pub(crate) other: Duration,
}

impl Freshness {
    fn is_fresh(&self, stored: &StoredAnswer, now: SystemTime) -> bool {
        let max = if Status::of(stored.response_code) == Status::Found {
            self.found
        } else {
            self.other
        };
        now.duration_since(stored.fetched_at).unwrap_or_default() <= max
    }
}

/// A query's stored answer, judged.
#[derive(Debug)]
pub(crate) enum Cached {
    /// Fresh: served as is.
    Fresh(Bytes),
    /// Too old, kept in case the service cannot answer (stale-if-error).
    Stale(Bytes),
    /// Nothing stored.
    Missing,
}

/// One lookup endpoint with one set of parameters (`allinfo` or not).
pub(crate) struct Lane<Q: Query, T: Report> {
    endpoint: Endpoint<Q, T>,
    params: Params,
    scope: CacheScope,
    client: Client,
    store: Store,
    /// Recent answers, shared by every lane; this lane's under its number.
    hot: Arc<HotAnswers>,
    hot_lane: usize,
    metrics: Arc<Metrics>,
    window: Duration,
    batch_size: usize,
    state: Mutex<State<Q>>,
}

impl<Q: Query, T: Report> std::fmt::Debug for Lane<Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("endpoint", &self.endpoint.spec().path)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The queries not sent yet, and who waits for each question (pending or in flight).
struct State<Q> {
    pending: Vec<Q>,
    waiting: HashMap<String, Vec<Waiter>>,
    timer: bool,
}

/// A client waiting for an answer, with the text it asked (the answer echoes it).
struct Waiter {
    asked: String,
    reply: oneshot::Sender<Fetched>,
}

/// The lane's settings.
pub(crate) struct LaneSetup {
    pub(crate) client: Client,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) upstream: String,
    pub(crate) window: Duration,
    pub(crate) batch_size: usize,
    pub(crate) hot: Arc<HotAnswers>,
}

impl<Q: Query, T: Report> Lane<Q, T> {
    pub(crate) fn new(setup: &LaneSetup, endpoint: Endpoint<Q, T>, allinfo: bool) -> Lane<Q, T> {
        let spec = endpoint.spec();
        let batch_size = match spec.batching {
            vt_api::Batching::Single => 1,
            _ => setup.batch_size.max(1),
        };
        let params = if allinfo { "allinfo=1" } else { "" };
        Lane {
            params: Params::allinfo(allinfo),
            scope: CacheScope::new(&setup.upstream, spec.path, params),
            hot_lane: setup.hot.lane(),
            endpoint,
            client: setup.client.clone(),
            store: setup.store.clone(),
            hot: Arc::clone(&setup.hot),
            metrics: Arc::clone(&setup.metrics),
            window: setup.window,
            batch_size,
            state: Mutex::new(State {
                pending: Vec::new(),
                waiting: HashMap::new(),
                timer: false,
            }),
        }
    }

    pub(crate) fn spec(&self) -> &vt_api::EndpointSpec {
        self.endpoint.spec()
    }

    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The stored answers of `queries`, judged by `freshness`, each echoing the query as
    /// asked: from memory when fresh there, else from the store.
    pub(crate) async fn cached(
        &self,
        queries: &[Q],
        freshness: Freshness,
    ) -> Result<Vec<Cached>, crate::Error> {
        let now = SystemTime::now();
        let asked = queries.iter().map(|q| (q.match_key(), q.wire_text()));
        let in_memory = self.hot.get_many(self.hot_lane, asked, Instant::now());
        let mut cached: Vec<Option<Cached>> = queries
            .iter()
            .zip(in_memory)
            .map(|(query, hot)| {
                let HotHit { stored, echoes } =
                    hot.filter(|hit| freshness.is_fresh(&hit.stored, now))?;
                // Most hits ask as the answer was asked: its bytes serve as they are.
                let bytes = if echoes {
                    stored.raw
                } else {
                    echoed::<T>(stored.raw, query.wire_text())?
                };
                Some(Cached::Fresh(bytes))
            })
            .collect();
        let unknown: Vec<usize> = (0..queries.len())
            .filter(|&i| cached[i].is_none())
            .collect();
        if !unknown.is_empty() {
            let keys = unknown
                .iter()
                .map(|&i| queries[i].match_key().to_owned())
                .collect();
            let stored = self.store.answers(&self.scope, keys).await?;
            for (&i, stored) in unknown.iter().zip(stored) {
                cached[i] = Some(self.judge(&queries[i], stored, freshness, now));
            }
        }
        Ok(cached
            .into_iter()
            .map(|c| c.unwrap_or(Cached::Missing))
            .collect())
    }

    /// A stored answer judged for `query`; a fresh one is kept in memory too.
    fn judge(
        &self,
        query: &Q,
        stored: Option<StoredAnswer>,
        freshness: Freshness,
        now: SystemTime,
    ) -> Cached {
        let Some(stored) = stored else {
            return Cached::Missing;
        };
        let Ok(answer) = RawAnswer::<T>::parse(stored.raw.clone()) else {
            return Cached::Missing;
        };
        let bytes = echo_as(&answer, query.wire_text());
        if !freshness.is_fresh(&stored, now) {
            return Cached::Stale(bytes);
        }
        let hot = Hot {
            echo: answer.resource().map(Into::into),
            stored,
            checked: Instant::now(),
        };
        self.hot.put(self.hot_lane, query.match_key(), hot);
        Cached::Fresh(bytes)
    }

    /// Asks the service for each of `queries` (one client's misses), together with whatever
    /// other clients ask meanwhile: the queries new to the lane leave at once in whole
    /// batches of their own, and the rest joins the pending ones (which leave when they make
    /// a batch, or when the window has passed). A bulk client's request of 25 misses is then
    /// one upstream request sent at once, not mixed with other clients' and left, in part, to
    /// wait for the window; a quota request is not spent any sooner for it.
    pub(crate) fn ask_many(
        self: &Arc<Self>,
        queries: impl IntoIterator<Item = Q>,
    ) -> Vec<oneshot::Receiver<Fetched>> {
        let mut answers = Vec::new();
        let mut fresh = Vec::new();
        let mut full: Vec<Vec<Q>> = Vec::new();
        let mut start_timer = false;
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            for query in queries {
                let (reply, answer) = oneshot::channel();
                answers.push(answer);
                let waiter = Waiter {
                    asked: query.wire_text().to_owned(),
                    reply,
                };
                if let Some(waiters) = state.waiting.get_mut(query.match_key()) {
                    waiters.push(waiter);
                    self.metrics.single_flight();
                    continue;
                }
                state
                    .waiting
                    .insert(query.match_key().to_owned(), vec![waiter]);
                fresh.push(query);
            }
            let whole = fresh.len() - fresh.len() % self.batch_size;
            let rest = fresh.split_off(whole);
            while !fresh.is_empty() {
                let rest_of_them = fresh.split_off(self.batch_size);
                full.push(std::mem::replace(&mut fresh, rest_of_them));
            }
            state.pending.extend(rest);
            if state.pending.len() >= self.batch_size {
                full.push(state.pending.drain(..self.batch_size).collect());
            }
            if !state.pending.is_empty() && !state.timer {
                state.timer = true;
                start_timer = true;
            }
        }
        for batch in full {
            self.send(batch);
        }
        if start_timer {
            let lane = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(lane.window).await;
                lane.flush();
            });
        }
        answers
    }

    /// The window has passed: everything pending leaves, in full batches and one last.
    fn flush(self: &Arc<Self>) {
        let pending = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.timer = false;
            std::mem::take(&mut state.pending)
        };
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            self.send(pending.by_ref().take(self.batch_size).collect());
        }
    }

    /// Sends one batch upstream (in its own task) and answers everyone waiting for it.
    fn send(self: &Arc<Self>, batch: Vec<Q>) {
        let lane = Arc::clone(self);
        tokio::spawn(async move {
            lane.metrics.upstream_batch(batch.len());
            let asked: Vec<String> = batch.iter().map(|q| q.match_key().to_owned()).collect();
            let mut outcomes = lane.client.lookups(
                &lane.endpoint,
                futures_util::stream::iter(batch),
                lane.params.clone(),
            );
            let mut answers: Vec<(String, Result<RawAnswer<T>, Failure>)> = Vec::new();
            while let Some(outcome) = outcomes.next().await {
                let key = outcome.query.match_key().to_owned();
                let result = outcome.result.map_err(|error| {
                    let failure = Failure::of(&error);
                    if failure != Failure::Quota {
                        throttled!(warn, endpoint = lane.endpoint.spec().path, %error, "upstream failed");
                    }
                    failure
                });
                answers.push((key, result));
            }
            lane.metrics.upstream_answers(&answers);
            lane.keep(&answers).await;
            let mut state = lane.state.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, result) in answers {
                for waiter in state.waiting.remove(&key).unwrap_or_default() {
                    let fetched = match &result {
                        Ok(raw) => Ok(echo_as(raw, &waiter.asked)),
                        Err(failure) => Err(failure.clone()),
                    };
                    let _ = waiter.reply.send(fetched);
                }
            }
            // A query the pipeline gave no outcome for (it cannot happen: one outcome each)
            // must still be answered, never left waiting.
            for key in asked {
                for waiter in state.waiting.remove(&key).unwrap_or_default() {
                    let _ = waiter
                        .reply
                        .send(Err(Failure::Unavailable("no answer for this query".into())));
                }
            }
        });
    }

    /// Keeps the final answers (found, not found) in the store, a found file report also
    /// under the file's other hashes.
    async fn keep(&self, answers: &[(String, Result<RawAnswer<T>, Failure>)]) {
        let spec = self.endpoint.spec();
        if !spec.cacheable {
            return;
        }
        let fetched_at = SystemTime::now();
        let mut rows = Vec::new();
        let mut hot = Vec::new();
        for (key, result) in answers {
            let Ok(raw) = result else { continue };
            if !matches!(raw.status(), Status::Found | Status::NotFound) {
                continue;
            }
            rows.push(ToKeep {
                key: key.clone(),
                response_code: raw.response_code(),
                raw: raw.bytes().clone(),
                alias_of: None,
            });
            if self.hot.is_on() {
                // A copy: an answer's bytes may be a slice of the whole batch's body, which
                // memory would otherwise hold whole.
                let stored = StoredAnswer {
                    raw: Bytes::copy_from_slice(raw.bytes()),
                    response_code: raw.response_code(),
                    fetched_at,
                };
                let echo = raw.resource().map(Into::into);
                hot.push((key, stored, echo));
            }
            if spec.answers_other_hashes && raw.status() == Status::Found {
                let ids = raw.ids();
                for other in [&ids.md5, &ids.sha1, &ids.sha256].into_iter().flatten() {
                    let other = other.to_ascii_lowercase();
                    if other != *key {
                        rows.push(ToKeep {
                            key: other,
                            response_code: raw.response_code(),
                            raw: raw.bytes().clone(),
                            alias_of: Some(key.clone()),
                        });
                    }
                }
            }
        }
        match self.store.keep(&self.scope, rows, fetched_at).await {
            // Memory serves only what the store holds.
            Ok(()) => {
                let checked = Instant::now();
                for (key, stored, echo) in hot {
                    let answer = Hot {
                        stored,
                        echo,
                        checked,
                    };
                    self.hot.put(self.hot_lane, key, answer);
                }
            }
            Err(error) => throttled!(warn, %error, "answers not kept in the store"),
        }
    }
}

/// `raw` echoing `asked` as its `resource` (when it has one and echoes something else): the
/// service echoes each question as it was asked. `None` when `raw` is not one answer.
fn echoed<T: Report>(raw: Bytes, asked: &str) -> Option<Bytes> {
    RawAnswer::<T>::parse(raw)
        .ok()
        .map(|answer| echo_as(&answer, asked))
}

/// The bytes of `answer` echoing `asked`.
fn echo_as<T: Report>(answer: &RawAnswer<T>, asked: &str) -> Bytes {
    match answer.resource() {
        Some(echo) if echo != asked => answer
            .with_resource(asked)
            .map_or_else(|| answer.bytes().clone(), |a| a.bytes().clone()),
        _ => answer.bytes().clone(),
    }
}
