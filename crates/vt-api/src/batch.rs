//! Many queries to one endpoint: de-duplicated, looked up in the cache in bulk (off the
//! runtime), the rest sent in chunks of the tier's size with several requests in flight,
//! queued answers asked again together, one outcome per input in input order, with bounded
//! memory whatever the number of inputs. The same stream serves every lookup endpoint.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use vt_model::{FileReport, Query, RawAnswer, Report, Resource, Status};

use crate::client::{CacheScopeOf, Client, Inner, Probed};
use crate::clock::Instant;
use crate::endpoint::{Batching, Endpoint, Params, FILE_REPORT};
use crate::Error;

/// How many queries one cache probe reads at once.
const PROBE_CHUNK: usize = 256;
/// The most answer bytes [`Lookups::keep_repeats`] holds for later copies; beyond, a copy
/// is asked again.
const KEPT_BYTES: usize = 16 << 20;

/// Counts the queries of a run before it starts, so that [`Lookups::keep_repeats`] keeps the
/// answers a later copy will need, and only those: 8 bytes a query while counting.
///
/// ```
/// # use vt_api::{RepeatCounter, Resource};
/// let mut counter = RepeatCounter::default();
/// for text in ["44d88612fea8a8f36de82e1278abb02f", "44D88612FEA8A8F36DE82E1278ABB02F"] {
///     counter.add(&Resource::parse(text).unwrap());
/// }
/// assert_eq!(counter.finish().len(), 1, "one query comes twice");
/// ```
#[derive(Debug, Default)]
pub struct RepeatCounter {
    hashes: Vec<u64>,
}

impl RepeatCounter {
    /// Counts one query, by its match key.
    pub fn add<Q: Query>(&mut self, query: &Q) {
        self.hashes.push(key_hash(query.match_key()));
    }

    /// The queries that come more than once, with how many times.
    pub fn finish(mut self) -> Repeats {
        self.hashes.sort_unstable();
        let mut copies = HashMap::new();
        for run in self.hashes.chunk_by(|a, b| a == b) {
            if let [hash, _, ..] = run {
                copies.insert(*hash, u32::try_from(run.len()).unwrap_or(u32::MAX));
            }
        }
        Repeats { copies }
    }
}

/// The queries of a run that come more than once (from [`RepeatCounter`]), by a hash of their
/// match key, with how many copies are still to be read. A hash shared by two keys only
/// keeps an answer longer than needed: answers are kept and given by the whole key.
#[derive(Debug, Default)]
pub struct Repeats {
    copies: HashMap<u64, u32>,
}

impl Repeats {
    /// How many distinct queries come more than once.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    /// Whether no query comes more than once.
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }

    /// Counts one copy of `key` as read: whether copies of it are still to come.
    fn read_one(&mut self, key: &str) -> bool {
        let hash = key_hash(key);
        match self.copies.get_mut(&hash) {
            Some(left) if *left > 1 => {
                *left -= 1;
                true
            }
            Some(_) => {
                self.copies.remove(&hash);
                false
            }
            None => false,
        }
    }

    /// Whether copies of `key` are still to be read.
    fn more_to_come(&self, key: &str) -> bool {
        self.copies.contains_key(&key_hash(key))
    }
}

/// A fixed hash of a match key: FNV-1a, 64 bits, a few times cheaper than SipHash on the
/// millions of keys of a long run. A collision only keeps an answer longer than needed
/// (answers are kept and given by the whole key), and the keys are the user's own inputs.
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What happened to one input query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome<Q, T> {
    /// The query as given.
    pub query: Q,
    /// The service's answer (found, not found, queued, invalid, unknown), kept as the bytes
    /// it sent and decoded on demand, or why there is none.
    pub result: Result<RawAnswer<T>, Error>,
    /// When the answer came from the cache: when it was fetched from the service.
    pub cached_at: Option<SystemTime>,
}

impl<Q, T> Outcome<Q, T> {
    /// The bytes of the answer exactly as the service sent them (from the cache: as it sent
    /// them then), when there is an answer.
    pub fn bytes(&self) -> Option<&bytes::Bytes> {
        self.result.as_ref().ok().map(RawAnswer::bytes)
    }
}

/// What happened to one input resource of [`Client::file_reports`].
pub type FileReportOutcome = Outcome<Resource, FileReport>;

