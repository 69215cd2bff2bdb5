//! File transfers (issue #13): a 150 MB file uploaded and downloaded through `vt_api::Client`
//! (examples/transfer.rs: the default hyper transport, private tier, one process per
//! transfer) and by `curl`, against a `vt-emulator` process on loopback, in the same run.
//!
//! Run: `cargo bench -p vt-api --bench transfer` (or `cargo xtask bench transfer`). It builds
//! the example and `vt-emulator` in release (a nested `cargo build`), writes 150,000,000
//! pseudo-random bytes under `target/tmp/`, and starts the emulator with that folder as
//! `--samples`, `--key benchkey:private`, `--analysis-delay 0` (its uploads spooled under
//! `target/tmp/` too). Then, `VT_BENCH_ROUNDS` rounds (default 3; vt and curl take turns at
//! going first):
//!
//! - upload, the same two steps for both: `GET file/scan/upload_url`, then the multipart
//!   `POST` (fields `apikey` and `file`) to the URL it names. curl is two processes, whose
//!   times are added (CPU too) and whose peak RSS is the larger; the answer must name the
//!   file's SHA-256.
//! - download: `GET file/download`, its `302` followed to the one-time path, the body written
//!   to a file (`curl -L -o`), then compared byte for byte with the original.
//!
//! Wall time is the child's, spawn to exit; peak RSS and CPU time (user + system) come from
//! `/usr/bin/time` when it exists, as in vt-cli's benchmark; the emulator's CPU time over the
//! same run from `/proc/<pid>/stat` (Linux), to tell when the server is what limits both. Without curl, only vt's figures
//! are printed. The targets: peak RSS under 50 MB each way, throughput at least 80% of curl.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const KEY: &str = "benchkey";
/// The file's size: 150 MB (143 MiB), over the 32 MB of `file/scan`, under the 200 MiB of an
/// upload URL.
const SIZE: u64 = 150_000_000;
/// The peak RSS allowed each way: 50 MB.
const RSS_TARGET: u64 = 50_000_000;
/// vt's throughput against curl's, at least.
const RATIO_TARGET: f64 = 0.8;

