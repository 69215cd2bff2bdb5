//! Issue #6, secrets and transport security, through the real `vt` binary on loopback.
//!
//! - A key made at random for the run is nowhere after `-vv` runs over faults, a 403 and a
//!   refused connection: not in stdout or stderr, not in any file of the temp dir (config and
//!   cache dirs, the SQLite files and their `-wal`/`-shm` as bytes), not in the argv or
//!   environment of `vt` or of any child it starts, not in Debug output; no snapshot holds a
//!   test key.
//! - Key and config files that others can access are refused with the fix; mode 0600 is fine.
//! - TLS against a CA made in the test: trusted with `--ca-cert`; a wrong host name, an expired
//!   certificate and an unknown CA are refused, each in plain words, with nothing sent.
//! - Plain `http://` to a host that is not this machine warns that the key travels in clear.

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vt_emulator::{Emulator, Fault, FaultKind, KeySpec, Tier};

/// Faults on every kind of failure the client retries; `slow` only costs time.
const FAULTS: [&str; 4] = ["500:0.05", "reset:0.05", "truncate:0.05", "204:0.05"];
/// With this seed each kind of fault is drawn within the run's first requests.
const SEED: u64 = 6;
/// vt's clock runs this much faster: a 204's minute is one second.
const TIME_SCALE: &str = "60";

/// A key made for this run: 64 hex digits, like a real one, that nothing else can contain.
fn random_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut key = String::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        let _ = write!(key, "{:016x}", h.finish());
    }
    key
}

/// Every form a key could leak in: as is (any case), each byte percent-encoded, as a hex dump
/// of its bytes, and (for [`Secret::new`]) any 16 characters of it (an excerpt cut short).
struct Secret {
    needles: Vec<(String, Vec<u8>)>,
}

impl Secret {
    fn new(key: &str) -> Secret {
        let mut secret = Secret::whole(key);
        let key = key.to_ascii_lowercase();
        for start in 0..=key.len().saturating_sub(16) {
            let part = &key[start..(start + 16).min(key.len())];
            secret
                .needles
                .push((format!("key[{start}..]"), part.as_bytes().to_vec()));
        }
        secret
    }

    fn whole(key: &str) -> Secret {
        let key = key.to_ascii_lowercase();
        let mut needles = vec![(String::from("the key"), key.as_bytes().to_vec())];
        let percent: String = key.bytes().map(|b| format!("%{b:02x}")).collect();
        needles.push(("the key percent-encoded".into(), percent.into_bytes()));
        let dump: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        needles.push(("a hex dump of the key".into(), dump.into_bytes()));
        Secret { needles }
    }

    /// The first form of the key found in `haystack`, compared without regard to case.
    fn find(&self, haystack: &[u8]) -> Option<&str> {
        let haystack = haystack.to_ascii_lowercase();
        self.needles
            .iter()
            .find(|(_, needle)| haystack.windows(needle.len()).any(|w| w == &needle[..]))
            .map(|(what, _)| what.as_str())
    }

    fn assert_absent(&self, place: &str, haystack: &[u8]) {
        if let Some(what) = self.find(haystack) {
            panic!(
                "{what} found in {place}:\n{}",
                String::from_utf8_lossy(haystack)
            );
        }
    }
}

/// Starts an emulator that knows only `key` (private); returns its index and base URL.
fn start_knowing(env: &mut Env, key: &str) -> (usize, String) {
    let emulator = env.start(Emulator::builder().key(KeySpec::new(key, Tier::Private).unwrap()));
    (emulator, env.emulator(emulator).url())
}

/// What a process shows of itself to other processes of the user: its argv and environment,
/// and the same for the children of each of its threads. Linux only (`/proc`).
#[derive(Default)]
struct ProcessWatch {
    /// Times vt's argv could be read while it ran.
    samples: usize,
    /// Children seen, by pid.
    children: Vec<u32>,
    /// The places where the key was found.
    leaks: Vec<String>,
}