/// An answer and, when it came from the cache, when it was fetched.
type Answered<T> = Result<(RawAnswer<T>, Option<SystemTime>), Error>;

/// What a task of the stream came to.
enum Done<Q, T> {
    /// A cache probe: each query's fresh answer, or `None` to ask the service.
    Probed(Vec<Probed<Q, T>>),
    /// A request: each query's result, or the request's error for all of them.
    Asked(Arc<[Q]>, Result<Vec<Result<RawAnswer<T>, Error>>, Error>),
    /// The time to ask queued queries again has come.
    Tick,
}

type Task<Q, T> = Pin<Box<dyn Future<Output = Done<Q, T>> + Send>>;

/// The stream of [`Outcome`]s of [`Client::lookups`] (and [`Client::file_reports`]), one per
/// input, in input order.
///
/// Inputs are read lazily: at most a few batches' worth are held at once, so a run over
/// millions of queries uses the same memory as a run over a hundred. A query repeated within
/// that window is asked once and its answer given to every copy.
#[must_use = "a stream does nothing unless polled"]
pub struct Lookups<S, Q, T> {
    inner: Arc<Inner>,
    endpoint: Endpoint<Q, T>,
    params: Arc<Params>,
    scope: Option<Arc<CacheScopeOf>>,
    input: Option<S>,
    /// Inputs read and not yet yielded, in input order. Entry number `n` (counted from the
    /// first input) is at `queue[n - yielded]`.
    queue: VecDeque<Entry<Q, T>>,
    /// How many outcomes have been yielded: the number of the queue's front entry.
    yielded: u64,
    /// Distinct queries read, to look up in the cache.
    probing: Vec<Q>,
    /// Distinct queries to send.
    forming: Vec<Q>,
    /// Each key read whose answer is not yielded yet: the entries waiting for it (probing,
    /// forming, in flight or waiting to be asked again), or once answered the number of the
    /// entry that holds the answer (a repeat shares it). One table, so that an input's key is
    /// hashed three times in all (read, answered, yielded), not seven.
    keys: HashMap<Box<str>, KeyState>,
    /// The queries that come again later in the input (see [`Lookups::keep_repeats`]).
    repeats: Repeats,
    /// Answers yielded whose key comes again beyond the window, for those copies.
    kept: HashMap<Box<str>, Answered<T>>,
    kept_bytes: usize,
    tasks: FuturesUnordered<Task<Q, T>>,
    /// Requests in flight.
    asking: usize,
    /// Cache probes in flight.
    probes: usize,
    wait_queued: Option<WaitQueued>,
    /// Build the typed view of every answer in the chunk tasks (on every worker), for a caller
    /// that reads them all.
    decode_all: bool,
    /// Queued queries to ask again, with when (in time order: all wait one interval).
    requeued: VecDeque<(Instant, Q)>,
    /// When each query waiting to be asked again was first answered "queued".
    queued_since: HashMap<Box<str>, Instant>,
    ticking: bool,
}

#[derive(Debug, Clone, Copy)]
struct WaitQueued {
    interval: Duration,
    timeout: Duration,
}

/// What is known of a key: see [`Lookups::keys`].
enum KeyState {
    Waiting(Waiters),
    Answered(u64),
}

/// The entries waiting for one key: nearly always one (no allocation), more for repeats.
enum Waiters {
    One(u64),
    Many(Vec<u64>),
}

impl Waiters {
    fn add(&mut self, number: u64) {
        match self {
            Waiters::One(first) => *self = Waiters::Many(vec![*first, number]),
            Waiters::Many(numbers) => numbers.push(number),
        }
    }
}

struct Entry<Q, T> {
    query: Q,
    result: Option<Answered<T>>,
}

impl<S, Q, T> std::fmt::Debug for Lookups<S, Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups")
            .field("endpoint", &self.endpoint.spec().path)
            .field("queued", &self.queue.len())
            .field("forming", &self.forming.len())
            .field("asking", &self.asking)
            .finish_non_exhaustive()
    }
}

/// The stream of [`Client::file_reports`].
pub type FileReports<S> = Lookups<S, Resource, FileReport>;

