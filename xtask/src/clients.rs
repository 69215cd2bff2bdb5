//! `cargo xtask clients`: third-party VirusTotal v2 clients against `vt-emulator` (#14), then
//! through a `vt-gateway` in front of it (#16).
//!
//! Installs pinned versions of two Python clients from PyPI into a venv under the target dir
//! (`tmp/clients-venv`, reused while its pins are the same), starts the emulator with a
//! private and a public key, a `--queued` hash and `--analysis-delay 0`, and a gateway in front
//! of it with the private key (a SQLite store and two tokens of its own in
//! `tmp/clients-gateway`), and runs `xtask/clients/drive.py`, which drives each client through
//! every endpoint of the emulator, then through the gateway with a token as its key, and prints
//! one line per check (`ok|FAIL client check detail`). Fails on any FAIL.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::emulator::{self, Server};
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
    let gateway_bin = emulator::build_binary("vt-gateway")?;
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
    let emulator = Server::emulator(&emulator_bin, &args)?;
    let gateway = Gateway::start(&gateway_bin, &emulator.url)?;
    let script = workspace_root().join("xtask/clients/drive.py");
    let output = Command::new(&python)
        .arg(&script)
        .args([&emulator.url, PRIVATE_KEY, PUBLIC_KEY, QUEUED])
        .args([&gateway.server.url, &gateway.token, &gateway.plain])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    drop(gateway.server);
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
        let log = std::fs::read_to_string(&gateway.log).unwrap_or_default();
        eprintln!("the gateway's log ({}):\n{log}", gateway.log.display());
        bail!(
            "third-party clients: {failed} check(s) failed ({})",
            output.status
        );
    }
    Ok(())
}

/// `vt-gateway serve` in front of the emulator, with [`PRIVATE_KEY`] on the private tier.
struct Gateway {
    server: Server,
    /// A token with every right.
    token: String,
    /// A token with none (no `allinfo`).
    plain: String,
    /// Its stderr, shown when a check fails.
    log: PathBuf,
}

impl Gateway {
    /// A gateway of `bin` in front of `upstream`, on a store of its own in a folder emptied
    /// first, with its two tokens.
    fn start(bin: &Path, upstream: &str) -> Result<Gateway> {
        let folder = target_dir().join("tmp/clients-gateway");
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("cannot clear {}", folder.display()))?;
        }
        std::fs::create_dir_all(&folder)?;
        let key_file = folder.join("key");
        std::fs::write(&key_file, PRIVATE_KEY)?;
        let store = format!("sqlite:{}", folder.join("gateway.sqlite").display());
        let token = |name: &str, rights: &str| -> Result<String> {
            let output = Command::new(bin)
                .args(["token", "add", name, "--allow", rights, "--store", &store])
                .output()
                .with_context(|| format!("cannot run {}", bin.display()))?;
            let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !output.status.success() || token.is_empty() {
                bail!(
                    "vt-gateway token add {name} failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(token)
        };
        let (token, plain) = (
            token("clients", "upload,allinfo,download")?,
            token("clients-plain", "")?,
        );
        let log = folder.join("gateway.log");
        let server = Server::spawn(
            Command::new(bin)
                .args(["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
                .arg("--key-file")
                .arg(&key_file)
                .args(["--tier", "private", "--store", &store])
                .stderr(Stdio::from(std::fs::File::create(&log)?)),
        )
        .with_context(|| format!("vt-gateway did not start: see {}", log.display()))?;
        Ok(Gateway {
            server,
            token,
            plain,
            log,
        })
    }
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
