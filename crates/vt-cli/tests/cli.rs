//! The real `vt` binary against a real emulator on loopback, in temp dirs (the harness is
//! `common`): the formats, the inputs, the cache, the exit statuses, pacing and the key.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use vt_emulator::Clock;

const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const SAMPLE_SHA256: &str = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";
/// The PE dropper (found, 10/11), asked in upper case.
const DROPPER_SHA256_UPPER: &str =
    "E478506A219D0F674EA2D03077E80CA4CA549A37792BC4FA686D3A756D3B9FCC";
/// The empty file (found, 0/10).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn report(env: &Env, args: &[&str]) -> Output {
    run(env.vt().args(["file", "report"]).args(args))
}

/// The mix every format is shown with: found (three ways), not found, queued, a duplicate.
const MIX: [&str; 6] = [
    SAMPLE_MD5,
    EICAR_MD5,
    ABSENT_MD5,
    DROPPER_SHA256_UPPER,
    QUEUED_SHA256,
    SAMPLE_MD5,
];

#[test]
fn table_format() {
    let env = Env::new();
    let out = report(
        &env,
        &[&["--format", "table", "--tier", "private"][..], &MIX].concat(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn csv_format() {
    let env = Env::new();
    let out = report(
        &env,
        &[&["--format", "csv", "--tier", "private"][..], &MIX].concat(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn jsonl_is_the_default_when_piped_and_keeps_every_answer_whole() {
    let env = Env::new();
    let out = report(&env, &[&["--tier", "private"][..], &MIX].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), MIX.len(), "one record per input");
    for (record, asked) in records.iter().zip(MIX) {
        assert_eq!(record["resource"], asked, "input order, echoed as asked");
    }
    insta::assert_json_snapshot!(records);
}

#[test]
fn json_is_one_array_of_the_jsonl_records() {
    let env = Env::new();
    let args = [&["--tier", "private"][..], &MIX].concat();
    let jsonl = report(&env, &[&["--format", "jsonl"][..], &args].concat());
    let json = report(&env, &[&["--format", "json"][..], &args].concat());
    assert_eq!(json.code, 0, "{}", json.stderr);
    let array: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        array,
        serde_json::Value::Array(lines_as_json(&jsonl.stdout))
    );
    insta::assert_snapshot!(json.stdout);
}

#[test]
fn input_from_a_file_and_stdin_skips_comments_and_blank_lines() {
    let env = Env::new();
    let list = format!(
        "# incident 42\n\n{SAMPLE_MD5}\n   {ABSENT_MD5}   # asked twice below\n\n{EICAR_SHA256}\n"
    );
    let file = env.write("hashes.txt", &list);
    let from_file = run(env
        .vt()
        .args(["file", "report", "--format", "csv", "-i"])
        .arg(&file));
    let from_stdin = run_with_stdin(
        env.vt().args([
            "file",
            "report",
            "--format",
            "csv",
            DROPPER_SHA256_UPPER,
            "-i",
            "-",
        ]),
        &list,
    );
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert_eq!(from_stdin.code, 0, "{}", from_stdin.stderr);
    let column = |out: &Output| -> Vec<String> {
        out.stdout
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        column(&from_file),
        [
            format!("{SAMPLE_MD5} found"),
            format!("{ABSENT_MD5} not_found"),
            format!("{EICAR_SHA256} found"),
        ]
    );
    assert_eq!(
        column(&from_stdin)[0],
        format!("{DROPPER_SHA256_UPPER} found")
    );
    assert_eq!(column(&from_stdin)[1..], column(&from_file)[..]);
}

#[test]
fn an_invalid_input_is_exit_2_names_value_and_line_and_sends_nothing() {
    let env = Env::new();
    let file = env.write(
        "hashes.txt",
        format!("{SAMPLE_MD5}\n# fine\n{EICAR_MD5}z\n{ABSENT_MD5}\n"),
    );
    let out = run(env
        .vt()
        .args(["file", "report", SAMPLE_MD5, "-i"])
        .arg(&file));
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains(&format!(
            "line 3 of {}: invalid resource \"{EICAR_MD5}z\"",
            file.display()
        )),
        "{}",
        out.stderr
    );
    let out = report(&env, &[SAMPLE_MD5, "not-a-hash"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("argument 2: invalid resource \"not-a-hash\""),
        "{}",
        out.stderr
    );
    let out = run_with_stdin(env.vt().args(["file", "report", "-i", "-"]), "x\n");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("line 1 of stdin"), "{}", out.stderr);
    assert_eq!(env.stats().requests, 0, "nothing was sent");
}

#[test]
fn usage_errors_are_exit_2_and_send_nothing() {
    let env = Env::new();
    let no_key = run(env.bare().args(["file", "report", SAMPLE_MD5]));
    assert_eq!(no_key.code, 2);
    assert!(no_key.stderr.contains("no API key"), "{}", no_key.stderr);
    let nothing = report(&env, &[]);
    assert_eq!(nothing.code, 2);
    assert!(nothing.stderr.contains("nothing to look up"));
    let bad_flag = report(&env, &["--format", "xml", SAMPLE_MD5]);
    assert_eq!(bad_flag.code, 2);
    let bad_rate = report(&env, &["--rate", "fast", SAMPLE_MD5]);
    assert_eq!(bad_rate.code, 2);
    let missing_input = report(&env, &["-i", "no-such-file.txt"]);
    assert_eq!(missing_input.code, 2);
    assert!(missing_input.stderr.contains("no-such-file.txt"));
    assert_eq!(env.stats().requests, 0);
}

#[test]
fn failed_lookups_are_exit_1_with_an_error_record_each_in_place() {
    let env = Env::new();
    // A key the emulator does not know: 403 for every request.
    let out = run(env.bare().env("VT_API_KEY", "wrong-key").args([
        "file",
        "report",
        "--no-cache",
        SAMPLE_MD5,
        ABSENT_MD5,
    ]));
    assert_eq!(out.code, 1);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["resource"], SAMPLE_MD5);
    assert_eq!(records[0]["error"]["kind"], "forbidden");
    assert_eq!(records[1]["resource"], ABSENT_MD5);
    assert!(
        out.stderr.contains("2 of 2 lookups failed"),
        "{}",
        out.stderr
    );
}

#[test]
fn hash_walks_a_tree_and_reports_unreadable_files_in_place() {
    let env = Env::new();
    env.write("tree/empty.bin", "");
    env.write(
        "tree/sub/eicar.com",
        r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    );
    env.write("tree/sub/unknown.txt", "hello\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink(env.path("nowhere"), env.path("tree/sub/zz-broken-link")).unwrap();
    let tree = env.path("tree");
    let out = run(env
        .vt()
        .current_dir(env.dir())
        .args(["file", "report", "--format", "jsonl", "--hash", "tree"]));
    let records = lines_as_json(&out.stdout);
    let summary: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let status = if r.get("error").is_some() {
                format!("error {}", r["error"]["kind"].as_str().unwrap())
            } else {
                r["response_code"].to_string()
            };
            (r["path"].as_str().unwrap().to_owned(), status)
        })
        .collect();
    let expected_paths = [
        ("tree/empty.bin", "1"),
        ("tree/sub/eicar.com", "1"),
        ("tree/sub/unknown.txt", "0"),
    ];
    for (i, (path, status)) in expected_paths.iter().enumerate() {
        assert_eq!(summary[i], ((*path).to_owned(), (*status).to_owned()));
    }
    assert_eq!(records[0]["resource"], EMPTY_SHA256);
    assert_eq!(records[1]["resource"], EICAR_SHA256);
    #[cfg(unix)]
    {
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(summary[3].0, "tree/sub/zz-broken-link");
        assert_eq!(summary[3].1, "error io");
        assert!(records[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No such file"));
    }
    // The table carries a path column; csv a trailing path column.
    let csv = run(env
        .vt()
        .args(["file", "report", "--format", "csv", "--hash"])
        .arg(tree.join("empty.bin")));
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let mut lines = csv.stdout.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with(",permalink,path,cached_at,detections,message,error_kind,label"));
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&format!("{EMPTY_SHA256},found,0,10,")),
        "{row}"
    );
    assert!(
        row.contains(&format!(",{},", tree.join("empty.bin").display())),
        "{row}"
    );
}