impl ProcessWatch {
    #[cfg(target_os = "linux")]
    fn look(&mut self, pid: u32, secret: &Secret) {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let Ok(argv) = std::fs::read(proc.join("cmdline")) else {
            return;
        };
        if argv.is_empty() {
            return; // Exited, not yet reaped.
        }
        self.samples += 1;
        self.check(&proc, pid, &argv, secret);
        let Ok(tasks) = std::fs::read_dir(proc.join("task")) else {
            return;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !self.children.contains(&child) {
                    self.children.push(child);
                }
                let proc = PathBuf::from(format!("/proc/{child}"));
                if let Ok(argv) = std::fs::read(proc.join("cmdline")) {
                    self.check(&proc, child, &argv, secret);
                }
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn check(&mut self, proc: &Path, pid: u32, argv: &[u8], secret: &Secret) {
        if let Some(what) = secret.find(argv) {
            self.leaks.push(format!("{what} in the argv of {pid}"));
        }
        let environ = std::fs::read(proc.join("environ")).unwrap_or_default();
        if let Some(what) = secret.find(&environ) {
            self.leaks
                .push(format!("{what} in the environment of {pid}"));
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn look(&mut self, _pid: u32, _secret: &Secret) {}
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `GET path` over plain HTTP/1.1, no key: the status line and body.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn the_key_is_nowhere_after_verbose_runs_with_faults_and_failures() {
    let key = random_key();
    let secret = Secret::new(&key);
    let mut env = Env::empty();
    let mut faulty = Emulator::builder()
        .key(KeySpec::new(key.as_str(), Tier::Private).unwrap())
        .seed(SEED);
    for fault in FAULTS {
        faulty = faulty.fault(fault.parse::<Fault>().unwrap());
    }
    let faulty = env.start(faulty);
    let faulty_url = env.emulator(faulty).url();
    // A service that does not know this key: 403 for every request.
    let (other, other_url) = start_knowing(&mut env, "someone else's key");
    let refused_url = format!("http://127.0.0.1:{}/vtapi/v2/", closed_port());

    // The key in a file outside the config and cache dirs; the config file sets the tier.
    let key_file = env.write_key_file("secret/key.txt", format!("{key}\n"));
    env.write_with_mode("config/config", "tier = private\n", 0o600);
    let mut inputs: Vec<String> = (1..=296).map(|i| format!("{i:064x}")).collect();
    inputs.extend([SAMPLE_MD5, EICAR_MD5, ABSENT_MD5, SAMPLE_MD5].map(String::from));
    let input_file = env.write_with_mode("inputs.txt", inputs.join("\n") + "\n", 0o644);

    let runs: [(&str, &str, Vec<&str>); 4] = [
        (
            "the run over faults",
            &faulty_url,
            vec!["--batch-size", "4", "-i", input_file.to_str().unwrap()],
        ),
        (
            "the cached run",
            &faulty_url,
            vec!["--offline", "--format", "table", SAMPLE_MD5, ABSENT_MD5],
        ),
        (
            "the 403 run",
            &other_url,
            vec!["--no-cache", "--format", "csv", SAMPLE_MD5, EICAR_MD5],
        ),
        (
            "the refused run",
            &refused_url,
            vec!["--no-cache", SAMPLE_MD5, EICAR_MD5, ABSENT_MD5],
        ),
    ];
    let mut watch = ProcessWatch::default();
    let mut outputs = Vec::new();
    for (name, url, args) in &runs {
        let out = run_watching(
            env.vt_at(url)
                .env("VT_TESTING_TIME_SCALE", TIME_SCALE)
                .args(["-vv", "file", "report", "--api-key-file"])
                .arg(&key_file)
                .args(args),
            |pid| watch.look(pid, &secret),
        );
        secret.assert_absent(&format!("the stdout of {name}"), out.stdout.as_bytes());
        secret.assert_absent(&format!("the stderr of {name}"), out.stderr.as_bytes());
        outputs.push(out);
    }

    // The runs did what they were meant to: every lookup answered despite the faults, the
    // cache answered, and the failures printed their errors.
    let [faults, cached, forbidden, refused] = &outputs[..] else {
        unreachable!()
    };
    assert_eq!(faults.code, 0, "{}", faults.stderr);
    assert_eq!(lines_as_json(&faults.stdout).len(), inputs.len());
    assert!(faults.stderr.contains("retrying"), "{}", faults.stderr);
    assert!(faults.stderr.contains("204"), "{}", faults.stderr);
    let stats = env.emulator(faulty).stats();
    for kind in [
        FaultKind::InternalError,
        FaultKind::Reset,
        FaultKind::Truncate,
        FaultKind::Quota,
    ] {
        assert!(stats.fault(kind) > 0, "no {kind} fault: {stats:?}");
    }
    assert_eq!(cached.code, 0, "{}", cached.stderr);
    assert!(cached.stdout.contains(SAMPLE_MD5), "{}", cached.stdout);
    assert_eq!(forbidden.code, 1, "{}", forbidden.stderr);
    assert!(
        forbidden.stderr.contains(&format!("vt: {SAMPLE_MD5}: ")),
        "{}",
        forbidden.stderr
    );
    assert!(env.emulator(other).stats().status(403) > 0);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let records = lines_as_json(&refused.stdout);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["error"]["kind"] == "unreachable"));
    assert!(
        refused.stderr.contains("could not connect"),
        "{}",
        refused.stderr
    );

    // Nothing vt wrote holds the key: the config and cache dirs (the SQLite file, its -wal
    // and -shm as bytes) and anything else in the temp dir, the key file aside.
    let files = files_under(env.dir());
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("cache/file-report.sqlite3")),
        "the cache was written: {files:?}"
    );
    assert!(
        secret.find(&std::fs::read(&key_file).unwrap()).is_some(),
        "the search finds the key where it is"
    );
    for file in files.iter().filter(|f| **f != key_file) {
        secret.assert_absent(&file.display().to_string(), &std::fs::read(file).unwrap());
    }

    // Nor did the key show in vt's argv or environment, or any child's, while it ran.
    assert!(watch.leaks.is_empty(), "{:?}", watch.leaks);
    if cfg!(target_os = "linux") {
        assert!(watch.samples > 0, "vt was seen running");
        assert!(watch.children.is_empty(), "vt started {:?}", watch.children);
    }

    // The emulator's counters never need the key, and do not hold it.
    let running = env.emulator(faulty);
    let counters = http_get(running.addr(), "/_emulator/stats");
    assert!(counters.starts_with("HTTP/1.1 200"), "{counters}");
    secret.assert_absent("the emulator's stats", counters.as_bytes());
    secret.assert_absent(
        "the emulator's stats",
        serde_json::to_string(&running.stats()).unwrap().as_bytes(),
    );
}

#[test]
fn debug_output_of_the_client_and_its_builder_hides_the_key() {
    let key = random_key();
    let secret = Secret::new(&key);
    let builder = vt_api::Client::builder(vt_api::ApiKey::new(&key))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(vt_api::Tier::Private);
    secret.assert_absent("the builder's Debug", format!("{builder:?}").as_bytes());
    let transport = vt_api::vt_transport::HyperTransport::new().unwrap();
    let client = builder.transport(Arc::new(transport)).build().unwrap();
    secret.assert_absent("the client's Debug", format!("{client:?}").as_bytes());
    secret.assert_absent(
        "the key's Debug",
        format!("{:?}", vt_api::ApiKey::new(&key)).as_bytes(),
    );
}

/// Test keys as the test sources spell them: the value of every `const ...KEY...: &str`.
fn known_test_keys(root: &Path) -> Vec<String> {
    let mut sources = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        sources.extend(
            files_under(&root.join(dir))
                .into_iter()
                .filter(|f| f.extension().is_some_and(|e| e == "rs"))
                .filter(|f| !f.components().any(|c| c.as_os_str() == "target")),
        );
    }
    let mut keys = Vec::new();
    for source in sources {
        let text = std::fs::read_to_string(&source).unwrap_or_default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once(": &str = \"") else {
                continue;
            };
            if name.contains("const ") && name.contains("KEY") {
                if let Some((value, _)) = value.split_once('"') {
                    if value.len() >= 8 {
                        keys.push(value.to_owned());
                    }
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn no_snapshot_holds_a_test_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let keys = known_test_keys(&root);
    assert!(
        keys.iter().any(|k| k.starts_with("cli-test-key")),
        "the keys of tests/common were found: {keys:?}"
    );
    let snapshots: Vec<PathBuf> = files_under(&root.join("crates"))
        .into_iter()
        .filter(|f| f.components().any(|c| c.as_os_str() == "snapshots"))
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .collect();
    assert!(!snapshots.is_empty());
    for snapshot in &snapshots {
        let text = std::fs::read(snapshot).unwrap();
        for key in &keys {
            Secret::whole(key).assert_absent(&snapshot.display().to_string(), &text);
        }
        let lower = String::from_utf8_lossy(&text).to_ascii_lowercase();
        assert!(!lower.contains("apikey="), "{}", snapshot.display());
    }
}

#[cfg(unix)]
#[test]
fn key_and_config_files_others_can_access_are_refused_with_the_fix() {
    let mut env = Env::empty();
    let key = random_key();
    let (emulator, url) = start_knowing(&mut env, &key);
    let try_key_file = |mode: u32| {
        let file = env.write_with_mode("keys/key.txt", format!("{key}\n"), mode);
        let out = run(env
            .vt_at(&url)
            .args(["file", "report", "--no-cache", SAMPLE_MD5, "--api-key-file"])
            .arg(&file));
        (file, out)
    };
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
        let (file, out) = try_key_file(mode);
        let shown = file.display();
        assert_eq!(out.code, 2, "mode {mode:o}: {}", out.stderr);
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr.contains(&format!("refusing {shown}"))
                && out.stderr.contains(&format!("mode {mode:04o}"))
                && out.stderr.contains(&format!("chmod 600 {shown}")),
            "mode {mode:o}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(&key));
    }
    assert_eq!(
        env.emulator(emulator).stats().requests,
        0,
        "nothing was sent"
    );
    for mode in [0o600, 0o400, 0o700] {
        let (_, out) = try_key_file(mode);
        assert_eq!(out.code, 0, "mode {mode:o}: {}", out.stderr);
    }
    assert_eq!(env.emulator(emulator).stats().requests, 3);

    // The config file of `vt init` holds the key too: same rule, whatever the key's source.
    let config = format!("api_key = {key}\ntier = private\n");
    let file = env.write_with_mode("config/config", &config, 0o644);
    for key_in_env in [false, true] {
        let mut command = env.vt_at(&url);
        if key_in_env {
            command.env("VT_API_KEY", &key);
        }
        let out = run(command.args(["file", "report", "--no-cache", SAMPLE_MD5]));
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("chmod 600 {}", file.display())),
            "{}",
            out.stderr
        );
    }
    assert_eq!(env.emulator(emulator).stats().requests, 3);
    env.write_with_mode("config/config", &config, 0o600);
    let out = run(env
        .vt_at(&url)
        .args(["file", "report", "--no-cache", SAMPLE_MD5]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(env.emulator(emulator).stats().requests, 4);
}

/// A CA made for one test.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("vt test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        Ca {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A server certificate for `names`, expired long ago if asked.
    fn issue(&self, names: &[&str], expired: bool) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    fn write_pem(&self, env: &Env, name: &str) -> PathBuf {
        env.write_with_mode(name, self.issuer.pem(), 0o644)
    }
}

/// An HTTPS front for `upstream` on 127.0.0.1: TLS with `acceptor`, then the bytes copied to
/// and from the upstream emulator. Returns its address and the count of completed handshakes.
fn tls_front(
    env: &Env,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = env
        .runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handshakes);
    env.runtime().spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    (addr, handshakes)
}