impl Client {
    /// Looks up any number of queries to a lookup endpoint, given as a stream; see
    /// [`Lookups`].
    pub fn lookups<Q, T, S>(
        &self,
        endpoint: &Endpoint<Q, T>,
        queries: S,
        params: Params,
    ) -> Lookups<S, Q, T>
    where
        Q: Query,
        T: Report,
        S: Stream<Item = Q> + Unpin,
    {
        let scope = self.inner.scope(endpoint.spec(), &params).map(Arc::new);
        Lookups {
            inner: Arc::clone(&self.inner),
            endpoint: *endpoint,
            params: Arc::new(params),
            scope,
            input: Some(queries),
            queue: VecDeque::new(),
            yielded: 0,
            probing: Vec::new(),
            forming: Vec::new(),
            keys: HashMap::new(),
            repeats: Repeats::default(),
            kept: HashMap::new(),
            kept_bytes: 0,
            tasks: FuturesUnordered::new(),
            asking: 0,
            probes: 0,
            wait_queued: None,
            decode_all: false,
            requeued: VecDeque::new(),
            queued_since: HashMap::new(),
            ticking: false,
        }
    }

    /// Looks up any number of resources, given as an iterator; see [`Lookups`].
    ///
    /// ```no_run
    /// # async fn example(client: vt_api::Client, hashes: Vec<vt_api::Resource>) {
    /// let mut outcomes = client.file_reports(hashes, false);
    /// while let Some(outcome) = outcomes.next().await {
    ///     match outcome.result {
    ///         Ok(answer) => println!("{} {}", outcome.query, answer.status()),
    ///         Err(error) => eprintln!("{}: {error}", outcome.query),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn file_reports<I>(
        &self,
        resources: I,
        allinfo: bool,
    ) -> FileReports<futures_util::stream::Iter<I::IntoIter>>
    where
        I: IntoIterator<Item = Resource>,
    {
        self.file_reports_stream(futures_util::stream::iter(resources), allinfo)
    }

    /// Looks up any number of resources, given as a stream; see [`Lookups`].
    pub fn file_reports_stream<S>(&self, resources: S, allinfo: bool) -> FileReports<S>
    where
        S: Stream<Item = Resource> + Unpin,
    {
        self.lookups(&FILE_REPORT, resources, Params::allinfo(allinfo))
    }
}

