//! The gateway against the emulator as its upstream, over real HTTP, on both stores.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{gateway, get, post, raw, token, Kind, Setup, TestStore, KEY};
use vt_emulator::Tier;
use vt_gateway::Allow;

/// Two SHA-256s of `hashes`: two different files (a found report is also stored under its
/// file's other hashes, so an MD5 and a SHA-256 may name one file).
fn two_files(hashes: &[String]) -> (String, String) {
    let mut sha256s = hashes.iter().filter(|h| h.len() == 64).cloned();
    (sha256s.next().unwrap(), sha256s.next().unwrap())
}

fn header<'r>(response: &'r http::Response<bytes::Bytes>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The statuses of an `allinfo` lookup, a `url/scan` and a `file/download` with `apikey`.
async fn rights(
    http: &std::sync::Arc<dyn vt_api::vt_transport::Transport>,
    base: &str,
    apikey: &str,
    hash: &str,
) -> [u16; 3] {
    let allinfo = [("apikey", apikey), ("resource", hash), ("allinfo", "1")];
    let url = [("apikey", apikey), ("url", "http://example.com/")];
    let download = [("apikey", apikey), ("hash", hash)];
    [
        get(http, base, "file/report", &allinfo).await,
        post(http, base, "url/scan", &url).await,
        get(http, base, "file/download", &download).await,
    ]
    .map(|response| response.status().as_u16())
}

/// Unknown and revoked tokens are 403, as the service answers an unknown key; rights are
/// checked before anything is sent upstream.
async fn tokens_are_checked(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let hash = setup.hashes[0].clone();
    let plain = token(&setup.store, "plain", Allow::default()).await;

    let unknown = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &"0".repeat(64)), ("resource", &hash)],
    )
    .await;
    assert_eq!(unknown.status(), 403);
    let direct_403 = get(
        &http,
        &setup.emulator.url(),
        "file/report",
        &[("apikey", "nope"), ("resource", &hash)],
    )
    .await;
    assert_eq!(
        unknown.body(),
        direct_403.body(),
        "the service's own 403 page"
    );
    let missing = get(&http, &base, "file/report", &[("resource", &hash)]).await;
    assert_eq!(missing.status(), 403);

    let ok = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &plain), ("resource", &hash)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    // A token is a key to clients: any letter case.
    let upper = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &plain.to_uppercase()), ("resource", &hash)],
    )
    .await;
    assert_eq!(upper.status(), 200);

    // Rights: allinfo, upload, download; none sent upstream when refused.
    let requests_before = setup.emulator.stats().requests;
    assert_eq!(rights(&http, &base, &plain, &hash).await, [403, 403, 403]);
    assert_eq!(setup.emulator.stats().requests, requests_before);
    let all = token(&setup.store, "all", Allow::ALL).await;
    let [allinfo, scan, download] = rights(&http, &base, &all, &hash).await;
    assert_eq!((allinfo, scan), (200, 200));
    assert_ne!(download, 403);
    assert!(setup.emulator.stats().requests > requests_before);

    // Revoked: refused within the token cache's second.
    setup.store.revoke_token("plain").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let revoked = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &plain), ("resource", &hash)],
    )
    .await;
    assert_eq!(revoked.status(), 403);
    setup.gateway.shutdown().await;
}
on_both_stores!(
    tokens_unknown_revoked_and_without_rights_are_refused,
    tokens_are_checked
);

/// A right cannot be had by how its parameter is written: a second occurrence, another
/// letter case, spaces, a value other than `1` or `true`. Requests the gateway relays as they
/// came (a file batch over the tier's 25, a URL scan) would otherwise carry to the service a
/// parameter it may read where the gateway did not. Refused 403 before anything is sent; a
/// token with the rights is not refused.
async fn rights_by_spelling(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let (http, base) = (raw(), setup.base());
    let plain = token(&setup.store, "plain", Allow::default()).await;
    let all = token(&setup.store, "all", Allow::ALL).await;
    let over_a_batch = setup.hashes[..26].join(",");
    let over_a_batch = over_a_batch.as_str();
    let tricks = [
        (
            "file/report",
            over_a_batch,
            [("allinfo", "0"), ("allinfo", "1")],
        ),
        ("file/report", over_a_batch, [("ALLINFO", "1"), ("x", "")]),
        (
            "file/report",
            over_a_batch,
            // (names go as they are written here: the space encoded)
            [("%20allinfo%20", "true"), ("x", "")],
        ),
        (
            "file/report",
            setup.hashes[0].as_str(),
            [("allinfo", "yes"), ("x", "")],
        ),
        (
            "url/report",
            "http://example.com/",
            [("scan", "0"), ("scan", "1")],
        ),
        (
            "url/report",
            "http://example.com/",
            [("Scan", "1"), ("x", "")],
        ),
    ];
    let before = setup.emulator.stats().requests;
    for (endpoint, resource, extra) in tricks {
        let mut query = vec![("apikey", plain.as_str()), ("resource", resource)];
        query.extend(extra);
        let refused = get(&http, &base, endpoint, &query).await;
        assert_eq!(refused.status(), 403, "{endpoint} {extra:?}");
        query[0].1 = &all;
        let allowed = get(&http, &base, endpoint, &query).await;
        assert_ne!(allowed.status(), 403, "{endpoint} {extra:?}");
    }
    assert!(setup.emulator.stats().requests > before);
    // Off in any spelling needs no right.
    for off in ["0", "false", ""] {
        let query = [
            ("apikey", plain.as_str()),
            ("resource", setup.hashes[0].as_str()),
            ("allinfo", off),
        ];
        assert_eq!(get(&http, &base, "file/report", &query).await.status(), 200);
    }
    setup.gateway.shutdown().await;
}
on_both_stores!(
    a_right_cannot_be_had_by_how_its_parameter_is_written,
    rights_by_spelling
);

