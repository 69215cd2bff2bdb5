//! Hostile `--input` lists against the real `vt` binary and a real emulator on loopback: a
//! 1 GiB line, a million lines, NUL bytes, bytes that are not UTF-8, UTF-16, CRLF line ends and
//! a byte order mark. Every refusal is exit status 2 with the line named, and the emulator's
//! counters prove that nothing was sent.
//!
//! Memory is proved, not timed: the big lists are streamed into `vt`'s stdin, and while the
//! pipe is still open (everything written, at most a pipe's worth not yet read) the test reads
//! the child's peak resident size (`VmHWM` in /proc/<pid>/status).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command};

use common::*;

/// What `vt` may hold while reading any list: it starts at about 20 MiB (debug build). A
/// 1 GiB line held whole, or a million resources kept in memory (about 100 bytes each), would
/// be far above it.
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

/// `vt file report --format csv --quiet` against the emulator, with the key.
fn report(env: &Env) -> Command {
    let mut command = env.vt();
    command.args(["file", "report", "--format", "csv", "--quiet"]);
    command
}

/// Runs `vt` on a list file.
fn run_file(env: &Env, path: &Path) -> Output {
    run(report(env).arg("-i").arg(path))
}

/// Runs `vt -i -`, `feed` writing its stdin; returns the output and the child's peak resident
/// size in KiB, read once everything was written and before stdin is closed.
fn run_fed(
    command: &mut Command,
    feed: impl FnOnce(&mut ChildStdin) -> std::io::Result<()>,
) -> (Output, u64) {
    let (mut child, mut stdin) = spawn_with_stdin(command);
    let drain = Drain::start(&mut child);
    feed(&mut stdin).expect("vt reads all of its input");
    stdin.flush().unwrap();
    let peak = peak_rss_kib(child.id());
    drop(stdin);
    let status = child.wait().unwrap();
    (drain.finish(status), peak)
}

/// `out` is an input error (exit status 2, nothing on stdout) whose message holds each of
/// `expected`, and the emulator was asked nothing.
fn assert_refused(env: &Env, out: &Output, expected: &[&str]) {
    assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{}", out.stderr);
    for text in expected {
        assert!(out.stderr.contains(text), "{text:?} in:\n{}", out.stderr);
    }
    assert_eq!(env.stats().requests, 0, "nothing was sent");
}

/// `VmHWM` of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status: is vt still running?"))
}

#[test]
fn a_one_gib_line_is_refused_with_its_number_and_length_in_flat_memory() {
    let env = Env::new();
    const GIB: usize = 1 << 30;
    let (out, peak_kib) = run_fed(report(&env).args(["-i", "-"]), |stdin| {
        writeln!(stdin, "{SAMPLE_MD5}")?;
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..GIB / chunk.len() {
            stdin.write_all(&chunk)?;
        }
        Ok(())
    });
    assert_refused(
        &env,
        &out,
        &[
            &format!("line 2 of stdin: {GIB} bytes long, more than the 4096 a line may hold"),
            "nothing was sent",
        ],
    );
    assert!(
        peak_kib < PEAK_LIMIT_KIB,
        "vt held {peak_kib} KiB while reading a 1 GiB line"
    );
}

#[test]
fn a_million_lines_are_validated_in_flat_memory() {
    let env = Env::new();
    const LINES: usize = 1_000_000;
    let (out, peak_kib) = run_fed(report(&env).args(["-i", "-"]), |stdin| {
        let mut chunk = Vec::with_capacity(1 << 20);
        for i in 0..LINES {
            writeln!(chunk, "{i:032x}")?;
            if chunk.len() > (1 << 20) - 40 {
                stdin.write_all(&chunk)?;
                chunk.clear();
            }
        }
        stdin.write_all(&chunk)?;
        // One bad line at the end: every line is read and kept, and then nothing is sent.
        stdin.write_all(b"not-a-hash\n")
    });
    assert_refused(
        &env,
        &out,
        &[&format!(
            "line {} of stdin: invalid resource \"not-a-hash\"",
            LINES + 1
        )],
    );
    assert!(
        peak_kib < PEAK_LIMIT_KIB,
        "vt held {peak_kib} KiB while reading {LINES} lines"
    );
}

