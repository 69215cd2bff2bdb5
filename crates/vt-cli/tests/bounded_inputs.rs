//! Bounded time and memory whatever the user hands `vt` (issue #11): special files and links
//! given to `--hash`, durations past any sane bound, CA files that never end, inputs that
//! never end a line, base URLs `vt` cannot speak to. The real `vt` binary against the
//! in-process emulator, whose counters prove what was (not) sent; every run is killed and the
//! test failed if it outlives its limit, so a hang is a failure, not a stuck CI job.

// A skipped check and a timing are said to whoever reads the test log.
#![allow(clippy::print_stderr)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How long a run that must end promptly may take (a debug build on a loaded machine).
const PROMPT: Duration = Duration::from_secs(30);

/// Runs `command`, killing it and failing the test if it is still running after `limit`.
fn run_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vt runs");
    let drain = Drain::start(&mut child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vt was still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drain.finish(status)
}

/// `out` is a usage error (exit status 2, nothing on stdout) whose stderr holds each of
/// `expected`, and the emulator was asked nothing.
#[track_caller]
fn assert_refused(env: &Env, out: &Output, expected: &[&str]) {
    assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{}", out.stderr);
    for text in expected {
        assert!(out.stderr.contains(text), "{text:?} in:\n{}", out.stderr);
    }
    assert_eq!(env.stats().requests, 0, "nothing was sent");
}

#[cfg(unix)]
mod hash {
    use super::*;

    /// `vt file report --format jsonl --hash ARGS...`, run in the temp dir; returns the output
    /// and each record as (path, resource or error kind, error message).
    fn hash(env: &Env, args: &[&str]) -> (Output, Vec<(String, String, String)>) {
        let out = run_within(
            env.vt()
                .args(["file", "report", "--format", "jsonl", "--hash"])
                .args(args),
            PROMPT,
        );
        let records = lines_as_json(&out.stdout)
            .iter()
            .map(|r| {
                let path = r["path"].as_str().unwrap_or_default().to_owned();
                match r.get("error") {
                    Some(error) => (
                        path,
                        error["kind"].as_str().unwrap_or_default().to_owned(),
                        error["message"].as_str().unwrap_or_default().to_owned(),
                    ),
                    None => (
                        path,
                        r["resource"].as_str().unwrap_or_default().to_owned(),
                        String::new(),
                    ),
                }
            })
            .collect();
        (out, records)
    }

    /// The SHA-256 of "hello\n", the content of the files of these tests.
    const HELLO_SHA256: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    /// Makes a named pipe, or says why the test cannot and returns false.
    fn mkfifo(path: &std::path::Path) -> bool {
        match Command::new("mkfifo").arg(path).status() {
            Ok(status) if status.success() => true,
            other => {
                eprintln!("skipped: mkfifo is not usable here ({other:?})");
                false
            }
        }
    }

    #[test]
    fn a_fifo_or_a_socket_in_a_hashed_folder_is_an_io_record() {
        let env = Env::new();
        env.write("tree/a.txt", "hello\n");
        if !mkfifo(&env.path("tree/b-pipe")) {
            return;
        }
        let _listener = std::os::unix::net::UnixListener::bind(env.path("tree/c-socket")).unwrap();
        let (out, records) = hash(&env, &["tree"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0].1, HELLO_SHA256);
        assert_eq!(records[1].0, "tree/b-pipe");
        assert_eq!(records[1].1, "io");
        assert!(
            records[1]
                .2
                .contains("a named pipe (FIFO), not a regular file"),
            "{records:?}"
        );
        assert_eq!(records[2].0, "tree/c-socket");
        assert_eq!(records[2].1, "io");
        assert!(
            records[2].2.contains("a socket, not a regular file"),
            "{records:?}"
        );
    }