/// `vt file report` over HTTPS to a front whose certificate is for `names` (expired if
/// asked) and signed by a CA of the test; with `--ca-cert` of that CA if `trust`. Returns
/// the output, the handshakes the front completed and the requests the emulator answered.
fn over_tls(names: &[&str], expired: bool, trust: bool) -> (Output, usize, u64) {
    let mut env = Env::empty();
    let emulator = env.start(Emulator::builder());
    let ca = Ca::new("tls");
    let (addr, handshakes) = tls_front(
        &env,
        ca.issue(names, expired),
        env.emulator(emulator).addr(),
    );
    let ca_file = ca.write_pem(&env, "ca.pem");
    let url = format!("https://127.0.0.1:{}/vtapi/v2/", addr.port());
    let mut command = env.vt_at(&url);
    command
        .env("VT_API_KEY", "any key")
        // Conventional variables that would add trust elsewhere change nothing here.
        .env("SSL_CERT_FILE", &ca_file)
        .env("SSL_CERT_DIR", env.dir())
        .args(["file", "report", "--no-cache", SAMPLE_MD5, ABSENT_MD5]);
    if trust {
        command.arg("--ca-cert").arg(&ca_file);
    }
    let out = run(&mut command);
    let sent = env.emulator(emulator).stats().requests;
    (out, handshakes.load(Ordering::SeqCst), sent)
}