/// An `allinfo` answer and a plain one are cached apart: whichever was asked first, the other
/// is asked of the service, and each client gets what the service answers to its own request
/// (a plain token never sees allinfo's fields from the cache).
async fn allinfo_apart(kind: Kind) {
    // Reports with allinfo's fields (`first_seen`, `size`, ...: the emulator sends them for
    // `allinfo=1` only).
    let mut dataset = vt_emulator::Dataset::new();
    let files: Vec<String> = (0..2)
        .map(|i| {
            let report = vt_emulator::ServiceReport::generate(i, 4);
            dataset.add_json("allinfo", report.json.as_bytes()).unwrap();
            report.sha256
        })
        .collect();
    let emulator = common::start_emulator(common::emulator(Tier::Private, dataset)).await;
    let store_guard = TestStore::new(kind).await;
    let store = store_guard.open().await;
    let running = gateway(&emulator, vt_api::Tier::Private, store.clone())
        .start()
        .await
        .unwrap();
    let (http, base, direct) = (raw(), running.url(), emulator.url());
    let plain = token(&store, "plain", Allow::default()).await;
    let all = token(&store, "all", Allow::ALL).await;
    for (first_allinfo, hash) in [(true, &files[0]), (false, &files[1])] {
        for allinfo in [first_allinfo, !first_allinfo, first_allinfo, !first_allinfo] {
            let secret = if allinfo { &all } else { &plain };
            let mut query = vec![("apikey", secret.as_str()), ("resource", hash.as_str())];
            if allinfo {
                query.push(("allinfo", "1"));
            }
            let through = get(&http, &base, "file/report", &query).await;
            let mut straight = query.clone();
            straight[0].1 = KEY;
            let straight = get(&http, &direct, "file/report", &straight).await;
            assert_eq!(through.status(), 200);
            assert_eq!(through.body(), straight.body(), "allinfo {allinfo}");
            let text = String::from_utf8_lossy(through.body());
            assert_eq!(text.contains("\"first_seen\""), allinfo, "{text}");
        }
    }
    // Each file asked of the service once with allinfo and once without, the rest cached;
    // the direct requests above count as many again.
    assert_eq!(emulator.stats().endpoint("file/report"), 4 + 8);
    running.shutdown().await;
}
on_both_stores!(allinfo_and_plain_answers_are_cached_apart, allinfo_apart);

/// Odd lookups (empty, separators only, spaces, text that is no hash, repeats, a newline
/// where a comma goes, a full batch with a trailing comma, URLs, domains and IPs of all
/// kinds) are answered as the service answers them, status and bytes, the first time and
/// the second (what the gateway looked up then answered from its cache).
async fn odd_lookups(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let (http, base, direct) = (raw(), setup.base(), setup.emulator.url());
    let client = token(&setup.store, "edge", Allow::ALL).await;
    let h = &setup.hashes;
    let lookups: Vec<(&str, &str, String)> = vec![
        ("file/report", "resource", String::new()),
        ("file/report", "resource", ",,,".into()),
        ("file/report", "resource", " ".into()),
        ("file/report", "resource", format!("{},", h[0])),
        ("file/report", "resource", format!(" {} , {} ", h[0], h[1])),
        ("file/report", "resource", "hello".into()),
        ("file/report", "resource", format!("hello,{}", h[2])),
        ("file/report", "resource", format!("{},{}", h[3], h[3])),
        ("file/report", "resource", format!("{}\n{}", h[4], h[5])),
        (
            "file/report",
            "resource",
            format!("{},", h[6..31].join(",")),
        ),
        ("url/report", "resource", String::new()),
        (
            "url/report",
            "resource",
            "http://a.example/\n\nhttp://b.example/".into(),
        ),
        (
            "url/report",
            "resource",
            "http://a.example/,http://b.example/".into(),
        ),
        ("url/report", "resource", "not a url".into()),
        ("domain/report", "domain", String::new()),
        ("domain/report", "domain", "EXAMPLE.com".into()),
        ("ip-address/report", "ip", "192.0.2.1".into()),
        ("ip-address/report", "ip", "999.1.1.1".into()),
    ];
    // The first pass's cache header of each (none: relayed as it came, a query that does
    // not parse or a batch that is none).
    let mut first: Vec<Option<String>> = Vec::new();
    for pass in ["first", "again"] {
        for (i, (endpoint, name, value)) in lookups.iter().enumerate() {
            let through = get(
                &http,
                &base,
                endpoint,
                &[("apikey", &client), (name, value)],
            )
            .await;
            let straight = get(&http, &direct, endpoint, &[("apikey", KEY), (name, value)]).await;
            assert_eq!(
                (through.status(), through.body()),
                (straight.status(), straight.body()),
                "{pass}: {endpoint} {name}={value:?}"
            );
            let source = header(&through, "x-vt-gateway-cache").map(str::to_owned);
            if pass == "first" {
                first.push(source);
            } else {
                // What the gateway looked up the first time, it answers from its cache now.
                let expected = first[i].as_ref().map(|_| "hit".to_owned());
                assert_eq!(source, expected, "{endpoint} {name}={value:?}");
            }
        }
    }
    assert!(first.iter().flatten().count() >= 8, "{first:?}");
    setup.gateway.shutdown().await;
}
on_both_stores!(
    odd_lookups_are_answered_as_the_service_answers_them,
    odd_lookups
);

