//! `vt-gateway`: the team's VirusTotal API v2 gateway (see `docs/gateway.md`).
//!
//! `serve` prints exactly one line on stdout, `listening on http://HOST:PORT/vtapi/v2/`, once
//! bound, and serves until SIGINT or SIGTERM; logs go to stderr. `token add` prints the new
//! token alone on stdout, once.

/// mimalloc, as `vt`'s: each request allocates and frees small objects (parameters, queries,
/// answers' handles) across the runtime's workers, which the system allocator handles worst.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use vt_gateway::{Allow, Gateway, Store};

#[derive(Parser)]
#[command(
    name = "vt-gateway",
    version,
    about = "One VirusTotal API v2 key, quota and cache for a whole team",
    long_about = "One VirusTotal API v2 key, quota and cache for a whole team.\n\n\
        Team members point their v2 clients (vt, vt-cli, Python virustotal-api, scripts) at the \
        gateway's URL and use their own token as the API key. The gateway holds the real key, \
        answers lookups from one shared cache, merges lookups from different clients into \
        upstream batches, paces the key so that the service never answers 204, and keeps an \
        audit log. See docs/gateway.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the v2 API to the team, in front of the real service.
    Serve(ServeArgs),
    /// Makes, revokes and lists team tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Shows who asked what, and when.
    Audit(AuditArgs),
    /// Forgets old audit entries and old answers, to bound the store (from cron, say).
    Prune(PruneArgs),
}

#[derive(clap::Args)]
struct StoreArg {
    /// Where tokens, answers, the quota ledger and the audit log live: sqlite:PATH or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, encrypted with
    /// ?sslmode=verify-full[&sslrootcert=CA.pem] [default: a SQLite file in the user's data
    /// folder]
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where to listen; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The service's v2 base URL.
    #[arg(long, value_name = "URL", default_value = vt_api::DEFAULT_BASE_URL)]
    upstream: String,
    /// A file holding the real API key (the key never goes on the command line).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// The key's tier: its quota and batch size.
    #[arg(long, value_enum, default_value_t = TierArg::Public)]
    tier: TierArg,
    #[command(flatten)]
    store: StoreArg,
    /// How long a lookup waits for others to share its upstream batch.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = duration)]
    window: Duration,
    /// How long a found answer is served from the cache.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    max_age: Duration,
    /// How long any other final answer (not found) is served from the cache.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    max_age_not_found: Duration,
    /// A request that would wait longer than this for the key's quota is answered 204 (or
    /// from a stale cache entry) at once.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    max_quota_wait: Duration,
    /// Recent answers kept in memory in front of the store, in MiB (0 for none): a hit found
    /// there costs no store query.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_cache: usize,
    /// Overrides the tier's requests per minute.
    #[arg(long, value_name = "N")]
    per_minute: Option<u32>,
    /// Overrides the tier's requests per day.
    #[arg(long, value_name = "N")]
    per_day: Option<u32>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log lines as text or as JSON objects (one a line), on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The least severe log lines written: `debug` adds a line for every request answered
    /// (the audit log, in the store, records every request at any level).
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
}

