//! The file workflow over the real `HyperTransport` against the real `vt-emulator`: uploads
//! streamed from disk (directly, and through an upload URL over 32 MB), the scan_id straight
//! to the report, rescans, downloads streamed to disk through one redirect, the checks
//! made before anything is sent, and requests relayed as they are (`Client::relay`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vt_api::{ApiKey, Client, Downloaded, RelayRequest, RelayResponse, Resource, Tier};
use vt_emulator::{Emulator, EmulatorBuilder, KeySpec, RunningEmulator};
use vt_transport::HyperTransport;

const PRIVATE_KEY: &str = "workflow-private-key";
const PUBLIC_KEY: &str = "workflow-public-key";
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

/// No stored reports: a finished upload's report comes from its bytes.
fn emulator() -> EmulatorBuilder {
    Emulator::builder()
        .dataset(vt_emulator::Dataset::new())
        .key(KeySpec::new(PRIVATE_KEY, vt_emulator::Tier::Private).unwrap())
        .key(KeySpec::new(PUBLIC_KEY, vt_emulator::Tier::Public).unwrap())
        .analysis_delay(Duration::ZERO)
}

fn client(emulator: &RunningEmulator, key: &str, tier: Tier) -> Client {
    Client::builder(ApiKey::new(key))
        .base_url(emulator.url())
        .tier(tier)
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap()
}

fn resource(text: &str) -> Resource {
    text.parse().unwrap()
}

#[tokio::test]
async fn an_uploaded_file_goes_straight_to_its_report() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, EICAR).unwrap();
    let client = client(&emulator, PUBLIC_KEY, Tier::Public);
    let scan = client.scan_file(&path).await.unwrap();
    let receipt = scan.as_found().expect("queued is code 1").clone();
    assert_eq!(receipt.md5, EICAR_MD5);
    assert_eq!(receipt.sha256, EICAR_SHA256);
    let report = client
        .wait_for_report(
            &resource(&receipt.scan_id),
            false,
            Duration::from_millis(10),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let report = report.as_found().expect("finished at once");
    assert_eq!(report.positives, report.total, "EICAR: every engine");
    assert_eq!(report.scan_id, receipt.scan_id, "this analysis");
    assert_eq!(emulator.stats().endpoint("file/scan"), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_file_over_32_mb_goes_through_an_upload_url_and_arrives_whole() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..33 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let expected = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    drop(bytes);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = Client::builder(ApiKey::new(PRIVATE_KEY))
        .base_url(emulator.url())
        .tier(Tier::Private)
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .observer(move |event: &vt_api::Event| {
            if let vt_api::Event::Transfer { done, total, .. } = event {
                seen.lock().unwrap().push((*done, *total));
            }
        })
        .build()
        .unwrap();
    let scan = client.scan_file(&path).await.unwrap();
    assert_eq!(scan.as_found().unwrap().sha256, expected);
    let stats = emulator.stats();
    assert_eq!(stats.endpoint("file/scan/upload_url"), 1);
    assert_eq!(stats.endpoint("file/scan"), 0, "not the direct endpoint");
    let events = events.lock().unwrap().clone();
    let size = 33 * 1024 * 1024;
    assert!(
        events.len() >= 33,
        "progress every megabyte: {}",
        events.len()
    );
    assert_eq!(events.last(), Some(&(size, Some(size))));
    emulator.shutdown().await;
}

#[tokio::test]
async fn what_cannot_be_uploaded_is_refused_before_anything_is_sent() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.bin");
    // Sparse: 201 MiB on paper, nothing on disk.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(201 * 1024 * 1024)
        .unwrap();
    let middling = dir.path().join("middling.bin");
    std::fs::File::create(&middling)
        .unwrap()
        .set_len(33 * 1024 * 1024)
        .unwrap();
    let public = client(&emulator, PUBLIC_KEY, Tier::Public);
    let private = client(&emulator, PRIVATE_KEY, Tier::Private);
    for (client, path, expected) in [
        (&private, huge.clone(), "upload"),
        (&private, dir.path().to_owned(), "upload"),
        (&private, dir.path().join("missing"), "upload"),
        // Over 32 MB needs an upload URL, which needs a private key.
        (&public, middling.clone(), "private_only"),
    ] {
        let error = client.scan_file(&path).await.unwrap_err();
        assert_eq!(error.kind(), expected, "{}: {error}", path.display());
    }
    let error = private.scan_file(&huge).await.unwrap_err().to_string();
    assert!(error.contains("over the service's limit"), "{error}");
    assert_eq!(emulator.stats().requests, 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_download_follows_one_redirect_and_streams_the_same_bytes_to_disk() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.bin");
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let sha256 = client
        .scan_file(&path)
        .await
        .unwrap()
        .as_found()
        .unwrap()
        .sha256
        .clone();
    let to = dir.path().join("downloaded.bin");
    let downloaded = client
        .download(&vt_api::FILE_DOWNLOAD, &resource(&sha256), &to)
        .await
        .unwrap();
    assert_eq!(
        downloaded,
        Downloaded::Saved {
            bytes: bytes.len() as u64
        }
    );
    assert!(std::fs::read(&to).unwrap() == bytes, "the same bytes");
    // Unknown: nothing written, not even the partial file.
    let absent = dir.path().join("absent.bin");
    let none = client
        .download(&vt_api::FILE_DOWNLOAD, &resource(&"0".repeat(64)), &absent)
        .await
        .unwrap();
    assert_eq!(none, Downloaded::NotFound);
    assert!(!absent.exists() && !dir.path().join("absent.bin.part").exists());
    // A public key is told before anything is sent.
    let public = client_public(&emulator);
    let refused = public
        .download(&vt_api::FILE_DOWNLOAD, &resource(&sha256), &absent)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), "private_only");
    emulator.shutdown().await;
}

