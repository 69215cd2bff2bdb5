//! The `vt-emulator` binary: its one line, its flags, its signals, its start-up errors.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const SAMPLE_MD5: &str = "99017f6eebbac24f351415dd410d522d";
const SAMPLE_SHA256: &str = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vt-emulator"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Reads the one line and returns the address it names.
fn listening(child: &mut Child) -> (SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/vtapi/v2/\n"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the real port is printed");
    (addr, stdout)
}

/// `GET target` with `Connection: close`: the status and the body.
fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn serves_until_sigterm_and_exits_cleanly() {
    let mut child = spawn(&["--listen", "127.0.0.1:0"]);
    let (addr, mut stdout) = listening(&mut child);
    let (status, body) = get(
        addr,
        &format!("/vtapi/v2/file/report?apikey=any&resource={SAMPLE_MD5}"),
    );
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["sha256"], SAMPLE_SHA256,
        "the bundled dataset is served"
    );
    signal(&child, "TERM");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn sigint_stops_it_too() {
    let mut child = spawn(&["--listen", "127.0.0.1:0"]);
    let (addr, _stdout) = listening(&mut child);
    assert_eq!(get(addr, "/_emulator/stats").0, 200);
    signal(&child, "INT");
    assert!(child.wait().unwrap().success());
}

#[test]
fn every_flag_is_applied() {
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--key",
        "p:public",
        "--key",
        "q:private",
        "--key",
        "r",
        "--public-per-minute",
        "2",
        "--public-per-day",
        "10",
        "--batch-limit-public",
        "2",
        "--batch-limit-private",
        "3",
        "--queued",
        EICAR_SHA256,
        "--analysis-delay",
        "never",
        "--fault",
        "500:0",
        "--seed",
        "7",
    ]);
    let (addr, _stdout) = listening(&mut child);
    let ask = |key: &str, resource: &str| {
        get(
            addr,
            &format!("/vtapi/v2/file/report?apikey={key}&resource={resource}"),
        )
    };
    let (status, body) = ask("r", SAMPLE_MD5);
    assert_eq!(status, 200);
    assert!(body.contains("\"response_code\": 1"), "{body}");
    // Queued by every hash of the file, for ever.
    for hash in [EICAR_SHA256, EICAR_MD5] {
        let (_, body) = ask("q", hash);
        assert!(body.contains("\"response_code\": -2"), "{body}");
    }
    assert_eq!(
        ask("q", &[SAMPLE_MD5; 4].join(",")).0,
        400,
        "private batch limit 3"
    );
    assert_eq!(
        ask("p", &[SAMPLE_MD5; 3].join(",")).0,
        400,
        "public batch limit 2"
    );
    assert_eq!(ask("p", SAMPLE_MD5).0, 200);
    assert_eq!(ask("p", SAMPLE_MD5).0, 200);
    assert_eq!(ask("p", SAMPLE_MD5).0, 204, "public per minute 2");
    assert_eq!(ask("unknown", SAMPLE_MD5).0, 403, "only listed keys");
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_analysis_delay_is_applied() {
    let mut child = spawn(&["--listen", "127.0.0.1:0", "--analysis-delay", "0"]);
    let (addr, _stdout) = listening(&mut child);
    let target = "/vtapi/v2/url/report?apikey=k&resource=new.example%2Fpage&scan=1";
    let (status, queued) = get(addr, target);
    assert_eq!(status, 200);
    assert!(queued.contains("\"response_code\": 1"), "{queued}");
    assert!(
        queued.contains("Scan request successfully queued"),
        "{queued}"
    );
    let (_, finished) = get(addr, target);
    assert!(
        finished.contains("\"positives\": 0"),
        "finished at once: {finished}"
    );
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());

    let mut child = spawn(&["--listen", "127.0.0.1:0", "--analysis-delay", "3600"]);
    let (addr, _stdout) = listening(&mut child);
    get(addr, target);
    let (_, pending) = get(addr, target);
    assert!(pending.contains("\"response_code\": -2"), "{pending}");
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