/// Answers are the service's bytes; the second time they come from the cache.
async fn answers_are_the_services_bytes(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let client = token(&setup.store, "analyst", Allow::default()).await;
    let batch = setup.hashes[..5].join(",");
    // The batch's found reports also answer their files' other hashes (from the cache): the
    // single question is one none of them names.
    let direct_batch = get(
        &http,
        &setup.emulator.url(),
        "file/report",
        &[("apikey", KEY), ("resource", &batch)],
    )
    .await;
    let named = String::from_utf8_lossy(direct_batch.body()).to_ascii_lowercase();
    let single = setup.hashes[5..]
        .iter()
        .find(|h| !named.contains(&h.to_ascii_lowercase()))
        .unwrap()
        .clone();
    for resource in [&batch, &single] {
        let direct = get(
            &http,
            &setup.emulator.url(),
            "file/report",
            &[("apikey", KEY), ("resource", resource)],
        )
        .await;
        let upstream_before = setup.emulator.stats().endpoint("file/report");
        let first = get(
            &http,
            &base,
            "file/report",
            &[("apikey", &client), ("resource", resource)],
        )
        .await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.body(), direct.body(), "byte for byte");
        assert_eq!(header(&first, "x-vt-gateway-cache"), Some("miss"));
        assert_eq!(
            setup.emulator.stats().endpoint("file/report"),
            upstream_before + 1
        );

        let second = post(
            &http,
            &base,
            "file/report",
            &[("apikey", &client), ("resource", resource)],
        )
        .await;
        assert_eq!(second.body(), direct.body());
        assert_eq!(header(&second, "x-vt-gateway-cache"), Some("hit"));
        assert_eq!(
            setup.emulator.stats().endpoint("file/report"),
            upstream_before + 1,
            "not asked again"
        );
    }
    setup.gateway.shutdown().await;
}
on_both_stores!(
    answers_are_the_services_bytes_and_cached,
    answers_are_the_services_bytes
);

/// The SHA-256s of `n` different files of the upstream's dataset.
fn different_files(setup: &Setup, n: usize) -> Vec<String> {
    let sha256s: Vec<String> = setup
        .hashes
        .iter()
        .filter(|h| h.len() == 64)
        .take(n)
        .cloned()
        .collect();
    assert_eq!(sha256s.len(), n, "the dataset has {n} files");
    sha256s
}

/// Forty clients with one hash each, within the window: two upstream batches of at most 25.
async fn forty_clients_two_requests(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| {
        g.window(Duration::from_millis(500))
    })
    .await;
    let base = setup.base();
    let client = token(&setup.store, "soar", Allow::default()).await;
    // Forty different files, so that no answer of the first batch (stored under its file's
    // other hashes too) answers a question of the second from the cache.
    let hashes = different_files(&setup, 40);
    let mut clients = Vec::new();
    for hash in hashes.clone() {
        let (base, client) = (base.clone(), client.clone());
        clients.push(tokio::spawn(async move {
            let response = get(
                &raw(),
                &base,
                "file/report",
                &[("apikey", &client), ("resource", &hash)],
            )
            .await;
            (hash, response)
        }));
    }
    for task in clients {
        let (hash, response) = task.await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body["resource"],
            hash.as_str(),
            "each client its own answer"
        );
    }
    let stats = setup.emulator.stats();
    assert_eq!(stats.endpoint("file/report"), 2, "{stats:?}");
    assert_eq!(stats.resources_asked, 40);
    setup.gateway.shutdown().await;
    // The audit log has every request once, whoever answered it first.
    let audit = setup
        .store
        .audit(std::time::UNIX_EPOCH, Some("soar"))
        .await
        .unwrap();
    let mut audited: Vec<&str> = audit.iter().map(|e| e.resources.as_str()).collect();
    audited.sort_unstable();
    let mut asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
    asked.sort_unstable();
    assert_eq!(audited, asked);
    assert!(audit
        .iter()
        .all(|e| e.endpoint == "file/report" && e.outcome == "upstream" && e.counted));
    assert!(audit.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
}
on_both_stores!(
    forty_clients_with_one_hash_each_cost_two_upstream_requests,
    forty_clients_two_requests
);

/// A request of 25 misses leaves at once as a batch of its own, while another client's
/// smaller request, already pending, waits for the window (or for others to fill its batch).
async fn a_whole_batch_does_not_wait(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g.window(Duration::from_secs(3))).await;
    let base = setup.base();
    let client = token(&setup.store, "bulk", Allow::default()).await;
    let sha256s = different_files(&setup, 35);
    let ask = |hashes: &[String]| {
        let (base, client, resource) = (base.clone(), client.clone(), hashes.join(","));
        tokio::spawn(async move {
            get(
                &raw(),
                &base,
                "file/report",
                &[("apikey", &client), ("resource", &resource)],
            )
            .await
        })
    };
    let small = ask(&sha256s[25..]);
    // The small request's ten are pending before the bulk one comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(setup.emulator.stats().endpoint("file/report"), 0);
    let bulk = ask(&sha256s[..25]).await.unwrap();
    assert_eq!(bulk.status(), 200);
    let answers: Vec<serde_json::Value> = serde_json::from_slice(bulk.body()).unwrap();
    assert_eq!(answers.len(), 25);
    let stats = setup.emulator.stats();
    assert_eq!(
        (stats.endpoint("file/report"), stats.resources_asked),
        (1, 25)
    );
    assert!(
        !small.is_finished(),
        "the small request waits for its window"
    );
    let small = small.await.unwrap();
    assert_eq!(small.status(), 200);
    let stats = setup.emulator.stats();
    assert_eq!(
        (stats.endpoint("file/report"), stats.resources_asked),
        (2, 35)
    );
    setup.gateway.shutdown().await;
}
on_both_stores!(
    a_request_of_a_whole_batch_leaves_at_once,
    a_whole_batch_does_not_wait
);