#[derive(Clone, Copy, ValueEnum)]
enum TierArg {
    Public,
    Private,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for tracing_subscriber::filter::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::ERROR,
            LogLevel::Warn => Self::WARN,
            LogLevel::Info => Self::INFO,
            LogLevel::Debug => Self::DEBUG,
            LogLevel::Trace => Self::TRACE,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Makes a token and prints it, once: hand it to its holder.
    Add {
        /// Who holds it (a person, a playbook, a script).
        name: String,
        /// What it may do beyond lookups: any of upload, allinfo, download.
        #[arg(long, value_name = "RIGHTS", default_value = "")]
        allow: String,
        /// Requests a day it may make.
        #[arg(long, value_name = "N")]
        per_day: Option<u32>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Revokes a token: every gateway on the store refuses it within a second.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Lists the tokens (never the tokens themselves: the store keeps only their hashes).
    List {
        #[command(flatten)]
        store: StoreArg,
    },
}

#[derive(clap::Args)]
struct AuditArgs {
    /// How far back, e.g. 1h, 1d, 7d.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = duration)]
    since: Duration,
    /// One token's requests only.
    #[arg(long, value_name = "NAME")]
    token: Option<String>,
    /// Only the requests that asked for this resource (a hash, URL, domain or IP; case
    /// aside): who looked this file up, and when.
    #[arg(long, value_name = "TEXT")]
    resource: Option<String>,
    /// A table, or JSON lines for scripts.
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    format: AuditFormat,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("what").required(true).multiple(true)
        .args(["audit_older_than", "answers_older_than"])
))]
struct PruneArgs {
    /// Forget the audit entries older than this, e.g. 90d (whole pages: an entry may outlive
    /// it by a fraction of a second). The requests of the last day stay counted for the daily
    /// limits whatever this says.
    #[arg(long, value_name = "DURATION", value_parser = age)]
    audit_older_than: Option<Age>,
    /// Forget the answers fetched longer ago than this, e.g. 30d: they are then neither
    /// served fresh nor kept to serve stale when the upstream fails.
    #[arg(long, value_name = "DURATION", value_parser = age)]
    answers_older_than: Option<Age>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuditFormat {
    Table,
    Jsonl,
}

fn duration(text: &str) -> Result<Duration, String> {
    vt_api::parse_duration(text)
}

/// A duration, and how the user wrote it (to say it back).
#[derive(Clone)]
struct Age {
    text: String,
    duration: Duration,
}

fn age(text: &str) -> Result<Age, String> {
    Ok(Age {
        text: text.trim().to_owned(),
        duration: duration(text)?,
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&anyhow::anyhow!(error).context("cannot start the async runtime"));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr)]
fn report(error: &anyhow::Error) {
    eprintln!("vt-gateway: error: {error:#}");
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Token(command) => token(command).await,
        Command::Audit(args) => audit(args).await,
        Command::Prune(args) => prune(args).await,
    }
}

async fn open_store(arg: &StoreArg) -> Result<Store> {
    let url = match &arg.store {
        Some(url) => url.clone(),
        None => {
            let folder = dirs::data_dir()
                .context("no data folder for the default store: give --store sqlite:PATH")?
                .join("vt-gateway");
            format!("sqlite:{}", folder.join("gateway.sqlite").display())
        }
    };
    Ok(Store::open(&url).await?)
}

async fn serve(args: ServeArgs) -> Result<()> {
    init_logs(args.log_format, args.log_level);
    let key = std::fs::read_to_string(&args.key_file)
        .with_context(|| format!("cannot read the key file {}", args.key_file.display()))?;
    if key.trim().is_empty() {
        bail!("the key file {} is empty", args.key_file.display());
    }
    let store = open_store(&args.store).await?;
    let tier = match args.tier {
        TierArg::Public => vt_api::Tier::Public,
        TierArg::Private => vt_api::Tier::Private,
    };
    let mut builder = Gateway::builder(&args.upstream, vt_api::ApiKey::new(key), store)
        .listen(args.listen)
        .tier(tier)
        .window(args.window)
        .max_age(args.max_age, args.max_age_not_found)
        .max_quota_wait(args.max_quota_wait)
        .memory_cache(args.memory_cache.saturating_mul(1 << 20))
        .per_minute(args.per_minute)
        .per_day(args.per_day);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        builder = builder.tls(cert, key);
    }
    let running = builder.start().await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", running.url())?;
        stdout.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing the requests in flight");
    running.shutdown().await;
    Ok(())
}

