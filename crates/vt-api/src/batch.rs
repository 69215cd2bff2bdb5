//! Many resources: de-duplicated, chunked, several requests in flight, one outcome per input
//! in input order, with bounded memory whatever the number of inputs.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use vt_model::{FileReportAnswer, Resource};

use crate::client::{Answered, Client, Inner};
use crate::Error;

/// What happened to one input resource.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome {
    /// The resource as given.
    pub resource: Resource,
    /// The service's answer (found, not found, queued, unknown), or why there is none.
    pub result: Result<FileReportAnswer, Error>,
    /// The bytes of the answer exactly as the service sent them (from the cache: as it sent
    /// them then), when there is an answer.
    pub raw: Option<Bytes>,
}

type ChunkResult = (Vec<Resource>, Result<Vec<Result<Answered, Error>>, Error>);
type ChunkFuture = Pin<Box<dyn Future<Output = ChunkResult> + Send>>;

/// The stream of [`Outcome`]s of [`Client::file_reports`], one per input, in input order.
///
/// Inputs are read lazily: at most a few batches' worth are held at once, so a run over
/// millions of resources uses the same memory as a run over a hundred. A resource repeated
/// within that window is asked once and its answer given to every copy.
#[must_use = "a stream does nothing unless polled"]
pub struct FileReports<S> {
    inner: Arc<Inner>,
    input: Option<S>,
    allinfo: bool,
    /// Inputs read and not yet yielded, in input order. Entry number `n` (counted from the
    /// first input) is at `queue[n - yielded]`.
    queue: VecDeque<Entry>,
    /// How many outcomes have been yielded: the number of the queue's front entry.
    yielded: u64,
    /// Distinct keys read but not yet sent.
    forming: Vec<Resource>,
    /// Keys that are forming or in flight, with the numbers of the entries that wait for them.
    waiting: HashMap<Box<str>, Vec<u64>>,
    /// Keys answered whose entry is still queued, with its number: a repeat shares it.
    answered: HashMap<Box<str>, u64>,
    in_flight: FuturesUnordered<ChunkFuture>,
}

struct Entry {
    resource: Resource,
    result: Option<Result<Answered, Error>>,
}

impl<S> std::fmt::Debug for FileReports<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReports")
            .field("queued", &self.queue.len())
            .field("forming", &self.forming.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Looks up any number of resources, given as an iterator; see [`FileReports`].
    ///
    /// ```no_run
    /// # async fn example(client: vt_api::Client, hashes: Vec<vt_api::Resource>) {
    /// use futures_util::StreamExt;
    ///
    /// let mut outcomes = client.file_reports(hashes, false);
    /// while let Some(outcome) = outcomes.next().await {
    ///     match outcome.result {
    ///         Ok(answer) => println!("{} {}", outcome.resource, answer.status()),
    ///         Err(error) => eprintln!("{}: {error}", outcome.resource),
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

    /// Looks up any number of resources, given as a stream; see [`FileReports`].
    pub fn file_reports_stream<S>(&self, resources: S, allinfo: bool) -> FileReports<S>
    where
        S: Stream<Item = Resource> + Unpin,
    {
        FileReports {
            inner: Arc::clone(&self.inner),
            input: Some(resources),
            allinfo,
            queue: VecDeque::new(),
            yielded: 0,
            forming: Vec::new(),
            waiting: HashMap::new(),
            answered: HashMap::new(),
            in_flight: FuturesUnordered::new(),
        }
    }
}

impl<S: Stream<Item = Resource> + Unpin> FileReports<S> {
    /// The next outcome, or `None` when every input has had one.
    pub async fn next(&mut self) -> Option<Outcome> {
        StreamExt::next(self).await
    }

    fn batch_size(&self) -> usize {
        self.inner.limits.batch_size
    }

    /// How many inputs may wait in the queue: enough to keep every request slot busy.
    fn window(&self) -> usize {
        self.batch_size() * (self.inner.limits.concurrency + 1) * 2
    }

    /// Reads inputs while there is room, and sends chunks while there are free slots.
    fn fill(&mut self, cx: &mut Context<'_>) {
        loop {
            let slots_free = self.in_flight.len() < self.inner.limits.concurrency;
            if self.forming.len() >= self.batch_size() {
                if !slots_free {
                    return;
                }
                self.send_forming();
                continue;
            }
            let window_full = self.queue.len() >= self.window();
            let Some(input) = self.input.as_mut().filter(|_| !window_full) else {
                // Input exhausted: send what has formed. Enough read ahead: send a
                // part-filled chunk only when nothing is in flight; otherwise the answers in
                // flight free the window first, so that a request held by a 204 or a backoff
                // does not turn the read-ahead into small requests (each costs a whole
                // request of the quota).
                let exhausted = self.input.is_none();
                if slots_free
                    && !self.forming.is_empty()
                    && (exhausted || self.in_flight.is_empty())
                {
                    self.send_forming();
                }
                return;
            };
            match Pin::new(input).poll_next(cx) {
                Poll::Ready(Some(resource)) => self.accept(resource),
                Poll::Ready(None) => self.input = None,
                Poll::Pending => {
                    // Nothing more to read now: do not hold a part-filled chunk back if
                    // a slot is free and nothing else is in flight.
                    if self.in_flight.is_empty() && !self.forming.is_empty() {
                        self.send_forming();
                    }
                    return;
                }
            }
        }
    }