fn client_public(emulator: &RunningEmulator) -> Client {
    client(emulator, PUBLIC_KEY, Tier::Public)
}

#[tokio::test]
async fn rescans_are_batched_and_name_new_analyses() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, EICAR).unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let first = client.scan_file(&path).await.unwrap();
    let first_scan = first.as_found().unwrap().scan_id.clone();
    let asked = vec![resource(EICAR_MD5), resource(&"0".repeat(64))];
    let mut outcomes = client.lookups(
        &vt_api::FILE_RESCAN,
        futures_util::stream::iter(asked),
        vt_api::Params::new(),
    );
    let mut statuses = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        let answer = outcome.result.unwrap();
        if let Some(rescan) = answer.as_found() {
            // A new analysis of the same file (its timestamp may equal the upload's, within
            // the same second).
            let scan_id = rescan.scan_id.as_deref().unwrap();
            assert!(
                scan_id.starts_with(&format!("{EICAR_SHA256}-")),
                "{scan_id}"
            );
            assert!(scan_id >= first_scan.as_str());
        }
        statuses.push(answer.status().as_str());
    }
    assert_eq!(statuses, ["found", "not_found"]);
    assert_eq!(emulator.stats().endpoint("file/rescan"), 1, "one batch");
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_redirect_to_another_host_never_carries_the_key() {
    // The service's 302 points at a storage host: the file is asked there without the key,
    // in no letter case, in neither the URL nor a header.
    let replay = Arc::new(vt_transport::ReplayTransport::new());
    let mut redirect = http::Response::new(bytes::Bytes::new());
    *redirect.status_mut() = http::StatusCode::FOUND;
    redirect.headers_mut().insert(
        http::header::LOCATION,
        "https://storage.test/f/0123?sig=abc".parse().unwrap(),
    );
    replay.push(Ok(redirect));
    replay.push_response(200, "the file's bytes");
    let client = Client::builder(ApiKey::new(PRIVATE_KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(replay.clone())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("f.bin");
    let saved = client
        .download(&vt_api::FILE_DOWNLOAD, &resource(EICAR_SHA256), &to)
        .await
        .unwrap();
    assert_eq!(saved, Downloaded::Saved { bytes: 16 });
    let requests = replay.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].uri.to_string().contains(PRIVATE_KEY),
        "asked with the key"
    );
    let second = &requests[1];
    assert_eq!(second.uri.host(), Some("storage.test"));
    let shown = format!("{} {:?}", second.uri, second.headers).to_lowercase();
    assert!(!shown.contains(&PRIVATE_KEY.to_lowercase()), "{shown}");
}

/// A made-up report of file number `n`, with `positives` of 10.
fn made_up_report(n: u32, positives: u32) -> serde_json::Value {
    let sha256 = format!("{:064x}", u64::from(n) | 0xabc0_0000_0000);
    serde_json::json!({
        "response_code": 1, "verbose_msg": "Scan finished, information embedded",
        "scan_id": format!("{sha256}-1700000000"),
        "md5": format!("{n:032x}"), "sha1": format!("{n:040x}"), "sha256": sha256,
        "scan_date": "2020-01-01 00:00:00",
        "permalink": format!("https://www.virustotal.com/file/{sha256}/analysis/1700000000/"),
        "positives": positives, "total": 10, "scans": {},
    })
}

