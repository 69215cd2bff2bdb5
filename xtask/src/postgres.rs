//! A private PostgreSQL server for the tests that need a real one (vt-gateway's store).
//!
//! `cargo xtask ci` starts one for its test step, and `cargo xtask postgres` for a developer's
//! own runs. It lives in a fresh folder under /tmp (data, socket, log), listens on a free port
//! of 127.0.0.1 only, trusts only local and 127.0.0.1 connections, and is stopped and its folder
//! removed when the [`Server`] drops, and when xtask gets SIGINT, SIGTERM or SIGHUP (`pg_ctl`
//! starts the server in a session of its own, so Ctrl-C at the terminal does not reach it).
//! As root, it runs as the `postgres` system user (or `nobody`): the server refuses root.
//! It also speaks TLS, with a certificate (for 127.0.0.1 and localhost) of a CA made at its
//! start, whose certificate the tests find at `VT_TEST_POSTGRES_CA`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// The variable the tests read: a superuser's URL, so a test can create its own database.
pub(crate) const URL_VAR: &str = "VT_TEST_POSTGRES_URL";

/// Environment variables for the tests, with their values.
pub(crate) type Vars = Vec<(&'static str, String)>;

/// The variable the tests read: the PEM file of the CA that signed the server's certificate.
pub(crate) const CA_VAR: &str = "VT_TEST_POSTGRES_CA";

/// The superuser the tests connect as (no password: only this machine can connect).
const SUPERUSER: &str = "vt";

/// The server's programs that xtask runs (`postgres` through `pg_ctl`).
const PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian's packages put each major version's server binaries (not on PATH).
const DEBIAN_BINARIES: &str = "/usr/lib/postgresql";

/// Appended to `postgresql.conf`: reachable from this machine only; durability is not needed
/// for a server that is thrown away after the tests.
const SETTINGS: &str = "
# Added by cargo xtask: a throw-away server for tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = '{dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
ssl = on
";

/// Replaces initdb's `pg_hba.conf`, which also trusts ::1 and replication connections.
const HBA: &str = "# Written by cargo xtask: trust the private socket and 127.0.0.1, nothing else.
local all all trust
host all all 127.0.0.1/32 trust
";

/// The tests' PostgreSQL, settled before CI's long steps so that a missing server fails at once.
#[derive(Debug)]
pub(crate) enum ForTests {
    /// `VT_TEST_POSTGRES_URL` was set: the developer's own server, nothing is started.
    Given(String),
    /// A server to start from these binaries just before the tests.
    Start(Binaries),
}

impl ForTests {
    pub(crate) fn settle() -> Result<Self> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Ok(Self::Given(url)),
            _ => Ok(Self::Start(Binaries::find()?)),
        }
    }

    /// The variables that point the tests at the server, and the server to stop after them
    /// when one was started here.
    pub(crate) fn start(&self) -> Result<(Vars, Option<Server>)> {
        match self {
            Self::Given(url) => {
                // Not the URL itself: it may hold a password.
                eprintln!("xtask: the tests use the PostgreSQL server of {URL_VAR}");
                let mut vars = vec![(URL_VAR, url.clone())];
                if let Ok(ca) = std::env::var(CA_VAR) {
                    vars.push((CA_VAR, ca));
                }
                Ok((vars, None))
            }
            Self::Start(binaries) => {
                let server = binaries.start()?;
                Ok((server.vars(), Some(server)))
            }
        }
    }
}

/// The folder of `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug)]
pub(crate) struct Binaries(PathBuf);

impl Binaries {
    /// `pg_ctl` on PATH (followed through links to the folder it shares with `initdb` and
    /// `postgres`), else the newest `/usr/lib/postgresql/*/bin`.
    pub(crate) fn find() -> Result<Self> {
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pg_ctl"))
                .find(|pg_ctl| pg_ctl.is_file())
        });
        let dir = match on_path {
            Some(pg_ctl) => std::fs::canonicalize(&pg_ctl)
                .with_context(|| format!("cannot resolve {}", pg_ctl.display()))?
                .parent()
                .map(Path::to_path_buf),
            None => newest_debian_binaries(),
        };
        let complete = |dir: &Path| PROGRAMS.iter().all(|p| dir.join(p).is_file());
        match dir {
            Some(dir) if complete(&dir) => Ok(Self(dir)),
            _ => bail!(
                "the PostgreSQL server (initdb, pg_ctl, postgres) is neither on PATH nor in \
                 {DEBIAN_BINARIES}/*/bin, and the gateway's tests need one: install Debian's \
                 `postgresql` package (apt-get install postgresql; .ci/run does it when \
                 absent), or set {URL_VAR} to a superuser's URL on a server of your own"
            ),
        }
    }

    /// Starts a server: see the module's documentation.
    pub(crate) fn start(&self) -> Result<Server> {
        stop_on_signals()?;
        let user = server_user()?;
        let dir = private_dir(user.as_ref())?;
        let running = Running {
            bin: self.0.clone(),
            user,
            dir,
        };
        // Known before initdb, so that a failed or interrupted start still removes its folder.
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(running.clone());
        let mut server = Server {
            url: String::new(),
            dir: running.dir.clone(),
        };
        let port = running.init_and_start()?;
        server.url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
        eprintln!(
            "xtask: PostgreSQL ({}) on 127.0.0.1:{port}, in {}",
            self.0.display(),
            running.dir.display()
        );
        Ok(server)
    }
}

