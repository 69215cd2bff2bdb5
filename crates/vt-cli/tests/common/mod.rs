//! The harness of the tests that run the real `vt` binary: emulators on loopback, served by a
//! tokio runtime of the test, a temp dir where every run lives, and runs of `vt` that inherit
//! nothing from the test's environment.
//!
//! Every run gets its own config and cache dirs (`VT_CONFIG_DIR`, `VT_CACHE_DIR`) and an
//! emulator's URL in `VT_BASE_URL`, and no key, proxy, `NO_COLOR` or `VT_TESTING_*` variable
//! unless the test sets it, so nothing touches the user's home or the network. The
//! emulators' counters prove what was (not) sent.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vt_emulator::{Emulator, EmulatorBuilder, KeySpec, RunningEmulator, Stats, Tier};

/// The private-tier key of [`standard_emulator`].
pub const KEY: &str = "cli-test-key-5f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// The public-tier key of [`standard_emulator`].
pub const PUBLIC_KEY: &str = "cli-test-public-key-0a1b2c3d4e5f";
/// The v2 documentation's sample (found, 40/40).
pub const SAMPLE_MD5: &str = "99017f6eebbac24f351415dd410d522d";
/// EICAR (found, 9/11).
pub const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
/// Not in the dataset.
pub const ABSENT_MD5: &str = "00000000000000000000000000000000";
/// Answered as queued by [`standard_emulator`].
pub const QUEUED_SHA256: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// Outer guard against a hang: a run still going after this is killed and fails the test.
pub const GUARD: Duration = Duration::from_secs(90);
/// All that a run of `vt` takes from the test's environment: what a process needs to start,
/// and where coverage data goes.
const INHERITED: [&str; 3] = ["PATH", "SYSTEMROOT", "LLVM_PROFILE_FILE"];

/// The bundled dataset, [`KEY`] on the private tier, [`PUBLIC_KEY`] on the public one and
/// [`QUEUED_SHA256`] answered as queued.
pub fn standard_emulator() -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new(KEY, Tier::Private).unwrap())
        .key(KeySpec::new(PUBLIC_KEY, Tier::Public).unwrap())
        .queued(QUEUED_SHA256)
}

/// Emulators on a runtime of the test, and a temp dir.
pub struct Env {
    runtime: tokio::runtime::Runtime,
    emulators: Vec<RunningEmulator>,
    dir: tempfile::TempDir,
}

/// How a run of `vt` ended.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A [`standard_emulator`] (the one [`Env::url`], [`Env::vt`] and the like use).
    pub fn new() -> Env {
        Env::with(|b| b)
    }

    /// A [`standard_emulator`] as `configure` changes it.
    pub fn with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Env {
        let mut env = Env::empty();
        env.start(configure(standard_emulator()));
        env
    }

    /// No emulator yet: see [`Env::start`].
    pub fn empty() -> Env {
        Env {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            emulators: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts an emulator; returns its index for [`Env::emulator`].
    pub fn start(&mut self, builder: EmulatorBuilder) -> usize {
        let emulator = self.runtime.block_on(builder.start()).unwrap();
        self.emulators.push(emulator);
        self.emulators.len() - 1
    }

    pub fn emulator(&self, index: usize) -> &RunningEmulator {
        &self.emulators[index]
    }

    /// The base URL of the first emulator.
    pub fn url(&self) -> String {
        self.emulator(0).url()
    }

    /// The counters of the first emulator.
    pub fn stats(&self) -> Stats {
        self.emulator(0).stats()
    }

    /// The runtime the emulators run on, for servers of a test.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The temp dir, where `vt` runs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file of the temp dir, creating its folder.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes a file with this mode (on Unix), creating its folder.
    pub fn write_with_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.write(name, contents);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    }

    /// Writes a file that only its owner may read and write (mode 0600), as `vt` wants a key
    /// file.
    pub fn write_key_file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        self.write_with_mode(name, contents, 0o600)
    }

    /// `vt` against `base_url`, with no key anywhere, its stdin empty.
    pub fn vt_at(&self, base_url: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vt"));
        command.env_clear();
        for var in INHERITED {
            if let Some(value) = std::env::var_os(var) {
                command.env(var, value);
            }
        }
        command
            .current_dir(self.dir.path())
            .env("VT_BASE_URL", base_url)
            .env("VT_CONFIG_DIR", self.path("config"))
            .env("VT_CACHE_DIR", self.path("cache"))
            .stdin(Stdio::null());
        command
    }

    /// `vt` against the first emulator, with no key anywhere.
    pub fn bare(&self) -> Command {
        self.vt_at(&self.url())
    }

    /// `vt` against the first emulator, with [`KEY`] in `VT_API_KEY` and private-tier
    /// defaults.
    pub fn vt(&self) -> Command {
        let mut command = self.bare();
        command.env("VT_API_KEY", KEY);
        command
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for emulator in self.emulators.drain(..) {
            self.runtime.block_on(emulator.shutdown());
        }
    }
}

/// Runs `command` to its end.
pub fn run(command: &mut Command) -> Output {
    run_watching(command, |_| {})
}

/// Runs `command` with `stdin` as its input.
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let (child, mut pipe) = spawn_with_stdin(command);
    pipe.write_all(stdin.as_bytes()).unwrap();
    drop(pipe);
    wait(child, |_| {})
}

/// Starts `command` with pipes for stdin, stdout and stderr; returns it and its stdin.
pub fn spawn_with_stdin(command: &mut Command) -> (Child, ChildStdin) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vt runs");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Runs `command`, calling `watch` with its pid every few milliseconds while it runs.
pub fn run_watching(command: &mut Command, watch: impl FnMut(u32)) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vt runs");
    wait(child, watch)
}

/// Waits for `child`, whose stdout and stderr are pipes (killing it past [`GUARD`]), calling
/// `watch` with its pid every few milliseconds while it runs.
pub fn wait(mut child: Child, mut watch: impl FnMut(u32)) -> Output {
    let drain = Drain::start(&mut child);
    let deadline = Instant::now() + GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vt was still running after {GUARD:?}: killed");
        }
        watch(child.id());
        std::thread::sleep(Duration::from_millis(5));
    };
    drain.finish(status)
}

/// The stdout and stderr pipes of a child, read on threads so that a chatty run cannot block
/// on a full pipe.
pub struct Drain {
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Drain {
    pub fn start(child: &mut Child) -> Drain {
        fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
            std::thread::spawn(move || {
                let mut text = String::new();
                pipe.read_to_string(&mut text).unwrap();
                text
            })
        }
        Drain {
            stdout: read_all(child.stdout.take().unwrap()),
            stderr: read_all(child.stderr.take().unwrap()),
        }
    }

    /// The output of the child that ended with `status`.
    pub fn finish(self, status: ExitStatus) -> Output {
        Output {
            code: status.code().expect("exited"),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// Every line of `stdout` as JSON (the `jsonl` format).
pub fn lines_as_json(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
