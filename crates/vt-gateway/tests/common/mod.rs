//! Shared by the gateway's tests: an emulator as the upstream, a gateway in front of it on a
//! store of either kind (a fresh SQLite file, or a fresh database on the PostgreSQL server of
//! `VT_TEST_POSTGRES_URL`, which `cargo xtask ci` starts), and a raw v2 client.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vt_api::vt_transport::{HyperTransport, Transport};
use vt_emulator::{Dataset, Emulator, EmulatorBuilder, KeySpec, RunningEmulator, Synthetic, Tier};
use vt_gateway::{Allow, Gateway, GatewayBuilder, RunningGateway, Store};

/// The real key: the gateway holds it, and no client, answer, log or table may show it.
pub const KEY: &str = "Real-Upstream-Key-7f3a9c0d5e2b4a6f8c1d3e5f7a9b0c2d4e6f8a0b1c3d5e7f9a";

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A store of `kind` that lives as long as the value: a SQLite file in a temp folder, or a
/// fresh PostgreSQL database (dropped after).
pub struct TestStore {
    pub url: String,
    _folder: Option<tempfile::TempDir>,
    database: Option<(String, String)>,
}

impl TestStore {
    pub async fn new(kind: Kind) -> TestStore {
        match kind {
            Kind::Sqlite => {
                let folder = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", folder.path().join("gateway.sqlite").display());
                TestStore {
                    url,
                    _folder: Some(folder),
                    database: None,
                }
            }
            Kind::Postgres => {
                let admin = std::env::var("VT_TEST_POSTGRES_URL").expect(
                    "VT_TEST_POSTGRES_URL is not set: run the tests through `cargo xtask ci`, \
                     or start a server with `cargo xtask postgres` and export what it prints",
                );
                let name = format!("vtg_{}", unique());
                let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .expect("the test PostgreSQL server answers");
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').unwrap().0;
                TestStore {
                    url: format!("{base}/{name}"),
                    _folder: None,
                    database: Some((admin, name)),
                }
            }
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.database.take() {
            // Best effort, on a thread of its own: Drop may run inside the test's runtime.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Synthetic reports: the emulator knows `known` of the returned hashes, and not the rest.
pub fn data(inputs: usize, seed: u64) -> (Dataset, Vec<String>) {
    let synthetic = Synthetic::generate(inputs, seed);
    let mut dataset = Dataset::new();
    dataset
        .add_json("synthetic", synthetic.reports_json.as_bytes())
        .unwrap();
    let mut hashes = synthetic.inputs;
    hashes.sort();
    hashes.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    (dataset, hashes)
}

/// An emulator with the real key on `tier` and `dataset`.
pub fn emulator(tier: Tier, dataset: Dataset) -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new(KEY, tier).unwrap())
        .dataset(dataset)
}

pub async fn start_emulator(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.unwrap()
}

/// A gateway in front of `upstream` with the real key on `tier`.
pub fn gateway(upstream: &RunningEmulator, tier: vt_api::Tier, store: Store) -> GatewayBuilder {
    Gateway::builder(&upstream.url(), vt_api::ApiKey::new(KEY), store)
        .tier(tier)
        .window(Duration::from_millis(300))
}

/// A token named `name` with `allow`.
pub async fn token(store: &Store, name: &str, allow: Allow) -> String {
    store.add_token(name, allow, None).await.unwrap()
}

/// A raw HTTP client: every status comes back as it is.
pub fn raw() -> Arc<dyn Transport> {
    Arc::new(HyperTransport::new().unwrap())
}

/// `GET base + path?query`.
pub async fn get(
    http: &Arc<dyn Transport>,
    base: &str,
    path: &str,
    query: &[(&str, &str)],
) -> http::Response<Bytes> {
    let query: String = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let request = http::Request::get(format!("{base}{path}?{query}"))
        .body(Bytes::new())
        .unwrap();
    http.send(request).await.unwrap()
}

/// `POST base + path` with a form body.
pub async fn post(
    http: &Arc<dyn Transport>,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
) -> http::Response<Bytes> {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let request = http::Request::post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
        .unwrap();
    http.send(request).await.unwrap()
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `text` holds the key in any letter case.
pub fn shows_key(text: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&KEY.to_ascii_lowercase())
}

/// Runs the test body on both stores, each on its own runtime.
#[macro_export]
macro_rules! on_both_stores {
    ($(#[$meta:meta])* $name:ident, $body:path) => {
        mod $name {
            use super::*;
            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $body(common::Kind::Sqlite).await;
            }
            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $body(common::Kind::Postgres).await;
            }
        }
    };
}

/// Everything a gateway test needs.
pub struct Setup {
    pub store_guard: TestStore,
    pub store: Store,
    pub emulator: RunningEmulator,
    pub gateway: RunningGateway,
    pub hashes: Vec<String>,
}

impl Setup {
    pub async fn new(
        kind: Kind,
        tier: Tier,
        configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Setup {
        let (dataset, hashes) = data(200, 11);
        let emulator = start_emulator(emulator(tier, dataset)).await;
        let store_guard = TestStore::new(kind).await;
        let store = store_guard.open().await;
        let api_tier = match tier {
            Tier::Public => vt_api::Tier::Public,
            _ => vt_api::Tier::Private,
        };
        let gateway = configure(gateway(&emulator, api_tier, store.clone()))
            .start()
            .await
            .unwrap();
        Setup {
            store_guard,
            store,
            emulator,
            gateway,
            hashes,
        }
    }

    pub fn base(&self) -> String {
        self.gateway.url()
    }
}