    #[test]
    fn a_fifo_or_a_device_named_to_hash_is_an_io_record_not_a_hang() {
        let env = Env::new();
        if !mkfifo(&env.path("pipe")) {
            return;
        }
        let (out, records) = hash(&env, &["pipe", "/dev/zero"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(records.len(), 2, "{records:?}");
        for (record, path) in records.iter().zip(["pipe", "/dev/zero"]) {
            assert_eq!((record.0.as_str(), record.1.as_str()), (path, "io"));
            assert!(record.2.contains("not a regular file"), "{record:?}");
        }
        assert_eq!(env.stats().requests, 0, "nothing to ask");
    }

    #[test]
    fn a_link_in_a_hashed_folder_is_not_followed_without_follow_links() {
        let env = Env::new();
        env.write("outside/secret.txt", "hello\n");
        env.write("tree/a.txt", "hello\n");
        std::fs::create_dir_all(env.path("tree")).unwrap();
        std::os::unix::fs::symlink(env.path("outside/secret.txt"), env.path("tree/b-file"))
            .unwrap();
        std::os::unix::fs::symlink(env.path("outside"), env.path("tree/c-folder")).unwrap();
        let (out, records) = hash(&env, &["tree"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0].1, HELLO_SHA256);
        for (record, path) in records[1..].iter().zip(["tree/b-file", "tree/c-folder"]) {
            assert_eq!((record.0.as_str(), record.1.as_str()), (path, "io"));
            assert!(
                record.2.contains("is a symbolic link to ")
                    && record.2.contains("outside")
                    && record.2.contains("--follow-links"),
                "{record:?}"
            );
        }
        assert_eq!(env.stats().requests, 1, "only a.txt's hash was sent");
        // A link named on the command line is followed: the user chose it.
        let (out, records) = hash(&env, &["tree/b-file"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(records[0].1, HELLO_SHA256);
    }

    #[test]
    fn follow_links_hashes_what_a_link_in_a_folder_leads_to() {
        let env = Env::new();
        env.write("outside/secret.txt", "hello\n");
        std::fs::create_dir_all(env.path("tree")).unwrap();
        std::os::unix::fs::symlink(env.path("outside/secret.txt"), env.path("tree/b-file"))
            .unwrap();
        std::os::unix::fs::symlink(env.path("outside"), env.path("tree/c-folder")).unwrap();
        // A link back up is walked once, not for ever.
        std::os::unix::fs::symlink(env.path("tree"), env.path("tree/d-loop")).unwrap();
        let (out, records) = hash(&env, &["tree", "--follow-links"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        let summary: Vec<(&str, &str)> = records
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("tree/b-file", HELLO_SHA256),
                ("tree/c-folder/secret.txt", HELLO_SHA256),
                ("tree/d-loop", "io"),
            ],
            "{records:?}"
        );
        assert!(records[2].2.contains("already walked"), "{records:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_link_to_proc_is_never_hashed() {
        let env = Env::new();
        std::fs::create_dir_all(env.path("tree")).unwrap();
        std::os::unix::fs::symlink("/proc/self/status", env.path("tree/status")).unwrap();
        let (out, records) = hash(&env, &["tree"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].1, "io");
        assert!(
            records[0]
                .2
                .contains("is a symbolic link to /proc/self/status"),
            "{records:?}"
        );
        // Followed, or named directly, it is in a pseudo-filesystem: refused all the same.
        let (out, records) = hash(
            &env,
            &["tree", "/proc/self/status", "/sys", "--follow-links"],
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(records.len(), 3, "{records:?}");
        for (record, root) in records.iter().zip(["/proc", "/proc", "/sys"]) {
            assert_eq!(record.1, "io", "{record:?}");
            assert!(
                record
                    .2
                    .contains(&format!("in {root}, a pseudo-filesystem")),
                "{record:?}"
            );
        }
        assert_eq!(env.stats().requests, 0, "nothing was sent");
    }
}

#[test]
fn durations_past_their_bound_are_refused_before_anything_is_sent() {
    let env = Env::new();
    const HUGE: &str = "18446744073709551615s";
    for (args, expected) in [
        // This one used to panic (exit 101: "overflow when adding duration to instant") once
        // the emulator answered "queued", and the records were lost.
        (
            vec![format!("--wait-queued={HUGE}")],
            "is more than 365 days",
        ),
        (
            vec!["--wait-queued=366d".to_owned()],
            "is more than 365 days",
        ),
        (
            vec!["--max-age".to_owned(), HUGE.to_owned()],
            "is more than 365 days",
        ),
        (
            vec!["--max-age".to_owned(), "8785h".to_owned()],
            "is more than 365 days",
        ),
        (
            vec!["--timeout".to_owned(), HUGE.to_owned()],
            "is more than 365 days",
        ),
        (
            vec!["--timeout".to_owned(), "365d1s".to_owned()],
            "is more than 365 days",
        ),
        // Sums past what a duration holds: an error, not a wrap or a saturation.
        (
            vec!["--max-age".to_owned(), "18446744073709551615s1s".to_owned()],
            "too long a duration",
        ),
        (
            vec!["--timeout".to_owned(), "99999999999999999999999".to_owned()],
            "too long a duration",
        ),
    ] {
        let out = run_within(
            env.vt()
                .args(["file", "report", "--format", "jsonl"])
                .args(&args)
                .args([SAMPLE_MD5, QUEUED_SHA256]),
            PROMPT,
        );
        assert_refused(&env, &out, &[expected]);
    }
    // At the bound, accepted.
    let out = run_within(
        env.vt().args([
            "file",
            "report",
            "--format",
            "jsonl",
            "--max-age",
            "365d",
            "--timeout",
            "365d",
            SAMPLE_MD5,
        ]),
        PROMPT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn a_ca_file_that_never_ends_or_is_too_big_is_refused_promptly() {
    let env = Env::new();
    // /dev/zero used to be read without end (5.8 GB in 8 s): a short limit.
    let out = run_within(
        env.vt()
            .args(["file", "report", "--ca-cert", "/dev/zero", SAMPLE_MD5]),
        Duration::from_secs(15),
    );
    assert_refused(&env, &out, &["/dev/zero is not a regular file"]);
    let big = env.write("big-ca.pem", vec![b'A'; (1 << 20) + 1]);
    let out = run_within(
        env.vt()
            .args(["file", "report", "--ca-cert"])
            .arg(&big)
            .arg(SAMPLE_MD5),
        PROMPT,
    );
    assert_refused(&env, &out, &["big-ca.pem holds more than 1048576 bytes"]);
}

#[cfg(unix)]
#[test]
fn an_input_that_never_ends_a_line_stops_with_an_error() {
    let env = Env::new();
    let started = Instant::now();
    let out = run_within(env.vt().args(["file", "report", "-i", "/dev/zero"]), PROMPT);
    assert_refused(
        &env,
        &out,
        &["line 1 of /dev/zero goes on past ", "is it a text list?"],
    );
    eprintln!("-i /dev/zero ended in {:?}", started.elapsed());
}

#[test]
fn a_base_url_vt_cannot_speak_to_is_a_usage_error_before_anything_is_sent() {
    let env = Env::new();
    let port = env.url().split(':').nth(2).unwrap().to_owned();
    let ftp = format!("ftp://127.0.0.1:{port}");
    let out = run_within(
        env.vt()
            .args(["file", "report", "--base-url", &ftp, SAMPLE_MD5, EICAR_MD5]),
        PROMPT,
    );
    assert_refused(
        &env,
        &out,
        &["the base URL (--base-url) is ftp://...: vt speaks only http:// and https://"],
    );
    let out = run_within(
        env.vt()
            .env("VT_BASE_URL", "http:///vtapi/v2/")
            .args(["file", "report", SAMPLE_MD5]),
        PROMPT,
    );
    assert_refused(&env, &out, &["the base URL (VT_BASE_URL)"]);
    let out = run_within(
        env.vt()
            .env("VT_BASE_URL", "/vtapi/v2/")
            .args(["file", "report", SAMPLE_MD5]),
        PROMPT,
    );
    assert_refused(&env, &out, &["the base URL (VT_BASE_URL) is not absolute"]);
}
