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

#[test]
fn rescan_submits_in_batches_and_needs_a_private_key() {
    let env = env();
    let out = run(env
        .vt()
        .args([
            "file", "rescan", "--tier", "private", "--format", "csv", "--period", "7",
        ])
        .args(["--repeat", "2", EICAR_MD5, ABSENT_MD5]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "resource,status,scan_id,sha256,permalink");
    assert!(
        lines[1].starts_with(&format!("{EICAR_MD5},submitted,")),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with(&format!("{ABSENT_MD5},not_found,")),
        "{}",
        out.stdout
    );
    assert_eq!(env.stats().endpoint("file/rescan"), 1, "one batch");
    let deleted = run(env.vt().args([
        "file", "rescan", "--delete", "--tier", "private", "--format", "jsonl", EICAR_MD5,
    ]));
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(lines_as_json(&deleted.stdout)[0]["response_code"], 1);
    // A public key: told before anything is sent, one record each.
    let public = run(env.bare().env("VT_API_KEY", PUBLIC_KEY).args([
        "file", "rescan", "--tier", "public", "--format", "jsonl", EICAR_MD5,
    ]));
    assert_eq!(public.code, 1, "{}", public.stderr);
    assert_eq!(
        lines_as_json(&public.stdout)[0]["error"]["kind"],
        "private_only"
    );
    assert!(
        public.stderr.contains("needs a private key"),
        "{}",
        public.stderr
    );
    assert_eq!(env.stats().endpoint("file/rescan"), 1);
    // A bad date is refused before anything is sent.
    let bad = run(env
        .vt()
        .args(["file", "rescan", "--date", "20261332000000", EICAR_MD5]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("YYYYmmddHHMMSS"), "{}", bad.stderr);
}

#[test]
fn comments_are_posted_checked_first_and_read_back() {
    let env = env();
    let posted = run(env
        .vt()
        .args([
            "comment", "put", "--tier", "private", "--format", "jsonl", EICAR_MD5,
        ])
        .arg("seen in ticket #4711\nsecond line"));
    assert_eq!(posted.code, 0, "{}", posted.stderr);
    assert_eq!(lines_as_json(&posted.stdout)[0]["response_code"], 1);
    let read = run(env.vt().args([
        "comment", "get", "--tier", "private", "--format", "table", EICAR_MD5,
    ]));
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert!(
        read.stdout.contains("seen in ticket #4711\\nsecond line"),
        "{}",
        read.stdout
    );
    let asked = env.stats().requests;
    for text in [" ".to_owned(), "x".repeat(4097)] {
        let refused = run(env
            .vt()
            .args(["comment", "put", "--tier", "private", EICAR_MD5])
            .arg(&text));
        assert_eq!(refused.code, 2, "{}", refused.stderr);
    }
    let over = run(env
        .vt()
        .args(["comment", "put", "--tier", "private", EICAR_MD5])
        .arg("é".repeat(2049)));
    assert!(
        over.stderr
            .contains("4098 bytes, over the service's limit of 4096"),
        "{}",
        over.stderr
    );
    assert_eq!(env.stats().requests, asked, "nothing sent");
}
