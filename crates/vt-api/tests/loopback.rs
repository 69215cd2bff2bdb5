//! The real thing: `vt-api` over the real `HyperTransport`, over loopback TCP, against the
//! real `vt-emulator` serving its bundled dataset. Every answer the service can give.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vt_api::{
    ApiKey, Client, Error, FileReportAnswer, LedgerEntry, LedgerError, QuotaDecision, QuotaLedger,
    Resource, RetryPolicy, Tier,
};
use vt_emulator::{Emulator, EmulatorBuilder, Fault, FaultKind, KeySpec, RunningEmulator};
use vt_transport::HyperTransport;

const PRIVATE_KEY: &str = "loopback-private-key";
const PUBLIC_KEY: &str = "loopback-public-key";
/// In the bundled dataset: the documented sample of the reference page.
const SAMPLE_MD5: &str = "99017f6eebbac24f351415dd410d522d";
const SAMPLE_SHA256: &str = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";
const ABSENT: &str = "00000000000000000000000000000001";

fn emulator() -> EmulatorBuilder {
    Emulator::builder()
        .key(KeySpec::new(PRIVATE_KEY, vt_emulator::Tier::Private).unwrap())
        .key(KeySpec::new(PUBLIC_KEY, vt_emulator::Tier::Public).unwrap())
}

/// Fast retries, so that the fault tests take milliseconds.
fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_rate_limit_waits(1, Duration::from_millis(20))
        .with_request_timeout(Duration::from_secs(5))
}

