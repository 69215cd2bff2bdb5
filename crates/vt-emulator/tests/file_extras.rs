//! `file/behaviour`, `file/clusters`, `file/search`, `comments/put` and `comments/get` over
//! real HTTP.

mod common;

use std::time::Duration;

use common::{assert_empty, enc, get, multipart, post, post_bytes, temp_dir, Reply};
use serde_json::{json, Value};
use vt_emulator::{
    Dataset, Emulator, EmulatorBuilder, KeySpec, ManualClock, RunningEmulator, Tier,
};

const FORM: &str = "application/x-www-form-urlencoded";

/// The MD5, SHA-1 and SHA-256 of made-up file number `n`.
fn hashes(n: u32) -> (String, String, String) {
    (
        format!("{n:032x}"),
        format!("{n:040x}"),
        format!("{:064x}", u64::from(n) | 0xabc0_0000_0000),
    )
}

/// A made-up report of file `n`, with the keys of `extra` added.
fn report(n: u32, positives: u32, scan_date: &str, extra: Value) -> Value {
    let (md5, sha1, sha256) = hashes(n);
    let mut report = json!({
        "response_code": 1,
        "verbose_msg": "Scan finished, information embedded",
        "scan_id": format!("{sha256}-1700000000"),
        "md5": md5, "sha1": sha1, "sha256": sha256,
        "scan_date": scan_date,
        "permalink": format!("https://www.virustotal.com/file/{sha256}/analysis/1700000000/"),
        "positives": positives, "total": 10, "scans": {},
    });
    let (Value::Object(report_keys), Value::Object(extra)) = (&mut report, extra) else {
        unreachable!("both are objects");
    };
    report_keys.extend(extra);
    report
}

fn dataset(reports: &[Value]) -> Dataset {
    let mut data = Dataset::new();
    data.add_json("reports.json", &serde_json::to_vec(reports).unwrap())
        .expect("the reports load");
    data
}

/// `pub` public, `priv` private, on a manual clock, analyses finished at once.
fn builder(clock: &ManualClock) -> EmulatorBuilder {
    Emulator::builder()
        .dataset(Dataset::new())
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .key(KeySpec::new("priv", Tier::Private).unwrap())
        .analysis_delay(Duration::ZERO)
        .clock(clock.clone())
}

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

async fn call(emu: &RunningEmulator, path: &str, query: &str) -> Reply {
    get(emu.addr(), &format!("/vtapi/v2/{path}?{query}"))
        .await
        .expect("an answer")
}

fn text(reply: &Reply) -> &str {
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    std::str::from_utf8(&reply.body).unwrap()
}

