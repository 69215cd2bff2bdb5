//! `vt`: VirusTotal API v2 lookups for analysts and scripts. See docs/cli.md.
//!
//! This binary is the only part of the workspace that prints, reads the environment or a
//! config file, or uses `anyhow`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// mimalloc: the lookups allocate and free a small object per JSON value; with it a bulk run
/// spends about a fifth less CPU than with the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
#[cfg(feature = "testing-clock")]
mod clock;
mod config;
mod driver;
mod file_report;
mod hash;
mod input;
mod kinds;
mod output;
mod session;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, ColorChoice, Command, FileCommand};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = &cli.global;
    let color_stderr = wants_color(global.color, std::io::stderr().is_terminal());
    ui::init_logging(global.quiet, global.verbose, color_stderr);
    let result = match &cli.command {
        Command::File {
            command: FileCommand::Report(args),
        } => run_report(args, global),
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

fn run_report(args: &cli::ReportArgs, global: &cli::Global) -> anyhow::Result<u8> {
    // One worker per core (tokio's default): answers are decoded on every worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(file_report::run(args, global))
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