#[test]
fn a_long_line_in_a_file_is_named_and_the_reading_goes_on() {
    let env = Env::new();
    let mut list = format!("{SAMPLE_MD5}\r\n").into_bytes();
    list.extend(std::iter::repeat_n(b'f', 8 << 20));
    list.extend_from_slice(format!("\r\n{EICAR_MD5}\nnot-a-hash\n").as_bytes());
    let path = env.write("long.txt", &list);
    let out = run_file(&env, &path);
    let source = path.display();
    assert_refused(
        &env,
        &out,
        &[
            &format!(
                "line 2 of {source}: {} bytes long, more than the 4096",
                8 << 20
            ),
            &format!("line 4 of {source}: invalid resource \"not-a-hash\""),
        ],
    );
}

#[test]
fn nul_bytes_are_named_by_line_and_a_binary_file_is_listed_briefly() {
    let env = Env::new();
    let path = env.write(
        "nul.txt",
        format!("{SAMPLE_MD5}\n{EICAR_MD5}\0\n").as_bytes(),
    );
    let out = run_file(&env, &path);
    assert_refused(
        &env,
        &out,
        &[&format!(
            "line 2 of {}: holds a NUL byte (byte 33); is it a binary file?",
            path.display()
        )],
    );

    // Something that is not a list at all: the first ten lines named, the rest counted.
    let binary: Vec<u8> = (0..15).flat_map(|_| *b"\x7fELF\0\0\x01\n").collect();
    let path = env.write("a.out", &binary);
    let out = run_file(&env, &path);
    assert_refused(&env, &out, &["... and 5 more invalid inputs"]);
    assert_eq!(out.stderr.matches("holds a NUL byte").count(), 10);
}

#[test]
fn bytes_that_are_not_utf8_are_named_not_replaced() {
    let env = Env::new();
    let mut list = format!("{SAMPLE_MD5}\n").into_bytes();
    list.extend_from_slice(&EICAR_MD5.as_bytes()[..31]);
    list.extend_from_slice(b"\xe9\n");
    let path = env.write("latin1.txt", &list);
    let out = run_file(&env, &path);
    assert_refused(
        &env,
        &out,
        &[&format!(
            "line 2 of {}: not valid UTF-8 (byte 32); save the list as UTF-8 text",
            path.display()
        )],
    );
    assert!(!out.stderr.contains('\u{fffd}'), "{}", out.stderr);

    // A list saved as UTF-16 (with its byte order mark) is refused in one line.
    let utf16: Vec<u8> = "\u{feff}99017f6eebbac24f351415dd410d522d\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let path = env.write("utf16.txt", &utf16);
    let out = run_file(&env, &path);
    assert_refused(
        &env,
        &out,
        &[&format!(
            "{} is UTF-16 text (it starts with a UTF-16 byte order mark)",
            path.display()
        )],
    );
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_are_read_as_plain_lines() {
    let env = Env::new();
    let list = format!(
        "\u{feff}# saved by Notepad\r\n{SAMPLE_MD5}\r\n\r\n  {EICAR_MD5}  # eicar\r\n{}",
        SAMPLE_MD5.to_uppercase()
    );
    let path = env.write("windows.txt", list.as_bytes());
    let from_file = run_file(&env, &path);
    let (from_stdin, _) = run_fed(report(&env).args(["-i", "-"]), |stdin| {
        stdin.write_all(list.as_bytes())
    });
    for out in [&from_file, &from_stdin] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        let records: Vec<String> = out
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            records,
            [
                format!("{SAMPLE_MD5} found"),
                format!("{EICAR_MD5} found"),
                format!("{} found", SAMPLE_MD5.to_uppercase()),
            ]
        );
    }
    assert!(env.stats().requests >= 1);
}