#[tokio::test]
async fn behaviour_reports_are_served_as_stored_by_any_hash_of_their_file() {
    let dir = temp_dir("behaviour");
    let (md5, sha1, sha256) = hashes(1);
    let stored = report(1, 3, "2024-01-01 00:00:00", json!({}));
    std::fs::write(dir.join("one.json"), stored.to_string()).unwrap();
    std::fs::create_dir(dir.join("behaviour")).unwrap();
    // Key order and spacing of its own: the order is kept, the spacing is the service's.
    let behaviour = r#"{"network": {"dns": []},  "info": {"started": "2024-01-01 00:00:01","version":"1.2"}, "behavior": {"processes": []}}"#;
    let served = r#"{"network": {"dns": []}, "info": {"started": "2024-01-01 00:00:01", "version": "1.2"}, "behavior": {"processes": []}}"#;
    std::fs::write(
        dir.join("behaviour").join(format!("{md5}.json")),
        format!("{behaviour}\n"),
    )
    .unwrap();
    let other = format!("{:064x}", 7);
    std::fs::write(
        dir.join("behaviour").join(format!("{other}.json")),
        r#"{"info":{}}"#,
    )
    .unwrap();
    let clock = ManualClock::new();
    let emu = start(builder(&clock).data_path(&dir)).await;
    for hash in [&md5, &sha1, &sha256, &sha256.to_uppercase()] {
        let reply = call(&emu, "file/behaviour", &format!("apikey=priv&hash={hash}")).await;
        assert_eq!(text(&reply), served, "{hash}");
    }
    // Named after a file the emulator has no report of: found by that name.
    let reply = call(&emu, "file/behaviour", &format!("apikey=priv&hash={other}")).await;
    assert_eq!(text(&reply), r#"{"info": {}}"#);
    let (unknown, _, _) = hashes(2);
    let reply = call(
        &emu,
        "file/behaviour",
        &format!("apikey=priv&hash={unknown}"),
    )
    .await;
    assert_eq!(
        text(&reply),
        r#"{"response_code": 0, "verbose_msg": "No behaviour report for this file"}"#
    );
    let scan_id = format!("{sha256}-1700000000");
    for query in [
        "apikey=priv".to_owned(),
        "apikey=priv&hash=".to_owned(),
        "apikey=priv&hash=xyz".to_owned(),
        format!("apikey=priv&hash={scan_id}"),
    ] {
        assert_empty(&call(&emu, "file/behaviour", &query).await, 400);
    }
    let public = call(&emu, "file/behaviour", &format!("apikey=pub&hash={md5}")).await;
    assert_empty(&public, 403);
    assert_eq!(emu.stats().endpoint("file/behaviour"), 11);
}

#[tokio::test]
async fn clusters_are_served_by_day_and_a_date_not_of_the_calendar_is_400() {
    let dir = temp_dir("clusters");
    std::fs::create_dir(dir.join("clusters")).unwrap();
    let clusters = r#"{"num_candidates": 12, "num_clusters": 1, "size_top200": 3, "clusters": [{"id": "abc", "label": "x", "size": 3, "avg_positives": 5.5}]}"#;
    std::fs::write(dir.join("clusters").join("2026-12-01.json"), clusters).unwrap();
    let clock = ManualClock::new();
    let emu = start(builder(&clock).data_path(&dir)).await;
    let reply = call(&emu, "file/clusters", "apikey=priv&date=2026-12-01").await;
    assert_eq!(text(&reply), clusters);
    let reply = call(&emu, "file/clusters", "apikey=priv&date=2026-12-02").await;
    assert_eq!(
        text(&reply),
        r#"{"response_code": 0, "verbose_msg": "No clusters for this date"}"#
    );
    for query in [
        "",
        "&date=",
        "&date=20261201",
        "&date=2026-02-30",
        "&date=2026-1-01",
    ] {
        let reply = call(&emu, "file/clusters", &format!("apikey=priv{query}")).await;
        assert_empty(&reply, 400);
    }
    let public = call(&emu, "file/clusters", "apikey=pub&date=2026-12-01").await;
    assert_empty(&public, 403);

    // A file named after something that is not a day stops start-up, naming it.
    std::fs::write(dir.join("clusters").join("tomorrow.json"), clusters).unwrap();
    let error = Emulator::builder().data_path(&dir).build().unwrap_err();
    assert!(error.to_string().contains("tomorrow.json"), "{error}");
}

/// The SHA-256s of a search answer, and its offset.
fn page(reply: &Reply) -> (Vec<String>, Option<String>) {
    let answer = reply.json();
    assert_eq!(answer["response_code"], 1, "{answer}");
    let hashes = answer["hashes"].as_array().expect("hashes");
    let hashes = hashes.iter().map(|h| h.as_str().unwrap().to_owned());
    let offset = answer.get("offset").map(|o| o.as_str().unwrap().to_owned());
    (hashes.collect(), offset)
}

#[tokio::test]
async fn a_search_answers_pages_of_300_with_an_offset_until_the_last() {
    let reports: Vec<Value> = (0..700)
        .map(|n| {
            let date = format!("2020-01-{:02} 00:00:00", 1 + n % 28);
            report(n, n % 7, &date, json!({}))
        })
        .collect();
    // Newest scan first, then by SHA-256.
    let mut expected: Vec<(String, String)> = reports
        .iter()
        .map(|r| (r["scan_date"].to_string(), r["sha256"].to_string()))
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<String> = expected
        .into_iter()
        .map(|(_, sha256)| sha256.trim_matches('"').to_owned())
        .collect();
    let clock = ManualClock::new();
    let emu = start(builder(&clock).dataset(dataset(&reports))).await;

    let query = "apikey=priv&query=positives:0%2B";
    let (first, offset) = page(&call(&emu, "file/search", query).await);
    let offset = offset.expect("more pages");
    assert!(
        offset.contains('+'),
        "an offset that needs encoding: {offset}"
    );
    let second_query = format!("{query}&offset={}", enc(&offset));
    let (second, offset) = page(&call(&emu, "file/search", &second_query).await);
    let offset = offset.expect("one more page");
    // The last page by POST, as a form.
    let form = format!("apikey=priv&query=positives%3A0%2B&offset={}", enc(&offset));
    let last = post(emu.addr(), "/vtapi/v2/file/search", FORM, &form).await;
    let last = last.expect("an answer");
    let (third, none) = page(&last);
    assert_eq!(none, None, "no offset on the last page");
    assert_eq!((first.len(), second.len(), third.len()), (300, 300, 100));
    assert_eq!([first, second, third].concat(), expected);

    // The offset sent back without percent-encoding: its `+` are spaces.
    let raw = format!("{query}&offset={offset}");
    assert_empty(&call(&emu, "file/search", &raw).await, 400);
    let public = call(&emu, "file/search", "apikey=pub&query=positives:0%2B").await;
    assert_empty(&public, 403);
    assert_eq!(emu.stats().endpoint("file/search"), 5);
}

#[tokio::test]
async fn each_query_term_selects_its_files_and_terms_are_joined_by_and() {
    let reports = [
        // 1: a PE file, first seen 2020-01-01, last seen 2024-06-01.
        report(
            1,
            10,
            "2024-06-01 10:00:00",
            json!({"type": "Win32 EXE", "tags": ["peexe", "Overlay"],
                   "first_seen": "2020-01-01 08:00:00", "last_seen": "2024-06-01 10:00:00"}),
        ),
        // 2: a PDF, first seen the day after.
        report(
            2,
            5,
            "2024-05-01 00:00:00",
            json!({"type": "PDF", "tags": ["pdf"], "first_seen": "2020-01-02 00:00:00",
                   "last_seen": "2024-05-01 00:00:00"}),
        ),
        // 3: a DLL by ExifTool's word only; no first_seen or last_seen: its scan date.
        report(
            3,
            4,
            "2019-12-31 23:59:59",
            json!({"additional_info": {"exiftool": {"FileType": "Win32 DLL"}}}),
        ),
    ];
    let clock = ManualClock::new();
    let emu = start(builder(&clock).dataset(dataset(&reports))).await;
    // A file uploaded and analysed: 0 positives, no type, dated now.
    let (content_type, body) = multipart(&[("apikey", "priv")], Some(b"hello\n"));
    let upload = post_bytes(emu.addr(), "/vtapi/v2/file/scan", &content_type, &body)
        .await
        .expect("an answer")
        .json();
    let uploaded = upload["sha256"].as_str().unwrap().to_owned();
    let sha256 = |n: u32| hashes(n).2;
    let (md5_1, _, _) = hashes(1);
    let (_, sha1_2, _) = hashes(2);
    let cases: [(&str, Vec<String>); 19] = [
        (&md5_1, vec![sha256(1)]),
        (&sha1_2.to_uppercase(), vec![sha256(2)]),
        ("positives:5", vec![sha256(2)]),
        ("positives:5+", vec![sha256(1), sha256(2)]),
        ("positives:5-", vec![uploaded.clone(), sha256(2), sha256(3)]),
        ("positives:0", vec![uploaded.clone()]),
        ("type:peexe", vec![sha256(1)]),
        ("TYPE:Win32EXE", vec![sha256(1)]),
        ("type:pdf", vec![sha256(2)]),
        ("type:pedll", vec![sha256(3)]),
        ("tag:overlay", vec![sha256(1)]),
        ("fs:2020-01-01", vec![sha256(1)]),
        (
            "fs:2020-01-01+",
            vec![uploaded.clone(), sha256(1), sha256(2)],
        ),
        ("fs:2020-01-01-", vec![sha256(1), sha256(3)]),
        ("ls:2019-12-31", vec![sha256(3)]),
        (
            "ls:2024-05-01+",
            vec![uploaded.clone(), sha256(1), sha256(2)],
        ),
        ("type:peexe positives:10+", vec![sha256(1)]),
        ("type:peexe  positives:9-", vec![]),
        ("fs:2020-01-01+ ls:2024-05-31-", vec![sha256(2)]),
    ];
    for (query, expected) in cases {
        let reply = call(
            &emu,
            "file/search",
            &format!("apikey=priv&query={}", enc(query)),
        )
        .await;
        let (hashes, offset) = page(&reply);
        assert_eq!(hashes, expected, "{query}");
        assert_eq!(offset, None);
    }
    let none = call(&emu, "file/search", "apikey=priv&query=tag:nothing").await;
    assert_eq!(text(&none), r#"{"response_code": 1, "hashes": []}"#);
    for query in [
        "",
        "&query=",
        "&query=engines:kaspersky",
        "&query=evil",
        "&query=fs:2020-13-01",
    ] {
        let reply = call(&emu, "file/search", &format!("apikey=priv{query}")).await;
        assert_empty(&reply, 400);
    }
    let bad_offset = call(&emu, "file/search", "apikey=priv&query=tag:pdf&offset=MzAw").await;
    assert_empty(&bad_offset, 400);
}

async fn put(emu: &RunningEmulator, key: &str, resource: &str, comment: &str) -> Reply {
    let body = format!(
        "apikey={key}&resource={}&comment={}",
        enc(resource),
        enc(comment)
    );
    post(emu.addr(), "/vtapi/v2/comments/put", FORM, &body)
        .await
        .expect("an answer")
}

async fn comments(emu: &RunningEmulator, resource: &str, before: Option<&str>) -> Value {
    let before = before.map_or(String::new(), |b| format!("&before={b}"));
    let query = format!("apikey=priv&resource={}{before}", enc(resource));
    call(emu, "comments/get", &query).await.json()
}

const POSTED: &str =
    r#"{"response_code": 1, "verbose_msg": "Your comment was successfully posted"}"#;

#[tokio::test]
async fn comments_are_kept_per_file_newest_first_in_pages_of_25_before_a_date() {
    let clock = ManualClock::new();
    let data = dataset(&[report(1, 1, "2024-01-01 00:00:00", json!({}))]);
    let emu = start(builder(&clock).dataset(data)).await;
    let (md5, sha1, sha256) = hashes(1);
    // 30 comments a second apart, by every hash of the file; a public key may post.
    for i in 0..30 {
        let by = [&md5, &sha1, &sha256][i % 3];
        let key = if i == 0 { "pub" } else { "priv" };
        assert_eq!(
            text(&put(&emu, key, by, &format!("comment {i}")).await),
            POSTED
        );
        clock.advance(Duration::from_secs(1));
    }
    let first = comments(&emu, &md5.to_uppercase(), None).await;
    assert_eq!(first["response_code"], 1);
    assert_eq!(
        first["verbose_msg"],
        "Resource found, comments, if any, returned here"
    );
    assert_eq!(first["resource"], md5.to_uppercase(), "echoed as sent");
    let listed = first["comments"].as_array().unwrap();
    let texts: Vec<&str> = listed
        .iter()
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    let newest: Vec<String> = (5..30).rev().map(|i| format!("comment {i}")).collect();
    assert_eq!(texts, newest);
    let dates: Vec<&str> = listed.iter().map(|c| c["date"].as_str().unwrap()).collect();
    assert!(dates
        .iter()
        .all(|d| d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit())));
    assert!(
        dates.windows(2).all(|w| w[0] > w[1]),
        "newest first: {dates:?}"
    );
    let oldest_listed = dates.last().unwrap();
    let rest = comments(&emu, &sha256, Some(oldest_listed)).await;
    let texts: Vec<&str> = rest["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "comment 4",
            "comment 3",
            "comment 2",
            "comment 1",
            "comment 0"
        ]
    );

    // The same text on the same file, by another hash: a duplicate.
    let duplicate = put(&emu, "priv", &sha256, "comment 7").await;
    assert_eq!(
        text(&duplicate),
        r#"{"response_code": 0, "verbose_msg": "Duplicate comment"}"#
    );
    let (unknown, _, _) = hashes(9);
    let reply = put(&emu, "priv", &unknown, "hello").await;
    assert_eq!(
        text(&reply),
        r#"{"response_code": 0, "verbose_msg": "Could not find resource"}"#
    );
    let reply = call(
        &emu,
        "comments/get",
        &format!("apikey=priv&resource={unknown}"),
    )
    .await;
    assert_eq!(
        text(&reply),
        format!(
            r#"{{"response_code": 0, "verbose_msg": "Could not find resource", "resource": "{unknown}"}}"#
        )
    );
    assert_eq!(emu.stats().endpoint("comments/put"), 32);
}