fn main() {
    let rounds = std::env::var("VT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vt-api-transfer");
    if work.exists() {
        std::fs::remove_dir_all(&work).expect("the previous run's folder is removed");
    }
    let samples = work.join("samples");
    let spool = work.join("emulator-tmp");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::create_dir_all(&spool).unwrap();

    eprintln!("building the example `transfer` and `vt-emulator` (release)...");
    let vt = build(
        &["--package", "vt-api", "--example", "transfer"],
        "transfer",
    );
    let emulator_bin = build(
        &["--package", "vt-emulator", "--bin", "vt-emulator"],
        "vt-emulator",
    );

    let original = samples.join("sample.bin");
    eprintln!(
        "writing {SIZE} pseudo-random bytes to {}...",
        original.display()
    );
    let sha256 = write_random(&original, SIZE);
    let emulator = Emulator::start(&emulator_bin, &samples, &spool);
    let url = emulator.url.clone();
    let curl = have("curl");
    if !curl {
        eprintln!("curl not found: the comparison with curl is skipped");
    }
    let time = Path::new("/usr/bin/time").exists();
    if !time {
        eprintln!("/usr/bin/time not found: no peak RSS or CPU time");
    }

    let path = original.to_str().unwrap();
    let out = work.join("downloaded.bin");
    let out_str = out.to_str().unwrap();
    let download_url = format!("{url}file/download?apikey={KEY}&hash={sha256}");
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=rounds {
        let sides: &[Side] = match (curl, round % 2) {
            (false, _) => &[Side::Vt],
            (true, 1) => &[Side::Vt, Side::Curl],
            (true, _) => &[Side::Curl, Side::Vt],
        };
        for &side in sides {
            let before = emulator.cpu();
            let cost = match side {
                Side::Vt => measure(
                    &work,
                    vt.to_str().unwrap(),
                    &["upload", &url, KEY, path, &sha256],
                ),
                Side::Curl => curl_upload(&work, &url, path, &sha256),
            };
            let server = emulator.cpu_since(before);
            runs.push(Run::new(side, Way::Upload, round, cost, server));
        }
        for &side in sides {
            let _ = std::fs::remove_file(&out);
            let before = emulator.cpu();
            let cost = match side {
                Side::Vt => measure(
                    &work,
                    vt.to_str().unwrap(),
                    &["download", &url, KEY, &sha256, out_str],
                ),
                Side::Curl => measure(
                    &work,
                    "curl",
                    &["-s", "-S", "-f", "-L", "-o", out_str, &download_url],
                ),
            };
            let server = emulator.cpu_since(before);
            assert!(
                same_bytes(&original, &out),
                "{side:?}'s download is not the file served"
            );
            std::fs::remove_file(&out).unwrap();
            runs.push(Run::new(side, Way::Download, round, cost, server));
        }
    }
    drop(emulator);
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "{SIZE} bytes ({:.0} MiB) each way, vt-emulator on loopback, {rounds} rounds",
        SIZE as f64 / 1048576.0
    );
    println!();
    println!("| run | wall | MB/s | peak RSS | CPU (user + sys) | emulator's CPU |");
    println!("|---|---|---|---|---|---|");
    for run in &runs {
        println!(
            "| {} {}, round {} | {:.3} s | {:.0} | {} | {} | {} |",
            run.side.name(),
            run.way.name(),
            run.round,
            run.cost.wall.as_secs_f64(),
            rate(run.cost.wall),
            mib(run.cost.rss),
            cpu(run.cost.cpu),
            cpu(run.server)
        );
    }
    println!();
    for way in [Way::Upload, Way::Download] {
        let best = |side: Side| {
            runs.iter()
                .filter(|r| r.side == side && r.way == way)
                .map(|r| r.cost.wall)
                .min()
        };
        let peak = runs
            .iter()
            .filter(|r| r.side == Side::Vt && r.way == way)
            .filter_map(|r| r.cost.rss)
            .max();
        let vt_best = best(Side::Vt).expect("vt ran");
        let mut line = format!("{}: vt best {:.0} MB/s", way.name(), rate(vt_best));
        if let Some(curl_best) = best(Side::Curl) {
            let ratio = curl_best.as_secs_f64() / vt_best.as_secs_f64();
            line.push_str(&format!(
                ", curl best {:.0} MB/s: vt/curl **{:.1}%** (target {:.0}%: {})",
                rate(curl_best),
                100.0 * ratio,
                100.0 * RATIO_TARGET,
                verdict(ratio >= RATIO_TARGET)
            ));
        }
        if let Some(peak) = peak {
            let bytes = peak * 1024;
            line.push_str(&format!(
                "; vt's largest peak RSS {} = {:.1} MB (target < 50 MB: {})",
                mib(Some(peak)),
                bytes as f64 / 1e6,
                verdict(bytes < RSS_TARGET)
            ));
        }
        println!("{line}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Vt,
    Curl,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Vt => "vt",
            Side::Curl => "curl",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Upload,
    Download,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Upload => "upload",
            Way::Download => "download",
        }
    }
}

#[derive(Debug)]
struct Run {
    side: Side,
    way: Way,
    round: usize,
    cost: Cost,
    /// The emulator's CPU time over the run.
    server: Option<Duration>,
}

impl Run {
    fn new(side: Side, way: Way, round: usize, cost: Cost, server: Option<Duration>) -> Run {
        eprintln!(
            "round {round}: {} {}: {:.3} s, {}",
            side.name(),
            way.name(),
            cost.wall.as_secs_f64(),
            mib(cost.rss)
        );
        Run {
            side,
            way,
            round,
            cost,
            server,
        }
    }
}

/// What one run cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    /// Peak RSS in KiB.
    rss: Option<u64>,
    /// User + system CPU time.
    cpu: Option<Duration>,
}

