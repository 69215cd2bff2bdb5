//! Logging (tracing, on stderr) and the progress bar, which share stderr without tearing.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The progress bar on screen, if any: log lines are written around it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn with_bar<T>(f: impl FnOnce(Option<&ProgressBar>) -> T) -> T {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner());
    f(bar.as_ref())
}

/// Writes a line to stderr, around the progress bar.
pub(crate) fn eprint_line(line: &str) {
    with_bar(|bar| {
        let write = || {
            let _ = writeln!(io::stderr().lock(), "{line}");
        };
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    });
}

/// Runs `f` (which writes to the terminal) with the bar hidden.
pub(crate) fn suspend<T>(f: impl FnOnce() -> T) -> T {
    let bar = with_bar(|bar| bar.cloned());
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

struct StderrAroundBar;

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        with_bar(|bar| match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf)),
            None => io::stderr().write_all(buf),
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Sets up logging: nothing under `quiet`; warnings by default; `-v` requests, retries and
/// pacing (debug of vt's crates); `-vv` everything of vt's crates (trace). Other crates stay
/// at info at most. The key is never logged: vt-api does not log it, and the CLI neither.
pub(crate) fn init_logging(quiet: bool, verbose: u8, color: bool) {
    let vt_level = match (quiet, verbose) {
        (true, _) => LevelFilter::OFF,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    let others = if quiet {
        LevelFilter::OFF
    } else if verbose >= 2 {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    let targets = Targets::new()
        .with_default(others)
        .with_target("vt", vt_level)
        .with_target("vt_api", vt_level)
        .with_target("vt_transport", vt_level)
        .with_target("vt_model", vt_level);
    // The waits are fields for the progress bar (`PacingToBar`); the messages say them in words.
    let fields =
        tracing_subscriber::fmt::format::debug_fn(|writer, field, value| match field.name() {
            "message" => write!(writer, "{value:?}"),
            "wait_ms" | "wait_s" => Ok(()),
            name => write!(writer, " {name}={value:?}"),
        });
    let fmt = tracing_subscriber::fmt::layer()
        .fmt_fields(fields)
        .with_writer(|| StderrAroundBar)
        .with_ansi(color)
        .with_target(verbose >= 2)
        .without_time()
        .with_filter(targets);
    let pacing = PacingToBar.with_filter(Targets::new().with_target("vt_api", Level::DEBUG));
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(pacing)
        .try_init();
}

/// Shows vt-api's pacing waits and 204 waits on the bar: when the next request may go.
struct PacingToBar;

#[derive(Default)]
struct Fields {
    message: String,
    wait_ms: Option<u64>,
    wait_s: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "wait_ms" => self.wait_ms = Some(value),
            "wait_s" => self.wait_s = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for PacingToBar {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.starts_with("asking") {
            // A request is going out: the wait, if any, is over.
            with_bar(|bar| {
                if let Some(bar) = bar {
                    bar.set_message("");
                }
            });
            return;
        }
        let wait = fields
            .wait_ms
            .map(Duration::from_millis)
            .or(fields.wait_s.map(Duration::from_secs));
        let Some(wait) = wait else { return };
        let what = if fields.message.starts_with("pacing") {
            "pacing"
        } else if fields.message.starts_with("204") {
            "204, quota exceeded"
        } else {
            "retrying"
        };
        let at = (std::time::SystemTime::now() + wait)
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 86_400)
            .unwrap_or(0);
        let message = format!(
            "{what}: next request at {:02}:{:02}:{:02} UTC",
            at / 3600,
            at % 3600 / 60,
            at % 60
        );
        with_bar(|bar| {
            if let Some(bar) = bar {
                bar.set_message(message);
            }
        });
    }
}

/// A progress bar on stderr for `total` lookups, drawn only when `show`; it is registered
/// so that log lines go around it.
pub(crate) fn progress(total: usize, show: bool, what: &str) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bar:20}} {{pos}}/{{len}} {{elapsed}} {{wide_msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
    bar
}

/// Removes the bar from the screen.
pub(crate) fn finish_progress(bar: &ProgressBar) {
    bar.finish_and_clear();
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
}