/// The same question from ten clients at once is asked once; each is answered as it asked.
async fn single_flight(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let base = setup.base();
    let client = token(&setup.store, "team", Allow::default()).await;
    let hash = setup
        .hashes
        .iter()
        .find(|h| h.len() == 64)
        .unwrap()
        .to_ascii_lowercase();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let asked = if i % 2 == 0 {
            hash.clone()
        } else {
            hash.to_ascii_uppercase()
        };
        let (base, client) = (base.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let response = get(
                &raw(),
                &base,
                "file/report",
                &[("apikey", &client), ("resource", &asked)],
            )
            .await;
            (asked, response)
        }));
    }
    for task in tasks {
        let (asked, response) = task.await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body["resource"],
            asked.as_str(),
            "the echo is what this client asked"
        );
    }
    assert_eq!(setup.emulator.stats().endpoint("file/report"), 1);
    setup.gateway.shutdown().await;
}
on_both_stores!(identical_lookups_in_flight_are_asked_once, single_flight);

/// With the upstream gone, a cached answer of any age is served, marked stale.
async fn stale_if_error(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| {
        g.max_age(Duration::ZERO, Duration::ZERO)
    })
    .await;
    let http = raw();
    let base = setup.base();
    let client = token(&setup.store, "ir", Allow::default()).await;
    let (known, unknown) = two_files(&setup.hashes);
    let fresh = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &known)],
    )
    .await;
    assert_eq!(fresh.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    setup.emulator.shutdown().await;

    let stale = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &known)],
    )
    .await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.body(), fresh.body());
    assert_eq!(header(&stale, "x-vt-gateway-cache"), Some("stale"));
    assert!(header(&stale, "warning").is_some_and(|w| w.starts_with("110")));

    let nothing = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &unknown)],
    )
    .await;
    assert_eq!(nothing.status(), 503, "nothing cached, nothing reachable");
    setup.gateway.shutdown().await;
}
on_both_stores!(
    a_stale_answer_is_served_when_the_upstream_is_down,
    stale_if_error
);

/// A token's daily limit: the request past it is a 204, as the service answers.
async fn per_day(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let limited = setup
        .store
        .add_token("script", Allow::default(), Some(3))
        .await
        .unwrap();
    for hash in &setup.hashes[..3] {
        let ok = get(
            &http,
            &base,
            "file/report",
            &[("apikey", &limited), ("resource", hash)],
        )
        .await;
        assert_eq!(ok.status(), 200);
    }
    let over = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &limited), ("resource", &setup.hashes[3])],
    )
    .await;
    assert_eq!(over.status(), 204);
    assert!(over.body().is_empty());
    // Marked as the token's own limit, for clients that know the mark (vt stops at once).
    assert_eq!(header(&over, vt_api::GATEWAY_LIMIT_HEADER), Some("per-day"));
    // The count is the store's: a gateway started afterwards on it refuses the token at once,
    // and the refused request did not count.
    setup.gateway.shutdown().await;
    let audit = setup
        .store
        .audit(std::time::UNIX_EPOCH, Some("script"))
        .await
        .unwrap();
    let counted: Vec<bool> = audit.iter().map(|e| e.counted).collect();
    assert_eq!(counted, [true, true, true, false]);
    let next = gateway(&setup.emulator, vt_api::Tier::Private, setup.store.clone())
        .start()
        .await
        .unwrap();
    let refused = get(
        &http,
        &next.url(),
        "file/report",
        &[("apikey", &limited), ("resource", &setup.hashes[4])],
    )
    .await;
    assert_eq!(refused.status(), 204);
    next.shutdown().await;
}
on_both_stores!(a_token_past_its_daily_limit_is_answered_204, per_day);

/// A client that hangs up before its answer is still audited (`cancelled`) and counted
/// against its token's day: its lookup went upstream all the same (and is kept for whoever
/// asks next). Hanging up is no way around a daily limit, nor around the audit.
async fn hung_up(kind: Kind) {
    use tokio::io::AsyncWriteExt;
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let limited = setup
        .store
        .add_token("impatient", Allow::default(), Some(3))
        .await
        .unwrap();
    let files = different_files(&setup, 4);
    let mut streams = Vec::new();
    for hash in &files[..3] {
        let mut stream = tokio::net::TcpStream::connect(setup.gateway.addr())
            .await
            .unwrap();
        let request = format!(
            "GET /vtapi/v2/file/report?apikey={limited}&resource={hash} HTTP/1.1\r\n\
             Host: gateway\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        streams.push(stream);
    }
    // Gone within the coalescing window (300 ms), before any answer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(streams);
    // Past the second for which a gateway trusts its own count of a token's day: the count
    // is the store's again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (http, base) = (raw(), setup.base());
    let over = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &limited), ("resource", &files[3])],
    )
    .await;
    assert_eq!(over.status(), 204, "three requests hung up, three counted");
    let other = token(&setup.store, "patient", Allow::default()).await;
    let kept = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &other), ("resource", &files[0])],
    )
    .await;
    assert_eq!(
        (kept.status().as_u16(), header(&kept, "x-vt-gateway-cache")),
        (200, Some("hit"))
    );
    assert_eq!(setup.emulator.stats().endpoint("file/report"), 1);
    let root = base.trim_end_matches("vtapi/v2/").to_owned();
    let metrics = get(&http, &root, "metrics", &[]).await;
    let metrics = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(
        metrics.contains(
            "vt_gateway_requests_total{endpoint=\"file/report\",outcome=\"cancelled\"} 3\n"
        ),
        "{metrics}"
    );
    setup.gateway.shutdown().await;
    let audit = setup
        .store
        .audit(std::time::UNIX_EPOCH, Some("impatient"))
        .await
        .unwrap();
    let mut seen: Vec<(&str, &str, bool)> = audit
        .iter()
        .map(|e| (e.resources.as_str(), e.outcome.as_str(), e.counted))
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<(&str, &str, bool)> = files[..3]
        .iter()
        .map(|hash| (hash.as_str(), "cancelled", true))
        .chain([(files[3].as_str(), "quota", false)])
        .collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
}
on_both_stores!(a_client_that_hangs_up_is_audited_and_counted, hung_up);

