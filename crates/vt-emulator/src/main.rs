//! `vt-emulator`: serve the VirusTotal API v2 (`/file/report`, `/url/scan`, `/url/report`,
//! `/domain/report`, `/ip-address/report`, the file workflow, `/file/search`, the comments,
//! ...) on a local address.
//!
//! Prints one line, `listening on http://HOST:PORT/vtapi/v2/` (`https://` with `--tls-cert`),
//! once bound, then serves until SIGINT or SIGTERM. See `docs/emulator.md`.
// Printing the address line and the start-up error is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use vt_emulator::{Dataset, Emulator, Fault, KeySpec, TlsConfig};

/// A local server that speaks the VirusTotal API v2 wire protocol (file/report, url/scan,
/// url/report, domain/report, ip-address/report, the file workflow, file/search, comments).
#[derive(Debug, Parser)]
#[command(name = "vt-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// A JSON file or a folder of them: one report or an array of reports each (repeatable).
    /// A folder may have the sub-folders url/, domain/, ip-address/, behaviour/ and
    /// clusters/. Without it, a small
    /// bundled dataset is served.
    #[arg(long, value_name = "PATH")]
    data: Vec<PathBuf>,
    /// An accepted key and its tier, private by default (repeatable). Without any, every
    /// non-empty key is accepted as private.
    #[arg(long, value_name = "KEY[:public|:private]")]
    key: Vec<KeySpec>,
    /// Requests per rolling minute of a public key.
    #[arg(long, value_name = "N", default_value_t = 4)]
    public_per_minute: u32,
    /// Requests per rolling day of a public key.
    #[arg(long, value_name = "N", default_value_t = 500)]
    public_per_day: u32,
    /// Most resources in one request of a public key.
    #[arg(long, value_name = "N", default_value_t = 4)]
    batch_limit_public: usize,
    /// Most resources in one request of a private key.
    #[arg(long, value_name = "N", default_value_t = 25)]
    batch_limit_private: usize,
    /// A resource answered as queued (response_code -2) (repeatable).
    #[arg(long, value_name = "RESOURCE")]
    queued: Vec<String>,
    /// Inject a fault with a probability: 500, reset, slow, truncate or 204 (repeatable).
    #[arg(long, value_name = "KIND:PROBABILITY")]
    fault: Vec<Fault>,
    /// Seed of the fault draws, to replay a run (default: from the time of day).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// What the quotas count: each request, or each resource of a request (a batch of 4
    /// costs 4).
    #[arg(long, value_name = "UNIT", default_value = "request")]
    quota_unit: vt_emulator::QuotaUnit,
    /// Seconds until a submitted URL's or file's report is finished, and a --queued one's
    /// (0: at once; "never": they stay queued).
    #[arg(long, value_name = "SECONDS|never", default_value = "2", value_parser = parse_delay)]
    analysis_delay: Duration,
    /// A folder of files served by file/download (named anything: they are hashed);
    /// `<name>.pcap` beside a file is its network traffic (repeatable).
    #[arg(long, value_name = "DIR")]
    samples: Vec<PathBuf>,
    /// Answer batches in a shuffled order (drawn from --seed) rather than the request's, so
    /// that a client must match items by their resource.
    #[arg(long)]
    shuffle_batches: bool,
    /// Most connections served at once; more wait to be accepted until one closes.
    #[arg(long, value_name = "N", default_value_t = vt_emulator::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a request's head may take to arrive, and a kept-alive connection may stay
    /// idle, before the connection is closed.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    header_timeout: Duration,
    /// Seconds a request may take from its head to its answer (its body included) before the
    /// connection is closed.
    #[arg(long, value_name = "SECONDS", default_value = "120", value_parser = parse_seconds)]
    request_timeout: Duration,
    /// Print one line per request on stderr: method, endpoint, how many resources, status
    /// (never the key nor any other parameter's value).
    #[arg(long)]
    log_requests: bool,
    /// Serve HTTPS with this certificate chain (PEM: the server's certificate first); needs
    /// --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// `never` (no analysis ever finishes), or [`parse_seconds`].
fn parse_delay(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "never" => Ok(Duration::MAX),
        _ => parse_seconds(text),
    }
}

/// A non-negative number of seconds, fractions allowed (`0`, `2`, `0.5`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?}: a number of seconds from 0 on"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vt-emulator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vt-emulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listen = resolve(&args.listen).await?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let mut builder = Emulator::builder()
        .listen(listen)
        .public_per_minute(args.public_per_minute)
        .public_per_day(args.public_per_day)
        .batch_limit_public(args.batch_limit_public)
        .batch_limit_private(args.batch_limit_private)
        .analysis_delay(args.analysis_delay)
        .quota_unit(args.quota_unit)
        .shuffle_batches(args.shuffle_batches)
        .max_connections(args.max_connections)
        .header_timeout(args.header_timeout)
        .request_timeout(args.request_timeout)
        .seed(seed);
    builder = builder.dataset(load(&args.data).context("cannot load the data")?);
    if args.log_requests {
        builder = builder.request_log(|line| eprintln!("vt-emulator: {line}"));
    }
    for folder in args.samples {
        builder = builder.samples_path(folder);
    }
    for key in args.key {
        builder = builder.key(key);
    }
    for resource in args.queued {
        builder = builder.queued(resource);
    }
    for fault in args.fault {
        builder = builder.fault(fault);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let tls = TlsConfig::from_pem_files(cert, key)
            .context("cannot use the TLS certificate and key")?;
        builder = builder.tls(tls);
    }
    let emulator = builder.build().context("cannot load the data")?;
    // Watch the signals before saying we listen: a script may send one right after the line.
    let signals = Signals::watch()?;
    let running = emulator.start().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", running.url())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    drop(stdout);
    signals.wait().await;
    running.shutdown().await;
    Ok(())
}

/// The `--data` paths (the bundled dataset without any), saying on stderr what each yielded,
/// what was passed over, and what is served in all.
fn load(paths: &[PathBuf]) -> Result<Dataset, vt_emulator::Error> {
    if paths.is_empty() {
        let data = Dataset::bundled();
        eprintln!(
            "vt-emulator: serving the bundled dataset: {}",
            counts(&data)
        );
        return Ok(data);
    }
    let mut data = Dataset::new();
    for path in paths {
        let noted = data.notes().len();
        let added = data.add_path(path)?;
        for note in &data.notes()[noted..] {
            eprintln!("vt-emulator: {note}");
        }
        if added == 0 {
            eprintln!(
                "vt-emulator: warning: --data {} yielded no report: a folder is read for its \
                 *.json files and the sub-folders url/, domain/, ip-address/, behaviour/ and \
                 clusters/",
                path.display()
            );
        }
    }
    eprintln!("vt-emulator: loaded {}", counts(&data));
    Ok(data)
}

/// `4 file reports, 3 URL reports, ...`.
fn counts(data: &Dataset) -> String {
    format!(
        "{} file reports, {} URL reports, {} domains, {} IP addresses, {} behaviour answers, \
         {} cluster days",
        data.len(),
        data.url_reports(),
        data.domains(),
        data.ip_addresses(),
        data.behaviours(),
        data.cluster_days()
    )
}

/// `HOST:PORT`, where HOST may be a name such as `localhost`.
async fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = listen.parse() {
        return Ok(addr);
    }
    tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("invalid --listen address {listen:?}: expected HOST:PORT"))?
        .next()
        .with_context(|| format!("--listen {listen:?} resolves to no address"))
}

/// SIGINT and SIGTERM, watched from creation on.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn watch() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn watch() -> anyhow::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