/// Runs `program` under `/usr/bin/time` (when it exists), its stdout kept in
/// `work/stdout`; it must succeed.
fn measure(work: &Path, program: &str, args: &[&str]) -> Cost {
    let report = work.join("time.txt");
    let _ = std::fs::remove_file(&report);
    let time = Path::new("/usr/bin/time");
    let mut command = match time.exists() {
        true => {
            let mut c = Command::new(time);
            c.args(["-f", "%M %U %S", "-o"]).arg(&report).arg(program);
            c
        }
        false => Command::new(program),
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.join("stdout")).unwrap())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let status = command.status().expect("the command runs");
    let wall = start.elapsed();
    assert!(status.success(), "{program} {args:?} failed: {status}");
    let report = std::fs::read_to_string(&report).unwrap_or_default();
    let fields: Vec<&str> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let seconds = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Cost {
        wall,
        rss: fields.first().and_then(|f| f.parse().ok()),
        cpu: seconds(1)
            .zip(seconds(2))
            .map(|(user, system)| Duration::from_secs_f64(user + system)),
    }
}

/// curl's upload: the upload URL asked for, then the multipart POST to it; the two
/// processes' times added, the larger peak RSS.
fn curl_upload(work: &Path, url: &str, path: &str, sha256: &str) -> Cost {
    let ask = format!("{url}file/scan/upload_url?apikey={KEY}");
    let first = measure(work, "curl", &["-s", "-S", "-f", &ask]);
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("stdout")).unwrap())
            .expect("file/scan/upload_url answers JSON");
    let upload_url = answer["upload_url"].as_str().expect("an upload_url");
    let apikey = format!("apikey={KEY}");
    let file = format!("file=@{path}");
    let second = measure(
        work,
        "curl",
        &["-s", "-S", "-f", "-F", &apikey, "-F", &file, upload_url],
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("stdout")).unwrap())
            .expect("the upload answers JSON");
    assert_eq!(answer["sha256"], sha256, "curl's upload arrived whole");
    Cost {
        wall: first.wall + second.wall,
        rss: first.rss.max(second.rss),
        cpu: first.cpu.zip(second.cpu).map(|(a, b)| a + b),
    }
}

/// Builds a target in release with the `cargo` running this benchmark; the path of its
/// executable.
fn build(selection: &[&str], name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .args(selection)
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo build {selection:?} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no executable {name}"))
}

/// Writes `size` pseudo-random bytes (SplitMix64) to `path`; their SHA-256.
fn write_random(path: &Path, size: u64) -> String {
    let mut file = std::fs::File::create(path).unwrap();
    let mut hasher = Sha256::new();
    let mut state = 0x5EED_u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    file.sync_all().unwrap();
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ra, mut rb) = (BufReader::new(fa), BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = ra.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        rb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The `vt-emulator` process, stopped with SIGTERM (so that it removes its spool folder)
/// when dropped.
struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(bin: &Path, samples: &Path, spool: &Path) -> Emulator {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--analysis-delay", "0"])
            .args(["--key", &format!("{KEY}:private")])
            .arg("--samples")
            .arg(samples)
            // Its uploads: under target/, not the system's temporary folder.
            .env("TMPDIR", spool)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("vt-emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("vt-emulator says where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from vt-emulator: {line:?}"))
            .to_owned();
        Emulator { child, url }
    }

    /// Its CPU time so far (user + system), from `/proc/<pid>/stat` in clock ticks of
    /// 1/100 s (USER_HZ on Linux).
    fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name, which is in parentheses: utime and stime are
        // the 14th and 15th of the line, the 12th and 13th after it.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
        let total = ticks(11)? + ticks(12)?;
        Some(Duration::from_millis(total * 10))
    }

    fn cpu_since(&self, before: Option<Duration>) -> Option<Duration> {
        Some(self.cpu()?.saturating_sub(before?))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// MB/s (10^6 bytes) for the file in `wall`.
fn rate(wall: Duration) -> f64 {
    SIZE as f64 / 1e6 / wall.as_secs_f64()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn cpu(cpu: Option<Duration>) -> String {
    cpu.map_or("-".to_owned(), |c| format!("{:.2} s", c.as_secs_f64()))
}

fn verdict(met: bool) -> &'static str {
    match met {
        true => "met",
        false => "**not met**",
    }
}
