//! `cargo xtask soak`: `vt file report` over many resources against a faulty `vt-emulator`,
//! compared byte for byte with a fault-free run (issue #6).
//!
//! Builds `vt` and `vt-emulator`, generates a dataset and N resources (known hashes in every
//! form, unknown ones, duplicates), runs `vt` against a fault-free emulator, then against one
//! with the faults (`500:0.05 reset:0.02 truncate:0.02 slow:0.01 204:0.02`, seeded),
//! checks that both outputs hold exactly one record per input in input order with no failure,
//! that they are identical, and prints what the faults cost (from `/_emulator/stats`).
//! docs/reliability.md holds the figures of a run.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::emulator::Server;

// The emulator's generator itself, without building the server into xtask.
#[path = "../../crates/vt-emulator/src/synthetic.rs"]
#[allow(unreachable_pub)]
mod synthetic;
use synthetic::{Synthetic, SOAK_FAULTS};

/// Any key is accepted as private by an emulator given none; it reaches `vt` through the
/// environment, never argv.
const KEY: &str = "soak-key";

const USAGE: &str = "usage: cargo xtask soak [--resources N] [--seed N] [--time-scale N]";

struct Options {
    resources: usize,
    seed: u64,
    /// `VT_TESTING_TIME_SCALE` for the faulty run: backoffs and 204 waits pass faster.
    time_scale: Option<u32>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        resources: 10_000,
        seed: 1,
        time_scale: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{flag} {value:?}: not a number"))
        };
        match flag.as_str() {
            "--resources" => options.resources = usize::try_from(number()?)?,
            "--seed" => options.seed = number()?,
            "--time-scale" => options.time_scale = Some(u32::try_from(number()?)?),
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    if options.resources == 0 {
        bail!("--resources must be at least 1");
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let options = options(args)?;
    let crate::emulator::Binaries {
        vt,
        emulator: emulator_bin,
        scratch,
    } = crate::emulator::build("xtask-soak", options.time_scale.is_some())?;

    let corpus = Synthetic::generate(options.resources, options.seed);
    let data = scratch.join("data.json");
    std::fs::write(&data, &corpus.reports_json)?;
    let inputs = scratch.join("inputs.txt");
    std::fs::write(&inputs, corpus.inputs.join("\n") + "\n")?;
    let distinct = corpus
        .inputs
        .iter()
        .map(|r| r.to_ascii_lowercase())
        .collect::<HashSet<_>>()
        .len();
    eprintln!(
        "xtask: {} resources ({distinct} distinct; {} reports served), fault seed {}",
        corpus.inputs.len(),
        corpus.reports,
        options.seed
    );

    let base = ["--data".to_owned(), data.display().to_string()];
    let clean = Run::new(&vt, &emulator_bin, &base, &inputs, &scratch, "clean", None)?;
    let mut faulty_args = base.to_vec();
    for fault in SOAK_FAULTS {
        faulty_args.extend(["--fault".to_owned(), fault.to_owned()]);
    }
    faulty_args.extend(["--seed".to_owned(), options.seed.to_string()]);
    let faulty = Run::new(
        &vt,
        &emulator_bin,
        &faulty_args,
        &inputs,
        &scratch,
        "faults",
        options.time_scale,
    )?;

    let clean_check = check(&clean.output, &corpus.inputs);
    let faulty_check = check(&faulty.output, &corpus.inputs);
    let identical = clean.output == faulty.output;
    println!("{}", summary(&options, distinct, [&clean, &faulty]));
    println!("identical: {}", if identical { "yes" } else { "no" });
    println!(
        "requests with faults - fault-free requests: {} (retries)",
        faulty.stat("requests") as i64 - clean.stat("requests") as i64
    );
    println!(
        "command: vt-emulator --data data.json {} --seed {}; vt file report --tier private \
         --format jsonl -i inputs.txt{} (fresh VT_CACHE_DIR)",
        SOAK_FAULTS.map(|f| format!("--fault {f}")).join(" "),
        options.seed,
        options
            .time_scale
            .map(|s| format!(" (VT_TESTING_TIME_SCALE={s})"))
            .unwrap_or_default()
    );
    println!("files: {}", scratch.display());
    clean_check.context("the fault-free run")?;
    faulty_check.context("the run with faults")?;
    if !identical {
        bail!(
            "the outputs differ: compare {} and {}",
            clean.path.display(),
            faulty.path.display()
        );
    }
    Ok(())
}

/// One emulator and one `vt` run against it.
struct Run {
    name: &'static str,
    path: PathBuf,
    output: Vec<u8>,
    exit: Option<i32>,
    wall: Duration,
    stats: Value,
}

impl Run {
    fn new(
        vt: &Path,
        emulator_bin: &Path,
        emulator_args: &[String],
        inputs: &Path,
        scratch: &Path,
        name: &'static str,
        time_scale: Option<u32>,
    ) -> Result<Run> {
        let mut emulator = Server::emulator(emulator_bin, emulator_args)?;
        eprintln!(
            "xtask: {name}: vt-emulator {} on {}",
            emulator_args.join(" "),
            emulator.url
        );
        let path = scratch.join(format!("{name}.jsonl"));
        let log = scratch.join(format!("{name}.log"));
        let mut command = Command::new(vt);
        command
            .args(["file", "report", "--tier", "private"])
            .args(["--format", "jsonl", "-i"])
            .arg(inputs)
            .env("VT_BASE_URL", &emulator.url)
            .env("VT_API_KEY", KEY)
            .env("VT_CONFIG_DIR", scratch.join("config"))
            // A fresh cache, as a user's first run has: a repeat far from its first copy is
            // answered from it instead of asked again.
            .env("VT_CACHE_DIR", scratch.join(format!("cache-{name}")))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&path)?)
            .stderr(std::fs::File::create(&log)?);
        for var in [
            "VT_TESTING_TIME_SCALE",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env_remove(var);
        }
        if let Some(scale) = time_scale {
            command.env("VT_TESTING_TIME_SCALE", scale.to_string());
        }
        eprintln!("xtask: {name}: vt file report ... > {}", path.display());
        let started = Instant::now();
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", vt.display()))?;
        let wall = started.elapsed();
        let stats = emulator.stats()?;
        emulator.stop();
        eprintln!(
            "xtask: {name}: {status} after {:.1} s (stderr in {})",
            wall.as_secs_f64(),
            log.display()
        );
        Ok(Run {
            name,
            output: std::fs::read(&path)?,
            path,
            exit: status.code(),
            wall,
            stats,
        })
    }

    fn stat(&self, name: &str) -> u64 {
        self.stats[name].as_u64().unwrap_or(0)
    }

    fn batches(&self) -> u64 {
        let count = |map: &str, key: &str| self.stats[map][key].as_u64().unwrap_or(0);
        count("by_status", "200").saturating_sub(count("faults", "truncate"))
    }

    /// `{"200": 12, ...}` as `200: 12, ...`.
    fn counts(&self, name: &str) -> String {
        let Some(map) = self.stats[name].as_object().filter(|m| !m.is_empty()) else {
            return "-".to_owned();
        };
        map.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Exactly one record per input, in input order, none of them a failure.
fn check(output: &[u8], inputs: &[String]) -> Result<()> {
    let text = std::str::from_utf8(output).context("the output is not UTF-8")?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != inputs.len() {
        bail!("{} records for {} inputs", lines.len(), inputs.len());
    }
    let mut failed = 0;
    for (n, (line, input)) in lines.iter().zip(inputs).enumerate() {
        let record: Value = serde_json::from_str(line)
            .with_context(|| format!("record {} is not JSON: {line}", n + 1))?;
        let resource = record["resource"].as_str().unwrap_or_default();
        if !resource.eq_ignore_ascii_case(input) {
            bail!("record {} is about {resource:?}, input {input:?}", n + 1);
        }
        if record.get("error").is_some() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} records are failures");
    }
    Ok(())
}

