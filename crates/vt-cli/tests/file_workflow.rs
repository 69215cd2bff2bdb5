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
    assert_eq!(
        lines[0],
        "resource,status,scan_id,sha256,permalink,cached_at,detections,message,error_kind,label"
    );
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

/// An emulator holding one made-up file report, its sandbox report, its bytes and traffic
/// (in `samples`), and the clusters of 2026-12-01.
fn data_env(samples: &std::path::Path) -> Env {
    let sha256 = sha256_hex(b"sample bytes\n");
    let report = serde_json::json!({
        "response_code": 1, "verbose_msg": "Scan finished, information embedded",
        "scan_id": format!("{sha256}-1700000000"),
        "md5": "0".repeat(32), "sha1": "0".repeat(40), "sha256": sha256,
        "scan_date": "2026-12-01 00:00:00", "permalink": "https://www.virustotal.com/",
        "positives": 4, "total": 10, "scans": {}, "type": "Win32 EXE",
    });
    let mut data = vt_emulator::Dataset::new();
    data.add_json("r.json", &serde_json::to_vec(&report).unwrap())
        .unwrap();
    data.add_behaviour_json(
        &sha256,
        br#"{"info": {"started": "2026-12-01 10:00:00", "duration": 120}, "behavior": {"processes": [{"process_name": "evil.exe\u001b[2K", "process_id": 4}], "summary": {"files": ["a", "b"], "mutexes": ["m"]}}, "network": {"dns": [{"hostname": "x.test"}], "http": []}}"#,
    )
    .unwrap();
    data.add_clusters_json(
        "2026-12-01",
        br#"{"num_candidates": 10, "num_clusters": 2, "size_top200": 7, "clusters": [{"id": "vhash 1", "label": "=cmd|' /C calc'!A0", "size": 5, "avg_positives": 30.5}, {"id": "vhash 2", "label": "Adware", "size": 2, "avg_positives": 3.0}]}"#,
    )
    .unwrap();
    let samples = samples.to_owned();
    Env::with(move |b| {
        b.dataset(data)
            .samples_path(samples)
            .analysis_delay(Duration::ZERO)
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn downloads_arrive_whole_are_named_by_hash_and_a_missing_one_fails_its_record() {
    let samples = tempfile::tempdir().unwrap();
    std::fs::write(samples.path().join("sample"), b"sample bytes\n").unwrap();
    std::fs::write(samples.path().join("sample.pcap"), b"pcap bytes").unwrap();
    let env = data_env(samples.path());
    let sha256 = sha256_hex(b"sample bytes\n");
    let into = env.path("downloads");
    std::fs::create_dir(&into).unwrap();
    let out = run(env
        .vt()
        .args([
            "file", "download", "--tier", "private", "--format", "jsonl", "-o",
        ])
        .arg(&into)
        .args([sha256.as_str(), ABSENT_MD5]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records[0]["status"], "saved", "{}", out.stdout);
    assert_eq!(records[0]["bytes"], 13);
    assert_eq!(
        std::fs::read(into.join(&sha256)).unwrap(),
        b"sample bytes\n"
    );
    assert_eq!(records[1]["status"], "not_found");
    assert_eq!(
        std::fs::read_dir(&into).unwrap().count(),
        1,
        "nothing else written"
    );
    // The traffic, to a file.
    let pcap = env.path("traffic.pcap");
    let traffic = run(env
        .vt()
        .args(["file", "traffic", "--tier", "private", "-o"])
        .arg(&pcap)
        .arg(&sha256));
    assert_eq!(traffic.code, 0, "{}", traffic.stderr);
    assert_eq!(std::fs::read(&pcap).unwrap(), b"pcap bytes");
    // Where nothing can be written: said before anything is sent.
    let asked = env.stats().requests;
    for bad in ["/proc", env.path("traffic.pcap").to_str().unwrap()] {
        let refused = run(env
            .vt()
            .args(["file", "download", "--tier", "private", "-o", bad, &sha256]));
        assert_eq!(refused.code, 2, "{bad}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("cannot save into"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(env.stats().requests, asked);
}

#[test]
fn behaviour_search_and_clusters_show_their_data_and_escape_it() {
    let samples = tempfile::tempdir().unwrap();
    let env = data_env(samples.path());
    let sha256 = sha256_hex(b"sample bytes\n");
    let table = run(env.vt().args([
        "file",
        "behaviour",
        "--tier",
        "private",
        "--format",
        "table",
        &sha256,
    ]));
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains(r"evil.exe\x1b[2K"),
        "escaped: {}",
        table.stdout
    );
    assert!(table.stdout.contains("dns 1, http 0"), "{}", table.stdout);
    let jsonl = run(env.vt().args([
        "file",
        "behaviour",
        "--tier",
        "private",
        "--format",
        "jsonl",
        &sha256,
    ]));
    assert_eq!(lines_as_json(&jsonl.stdout)[0]["info"]["duration"], 120);

    let found = run(env.vt().args([
        "file",
        "search",
        "--tier",
        "private",
        "--format",
        "table",
        "positives:4+",
    ]));
    assert_eq!(found.code, 0, "{}", found.stderr);
    assert_eq!(found.stdout, format!("SHA256\n{sha256}\n"));
    let limited = run(env
        .vt()
        .args([
            "file", "search", "--tier", "private", "--limit", "1", "--format", "jsonl",
        ])
        .arg("positives:0+"));
    assert_eq!(
        lines_as_json(&limited.stdout).len(),
        1,
        "{}",
        limited.stdout
    );

    let csv = run(env.vt().args([
        "file",
        "clusters",
        "--tier",
        "private",
        "--format",
        "csv",
        "2026-12-01",
    ]));
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(
        csv.stdout.starts_with("id,size,avg_positives,label\n"),
        "{}",
        csv.stdout
    );
    // The label a spreadsheet would run gets a quote in front.
    assert!(
        csv.stdout.contains("vhash 1,5,30.5,'=cmd|' /C calc'!A0\n"),
        "{}",
        csv.stdout
    );
    let bad_day = run(env.vt().args(["file", "clusters", "2026-02-30"]));
    assert_eq!(bad_day.code, 2, "{}", bad_day.stderr);
}

#[test]
fn copies_of_one_file_are_looked_up_and_uploaded_once_and_each_gets_its_record() {
    let env = env();
    let known = [
        env.write("a/eicar.com", EICAR),
        env.write("b/eicar.com", EICAR),
    ];
    let new = [
        env.write("a/new.bin", b"twice, never seen\n"),
        env.write("b/new.bin", b"twice, never seen\n"),
    ];
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
        .args(known.iter().chain(&new)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 4, "{}", out.stdout);
    assert_eq!(
        (records[0]["md5"].clone(), records[1]["md5"].clone()),
        (EICAR_MD5.into(), EICAR_MD5.into())
    );
    assert_eq!(records[2]["sha256"], records[3]["sha256"]);
    assert_eq!(records[3]["response_code"], 1, "{}", records[3]);
    assert_eq!(
        env.stats().endpoint("file/scan"),
        1,
        "the new file uploaded once"
    );
}