impl<S, Q, T> Lookups<S, Q, T>
where
    Q: Query,
    T: Report,
    S: Stream<Item = Q> + Unpin,
{
    /// Builds the typed view of every answer as it arrives, in the tasks that read the
    /// answers (on every worker thread of a tokio runtime), rather than when the caller first
    /// asks for it: for callers that read every report (a table, CSV). Callers that pass the
    /// bytes on need not.
    pub fn decode_all(mut self) -> Self {
        self.decode_all = true;
        self
    }

    /// Asks queued queries again, every `interval`, in batches with the other queries, until
    /// they are no longer queued or `timeout` has passed since their first queued answer
    /// (then their outcome is the last queued answer).
    pub fn wait_queued(mut self, interval: Duration, timeout: Duration) -> Self {
        self.wait_queued = Some(WaitQueued { interval, timeout });
        self
    }

    /// Keeps the answers of the queries that `repeats` says come again, until their last
    /// copy is read, so that a copy beyond the window is answered without asking again
    /// (without a cache, the only other way). Up to 16 MiB of answers are kept; beyond, a
    /// copy is asked again. Errors are not kept: a later copy is asked again.
    pub fn keep_repeats(mut self, repeats: Repeats) -> Self {
        self.repeats = repeats;
        self
    }

    /// The next outcome, or `None` when every input has had one.
    pub async fn next(&mut self) -> Option<Outcome<Q, T>> {
        StreamExt::next(self).await
    }

    fn batch_size(&self) -> usize {
        match self.endpoint.spec().batching {
            Batching::Single => 1,
            _ => self.inner.limits.batch_size,
        }
    }

    fn concurrency(&self) -> usize {
        self.inner.limits.concurrency
    }

    /// How many inputs may wait in the queue: enough to keep every request slot busy.
    fn window(&self) -> usize {
        (self.batch_size() * (self.concurrency() + 1) * 2).max(PROBE_CHUNK)
    }

    /// Reads inputs while there is room, probes the cache, and sends chunks while there are
    /// free slots.
    fn fill(&mut self, cx: &mut Context<'_>) {
        self.release_requeued();
        loop {
            let slots_free = self.asking < self.concurrency();
            if self.forming.len() >= self.batch_size() {
                if !slots_free {
                    break;
                }
                self.send_forming();
                continue;
            }
            if self.probing.len() >= PROBE_CHUNK {
                self.send_probe();
                continue;
            }
            let window_full = self.queue.len() >= self.window();
            let Some(input) = self.input.as_mut().filter(|_| !window_full) else {
                // Input exhausted, or enough read ahead: probe what was read, and send what
                // has formed. With input left, a part-filled chunk goes only when nothing is
                // in flight; otherwise the answers in flight free the window first, so that a
                // request held by a 204 or a backoff does not turn the read-ahead into small
                // requests (each costs a whole request of the quota).
                self.flush(self.input.is_none());
                break;
            };
            match Pin::new(input).poll_next(cx) {
                Poll::Ready(Some(query)) => self.accept(query),
                Poll::Ready(None) => self.input = None,
                Poll::Pending => {
                    // Nothing more to read now: do not hold work back if nothing is in flight.
                    self.flush(false);
                    break;
                }
            }
        }
        self.schedule_tick();
    }

    /// Sends a part-filled probe or chunk: probes at once when nothing is probing; a chunk
    /// when no probe may still add to it, and the input is exhausted or nothing is asking.
    fn flush(&mut self, exhausted: bool) {
        if !self.probing.is_empty() && (exhausted || self.probes == 0) {
            self.send_probe();
        }
        let slots_free = self.asking < self.concurrency();
        if slots_free
            && !self.forming.is_empty()
            && self.probing.is_empty()
            && self.probes == 0
            && (exhausted || self.asking == 0)
        {
            self.send_forming();
        }
    }

    fn accept(&mut self, query: Q) {
        let number = self.yielded + self.queue.len() as u64;
        let key = query.match_key();
        if !self.repeats.is_empty() {
            let kept = match self.repeats.read_one(key) {
                true => self.kept.get(key).cloned(),
                // The last copy: what was kept for it is given now, and kept no longer.
                false => self.kept.remove(key).inspect(|result| {
                    self.kept_bytes -= kept_size(result);
                }),
            };
            if let Some(result) = kept {
                self.queue.push_back(Entry {
                    query,
                    result: Some(result),
                });
                return;
            }
        }
        match self.keys.entry_ref(key) {
            EntryRef::Occupied(mut known) => match known.get_mut() {
                KeyState::Waiting(numbers) => {
                    numbers.add(number);
                    self.queue.push_back(Entry {
                        query,
                        result: None,
                    });
                    return;
                }
                KeyState::Answered(done) => {
                    // Asked earlier in the window and already answered: share that answer.
                    let shared = entry_at(&mut self.queue, self.yielded, *done)
                        .and_then(|entry| entry.result.clone());
                    if let Some(result) = shared {
                        self.queue.push_back(Entry {
                            query,
                            result: Some(result),
                        });
                        return;
                    }
                    known.insert(KeyState::Waiting(Waiters::One(number)));
                }
            },
            EntryRef::Vacant(new) => {
                new.insert_with_key(key.into(), KeyState::Waiting(Waiters::One(number)));
            }
        }
        if self.scope.is_some() {
            self.probing.push(query.clone());
        } else {
            self.forming.push(query.clone());
        }
        self.queue.push_back(Entry {
            query,
            result: None,
        });
    }

    /// Takes the front entry when it has its outcome.
    fn pop_answered(&mut self) -> Option<Outcome<Q, T>> {
        self.queue.front()?.result.as_ref()?;
        let Entry { query, result } = self.queue.pop_front()?;
        let number = self.yielded;
        self.yielded += 1;
        if let EntryRef::Occupied(known) = self.keys.entry_ref(query.match_key()) {
            if matches!(known.get(), KeyState::Answered(done) if *done == number) {
                known.remove();
            }
        }
        if let Some(answered @ Ok(_)) = &result {
            self.keep_if_needed(query.match_key(), answered);
        }
        let (result, cached_at) = match result? {
            Ok((answer, cached_at)) => (Ok(answer), cached_at),
            Err(error) => (Err(error), None),
        };
        Some(Outcome {
            query,
            result,
            cached_at,
        })
    }

    /// Keeps `answered` for later copies of `key`, if any are still to be read and it fits.
    fn keep_if_needed(&mut self, key: &str, answered: &Answered<T>) {
        if self.repeats.is_empty() || !self.repeats.more_to_come(key) || self.kept.contains_key(key)
        {
            return;
        }
        let size = kept_size(answered);
        if self.kept_bytes + size > KEPT_BYTES {
            return;
        }
        self.kept_bytes += size;
        self.kept.insert(key.into(), answered.clone());
    }

    fn send_probe(&mut self) {
        let take = self.probing.len().min(PROBE_CHUNK);
        let chunk: Vec<Q> = self.probing.drain(..take).collect();
        let inner = Arc::clone(&self.inner);
        let scope = self.scope.clone();
        self.probes += 1;
        self.tasks.push(Box::pin(async move {
            Done::Probed(inner.probe(scope.as_deref(), chunk).await)
        }));
    }

    fn send_forming(&mut self) {
        let take = self.forming.len().min(self.batch_size());
        // Shared, not copied, by the task and the stream (which needs it back if the task is
        // cancelled).
        let chunk: Arc<[Q]> = self.forming.drain(..take).collect();
        let inner = Arc::clone(&self.inner);
        let (endpoint, params, scope) = (self.endpoint, self.params.clone(), self.scope.clone());
        let decode_all = self.decode_all;
        let for_stream = Arc::clone(&chunk);
        let ask = async move {
            let results = inner.ask_batch(&endpoint, &params, &chunk).await;
            if decode_all {
                // Decoded here, on this task's worker, once (the answer keeps the view).
                for answer in results.iter().flatten().flatten() {
                    let _ = answer.answer();
                }
            }
            // Stored before they are handed on: a run killed after an outcome was yielded
            // finds it in the cache.
            if let (Some(scope), Ok(results)) = (&scope, &results) {
                let received = chunk
                    .iter()
                    .zip(results)
                    .filter_map(|(q, r)| Some((q.match_key().to_owned(), r.as_ref().ok()?.clone())))
                    .collect();
                inner.remember(endpoint.spec(), Some(scope), received).await;
            }
            Done::Asked(chunk, results)
        };
        self.asking += 1;
        // On a tokio runtime each chunk is its own task, so that reading the answers runs on
        // every worker thread instead of the one that drives this stream.
        let task: Task<Q, T> = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Box::pin(Spawned {
                chunk: for_stream,
                task: runtime.spawn(ask),
            }),
            Err(_) => Box::pin(ask),
        };
        self.tasks.push(task);
    }

    /// Moves queued queries whose time has come back to the chunks being formed.
    fn release_requeued(&mut self) {
        if self.requeued.is_empty() {
            return;
        }
        let now = self.inner.clock.now();
        while self.requeued.front().is_some_and(|&(at, _)| at <= now) {
            if let Some((_, query)) = self.requeued.pop_front() {
                self.forming.push(query);
            }
        }
    }

    /// Wakes the stream when the first queued query is due.
    fn schedule_tick(&mut self) {
        let Some(&(at, _)) = self.requeued.front() else {
            return;
        };
        if self.ticking {
            return;
        }
        self.ticking = true;
        let wait = at.saturating_duration_since(self.inner.clock.now());
        let sleep = self.inner.clock.sleep(wait);
        self.tasks.push(Box::pin(async move {
            sleep.await;
            Done::Tick
        }));
    }

    fn settle(&mut self, done: Done<Q, T>) {
        match done {
            Done::Tick => self.ticking = false,
            Done::Probed(probed) => {
                self.probes -= 1;
                for (query, hit) in probed {
                    match hit {
                        Some(Ok((answer, fetched_at))) => {
                            self.settle_key(&query, Ok((answer, Some(fetched_at))))
                        }
                        Some(Err(error)) => self.settle_key(&query, Err(error)),
                        None => self.forming.push(query),
                    }
                }
            }
            Done::Asked(chunk, results) => {
                self.asking -= 1;
                let per_query: Vec<Result<RawAnswer<T>, Error>> = match results {
                    Ok(results) => results,
                    Err(error) => vec![Err(error); chunk.len()],
                };
                for (query, result) in chunk.iter().zip(per_query) {
                    if let Ok(answer) = &result {
                        if self.ask_again(query, answer) {
                            continue;
                        }
                    }
                    if self.wait_queued.is_some() {
                        self.queued_since.remove(query.match_key());
                    }
                    self.settle_key(query, result.map(|answer| (answer, None)));
                }
            }
        }
    }

    /// Whether a queued answer is to be asked again later (and is scheduled for it).
    fn ask_again(&mut self, query: &Q, answer: &RawAnswer<T>) -> bool {
        let Some(wait) = self.wait_queued else {
            return false;
        };
        if answer.status() != Status::Queued {
            return false;
        }
        let now = self.inner.clock.now();
        let since = *self
            .queued_since
            .entry(query.match_key().into())
            .or_insert(now);
        if now + wait.interval > since + wait.timeout {
            return false;
        }
        self.requeued
            .push_back((now + wait.interval, query.clone()));
        true
    }

    /// Gives `result` to every entry waiting for `query`'s key.
    fn settle_key(&mut self, query: &Q, result: Answered<T>) {
        let key = query.match_key();
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        let numbers = match state {
            KeyState::Waiting(numbers) => std::mem::replace(numbers, Waiters::Many(Vec::new())),
            KeyState::Answered(_) => return,
        };
        // Every copy but the last gets a clone; the last gets the answer itself.
        let (last, others) = match numbers {
            Waiters::One(only) => (only, Vec::new()),
            Waiters::Many(mut numbers) => match numbers.pop() {
                Some(last) => (last, numbers),
                None => {
                    self.keys.remove(key);
                    return;
                }
            },
        };
        for number in others {
            if let Some(entry) = entry_at(&mut self.queue, self.yielded, number) {
                entry.result = Some(result.clone());
            }
        }
        match entry_at(&mut self.queue, self.yielded, last) {
            Some(entry) => {
                entry.result = Some(result);
                *state = KeyState::Answered(last);
            }
            None => {
                self.keys.remove(key);
            }
        }
    }
}