fn client_for(
    emulator: &RunningEmulator,
    key: &str,
    tier: Tier,
    transport: HyperTransport,
) -> Client {
    Client::builder(ApiKey::new(key))
        .base_url(emulator.url())
        .tier(tier)
        .retry_policy(quick_retries())
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

fn private_client(emulator: &RunningEmulator) -> Client {
    client_for(
        emulator,
        PRIVATE_KEY,
        Tier::Private,
        HyperTransport::new().unwrap(),
    )
}

fn resource(text: &str) -> Resource {
    text.parse().unwrap()
}

#[tokio::test]
async fn found_with_and_without_allinfo_and_echoed_as_asked() {
    let emulator = emulator().start().await.unwrap();
    let client = private_client(&emulator);
    let upper = resource(&SAMPLE_SHA256.to_uppercase());
    let answer = client.file_report(&upper, false).await.unwrap();
    let report = answer.as_found().expect("found");
    assert_eq!(
        report.resource.as_deref(),
        Some(upper.as_str()),
        "echoed verbatim"
    );
    assert_eq!(report.md5, SAMPLE_MD5);
    assert_eq!(report.detection_ratio().to_string(), "40/40");
    assert!(
        report.first_seen.is_none(),
        "no allinfo fields without allinfo"
    );
    let with_allinfo = client.file_report(&upper, true).await.unwrap();
    assert!(with_allinfo.as_found().is_some());
    assert_eq!(emulator.stats().status(200), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn not_found_and_queued() {
    let emulator = emulator().queued(SAMPLE_SHA256).start().await.unwrap();
    let client = private_client(&emulator);
    let answer = client.file_report(&resource(ABSENT), false).await.unwrap();
    assert!(matches!(&answer, FileReportAnswer::NotFound(s) if !s.is_invalid_resource()));
    let answer = client
        .file_report(&resource(SAMPLE_SHA256), false)
        .await
        .unwrap();
    match &answer {
        FileReportAnswer::Queued(status) => {
            assert_eq!(status.scan_id.as_deref(), Some(SAMPLE_SHA256))
        }
        other => panic!("{other:?}"),
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_mixed_answers_in_input_order() {
    let emulator = emulator().start().await.unwrap();
    let client = private_client(&emulator);
    let inputs = vec![
        resource(ABSENT),
        resource(SAMPLE_MD5),
        resource(&SAMPLE_SHA256.to_uppercase()),
        resource(&format!("{SAMPLE_SHA256}-1273894724")),
        resource(ABSENT),
    ];
    let mut outcomes = client.file_reports(inputs.clone(), false);
    let mut got = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        let answer = outcome.result.unwrap();
        // The bytes the service sent for this answer, untouched: the emulator writes the
        // service's separators (`": "`), which re-encoding by the model (compact) would not.
        let raw = answer.bytes().clone();
        if answer.as_found().is_some() {
            assert!(raw.windows(3).any(|w| w == b"\": "), "{raw:?}");
        }
        let raw_value: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(raw_value, serde_json::to_value(&answer).unwrap());
        got.push((outcome.query, answer.status().as_str()));
    }
    let expected: Vec<(Resource, &str)> = inputs
        .into_iter()
        .zip(["not_found", "found", "found", "found", "not_found"])
        .collect();
    assert_eq!(got, expected);
    let stats = emulator.stats();
    assert_eq!(stats.requests, 1, "one request for the whole batch");
    assert_eq!(stats.resources_asked, 4, "the duplicate was asked once");
    emulator.shutdown().await;
}

#[tokio::test]
async fn forbidden_for_an_unknown_key_and_for_allinfo_on_a_public_key() {
    let emulator = emulator().start().await.unwrap();
    let stranger = client_for(
        &emulator,
        "nobody",
        Tier::Private,
        HyperTransport::new().unwrap(),
    );
    let error = stranger
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Forbidden), "{error:?}");
    let public = client_for(
        &emulator,
        PUBLIC_KEY,
        Tier::Public,
        HyperTransport::new().unwrap(),
    );
    let error = public
        .file_report(&resource(SAMPLE_MD5), true)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::ForbiddenFeature { feature } if feature == "allinfo"),
        "{error:?}"
    );
    assert_eq!(emulator.stats().status(403), 2, "403 is not retried");
    // The 403 stopped allinfo only: the public key still gets reports.
    let answer = public.file_report(&resource(SAMPLE_MD5), false).await;
    assert_eq!(answer.unwrap().status(), "found");
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_batch_larger_than_the_service_allows_is_a_bad_request() {
    let emulator = emulator().batch_limit_private(10).start().await.unwrap();
    let client = private_client(&emulator);
    let inputs: Vec<Resource> = (0..12).map(|i| resource(&format!("{i:032x}"))).collect();
    let mut outcomes = client.file_reports(inputs, false);
    let mut kinds = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        kinds.push(outcome.result.unwrap_err().kind());
    }
    assert_eq!(kinds, vec!["bad_request"; 12]);
    assert_eq!(emulator.stats().status(400), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn quota_exceeded_is_a_rate_limit_error_after_bounded_waits() {
    let emulator = emulator().public_per_minute(1).start().await.unwrap();
    // The client believes it may send 10 a minute: the service disagrees.
    let client = Client::builder(ApiKey::new(PUBLIC_KEY))
        .base_url(emulator.url())
        .limits(Tier::Public.limits().with_per_minute(Some(10)))
        .retry_policy(quick_retries())
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap();
    assert!(client
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .is_ok());
    let error = client
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { answers: 2 }),
        "{error:?}"
    );
    assert_eq!(emulator.stats().status(204), 2);
    emulator.shutdown().await;
}

