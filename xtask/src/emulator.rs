//! A `vt-emulator` process for the demo and the soak: started on a free loopback port, its
//! counters read over plain HTTP, stopped (SIGTERM, then kill) when dropped, so no process is
//! left behind even on an error or a panic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{cargo, target_dir};

/// The debug builds of `vt` and `vt-emulator`, and an empty scratch folder for a run.
pub(crate) struct Binaries {
    pub(crate) vt: PathBuf,
    pub(crate) emulator: PathBuf,
    pub(crate) scratch: PathBuf,
}

/// Builds `vt` and `vt-emulator` (debug, the profile the tests share) and empties
/// `target/<scratch>`. `testing_clock`: `vt` with the `testing-clock` feature, which alone
/// reads `VT_TESTING_TIME_SCALE` (a released `vt` has no such knob).
pub(crate) fn build(scratch: &str, testing_clock: bool) -> Result<Binaries> {
    // Two builds: one naming both packages and both `--bin`s built `vt` without
    // `--features vt-cli/testing-clock` (cargo 1.95).
    let emulator = build_emulator()?;
    let mut vt = vec!["build", "--quiet", "--package", "vt-cli", "--bin", "vt"];
    if testing_clock {
        vt.extend(["--features", "testing-clock"]);
    }
    cargo(&vt, &[])?;
    let bin = target_dir().join("debug");
    let scratch = target_dir().join(scratch);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    std::fs::create_dir_all(&scratch)?;
    Ok(Binaries {
        vt: bin.join(format!("vt{}", std::env::consts::EXE_SUFFIX)),
        emulator,
        scratch,
    })
}

/// Builds `vt-emulator` alone (debug) and returns the path of the binary.
pub(crate) fn build_emulator() -> Result<PathBuf> {
    cargo(
        &[
            "build",
            "--quiet",
            "--package",
            "vt-emulator",
            "--bin",
            "vt-emulator",
        ],
        &[],
    )?;
    Ok(target_dir()
        .join("debug")
        .join(format!("vt-emulator{}", std::env::consts::EXE_SUFFIX)))
}

/// The running emulator.
pub(crate) struct Emulator {
    child: Option<Child>,
    pub(crate) url: String,
    addr: String,
}

impl Emulator {
    /// Starts `bin` on a free loopback port with `args`, and waits for its first line.
    pub(crate) fn start(bin: &Path, args: &[String]) -> Result<Emulator> {
        let child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut emulator = Emulator {
            child: Some(child),
            url: String::new(),
            addr: String::new(),
        };
        let stdout = emulator
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("cannot read the emulator's first line")?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_default();
        let Some(addr) = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
        else {
            bail!("unexpected first line from vt-emulator: {line:?}");
        };
        emulator.addr = addr.to_owned();
        emulator.url = url.to_owned();
        Ok(emulator)
    }

    /// `GET /_emulator/stats`, over a plain HTTP/1.0 exchange (no client library needed).
    pub(crate) fn stats(&self) -> Result<Value> {
        let mut stream = TcpStream::connect(&self.addr)
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET /_emulator/stats HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.addr
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .context("no body in the stats answer")?;
        serde_json::from_str(body).with_context(|| format!("stats are not JSON: {body}"))
    }

    /// SIGTERM, a grace period for the graceful shutdown, then kill.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        terminate(&child);
        let deadline = Instant::now() + Duration::from_secs(if cfg!(unix) { 15 } else { 0 });
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM by the child's own pid (never by name), through `kill(1)`.
#[cfg(unix)]
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}
