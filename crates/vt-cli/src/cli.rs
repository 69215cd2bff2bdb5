//! The command line: commands, flags and their parsers. Names and flags are a contract.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// VirusTotal API v2 lookups for analysts and scripts.
#[derive(Debug, Parser)]
#[command(
    name = "vt",
    version,
    about = "VirusTotal API v2 lookups for analysts and scripts",
    after_help = "Exit status: 0 every resource answered (found, not found or queued), \
                  1 some lookups failed, 2 usage or input error (nothing was sent)."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: Global,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Nothing on stderr but fatal errors: no progress, warnings or logs
    #[arg(
        short,
        long,
        visible_short_alias = 's',
        visible_alias = "silent",
        global = true,
        conflicts_with = "verbose",
        display_order = 100
    )]
    pub(crate) quiet: bool,
    /// Log requests, retries and pacing on stderr (-vv: everything); never the key
    #[arg(short, long, global = true, action = ArgAction::Count, display_order = 101)]
    pub(crate) verbose: u8,
    /// Colours in the table and logs
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = ColorChoice::Auto,
        value_name = "WHEN",
        display_order = 102
    )]
    pub(crate) color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// When the output is a terminal and NO_COLOR is not set
    Auto,
    /// Always, even in a pipe
    Always,
    /// Never
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// File lookups
    File {
        #[command(subcommand)]
        command: FileCommand,
    },
    /// URL lookups and scans
    Url {
        #[command(subcommand)]
        command: UrlCommand,
    },
    /// Domain lookups: resolutions, detected URLs and samples, categories, whois
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// IPv4 address lookups: owner, ASN, country, resolutions, detections
    Ip {
        #[command(subcommand)]
        command: IpCommand,
    },
    /// Comments on files and URLs
    Comment {
        #[command(subcommand)]
        command: CommentCommand,
    },
    /// What the cache of answers holds, and bounding it
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Ask for the API key and store it in the user's config dir (mode 0600)
    Init(InitArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FileCommand {
    /// The antivirus report of files, by MD5, SHA-1, SHA-256 or scan_id
    // Boxed: its many flags would make every `Command` as large as it.
    Report(Box<ReportArgs>),
    /// Upload files for analysis: each is hashed and looked up first, and only the files
    /// the service does not know are uploaded; prints their reports like `file report`
    Scan(Box<ScanArgs>),
    /// Ask for new analyses of files the service has (private key); --delete cancels the
    /// scheduled ones
    Rescan(Box<RescanArgs>),
    /// Download files by hash into a folder, each named by its hash (private key)
    Download(Box<DownloadArgs>),
    /// The network traffic of a file's sandbox run, as a pcap file (private key)
    Traffic(Box<TrafficArgs>),
    /// The sandbox report of a file: processes, files, mutexes, network (private key)
    Behaviour(Box<BehaviourArgs>),
    /// Search files (private key): one SHA-256 a record, page after page
    Search(Box<SearchArgs>),
    /// The clusters of similar files seen on a day (private key)
    Clusters(Box<ClustersArgs>),
}

#[derive(Debug, Args)]
pub(crate) struct DownloadArgs {
    /// md5 / sha1 / sha256
    #[arg(value_name = "HASH")]
    pub(crate) hashes: Vec<String>,
    /// One hash per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// The folder to save into (it must exist); a file there with the same name is replaced
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TrafficArgs {
    /// md5 / sha1 / sha256
    #[arg(value_name = "HASH")]
    pub(crate) hash: String,
    /// The pcap file to write (replaced if it exists)
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BehaviourArgs {
    /// md5 / sha1 / sha256
    #[arg(value_name = "HASH")]
    pub(crate) hash: String,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The service's search language, e.g. "type:peexe positives:10+ fs:2026-12-01+"
    #[arg(value_name = "QUERY")]
    pub(crate) query: String,
    /// Stop after this many files (each page of 300 is one request)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) limit: Option<u64>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ClustersArgs {
    /// The day, YYYY-MM-DD
    #[arg(value_name = "DATE")]
    pub(crate) date: String,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CommentCommand {
    /// The comments on files or URLs, newest first, 25 at a time (private key)
    Get(Box<CommentGetArgs>),
    /// Post a comment on a file or URL
    Put(Box<CommentPutArgs>),
}

#[derive(Debug, Args)]
pub(crate) struct RescanArgs {
    /// md5 / sha1 / sha256
    #[arg(value_name = "RESOURCE")]
    pub(crate) resources: Vec<String>,
    /// One resource per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// When to rescan, UTC, as YYYYmmddHHMMSS [default: now]
    #[arg(long, value_name = "WHEN", value_parser = parse_moment)]
    pub(crate) date: Option<String>,
    /// Rescan again every DAYS days
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) period: Option<u32>,
    /// How many times, with --period
    #[arg(long, value_name = "N", requires = "period", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) repeat: Option<u32>,
    /// The service posts each new report to this http(s) URL
    #[arg(long, value_name = "URL", value_parser = parse_notify_url)]
    pub(crate) notify_url: Option<String>,
    /// With --notify-url: only when the verdict changed
    #[arg(long, requires = "notify_url")]
    pub(crate) notify_changes_only: bool,
    /// Cancel the scheduled rescans of these files instead
    #[arg(long, conflicts_with_all = ["date", "period", "repeat", "notify_url"])]
    pub(crate) delete: bool,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CommentGetArgs {
    /// md5 / sha1 / sha256 / scan_id of a file, or a URL
    #[arg(value_name = "RESOURCE")]
    pub(crate) resources: Vec<String>,
    /// One resource per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Only comments older than this (UTC, YYYYmmddHHMMSS: the date of the last comment
    /// shown, for the next 25)
    #[arg(long, value_name = "WHEN", value_parser = parse_moment)]
    pub(crate) before: Option<String>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CommentPutArgs {
    /// md5 / sha1 / sha256 / scan_id of a file, or a URL
    #[arg(value_name = "RESOURCE")]
    pub(crate) resource: String,
    /// The comment (at most 4096 bytes; "-" reads it from stdin)
    #[arg(value_name = "TEXT")]
    pub(crate) text: String,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// A moment as the service writes it in comments and rescans: `YYYYmmddHHMMSS`, UTC, a real
/// date and time.
pub(crate) fn parse_moment(text: &str) -> Result<String, String> {
    let text = text.trim();
    let refuse = || format!("{text:?}: expected YYYYmmddHHMMSS (UTC), e.g. 20261204153000");
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    let day = format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..8]);
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(99);
    let time_ok = number(8..10) < 24 && number(10..12) < 60 && number(12..14) < 60;
    match vt_api::ClusterDate::parse(&day) {
        Ok(_) if time_ok => Ok(text.to_owned()),
        _ => Err(refuse()),
    }
}

/// An `http://` or `https://` URL for the service to post to.
fn parse_notify_url(text: &str) -> Result<String, String> {
    let url = vt_api::Url::parse(text).map_err(|e| e.to_string())?;
    let lower = url.as_ref().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(url.as_ref().to_owned())
    } else {
        Err(format!(
            "{text:?}: give the whole URL, with http:// or https://"
        ))
    }
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files, or folders (walked recursively; links inside are not followed)
    #[arg(value_name = "PATH", required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Wait for the analyses of the uploaded files (polled in batches) and print their
    /// finished reports [default when given: 10m]
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "10m",
        value_parser = parse_wait_queued
    )]
    pub(crate) wait: Option<Duration>,
    /// Upload every file, even those the service already knows
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// How many answers, how old, how big, by service and endpoint
    Stats,
    /// Forget the answers fetched more than DURATION ago, and shrink the file
    Prune {
        /// e.g. 30d, 12h
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: Duration,
    },
    /// Forget every answer (the quota count that runs share is kept), and shrink the file
    Clear,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UrlCommand {
    /// The scan reports of URLs (the engines' verdicts)
    Report(Box<UrlReportArgs>),
    /// Submit URLs for scanning (their reports come later: `vt url report`)
    Scan(Box<UrlScanArgs>),
}

#[derive(Debug, Subcommand)]
pub(crate) enum DomainCommand {
    /// What the service knows of domains
    Report(Box<DomainArgs>),
}

#[derive(Debug, Subcommand)]
pub(crate) enum IpCommand {
    /// What the service knows of IPv4 addresses
    Report(Box<IpArgs>),
}

#[derive(Debug, Args)]
pub(crate) struct UrlReportArgs {
    /// URLs, as you would type them (sent as given, trimmed; one a line in --input files)
    #[arg(value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// One URL per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Submit URLs the service does not know for scanning (their answer says "queued")
    #[arg(long)]
    pub(crate) scan: bool,
    /// Private-API details (needs a private key)
    #[arg(long)]
    pub(crate) allinfo: bool,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UrlScanArgs {
    /// URLs to submit
    #[arg(value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// One URL per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DomainArgs {
    /// Domain names (example.com; no scheme or path; IDNA accepted)
    #[arg(value_name = "DOMAIN")]
    pub(crate) domains: Vec<String>,
    /// One domain per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IpArgs {
    /// IPv4 addresses (dotted quads; IPv6 and networks are refused)
    #[arg(value_name = "IP")]
    pub(crate) ips: Vec<String>,
    /// One address per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The key's tier, stored with it (default for later `--tier`)
    #[arg(long, value_enum, default_value_t = TierArg::Public)]
    pub(crate) tier: TierArg,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// md5 / sha1 / sha256 / scan_id
    #[arg(value_name = "RESOURCE")]
    pub(crate) resources: Vec<String>,
    /// One resource per line; "-" is stdin; blank lines and "#" comments skipped
    #[arg(short, long = "input", visible_short_alias = 'f', value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Hash these files (folders recursively) and look up their SHA-256
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub(crate) hash: Vec<PathBuf>,
    /// Follow symbolic links found inside --hash folders (a link may lead to any file of the
    /// machine); links named on the command line are always followed
    #[arg(long, requires = "hash")]
    pub(crate) follow_links: bool,
    /// Private-API details (needs a private key)
    #[arg(long)]
    pub(crate) allinfo: bool,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// The flags every lookup command shares: output, key, service, pacing, retries, cache.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Output format [default: table on a terminal, jsonl when piped]
    #[arg(long, value_enum, ignore_case = true, value_name = "F")]
    pub(crate) format: Option<Format>,
    /// Refused: a key on the command line is seen by every user of the machine (`ps`,
    /// shell history)
    #[arg(
        short = 'k',
        long = "apikey",
        alias = "api-key",
        value_name = "KEY",
        hide = true
    )]
    pub(crate) key_in_argv: Option<String>,
    #[arg(
        long,
        value_name = "URL",
        help = "The API's base URL [env: VT_BASE_URL] [default: https://www.virustotal.com/vtapi/v2/]"
    )]
    pub(crate) base_url: Option<String>,
    /// Read the key from this file (mode 0600); else env VT_API_KEY, else the `vt init` config
    #[arg(long, value_name = "P")]
    pub(crate) api_key_file: Option<PathBuf>,
    /// Batch size and pacing defaults [default: the `vt init` tier, else public]
    #[arg(long, value_enum, value_name = "T")]
    pub(crate) tier: Option<TierArg>,
    /// Requests a minute ("N", "N/min", or "unlimited") instead of the tier's
    #[arg(long, value_name = "N/min", value_parser = parse_rate)]
    pub(crate) rate: Option<Rate>,
    /// Requests a day the key may make, instead of the tier's (500 public, none private)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) daily_quota: Option<u32>,
    /// What the quota counts: each request (as long-lived v2 clients assume), or each
    /// resource of a batch [default: request; vt slows down by itself if 204s show more]
    #[arg(long, value_enum, value_name = "UNIT")]
    pub(crate) quota_unit: Option<QuotaUnitArg>,
    /// Resources a request instead of the tier's (4 public, 25 private)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) batch_size: Option<u16>,
    /// Requests in flight at once instead of the tier's (1 public, 4 private)
    #[arg(
        long,
        short = 't',
        visible_alias = "threads",
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub(crate) concurrency: Option<u16>,
    /// Deadline of one request, from sending it to the last byte of the answer; a request
    /// past it is cut and retried [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Retries of a request after a 5xx answer, a timeout or a broken connection (400 and
    /// 403 are never retried; 204 quota answers are waited out apart)
    #[arg(
        long,
        value_name = "N",
        default_value_t = vt_api::RetryPolicy::default().max_attempts - 1,
        value_parser = clap::value_parser!(u32).range(0..=1000)
    )]
    pub(crate) retries: u32,
    /// Poll queued resources until they finish or time runs out [default when given: 10m]
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "10m",
        value_parser = parse_wait_queued
    )]
    pub(crate) wait_queued: Option<Duration>,
    /// Do not read or write the cache of answers
    #[arg(long, conflicts_with = "offline")]
    pub(crate) no_cache: bool,
    /// Use cached answers no older than this (e.g. 30m, 12h, 7d) [default: 24h; any age offline]
    #[arg(long, value_name = "DURATION", value_parser = parse_max_age)]
    pub(crate) max_age: Option<Duration>,
    /// Answer from the cache only: send nothing (a miss is a failed record)
    #[arg(long)]
    pub(crate) offline: bool,
    /// Write only these fields of the jsonl/json records: a dotted path, `*` any part of a
    /// key (e.g. scans.*.result). Repeatable
    #[arg(long, value_name = "PATTERN")]
    pub(crate) include: Vec<String>,
    /// Leave these fields out of the jsonl/json records (same patterns). Repeatable
    #[arg(long, value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,
    /// Say bad lines of the lists on stderr and go on, instead of refusing the run
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// The --input lists are CSV with a header: look up this column (a name, or a number
    /// from 1); the other cells become the record's label
    #[arg(long, value_name = "NAME|N", conflicts_with = "extract")]
    pub(crate) column: Option<crate::input::Column>,
    /// Look up every MD5, SHA-1 and SHA-256 found anywhere in the --input text (logs,
    /// reports, e-mails), each labelled with its line
    #[arg(long)]
    pub(crate) extract: bool,
    /// Exit with status 3 when any report has at least N detections (for CI jobs that gate
    /// on a verdict)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) fail_on_positives: Option<u32>,
    /// Also trust the CA certificates in this PEM file (e.g. a TLS-inspecting proxy's)
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Vec<PathBuf>,
}

