//! What every lookup command needs before its first request: the key, the output format, and a
//! vt-api client built from the shared flags (`ClientArgs`), the environment and the config.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use vt_api::{ApiKey, Cache, Client, Limits};

use crate::cli::{ClientArgs, Format, Global, TierArg};
use crate::config::{self, Config, KeySource};
use crate::{ui, UsageError};

/// Cached found answers younger than this are used unless `--max-age` says otherwise.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Cached not-found answers are asked again sooner: a sample uploaded after the first look
/// must show up (unless `--max-age` sets one age for all).
const DEFAULT_MAX_AGE_NOT_FOUND: Duration = Duration::from_secs(60 * 60);
/// The cache file in the cache dir. It holds every endpoint's answers now; the name of the
/// first one is kept so that an upgrade keeps the file's quota ledger (its old answers, not
/// scoped to a service, are discarded when it is opened).
pub(crate) const CACHE_FILE: &str = "file-report.sqlite3";

/// The key and config, read before the inputs (so that an input holding the key is refused
/// without being quoted).
pub(crate) struct Credentials {
    pub(crate) config: Config,
    pub(crate) key: Option<(ApiKey, KeySource)>,
}

impl Credentials {
    pub(crate) fn load(args: &ClientArgs) -> Result<Credentials> {
        if args.key_in_argv.is_some() {
            return Err(UsageError::new(
                "a key on the command line (-k/--apikey) is seen by every user of this machine \
                 (ps, shell history), so vt refuses it (not quoted here); instead: \
                 `vt init` (stored mode 0600), VT_API_KEY in the environment, or \
                 --api-key-file FILE (mode 0600)",
            )
            .into());
        }
        let config = config::load_config()?;
        let key = config::find_key(args.api_key_file.as_deref(), &config)?;
        Ok(Credentials { config, key })
    }

    /// The key, for the validation of inputs.
    pub(crate) fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref().map(|(key, _)| key)
    }
}

/// A client ready to send, and how to show what it brings back.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) format: Format,
    pub(crate) stdout_terminal: bool,
    pub(crate) limits: Limits,
    pub(crate) offline: bool,
    /// `--fail-on-positives`.
    pub(crate) fail_on_positives: Option<u32>,
    /// `--include` / `--exclude`.
    pub(crate) fields: Option<crate::fields::FieldFilter>,
}