/// A refused certificate: exit 1, a failed record per input saying `why` (the service cannot
/// be reached: the run stops after the first request), nothing sent.
fn assert_refused(out: &Output, handshakes: usize, sent: u64, why: &str) {
    assert_eq!(out.code, 1, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    for record in &records {
        assert_eq!(record["error"]["kind"], "unreachable", "{record}");
        let message = record["error"]["message"].as_str().unwrap();
        assert!(message.contains("TLS handshake failed"), "{message}");
        assert!(message.contains(why), "{message}");
    }
    assert!(
        out.stderr.contains(&format!(
            "vt: {SAMPLE_MD5}: cannot reach https://127.0.0.1:"
        )) && out
            .stderr
            .contains(&format!(": TLS handshake failed: {why}")),
        "{}",
        out.stderr
    );
    assert_eq!((handshakes, sent), (0, 0), "nothing went through");
}

#[test]
fn tls_with_the_right_ca_and_host_works() {
    let (out, handshakes, sent) = over_tls(&["127.0.0.1"], false, true);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records[0]["response_code"], 1, "{}", out.stdout);
    assert_eq!(records[1]["response_code"], 0, "{}", out.stdout);
    assert!(handshakes >= 1);
    assert_eq!(sent, 1);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn tls_refuses_a_certificate_for_another_host() {
    let (out, handshakes, sent) = over_tls(&["vt.example"], false, true);
    assert_refused(
        &out,
        handshakes,
        sent,
        "certificate not valid for host 127.0.0.1 (it is for vt.example)",
    );
}

#[test]
fn tls_refuses_an_expired_certificate() {
    let (out, handshakes, sent) = over_tls(&["127.0.0.1"], true, true);
    assert_refused(&out, handshakes, sent, "certificate expired ");
    assert!(out.stderr.contains(" days ago"), "{}", out.stderr);
}

#[test]
fn tls_refuses_a_certificate_of_an_unknown_authority() {
    let (out, handshakes, sent) = over_tls(&["127.0.0.1"], false, false);
    assert_refused(
        &out,
        handshakes,
        sent,
        "certificate signed by an unknown authority",
    );
}

#[test]
fn no_option_turns_certificate_checks_off() {
    let env = Env::empty();
    let help = run(env
        .vt_at("https://vt.test/")
        .args(["file", "report", "--help"]));
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--ca-cert"), "{}", help.stdout);
    let lower = help.stdout.to_ascii_lowercase();
    for word in ["insecure", "no-verify", "verify", "danger", "skip-tls"] {
        assert!(!lower.contains(word), "{word}: {}", help.stdout);
    }
}

/// A CONNECT proxy on 127.0.0.1 that sends every tunnel to `upstream` (as if DNS said so),
/// keeping the bytes the client sent through it.
fn connect_proxy(env: &Env, upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = env
        .runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    env.runtime().spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let keep = Arc::clone(&keep);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 8192];
                let end = loop {
                    if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    match client.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                };
                let Ok(upstream) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_upstream, mut to_upstream) = upstream.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_upstream, &mut to_client).await;
                });
                let mut chunk = head[end..].to_vec();
                loop {
                    keep.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&chunk);
                    if to_upstream.write_all(&chunk).await.is_err() {
                        break;
                    }
                    match from_client.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => chunk = buffer[..n].to_vec(),
                    }
                }
                let _ = to_upstream.shutdown().await;
                let _ = down.await;
            });
        }
    });
    (addr, seen)
}

