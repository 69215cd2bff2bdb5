//! A `vt-emulator` process for the demo, the soak and the clients (or a `vt-gateway serve`,
//! which starts the same way): started on a free loopback port, its counters read over plain
//! HTTP, stopped (SIGTERM, then kill) when dropped, so no process is left behind even on an
//! error or a panic.

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
    build_binary("vt-emulator")
}

/// Builds the binary `name` of the package of the same name alone (debug) and returns its
/// path.
pub(crate) fn build_binary(name: &str) -> Result<PathBuf> {
    cargo(&["build", "--quiet", "--package", name, "--bin", name], &[])?;
    Ok(target_dir()
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// A running server of ours: an emulator, or a gateway.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) url: String,
    addr: String,
}

impl Server {
    /// Starts the emulator `bin` on a free loopback port with `args`, and waits for its first
    /// line.
    pub(crate) fn emulator(bin: &Path, args: &[String]) -> Result<Server> {
        Server::spawn(
            Command::new(bin)
                .args(["--listen", "127.0.0.1:0"])
                .args(args),
        )
    }

    /// Starts `command`, a server that prints `listening on http://HOST:PORT/vtapi/v2/` on
    /// stdout once bound (vt-emulator, `vt-gateway serve`), and waits for that line. Its
    /// stderr is the command's (inherited unless set).
    pub(crate) fn spawn(command: &mut Command) -> Result<Server> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {command:?}"))?;
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            addr: String::new(),
        };
        let stdout = server
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("cannot read the server's first line")?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_default();
        let Some(addr) = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
        else {
            bail!("unexpected first line from {command:?}: {line:?}");
        };
        server.addr = addr.to_owned();
        server.url = url.to_owned();
        Ok(server)
    }

    /// An emulator's `GET /_emulator/stats`, over a plain HTTP/1.0 exchange (no client library needed).
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

impl Drop for Server {
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
