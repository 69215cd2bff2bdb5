//! The `vt` binary's benchmarks (issue #5): `cargo bench -p vt-cli --bench bulk`.
//!
//! 1. Bulk: `VT_BENCH_N` (default 20,000) known SHA-256s from a file, private tier,
//!    `--format jsonl` to a file, against an in-process emulator serving generated reports
//!    (`VT_BENCH_ENGINES` engines each, default 40): hashes/s and peak RSS; the same as `csv`
//!    and `table`; then the same lookups through the Python v2 client `virustotal-api`
//!    (installed into a virtual environment under the target dir, pointed at the emulator with
//!    `api.base = URL`, batches of 25), and a check that both wrote the same records. With
//!    `VT_BENCH_BASELINE=/path/to/an/older/vt`, that binary runs the same jsonl, csv and table
//!    lookups in the same run, for ratios against it. Then 1,000,000 hashes (10% known) for
//!    peak RSS as the input grows (`VT_BENCH_MILLION=0` skips it).
//! 2. Hashing: `--hash` of a 1 GiB file vs `openssl dgst -sha256`; 20,000 small files vs
//!    `sha256sum` on every core (`VT_BENCH_HASH=0` skips it).
//! 3. Start-up: `vt --version`, median of 200.
//!
//! Peak RSS and CPU time (user + system, which holds still on a busy machine where the wall
//! time does not) come from `/usr/bin/time` when it exists. Tools that are missing (python3,
//! openssl, sha256sum) are reported and their comparison skipped.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const KEY: &str = "bench-key";
/// Runs of each `vt` bulk lookup, the best kept: a run of 20,000 lookups lasts about 0.1 s, so
/// that one disturbed by the machine's other work moves the figure by a fifth.
const VT_RUNS: usize = 5;
const VT: &str = env!("CARGO_BIN_EXE_vt");
const ENGINES: [&str; 10] = [
    "Avast",
    "BitDefender",
    "ClamAV",
    "DrWeb",
    "ESET-NOD32",
    "Kaspersky",
    "McAfee",
    "Microsoft",
    "Sophos",
    "Symantec",
];
const PYTHON_CLIENT: &str = r#"
import json, os, sys, time
from virus_total_apis import PublicApi
url, hashes_path = sys.argv[1:3]
api = PublicApi(os.environ["VT_API_KEY"])
api.base = url
hashes = [l.strip() for l in open(hashes_path) if l.strip()]
out = sys.stdout
for i in range(0, len(hashes), 25):
    r = api.get_file_report(hashes[i:i + 25])
    results = r["results"]
    for item in (results if isinstance(results, list) else [results]):
        out.write(json.dumps(item) + "\n")
"#;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(i: u64, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(i.to_le_bytes());
    h.update(salt.as_bytes());
    hex(&h.finalize())
}

/// The names of `count` engines: the well-known ten, then `Engine11`, `Engine12`, ...
fn engines(count: usize) -> Vec<String> {
    ENGINES
        .iter()
        .map(|e| (*e).to_owned())
        .chain((ENGINES.len() + 1..).map(|k| format!("Engine{k:02}")))
        .take(count)
        .collect()
}

/// Generated reports as one JSON array, and their SHA-256s.
fn generate(n: u64, engine_count: usize) -> (Vec<u8>, Vec<String>) {
    let engine_names = engines(engine_count);
    let mut json = String::from("[");
    let mut hashes = Vec::with_capacity(n as usize);
    for i in 0..n {
        let sha256 = digest(i, "");
        let md5 = &digest(i, "md5")[..32];
        let sha1 = &digest(i, "sha1")[..40];
        let positives = (i % 11) as usize;
        let scans: Vec<String> = engine_names
            .iter()
            .enumerate()
            .map(|(k, engine)| {
                let result = if k < positives {
                    format!("\"Trojan.Gen.{}\"", i % 97)
                } else {
                    "null".to_owned()
                };
                format!(
                    r#""{engine}":{{"detected":{},"version":"1.0","result":{result},"update":"20250101"}}"#,
                    k < positives
                )
            })
            .collect();
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            r#"{{"response_code":1,"verbose_msg":"Scan finished, information embedded","resource":"{sha256}","scan_id":"{sha256}-1735732800","md5":"{md5}","sha1":"{sha1}","sha256":"{sha256}","scan_date":"2025-01-01 12:00:00","permalink":"https://www.virustotal.com/file/{sha256}/analysis/1735732800/","positives":{positives},"total":{},"scans":{{{}}}}}"#,
            engine_names.len(),
            scans.join(",")
        ));
        hashes.push(sha256);
    }
    json.push(']');
    (json.into_bytes(), hashes)
}

/// What one run of a command cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cost {
    wall: Duration,
    /// Peak RSS in KiB.
    rss: Option<u64>,
    /// User + system CPU time: unlike the wall time, it holds still on a busy machine.
    cpu: Option<Duration>,
}