#[tokio::test]
async fn a_search_is_read_page_after_page_and_stops_when_the_reader_does() {
    let reports: Vec<serde_json::Value> = (0..700).map(|n| made_up_report(n, n % 2)).collect();
    let mut data = vt_emulator::Dataset::new();
    data.add_json("reports.json", &serde_json::to_vec(&reports).unwrap())
        .unwrap();
    let emulator = emulator().dataset(data).start().await.unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let query = vt_api::SearchQuery::parse("positives:1+").unwrap();
    let mut found = client.search(query.clone());
    let mut all = Vec::new();
    while let Some(hash) = found.next().await {
        all.push(hash.unwrap());
    }
    assert_eq!(all.len(), 350, "every page, the offsets sent back as given");
    assert_eq!(emulator.stats().endpoint("file/search"), 2);
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 350);
    // Reading 10 asks one page only.
    let mut found = client.search(query);
    for _ in 0..10 {
        found.next().await.unwrap().unwrap();
    }
    drop(found);
    assert_eq!(emulator.stats().endpoint("file/search"), 3);
    // A query the service cannot read ends the search with its error.
    let mut bad = client.search(vt_api::SearchQuery::parse("color:blue").unwrap());
    assert_eq!(bad.next().await.unwrap().unwrap_err().kind(), "bad_request");
    assert!(bad.next().await.is_none());
    emulator.shutdown().await;
}

#[tokio::test]
async fn comments_are_posted_and_read_back_newest_first() {
    let emulator = emulator()
        .dataset({
            let mut data = vt_emulator::Dataset::new();
            data.add_json(
                "r.json",
                &serde_json::to_vec(&made_up_report(1, 3)).unwrap(),
            )
            .unwrap();
            data
        })
        .start()
        .await
        .unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let file = vt_api::Subject::parse(&format!("{:032x}", 1)).unwrap();
    let params = |text: &str| {
        vt_api::Params::new().with(
            "comment",
            vt_api::CommentText::parse(text).unwrap().to_string(),
        )
    };
    let posted = client
        .lookup(&vt_api::COMMENTS_PUT, &file, &params("first look: dropper"))
        .await
        .unwrap();
    assert_eq!(posted.status().as_str(), "found");
    let again = client
        .lookup(&vt_api::COMMENTS_PUT, &file, &params("first look: dropper"))
        .await
        .unwrap();
    assert_eq!(
        again.answer().unwrap().verbose_msg(),
        Some("Duplicate comment")
    );
    let comments = client
        .lookup(&vt_api::COMMENTS_GET, &file, &vt_api::Params::new())
        .await
        .unwrap();
    let comments = comments.as_found().unwrap().comments.clone().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].comment, "first look: dropper");
    emulator.shutdown().await;
}

#[tokio::test]
async fn behaviour_and_clusters_are_documents_kept_as_sent() {
    let behaviour = br#"{"info": {"started": "2020-01-01 10:00:00", "duration": 120}, "behavior": {"processes": [{"process_name": "a.exe", "process_id": 4}]}, "network": {"dns": []}}"#;
    let clusters = br#"{"num_candidates": 10, "num_clusters": 1, "size_top200": 4, "clusters": [{"id": "vhash 0", "label": "Trojan", "size": 4, "avg_positives": 30.5}]}"#;
    let mut data = vt_emulator::Dataset::new();
    data.add_json(
        "r.json",
        &serde_json::to_vec(&made_up_report(1, 3)).unwrap(),
    )
    .unwrap();
    let sha256 = made_up_report(1, 3)["sha256"].as_str().unwrap().to_owned();
    data.add_behaviour_json(&sha256, behaviour).unwrap();
    data.add_clusters_json("2026-12-01", clusters).unwrap();
    let emulator = emulator().dataset(data).start().await.unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let report = client
        .document(
            &vt_api::FILE_BEHAVIOUR,
            &resource(&sha256),
            &vt_api::Params::new(),
        )
        .await
        .unwrap();
    assert_eq!(&report.bytes()[..], behaviour, "byte for byte");
    assert!(report.view().is_found());
    let none = client
        .document(
            &vt_api::FILE_BEHAVIOUR,
            &resource(&"0".repeat(64)),
            &vt_api::Params::new(),
        )
        .await
        .unwrap();
    assert!(!none.view().is_found());
    let day = vt_api::ClusterDate::parse("2026-12-01").unwrap();
    let clusters = client
        .document(&vt_api::FILE_CLUSTERS, &day, &vt_api::Params::new())
        .await
        .unwrap();
    assert_eq!(clusters.view().num_clusters, Some(1));
    emulator.shutdown().await;
}

