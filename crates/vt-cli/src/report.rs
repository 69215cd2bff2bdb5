//! `vt file report`: validate every input, hash files, look everything up through vt-api,
//! and write one record per input in input order.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use vt_api::{ApiKey, Cache, Client, FileReportAnswer, Resource};

use crate::cli::{Format, Global, ReportArgs, TierArg};
use crate::output::{Output, Record, TableLayout};
use crate::{config, hash, input, ui, wants_color, UsageError, EXIT_FAILED, EXIT_OK};

/// Cached answers younger than this are used unless `--max-age` says otherwise.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// The cache file in the cache dir.
const CACHE_FILE: &str = "file-report.sqlite3";

pub(crate) async fn run(args: &ReportArgs, global: &Global) -> Result<u8> {
    // 1. Everything the user typed is checked before anything is sent (the key first, so
    //    that an input holding it is refused without being quoted).
    let config = config::load_config()?;
    let found_key = config::find_key(args.api_key_file.as_deref(), &config)?;
    let resources = input::read(
        &args.resources,
        &args.inputs,
        found_key.as_ref().map(|(key, _)| key),
    )?;
    if resources.len() == 0 && args.hash.is_empty() {
        return Err(UsageError::new(
            "nothing to look up: give resources as arguments, --input FILE (- for stdin) or --hash PATH",
        )
        .into());
    }
    let stdout_terminal = io::stdout().is_terminal();
    let format = args.format.unwrap_or(if stdout_terminal {
        Format::Table
    } else {
        Format::Jsonl
    });
    let tier = args.tier.or(config.tier).unwrap_or(TierArg::Public);
    let base_url = match &args.base_url {
        Some(url) => url.clone(),
        None => std::env::var("VT_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| vt_api::DEFAULT_BASE_URL.to_owned()),
    };
    let key = match found_key {
        Some((key, source)) => {
            tracing::debug!("API key from {source}");
            key
        }
        // Offline sends nothing, so it needs no key.
        None if args.offline => ApiKey::new("offline"),
        None => {
            return Err(UsageError::new(
                "no API key: run `vt init`, set VT_API_KEY, or give --api-key-file FILE",
            )
            .into())
        }
    };
    if args.allinfo && tier == TierArg::Public && !global.quiet {
        ui::eprint_line(
            "vt: warning: --allinfo needs a private key (the service answers 403 to a public one); \
             use --tier private if yours is",
        );
    }

    // 2. The client.
    let mut limits = tier.tier().limits();
    if let Some(rate) = args.rate {
        limits = limits.with_per_minute(rate.0);
    }
    if let Some(n) = args.daily_quota {
        limits = limits.with_per_day(Some(n));
    }
    if let Some(n) = args.batch_size {
        limits = limits.with_batch_size(usize::from(n));
    }
    if let Some(n) = args.concurrency {
        limits = limits.with_concurrency(usize::from(n));
    }
    let mut retry =
        vt_api::RetryPolicy::default().with_max_attempts(args.retries.saturating_add(1));
    if let Some(timeout) = args.timeout {
        retry = retry.with_request_timeout(timeout);
    }
    // The client's deadline is the one that fires (a `timeout` record, then a retry); the
    // transport's, a little later, only backs it up.
    let mut transport = vt_api::vt_transport::HyperTransport::builder()
        .proxy_from_env(true)
        .request_timeout(retry.request_timeout.saturating_add(Duration::from_secs(5)));
    for ca in &args.ca_cert {
        transport = transport.extra_ca_pem_file(ca);
    }
    let transport = transport
        .build()
        .map_err(|e| UsageError::new(format!("cannot set up HTTPS: {e}")))?;
    // Said before anything is sent (offline, nothing is).
    if !args.offline && !global.quiet {
        let proxy = base_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| transport.proxy_for(&uri));
        if let Some(warning) = config::cleartext_warning(&base_url, proxy.as_deref()) {
            ui::eprint_line(&format!("vt: warning: {warning}"));
        }
    }
    let mut builder = Client::builder(key)
        .base_url(base_url)
        .tier(tier.tier())
        .limits(limits)
        .retry_policy(retry)
        .transport(Arc::new(transport));
    #[cfg(feature = "testing-clock")]
    {
        builder = crate::clock::apply(builder);
    }
    // The cache file is also the quota ledger: every vt on this machine using the key paces
    // against one count, with or without `--no-cache` (which only keeps answers out of it).
    // With neither answers to keep nor a quota to count, the file is not even opened.
    match (!args.no_cache || limits.is_paced()).then(open_cache) {
        None => {}
        Some(Ok(cache)) => {
            let cache = Arc::new(cache);
            if !args.no_cache {
                let max_age = match (args.max_age, args.offline) {
                    (Some(age), _) => Some(age),
                    (None, true) => None,
                    (None, false) => Some(DEFAULT_MAX_AGE),
                };
                builder = builder.cache(cache.clone(), max_age).offline(args.offline);
            }
            builder = builder.quota_ledger(cache);
        }
        Some(Err(error)) if args.offline => return Err(error.context("--offline needs the cache")),
        Some(Err(error)) if args.no_cache => {
            tracing::warn!(
                "quota count not shared with other vt runs (the cache file is unusable): {error:#}"
            );
        }
        Some(Err(error)) => {
            tracing::warn!(
                "cache disabled, and the quota count not shared with other vt runs: {error:#}"
            );
        }
    }
    let client = builder
        .build()
        .map_err(|e| UsageError::new(e.to_string()))?;
    tracing::debug!(
        tier = tier.as_str(),
        batch_size = limits.batch_size,
        per_minute = ?limits.per_minute,
        concurrency = limits.concurrency,
        cache = !args.no_cache,
        offline = args.offline,
        "ready to look up {} resources and hash {} paths",
        resources.len(),
        args.hash.len()
    );

    // 3. Files to hash.
    let hashed = if args.hash.is_empty() {
        Vec::new()
    } else {
        let paths = args.hash.clone();
        let files = tokio::task::spawn_blocking(move || hash::list(&paths))
            .await
            .context("listing files failed")?;
        let bar = ui::progress(files.len(), files.len() > 1 && !global.quiet, "hashing");
        let counter = bar.clone();
        let hashed =
            tokio::task::spawn_blocking(move || hash::hash_files(files, &|| counter.inc(1)))
                .await
                .context("hashing failed")?;
        ui::finish_progress(&bar);
        hashed
    };

    if !args.offline && !global.quiet {
        let lookups = resources.len() + hashed.iter().filter(|h| h.result.is_ok()).count();
        warn_if_over_daily_quota(&client, lookups);
    }

    // 4. Look up, in input order, writing each record as soon as it is its turn. (A separate
    // writer thread was measured slower on 2 cores: cross-thread frees and wake-ups cost more
    // than the encoding it moved.)
    let total = resources.len() + hashed.len();
    let path_width = (!hashed.is_empty()).then(|| {
        hashed
            .iter()
            .map(|h| h.path.to_string_lossy().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 80)
    });
    let layout = TableLayout {
        resource_width: resources
            .max_width
            .max(if hashed.is_empty() { 8 } else { 64 }),
        path_width,
        color: format == Format::Table && wants_color(global.color, stdout_terminal),
    };
    let long = total > limits.batch_size;
    let bar = ui::progress(total, long && !global.quiet, "looking up");
    let stdout = io::stdout();
    let mut writer = Writer {
        out: Output::new(
            format,
            BufWriter::with_capacity(64 * 1024, stdout.lock()),
            layout,
            stdout_terminal,
        ),
        format,
        quiet: global.quiet,
        on_terminal: stdout_terminal,
        failed: 0,
        bar: bar.clone(),
    };
    let plain = resources.len();
    let from_files = hashed
        .iter()
        .filter_map(|h| h.result.as_ref().ok())
        .filter_map(|hex| Resource::parse(hex).ok());
    let questions = resources.into_iter()?.chain(from_files);
    let mut outcomes = client.file_reports(questions, args.allinfo);
    let lookups = Lookups {
        client: &client,
        args,
    };
    let wrote = async {
        writer.out.begin()?;
        for _ in 0..plain {
            let outcome = outcomes.next().await.context("an outcome is missing")?;
            let job = lookups
                .settle(outcome.resource, outcome.result, outcome.raw, None)
                .await;
            writer.write(job)?;
        }
        for h in &hashed {
            let job = match &h.result {
                Ok(_) => {
                    let outcome = outcomes.next().await.context("an outcome is missing")?;
                    lookups
                        .settle(outcome.resource, outcome.result, outcome.raw, Some(&h.path))
                        .await
                }
                Err(message) => Job::Failed {
                    resource: None,
                    kind: "io",
                    message: message.clone(),
                    path: Some(&h.path),
                },
            };
            writer.write(job)?;
        }
        writer.out.finish()?;
        anyhow::Ok(())
    }
    .await;
    ui::finish_progress(&bar);
    if let Err(error) = wrote {
        // A closed pipe (`vt ... | head`) is not an error of ours: stop quietly.
        let broken_pipe = error
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
        if !broken_pipe {
            return Err(error.context("cannot write the output"));
        }
    }
    if writer.failed > 0 {
        if !global.quiet {
            ui::eprint_line(&format!("vt: {} of {total} lookups failed", writer.failed));
        }
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

/// Warns when a run of `lookups` may need more requests than the daily quota has left (a
/// bound: cached answers cost none), and says when the quota frees.
fn warn_if_over_daily_quota(client: &Client, lookups: usize) {
    let status = client.quota_status();
    let Some(left) = status.left_today() else {
        return;
    };
    let needed = lookups.div_ceil(client.limits().batch_size);
    if needed <= left as usize {
        return;
    }
    let frees = status.next_release_at.map_or_else(
        || "as requests age past 24 hours".to_owned(),
        |at| format!("from {}", vt_api::format_utc(at)),
    );
    ui::eprint_line(&format!(
        "vt: warning: this run may need up to {needed} requests, and {left} of the daily quota \
         of {} are left; past that it waits for the quota, which frees {frees} (stop it any \
         time: a new run resumes from the answers received)",
        status.per_day.unwrap_or(0)
    ));
}

fn open_cache() -> Result<Cache> {
    let dir = config::cache_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(Cache::open(dir.join(CACHE_FILE))?)
}

/// What happened to one input, ready to be written.
enum Job<'p> {
    Answer {
        resource: Resource,
        answer: FileReportAnswer,
        /// The answer's bytes as the service sent them, when known.
        raw: Option<bytes::Bytes>,
        path: Option<&'p Path>,
    },
    Failed {
        resource: Option<Resource>,
        kind: &'static str,
        message: String,
        path: Option<&'p Path>,
    },
}

/// The lookup side: waits for queued resources if asked.
struct Lookups<'a> {
    client: &'a Client,
    args: &'a ReportArgs,
}