/// A started server; dropping it stops the server and removes its folder.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) url: String,
    dir: PathBuf,
}

impl Server {
    /// `VT_TEST_POSTGRES_URL` and `VT_TEST_POSTGRES_CA`, with their values.
    pub(crate) fn vars(&self) -> Vars {
        vec![
            (URL_VAR, self.url.clone()),
            (CA_VAR, self.dir.join(CA_FILE).display().to_string()),
        ]
    }
}

/// The CA's certificate, in the server's folder (readable by the tests).
const CA_FILE: &str = "ca.pem";

impl Drop for Server {
    fn drop(&mut self) {
        // Under the lock, so that a signal arriving meanwhile waits for this to finish.
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = running.iter().position(|r| r.dir == self.dir) {
            running.remove(at).stop();
        }
    }
}

/// The servers started and not yet stopped, which a signal stops too.
static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

#[derive(Clone, Debug)]
struct Running {
    bin: PathBuf,
    /// The user the server runs as (name, uid, gid), when xtask runs as root.
    user: Option<(String, u32, u32)>,
    /// Holds `data/`, the socket and `server.log`.
    dir: PathBuf,
}

impl Running {
    /// `program` of the server's binaries, as the server's user, in its folder.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = match &self.user {
            Some((user, ..)) => {
                let mut runuser = Command::new("runuser");
                runuser.args(["-u", user, "--"]).arg(program);
                runuser
            }
            None => Command::new(program),
        };
        // The user may not be allowed into xtask's own working directory.
        command.current_dir(&self.dir);
        command
    }

    /// initdb, then starts the server on a free port (another, a few times, when something
    /// took that port meanwhile); the port.
    fn init_and_start(&self) -> Result<u16> {
        let data = self.dir.join("data");
        let mut initdb = self.command("initdb");
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth=trust"])
            .args(["--encoding=UTF8", "--locale=C", "--no-sync"]);
        run_quietly(&mut initdb, "initdb")?;
        let settings = SETTINGS.replace("{dir}", &self.dir.display().to_string());
        append(&data.join("postgresql.conf"), &settings)?;
        self.write_certificates(&data)?;
        std::fs::write(data.join("pg_hba.conf"), HBA).context("cannot write pg_hba.conf")?;

        let log = self.dir.join("server.log");
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len());
            let mut start = self.command("pg_ctl");
            start
                .args(["start", "--wait", "--timeout=60", "--pgdata"])
                .arg(&data)
                .arg("--log")
                .arg(&log)
                .args(["-o", &format!("-p {port}")]);
            let output = start.output().context("could not run pg_ctl start")?;
            if output.status.success() {
                return Ok(port);
            }
            let logged = std::fs::read(&log).unwrap_or_default();
            let this_start = logged.get(logged_before as usize..).unwrap_or_default();
            let this_start = String::from_utf8_lossy(this_start);
            if attempt < 3 && this_start.contains("Address already in use") {
                attempt += 1;
                continue;
            }
            bail!(
                "PostgreSQL did not start ({}):\n{}{this_start}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// A CA, and the server's certificate and key signed by it (`server.crt`, `server.key`:
    /// the names the server reads by default), for 127.0.0.1 and localhost. The key is the
    /// server user's, mode 0600, as the server demands.
    fn write_certificates(&self, data: &Path) -> Result<()> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "vt tests' PostgreSQL CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
            .signed_by(&key, &ca)?;
        std::fs::write(self.dir.join(CA_FILE), ca.pem()).context("cannot write the CA")?;
        let (cert_file, key_file) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert_file, cert.pem()).context("cannot write server.crt")?;
        write_private(&key_file, key.serialize_pem().as_bytes())?;
        for file in [&cert_file, &key_file] {
            hand_over(file, self.user.as_ref())?;
        }
        Ok(())
    }

    /// Stops the server (fast: connections are cut, nothing is kept) and removes its folder;
    /// only says what failed, as it runs on the way out.
    fn stop(&self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            // Immediate (no clean shutdown) only when fast did not stop it.
            let stopped = ["fast", "immediate"].iter().any(|mode| {
                let mut stop = self.command("pg_ctl");
                stop.args(["stop", "--wait", "--timeout=30", "--pgdata"])
                    .arg(&data)
                    .arg(format!("--mode={mode}"));
                run_quietly(&mut stop, &format!("pg_ctl stop --mode={mode}"))
                    .map_err(|e| eprintln!("xtask: {e:#}"))
                    .is_ok()
            });
            if !stopped {
                eprintln!(
                    "xtask: PostgreSQL may still run; {} is kept",
                    self.dir.display()
                );
                return;
            }
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => eprintln!("xtask: PostgreSQL stopped, {} removed", self.dir.display()),
            Err(e) => eprintln!("xtask: cannot remove {}: {e}", self.dir.display()),
        }
    }
}

