//! `cargo xtask fuzz [TARGET]... [--seconds N] [--sanitizer S]`: each cargo-fuzz target of
//! `fuzz/` for a bounded time, then a summary (executions, corpus growth, crashes with the
//! path of their input).
//!
//! The seeds in `fuzz/corpus/<target>/` are read but never written: what the fuzzer finds is
//! kept in `fuzz/generated/<target>/` (ignored by git), crash inputs in
//! `fuzz/artifacts/<target>/`. The full libFuzzer output of each run is written to
//! `<target dir>/logs/<target>.log`. Needs the nightly toolchain and cargo-fuzz; CI does not
//! run this (it replays the corpora in the crates' tests, see docs/reliability.md).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::workspace_root;

/// The targets, with the longest input each is given (`-max_len`: a few answers for the
/// bodies, past the 4 KiB line limit for the lists, a few lines' worth for a resource) and
/// the libFuzzer dictionary in `fuzz/dicts/` that helps it write JSON, if any.
const TARGETS: &[(&str, usize, Option<&str>)] = &[
    ("decode_body", 16 * 1024, Some("json.dict")),
    ("resource_parse", 256, None),
    ("input_lines", 8 * 1024, None),
    ("emulator_data", 16 * 1024, Some("json.dict")),
];

const DEFAULT_SECONDS: u64 = 60;

/// What one run said.
#[derive(Debug, Default)]
struct Outcome {
    executions: Option<u64>,
    per_second: Option<u64>,
    new_units: Option<u64>,
    peak_rss_mb: Option<u64>,
    artifact: Option<String>,
    log: PathBuf,
    success: bool,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    // All our code forbids `unsafe`; AddressSanitizer would mostly slow the search down.
    let mut sanitizer = "none".to_owned();
    let mut targets: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .with_context(|| format!("--seconds {value:?}: expected whole seconds"))?;
            }
            "--sanitizer" => {
                sanitizer = args.next().context("--sanitizer needs a name")?.clone();
            }
            name => match TARGETS.iter().find(|(t, ..)| *t == name) {
                Some((t, ..)) => targets.push(t),
                None => bail!(
                    "unknown fuzz target {name:?}: expected {}",
                    TARGETS
                        .iter()
                        .map(|(t, ..)| *t)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|(t, ..)| *t).collect();
    }
    check_cargo_fuzz()?;
    let fuzz_dir = workspace_root().join("fuzz");
    // The target dir of the fuzz workspace; CARGO_TARGET_DIR is honoured (in a folder of its
    // own, as the fuzz build uses other flags) but passed explicitly, since cargo-fuzz looks
    // for the binaries where --target-dir says.
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("fuzz"),
        None => fuzz_dir.join("target"),
    };
    let common = |command: &mut Command| {
        command
            .current_dir(workspace_root())
            .env_remove("CARGO_TARGET_DIR")
            .args(["-s", &sanitizer, "--debug-assertions", "--target-dir"])
            .arg(&target_dir);
    };

    eprintln!("xtask: cargo +nightly fuzz build (all targets, sanitizer {sanitizer})");
    let mut build = Command::new("cargo");
    build.args(["+nightly", "fuzz", "build"]);
    common(&mut build);
    let status = build
        .status()
        .context("could not run cargo +nightly fuzz build")?;
    if !status.success() {
        bail!("cargo +nightly fuzz build failed ({status})");
    }

    let logs = target_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut outcomes = Vec::new();
    for &(target, max_len, dict) in TARGETS.iter().filter(|(t, ..)| targets.contains(t)) {
        let generated = fuzz_dir.join("generated").join(target);
        std::fs::create_dir_all(&generated)
            .with_context(|| format!("cannot create {}", generated.display()))?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let mut command = Command::new("cargo");
        command.args(["+nightly", "fuzz", "run", target]);
        common(&mut command);
        // The first corpus folder is the one libFuzzer writes to.
        command
            .arg(&generated)
            .arg(fuzz_dir.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={max_len}"))
            // A single input taking more than 10 s is a hang; more than 2 GiB, a leak.
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1");
        if let Some(dict) = dict {
            command.arg(format!(
                "-dict={}",
                fuzz_dir.join("dicts").join(dict).display()
            ));
        }
        let outcome = run_one(command, &logs.join(format!("{target}.log")))?;
        outcomes.push((target, outcome));
    }

    eprintln!();
    eprintln!(
        "{:<16} {:>12} {:>9} {:>9} {:>8}  result",
        "target", "executions", "exec/s", "new units", "rss MB"
    );
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    let mut failed = Vec::new();
    for (target, outcome) in &outcomes {
        let result = match (&outcome.artifact, outcome.success) {
            (Some(artifact), _) => format!("CRASH: {artifact}"),
            (None, true) => "ok".to_owned(),
            (None, false) => format!("FAILED: see {}", outcome.log.display()),
        };
        eprintln!(
            "{target:<16} {:>12} {:>9} {:>9} {:>8}  {result}",
            show(outcome.executions),
            show(outcome.per_second),
            show(outcome.new_units),
            show(outcome.peak_rss_mb),
        );
        if !outcome.success || outcome.artifact.is_some() {
            failed.push(*target);
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found problems in {}: reproduce with `cargo +nightly fuzz run -s none \
             TARGET ARTIFACT`, then add the input to the target's regression test",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Runs one fuzzer, its output to `log`; on the terminal only the lines that matter.
fn run_one(mut command: Command, log: &Path) -> Result<Outcome> {
    let mut file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not run cargo +nightly fuzz run")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut outcome = Outcome {
        log: log.to_owned(),
        ..Outcome::default()
    };
    let mut crashed = false;
    for line in BufReader::new(stderr).split(b'\n') {
        let line = line.context("cannot read the fuzzer's output")?;
        let line = String::from_utf8_lossy(&line);
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", log.display()))?;
        let stat = |name: &str| {
            line.strip_prefix(name)
                .and_then(|rest| rest.trim_start_matches(':').trim().parse::<u64>().ok())
        };
        if let Some(v) = stat("stat::number_of_executed_units") {
            outcome.executions = Some(v);
        } else if let Some(v) = stat("stat::average_exec_per_sec") {
            outcome.per_second = Some(v);
        } else if let Some(v) = stat("stat::new_units_added") {
            outcome.new_units = Some(v);
        } else if let Some(v) = stat("stat::peak_rss_mb") {
            outcome.peak_rss_mb = Some(v);
        }
        if let Some(rest) = line.split("Test unit written to ").nth(1) {
            outcome.artifact = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.contains("panicked at") || line.starts_with("==") || line.contains("ERROR:") {
            crashed = true;
        }
        // The crash report, and libFuzzer's last words; not every new corpus unit.
        if crashed || line.contains("DONE") || line.starts_with("Done ") {
            eprintln!("  {line}");
        }
    }
    let status = child.wait().context("the fuzzer did not finish")?;
    outcome.success = status.success();
    Ok(outcome)
}

/// Fails with how to install them when the nightly toolchain or cargo-fuzz is missing.
fn check_cargo_fuzz() -> Result<()> {
    let output = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            eprintln!("xtask: {}", String::from_utf8_lossy(&output.stdout).trim());
            Ok(())
        }
        _ => bail!(
            "`cargo +nightly fuzz` is not available. Install the nightly toolchain and \
             cargo-fuzz, then run this again:\n    rustup toolchain install nightly\n    \
             cargo install cargo-fuzz"
        ),
    }
}
