//! `vt file scan` and the other file workflow commands, the real binary against the real
//! emulator over loopback.

mod common;

use std::time::Duration;

use common::*;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The standard emulator with analyses that finish at once.
fn env() -> Env {
    Env::with(|b| b.analysis_delay(Duration::ZERO))
}

#[test]
fn scan_looks_before_it_uploads_and_waits_for_the_reports() {
    let env = env();
    let known = env.write("files/eicar.com", EICAR);
    let new = env.write("files/new.bin", b"a file the service has never seen\n");
    let out = run(env
        .vt()
        .args([
            "file",
            "scan",
            "--tier",
            "private",
            "--wait=30s",
            "--format",
            "jsonl",
        ])
        .arg(&known)
        .arg(&new));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    // In the order given, each with its path: the known file's report from the look, the
    // new one's finished report by its scan_id.
    assert_eq!(records[0]["md5"], EICAR_MD5);
    assert_eq!(records[0]["path"], known.to_str().unwrap());
    assert_eq!(records[1]["response_code"], 1, "{}", records[1]);
    assert_eq!(records[1]["positives"], 0);
    assert_eq!(records[1]["path"], new.to_str().unwrap());
    let stats = env.stats();
    assert_eq!(
        stats.endpoint("file/scan"),
        1,
        "only the unknown file is uploaded"
    );
    assert!(
        out.stderr
            .contains("1 of 2 files already known to the service: 1 upload (68 bytes) not sent"),
        "{}",
        out.stderr
    );
}

#[test]
fn scan_force_uploads_every_file_and_without_wait_says_queued() {
    let env = Env::with(|b| b.analysis_delay(Duration::from_secs(3600)));
    let known = env.write("eicar.com", EICAR);
    let out = run(env
        .vt()
        .args([
            "file", "scan", "--tier", "private", "--force", "--format", "csv",
        ])
        .arg(&known));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(env.stats().endpoint("file/scan"), 1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[1].contains(",queued,"), "{}", out.stdout);
}

#[test]
fn what_cannot_be_scanned_is_one_error_record_each_and_nothing_is_uploaded_for_it() {
    let env = env();
    let huge = env.path("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(201 * 1024 * 1024)
        .unwrap();
    let missing = env.path("missing.bin");
    let out = run(env
        .vt()
        .args([
            "file", "scan", "--tier", "private", "--force", "--format", "jsonl",
        ])
        .arg(&huge)
        .arg(&missing));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    assert_eq!(records[0]["error"]["kind"], "upload", "{}", records[0]);
    assert!(
        records[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the service's limit"),
        "{}",
        records[0]
    );
    assert_eq!(records[1]["error"]["kind"], "io", "{}", records[1]);
    assert_eq!(env.stats().endpoint("file/scan"), 0);
    assert_eq!(env.stats().endpoint("file/scan/upload_url"), 0);
}