#[test]
fn the_cache_answers_a_second_run_and_offline_sends_nothing() {
    let env = Env::new();
    let first = report(&env, &[SAMPLE_MD5, ABSENT_MD5]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let sent = env.stats().requests;
    assert_eq!(sent, 1);
    let again = report(&env, &[SAMPLE_MD5, ABSENT_MD5]);
    let offline = report(&env, &["--offline", SAMPLE_MD5, ABSENT_MD5]);
    assert_eq!(env.stats().requests, sent, "answered from the cache");
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(offline.stdout, first.stdout);
    // Offline, a miss is a failed record, still without a request.
    let miss = report(&env, &["--offline", EICAR_MD5, SAMPLE_MD5]);
    assert_eq!(miss.code, 1);
    let records = lines_as_json(&miss.stdout);
    assert_eq!(records[0]["error"]["kind"], "not_cached");
    assert_eq!(records[1]["resource"], SAMPLE_MD5);
    // --no-cache asks again.
    let fresh = report(&env, &["--no-cache", SAMPLE_MD5]);
    assert_eq!(fresh.code, 0);
    assert_eq!(env.stats().requests, sent + 1);
}

/// The emulator's quota windows, running as fast as vt's under `VT_TESTING_TIME_SCALE`.
#[derive(Debug)]
struct Scaled {
    origin: std::time::Instant,
    scale: u32,
}

impl Clock for Scaled {
    fn now(&self) -> Duration {
        self.origin.elapsed() * self.scale
    }
}

#[test]
fn public_pacing_spends_the_quota_without_a_single_204() {
    const SCALE: u32 = 30; // a minute is 2 s
    let env = Env::with(|b| {
        b.public_per_minute(4).clock(Scaled {
            origin: std::time::Instant::now(),
            scale: SCALE,
        })
    });
    // Six requests of one resource at 2 a minute: three windows. Without pacing the burst
    // would meet 204 from the fifth request on.
    let resources: Vec<String> = (0..6).map(|i| format!("{i:064x}")).collect();
    let out = run(env
        .bare()
        .env("VT_API_KEY", PUBLIC_KEY)
        .env("VT_TESTING_TIME_SCALE", SCALE.to_string())
        .args(["file", "report", "--no-cache", "--tier", "public"])
        .args(["--rate", "2/min", "--batch-size", "1", "-v"])
        .args(&resources));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines_as_json(&out.stdout).len(), 6);
    let stats = env.stats();
    assert_eq!(stats.status(204), 0, "{stats:?}");
    assert_eq!(stats.status(200), 6, "{stats:?}");
    assert!(out.stderr.contains("pacing"), "{}", out.stderr);
}

