//! The one driver of every lookup command: streams the queries through vt-api, writes one
//! record per input in input order as soon as it is its turn, shows progress, reports failures
//! and decides the exit status. A command gives it its endpoint, its inputs and its rows.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use futures_util::stream;
use vt_api::{Endpoint, Params, Query, RawAnswer, Repeats};

use crate::cli::{Format, Global};
use crate::output::{AnswerKind, Output, Record, TableLayout};
use crate::session::Session;
use crate::spooler::RecordsOut;
use crate::{ui, EXIT_FAILED, EXIT_OK};

/// One line of the output, in input order: an input to look up (the next query of the
/// stream), one answered already (`vt file scan` looked before it uploaded), or one that
/// failed before any lookup (a file that could not be hashed or uploaded).
pub(crate) enum Row<'p, Q, T> {
    Ask {
        path: Option<&'p Path>,
    },
    Known {
        path: Option<&'p Path>,
        query: Q,
        answer: RawAnswer<T>,
    },
    Failed {
        path: &'p Path,
        kind: &'static str,
        message: String,
    },
}

/// What a command asks of the driver.
pub(crate) struct Lookups<'a, Q, T, I, R> {
    pub(crate) endpoint: &'a Endpoint<Q, T>,
    pub(crate) params: Params,
    /// Ask queued queries again, together, until they finish or this time has passed.
    pub(crate) wait_queued: Option<Duration>,
    /// The queries that come more than once, when no cache answers repeats: their answers
    /// are kept for the later copies.
    pub(crate) repeats: Option<Repeats>,
    /// The queries with their labels, in the order of the `Ask` rows.
    pub(crate) queries: I,
    /// Every output line, in input order.
    pub(crate) rows: R,
    /// How many rows.
    pub(crate) total: usize,
    pub(crate) layout: TableLayout,
}