impl Session {
    /// Builds the client; `private_feature` names a flag of the command that needs a private
    /// key (warned about on a public tier).
    pub(crate) fn start(
        args: &ClientArgs,
        global: &Global,
        credentials: Credentials,
        private_feature: Option<&str>,
    ) -> Result<Session> {
        let Credentials { config, key } = credentials;
        let stdout_terminal = io::stdout().is_terminal();
        let format = args.format.unwrap_or(if stdout_terminal {
            Format::Table
        } else {
            Format::Jsonl
        });
        let tier = args.tier.or(config.tier).unwrap_or(TierArg::Public);
        let (base_url, base_url_source) = match &args.base_url {
            Some(url) => (url.clone(), "--base-url"),
            None => match std::env::var("VT_BASE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty())
            {
                Some(url) => (url, "VT_BASE_URL"),
                None => (vt_api::DEFAULT_BASE_URL.to_owned(), "the default"),
            },
        };
        // Before anything is sent: a URL vt cannot speak to would fail every record alike.
        config::check_base_url(&base_url, base_url_source).map_err(UsageError::new)?;
        let key = match key {
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
        if let Some(feature) = private_feature {
            if tier == TierArg::Public && !global.quiet {
                ui::eprint_line(&format!(
                    "vt: warning: {feature} needs a private key (the service answers 403 to a \
                     public one); use --tier private if yours is"
                ));
            }
        }

        let mut limits = tier.tier().limits();
        if let Some(rate) = args.rate {
            limits = limits.with_per_minute(rate.0);
        }
        if let Some(n) = args.daily_quota {
            limits = limits.with_per_day(Some(n));
        }
        if let Some(unit) = args.quota_unit {
            limits = limits.with_quota_unit(unit.unit());
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
            // A VT_BASE_URL left over from testing must not pass unnoticed.
            if base_url_source != "the default" {
                ui::eprint_line(&format!(
                    "vt: talking to {base_url} (from {base_url_source}), not {}",
                    vt_api::DEFAULT_BASE_URL
                ));
            }
        }
        let mut builder = Client::builder(key)
            .base_url(base_url)
            .tier(tier.tier())
            .limits(limits)
            .retry_policy(retry)
            .transport(Arc::new(transport))
            .observer(ui::observer(global.quiet, global.verbose));
        #[cfg(feature = "testing-clock")]
        {
            builder = crate::clock::apply(builder);
        }
        // The cache file is also the quota ledger: every vt on this machine using the key
        // paces against one count, with or without `--no-cache` (which only keeps answers out
        // of it). With neither answers to keep nor a quota to count, the file is not opened.
        // Offline sends nothing and writes nothing: the file is only read (it may be one this
        // user cannot write), and no quota is counted.
        let open = || match args.offline {
            true => open_cache_read_only(),
            false => open_cache(),
        };
        match (!args.no_cache || limits.is_paced()).then(open) {
            None => {}
            Some(Ok(cache)) => {
                let cache = Arc::new(cache);
                if !args.no_cache {
                    let (max_age, max_age_not_found) = match (args.max_age, args.offline) {
                        (Some(age), _) => (Some(age), Some(age)),
                        (None, true) => (None, None),
                        (None, false) => (Some(DEFAULT_MAX_AGE), Some(DEFAULT_MAX_AGE_NOT_FOUND)),
                    };
                    builder = builder
                        .cache(cache.clone(), max_age)
                        .cache_max_age_not_found(max_age_not_found)
                        .offline(args.offline);
                }
                if !args.offline {
                    builder = builder.quota_ledger(cache);
                }
            }
            Some(Err(error)) if args.offline => {
                return Err(error.context("--offline needs the cache"))
            }
            Some(Err(error)) if args.no_cache => {
                tracing::warn!(
                    "quota count not shared with other vt runs (the cache file is unusable): \
                     {error:#}"
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
            base_url = client.base_url(),
            tier = tier.as_str(),
            batch_size = limits.batch_size,
            per_minute = ?limits.per_minute,
            concurrency = limits.concurrency,
            cache = !args.no_cache,
            offline = args.offline,
            "client ready"
        );
        Ok(Session {
            client,
            format,
            stdout_terminal,
            limits,
            offline: args.offline,
            fail_on_positives: args.fail_on_positives,
            fields: crate::fields::FieldFilter::new(&args.include, &args.exclude),
        })
    }

    /// Warns when a run of `lookups` (`per_request` a request) may need more requests than the
    /// daily quota has left (a bound: cached answers cost none), and says when the quota frees.
    pub(crate) async fn warn_if_over_daily_quota(
        &self,
        lookups: usize,
        per_request: usize,
        global: &Global,
    ) {
        if self.offline || global.quiet {
            return;
        }
        let status = self.client.quota_status().await;
        let Some(left) = status.left_today() else {
            return;
        };
        let needed = lookups.div_ceil(per_request.max(1));
        if needed <= left as usize {
            return;
        }
        let frees = status.next_release_at.map_or_else(
            || "as requests age past 24 hours".to_owned(),
            |at| format!("from {}", vt_api::format_utc(at)),
        );
        ui::eprint_line(&format!(
            "vt: warning: this run may need up to {needed} requests, and {left} of the daily \
             quota of {} are left; past that it waits for the quota, which frees {frees} (stop \
             it any time: a new run resumes from the answers received)",
            status.per_day.unwrap_or(0)
        ));
    }
}

/// The cache file, in a folder only its owner can enter.
/// The cache file for reading only; none yet is an empty cache (every lookup a miss), not
/// a file created.
fn open_cache_read_only() -> Result<Cache> {
    let path = config::cache_dir()?.join(CACHE_FILE);
    if !path.exists() {
        return Ok(Cache::in_memory()?);
    }
    Ok(Cache::open_read_only(path)?)
}

fn open_cache() -> Result<Cache> {
    let dir = config::cache_dir()?;
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        folder.mode(0o700);
    }
    folder
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(Cache::open(dir.join(CACHE_FILE))?)
}
