//! Logging (tracing, on stderr), vt-api's typed events in words, and the progress bar, which
//! share stderr without tearing.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use vt_api::Event;

use crate::output::shown;

/// The progress bar on screen, if any: log lines are written around it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn with_bar<T>(f: impl FnOnce(Option<&ProgressBar>) -> T) -> T {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner());
    f(bar.as_ref())
}

/// Writes a line to stderr, around the progress bar. Its control characters are shown as
/// escapes ([`shown`]): a line may quote a path, a service's message or an error excerpt, and
/// those must not reach the terminal as commands (nor a `\n` as a fake second line).
pub(crate) fn eprint_line(line: &str) {
    let line = shown(line);
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
    // vt-api's own account of its events is for -vv: at -v the observer says them in words.
    let api_level = if verbose >= 2 {
        vt_level
    } else {
        vt_level.min(LevelFilter::INFO)
    };
    let targets = Targets::new()
        .with_default(others)
        .with_target("vt", vt_level)
        .with_target("vt_api", api_level)
        .with_target("vt_transport", vt_level)
        .with_target("vt_model", vt_level);
    // Every field of a log line is shown through `shown`, the message and `%error`-style
    // Display fields included (tracing's own sanitising leaves CR, LF, tab and the bidi
    // overrides alone, and Display fields untouched): an error can quote a path or a service.
    let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let value = format!("{value:?}");
        match field.name() {
            "message" => write!(writer, "{}", shown(&value)),
            name => write!(writer, "{name}={}", shown(&value)),
        }
    })
    .delimited(" ");
    let fmt = tracing_subscriber::fmt::layer()
        .fmt_fields(fields)
        .with_writer(|| StderrAroundBar)
        .with_ansi(color)
        .with_target(verbose >= 2)
        .without_time()
        .with_filter(targets);
    let _ = tracing_subscriber::registry().with(fmt).try_init();
}

/// What vt-api's events show: the progress bar's message (when the next request may go), and
/// lines on stderr for what the user should know (retries, 204s, the quota, a stopped run;
/// requests and pacing waits under `-v`).
pub(crate) fn observer(quiet: bool, verbose: u8) -> impl Fn(&Event) + Send + Sync + 'static {
    let paced_once = std::sync::atomic::AtomicBool::new(false);
    move |event| {
        let say = |line: String| {
            if !quiet {
                eprint_line(&format!("vt: {line}"));
            }
        };
        match event {
            Event::Sending {
                endpoint,
                queries,
                attempt,
            } => {
                set_bar_message(String::new());
                if verbose > 0 {
                    say(format!(
                        "asking {endpoint} for {queries} resource{} (attempt {attempt})",
                        plural(*queries)
                    ));
                }
            }
            Event::Pacing { wait, until, .. } => {
                set_bar_message(format!("pacing: next request at {}", clock_of(*until)));
                let first = !paced_once.swap(true, std::sync::atomic::Ordering::Relaxed);
                if verbose > 0 {
                    say(format!(
                        "pacing: waiting {:.1} s for the quota window",
                        wait.as_secs_f64()
                    ));
                } else if first {
                    // Once a run, terminal or not: a run that seems stuck is waiting.
                    say(format!(
                        "pacing to the key's quota: the next request goes at {} (said once; -v \
                         says every wait)",
                        clock_of(*until)
                    ));
                }
            }
            Event::HeldBy204 { wait, until } => {
                set_bar_message(format!(
                    "204, quota exceeded: next request at {}",
                    clock_of(*until)
                ));
                say(format!(
                    "204 No Content: quota exceeded (is the key used elsewhere too?); holding \
                     requests for {} s before asking again",
                    wait.as_secs()
                ));
            }
            Event::Retrying {
                endpoint: _,
                queries,
                attempt,
                max_attempts,
                wait,
                reason,
            } => {
                set_bar_message(format!(
                    "retrying: next request at {}",
                    clock_of(SystemTime::now() + *wait)
                ));
                say(format!(
                    "attempt {attempt} of {max_attempts} for {queries} resource{} failed \
                     ({reason}); retrying in {:.1} s",
                    plural(*queries),
                    wait.as_secs_f64()
                ));
            }
            Event::QuotaLow {
                left,
                per_day,
                next_release_at,
            } => say(format!(
                "warning: {left} of the daily quota of {per_day} requests left; the oldest \
                 request frees at {}",
                next_release_at
                    .map_or_else(|| "once a day has passed".to_owned(), vt_api::format_utc)
            )),
            Event::QuotaExhausted { per_day, next_at } => say(format!(
                "the daily quota of {per_day} requests is used up; the next request goes at {} \
                 (answers received so far are kept: a run stopped now resumes where it was)",
                vt_api::format_utc(*next_at)
            )),
            Event::QuotaSlowedDown {
                per_minute,
                now_per_minute,
                unit,
            } => {
                let unit = match unit {
                    vt_api::QuotaUnit::Resource => "resource",
                    _ => "request",
                };
                say(format!(
                    "204s keep coming although fewer than {per_minute} {unit}s went in the last \
                     minute: the service counts more than vt does (each resource of a batch, or \
                     another program on the key); slowing down to {now_per_minute} {unit}{} a \
                     minute (--quota-unit resource or a lower --rate sets this from the start)",
                    plural(*now_per_minute as usize)
                ))
            }
            Event::Transfer { done, total, .. } => set_bar_message(match total {
                Some(total) => format!("{} of {}", bytes(*done), bytes(*total)),
                None => bytes(*done),
            }),
            Event::Stopped { reason } => say(format!(
                "stopped: {reason}; nothing more is sent, and every lookup left fails with it"
            )),
            _ => {}
        }
    }
}

/// A duration, short and rounded down: `12s`, `5m`, `3h`, `2d`.
pub(crate) fn age(age: Duration) -> String {
    let seconds = age.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// A size in bytes, KiB, MiB or GiB, for people.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} bytes"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `HH:MM:SS UTC` of a wall-clock time.
/// `HH:MM:SS UTC` of a wall-clock time within the next day; the date too beyond.
fn clock_of(at: SystemTime) -> String {
    let within_a_day = at
        .duration_since(SystemTime::now())
        .map_or(true, |ahead| ahead < Duration::from_secs(86_400));
    if !within_a_day {
        return vt_api::format_utc(at);
    }
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 86_400)
        .unwrap_or(0);
    format!("{:02}:{:02}:{:02} UTC", at / 3600, at % 3600 / 60, at % 60)
}

fn set_bar_message(message: String) {
    with_bar(|bar| {
        if let Some(bar) = bar {
            bar.set_message(message);
        }
    });
}

/// A progress bar on stderr for `total` lookups, drawn only when `show`; it is registered
/// so that log lines go around it.
pub(crate) fn progress(total: usize, show: bool, what: &str) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bar:20}} {{pos}}/{{len}} {{elapsed}} (left: {{eta}}) {{wide_msg}}"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_within_a_day_is_its_time_and_beyond_it_has_its_date() {
        let soon = SystemTime::now() + Duration::from_secs(3600);
        let shown = clock_of(soon);
        assert!(shown.len() == 12 && shown.ends_with(" UTC"), "{shown}");
        let later = SystemTime::now() + Duration::from_secs(3 * 86_400);
        let shown = clock_of(later);
        assert_eq!(shown, vt_api::format_utc(later), "the date too");
        assert_eq!(age(Duration::from_secs(5 * 3600 + 59)), "5h");
        assert_eq!(bytes(33 * 1024 * 1024), "33.0 MiB");
    }
}