/// The `resource` of each item of a batch answer, in the order answered.
fn answered(body: &str) -> Vec<String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
    items
        .iter()
        .map(|item| item["resource"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_server_flags_are_applied() {
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--shuffle-batches",
        "--seed",
        "3",
        "--max-connections",
        "4",
        "--header-timeout",
        "0.3",
        "--request-timeout",
        "30",
    ]);
    let (addr, _stdout) = listening(&mut child);
    let asked: Vec<String> = (0..25).map(|i| format!("{i:032x}")).collect();
    let (status, body) = get(
        addr,
        &format!(
            "/vtapi/v2/file/report?apikey=k&resource={}",
            asked.join(",")
        ),
    );
    assert_eq!(status, 200);
    let order = answered(&body);
    assert_ne!(order, asked, "shuffled");
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, asked, "every item once");

    // More stalled heads than the cap: each closed after the header timeout, and a new
    // client served after them.
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /vtapi/v2/file/report HTTP/1.1\r\n")
                .unwrap();
            stream
        })
        .collect();
    let (status, _) = get(
        addr,
        &format!("/vtapi/v2/file/report?apikey=k&resource={EICAR_MD5}"),
    );
    assert_eq!(status, 200);
    for mut stream in stalled {
        // Far above the header timeout: only a server that never closes reaches it.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(
            !read.as_ref().is_err_and(|e| matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )),
            "a stalled head is closed by the server: {read:?}"
        );
    }
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_bad_data_file_stops_start_up_naming_it() {
    let dir = std::env::temp_dir().join(format!("vt-emulator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("half-written.json");
    std::fs::write(&file, "[{\"response_code\": 1,").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vt-emulator"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing is served");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("half-written.json"), "{stderr}");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        &["--fault", "boom:0.1"][..],
        &["--fault", "500:2"],
        &["--key", ":public"],
        &["--listen", "nowhere"],
        &["--queued", "not-a-hash"],
        &["--public-per-minute", "-1"],
        &["--analysis-delay", "-1"],
        &["--analysis-delay", "soon"],
        &["--max-connections", "0"],
        &["--header-timeout", "0"],
        &["--request-timeout", "never"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_vt-emulator"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
}

/// Runs the binary to its end (it must stop by itself): its exit, stdout and stderr.
fn run_to_end(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vt-emulator"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// SIGTERM, a clean exit, and what the binary wrote on stderr.
fn terminate(child: &mut Child) -> String {
    signal(child, "TERM");
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[cfg(unix)]
#[test]
fn data_that_is_not_a_file_or_folder_is_refused_at_once() {
    // Before, `/dev/zero` was read until memory ran out; `output()` returns only if it stops.
    let (ok, stdout, stderr) = run_to_end(&["--listen", "127.0.0.1:0", "--data", "/dev/zero"]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("/dev/zero: not a regular file or a folder"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_tiers_are_refused_naming_the_tiers() {
    for key in ["K:gold", "K:pubic"] {
        let (ok, stdout, stderr) = run_to_end(&["--listen", "127.0.0.1:0", "--key", key]);
        assert!(!ok, "{key}");
        assert_eq!(stdout, "", "{key}");
        assert!(
            stderr.contains("the tiers are public and private"),
            "{stderr}"
        );
    }
}

#[test]
fn tls_files_that_cannot_be_used_stop_start_up_naming_them() {
    let dir = std::env::temp_dir().join(format!("vt-emulator-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let listen = ["--listen", "127.0.0.1:0"];
    // One without the other is a usage error.
    let (ok, stdout, stderr) = run_to_end(&[&listen[..], &["--tls-cert", not_pem]].concat());
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let (ok, _, stderr) =
        run_to_end(&[&listen[..], &["--tls-cert", missing, "--tls-key", not_pem]].concat());
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "cannot use the TLS certificate and key: cannot read {missing}: "
        )),
        "{stderr}"
    );
    let (ok, stdout, stderr) =
        run_to_end(&[&listen[..], &["--tls-cert", not_pem, "--tls-key", not_pem]].concat());
    assert!(!ok && stdout.is_empty(), "nothing is served");
    assert!(
        stderr.contains(&format!("{not_pem}: no certificate in the PEM text")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_error_message_does_not_repeat_itself() {
    let missing = std::env::temp_dir().join(format!("vt-emulator-missing-{}", std::process::id()));
    let missing = missing.to_str().unwrap();
    let (ok, _, stderr) = run_to_end(&["--listen", "127.0.0.1:0", "--data", missing]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("cannot read {missing}: ")),
        "{stderr}"
    );
    // The OS's reason, whatever its words, is said once.
    let reason = stderr.trim_end().rsplit(": ").next().unwrap();
    assert_eq!(stderr.matches(reason).count(), 1, "{stderr}");
}

#[test]
fn start_up_says_what_was_loaded_and_skipped_on_stderr_only() {
    let dir = std::env::temp_dir().join(format!("vt-emulator-cli-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("full/url")).unwrap();
    std::fs::create_dir_all(dir.join("full/Reports")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(
        dir.join("full/EICAR.JSON"),
        include_bytes!("../data/eicar-detected.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("full/url/example.json"),
        include_bytes!("../data/url/example-com-clean.json"),
    )
    .unwrap();
    let full = dir.join("full");
    let empty = dir.join("empty");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vt-emulator"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&full)
        .arg("--data")
        .arg(&empty)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, mut stdout) = listening(&mut child);
    let (status, _) = get(
        addr,
        &format!("/vtapi/v2/file/report?apikey=any&resource={EICAR_MD5}"),
    );
    assert_eq!(status, 200, "the upper-case EICAR.JSON is served");
    let stderr = terminate(&mut child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stderr.contains("skipped the sub-folder Reports/"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("--data {} yielded no report", empty.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("loaded 1 file reports, 1 URL reports, 0 domains"),
        "{stderr}"
    );
}

#[test]
fn log_requests_prints_a_line_per_request_without_the_key() {
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--key",
        "KEY-OF-THE-TEST:private",
        "--log-requests",
    ]);
    let (addr, _stdout) = listening(&mut child);
    let (status, _) = get(
        addr,
        &format!("/vtapi/v2/file/report?apikey=KEY-OF-THE-TEST&resource={EICAR_MD5},{SAMPLE_MD5}"),
    );
    assert_eq!(status, 200);
    let (status, _) = get(
        addr,
        "/vtapi/v2/domain/report?apikey=nope&domain=example.com",
    );
    assert_eq!(status, 403);
    let stderr = terminate(&mut child);
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("resources="))
        .collect();
    assert_eq!(
        logged,
        [
            "vt-emulator: GET file/report resources=2 status=200",
            "vt-emulator: GET domain/report resources=1 status=403",
        ],
        "{stderr}"
    );
    assert!(!stderr.contains("KEY-OF-THE-TEST") && !stderr.contains("nope"));
}