/// Runs a command with stdout to `out`; wall time, and peak RSS and CPU time when
/// measurable.
fn measure(program: &str, args: &[&str], envs: &[(&str, &str)], out: &Path) -> Cost {
    let time = Path::new("/usr/bin/time");
    let rss_file = out.with_extension("rss");
    let mut command = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(&rss_file)
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("output file"))
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let status = command.status().expect("the command runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "{program} {args:?} failed: {status}");
    let report = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let fields: Vec<&str> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let seconds = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Cost {
        wall: elapsed,
        rss: fields.first().and_then(|f| f.parse().ok()),
        cpu: seconds(1)
            .zip(seconds(2))
            .map(|(user, system)| Duration::from_secs_f64(user + system)),
    }
}

fn cpu(cost: &Cost) -> String {
    cost.cpu
        .map_or("-".to_owned(), |c| format!("{:.2} s", c.as_secs_f64()))
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here.
    let n = env_or("VT_BENCH_N", 20_000) as u64;
    let engine_count = env_or("VT_BENCH_ENGINES", 40);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vt-cli-bench");
    std::fs::create_dir_all(&work).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    eprintln!("generating {n} reports of {engine_count} engines...");
    let (json, hashes) = generate(n, engine_count);
    let mut dataset = vt_emulator::Dataset::new();
    dataset.add_json("generated", &json).unwrap();
    drop(json);
    let emulator = runtime
        .block_on(vt_emulator::Emulator::builder().dataset(dataset).start())
        .unwrap();
    let url = emulator.url();
    let known = work.join("known.txt");
    std::fs::write(&known, hashes.join("\n") + "\n").unwrap();
    let cache = work.join("cache");
    let config = work.join("config");
    let envs = [
        ("VT_BASE_URL", url.as_str()),
        ("VT_API_KEY", KEY),
        ("VT_CACHE_DIR", cache.to_str().unwrap()),
        ("VT_CONFIG_DIR", config.to_str().unwrap()),
    ];
    let vt_args_as = |input: &Path, format: &str| {
        vec![
            "file".to_owned(),
            "report".to_owned(),
            "--tier".to_owned(),
            "private".to_owned(),
            "--no-cache".to_owned(),
            "--format".to_owned(),
            format.to_owned(),
            "-i".to_owned(),
            input.display().to_string(),
        ]
    };
    let vt_args = |input: &Path| vt_args_as(input, "jsonl");
    let baseline = std::env::var("VT_BENCH_BASELINE").ok();

    println!("| run | wall | hashes/s | peak RSS | CPU (user + sys) |");
    println!("|---|---|---|---|---|");
    let args = vt_args(&known);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vt_out = work.join("vt.jsonl");
    let best = (0..VT_RUNS)
        .map(|_| measure(VT, &args, &envs, &vt_out))
        .min()
        .unwrap();
    let vt_rate = n as f64 / best.wall.as_secs_f64();
    println!(
        "| vt, {n} known hashes, jsonl (best of {VT_RUNS}) | {:.2} s | {vt_rate:.0} | {} | {} |",
        best.wall.as_secs_f64(),
        mib(best.rss),
        cpu(&best)
    );
    // The formats that decode every answer, and the older binary if given, in the same run.
    let programs: Vec<(&str, &str)> = std::iter::once(("vt", VT))
        .chain(baseline.as_deref().map(|b| ("baseline vt", b)))
        .collect();
    for format in ["jsonl", "csv", "table"] {
        for &(name, program) in &programs {
            if name == "vt" && format == "jsonl" {
                continue;
            }
            let args = vt_args_as(&known, format);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = work.join(format!("{}.{format}", name.replace(' ', "-")));
            let run = (0..VT_RUNS)
                .map(|_| measure(program, &args, &envs, &out))
                .min()
                .unwrap();
            println!(
                "| {name}, {n} known hashes, {format} (best of {VT_RUNS}) | {:.2} s | {:.0} | {} | {} |",
                run.wall.as_secs_f64(),
                n as f64 / run.wall.as_secs_f64(),
                mib(run.rss),
                cpu(&run)
            );
        }
    }

    if have("python3") {
        let venv = work.join("venv");
        let python = venv.join("bin/python");
        if !python.exists() {
            eprintln!("installing virustotal-api into {}...", venv.display());
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "-q", "virustotal-api==1.1.11"])
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("could not install virustotal-api: Python comparison skipped");
            }
        }
        if python.exists() {
            let script = work.join("client.py");
            std::fs::write(&script, PYTHON_CLIENT).unwrap();
            let py_out = work.join("python.jsonl");
            let py = (0..2)
                .map(|_| {
                    measure(
                        python.to_str().unwrap(),
                        &[script.to_str().unwrap(), &url, known.to_str().unwrap()],
                        &envs,
                        &py_out,
                    )
                })
                .min()
                .unwrap();
            let py_rate = n as f64 / py.wall.as_secs_f64();
            println!(
                "| Python virustotal-api 1.1.11, same lookups (best of 2) | {:.2} s | {py_rate:.0} | {} | {} |",
                py.wall.as_secs_f64(),
                mib(py.rss),
                cpu(&py)
            );
            let cpu_ratio = py.cpu.zip(best.cpu).map_or("-".to_owned(), |(p, v)| {
                format!("{:.1}x less", p.as_secs_f64() / v.as_secs_f64())
            });
            println!(
                "| **ratio** | | **{:.1}x** | | {cpu_ratio} |",
                vt_rate / py_rate
            );
            let records = |path: &Path| -> Vec<serde_json::Value> {
                std::fs::read_to_string(path)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            };
            assert_eq!(
                records(&vt_out),
                records(&py_out),
                "vt and the Python client wrote the same records"
            );
        }
    } else {
        eprintln!("python3 not found: Python comparison skipped");
    }

    if env_or("VT_BENCH_MILLION", 1) != 0 {
        let million = work.join("million.txt");
        let mut text = String::with_capacity(65 * 1_000_000);
        for i in 0..1_000_000u64 {
            if i % 10 == 0 {
                text.push_str(&hashes[(i as usize / 10) % hashes.len()]);
            } else {
                text.push_str(&digest(i, "absent"));
            }
            text.push('\n');
        }
        std::fs::write(&million, text).unwrap();
        let args = vt_args(&million);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = measure(VT, &args, &envs, &work.join("million.jsonl"));
        println!(
            "| vt, 1,000,000 hashes (10% known) | {:.2} s | {:.0} | {} | {} |",
            run.wall.as_secs_f64(),
            1e6 / run.wall.as_secs_f64(),
            mib(run.rss),
            cpu(&run)
        );
    }

    if env_or("VT_BENCH_HASH", 1) != 0 {
        hashing(&work, &envs);
    }

    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(VT)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "| `vt --version`, median of 200 | {:.2} ms | | | |",
        times[100].as_secs_f64() * 1000.0
    );
    runtime.block_on(emulator.shutdown());
}