/// An emulator that injects `kind` into every request.
async fn faulty(kind: FaultKind) -> RunningEmulator {
    emulator()
        .fault(Fault::new(kind, 1.0).unwrap())
        .seed(7)
        .slow_delay(Duration::from_secs(3))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let emulator = faulty(FaultKind::InternalError).await;
    let error = private_client(&emulator)
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedStatus { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(emulator.stats().status(500), 3, "three attempts");
    emulator.shutdown().await;
}

#[tokio::test]
async fn reset_connections_are_retried_then_reported_as_transport_errors() {
    let emulator = faulty(FaultKind::Reset).await;
    let error = private_client(&emulator)
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    match &error {
        Error::Transport(e) => assert!(e.inner().is_transient(), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.stats().requests, 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn truncated_bodies_are_retried_then_reported_as_decode_errors() {
    let emulator = faulty(FaultKind::Truncate).await;
    let error = private_client(&emulator)
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    // The emulator announces the whole length and sends half: the transport sees the
    // connection end early (or, had it not, the decoder a truncated body).
    assert!(matches!(error.kind(), "transport" | "decode"), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(emulator.stats().requests, 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_slow_service_times_out() {
    let emulator = faulty(FaultKind::Slow).await;
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let client = client_for(&emulator, PRIVATE_KEY, Tier::Private, transport);
    let error = client
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    match &error {
        Error::Transport(e) => assert!(e.inner().is_timeout(), "{e:?}"),
        other => panic!("{other:?}"),
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_not_retried() {
    let emulator = emulator().start().await.unwrap();
    let transport = HyperTransport::builder()
        .max_body_size(512)
        .build()
        .unwrap();
    let client = client_for(&emulator, PRIVATE_KEY, Tier::Private, transport);
    let error = client
        .file_report(&resource(SAMPLE_MD5), true)
        .await
        .unwrap_err();
    match &error {
        Error::Transport(e) => assert!(e.inner().is_body_too_large(), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.stats().requests, 1, "not retried");
    emulator.shutdown().await;
}

/// Looks `inputs` up; every one must be answered. Returns how many outcomes came.
async fn all_answered(client: &Client, inputs: Vec<Resource>) -> usize {
    let mut outcomes = client.file_reports(inputs, false);
    let mut answered = 0;
    while let Some(outcome) = outcomes.next().await {
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        answered += 1;
    }
    answered
}

/// One fast clock for the client and the emulator: time runs 100 times faster than real time
/// for both, so minutes of quota windows pass in about a second over real HTTP.
#[derive(Debug, Clone, Copy)]
struct FastClock {
    origin: std::time::Instant,
    wall_origin: std::time::SystemTime,
}

impl FastClock {
    fn new() -> FastClock {
        FastClock {
            origin: std::time::Instant::now(),
            wall_origin: std::time::SystemTime::now(),
        }
    }
}

const SPEED: u32 = 100;

impl vt_emulator::Clock for FastClock {
    fn now(&self) -> Duration {
        self.origin.elapsed() * SPEED
    }
}

impl vt_api::Clock for FastClock {
    fn now(&self) -> std::time::Instant {
        self.origin + vt_emulator::Clock::now(self)
    }

    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration / SPEED))
    }

    fn system_time(&self) -> std::time::SystemTime {
        self.wall_origin + vt_emulator::Clock::now(self)
    }
}

/// An emulator that allows a public key `per_minute` a minute, counted in `unit`, on `clock`.
async fn public_quota(
    clock: FastClock,
    per_minute: u32,
    unit: vt_emulator::QuotaUnit,
) -> RunningEmulator {
    emulator()
        .public_per_minute(per_minute)
        .quota_unit(unit)
        .clock(clock)
        .start()
        .await
        .unwrap()
}

/// An emulator that allows a public key 2 requests a minute, on `clock`.
async fn two_a_minute(clock: FastClock) -> RunningEmulator {
    public_quota(clock, 2, vt_emulator::QuotaUnit::Request).await
}

/// A client of the public key paced to 2 requests a minute, on the emulator's `clock`.
fn paced_client(emulator: &RunningEmulator, clock: FastClock) -> vt_api::ClientBuilder {
    public_client(
        emulator,
        clock,
        Tier::Public.limits().with_per_minute(Some(2)),
    )
}

/// A client of the public key with `limits`, on the emulator's `clock`.
fn public_client(
    emulator: &RunningEmulator,
    clock: FastClock,
    limits: vt_api::Limits,
) -> vt_api::ClientBuilder {
    Client::builder(ApiKey::new(PUBLIC_KEY))
        .base_url(emulator.url())
        .limits(limits)
        .retry_policy(quick_retries().with_request_timeout(Duration::from_secs(300)))
        .clock(Arc::new(clock))
        .transport(Arc::new(HyperTransport::new().unwrap()))
}

#[tokio::test]
async fn pacing_spends_a_public_quota_to_the_last_request_and_no_further() {
    // The service allows 2 requests a minute; 20 resources go in 5 requests of 4, which
    // takes the client into the third minute, with not one 204.
    let clock = FastClock::new();
    let emulator = two_a_minute(clock).await;
    let client = paced_client(&emulator, clock).build().unwrap();
    let inputs: Vec<Resource> = (0..20).map(|i| resource(&format!("{i:032x}"))).collect();
    assert_eq!(all_answered(&client, inputs).await, 20);
    let stats = emulator.stats();
    assert_eq!((stats.requests, stats.status(204)), (5, 0));
    // Requests 1-2 at once, 3-4 a minute later, 5 two minutes later: no sooner, and not
    // much later (the slack is the scaled cost of five loopback requests).
    let elapsed = vt_emulator::Clock::now(&clock);
    assert!(elapsed >= Duration::from_secs(120), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(150),
        "{elapsed:?}: quota left unused"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn counted_by_resource_batches_are_paced_by_their_size_without_a_204() {
    // The service counts resources, 8 a minute; so does the client: 20 resources in batches
    // of 4 are two requests a minute, five in all, into the third minute, and no 204.
    let clock = FastClock::new();
    let emulator = public_quota(clock, 8, vt_emulator::QuotaUnit::Resource).await;
    let limits = Tier::Public
        .limits()
        .with_per_minute(Some(8))
        .with_quota_unit(vt_api::QuotaUnit::Resource);
    let client = public_client(&emulator, clock, limits).build().unwrap();
    let inputs: Vec<Resource> = (0..20).map(|i| resource(&format!("{i:032x}"))).collect();
    assert_eq!(all_answered(&client, inputs).await, 20);
    let stats = emulator.stats();
    assert_eq!((stats.requests, stats.status(204)), (5, 0));
    let elapsed = vt_emulator::Clock::now(&clock);
    assert!(elapsed >= Duration::from_secs(120), "{elapsed:?}");
    assert_eq!(client.quota_status().await.used_today, 20);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_client_counting_requests_slows_down_to_a_service_counting_resources() {
    // The service counts resources (4 a minute: one batch of 4); the client counts requests
    // (4 a minute). Its second batch meets 204s its count cannot explain: after two it says
    // so once and slows down to the one request a minute the service let through, and the
    // rest of the run meets no 204 at all.
    let clock = FastClock::new();
    let emulator = public_quota(clock, 4, vt_emulator::QuotaUnit::Resource).await;
    let slowed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&slowed);
    let client = public_client(&emulator, clock, Tier::Public.limits())
        .retry_policy(
            quick_retries()
                .with_rate_limit_waits(10, Duration::from_secs(20))
                .with_request_timeout(Duration::from_secs(300)),
        )
        .observer(move |event: &vt_api::Event| {
            if let vt_api::Event::QuotaSlowedDown {
                per_minute,
                now_per_minute,
                ..
            } = event
            {
                seen.lock().unwrap().push((*per_minute, *now_per_minute));
            }
        })
        .build()
        .unwrap();
    let inputs: Vec<Resource> = (0..24).map(|i| resource(&format!("{i:032x}"))).collect();
    assert_eq!(all_answered(&client, inputs).await, 24);
    assert_eq!(*slowed.lock().unwrap(), [(4, 1)], "said once");
    let stats = emulator.stats();
    assert_eq!(stats.status(200), 6, "six batches of 4");
    assert_eq!(stats.status(204), 2, "the two that showed it, then none");
    emulator.shutdown().await;
}

#[cfg(feature = "cache")]
#[tokio::test]
async fn clients_sharing_a_quota_ledger_share_one_key_without_a_204() {
    // Two clients on one public key, each with its own connection to one cache file (as two
    // processes would be), 2 requests a minute between them: 16 resources go in 4 requests,
    // two in the first minute and two in the second, and the service never answers 204.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    let clock = FastClock::new();
    let emulator = two_a_minute(clock).await;
    let client = |cache: vt_api::Cache| {
        paced_client(&emulator, clock)
            .quota_ledger(Arc::new(cache))
            .build()
            .unwrap()
    };
    let first = client(vt_api::Cache::open(&path).unwrap());
    let second = client(vt_api::Cache::open(&path).unwrap());
    let run = |client: Client, offset: usize| async move {
        let inputs: Vec<Resource> = (offset..offset + 8)
            .map(|i| resource(&format!("{i:032x}")))
            .collect();
        all_answered(&client, inputs).await
    };
    let (a, b) = tokio::join!(
        tokio::spawn(run(first.clone(), 0)),
        tokio::spawn(run(second, 100))
    );
    assert_eq!((a.unwrap(), b.unwrap()), (8, 8));
    let stats = emulator.stats();
    assert_eq!((stats.requests, stats.status(204)), (4, 0));
    assert!(vt_emulator::Clock::now(&clock) >= Duration::from_secs(60));
    // Either client sees what both sent.
    let status = first.quota_status().await;
    assert_eq!((status.used_today, status.left_today()), (4, Some(496)));
    assert!(status.next_release_at.is_some());
    emulator.shutdown().await;
}

#[tokio::test]
async fn requests_held_by_a_backoff_do_not_shrink_the_batches_behind_them() {
    // Private key, 4 requests in flight, and three answers in ten a 500: while a request backs
    // off before its retry, the others must not send the read-ahead as small chunks.
    // 1,000 distinct resources, each fifth one followed by a repeat of an earlier one (which
    // takes room in the read-ahead but not in a chunk): exactly 40 full requests, and every
    // retry is full too.
    let emulator = emulator()
        .fault(Fault::new(FaultKind::InternalError, 0.3).unwrap())
        .seed(11)
        .start()
        .await
        .unwrap();
    let client = Client::builder(ApiKey::new(PRIVATE_KEY))
        .base_url(emulator.url())
        .tier(Tier::Private)
        .retry_policy(quick_retries().with_max_attempts(16))
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap();
    let inputs: Vec<Resource> = (0..1000)
        .flat_map(|i: usize| {
            let repeat = (i % 5 == 4).then(|| i - 3);
            std::iter::once(i).chain(repeat)
        })
        .map(|i| resource(&format!("{i:064x}")))
        .collect();
    assert_eq!(all_answered(&client, inputs).await, 1200);
    let stats = emulator.stats();
    assert!(stats.status(500) > 0, "{stats:?}");
    assert_eq!(stats.resources_asked, 25 * stats.requests, "{stats:?}");
    emulator.shutdown().await;
}

/// A quota ledger of the test's own, written from [`vt_api::QuotaLedger`]'s documentation
/// alone: each unit a row of one list, every call under one lock (a transaction). Each call
/// first blocks on the runtime, as one over an async database driver would: legal on the
/// blocking pool only, where the documentation says it is called (on a runtime worker it
/// would panic).
#[derive(Debug, Default)]
struct ListLedger(std::sync::Mutex<Rows>);

#[derive(Debug, Default)]
struct Rows {
    /// Each unit: its key, its entry and its time.
    units: Vec<(String, i64, SystemTime)>,
    /// Each key's hold: when it was set, and until when.
    holds: std::collections::HashMap<String, (SystemTime, SystemTime)>,
    next_entry: i64,
}

impl ListLedger {
    /// The keys it counts under.
    fn keys(&self) -> Vec<String> {
        let rows = self.0.lock().unwrap();
        let mut keys: Vec<String> = rows.units.iter().map(|u| u.0.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// What an async store does in each call: blocks on the runtime for its answer.
fn as_an_async_store_would() {
    tokio::runtime::Handle::current().block_on(tokio::task::yield_now());
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

impl QuotaLedger for ListLedger {
    fn take(
        &self,
        key: &str,
        now: SystemTime,
        keep: Duration,
        nths: &[usize],
        units: usize,
        decide: &mut QuotaDecision<'_>,
    ) -> Result<Result<LedgerEntry, Duration>, LedgerError> {
        as_an_async_store_would();
        let mut rows = self.0.lock().unwrap();
        rows.units.retain(|&(_, _, at)| age(now, at) <= keep);
        for unit in rows.units.iter_mut().filter(|u| u.0 == key && u.2 > now) {
            unit.2 = now;
        }
        let mut times: Vec<SystemTime> = rows
            .units
            .iter()
            .filter(|u| u.0 == key)
            .map(|u| u.2)
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let ages: Vec<(usize, Duration)> = nths
            .iter()
            .filter_map(|&n| Some((n, age(now, *times.get(n - 1)?))))
            .collect();
        let hold = rows.holds.get(key).and_then(|&(set_at, until)| {
            let until = match set_at > now {
                true => now + age(until, set_at),
                false => until,
            };
            Some(age(until, now)).filter(|left| !left.is_zero())
        });
        if let Some(wait) = decide(&ages, hold) {
            return Ok(Err(wait));
        }
        let entry = rows.next_entry;
        rows.next_entry += 1;
        rows.units
            .extend(std::iter::repeat_n((key.to_owned(), entry, now), units));
        Ok(Ok(LedgerEntry(entry)))
    }

    fn restamp(
        &self,
        key: &str,
        entry: LedgerEntry,
        _units: usize,
        at: SystemTime,
    ) -> Result<(), LedgerError> {
        as_an_async_store_would();
        let mut rows = self.0.lock().unwrap();
        for unit in rows
            .units
            .iter_mut()
            .filter(|u| u.0 == key && u.1 == entry.0)
        {
            unit.2 = unit.2.max(at);
        }
        Ok(())
    }

    fn refund(&self, key: &str, entry: LedgerEntry, _units: usize) -> Result<(), LedgerError> {
        as_an_async_store_would();
        let mut rows = self.0.lock().unwrap();
        rows.units.retain(|u| !(u.0 == key && u.1 == entry.0));
        Ok(())
    }

    fn hold(&self, key: &str, now: SystemTime, wait: Duration) -> Result<(), LedgerError> {
        as_an_async_store_would();
        let mut rows = self.0.lock().unwrap();
        let until = now + wait;
        let held = rows.holds.entry(key.to_owned()).or_insert((now, until));
        *held = (now, held.1.max(until));
        Ok(())
    }

    fn used(
        &self,
        key: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<(u32, Option<SystemTime>), LedgerError> {
        as_an_async_store_would();
        let rows = self.0.lock().unwrap();
        let within: Vec<SystemTime> = rows
            .units
            .iter()
            .filter(|u| u.0 == key && age(now, u.2) < window)
            .map(|u| u.2)
            .collect();
        Ok((within.len() as u32, within.into_iter().min()))
    }
}

/// An observer that keeps the pacing waits a client announces (`daily` for each).
fn pacing_waits() -> (
    Arc<std::sync::Mutex<Vec<bool>>>,
    impl Fn(&vt_api::Event) + Send + Sync + 'static,
) {
    let waits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&waits);
    let observer = move |event: &vt_api::Event| {
        if let vt_api::Event::Pacing { daily, .. } = event {
            seen.lock().unwrap().push(*daily);
        }
    };
    (waits, observer)
}

#[tokio::test]
async fn clients_sharing_a_ledger_of_their_own_kind_pace_jointly() {
    // Two clients, each with its own pacer, on one key of 2 requests a minute, sharing a
    // ledger that is not the cache: the first sends 2, and the second's first request waits
    // for the minute (alone, it would have gone at once and met a 204).
    let clock = FastClock::new();
    let emulator = two_a_minute(clock).await;
    let ledger = Arc::new(ListLedger::default());
    let client = |observer| {
        paced_client(&emulator, clock)
            .shared_quota_ledger(ledger.clone())
            .observer(observer)
            .build()
            .unwrap()
    };
    let (first_waits, observer) = pacing_waits();
    let first = client(observer);
    let (second_waits, observer) = pacing_waits();
    let second = client(observer);
    for n in 0..2 {
        let absent = resource(&format!("{n:032x}"));
        assert!(first.file_report(&absent, false).await.is_ok());
    }
    assert!(second
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .is_ok());
    assert!(first_waits.lock().unwrap().is_empty());
    assert_eq!(
        *second_waits.lock().unwrap(),
        [false],
        "the minute's third waited"
    );
    let stats = emulator.stats();
    assert_eq!((stats.requests, stats.status(204)), (3, 0));
    // Either client sees what both sent, counted under a fingerprint, never the key.
    assert_eq!(first.quota_status().await.used_today, 3);
    let keys = ledger.keys();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].len() == 32 && !keys[0].contains(PUBLIC_KEY),
        "{keys:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_quota_wait_longer_than_the_policy_allows_fails_at_once_and_sends_nothing() {
    // One request a minute, and a wait of a second at most (on the real clock: the minute
    // stays full for the whole test): after the first lookup, every call through the
    // pacer fails at once, nothing sent and nothing counted, and none of them waited.
    let emulator = emulator().public_per_minute(1).start().await.unwrap();
    let (waits, observer) = pacing_waits();
    let client = Client::builder(ApiKey::new(PUBLIC_KEY))
        .base_url(emulator.url())
        .limits(Tier::Public.limits().with_per_minute(Some(1)))
        .retry_policy(quick_retries().with_max_quota_wait(Some(Duration::from_secs(1))))
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .observer(observer)
        .build()
        .unwrap();
    assert!(client
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .is_ok());
    let error = client
        .file_report(&resource(ABSENT), false)
        .await
        .unwrap_err();
    match &error {
        Error::QuotaWait { wait, daily, .. } => {
            assert!(*wait > Duration::from_secs(1) && !daily, "{error:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.kind(), "quota_wait");
    assert!(error.is_transient());
    let mut outcomes = client.file_reports(vec![resource(ABSENT)], false);
    let outcome = outcomes.next().await.unwrap();
    assert_eq!(outcome.result.unwrap_err().kind(), "quota_wait");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.bin");
    std::fs::write(&path, b"sample").unwrap();
    let upload = client.scan_file(&path).await.unwrap_err();
    assert_eq!(upload.kind(), "quota_wait");
    let relayed = client
        .relay(
            vt_api::FILE_REPORT.spec(),
            vt_api::RelayRequest::new([("resource", SAMPLE_MD5)]),
        )
        .await
        .unwrap_err();
    assert_eq!(relayed.kind(), "quota_wait");
    assert!(waits.lock().unwrap().is_empty(), "nothing waited");
    assert_eq!(emulator.stats().requests, 1);
    assert_eq!(client.quota_status().await.used_today, 1);
    // The daily window, likewise (the private key has no limits of the emulator's).
    let daily = Client::builder(ApiKey::new(PRIVATE_KEY))
        .base_url(emulator.url())
        .tier(Tier::Private)
        .limits(Tier::Private.limits().with_per_day(Some(1)))
        .retry_policy(quick_retries().with_max_quota_wait(Some(Duration::from_secs(3600))))
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap();
    assert!(daily
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .is_ok());
    let error = daily
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::QuotaWait { daily: true, .. }),
        "{error:?}"
    );
    assert_eq!(emulator.stats().requests, 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_204_hold_longer_than_the_policy_allows_fails_at_once() {
    // The client believes 10 a minute, the service allows 1. The 204 holds the key for a
    // minute, longer than the second allowed: that request fails at once rather than wait,
    // and the next one without being sent.
    let emulator = emulator().public_per_minute(1).start().await.unwrap();
    let client = Client::builder(ApiKey::new(PUBLIC_KEY))
        .base_url(emulator.url())
        .limits(Tier::Public.limits().with_per_minute(Some(10)))
        .retry_policy(
            quick_retries()
                .with_rate_limit_waits(3, Duration::from_secs(60))
                .with_max_quota_wait(Some(Duration::from_secs(1))),
        )
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap();
    assert!(client
        .file_report(&resource(SAMPLE_MD5), false)
        .await
        .is_ok());
    for _ in 0..2 {
        let error = client
            .file_report(&resource(SAMPLE_MD5), false)
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::QuotaWait { daily: false, .. }),
            "{error:?}"
        );
    }
    let stats = emulator.stats();
    assert_eq!((stats.requests, stats.status(204)), (2, 1));
    emulator.shutdown().await;
}