pub(crate) async fn run<'p, Q, T, I, R>(
    session: &Session,
    global: &Global,
    lookups: Lookups<'_, Q, T, I, R>,
) -> Result<u8>
where
    Q: Query,
    T: AnswerKind,
    I: Iterator<Item = (Q, Option<Box<str>>)> + Unpin,
    R: Iterator<Item = Row<'p, Q, T>>,
{
    let Lookups {
        endpoint,
        params,
        wait_queued,
        repeats,
        queries,
        rows,
        total,
        layout,
    } = lookups;
    let format = session.format;
    let long = total > session.limits.batch_size;
    let bar = ui::progress(total, long && !global.quiet, "looking up");
    // Each record is encoded as soon as it is its turn, here (a separate thread that also
    // encoded was measured slower on 2 cores: cross-thread frees and wake-ups cost more than
    // the encoding it moved); only the writes of whole buffers go to a thread of their own.
    let mut writer = Writer {
        out: Output::<_, T>::new(
            format,
            RecordsOut::stdout(session.stdout_terminal)?,
            layout,
            session.stdout_terminal,
        )
        .with_fields(session.fields.clone()),
        format,
        quiet: global.quiet,
        on_terminal: session.stdout_terminal,
        failed: 0,
        flagged: 0,
        fail_on_positives: session.fail_on_positives,
        written: 0,
        cached: 0,
        oldest_cached: None,
        stopped: None,
        bar: bar.clone(),
    };
    // The labels go beside the queries the stream reads ahead, and come back to the rows in
    // the same order (outcomes are in input order): no more than the stream's window.
    let labels = Arc::new(Mutex::new(VecDeque::new()));
    let queued = Arc::clone(&labels);
    let queries = queries.map(move |(query, label)| {
        queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(label);
        query
    });
    let mut outcomes = session
        .client
        .lookups(endpoint, stream::iter(queries), params);
    if matches!(format, Format::Table | Format::Csv) {
        // Every report is shown: decode them where they arrive, on every worker.
        outcomes = outcomes.decode_all();
    }
    if let Some(repeats) = repeats.filter(|r| !r.is_empty()) {
        outcomes = outcomes.keep_repeats(repeats);
    }
    if let Some(timeout) = wait_queued {
        // Each round is a request: a tenth of the time, between 1 s and 1 min.
        let interval = (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        outcomes = outcomes.wait_queued(interval, timeout);
    }
    let mut interrupt = Interrupt::listen();
    let mut interrupted = None;
    let wrote = async {
        // Around the bar, like every record: a header written under a drawn bar would push
        // the bar's frame up, to stay above the table.
        writer.around_bar(|out| out.begin())?;
        for row in rows {
            let record = match row {
                Row::Ask { path } => {
                    let outcome =
                        match next_outcome(&mut outcomes, &mut writer, &mut interrupt).await? {
                            Next::Outcome(outcome) => outcome.context("an outcome is missing")?,
                            Next::Interrupted(signal) => {
                                interrupted = Some(signal);
                                break;
                            }
                        };
                    let label = labels
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .pop_front()
                        .flatten();
                    match outcome.result {
                        Ok(answer) => Job::Answer {
                            query: outcome.query,
                            answer,
                            path,
                            cached_at: outcome.cached_at,
                            label,
                        },
                        Err(error) => Job::Failed {
                            resource: Some(outcome.query.wire_text().to_owned()),
                            stops_run: error.stops_run(),
                            kind: error.kind(),
                            message: error.to_string(),
                            path,
                            label,
                        },
                    }
                }
                Row::Known {
                    path,
                    query,
                    answer,
                } => Job::Answer {
                    query,
                    answer,
                    path,
                    cached_at: None,
                    label: None,
                },
                Row::Failed {
                    path,
                    kind,
                    message,
                } => Job::Failed {
                    resource: None,
                    stops_run: false,
                    kind,
                    message,
                    path: Some(path),
                    label: None,
                },
            };
            writer.write(record)?;
        }
        writer.around_bar(|out| {
            out.finish()?;
            out.get_mut().finish()
        })?;
        anyhow::Ok(())
    }
    .await;
    ui::finish_progress(&bar);
    if let Some(signal) = interrupted {
        if !global.quiet {
            ui::eprint_line(&format!(
                "vt: interrupted ({}) after {} of {total} records; the same command again \
                 finishes the rest (answers received are in the cache)",
                signal.name(),
                writer.written
            ));
        }
        return Ok(signal.exit_status());
    }
    if let Err(error) = wrote {
        // A closed pipe (`vt ... | head`) is not an error of ours: stop quietly.
        let broken_pipe = error
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
        if !broken_pipe {
            return Err(error.context("cannot write the output"));
        }
    }
    if let Some((count, reason)) = writer.stopped.filter(|(count, _)| *count > 1) {
        if !global.quiet && format != Format::Table {
            ui::eprint_line(&format!(
                "vt: {} more lookups were not sent: {reason}",
                count - 1
            ));
        }
    }
    if let (Some(oldest), false) = (writer.oldest_cached, global.quiet) {
        let age = SystemTime::now().duration_since(oldest).unwrap_or_default();
        ui::eprint_line(&format!(
            "vt: {} of {total} from the cache, the oldest fetched {} ago",
            writer.cached,
            ui::age(age)
        ));
    }
    if writer.failed > 0 && !global.quiet {
        ui::eprint_line(&format!("vt: {} of {total} lookups failed", writer.failed));
    }
    if let (Some(threshold), 1..) = (writer.fail_on_positives, writer.flagged) {
        if !global.quiet {
            ui::eprint_line(&format!(
                "vt: {} report{} with {threshold} or more detections (--fail-on-positives)",
                writer.flagged,
                if writer.flagged == 1 { "" } else { "s" }
            ));
        }
        return Ok(crate::EXIT_POSITIVES);
    }
    if writer.failed > 0 {
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

/// A signal that ends a run early, with what has been written kept.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as shells report a process the signal killed.
    fn exit_status(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// SIGINT and SIGTERM, caught while the lookups run so that the records received are
/// flushed and the output closed (a CSV keeps its header, a JSON array its bracket).
struct Interrupt {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Interrupt {
    fn listen() -> Interrupt {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Without handlers (an unusual runtime), the signals keep their default action.
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Interrupt { signals }
        }
        #[cfg(not(unix))]
        Interrupt {}
    }

    /// The next signal; never, when none can be caught.
    async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            return tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
            };
        }
        std::future::pending().await
    }
}

enum Next<Q, T> {
    Outcome(Option<vt_api::Outcome<Q, T>>),
    Interrupted(Signal),
}

/// The next outcome. When it is not ready at once (a pacing wait, a request in flight), what
/// has been written is flushed first, so that records reach the file or pipe within moments
/// of their answer whatever comes next; a signal meanwhile ends the wait.
async fn next_outcome<S, Q, T, W>(
    outcomes: &mut vt_api::Lookups<S, Q, T>,
    writer: &mut Writer<W, T>,
    interrupt: &mut Interrupt,
) -> io::Result<Next<Q, T>>
where
    S: futures_util::Stream<Item = Q> + Unpin,
    Q: Query,
    T: AnswerKind,
    W: Write,
{
    if let Some(next) = futures_util::FutureExt::now_or_never(outcomes.next()) {
        return Ok(Next::Outcome(next));
    }
    writer.out.flush()?;
    Ok(tokio::select! {
        next = outcomes.next() => Next::Outcome(next),
        signal = interrupt.recv() => Next::Interrupted(signal),
    })
}

/// What happened to one input, ready to be written.
enum Job<'p, Q, T> {
    Answer {
        query: Q,
        answer: RawAnswer<T>,
        path: Option<&'p Path>,
        /// When the cache's answer was fetched, if it came from the cache.
        cached_at: Option<SystemTime>,
        /// The input's label (a file name of `sha256sum` output, a trailing comment).
        label: Option<Box<str>>,
    },
    Failed {
        resource: Option<String>,
        /// An error that stopped the run: said once on stderr, not once per input.
        stops_run: bool,
        kind: &'static str,
        message: String,
        path: Option<&'p Path>,
        label: Option<Box<str>>,
    },
}