#[test]
fn plain_http_to_another_host_warns_that_the_key_travels_in_clear() {
    // Private: these runs share one quota count, and are not about pacing.
    const LOOKUP: [&str; 6] = [
        "file",
        "report",
        "--tier",
        "private",
        "--no-cache",
        SAMPLE_MD5,
    ];
    let mut env = Env::empty();
    let key = random_key();
    let (emulator, local_url) = start_knowing(&mut env, &key);
    let (proxy, seen) = connect_proxy(&env, env.emulator(emulator).addr());
    let remote = |extra: &[&str]| {
        run(env
            .vt_at("http://vt-test.example/vtapi/v2/")
            .env("VT_API_KEY", &key)
            .env("HTTP_PROXY", format!("http://{proxy}"))
            .args(&LOOKUP[..4])
            .args(extra)
            .arg(SAMPLE_MD5))
    };
    let warned = remote(&["--no-cache"]);
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    let through_proxy = format!(
        "vt: warning: the base URL http://vt-test.example/ is plain http through the proxy \
         http://{proxy}: the proxy can read the API key; use https://"
    );
    assert!(
        warned.stderr.starts_with(&through_proxy),
        "{}",
        warned.stderr
    );
    // As the warning says: whoever is on the way reads the key.
    let seen_now = || seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert!(
        Secret::new(&key).find(&seen_now()).is_some(),
        "the key went through in clear"
    );

    // --quiet silences it, as every warning; offline nothing is sent, so nothing is said.
    let quiet = remote(&["--no-cache", "--quiet"]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    let offline = remote(&["--offline"]);
    assert_eq!(offline.code, 1, "{}", offline.stderr);
    assert!(offline.stdout.contains("not_cached"), "{}", offline.stdout);
    assert!(!offline.stderr.contains("plain http"), "{}", offline.stderr);

    // This machine over plain http, but through a proxy: the proxy reads the tunnel.
    let before = seen_now().len();
    let proxied_local = run(env
        .vt_at(&local_url)
        .env("VT_API_KEY", &key)
        .env("HTTP_PROXY", format!("http://{proxy}"))
        .args(LOOKUP));
    assert_eq!(proxied_local.code, 0, "{}", proxied_local.stderr);
    assert!(
        proxied_local
            .stderr
            .contains(&format!("is plain http through the proxy http://{proxy}")),
        "{}",
        proxied_local.stderr
    );
    assert!(seen_now().len() > before, "the proxy carried the request");

    // This machine, by name or address, is fine over plain http.
    let port = env.emulator(emulator).addr().port();
    for url in [local_url, format!("http://localhost:{port}/vtapi/v2/")] {
        let out = run(env.vt_at(&url).env("VT_API_KEY", &key).args(LOOKUP));
        assert_eq!(out.code, 0, "{url}: {}", out.stderr);
        // No warning of clear text; only the note that this is not the default service.
        assert_eq!(
            out.stderr,
            format!(
                "vt: talking to {url} (from VT_BASE_URL), not {}\n",
                vt_api::DEFAULT_BASE_URL
            ),
            "{url}"
        );
    }
}

#[test]
fn a_key_in_an_input_list_is_never_quoted_whatever_its_case() {
    // A config or key file given to -i by mistake, its key upper-cased or mixed-case.
    let env = Env::new();
    let key = random_key();
    let upper = key.to_ascii_uppercase();
    let list = env.write(
        "pasted.txt",
        format!("{upper}\nkey: {upper}\napi_key = {key}\n{SAMPLE_MD5}\n"),
    );
    let out = run(env
        .vt()
        .env("VT_API_KEY", &key)
        .args(["file", "report", "-i"])
        .arg(&list));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line 1 of"), "{}", out.stderr);
    assert!(out.stderr.contains("line 2 of"), "{}", out.stderr);
    assert!(out.stderr.contains("<redacted>"), "{}", out.stderr);
    let secret = Secret::new(&key);
    secret.assert_absent("stderr", out.stderr.as_bytes());
    secret.assert_absent("stdout", out.stdout.as_bytes());
}