impl Lookups<'_> {
    async fn settle<'p>(
        &self,
        resource: Resource,
        result: Result<FileReportAnswer, vt_api::Error>,
        raw: Option<bytes::Bytes>,
        path: Option<&'p Path>,
    ) -> Job<'p> {
        let (result, raw) = match (result, self.args.wait_queued) {
            (Ok(FileReportAnswer::Queued(_)), Some(timeout)) => {
                // Each poll is a request: a tenth of the time, between 1 s and 1 min.
                let interval =
                    (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
                let waited = self
                    .client
                    .wait_for_report(&resource, self.args.allinfo, interval, timeout)
                    .await;
                // A new answer: its bytes are not at hand, the model re-encodes it.
                (waited, None)
            }
            (result, _) => (result, raw),
        };
        match result {
            Ok(answer) => Job::Answer {
                resource,
                answer,
                raw,
                path,
            },
            Err(error) => Job::Failed {
                message: error.to_string(),
                kind: error.kind(),
                resource: Some(resource),
                path,
            },
        }
    }
}

/// The output side: writes records, counts failures, reports them on stderr in the machine
/// formats, and moves the progress bar.
struct Writer<W: Write> {
    out: Output<W>,
    format: Format,
    quiet: bool,
    on_terminal: bool,
    failed: usize,
    bar: indicatif::ProgressBar,
}

impl<W: Write> Writer<W> {
    fn write(&mut self, job: Job<'_>) -> io::Result<()> {
        let record = match &job {
            Job::Answer {
                resource,
                answer,
                raw,
                path,
            } => Record::Answer {
                resource: resource.as_str(),
                answer,
                raw: raw.as_deref(),
                path: *path,
            },
            Job::Failed {
                resource,
                kind,
                message,
                path,
            } => {
                self.failed += 1;
                if self.format != Format::Table && !self.quiet {
                    let what = match (path, resource) {
                        (Some(path), _) => path.display().to_string(),
                        (None, Some(resource)) => resource.as_str().to_owned(),
                        (None, None) => String::new(),
                    };
                    ui::eprint_line(&format!("vt: {what}: {message}"));
                }
                Record::Failed {
                    resource: resource.as_ref().map(Resource::as_str),
                    kind,
                    message,
                    path: *path,
                }
            }
        };
        if self.on_terminal {
            ui::suspend(|| self.out.write(&record))?;
        } else {
            self.out.write(&record)?;
        }
        self.bar.inc(1);
        Ok(())
    }
}