    fn accept(&mut self, resource: Resource) {
        let number = self.yielded + self.queue.len() as u64;
        let key = resource.key();
        if let Some(numbers) = self.waiting.get_mut(key) {
            numbers.push(number);
            self.queue.push_back(Entry {
                resource,
                result: None,
            });
            return;
        }
        // Asked earlier in the window and already answered: share that answer.
        let shared = self
            .answered
            .get(key)
            .and_then(|&done| self.entry(done))
            .and_then(|entry| entry.result.clone());
        if let Some(result) = shared {
            self.queue.push_back(Entry {
                resource,
                result: Some(result),
            });
            return;
        }
        if let Some(cached) = self.inner.cached(&resource, self.allinfo) {
            self.queue.push_back(Entry {
                resource,
                result: Some(cached),
            });
            return;
        }
        self.waiting.insert(key.into(), vec![number]);
        self.forming.push(resource.clone());
        self.queue.push_back(Entry {
            resource,
            result: None,
        });
    }

    fn entry(&self, number: u64) -> Option<&Entry> {
        self.queue
            .get(usize::try_from(number.checked_sub(self.yielded)?).ok()?)
    }

    fn entry_mut(&mut self, number: u64) -> Option<&mut Entry> {
        let index = usize::try_from(number.checked_sub(self.yielded)?).ok()?;
        self.queue.get_mut(index)
    }

    /// Takes the front entry when it has its outcome.
    fn pop_answered(&mut self) -> Option<Outcome> {
        self.queue.front()?.result.as_ref()?;
        let Entry { resource, result } = self.queue.pop_front()?;
        let number = self.yielded;
        self.yielded += 1;
        if self.answered.get(resource.key()) == Some(&number) {
            self.answered.remove(resource.key());
        }
        let (result, raw) = match result? {
            Ok(Answered { answer, raw }) => (Ok(answer), Some(raw)),
            Err(error) => (Err(error), None),
        };
        Some(Outcome {
            resource,
            result,
            raw,
        })
    }

    fn send_forming(&mut self) {
        let take = self.forming.len().min(self.batch_size());
        let chunk: Vec<Resource> = self.forming.drain(..take).collect();
        let inner = Arc::clone(&self.inner);
        let allinfo = self.allinfo;
        let chunk_copy = chunk.clone();
        let ask = async move {
            let results = inner.file_reports_chunk(&chunk, allinfo).await;
            (chunk, results)
        };
        // On a tokio runtime each chunk is its own task, so that decoding the answers runs on
        // every worker thread instead of the one that drives this stream.
        let future: ChunkFuture = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Box::pin(Spawned {
                chunk: Some(chunk_copy),
                task: runtime.spawn(ask),
            }),
            Err(_) => Box::pin(ask),
        };
        self.in_flight.push(future);
    }

    fn settle(&mut self, (chunk, results): ChunkResult) {
        let per_resource: Vec<Result<Answered, Error>> = match results {
            Ok(results) => results,
            Err(error) => vec![Err(error); chunk.len()],
        };
        self.inner.remember(
            chunk
                .iter()
                .zip(&per_resource)
                .filter_map(|(resource, result)| Some((resource, result.as_ref().ok()?))),
            self.allinfo,
        );
        for (resource, result) in chunk.iter().zip(per_resource) {
            let Some((key, mut numbers)) = self.waiting.remove_entry(resource.key()) else {
                continue;
            };
            // Every copy but the last gets a clone; the last gets the answer itself.
            let Some(last) = numbers.pop() else {
                continue;
            };
            for number in numbers {
                if let Some(entry) = self.entry_mut(number) {
                    entry.result = Some(result.clone());
                }
            }
            if let Some(entry) = self.entry_mut(last) {
                entry.result = Some(result);
                self.answered.insert(key, last);
            }
        }
    }
}

/// A spawned chunk, aborted if the stream is dropped before it ends (a caller that stops
/// listening must not keep spending quota).
struct Spawned {
    task: tokio::task::JoinHandle<ChunkResult>,
    chunk: Option<Vec<Resource>>,
}

impl Future for Spawned {
    type Output = ChunkResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ChunkResult> {
        let joined = std::task::ready!(Pin::new(&mut self.task).poll(cx));
        Poll::Ready(match joined {
            Ok(done) => done,
            // A panic in the task is a bug: let it reach the caller, as it would inline.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down: these resources get no answer.
            Err(_) => (self.chunk.take().unwrap_or_default(), Err(Error::Cancelled)),
        })
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Stream<Item = Resource> + Unpin> Stream for FileReports<S> {
    type Item = Outcome;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outcome>> {
        let this = &mut *self;
        loop {
            if let Some(outcome) = this.pop_answered() {
                return Poll::Ready(Some(outcome));
            }
            this.fill(cx);
            if this.queue.front().is_some_and(|e| e.result.is_some()) {
                // Answered from the cache, or a duplicate of an answered resource.
                continue;
            }
            if this.in_flight.is_empty() {
                if this.input.is_none() && this.forming.is_empty() && this.queue.is_empty() {
                    return Poll::Ready(None);
                }
                // Waiting for input (the stream registered the waker).
                if this.forming.is_empty() {
                    return Poll::Pending;
                }
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(done)) => this.settle(done),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