/// The answer to a GET of `path` with `query` and the key, sent straight through a transport
/// of its own: what a relay must hand back.
async fn direct(emulator: &RunningEmulator, path: &str, query: &str) -> http::Response<Bytes> {
    use vt_transport::Transport;
    let url = format!("{}{path}?apikey={PRIVATE_KEY}&{query}", emulator.url());
    let request = http::Request::get(url).body(Bytes::new()).unwrap();
    HyperTransport::new().unwrap().send(request).await.unwrap()
}

/// A relayed answer's status, headers and whole body.
async fn read(relayed: RelayResponse) -> (u16, http::HeaderMap, Bytes) {
    let (status, headers, body) = relayed.into_parts();
    (status.as_u16(), headers, body.collect().await.unwrap())
}

/// An emulator holding made-up report 1, with a sandbox report and a comment.
async fn with_behaviour_and_a_comment(behaviour: &[u8]) -> (RunningEmulator, String) {
    let mut data = vt_emulator::Dataset::new();
    data.add_json(
        "r.json",
        &serde_json::to_vec(&made_up_report(1, 3)).unwrap(),
    )
    .unwrap();
    let sha256 = made_up_report(1, 3)["sha256"].as_str().unwrap().to_owned();
    data.add_behaviour_json(&sha256, behaviour).unwrap();
    let emulator = emulator().dataset(data).start().await.unwrap();
    let comment = vt_api::Params::new().with("comment", "seen in the wild");
    let posted = client(&emulator, PRIVATE_KEY, Tier::Private)
        .lookup(
            &vt_api::COMMENTS_PUT,
            &vt_api::Subject::parse(&sha256).unwrap(),
            &comment,
        )
        .await
        .unwrap();
    assert_eq!(posted.status().as_str(), "found");
    (emulator, sha256)
}

