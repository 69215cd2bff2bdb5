//! `cargo xtask clients`: third-party VirusTotal v2 clients against `vt-emulator` (#14).
//!
//! Installs pinned versions of two Python clients from PyPI into a venv under the target dir
//! (`tmp/clients-venv`, reused while its pins are the same), starts the emulator with a
//! private and a public key, a `--queued` hash and `--analysis-delay 0`, and runs
//! `xtask/clients/drive.py`, which drives each client through every endpoint and prints one
//! line per check (`ok|FAIL client check detail`). Fails on any FAIL.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::emulator::{self, Emulator};
use crate::{target_dir, workspace_root};

/// The clients, pinned (`pip install` arguments), and written to the venv once installed.
const PINS: &[&str] = &["virustotal-api==1.1.11", "virustotal-python==0.2.0"];

const PRIVATE_KEY: &str = "clients-private";
const PUBLIC_KEY: &str = "clients-public";

/// A SHA-256 the emulator has neither a report nor the bytes of: `--queued` keeps it queued
/// even with `--analysis-delay 0`.
const QUEUED: &str = "1111111111111111111111111111111111111111111111111111111111111111";

pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let emulator_bin = emulator::build_emulator()?;
    let python = venv()?;
    let args: Vec<String> = [
        "--key",
        &format!("{PRIVATE_KEY}:private"),
        "--key",
        &format!("{PUBLIC_KEY}:public"),
        "--queued",
        QUEUED,
        "--analysis-delay",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let emulator = Emulator::start(&emulator_bin, &args)?;
    let script = workspace_root().join("xtask/clients/drive.py");
    let output = Command::new(&python)
        .arg(&script)
        .args([&emulator.url, PRIVATE_KEY, PUBLIC_KEY, QUEUED])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    drop(emulator);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    let failed = lines.iter().filter(|l| l.starts_with("FAIL ")).count();
    println!("clients: {}", PINS.join(", "));
    for line in &lines {
        println!("{line}");
    }
    println!(
        "{} checks, {failed} failed, {:.1} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 || !output.status.success() || lines.is_empty() {
        if !stderr.is_empty() {
            eprintln!("{stderr}");
        }
        bail!(
            "third-party clients: {failed} check(s) failed ({})",
            output.status
        );
    }
    Ok(())
}

/// The venv's python, after creating the venv and installing [`PINS`] if its record of the
/// pins is not the same.
fn venv() -> Result<PathBuf> {
    let venv = target_dir().join("tmp/clients-venv");
    let python = venv.join(if cfg!(windows) {
        "Scripts/python.exe"
    } else {
        "bin/python"
    });
    let record = venv.join("xtask-pins.txt");
    let wanted = PINS.join("\n");
    if python.exists() && std::fs::read_to_string(&record).is_ok_and(|r| r == wanted) {
        return Ok(python);
    }
    eprintln!("installing {} into {}...", PINS.join(", "), venv.display());
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("cannot clear {}", venv.display()))?;
    }
    status_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    status_ok(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PINS),
    )?;
    std::fs::write(&record, wanted)?;
    Ok(python)
}

fn status_ok(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
