//! `vt`: VirusTotal API v2 lookups for analysts and scripts. See docs/cli.md.
//!
//! This binary is the only part of the workspace that prints, reads the environment or a
//! config file, or uses `anyhow`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// mimalloc: the lookups allocate and free a small object per JSON value; with it a bulk run
/// spends about a fifth less CPU than with the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod actions;
mod cache_command;
mod cli;
#[cfg(feature = "testing-clock")]
mod clock;
mod config;
mod data_commands;
mod driver;
mod fields;
mod file_report;
mod hash;
mod input;
mod kinds;
mod lookup;
mod output;
mod rows;
mod scan;
mod session;
mod spooler;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use vt_api::Params;

use crate::cli::{
    Cli, ColorChoice, Command, CommentCommand, DomainCommand, FileCommand, IpCommand, UrlCommand,
};

/// A usage or input error: reported before anything is sent, exit status 2.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit statuses.
pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
/// `--fail-on-positives N`: a report had at least N detections.
pub(crate) const EXIT_POSITIVES: u8 = 3;

/// vt-cli's shape, `vt file HASH`, read as `vt file report HASH` (likewise `vt url URL`,
/// `vt domain D`, `vt ip IP`): the arguments with `report` after the group, when the word
/// after it is not a flag. Tried only when the arguments as given do not parse, so that the
/// usual run builds clap's tree once.
fn with_report_implied(args: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    let mut at = 1;
    // Global flags may come first; `--color` takes a value.
    while let Some(arg) = args.get(at).and_then(|a| a.to_str()) {
        match arg {
            "--color" => at += 2,
            _ if arg.starts_with('-') => at += 1,
            _ => break,
        }
    }
    let group = args.get(at).and_then(|a| a.to_str())?;
    let next = args.get(at + 1).and_then(|a| a.to_str())?;
    if !["file", "url", "domain", "ip"].contains(&group) || next.starts_with('-') {
        return None;
    }
    let mut implied = args.to_vec();
    implied.insert(at + 1, "report".into());
    Some(implied)
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // `vt file HASH`: if it parses with `report`, that is what was meant; else the
        // error of the arguments as given.
        Err(error) => match with_report_implied(&args).map(Cli::try_parse_from) {
            Some(Ok(cli)) => cli,
            _ => error.exit(),
        },
    };
    let global = &cli.global;
    let color_stderr = wants_color(global.color, std::io::stderr().is_terminal());
    ui::init_logging(global.quiet, global.verbose, color_stderr);
    let result = match &cli.command {
        Command::File {
            command: FileCommand::Report(args),
        } => block_on(file_report::run(args, global)),
        Command::File {
            command: FileCommand::Scan(args),
        } => block_on(scan::run(args, global)),
        Command::File {
            command: FileCommand::Rescan(args),
        } => block_on(actions::rescan(args, global)),
        Command::File {
            command: FileCommand::Download(args),
        } => block_on(data_commands::download(args, global)),
        Command::File {
            command: FileCommand::Traffic(args),
        } => block_on(data_commands::traffic(args, global)),
        Command::File {
            command: FileCommand::Behaviour(args),
        } => block_on(data_commands::behaviour(args, global)),
        Command::File {
            command: FileCommand::Search(args),
        } => block_on(data_commands::search(args, global)),
        Command::File {
            command: FileCommand::Clusters(args),
        } => block_on(data_commands::clusters(args, global)),
        Command::Comment {
            command: CommentCommand::Get(args),
        } => block_on(actions::comment_get(args, global)),
        Command::Comment {
            command: CommentCommand::Put(args),
        } => block_on(actions::comment_put(args, global)),
        Command::Url {
            command: UrlCommand::Report(args),
        } => {
            let mut params = Params::allinfo(args.allinfo);
            if args.scan {
                params = params.submitting("scan", "1");
            }
            block_on(lookup::run(
                lookup::Command {
                    endpoint: &vt_api::URL_REPORT,
                    params,
                    what: "URLs",
                    private_feature: args.allinfo.then_some("--allinfo"),
                    arguments: &args.urls,
                    inputs: &args.inputs,
                    client: &args.client,
                },
                global,
            ))
        }
        Command::Url {
            command: UrlCommand::Scan(args),
        } => block_on(lookup::run(
            lookup::Command {
                endpoint: &vt_api::URL_SCAN,
                params: Params::new(),
                what: "URLs",
                private_feature: None,
                arguments: &args.urls,
                inputs: &args.inputs,
                client: &args.client,
            },
            global,
        )),
        Command::Domain {
            command: DomainCommand::Report(args),
        } => block_on(lookup::run(
            lookup::Command {
                endpoint: &vt_api::DOMAIN_REPORT,
                params: Params::new(),
                what: "domains",
                private_feature: None,
                arguments: &args.domains,
                inputs: &args.inputs,
                client: &args.client,
            },
            global,
        )),
        Command::Ip {
            command: IpCommand::Report(args),
        } => block_on(lookup::run(
            lookup::Command {
                endpoint: &vt_api::IP_REPORT,
                params: Params::new(),
                what: "IP addresses",
                private_feature: None,
                arguments: &args.ips,
                inputs: &args.inputs,
                client: &args.client,
            },
            global,
        )),
        Command::Cache { command } => cache_command::run(command),
        Command::Init(args) => config::init(args.tier, global.quiet).map(|()| EXIT_OK),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "vt", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = if error.downcast_ref::<UsageError>().is_some() {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            };
            // Fatal errors are printed even under --quiet: the exit status alone would not
            // say what to fix.
            for line in format!("{error:#}").lines() {
                ui::eprint_line(&format!("vt: {line}"));
            }
            ExitCode::from(code)
        }
    }
}

/// Runs a command on a runtime of one worker per core (tokio's default): answers are read on
/// every worker.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<u8>>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(command)
}

/// Whether to colour a stream: `always`, `never`, or (auto) when it is a terminal and
/// `NO_COLOR` is unset or empty.
pub(crate) fn wants_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}