#[tokio::test]
async fn a_relayed_request_comes_back_with_the_bytes_of_a_direct_one() {
    let behaviour = br#"{"info": {"started": "2020-01-01 10:00:00"}, "network": {"dns": []}}"#;
    let (emulator, sha256) = with_behaviour_and_a_comment(behaviour).await;
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    for (spec, name) in [
        (vt_api::FILE_BEHAVIOUR.spec(), "hash"),
        (vt_api::COMMENTS_GET.spec(), "resource"),
    ] {
        let relayed = client
            .relay(spec, RelayRequest::new([(name, sha256.as_str())]))
            .await
            .unwrap();
        let (status, headers, body) = read(relayed).await;
        let direct = direct(&emulator, spec.path, &format!("{name}={sha256}")).await;
        assert_eq!(status, direct.status().as_u16(), "{}", spec.path);
        assert_eq!(&body, direct.body(), "{}: byte for byte", spec.path);
        let content_type = http::header::CONTENT_TYPE;
        assert_eq!(
            headers.get(&content_type),
            direct.headers().get(&content_type)
        );
    }
    let behaviour_again = client
        .relay(
            vt_api::FILE_BEHAVIOUR.spec(),
            RelayRequest::new([("hash", sha256.as_str())]),
        )
        .await
        .unwrap();
    assert_eq!(&read(behaviour_again).await.2[..], behaviour);
    // The service's 400 (no hash) and 404 (no such file) are answers to pass on.
    let no_hash = client
        .relay(vt_api::FILE_BEHAVIOUR.spec(), RelayRequest::default())
        .await
        .unwrap();
    assert_eq!(no_hash.status(), 400);
    let absent = client
        .relay(
            vt_api::FILE_DOWNLOAD.spec(),
            RelayRequest::new([("hash", "0".repeat(64))]),
        )
        .await
        .unwrap();
    assert_eq!(absent.status(), 404);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_relayed_upload_reaches_the_service() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, EICAR).unwrap();
    let client = client(&emulator, PUBLIC_KEY, Tier::Public);
    let relayed = client
        .relay(
            vt_api::FILE_SCAN.spec(),
            RelayRequest::default().with_file(&path),
        )
        .await
        .unwrap();
    let (status, _, body) = read(relayed).await;
    assert_eq!(status, 200);
    let receipt: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(receipt["sha256"], EICAR_SHA256);
    assert_eq!(emulator.stats().endpoint("file/scan"), 1);
    // The service has the file now (analysed at once).
    let report = client
        .file_report(&resource(EICAR_SHA256), false)
        .await
        .unwrap();
    assert_eq!(report.as_found().unwrap().sha256, EICAR_SHA256);
    // A file for an endpoint that takes none, or one that is not a file: nothing is sent.
    let url_scan = RelayRequest::new([("url", "https://example.com/")]).with_file(&path);
    let error = client
        .relay(vt_api::URL_SCAN.spec(), url_scan)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "upload", "{error}");
    let folder = RelayRequest::default().with_file(dir.path());
    let error = client
        .relay(vt_api::FILE_SCAN.spec(), folder)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "upload", "{error}");
    assert_eq!(emulator.stats().requests, 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_relayed_download_returns_the_redirect_unfollowed() {
    let emulator = emulator().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, EICAR).unwrap();
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    client.scan_file(&path).await.unwrap();
    let relayed = client
        .relay(
            vt_api::FILE_DOWNLOAD.spec(),
            RelayRequest::new([("hash", EICAR_MD5)]),
        )
        .await
        .unwrap();
    let (status, headers, _) = read(relayed).await;
    assert_eq!(status, 302);
    let location = headers[http::header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains("/download/"), "{location}");
    assert!(!location.contains(PRIVATE_KEY), "{location}");
    assert_eq!(
        emulator.stats().requests,
        2,
        "the upload, the 302: not followed"
    );
    // Where it points, the file is.
    let request = http::Request::get(&location).body(Bytes::new()).unwrap();
    let file = vt_transport::Transport::send(&HyperTransport::new().unwrap(), request)
        .await
        .unwrap();
    assert_eq!(&file.body()[..], EICAR);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_relay_adds_the_key_and_never_shows_it() {
    let (emulator, sha256) = with_behaviour_and_a_comment(b"{}").await;
    // A caller's own key is dropped; the client's goes in its place.
    let request = RelayRequest::new([("apikey", "the caller's"), ("resource", sha256.as_str())]);
    assert_eq!(request.params().len(), 1);
    let client = client(&emulator, PRIVATE_KEY, Tier::Private);
    let relayed = client
        .relay(vt_api::COMMENTS_GET.spec(), request.clone())
        .await
        .unwrap();
    let shown = format!("{relayed:?} {client:?} {request:?}");
    assert!(!shown.contains(PRIVATE_KEY), "{shown}");
    assert_eq!(relayed.status(), 200);
    // Without the key the service refuses: the client's is what it got.
    let direct = {
        use vt_transport::Transport;
        let url = format!("{}comments/get?resource={sha256}", emulator.url());
        let request = http::Request::get(url).body(Bytes::new()).unwrap();
        HyperTransport::new().unwrap().send(request).await.unwrap()
    };
    assert_eq!(direct.status(), 403);
    let stranger = vt_api::Client::builder(ApiKey::new("a stranger's key"))
        .base_url(emulator.url())
        .tier(Tier::Private)
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .build()
        .unwrap();
    let error = stranger
        .relay(vt_api::COMMENTS_GET.spec(), request)
        .await
        .unwrap_err();
    // A private-only endpoint: its own feature stops, not the key.
    assert!(
        matches!(&error, vt_api::Error::ForbiddenFeature { feature } if feature == "comments/get"),
        "{error:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_relayed_header_that_echoes_the_key_is_cut() {
    // A service that writes the key into a redirect's Location: the header passed on has
    // it cut out.
    let replay = Arc::new(vt_transport::ReplayTransport::new());
    let mut redirect = http::Response::new(Bytes::new());
    *redirect.status_mut() = http::StatusCode::FOUND;
    redirect.headers_mut().insert(
        http::header::LOCATION,
        format!(
            "https://storage.test/f?apikey={}",
            PRIVATE_KEY.to_uppercase()
        )
        .parse()
        .unwrap(),
    );
    redirect
        .headers_mut()
        .insert(http::header::SET_COOKIE, "session=1".parse().unwrap());
    replay.push(Ok(redirect));
    let client = Client::builder(ApiKey::new(PRIVATE_KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(replay.clone())
        .build()
        .unwrap();
    let relayed = client
        .relay(
            vt_api::FILE_DOWNLOAD.spec(),
            RelayRequest::new([("hash", EICAR_SHA256)]),
        )
        .await
        .unwrap();
    assert_eq!(relayed.status(), 302);
    assert_eq!(
        relayed.headers()[http::header::LOCATION],
        "https://storage.test/f?apikey=<redacted>"
    );
    assert!(relayed.headers().get(http::header::SET_COOKIE).is_none());
    assert_eq!(replay.requests().len(), 1, "not followed");
}