/// The other endpoints are relayed as they came, byte for byte.
async fn relayed(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let client = token(&setup.store, "hunter", Allow::ALL).await;
    let hash = &setup.hashes[0];
    let direct = get(
        &http,
        &setup.emulator.url(),
        "comments/get",
        &[("apikey", KEY), ("resource", hash)],
    )
    .await;
    let through = get(
        &http,
        &base,
        "comments/get",
        &[("apikey", &client), ("resource", hash)],
    )
    .await;
    assert_eq!(through.status(), direct.status());
    assert_eq!(through.body(), direct.body());
    assert_eq!(
        header(&through, "content-type"),
        header(&direct, "content-type")
    );
    setup.gateway.shutdown().await;
}
on_both_stores!(other_endpoints_are_relayed_byte_for_byte, relayed);

/// Health and metrics.
async fn operations(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let client = token(&setup.store, "ops", Allow::default()).await;
    get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &setup.hashes[0])],
    )
    .await;
    get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &setup.hashes[0])],
    )
    .await;
    let root = base.trim_end_matches("vtapi/v2/").to_owned();
    let health = get(&http, &root, "_gateway/health", &[]).await;
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = serde_json::from_slice(health.body()).unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = get(&http, &root, "metrics", &[]).await;
    assert_eq!(metrics.status(), 200);
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(text.contains("vt_gateway_cache_hits_total 1"), "{text}");
    assert!(
        text.contains("vt_gateway_upstream_batches_total 1"),
        "{text}"
    );
    assert!(
        text.contains("vt_gateway_requests_total{endpoint=\"file/report\",outcome=\"cache\"} 1"),
        "{text}"
    );
    assert!(!common::shows_key(&text));
    setup.gateway.shutdown().await;
}
on_both_stores!(health_and_metrics_are_served, operations);

/// Two gateways on one PostgreSQL database, a public upstream key (4 requests a minute) and
/// thirty clients of three tokens at once: together the gateways stay within the key's
/// quota (the service never answers 204), and every client is answered or told 204.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_postgres_share_one_pace() {
    let (dataset, hashes) = common::data(200, 5);
    let emulator =
        common::start_emulator(common::emulator(Tier::Public, dataset).public_per_minute(4)).await;
    let store_guard = common::TestStore::new(Kind::Postgres).await;
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let store = store_guard.open().await;
        let gateway = common::gateway(&emulator, vt_api::Tier::Public, store)
            .max_quota_wait(Duration::from_secs(1))
            .start()
            .await
            .unwrap();
        gateways.push(gateway);
    }
    let store = store_guard.open().await;
    let mut tokens = Vec::new();
    for name in ["alice", "bob", "carol"] {
        tokens.push(token(&store, name, Allow::default()).await);
    }
    let mut clients = Vec::new();
    for (i, hash) in hashes[..30].iter().enumerate() {
        let base = gateways[i % 2].url();
        let (token, hash) = (tokens[i % 3].clone(), hash.clone());
        clients.push(tokio::spawn(async move {
            get(
                &raw(),
                &base,
                "file/report",
                &[("apikey", &token), ("resource", &hash)],
            )
            .await
        }));
    }
    let (mut answered, mut told_204) = (0, 0);
    for client in clients {
        let response = client.await.unwrap();
        match response.status().as_u16() {
            200 => answered += 1,
            204 => told_204 += 1,
            other => panic!("a client was answered {other}: {:?}", response.body()),
        }
    }
    let stats = emulator.stats();
    assert_eq!(
        stats.status(204),
        0,
        "the service never said 204: {stats:?}"
    );
    assert!(
        stats.endpoint("file/report") <= 4,
        "within the key's minute: {stats:?}"
    );
    assert_eq!(answered + told_204, 30);
    assert!(
        answered >= 4,
        "the minute's quota was used: {answered} answered"
    );
    for gateway in gateways {
        gateway.shutdown().await;
    }
}