/// Entry `number` of `queue`, whose front entry is number `yielded`.
fn entry_at<Q, T>(
    queue: &mut VecDeque<Entry<Q, T>>,
    yielded: u64,
    number: u64,
) -> Option<&mut Entry<Q, T>> {
    queue.get_mut(usize::try_from(number.checked_sub(yielded)?).ok()?)
}

/// The bytes an answer kept for later copies holds (its own, and a little for the entry).
fn kept_size<T>(answered: &Answered<T>) -> usize {
    answered
        .as_ref()
        .map_or(0, |(answer, _)| answer.bytes().len())
        + 64
}

/// A spawned chunk, aborted if the stream is dropped before it ends (a caller that stops
/// listening must not keep spending quota).
struct Spawned<Q, T> {
    task: tokio::task::JoinHandle<Done<Q, T>>,
    chunk: Arc<[Q]>,
}

impl<Q, T> Future for Spawned<Q, T> {
    type Output = Done<Q, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done<Q, T>> {
        let joined = std::task::ready!(Pin::new(&mut self.task).poll(cx));
        Poll::Ready(match joined {
            Ok(done) => done,
            // A panic in the task is a bug: let it reach the caller, as it would inline.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down: these queries get no answer.
            Err(_) => Done::Asked(Arc::clone(&self.chunk), Err(Error::Cancelled)),
        })
    }
}

// Nothing of these is ever pinned in place: they are polled through `&mut`.
impl<Q, T> Unpin for Spawned<Q, T> {}
impl<S: Unpin, Q, T> Unpin for Lookups<S, Q, T> {}

impl<Q, T> Drop for Spawned<Q, T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S, Q, T> Stream for Lookups<S, Q, T>
where
    Q: Query,
    T: Report,
    S: Stream<Item = Q> + Unpin,
{
    type Item = Outcome<Q, T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outcome<Q, T>>> {
        let this = &mut *self;
        loop {
            if let Some(outcome) = this.pop_answered() {
                return Poll::Ready(Some(outcome));
            }
            this.fill(cx);
            if this.queue.front().is_some_and(|e| e.result.is_some()) {
                // A duplicate of an answered query.
                continue;
            }
            if this.tasks.is_empty() {
                if this.input.is_none() && this.queue.is_empty() {
                    return Poll::Ready(None);
                }
                // Waiting for input (the stream registered the waker).
                return Poll::Pending;
            }
            match this.tasks.poll_next_unpin(cx) {
                Poll::Ready(Some(done)) => this.settle(done),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