fn hashing(work: &Path, envs: &[(&str, &str)]) {
    let big = work.join("big.bin");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..1024u32 {
            block[..4].copy_from_slice(&i.to_le_bytes());
            block[4096] = i as u8;
            file.write_all(&block).unwrap();
        }
    }
    let args = [
        "file",
        "report",
        "--no-cache",
        "--format",
        "csv",
        "--hash",
        big.to_str().unwrap(),
    ];
    let run = (0..3)
        .map(|_| measure(VT, &args, envs, &work.join("big.csv")))
        .min()
        .unwrap();
    let vt = run.wall;
    println!(
        "| vt --hash, 1 GiB file, lookup included (best of 3) | {:.2} s | {:.0} MB/s | {} | {} |",
        vt.as_secs_f64(),
        1024.0 * 1.048_576 / vt.as_secs_f64(),
        mib(run.rss),
        cpu(&run)
    );
    if have("openssl") {
        let openssl = (0..3)
            .map(|_| {
                measure(
                    "openssl",
                    &["dgst", "-sha256", big.to_str().unwrap()],
                    &[],
                    &work.join("big.openssl"),
                )
            })
            .min()
            .unwrap()
            .wall;
        println!(
            "| openssl dgst -sha256, same file (best of 3) | {:.2} s | vt is **{:.2}x** its speed | | |",
            openssl.as_secs_f64(),
            openssl.as_secs_f64() / vt.as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(&big);

    let small = work.join("small");
    if !small.exists() {
        for d in 0..20 {
            let dir = small.join(format!("d{d:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..1000u64 {
                let mut content = vec![0u8; 4096 + (i as usize * 37) % 8192];
                content[..8].copy_from_slice(&(d * 1000 + i).to_le_bytes());
                std::fs::write(dir.join(format!("f{i:04}.bin")), content).unwrap();
            }
        }
    }
    let args = [
        "file",
        "report",
        "--tier",
        "private",
        "--no-cache",
        "--format",
        "jsonl",
        "--hash",
        small.to_str().unwrap(),
    ];
    let run = measure(VT, &args, envs, &work.join("small.jsonl"));
    println!(
        "| vt --hash, 20,000 files of 4-12 KiB, lookups included | {:.2} s | {:.0} files/s | {} | {} |",
        run.wall.as_secs_f64(),
        20_000.0 / run.wall.as_secs_f64(),
        mib(run.rss),
        cpu(&run)
    );
    if have("sha256sum") {
        let script = format!(
            "find {} -type f -print0 | xargs -0 -P{} -n 500 sha256sum",
            small.display(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let t = measure("sh", &["-c", &script], &[], &work.join("small.sha256sum")).wall;
        println!(
            "| find \\| xargs -P(cores) sha256sum, same files | {:.2} s | {:.0} files/s | | |",
            t.as_secs_f64(),
            20_000.0 / t.as_secs_f64()
        );
    }
}