#[test]
fn a_service_counting_resources_is_met_by_slowing_down_or_by_quota_unit_resource() {
    const SCALE: u32 = 30; // a minute is 2 s
    let env = Env::with(|b| {
        b.public_per_minute(4)
            .quota_unit(vt_emulator::QuotaUnit::Resource)
            .clock(Scaled {
                origin: std::time::Instant::now(),
                scale: SCALE,
            })
    });
    let vt = |hashes: &[String], extra: &[&str]| {
        run(env
            .bare()
            .env("VT_API_KEY", PUBLIC_KEY)
            .env("VT_TESTING_TIME_SCALE", SCALE.to_string())
            .args(["file", "report", "--no-cache", "--tier", "public"])
            .args(extra)
            .args(hashes))
    };
    // Counting requests (the default), vt meets 204s it cannot explain: after the second it
    // says so once and slows down to one batch a minute, and meets no more.
    let first: Vec<String> = (0..12).map(|i| format!("{i:064x}")).collect();
    let out = vt(&first, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines_as_json(&out.stdout).len(), 12);
    assert_eq!(
        out.stderr
            .matches("slowing down to 1 request a minute")
            .count(),
        1,
        "{}",
        out.stderr
    );
    let stats = env.stats();
    assert_eq!((stats.status(200), stats.status(204)), (3, 2), "{stats:?}");
    // Its pacing waits are said once, stderr being no terminal.
    assert_eq!(
        out.stderr.matches("pacing to the key's quota").count(),
        1,
        "{}",
        out.stderr
    );
    // Told that the service counts resources, vt meets none.
    let second: Vec<String> = (100..112).map(|i| format!("{i:064x}")).collect();
    let out = vt(&second, &["--quota-unit", "resource"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines_as_json(&out.stdout).len(), 12);
    let stats = env.stats();
    assert_eq!((stats.status(200), stats.status(204)), (6, 2), "{stats:?}");
    assert!(!out.stderr.contains("slowing down"), "{}", out.stderr);
}

#[test]
fn the_key_appears_in_no_output_or_log_line() {
    let env = Env::new();
    let key_file = env.write_key_file("key.txt", format!("{KEY}\n"));
    let via_env = run(env.vt().args([
        "-vv",
        "file",
        "report",
        "--no-cache",
        SAMPLE_MD5,
        ABSENT_MD5,
        "--format",
        "table",
    ]));
    let via_file = run(env
        .bare()
        .args([
            "file",
            "report",
            "-v",
            "--no-cache",
            EICAR_MD5,
            "--api-key-file",
        ])
        .arg(&key_file));
    let forbidden = run(env.bare().env("VT_API_KEY", format!("{KEY}-wrong")).args([
        "file",
        "report",
        "-v",
        "--no-cache",
        EICAR_MD5,
    ]));
    for out in [&via_env, &via_file, &forbidden] {
        assert!(!out.stdout.contains(KEY), "{}", out.stdout);
        assert!(!out.stderr.contains(KEY), "{}", out.stderr);
    }
    assert_eq!(via_env.code, 0, "{}", via_env.stderr);
    assert_eq!(via_file.code, 0, "{}", via_file.stderr);
    assert_eq!(forbidden.code, 1);
    assert!(
        via_env.stderr.contains("asking file/report"),
        "-v shows the requests: {}",
        via_env.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused() {
    let env = Env::new();
    let key_file = env.write_with_mode("key.txt", KEY, 0o644);
    let out = run(env
        .bare()
        .args(["file", "report", SAMPLE_MD5, "--api-key-file"])
        .arg(&key_file));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    assert!(!out.stderr.contains(KEY));
    assert_eq!(env.stats().requests, 0);
}

#[test]
fn init_writes_a_private_config_that_later_runs_use() {
    let env = Env::new();
    let init = run_with_stdin(
        env.bare().args(["init", "--tier", "private"]),
        &format!("{KEY}\n"),
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(!init.stderr.contains(KEY));
    let config = env.path("config/config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = run(env.bare().args(["file", "report", "--allinfo", EICAR_MD5]));
    assert_eq!(
        out.code, 0,
        "the stored key and private tier are used: {}",
        out.stderr
    );
    let record = &lines_as_json(&out.stdout)[0];
    assert!(
        record.get("first_seen").is_some()
            || record.get("additional_info").is_some()
            || record.get("size").is_some(),
        "allinfo fields: {record}"
    );
}

#[test]
fn wait_queued_gives_up_after_its_time_and_prints_the_queued_answer() {
    let env = Env::new();
    let out = report(&env, &["--wait-queued=1s", QUEUED_SHA256]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = &lines_as_json(&out.stdout)[0];
    assert_eq!(record["response_code"], -2);
    assert!(env.stats().requests >= 1);
}

#[test]
fn completions_and_version() {
    let env = Env::new();
    let out = run(env.bare().args(["completions", "bash"]));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--wait-queued"));
    let version = run(env.bare().arg("--version"));
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("vt "));
}

#[test]
fn color_always_paints_the_ratio_by_severity() {
    let env = Env::new();
    let out = report(
        &env,
        &[
            "--format",
            "table",
            "--color",
            "always",
            "--tier",
            "private",
            SAMPLE_MD5,
            EMPTY_SHA256,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\x1b[31m  40/40\x1b[0m"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\x1b[32m   0/10\x1b[0m"),
        "{}",
        out.stdout
    );
    let plain = report(&env, &["--format", "table", SAMPLE_MD5]);
    assert!(
        !plain.stdout.contains('\x1b'),
        "no colour in a pipe by default"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let list: String = (0..5000).map(|i| format!("{i:064x}\n")).collect();
    let file = env.write("many.txt", &list);
    let mut child = env
        .vt()
        .args(["file", "report", "--tier", "private", "--no-cache", "-i"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, as `| head -1` would.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(first.contains("\"response_code\": 0"), "{first}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Now in Unix milliseconds: the common origin of the scaled wall clocks of several vt
/// processes (`VT_TESTING_TIME_ORIGIN`), so that their quota ledger entries agree.
fn unix_ms_now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

/// `vt file report` on the public key over `count` made-up sha256s from `first`, time scaled.
fn public_run(env: &Env, scale: u32, origin: &str, first: usize, count: usize) -> Command {
    let resources: Vec<String> = (first..first + count)
        .map(|i| format!("{i:064x}"))
        .collect();
    let mut command = env.bare();
    command
        .env("VT_API_KEY", PUBLIC_KEY)
        .env("VT_TESTING_TIME_SCALE", scale.to_string())
        .env("VT_TESTING_TIME_ORIGIN", origin)
        .args(["file", "report", "--tier", "public", "--format", "jsonl"])
        .args(&resources);
    command
}

/// Two `vt` processes at once on the public key, 16 resources each, against an emulator that
/// allows 4 requests a minute on a clock `scale` times fast; `own_caches` gives each its own
/// cache (and so its own quota count); `extra` are more arguments of both. Both must end
/// complete; returns their stderr.
fn two_processes_on_one_public_key(
    env: &Env,
    scale: u32,
    own_caches: bool,
    extra: &[&str],
) -> String {
    let origin = unix_ms_now();
    let spawn = |first: usize| {
        let mut command = public_run(env, scale, &origin, first, 16);
        if own_caches {
            command.env("VT_CACHE_DIR", env.path(&format!("cache-{first}")));
        }
        command
            .args(extra)
            .arg("-v")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(0), spawn(100));
    let mut stderr = String::new();
    for run in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        stderr.push_str(&String::from_utf8_lossy(&run.stderr));
        assert_eq!(run.status.code(), Some(0), "{stderr}");
        let records = lines_as_json(&String::from_utf8_lossy(&run.stdout));
        assert_eq!(records.len(), 16);
    }
    stderr
}

fn public_quota_of_4_a_minute(scale: u32) -> Env {
    Env::with(|b| {
        b.public_per_minute(4).clock(Scaled {
            origin: std::time::Instant::now(),
            scale,
        })
    })
}

/// Two `vt` processes at once on the public key and one cache dir, with `extra` arguments:
/// 4 requests each, 4 a minute between them. Each alone would send its 4 at once and the
/// second would meet 204s; through the shared ledger they take turns.
fn check_one_shared_count(extra: &[&str]) {
    let env = public_quota_of_4_a_minute(20); // a minute is 3 s
    let stderr = two_processes_on_one_public_key(&env, 20, false, extra);
    let stats = env.stats();
    assert_eq!(
        (stats.status(200), stats.status(204)),
        (8, 0),
        "{stats:?}\n{stderr}"
    );
}

#[test]
fn two_vt_processes_on_one_key_share_its_quota_through_the_cache_without_a_204() {
    check_one_shared_count(&[]);
}

#[test]
fn runs_without_the_cache_of_answers_still_share_the_quota_count() {
    // --no-cache keeps answers out of the cache file, not the count of requests.
    check_one_shared_count(&["--no-cache"]);
}

#[test]
fn two_processes_on_one_key_never_exceed_its_daily_quota() {
    // The service allows the public key 4 requests a day; two vt runs at once need 4 each.
    // Through the shared count they send 4 on the first day and the rest once the first
    // have aged a day (4.3 s here), and the service never answers 204.
    const SCALE: u32 = 20_000;
    let env = Env::with(|b| {
        b.public_per_day(4).clock(Scaled {
            origin: std::time::Instant::now(),
            scale: SCALE,
        })
    });
    let stderr = two_processes_on_one_public_key(
        &env,
        SCALE,
        false,
        &["--daily-quota", "4", "--timeout", "30d"],
    );
    let stats = env.stats();
    assert_eq!(
        (stats.status(200), stats.status(204)),
        (8, 0),
        "{stats:?}\n{stderr}"
    );
    assert!(
        stderr.contains("the daily quota of 4 requests is used up; the next request goes at"),
        "{stderr}"
    );
}

#[test]
fn vt_processes_with_their_own_counts_back_off_on_204_and_finish() {
    // A colleague's vt elsewhere: no shared count, so 204s happen. Each 204 holds the key's
    // requests for a minute; both runs end complete, and no request is answered twice.
    let env = public_quota_of_4_a_minute(60); // a minute is 1 s
    let stderr = two_processes_on_one_public_key(&env, 60, true, &[]);
    let stats = env.stats();
    assert_eq!(stats.status(200), 8, "{stats:?}");
    assert!(stats.status(204) > 0, "{stats:?}");
    assert!(stderr.contains("204 No Content"), "{stderr}");
}

#[test]
fn the_daily_quota_is_counted_across_runs_warned_about_and_waited_for() {
    // A day is 4.3 s; the service itself has no quota on the key (private), so every wait
    // is vt's own pacing.
    const SCALE: u32 = 20_000;
    let env = Env::new();
    let origin = unix_ms_now();
    let run_of = |first: usize| {
        let mut command = public_run(&env, SCALE, &origin, first, 8);
        command
            .env("VT_API_KEY", KEY)
            .args(["--daily-quota", "3", "--timeout", "30d"]);
        run(&mut command)
    };
    // Two requests today.
    let first = run_of(0);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stderr.contains("daily quota"), "{}", first.stderr);
    // The next run counts them: its two requests are more than the one left.
    let second = run_of(100);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(lines_as_json(&second.stdout).len(), 8);
    assert!(
        second
            .stderr
            .contains("this run may need up to 2 requests, and 1 of the daily quota of 3 are left"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains(" UTC"), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("the daily quota of 3 requests is used up; the next request goes at"),
        "{}",
        second.stderr
    );
    assert_eq!(env.stats().status(200), 4);
}

#[test]
fn repeats_far_apart_are_asked_once_through_the_cache() {
    // 1,000 distinct hashes, then the first 100 again: 1,000 lines apart, far beyond the
    // stream's window of a few hundred; the cache (on by default) answers the second copies.
    let distinct: Vec<String> = (0..1_000u32).map(|i| format!("{i:032x}")).collect();
    let mut lines = distinct.clone();
    lines.extend(distinct[..100].iter().cloned());
    let env = Env::new();
    let list = env.write("repeats.txt", lines.join("\n") + "\n");
    let out = run(env
        .vt()
        .args([
            "file", "report", "--tier", "private", "--format", "jsonl", "-i",
        ])
        .arg(&list));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 1_100, "one record per input");
    assert_eq!(records[1_050]["resource"], distinct[50]);
    assert_eq!(
        env.stats().resources_asked,
        1_000,
        "each distinct hash asked once"
    );
}

#[test]
fn repeats_far_apart_are_asked_once_without_the_cache_too() {
    // The same list with --no-cache, read from stdin and given as arguments: the inputs are
    // counted as they are validated, and the answers of the 100 that come again are kept
    // for their second copies, which are not asked again.
    let distinct: Vec<String> = (0..1_000u32).map(|i| format!("{i:032x}")).collect();
    let mut lines = distinct.clone();
    lines.extend(distinct[..100].iter().rev().cloned());
    let env = Env::new();
    let out = run_with_stdin(
        env.vt().args([
            "file",
            "report",
            "--no-cache",
            "--tier",
            "private",
            "--format",
            "jsonl",
            "-i",
            "-",
        ]),
        &(lines.join("\n") + "\n"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 1_100, "one record per input");
    for (record, asked) in records.iter().zip(&lines) {
        assert_eq!(
            record["resource"],
            asked.as_str(),
            "each input its own answer"
        );
    }
    assert_eq!(
        env.stats().resources_asked,
        1_000,
        "each distinct hash asked once"
    );
    let cache_dir = env.path("cache");
    assert!(
        !cache_dir.join("file-report.sqlite3").exists(),
        "and nothing was written to a cache"
    );
}

/// Sets the mode of `path`.
fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn offline_reads_a_cache_file_it_cannot_write() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let filled = report(&env, &["--tier", "private", SAMPLE_MD5, ABSENT_MD5]);
    assert_eq!(filled.code, 0, "{}", filled.stderr);
    // The file and its folder made read-only, as a copy shared with an analyst would be.
    // Root writes whatever the modes say: then vt runs as `nobody`, for whom the folders on
    // the way are opened (read and search only).
    let cache_dir = env.path("cache");
    let file = cache_dir.join("file-report.sqlite3");
    let before = std::fs::read(&file).unwrap();
    chmod(&file, 0o444);
    chmod(&cache_dir, 0o555);
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let vt = |args: &[&str]| {
        let mut command = env.bare();
        command.args(args);
        if as_root {
            chmod(env.path("").as_path(), 0o755);
            command.uid(65534).gid(65534);
        }
        run(&mut command)
    };
    let offline = vt(&["file", "report", "--offline", SAMPLE_MD5, ABSENT_MD5]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    let records = lines_as_json(&offline.stdout);
    assert_eq!(
        (
            records[0]["response_code"].as_i64(),
            records[1]["response_code"].as_i64()
        ),
        (Some(1), Some(0)),
        "{}",
        offline.stdout
    );
    let stats = vt(&["cache", "stats"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("answers   2 ("), "{}", stats.stdout);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is unchanged"
    );
    chmod(&cache_dir, 0o700);
}

#[test]
fn the_cache_is_described_pruned_and_cleared() {
    let env = Env::new();
    let none = run(env.vt().args(["cache", "stats"]));
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.starts_with("no cache yet"), "{}", none.stdout);
    let filled = report(
        &env,
        &["--tier", "private", SAMPLE_MD5, EICAR_MD5, ABSENT_MD5],
    );
    assert_eq!(filled.code, 0, "{}", filled.stderr);
    let stats = run(env.vt().args(["cache", "stats"]));
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("answers   3 ("), "{}", stats.stdout);
    assert!(
        stats.stdout.contains(&format!("{}file/report", env.url())),
        "{}",
        stats.stdout
    );
    let pruned = run(env.vt().args(["cache", "prune", "--older-than", "1d"]));
    assert!(
        pruned.stdout.starts_with("forgot 0 answers"),
        "{}",
        pruned.stdout
    );
    let cleared = run(env.vt().args(["cache", "clear"]));
    assert!(
        cleared.stdout.starts_with("forgot all 3 answers"),
        "{}",
        cleared.stdout
    );
    let after = run(env.vt().args(["cache", "stats"]));
    assert!(after.stdout.contains("answers   0 ("), "{}", after.stdout);
    // The lookups are asked again.
    let asked = env.stats().resources_asked;
    report(&env, &["--tier", "private", SAMPLE_MD5]);
    assert_eq!(env.stats().resources_asked, asked + 1);
}

/// Runs `vt` with stdout into `out`, waits until `out` holds `lines` lines (the records got
/// there during the pacing wait that follows), sends `signal`, and returns the exit status
/// and stderr.
fn interrupt_when_written(
    command: &mut Command,
    out: &std::path::Path,
    lines: usize,
    signal: &str,
) -> (Option<i32>, String) {
    let mut child = command
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + GUARD;
    while std::fs::read_to_string(out).unwrap().lines().count() < lines {
        assert!(
            child.try_wait().unwrap().is_none(),
            "vt ended before writing"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the records never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn records_reach_the_file_before_a_pacing_wait_and_a_signal_keeps_them() {
    // One request a minute: the first answer comes at once, the second a minute later. The
    // first record must be in the file during that wait, and a SIGTERM then (or a Ctrl-C)
    // ends the run with what it had, the output closed.
    let env = Env::new();
    let hashes = [SAMPLE_MD5, EICAR_MD5, ABSENT_MD5];
    let paced = |format: &str| {
        let mut command = env.bare();
        // Each run its own quota ledger: the second must not wait for the first's minute.
        command
            .env("VT_API_KEY", PUBLIC_KEY)
            .env("VT_CACHE_DIR", env.path(&format!("cache-{format}")))
            .args(["file", "report", "--no-cache", "--tier", "public"])
            .args(["--rate", "1/min", "--batch-size", "1", "--format", format])
            .args(hashes);
        command
    };
    let csv = env.path("out.csv");
    let (code, stderr) = interrupt_when_written(&mut paced("csv"), &csv, 2, "-TERM");
    assert_eq!(code, Some(143), "{stderr}");
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(written.starts_with("resource,status,"), "{written}");
    assert_eq!(written.lines().count(), 2, "{written}");
    assert!(
        stderr.contains("interrupted (SIGTERM) after 1 of 3 records"),
        "{stderr}"
    );
    let json = env.path("out.json");
    let (code, stderr) = interrupt_when_written(&mut paced("json"), &json, 2, "-INT");
    assert_eq!(code, Some(130), "{stderr}");
    let array: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        array.as_array().unwrap().len(),
        1,
        "a closed array of what came"
    );
}

#[test]
fn a_service_other_than_the_default_is_named_and_so_is_the_host_of_a_transport_error() {
    let env = Env::with(|b| {
        b.fault(vt_emulator::Fault::new(vt_emulator::FaultKind::Reset, 1.0).unwrap())
    });
    let out = report(&env, &["--tier", "private", "--retries", "0", SAMPLE_MD5]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let url = env.url();
    assert!(
        out.stderr.contains(&format!(
            "vt: talking to {url} (from VT_BASE_URL), not https://www.virustotal.com/vtapi/v2/"
        )),
        "{}",
        out.stderr
    );
    let host = url.trim_end_matches("/vtapi/v2/");
    let record = &lines_as_json(&out.stdout)[0];
    assert_eq!(record["error"]["kind"], "transport", "{record}");
    assert!(
        record["error"]["message"].as_str().unwrap().contains(host),
        "{record}"
    );
    // -q says nothing of it.
    let quiet = report(
        &env,
        &["--tier", "private", "--retries", "0", "-q", SAMPLE_MD5],
    );
    assert!(!quiet.stderr.contains("talking to"), "{}", quiet.stderr);
}

#[test]
fn a_record_from_the_cache_shows_its_age_and_a_summary_says_how_many() {
    let env = Env::new();
    let fresh = report(
        &env,
        &["--tier", "private", "--format", "table", SAMPLE_MD5],
    );
    assert!(!fresh.stderr.contains("from the cache"), "{}", fresh.stderr);
    let table = report(
        &env,
        &[
            "--tier", "private", "--format", "table", SAMPLE_MD5, ABSENT_MD5,
        ],
    );
    assert_eq!(table.code, 0, "{}", table.stderr);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert!(rows[0].contains("STATUS     AGE"), "{}", table.stdout);
    // The cached row's age is in seconds; the one just asked has none.
    assert!(
        rows[1].contains("found      0s") || rows[1].contains("found      1s"),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains("not_found  -"), "{}", rows[2]);
    assert!(
        table
            .stderr
            .contains("vt: 1 of 2 from the cache, the oldest fetched"),
        "{}",
        table.stderr
    );
    let csv = report(&env, &["--tier", "private", "--format", "csv", SAMPLE_MD5]);
    let line = csv.stdout.lines().nth(1).unwrap();
    let today = vt_api::format_utc(std::time::SystemTime::now());
    assert!(
        line.contains(&format!(",{} ", &today[..10])),
        "cached_at: {line}"
    );
}

#[test]
fn habits_of_other_tools_work_and_a_key_on_the_command_line_is_refused() {
    let env = Env::new();
    let list = env.write("list.txt", format!("{SAMPLE_MD5}\n"));
    // vt-cli's shape, munin's -f, -s, -t, a format in capitals.
    let out = run(env.vt().args([
        "-s", "file", EICAR_MD5, "--tier", "private", "-t", "2", "--format", "JSONL",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "-s is silent");
    assert_eq!(lines_as_json(&out.stdout)[0]["md5"], EICAR_MD5);
    let out = run(env.vt().args(["file", "report", "-s", "-f"]).arg(&list));
    assert_eq!(
        lines_as_json(&out.stdout)[0]["md5"],
        SAMPLE_MD5,
        "{}",
        out.stderr
    );
    // The official vt-cli's key: VTCLI_APIKEY, then ~/.vt.toml, when nothing of vt's is set.
    for (name, value) in [
        ("VTCLI_APIKEY", KEY.to_owned()),
        ("HOME", env.path("home").display().to_string()),
    ] {
        env.write("home/.vt.toml", format!("apikey = \"{KEY}\"\n"));
        let out = run(env
            .bare()
            .env(name, value)
            .args(["-v", "file", "report", "--tier", "private", SAMPLE_MD5]));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains("the official vt-cli's") || out.stderr.contains("VTCLI_APIKEY"),
            "{}",
            out.stderr
        );
    }
    // A key in argv, or given where a key file's path goes: refused, never quoted.
    let asked = env.stats().requests;
    for args in [
        vec!["-k", KEY],
        vec!["--apikey", KEY],
        vec!["--api-key-file", KEY],
    ] {
        let out = run(env
            .bare()
            .args(["file", "report"])
            .args(&args)
            .arg(SAMPLE_MD5));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains(KEY), "{}", out.stderr);
        assert!(out.stderr.contains("VT_API_KEY"), "{}", out.stderr);
    }
    assert_eq!(env.stats().requests, asked, "the refused ones sent nothing");
}

#[test]
fn fail_on_positives_gates_on_detections_with_exit_3() {
    let env = Env::new();
    let flagged = report(
        &env,
        &[
            "--tier",
            "private",
            "--fail-on-positives",
            "5",
            EICAR_MD5,
            ABSENT_MD5,
        ],
    );
    assert_eq!(flagged.code, 3, "{}", flagged.stderr);
    assert!(
        flagged
            .stderr
            .contains("1 report with 5 or more detections"),
        "{}",
        flagged.stderr
    );
    assert_eq!(
        lines_as_json(&flagged.stdout).len(),
        2,
        "every record still written"
    );
    let clean = report(
        &env,
        &["--tier", "private", "--fail-on-positives", "10", EICAR_MD5],
    );
    assert_eq!(clean.code, 0, "9 of 11 is under 10: {}", clean.stderr);
}

#[test]
fn mistakes_get_a_did_you_mean_and_piped_lists_are_read() {
    let env = Env::new();
    let file = env.write("sample.exe", "MZ");
    let folder = env.path("folder");
    std::fs::create_dir(&folder).unwrap();
    let out = run(env
        .vt()
        .args([
            "file",
            "report",
            "--tier",
            "private",
            "44d88612fea8a8f36de82e1278abb02",
            "http://x.example/a",
        ])
        .arg(&file));
    assert_eq!(out.code, 2);
    for hint in [
        "it has 31 hex digits".to_owned(),
        "to look up a URL, use: vt url report http://x.example/a".to_owned(),
        format!(
            "is a file: to look it up by its hash, use --hash {}",
            file.display()
        ),
    ] {
        assert!(out.stderr.contains(&hint), "{hint}: {}", out.stderr);
    }
    let out = run(env.vt().args(["file", "report", "-i"]).arg(&folder));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("is a folder, not a list; to hash the files in it, use --hash"),
        "{}",
        out.stderr
    );
    // `cat list | vt file report`: stdin is the list; an empty one is said to be empty.
    let piped = run_with_stdin(
        env.vt().args(["file", "report", "--tier", "private"]),
        &format!("{SAMPLE_MD5}\n"),
    );
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(lines_as_json(&piped.stdout).len(), 1);
    let empty = env.write("empty.txt", "# nothing here\n\n");
    let out = run(env.vt().args(["file", "report", "-i"]).arg(&empty));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("empty.txt held nothing but blank lines and comments"),
        "{}",
        out.stderr
    );
}

#[test]
fn lists_as_they_come_carry_their_labels_into_the_records() {
    let env = Env::new();
    // `vt file report --tier private --format FORMAT [FLAGS] -i LIST`.
    let from_list = |format: &str, flags: &[&str], list: &std::path::Path| {
        let out = run(env
            .vt()
            .args(["file", "report", "--tier", "private", "--format", format])
            .args(flags)
            .arg("-i")
            .arg(list));
        assert_eq!(out.code, 0, "{}", out.stderr);
        out
    };
    // sha256sum output (`HASH  name`, `HASH *name`), a trailing comment, a plain line.
    let list = env.write(
        "sums.txt",
        format!(
            "{SAMPLE_SHA256}  dropper.exe\n{EICAR_MD5} *eicar.com # ticket 4711\n{ABSENT_MD5}\n"
        ),
    );
    let out = from_list("jsonl", &[], &list);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records[0]["label"], "dropper.exe");
    assert_eq!(records[1]["label"], "eicar.com; ticket 4711");
    assert!(records[2].get("label").is_none(), "{}", records[2]);
    let csv = from_list("csv", &[], &list);
    assert!(
        csv.stdout.lines().nth(1).unwrap().ends_with(",dropper.exe"),
        "{}",
        csv.stdout
    );
    let table = from_list("table", &[], &list);
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("  # dropper.exe"),
        "{}",
        table.stdout
    );

    // --extract: every hash in free text, labelled with its line.
    let mail = env.write(
        "mail.txt",
        format!("Hi team,\nthe dropper ({SAMPLE_MD5}) fetched\nsha256={EICAR_SHA256}; also ABC.\n"),
    );
    let out = from_list("jsonl", &["--extract"], &mail);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    assert!(
        records[1]["label"]
            .as_str()
            .unwrap()
            .starts_with("line 3 of"),
        "{}",
        records[1]
    );

    // --skip-invalid: bad lines said on stderr, the rest looked up.
    let mixed = env.write(
        "mixed.txt",
        format!("{SAMPLE_MD5}\nnot-a-hash\n{EICAR_MD5}\n"),
    );
    let out = from_list("jsonl", &["--skip-invalid"], &mixed);
    assert_eq!(lines_as_json(&out.stdout).len(), 2);
    assert!(
        out.stderr.contains("vt: skipped line 2 of"),
        "{}",
        out.stderr
    );
}

#[test]
fn include_and_exclude_pick_the_fields_of_json_records() {
    let env = Env::new();
    let out = report(
        &env,
        &[
            "--tier",
            "private",
            "--include",
            "resource",
            "--include",
            "scans.*.result",
            "--exclude",
            "scans.Bkav*",
            EICAR_MD5,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = &lines_as_json(&out.stdout)[0];
    let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["resource", "scans"], "{record}");
    let scans = record["scans"].as_object().unwrap();
    assert!(!scans.is_empty());
    assert!(
        scans.keys().all(|engine| !engine.starts_with("Bkav")),
        "{record}"
    );
    assert!(
        scans
            .values()
            .all(|scan| scan.as_object().unwrap().keys().eq(["result"])),
        "{record}"
    );
}

#[test]
fn a_csv_list_gives_its_column_and_keeps_the_other_cells_as_the_label() {
    let env = Env::new();
    let csv = env.write(
        "alerts.csv",
        format!(
            "host,SHA256,ticket\n\"web-01, dmz\",{EICAR_SHA256},#4711\nlaptop-7,{SAMPLE_SHA256},\n"
        ),
    );
    for column in ["sha256", "2"] {
        let out = run(env
            .vt()
            .args([
                "file", "report", "--tier", "private", "--format", "jsonl", "--column", column,
                "-i",
            ])
            .arg(&csv));
        assert_eq!(out.code, 0, "{column}: {}", out.stderr);
        let records = lines_as_json(&out.stdout);
        assert_eq!(records.len(), 2, "{}", out.stdout);
        assert_eq!(records[0]["label"], "host=web-01, dmz; ticket=#4711");
        assert_eq!(records[1]["label"], "host=laptop-7");
    }
    let out = run(env
        .vt()
        .args(["file", "report", "--column", "md5", "-i"])
        .arg(&csv));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("has no column named \"md5\""),
        "{}",
        out.stderr
    );
}

#[test]
fn on_a_terminal_the_table_fits_its_width() {
    // A pseudo-terminal of 70 columns, through util-linux's `script`.
    if Command::new("script").arg("--version").output().is_err() {
        // No `script` to make a pseudo-terminal with: nothing to check here.
        return;
    }
    let env = Env::new();
    let vt = env.vt();
    let line = format!(
        "stty rows 40 cols 70; {} -q file report --tier private --color never {EICAR_MD5} {ABSENT_MD5}",
        env!("CARGO_BIN_EXE_vt")
    );
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).env_clear();
    for (name, value) in vt.get_envs() {
        if let Some(value) = value {
            script.env(name, value);
        }
    }
    let out = script.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in &rows {
        assert_eq!(row.chars().count(), 70, "{row:?}");
        assert!(row.ends_with('…'), "{row:?}");
    }
    assert!(
        rows[1].starts_with(&format!("{EICAR_MD5}  found")),
        "{stdout}"
    );
    // Not on a terminal, nothing is cut.
    let piped = report(&env, &["--tier", "private", "--format", "table", EICAR_MD5]);
    assert!(
        piped
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .contains("EICAR-AV-Test"),
        "{}",
        piped.stdout
    );
}

/// The screen of a terminal of 150 columns by 40 rows, rendered by tmux, where `vt ARGS`
/// runs with `env`'s variables, as soon as `ready` holds for it; `None` without tmux.
fn screen_of(env: &Env, args: &str, ready: impl Fn(&str) -> bool) -> Option<String> {
    Command::new("tmux").arg("-V").output().ok()?;
    let mut line = String::new();
    for (name, value) in env.vt().get_envs() {
        if let (Some(name), Some(Some(value))) = (name.to_str(), value.map(|v| v.to_str())) {
            line.push_str(&format!("export {name}='{value}'; "));
        }
    }
    line.push_str(&format!("{} {args}; sleep 60", env!("CARGO_BIN_EXE_vt")));
    let socket = format!("vt-test-{}-{}", std::process::id(), args.len());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .unwrap()
    };
    let started = tmux(&["new-session", "-d", "-x", "150", "-y", "40", &line]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let deadline = std::time::Instant::now() + GUARD;
    let screen = loop {
        let screen = String::from_utf8(tmux(&["capture-pane", "-p"]).stdout).unwrap();
        if ready(&screen) {
            break screen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {screen}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    tmux(&["kill-server"]);
    Some(screen)
}

#[test]
fn the_progress_bar_leaves_no_frame_on_the_screen() {
    // After a run long enough for the bar (more inputs than a batch), only the table is left
    // on the screen, header first.
    let env = Env::new();
    let hashes: Vec<String> = (0..9).map(|i| format!("{i:032x}")).collect();
    let done = env.path("done");
    let args = format!(
        "file report --tier public --rate unlimited --color never {}; touch {}",
        hashes.join(" "),
        done.display()
    );
    let Some(screen) = screen_of(&env, &args, |_| done.exists()) else {
        return; // No tmux to render a screen with: nothing to check here.
    };
    // Lines of vt's own on stderr (the base URL named) aside.
    let shown: Vec<&str> = screen
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("vt: "))
        .collect();
    assert!(shown[0].starts_with("RESOURCE"), "{screen}");
    assert_eq!(
        shown.len(),
        10,
        "the header and 9 rows, nothing else: {screen}"
    );
    assert!(!screen.contains("looking up"), "{screen}");
}

#[test]
fn during_a_pacing_wait_the_bar_says_when_the_next_request_goes_and_the_time_left() {
    // One request a minute, a batch of one: the second waits a minute, with the bar drawn.
    let env = Env::new();
    let args = format!(
        "file report --no-cache --tier public --rate 1/min --batch-size 1 --color never {SAMPLE_MD5} {EICAR_MD5} {ABSENT_MD5}"
    );
    let Some(screen) = screen_of(&env, &args, |s| s.contains("pacing: next request at")) else {
        return; // No tmux to render a screen with: nothing to check here.
    };
    let bar = screen
        .lines()
        .find(|l| l.contains("looking up"))
        .unwrap_or_else(|| panic!("no bar: {screen}"));
    assert!(bar.contains("1/3") && bar.contains("(left:"), "{bar}");
    assert!(
        bar.contains("pacing: next request at") && bar.contains(" UTC"),
        "{bar}"
    );
    assert!(
        screen.contains(&format!("{SAMPLE_MD5}  found")),
        "the first record shown: {screen}"
    );
}