/// The newest `/usr/lib/postgresql/VERSION/bin` with a `pg_ctl` (versions compared as numbers:
/// 9.6 < 15).
fn newest_debian_binaries() -> Option<PathBuf> {
    std::fs::read_dir(DEBIAN_BINARIES)
        .ok()?
        .flatten()
        .filter(|version| version.path().join("bin/pg_ctl").is_file())
        .max_by_key(|version| {
            version
                .file_name()
                .to_string_lossy()
                .split('.')
                .map(|n| n.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .map(|version| version.path().join("bin"))
}

/// As root, the user the server runs as (`postgres`, which Debian's package creates, else
/// `nobody`), with its uid and gid; otherwise none: the server runs as xtask's own user.
fn server_user() -> Result<Option<(String, u32, u32)>> {
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        if let (Ok(uid), Ok(gid)) = (id(&["-u", user]), id(&["-g", user])) {
            return Ok(Some((user.to_owned(), uid, gid)));
        }
    }
    bail!("running as root, and neither a postgres nor a nobody user to run PostgreSQL as")
}

/// A number from `id(1)`.
fn id(args: &[&str]) -> Result<u32> {
    let output = Command::new("id")
        .args(args)
        .output()
        .context("could not run id")?;
    if !output.status.success() {
        bail!("id {} failed", args.join(" "));
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("id printed no number")
}

/// A new folder `/tmp/vt-postgres-PID-N`, mode 0700, owned by the server's user. Under /tmp, not
/// the repository, so that user can reach it; short, as a socket's path is at most 107 bytes.
fn private_dir(user: Option<&(String, u32, u32)>) -> Result<PathBuf> {
    for n in 0..1000 {
        let dir = PathBuf::from(format!("/tmp/vt-postgres-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                if let Err(e) = own(&dir, user) {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e);
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    bail!("no free /tmp/vt-postgres-{}-N folder", std::process::id())
}

#[cfg(unix)]
fn own(dir: &Path, user: Option<&(String, u32, u32)>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    hand_over(dir, user)
}

#[cfg(not(unix))]
fn own(_dir: &Path, _user: Option<&(String, u32, u32)>) -> Result<()> {
    Ok(())
}

/// Makes `path` the server user's, when it runs as another user than xtask.
#[cfg(unix)]
fn hand_over(path: &Path, user: Option<&(String, u32, u32)>) -> Result<()> {
    if let Some((_, uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
            .with_context(|| format!("cannot hand {} to the server's user", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn hand_over(_path: &Path, _user: Option<&(String, u32, u32)>) -> Result<()> {
    Ok(())
}

/// A port of 127.0.0.1 that was free a moment ago (the server may lose it to another process
/// before it binds: the caller tries again).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Writes `bytes` to a new file of mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// Runs `command`, its output shown only when it fails.
fn run_quietly(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// From the first start on, SIGINT, SIGTERM and SIGHUP stop every running server, remove its
/// folder, and end xtask as the signal would have (status 128 + the signal's number).
#[cfg(unix)]
fn stop_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("cannot catch SIGINT, SIGTERM and SIGHUP")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            // Held until the exit, so that a Drop on the main thread cannot race with this.
            let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
            for server in running.drain(..) {
                server.stop();
            }
            std::process::exit(128 + signal);
        }
    });
    let _ = INSTALLED.set(());
    Ok(())
}

#[cfg(not(unix))]
fn stop_on_signals() -> Result<()> {
    Ok(())
}

/// `cargo xtask postgres`: starts a server, prints the line that points the tests at it, and
/// stops it when stdin closes or on Ctrl-C.
pub(crate) fn run() -> Result<()> {
    let server = Binaries::find()?.start()?;
    for (name, value) in server.vars() {
        println!("export {name}={value}");
    }
    eprintln!("xtask: running until Ctrl-C or the end of stdin (Ctrl-D)");
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    drop(server);
    Ok(())
}