#[tokio::test]
async fn comments_on_a_url_and_the_arguments_refused() {
    let clock = ManualClock::new();
    let emu = start(builder(&clock)).await;
    let scan = post(
        emu.addr(),
        "/vtapi/v2/url/scan",
        FORM,
        "apikey=priv&url=Example.ORG/a",
    )
    .await
    .expect("an answer");
    assert_eq!(scan.status, 200);
    assert_eq!(
        text(&put(&emu, "priv", "example.org/a", "seen").await),
        POSTED
    );
    let listed = comments(&emu, "http://example.org/a", None).await;
    assert_eq!(listed["comments"][0]["comment"], "seen", "{listed}");
    assert_eq!(listed["resource"], "http://example.org/a");
    let unknown = put(&emu, "priv", "http://nowhere.example/", "x").await;
    assert_eq!(unknown.json()["verbose_msg"], "Could not find resource");

    let at_most = "x".repeat(4096);
    assert_eq!(
        text(&put(&emu, "priv", "example.org/a", &at_most).await),
        POSTED
    );
    for (resource, comment) in [
        ("example.org/a", ""),
        ("example.org/a", "   "),
        ("example.org/a", &*format!("{at_most}y")),
        ("", "text"),
    ] {
        assert_empty(&put(&emu, "priv", resource, comment).await, 400);
    }
    let no_comment = post(
        emu.addr(),
        "/vtapi/v2/comments/put",
        FORM,
        "apikey=priv&resource=x",
    )
    .await;
    assert_empty(&no_comment.unwrap(), 400);
    for query in [
        "apikey=priv",
        "apikey=priv&resource=example.org/a&before=2024",
        "apikey=priv&resource=example.org/a&before=20241301000000",
    ] {
        assert_empty(&call(&emu, "comments/get", query).await, 400);
    }
    let public = call(&emu, "comments/get", "apikey=pub&resource=example.org/a").await;
    assert_empty(&public, 403);
    let wrong_method = call(&emu, "comments/put", "apikey=priv&resource=x&comment=y").await;
    assert_eq!(wrong_method.status, 405);
}