/// With the key's quota spent, a cached answer of any age is served (stale), and a question
/// with nothing cached is told 204 at once, as the service would.
async fn stale_when_the_quota_is_spent(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| {
        g.per_minute(Some(1))
            .max_age(Duration::ZERO, Duration::ZERO)
            .max_quota_wait(Duration::from_millis(100))
    })
    .await;
    let http = raw();
    let base = setup.base();
    let client = token(&setup.store, "night-shift", Allow::default()).await;
    let (cached, other) = two_files(&setup.hashes);
    let fresh = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &cached)],
    )
    .await;
    assert_eq!(fresh.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &cached)],
    )
    .await;
    assert_eq!(stale.status(), 200);
    assert_eq!(header(&stale, "x-vt-gateway-cache"), Some("stale"));
    assert_eq!(stale.body(), fresh.body());
    let refused = get(
        &http,
        &base,
        "file/report",
        &[("apikey", &client), ("resource", &other)],
    )
    .await;
    assert_eq!(refused.status(), 204);
    // The key's quota, not the token's: the service's plain 204.
    assert_eq!(header(&refused, vt_api::GATEWAY_LIMIT_HEADER), None);
    let stats = setup.emulator.stats();
    assert_eq!(
        (stats.endpoint("file/report"), stats.status(204)),
        (1, 0),
        "{stats:?}"
    );
    setup.gateway.shutdown().await;
}
on_both_stores!(
    a_stale_answer_is_served_when_the_quota_is_spent,
    stale_when_the_quota_is_spent
);

/// A 204 the pace did not expect (the service allows the key fewer requests than the gateway
/// was told: here one a minute, and the gateway was told no limit) holds the key: the lookup
/// that met it and the next new one are answered 204 at once, the second without reaching
/// the service; what is cached is still answered.
async fn an_unexpected_204_holds_the_key(kind: Kind) {
    let (dataset, hashes) = common::data(50, 8);
    let emulator =
        common::start_emulator(common::emulator(Tier::Private, dataset).private_per_minute(1))
            .await;
    let store_guard = TestStore::new(kind).await;
    let store = store_guard.open().await;
    let gateway = gateway(&emulator, vt_api::Tier::Private, store.clone())
        .start()
        .await
        .unwrap();
    let (http, base) = (raw(), gateway.url());
    let client = token(&store, "soc", Allow::default()).await;
    let mut files = hashes.iter().filter(|h| h.len() == 64);
    let ask = |hash: &str| {
        let (http, base, client, hash) =
            (http.clone(), base.clone(), client.clone(), hash.to_owned());
        async move {
            get(
                &http,
                &base,
                "file/report",
                &[("apikey", &client), ("resource", &hash)],
            )
            .await
        }
    };
    let first = files.next().unwrap().clone();
    let answered = ask(&first).await;
    assert_eq!(answered.status(), 200);
    let started = std::time::Instant::now();
    let met = ask(files.next().unwrap()).await;
    assert_eq!(met.status(), 204);
    let held = ask(files.next().unwrap()).await;
    assert_eq!(held.status(), 204);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once, not after the hold"
    );
    let again = ask(&first).await;
    assert_eq!(
        (
            again.status().as_u16(),
            header(&again, "x-vt-gateway-cache")
        ),
        (200, Some("hit"))
    );
    assert_eq!(again.body(), answered.body());
    let stats = emulator.stats();
    assert_eq!(
        (stats.endpoint("file/report"), stats.status(204)),
        (2, 1),
        "the held lookup never reached the service: {stats:?}"
    );
    let root = base.trim_end_matches("vtapi/v2/").to_owned();
    let metrics = get(&http, &root, "metrics", &[]).await;
    let metrics = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(
        metrics.contains("vt_gateway_upstream_204_total 1\n")
            && metrics.contains("vt_gateway_upstream_quota_refusals_total 2\n"),
        "{metrics}"
    );
    gateway.shutdown().await;
}
on_both_stores!(
    an_unexpected_204_holds_the_key_and_the_cache_still_answers,
    an_unexpected_204_holds_the_key
);

/// Two gateways on one PostgreSQL database share one cache: what one asked, the other
/// serves without asking again; a token made through one is known to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_postgres_share_one_cache() {
    let (dataset, hashes) = common::data(50, 6);
    let emulator = common::start_emulator(common::emulator(Tier::Private, dataset)).await;
    let store_guard = common::TestStore::new(Kind::Postgres).await;
    let (a, b) = (store_guard.open().await, store_guard.open().await);
    let analyst = token(&a, "analyst", Allow::default()).await;
    let gateway_a = common::gateway(&emulator, vt_api::Tier::Private, a)
        .start()
        .await
        .unwrap();
    let gateway_b = common::gateway(&emulator, vt_api::Tier::Private, b)
        .start()
        .await
        .unwrap();
    let http = raw();
    let batch = hashes[..4].join(",");
    let first = get(
        &http,
        &gateway_a.url(),
        "file/report",
        &[("apikey", &analyst), ("resource", &batch)],
    )
    .await;
    let second = get(
        &http,
        &gateway_b.url(),
        "file/report",
        &[("apikey", &analyst), ("resource", &batch)],
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(second.body(), first.body());
    assert_eq!(header(&second, "x-vt-gateway-cache"), Some("hit"));
    assert_eq!(emulator.stats().endpoint("file/report"), 1);
    gateway_a.shutdown().await;
    gateway_b.shutdown().await;
}