fn summary(options: &Options, distinct: usize, runs: [&Run; 2]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsoak: {} resources ({distinct} distinct), seed {}\n",
        options.resources, options.seed
    );
    let _ = writeln!(out, "| | {} | {} |", runs[0].name, runs[1].name);
    let _ = writeln!(out, "|---|---|---|");
    let mut row = |label: &str, cell: &dyn Fn(&Run) -> String| {
        let _ = writeln!(out, "| {label} | {} | {} |", cell(runs[0]), cell(runs[1]));
    };
    row("records", &|r| {
        r.output.iter().filter(|&&b| b == b'\n').count().to_string()
    });
    row("vt exit status", &|r| {
        r.exit.map_or("killed".to_owned(), |c| c.to_string())
    });
    row("requests", &|r| r.stat("requests").to_string());
    row("resources asked", &|r| {
        r.stat("resources_asked").to_string()
    });
    row("answers by status", &|r| r.counts("by_status"));
    row("faults injected", &|r| r.counts("faults"));
    // Every batch ends in one whole 200 (a truncated 200 is counted too, and retried); a
    // `slow` answer cut by vt's deadline is never sent, so it is not counted as a 200.
    row("batches answered (200s - truncated)", &|r| {
        r.batches().to_string()
    });
    row("retried requests (requests - batches)", &|r| {
        (r.stat("requests") - r.batches()).to_string()
    });
    row("wall time", &|r| format!("{:.1} s", r.wall.as_secs_f64()));
    out
}
