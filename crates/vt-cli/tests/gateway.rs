//! `vt` through a vt-gateway: the real binary with a team token as its key, against a gateway
//! and its upstream, an emulator holding the real key, both served by the test over loopback
//! HTTP.

mod common;

use std::process::Command;

use common::*;
use vt_gateway::{Allow, Gateway, RunningGateway, Store};

/// An emulator ([`standard_emulator`]) and a gateway in front of it with [`KEY`] on the
/// private tier, on a SQLite store in the temp dir.
struct Setup {
    env: Env,
    store: Store,
    gateway: Option<RunningGateway>,
    url: String,
}

impl Setup {
    fn new() -> Setup {
        let env = Env::new();
        let store = format!("sqlite:{}", env.path("gateway.sqlite").display());
        let (store, gateway) = env.runtime().block_on(async {
            let store = Store::open(&store).await.unwrap();
            let gateway = Gateway::builder(&env.url(), vt_api::ApiKey::new(KEY), store.clone())
                .tier(vt_api::Tier::Private)
                .start()
                .await
                .unwrap();
            (store, gateway)
        });
        let url = gateway.url();
        Setup {
            env,
            store,
            gateway: Some(gateway),
            url,
        }
    }

    /// A new token named `name`, with no rights beyond lookups.
    fn token(&self, name: &str) -> String {
        self.limited_token(name, None)
    }

    /// A new token named `name`, with no rights beyond lookups and `per_day` requests a day.
    fn limited_token(&self, name: &str, per_day: Option<u32>) -> String {
        self.env
            .runtime()
            .block_on(self.store.add_token(name, Allow::default(), per_day))
            .unwrap()
    }

    /// `vt COMMAND... --base-url GATEWAY --tier private --format jsonl` with no key yet. Its
    /// `VT_BASE_URL` names the emulator, which the flag overrides: a token is no key of the
    /// emulator's, so an answer proves the way through the gateway.
    fn vt(&self, command: &[&str]) -> Command {
        let mut vt = self.env.bare();
        vt.args(command).args([
            "--base-url",
            &self.url,
            "--tier",
            "private",
            "--format",
            "jsonl",
        ]);
        vt
    }

    /// The emulator's count of the requests it answered.
    fn upstream_requests(&self) -> u64 {
        self.env.stats().requests
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            self.env.runtime().block_on(gateway.shutdown());
        }
    }
}

/// Each lookup command, what it asks, and how many requests the gateway sends upstream for it
/// (a batch of file reports or URLs is one; domains and IPs are one a request).
const LOOKUPS: &[(&[&str], &[&str], u64)] = &[
    (&["file", "report"], &[SAMPLE_MD5, EICAR_MD5, ABSENT_MD5], 1),
    (
        &["url", "report"],
        &[
            "http://example.com",
            "https://login.example.net/account/verify.php?id=1",
            "http://unknown.example/",
        ],
        1,
    ),
    (
        &["domain", "report"],
        &["example.com", "login.example.net"],
        2,
    ),
    (&["ip", "report"], &["192.0.2.10", "198.51.100.7"], 2),
];

#[test]
fn lookups_through_the_gateway_are_the_emulators_answers_and_asked_upstream_once() {
    let setup = Setup::new();
    let token = setup.token("analyst");
    for &(command, inputs, upstream) in LOOKUPS {
        let direct = run(setup
            .env
            .vt()
            .args(command)
            .args(["--tier", "private", "--format", "jsonl", "--no-cache"])
            .args(inputs));
        assert_eq!(direct.code, 0, "{command:?} direct: {}", direct.stderr);
        assert_eq!(direct.stdout.lines().count(), inputs.len(), "{command:?}");

        let before = setup.upstream_requests();
        let through = run(setup.vt(command).env("VT_API_KEY", &token).args(inputs));
        assert_eq!(through.code, 0, "{command:?}: {}", through.stderr);
        assert_eq!(
            through.stdout, direct.stdout,
            "{command:?}: jsonl through the gateway is the emulator's answers"
        );
        assert_eq!(
            setup.upstream_requests(),
            before + upstream,
            "{command:?}: the gateway's requests upstream"
        );

        // vt's own cache aside, the gateway answers from its cache: nothing goes upstream.
        let again = run(setup
            .vt(command)
            .env("VT_API_KEY", &token)
            .arg("--no-cache")
            .args(inputs));
        assert_eq!(again.code, 0, "{command:?} --no-cache: {}", again.stderr);
        assert_eq!(again.stdout, direct.stdout, "{command:?} --no-cache");
        assert_eq!(
            setup.upstream_requests(),
            before + upstream,
            "{command:?} --no-cache: answered by the gateway's cache"
        );
    }
}

#[test]
fn a_revoked_token_is_refused_with_vts_403_message() {
    let setup = Setup::new();
    let token = setup.token("leaver");
    // Revoked before this gateway ever saw it (a gateway remembers a token it has seen for a
    // second, docs/gateway.md): no wait needed.
    setup
        .env
        .runtime()
        .block_on(setup.store.revoke_token("leaver"))
        .unwrap();
    let key_file = setup.env.write_key_file("token", &token);
    let out = run(setup
        .vt(&["file", "report"])
        .arg("--api-key-file")
        .arg(&key_file)
        .args([SAMPLE_MD5, EICAR_MD5]));
    assert_eq!(out.code, 1, "a failed lookup's exit code: {}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    for record in &records {
        assert_eq!(record["error"]["kind"], "forbidden", "{record}");
    }
    assert!(
        out.stderr
            .contains("stopped: 403 Forbidden: the API key is missing or invalid"),
        "{}",
        out.stderr
    );
    assert_eq!(setup.upstream_requests(), 0, "nothing reached the emulator");
}

#[test]
fn a_tokens_daily_limit_at_the_gateway_stops_vt_at_once_with_its_own_message() {
    // The gateway's 204 for the token's own limit is marked; vt stops on it instead of
    // holding the key for a minute three times ("is the key used elsewhere too?").
    let setup = Setup::new();
    let token = setup.limited_token("intern", Some(1));
    let first = run(setup
        .vt(&["file", "report"])
        .env("VT_API_KEY", &token)
        .arg(SAMPLE_MD5));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let out = run(setup
        .vt(&["file", "report"])
        .env("VT_API_KEY", &token)
        .args([EICAR_MD5, ABSENT_MD5]));
    assert_eq!(out.code, 1, "a failed lookup's exit code: {}", out.stderr);
    let records = lines_as_json(&out.stdout);
    assert_eq!(records.len(), 2, "{}", out.stdout);
    for record in &records {
        assert_eq!(record["error"]["kind"], "gateway_daily_limit", "{record}");
    }
    assert!(
        out.stderr.contains("this token's daily limit is used up"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("holding"), "{}", out.stderr);
}