/// The benchmark (benches/throughput.rs) installs the same subscriber: keep them alike.
fn init_logs(format: LogFormat, level: LogLevel) {
    use std::io::IsTerminal as _;
    // Colours on a terminal only, and not with NO_COLOR: a log file or journald gets text.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_max_level(tracing_subscriber::filter::LevelFilter::from(level));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn token(command: TokenCommand) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        TokenCommand::Add {
            name,
            allow,
            per_day,
            store,
        } => {
            let allow: Allow = allow.parse()?;
            let store = open_store(&store).await?;
            let secret = store.add_token(&name, allow, per_day).await?;
            writeln!(stdout, "{secret}")?;
        }
        TokenCommand::Revoke { name, store } => {
            open_store(&store).await?.revoke_token(&name).await?;
        }
        TokenCommand::List { store } => {
            let tokens = open_store(&store).await?.tokens().await?;
            writeln!(
                stdout,
                "{:<24} {:<24} {:>8}  {:<20} REVOKED",
                "NAME", "ALLOW", "PER_DAY", "CREATED"
            )?;
            for info in tokens {
                let per_day = info
                    .token
                    .per_day
                    .map_or_else(|| "-".to_owned(), |n| n.to_string());
                let revoked = info.revoked_at_ms.map_or_else(|| "-".to_owned(), utc);
                writeln!(
                    stdout,
                    "{:<24} {:<24} {:>8}  {:<20} {revoked}",
                    info.token.name,
                    or_dash(&info.token.allow.to_string()),
                    per_day,
                    utc(info.created_at_ms),
                )?;
            }
        }
    }
    Ok(())
}

async fn audit(args: AuditArgs) -> Result<()> {
    let store = open_store(&args.store).await?;
    let since = SystemTime::now()
        .checked_sub(args.since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let entries = store.audit(since, args.token.as_deref()).await?;
    let wanted = args.resource.as_deref().map(str::trim);
    let entries = entries
        .iter()
        .map(|e| (e, e.each_resource()))
        .filter(|(_, asked)| {
            wanted.is_none_or(|wanted| asked.iter().any(|r| r.eq_ignore_ascii_case(wanted)))
        });
    let mut stdout = std::io::stdout().lock();
    match args.format {
        AuditFormat::Jsonl => {
            for (e, resources) in entries {
                let line = serde_json::json!({
                    "at": utc(e.at_ms),
                    "token": e.token,
                    "endpoint": e.endpoint,
                    "resources": resources,
                    "outcome": e.outcome,
                    "counted": e.counted,
                });
                writeln!(stdout, "{line}")?;
            }
        }
        AuditFormat::Table => {
            writeln!(
                stdout,
                "{:<23} {:<16} {:<18} {:<9} RESOURCES",
                "AT (UTC)", "TOKEN", "ENDPOINT", "OUTCOME"
            )?;
            for (e, resources) in entries {
                let resources = resources.join(",");
                writeln!(
                    stdout,
                    "{:<23} {:<16} {:<18} {:<9} {}",
                    utc(e.at_ms),
                    e.token,
                    e.endpoint,
                    e.outcome,
                    resources.escape_debug()
                )?;
            }
        }
    }
    Ok(())
}

async fn prune(args: PruneArgs) -> Result<()> {
    let store = open_store(&args.store).await?;
    let before = |age: &Age| {
        SystemTime::now()
            .checked_sub(age.duration)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    let pruned = store
        .prune(
            args.audit_older_than.as_ref().map(before),
            args.answers_older_than.as_ref().map(before),
        )
        .await?;
    let mut said = Vec::new();
    if let Some(age) = &args.audit_older_than {
        let pages = if pruned.audit_pages == 1 {
            "page"
        } else {
            "pages"
        };
        said.push(format!(
            "{} audit entries ({} {pages}) older than {}",
            pruned.audit_entries, pruned.audit_pages, age.text
        ));
    }
    if let Some(age) = &args.answers_older_than {
        said.push(format!(
            "{} answers fetched more than {} ago",
            pruned.answers, age.text
        ));
    }
    writeln!(std::io::stdout().lock(), "forgot {}", said.join("; "))?;
    Ok(())
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() {
        "-"
    } else {
        text
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
fn utc(at_ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    vt_api::format_utc(at).trim_end_matches(" UTC").to_owned()
}