/// The output side: writes records, counts failures, reports them on stderr in the machine
/// formats, and moves the progress bar.
struct Writer<W: Write, T> {
    out: Output<W, T>,
    format: Format,
    quiet: bool,
    on_terminal: bool,
    failed: usize,
    /// Reports at or over `--fail-on-positives`.
    flagged: usize,
    fail_on_positives: Option<u32>,
    /// Records written.
    written: usize,
    /// Records answered from the cache, and the oldest of those answers.
    cached: usize,
    oldest_cached: Option<SystemTime>,
    /// How many inputs a stopped run failed, and why.
    stopped: Option<(usize, String)>,
    bar: indicatif::ProgressBar,
}

impl<W: Write, T: AnswerKind> Writer<W, T> {
    /// Runs `write` on the output with the progress bar hidden when both share a terminal.
    fn around_bar(
        &mut self,
        write: impl FnOnce(&mut Output<W, T>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.on_terminal {
            ui::suspend(|| write(&mut self.out))
        } else {
            write(&mut self.out)
        }
    }

    fn write<Q: Query>(&mut self, job: Job<'_, Q, T>) -> io::Result<()> {
        // The table and CSV show the typed view: an answer that does not decode is an error
        // record there. jsonl and json pass the bytes through and never decode.
        let job = match job {
            Job::Answer {
                query,
                answer,
                path,
                cached_at,
                label,
            } if matches!(self.format, Format::Table | Format::Csv) => match answer.answer() {
                Ok(_) => Job::Answer {
                    query,
                    answer,
                    path,
                    cached_at,
                    label,
                },
                Err(error) => {
                    let error = vt_api::Error::from(error);
                    Job::Failed {
                        resource: Some(query.wire_text().to_owned()),
                        stops_run: false,
                        kind: error.kind(),
                        message: error.to_string(),
                        path,
                        label,
                    }
                }
            },
            job => job,
        };
        let record = match &job {
            Job::Answer {
                query,
                answer,
                path,
                cached_at,
                label,
            } => {
                if let Some(threshold) = self.fail_on_positives {
                    // Decoded only for this (jsonl passes the bytes through otherwise).
                    let positives = answer
                        .answer()
                        .ok()
                        .and_then(|a| a.as_found())
                        .and_then(T::positives);
                    if positives.is_some_and(|p| p >= threshold) {
                        self.flagged += 1;
                    }
                }
                if let Some(at) = cached_at {
                    self.cached += 1;
                    self.oldest_cached = Some(self.oldest_cached.map_or(*at, |o| o.min(*at)));
                }
                Record::Answer {
                    resource: query.wire_text(),
                    answer,
                    cached_at: *cached_at,
                    path: *path,
                    label: label.as_deref(),
                }
            }
            Job::Failed {
                resource,
                stops_run,
                kind,
                message,
                path,
                label,
            } => {
                self.failed += 1;
                let first_of_stop = match (&mut self.stopped, stops_run) {
                    (_, false) => true,
                    (None, true) => {
                        self.stopped = Some((1, message.clone()));
                        true
                    }
                    (Some((count, _)), true) => {
                        *count += 1;
                        false
                    }
                };
                if self.format != Format::Table && !self.quiet && first_of_stop {
                    let what = match (path, resource) {
                        (Some(path), _) => path.display().to_string(),
                        (None, Some(resource)) => resource.clone(),
                        (None, None) => String::new(),
                    };
                    ui::eprint_line(&format!("vt: {what}: {message}"));
                }
                Record::Failed {
                    resource: resource.as_deref(),
                    kind,
                    message,
                    path: *path,
                    label: label.as_deref(),
                }
            }
        };
        self.around_bar(|out| out.write(&record))?;
        self.written += 1;
        self.bar.inc(1);
        Ok(())
    }
}