/// Layout 1 kept the audit log a row an entry: a store of that layout, migrated, keeps every
/// entry (in its order, text as it was) in pages, and the counted ones in the daily counts.
async fn audit_rows_migrate(kind: Kind) {
    let guard = TestStore::new(kind).await;
    // (at_ms, token, endpoint, resources, outcome, counted): two days, two at the same time.
    let day = 86_400_000;
    let rows: Vec<(i64, &str, &str, &str, &str, bool)> = vec![
        (
            1_000,
            "soar",
            "file/report",
            "44d88612fea8a8f36de82e1278abb02f",
            "upstream",
            true,
        ),
        (
            1_000,
            "soar",
            "file/report",
            "3395856ce81f2b7382dee72602f798b6",
            "cache",
            true,
        ),
        (
            61_000,
            "hunter",
            "url/report",
            "http://x/?q=\"a\"\nhttp://y/\u{1}",
            "mixed",
            true,
        ),
        (62_000, "-", "file/report", "", "forbidden", false),
        (
            day + 5,
            "soar",
            "domain/report",
            "example.com",
            "quota",
            false,
        ),
        (
            day + 6,
            "soar",
            "ip-address/report",
            "192.0.2.1",
            "cache",
            true,
        ),
    ];
    match kind {
        Kind::Sqlite => {
            let path = guard.url.strip_prefix("sqlite:").unwrap();
            let db = rusqlite::Connection::open(path).unwrap();
            db.execute_batch(concat!(
                "CREATE TABLE gateway_migration (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);",
                include_str!("../migrations/sqlite/0001_init.sql"),
                "INSERT INTO gateway_migration VALUES (1, 0);"
            ))
            .unwrap();
            for (at_ms, token, endpoint, resources, outcome, counted) in &rows {
                db.execute(
                    "INSERT INTO gateway_audit VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![at_ms, token, endpoint, resources, outcome, counted],
                )
                .unwrap();
            }
        }
        Kind::Postgres => {
            let (db, connection) = tokio_postgres::connect(&guard.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            db.batch_execute(concat!(
                "CREATE TABLE gateway_migration (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL);",
                include_str!("../migrations/postgres/0001_init.sql"),
                "INSERT INTO gateway_migration VALUES (1, 0);"
            ))
            .await
            .unwrap();
            for (at_ms, token, endpoint, resources, outcome, counted) in &rows {
                db.execute(
                    "INSERT INTO gateway_audit (at_ms, token, endpoint, resources, outcome, counted) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[at_ms, token, endpoint, resources, outcome, counted],
                )
                .await
                .unwrap();
            }
        }
    }
    let store = guard.open().await;
    if kind == Kind::Postgres {
        // Migration 3: the large columns compressed with lz4 (the test server has it).
        let (db, connection) = tokio_postgres::connect(&guard.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let methods: Vec<(String, String)> = db
            .query(
                "SELECT attname::TEXT, attcompression::TEXT FROM pg_attribute \
                 WHERE (attrelid, attname) IN (('answer'::regclass, 'body'), \
                 ('gateway_audit_page'::regclass, 'lines')) ORDER BY attname",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        assert_eq!(
            methods,
            [("body".into(), "l".into()), ("lines".into(), "l".into())]
        );
    }
    let audit = store.audit(std::time::UNIX_EPOCH, None).await.unwrap();
    assert_eq!(audit.len(), rows.len());
    for (entry, row) in audit.iter().zip(&rows) {
        assert_eq!(
            (
                entry.at_ms,
                entry.token.as_str(),
                entry.endpoint.as_str(),
                entry.resources.as_str(),
                entry.outcome.as_str(),
                entry.counted
            ),
            *row
        );
    }
    let of_hunter = store
        .audit(std::time::UNIX_EPOCH, Some("hunter"))
        .await
        .unwrap();
    assert_eq!(of_hunter, audit[2..3]);
    // The counted requests, by token and minute: what the daily limits read.
    let usage = usage_rows(kind, &guard.url).await;
    assert_eq!(
        usage,
        [
            ("hunter".to_owned(), 1, 1),
            ("soar".to_owned(), 0, 2),
            ("soar".to_owned(), day / 60_000, 1)
        ]
    );
}
on_both_stores!(
    the_audit_rows_of_layout_1_are_kept_in_pages,
    audit_rows_migrate
);

/// The store's `gateway_usage` rows, ordered: (token, minute, requests); and no table of
/// layout 1's audit rows is left (its `SELECT` fails).
async fn usage_rows(kind: Kind, url: &str) -> Vec<(String, i64, i64)> {
    let sql = "SELECT token, minute, requests FROM gateway_usage ORDER BY token, minute";
    let old = "SELECT COUNT(*) FROM gateway_audit";
    match kind {
        Kind::Sqlite => {
            let db = rusqlite::Connection::open(url.strip_prefix("sqlite:").unwrap()).unwrap();
            assert!(db.prepare(old).is_err());
            let mut statement = db.prepare(sql).unwrap();
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        Kind::Postgres => {
            let (db, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            assert!(db.query(old, &[]).await.is_err());
            db.query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect()
        }
    }
}

/// `sslmode=verify-full` (or `require`) with the server's CA as `sslrootcert`: every connection
/// of the store is encrypted, as the server itself says; without that CA, the server's
/// certificate is refused (never a connection that only looks safe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_speaks_tls_when_the_url_asks() {
    let ca = std::env::var("VT_TEST_POSTGRES_CA").expect(
        "VT_TEST_POSTGRES_CA is not set: run the tests through `cargo xtask ci`, or start a \
         server with `cargo xtask postgres` and export what it prints",
    );
    let guard = TestStore::new(Kind::Postgres).await;
    let ca_param: String = ca
        .bytes()
        .map(|b| match b {
            b'/' | b'.' | b'-' | b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    for mode in ["verify-full", "require"] {
        let url = format!("{}?sslmode={mode}&sslrootcert={ca_param}", guard.url);
        let store = vt_gateway::Store::open(&url).await.unwrap();
        let secret = store
            .add_token(&format!("tls-{mode}"), Allow::default(), None)
            .await
            .unwrap();
        assert!(!secret.is_empty());
        let listed = store.tokens().await.unwrap();
        assert!(listed.iter().any(|t| t.token.name == format!("tls-{mode}")));
        // The server's own view of the store's connections: all of them encrypted.
        let (admin, connection) = tokio_postgres::connect(&guard.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let database = guard.url.rsplit('/').next().unwrap().to_owned();
        let row = admin
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FILTER (WHERE NOT s.ssl) \
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
                &[&database],
            )
            .await
            .unwrap();
        let (encrypted, plain): (i64, i64) = (row.get(0), row.get(1));
        assert!(encrypted >= 1, "{mode}: no encrypted connection");
        assert_eq!(plain, 0, "{mode}: a connection in the clear");
        drop(store);
    }
    // Mozilla's roots alone do not vouch for the test CA: refused, and said so.
    let error = vt_gateway::Store::open(&format!("{}?sslmode=require", guard.url))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate"), "{error}");
    // A CA file that is not one is named.
    let error = vt_gateway::Store::open(&format!(
        "{}?sslmode=require&sslrootcert=/nonexistent/ca.pem",
        guard.url
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
}

/// Runs `sql` on the store of `guard` from a connection of its own, as an operator would.
async fn run_sql(kind: Kind, guard: &TestStore, sql: &str) {
    match kind {
        Kind::Sqlite => {
            let db =
                rusqlite::Connection::open(guard.url.strip_prefix("sqlite:").unwrap()).unwrap();
            db.busy_timeout(Duration::from_secs(10)).unwrap();
            db.execute_batch(sql).unwrap();
        }
        Kind::Postgres => {
            let (db, connection) = tokio_postgres::connect(&guard.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            db.batch_execute(sql).await.unwrap();
        }
    }
}

/// The audit's table unusable for a while (a database restarting, a migration by hand): the
/// entries wait, and are written once it is back; none is lost.
async fn audit_outage(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let base = setup.base();
    let secret = token(&setup.store, "ir", Allow::default()).await;
    let ask = |hash: String| {
        let (http, base, secret) = (http.clone(), base.clone(), secret.clone());
        async move {
            let answer = get(
                &http,
                &base,
                "file/report",
                &[("apikey", &secret), ("resource", &hash)],
            )
            .await;
            assert_eq!(answer.status(), 200);
        }
    };
    run_sql(
        kind,
        &setup.store_guard,
        "ALTER TABLE gateway_audit_page RENAME TO gateway_audit_page_away",
    )
    .await;
    for hash in &setup.hashes[..3] {
        ask(hash.clone()).await;
    }
    // Several of the writer's turns fail meanwhile.
    tokio::time::sleep(Duration::from_millis(350)).await;
    run_sql(
        kind,
        &setup.store_guard,
        "ALTER TABLE gateway_audit_page_away RENAME TO gateway_audit_page",
    )
    .await;
    ask(setup.hashes[3].clone()).await;
    setup.gateway.shutdown().await;
    let audit = setup
        .store
        .audit(std::time::UNIX_EPOCH, Some("ir"))
        .await
        .unwrap();
    let asked: Vec<&str> = audit.iter().map(|e| e.resources.as_str()).collect();
    let expected: Vec<&str> = setup.hashes[..4].iter().map(String::as_str).collect();
    assert_eq!(asked, expected);
}
on_both_stores!(audit_entries_wait_for_a_store_that_comes_back, audit_outage);

/// `prune` forgets the audit and the answers older than asked, and nothing younger; the
/// requests of the last day stay counted (the daily limits read them), and answers forgotten are
/// asked upstream again.
async fn prune(kind: Kind) {
    let setup = Setup::new(kind, Tier::Private, |g| g).await;
    let http = raw();
    let limited = setup
        .store
        .add_token("nightly", Allow::default(), Some(3))
        .await
        .unwrap();
    let ask = |base: String, hash: String| {
        let (http, limited) = (http.clone(), limited.clone());
        async move {
            get(
                &http,
                &base,
                "file/report",
                &[("apikey", &limited), ("resource", &hash)],
            )
            .await
        }
    };
    for hash in &setup.hashes[..3] {
        assert_eq!(ask(setup.base(), hash.clone()).await.status(), 200);
    }
    setup.gateway.shutdown().await;
    let store = &setup.store;
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let nothing = store.prune(Some(hour_ago), Some(hour_ago)).await.unwrap();
    assert_eq!(nothing, vt_gateway::Pruned::default());
    assert_eq!(store.audit(UNIX_EPOCH, None).await.unwrap().len(), 3);

    let later = SystemTime::now() + Duration::from_secs(60);
    let pruned = store.prune(Some(later), Some(later)).await.unwrap();
    assert_eq!(pruned.audit_entries, 3, "{pruned:?}");
    assert!(pruned.audit_pages >= 1, "{pruned:?}");
    // Each found report is kept under its file's other hashes too.
    assert!(pruned.answers >= 3, "{pruned:?}");
    assert!(store.audit(UNIX_EPOCH, None).await.unwrap().is_empty());

    // A new gateway on the store: the answer is asked upstream again, and the token, at its
    // limit of 3 a day, is refused: its requests of today were not forgotten.
    let next = gateway(&setup.emulator, vt_api::Tier::Private, store.clone())
        .start()
        .await
        .unwrap();
    let client = token(store, "analyst", Allow::default()).await;
    let again = get(
        &http,
        &next.url(),
        "file/report",
        &[("apikey", &client), ("resource", &setup.hashes[0])],
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()[vt_gateway::CACHE_HEADER], "miss");
    assert_eq!(ask(next.url(), setup.hashes[4].clone()).await.status(), 204);
    next.shutdown().await;
}
on_both_stores!(
    prune_forgets_the_old_audit_and_answers_but_not_the_days_counts,
    prune
);
