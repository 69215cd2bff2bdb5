//! The `vt-gateway` binary: its command line is a contract for scripts (one line once bound,
//! a new token alone on stdout), and it stops cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{get, raw, KEY};
use vt_emulator::Tier;

const BIN: &str = env!("CARGO_BIN_EXE_vt-gateway");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn token_add_prints_the_token_alone_and_nothing_else_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("gw.sqlite").display());
    let added = run(&[
        "token",
        "add",
        "alice",
        "--allow",
        "allinfo",
        "--per-day",
        "10",
        "--store",
        &store,
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let stdout = text(&added.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    let token = lines[0];
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    let listed = run(&["token", "list", "--store", &store]);
    let list = text(&listed.stdout);
    assert!(
        list.contains("alice") && list.contains("allinfo") && list.contains("10"),
        "{list}"
    );
    assert!(!list.contains(token), "the list never shows a token");
    let file = std::fs::read(dir.path().join("gw.sqlite")).unwrap();
    assert!(
        !text(&file).contains(token),
        "the store keeps only the token's hash"
    );

    let again = run(&["token", "add", "alice", "--store", &store]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    let unknown = run(&["token", "revoke", "bob", "--store", &store]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("no live token is named \"bob\""));
    let bad = run(&[
        "token", "add", "carol", "--allow", "uplaod", "--store", &store,
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown permission \"uplaod\""));
    let revoked = run(&["token", "revoke", "alice", "--store", &store]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert!(revoked.stdout.is_empty());
    // The name is free again, for a new token.
    assert!(run(&["token", "add", "alice", "--store", &store])
        .status
        .success());
    let bad_store = run(&["token", "list", "--store", "mysql://db/x"]);
    assert!(text(&bad_store.stderr).contains("expected sqlite:PATH or postgres://"));
}

/// What a served gateway needs: an emulator upstream and, in a folder, the key file, the
/// store, and a token made with `token add`.
struct Upstream {
    emulator: vt_emulator::RunningEmulator,
    hashes: Vec<String>,
    key_file: std::path::PathBuf,
    store: String,
    token: String,
}

async fn upstream(dir: &Path, token_name: &str) -> Upstream {
    let (dataset, hashes) = common::data(20, 3);
    let emulator = common::start_emulator(common::emulator(Tier::Private, dataset)).await;
    let key_file = dir.join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let store = format!("sqlite:{}", dir.join("gw.sqlite").display());
    let token = text(&run(&["token", "add", token_name, "--store", &store]).stdout)
        .trim()
        .to_owned();
    Upstream {
        emulator,
        hashes,
        key_file,
        store,
        token,
    }
}

/// A gateway process: its one line read, the rest of its output kept.
struct Serving {
    child: std::process::Child,
    url: String,
}

fn serve(upstream: &str, key_file: &Path, store: &str, extra: &[&str]) -> Serving {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--upstream",
            upstream,
            "--tier",
            "private",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--key-file")
        .arg(key_file)
        .args(["--store", store])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the first line: {first:?}"))
        .trim_end()
        .to_owned();
    Serving { child, url }
}

impl Serving {
    /// SIGTERM, then what it wrote after its first line and how it ended.
    fn stop(self) -> (std::process::ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let output = self.child.wait_with_output().unwrap();
        (output.status, text(&output.stdout), text(&output.stderr))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_one_line_once_bound_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let Upstream {
        emulator,
        hashes,
        key_file,
        store,
        token,
    } = upstream(dir.path(), "alice").await;

    let gateway = serve(
        &emulator.url(),
        &key_file,
        &store,
        // Every request's line too: the key must be in none of them.
        &["--log-format", "json", "--log-level", "debug"],
    );
    assert!(
        gateway.url.starts_with("http://127.0.0.1:"),
        "{}",
        gateway.url
    );
    assert!(gateway.url.ends_with("/vtapi/v2/"), "{}", gateway.url);
    let http = raw();
    let answer = get(
        &http,
        &gateway.url,
        "file/report",
        &[("apikey", &token), ("resource", &hashes[0])],
    )
    .await;
    assert_eq!(answer.status(), 200);
    let batch = format!("{}, {}", hashes[1], hashes[2]);
    let answer = get(
        &http,
        &gateway.url,
        "file/report",
        &[("apikey", &token), ("resource", &batch)],
    )
    .await;
    assert_eq!(answer.status(), 200);
    let refused = get(
        &http,
        &gateway.url,
        "file/report",
        &[("apikey", KEY), ("resource", &hashes[0])],
    )
    .await;
    assert_eq!(refused.status(), 403, "the real key is not a token");

    let (status, stdout, stderr) = gateway.stop();
    assert!(
        status.success(),
        "a clean stop on SIGTERM: {status:?} {stderr}"
    );
    assert_eq!(stdout, "", "nothing on stdout but the one line");
    assert!(
        stderr.lines().all(|l| l.starts_with('{')),
        "JSON log lines: {stderr}"
    );
    assert_eq!(
        stderr.matches(r#""message":"answered""#).count(),
        3,
        "a line for each request at debug: {stderr}"
    );
    assert!(!common::shows_key(&stderr));

    // The audit was written before the process ended.
    let audit = run(&[
        "audit", "--since", "1h", "--token", "alice", "--format", "jsonl", "--store", &store,
    ]);
    let audit = text(&audit.stdout);
    let entries: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["endpoint"], "file/report");
    assert_eq!(entries[0]["outcome"], "upstream");
    assert_eq!(entries[0]["resources"][0], hashes[0].as_str());
    // A batch's resources one by one.
    assert_eq!(
        entries[1]["resources"],
        serde_json::json!([hashes[1], hashes[2]])
    );
    // Who asked for this file: by any of its resources, case aside.
    let asked = run(&[
        "audit",
        "--resource",
        &hashes[2].to_ascii_uppercase(),
        "--format",
        "jsonl",
        "--store",
        &store,
    ]);
    let asked = text(&asked.stdout);
    assert_eq!(asked.lines().count(), 1, "{asked}");
    assert!(asked.contains(&hashes[1]), "{asked}");
    let all = text(&run(&["audit", "--store", &store]).stdout);
    assert!(all.contains("forbidden") && all.contains("alice"), "{all}");
    assert!(!common::shows_key(&all));

    // Bounding the store: nothing is a day old yet; then the audit before now goes.
    let prune = |args: &[&str]| {
        let out = run(&[&["prune", "--store", &store][..], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        prune(&["--audit-older-than", "1d", "--answers-older-than", "1d"]),
        "forgot 0 audit entries (0 pages) older than 1d; 0 answers fetched more than 1d ago\n"
    );
    let forgot = prune(&["--audit-older-than", "0s"]);
    assert!(forgot.starts_with("forgot 3 audit entries ("), "{forgot}");
    let all = text(&run(&["audit", "--store", &store]).stdout);
    assert_eq!(all.lines().count(), 1, "the header alone: {all}");
    let neither = run(&["prune", "--store", &store]);
    assert!(!neither.status.success());
    assert!(text(&neither.stderr).contains("--audit-older-than"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_a_line_in_the_log_not_one_a_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let up = upstream(dir.path(), "alice").await;
    let gateway = serve(&up.emulator.url(), &up.key_file, &up.store, &[]);
    up.emulator.shutdown().await;

    // 20 lookups nothing answers: one upstream batch, 20 failed outcomes.
    let all = up.hashes.join(",");
    let answer = get(
        &raw(),
        &gateway.url,
        "file/report",
        &[("apikey", &up.token), ("resource", &all)],
    )
    .await;
    assert_eq!(answer.status(), 503, "nothing cached, nothing reachable");
    let (status, _, stderr) = gateway.stop();
    assert!(status.success(), "{stderr}");
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("upstream failed"))
        .collect();
    assert_eq!(
        warned.len(),
        1,
        "one line for the outage's second: {stderr}"
    );
    assert!(warned[0].contains("left_out=0"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_with_a_given_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (ca_file, cert_file, cert_key) = (
        dir.path().join("ca.pem"),
        dir.path().join("gw.pem"),
        dir.path().join("gw-key.pem"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&cert_key, key.serialize_pem()).unwrap();

    let Upstream {
        emulator,
        hashes,
        key_file,
        store,
        token,
    } = upstream(dir.path(), "tls").await;
    let gateway = serve(
        &emulator.url(),
        &key_file,
        &store,
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            cert_key.to_str().unwrap(),
        ],
    );
    assert!(
        gateway.url.starts_with("https://127.0.0.1:"),
        "{}",
        gateway.url
    );
    let https: std::sync::Arc<dyn vt_api::vt_transport::Transport> = std::sync::Arc::new(
        vt_api::vt_transport::HyperTransport::builder()
            .extra_ca_pem_file(&ca_file)
            .build()
            .unwrap(),
    );
    let answer = get(
        &https,
        &gateway.url,
        "file/report",
        &[("apikey", &token), ("resource", &hashes[0])],
    )
    .await;
    assert_eq!(answer.status(), 200);
    let (status, _, stderr) = gateway.stop();
    assert!(status.success(), "{stderr}");
    // At the default level, what the gateway does (it serves, it stops) and not a line a
    // request: the audit log in the store has those.
    assert!(stderr.contains("serving"), "the log: {stderr}");
    assert!(
        !stderr.contains("answered"),
        "no access log at info: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colours in a log that is not a terminal: {stderr:?}"
    );
}