impl ClientArgs {
    /// How the lists of this command are read.
    pub(crate) fn read_options(&self) -> crate::input::ReadOptions {
        crate::input::ReadOptions {
            count_repeats: self.no_cache,
            skip_invalid: self.skip_invalid,
            extract: self.extract,
            column: self.column.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum QuotaUnitArg {
    Request,
    Resource,
}

impl QuotaUnitArg {
    pub(crate) fn unit(self) -> vt_api::QuotaUnit {
        match self {
            QuotaUnitArg::Request => vt_api::QuotaUnit::Request,
            QuotaUnitArg::Resource => vt_api::QuotaUnit::Resource,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TierArg {
    Public,
    Private,
}

impl TierArg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TierArg::Public => "public",
            TierArg::Private => "private",
        }
    }

    pub(crate) fn tier(self) -> vt_api::Tier {
        match self {
            TierArg::Public => vt_api::Tier::Public,
            TierArg::Private => vt_api::Tier::Private,
        }
    }
}

/// Requests a minute; `None` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate(pub(crate) Option<u32>);

pub(crate) fn parse_rate(text: &str) -> Result<Rate, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("none") {
        return Ok(Rate(None));
    }
    let number = t
        .strip_suffix("/min")
        .or_else(|| t.strip_suffix("/m"))
        .unwrap_or(t)
        .trim();
    match number.parse::<u32>() {
        Ok(0) => Ok(Rate(None)),
        Ok(n) => Ok(Rate(Some(n))),
        Err(_) => Err(format!(
            "{text:?} is not a rate: expected N or N/min (e.g. 4/min), or \"unlimited\""
        )),
    }
}

/// The longest `--timeout`, `--max-age` and `--wait-queued`: a year. Longer is surely a typo,
/// and a clock adding a duration near `u64::MAX` seconds to now overflows (it used to panic).
/// The timeout shares the bound rather than a tighter one: on the scaled clock of vt's tests
/// (`testing-clock`), `--timeout 30d` is a few real seconds.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `--timeout`: a [`parse_duration`] above zero (a request with no time at all could never
/// be answered) and at most [`MAX_DURATION`].
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration_at_most(text, MAX_DURATION, "365 days", "a timeout")? {
        Duration::ZERO => Err(format!(
            "{text:?} is no time at all: a timeout must be above 0"
        )),
        timeout => Ok(timeout),
    }
}

/// `--max-age`: a [`parse_duration`] of at most [`MAX_DURATION`].
pub(crate) fn parse_max_age(text: &str) -> Result<Duration, String> {
    parse_duration_at_most(text, MAX_DURATION, "365 days", "a cached answer's age")
}

/// `--wait-queued`: a [`parse_duration`] of at most [`MAX_DURATION`].
pub(crate) fn parse_wait_queued(text: &str) -> Result<Duration, String> {
    parse_duration_at_most(text, MAX_DURATION, "365 days", "a wait for queued answers")
}

/// A [`parse_duration`] refused past `max` (said `max_text`), naming what it bounds.
fn parse_duration_at_most(
    text: &str,
    max: Duration,
    max_text: &str,
    what: &str,
) -> Result<Duration, String> {
    match parse_duration(text)? {
        duration if duration > max => Err(format!(
            "{text:?} is more than {max_text}, the most {what} may be"
        )),
        duration => Ok(duration),
    }
}

/// Durations as users write them (`90`, `30s`, `1h30m`): one parser for vt and vt-gateway.
pub(crate) use vt_api::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let check = |text: &str, secs: Option<u64>| {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_secs()),
                secs,
                "{text}"
            );
        };
        check("90", Some(90));
        check("30s", Some(30));
        check("10m", Some(600));
        check("1h30m", Some(5400));
        check("7d", Some(604_800));
        check("", None);
        check("10x", None);
        check("m", None);
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn timeouts_are_above_zero_and_the_documented_default_is_the_policy_s() {
        assert_eq!(parse_timeout("1s"), Ok(Duration::from_secs(1)));
        assert!(parse_timeout("0").unwrap_err().contains("\"0\""));
        assert!(parse_timeout("0s").is_err());
        use clap::CommandFactory;
        let help = Cli::command()
            .find_subcommand_mut("file")
            .and_then(|file| file.find_subcommand_mut("report"))
            .map(|report| report.render_long_help().to_string())
            .unwrap_or_default();
        let default = vt_api::RetryPolicy::default().request_timeout;
        assert_eq!(parse_timeout("30s"), Ok(default), "the help says 30s");
        assert!(help.contains("[default: 30s]"), "{help}");
        assert!(help.contains("--retries <N>"), "{help}");
    }

    #[test]
    fn durations_past_their_bound_or_past_u64_are_refused_not_saturated() {
        for text in [
            "18446744073709551615s",
            "18446744073709551616",
            "99999999999999999999s",
            "18446744073709551615d",
            "213503982334601d",
            "9223372036854775807s9223372036854775807s1s",
        ] {
            assert!(
                parse_duration(text).is_err() || parse_max_age(text).is_err(),
                "{text}"
            );
            assert!(parse_wait_queued(text).is_err(), "{text}");
            assert!(parse_timeout(text).is_err(), "{text}");
        }
        assert!(parse_duration("99999999999999999999s")
            .unwrap_err()
            .contains("too long a duration"));
        assert!(parse_duration("18446744073709551615s1s")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(parse_timeout("365d"), Ok(MAX_DURATION));
        assert!(parse_timeout("365d1ms")
            .unwrap_err()
            .contains("more than 365 days"));
        assert_eq!(parse_max_age("365d"), Ok(MAX_DURATION));
        assert_eq!(parse_wait_queued("8760h"), Ok(MAX_DURATION));
        assert!(parse_max_age("366d")
            .unwrap_err()
            .contains("more than 365 days"));
        assert!(parse_wait_queued("366d")
            .unwrap_err()
            .contains("more than 365 days"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("4/min"), Ok(Rate(Some(4))));
        assert_eq!(parse_rate("1000"), Ok(Rate(Some(1000))));
        assert_eq!(parse_rate("unlimited"), Ok(Rate(None)));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
