//! The file workflow over real HTTP: uploads (`file/scan`, upload URLs), queued files, and
//! the multipart reader's linear time.

mod common;

use std::time::Duration;

use common::{assert_empty, get, multipart, post_bytes, Reply};
use serde_json::Value;
use vt_emulator::{Emulator, EmulatorBuilder, KeySpec, ManualClock, RunningEmulator, Tier};

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const QUEUED_MSG: &str = "Scan request successfully queued, come back later for the report";

/// `pub` public, `priv` private, no data, analyses of 60 s on a manual clock.
fn builder(clock: &ManualClock) -> EmulatorBuilder {
    Emulator::builder()
        .dataset(vt_emulator::Dataset::new())
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .key(KeySpec::new("priv", Tier::Private).unwrap())
        .analysis_delay(Duration::from_secs(60))
        .clock(clock.clone())
}

async fn start(builder: EmulatorBuilder) -> RunningEmulator {
    builder.start().await.expect("the emulator starts")
}

async fn upload(emu: &RunningEmulator, target: &str, key: &str, file: &[u8]) -> Reply {
    let (content_type, body) = multipart(&[("apikey", key)], Some(file));
    post_bytes(emu.addr(), target, &content_type, &body)
        .await
        .expect("an answer")
}

async fn report(emu: &RunningEmulator, resource: &str) -> Value {
    let target = format!("/vtapi/v2/file/report?apikey=priv&resource={resource}");
    let reply = get(emu.addr(), &target).await.expect("an answer");
    assert_eq!(reply.status, 200);
    reply.json()
}

#[tokio::test]
async fn an_upload_is_answered_as_recorded_queued_by_every_hash_then_reported() {
    let clock = ManualClock::new();
    let emu = start(builder(&clock)).await;
    let eicar = [EICAR, b" \r\n"].concat();
    let reply = upload(&emu, "/vtapi/v2/file/scan", "pub", &eicar).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let text = String::from_utf8(reply.body.clone()).unwrap();
    let answer = reply.json();
    let sha256 = answer["sha256"].as_str().unwrap().to_owned();
    let scan_id = answer["scan_id"].as_str().unwrap().to_owned();
    let seconds = scan_id.strip_prefix(&format!("{sha256}-")).unwrap();
    let md5 = answer["md5"].as_str().unwrap();
    let sha1 = answer["sha1"].as_str().unwrap();
    // The recorded key order and separators, byte for byte.
    assert_eq!(
        text,
        format!(
            "{{\"scan_id\": \"{scan_id}\", \"sha1\": \"{sha1}\", \"resource\": \"{sha256}\", \
             \"response_code\": 1, \"sha256\": \"{sha256}\", \"permalink\": \
             \"https://www.virustotal.com/file/{sha256}/analysis/{seconds}/\", \"md5\": \
             \"{md5}\", \"verbose_msg\": \"{QUEUED_MSG}\"}}"
        )
    );
    for resource in [md5, sha1, &sha256, &scan_id.to_uppercase()] {
        let queued = report(&emu, resource).await;
        assert_eq!(queued["response_code"], -2, "{resource}");
        assert_eq!(queued["scan_id"], scan_id.as_str());
        assert_eq!(queued["resource"], resource);
    }
    clock.advance(Duration::from_secs(60));
    for resource in [md5, sha1, &sha256, &scan_id] {
        let found = report(&emu, resource).await;
        assert_eq!(found["response_code"], 1, "{resource}");
        assert_eq!(
            found["positives"], 10,
            "the EICAR file, detected by every engine"
        );
        assert_eq!(found["total"], 10);
        assert_eq!(found["scan_id"], scan_id.as_str());
        assert_eq!(found["scans"]["Kaspersky"]["result"], "EICAR-Test-File");
    }
    let clean = upload(&emu, "/vtapi/v2/file/scan", "priv", b"hello\n")
        .await
        .json();
    clock.advance(Duration::from_secs(60));
    let clean = report(&emu, clean["md5"].as_str().unwrap()).await;
    assert_eq!(
        (clean["response_code"].as_i64(), clean["positives"].as_i64()),
        (Some(1), Some(0))
    );
    assert!(clean["scans"]["Avira"]["result"].is_null());
    let stats = emu.stats();
    assert_eq!(stats.endpoint("file/scan"), 2);
    assert_eq!(stats.endpoint("file/report"), 9);
}

#[tokio::test]
async fn the_eicar_file_has_the_hashes_the_service_gives_it() {
    let clock = ManualClock::new();
    let emu = start(builder(&clock).analysis_delay(Duration::ZERO)).await;
    let answer = upload(&emu, "/vtapi/v2/file/scan", "priv", EICAR)
        .await
        .json();
    assert_eq!(
        (&answer["md5"], &answer["sha1"], &answer["sha256"]),
        (
            &Value::from(EICAR_MD5),
            &Value::from(EICAR_SHA1),
            &Value::from(EICAR_SHA256)
        )
    );
    assert_eq!(report(&emu, EICAR_MD5).await["positives"], 10);
}

#[tokio::test]
async fn a_file_scan_without_a_file_is_400_and_over_32_mb_413() {
    let clock = ManualClock::new();
    let emu = start(builder(&clock)).await;
    let (content_type, body) = multipart(&[("apikey", "priv")], None);
    let reply = post_bytes(emu.addr(), "/vtapi/v2/file/scan", &content_type, &body).await;
    assert_empty(&reply.unwrap(), 400);
    let big = vec![b'x'; 32 << 20];
    assert_empty(
        &upload(&emu, "/vtapi/v2/file/scan", "priv", &big).await,
        413,
    );
    let reply = upload(&emu, "/vtapi/v2/file/scan", "nobody", b"x").await;
    assert_empty(&reply, 403);
    assert_eq!(emu.stats().status(413), 1);
}

#[tokio::test]
async fn an_upload_url_takes_one_upload_then_is_spent() {
    let clock = ManualClock::new();
    let emu = start(builder(&clock).analysis_delay(Duration::ZERO)).await;
    let target = "/vtapi/v2/file/scan/upload_url?apikey=pub";
    assert_empty(&get(emu.addr(), target).await.unwrap(), 403);
    let reply = get(emu.addr(), "/vtapi/v2/file/scan/upload_url?apikey=priv").await;
    let answer = reply.unwrap().json();
    let url = answer["upload_url"].as_str().unwrap();
    let prefix = format!("http://{}/upload/", emu.addr());
    assert!(url.starts_with(&prefix), "{url}");
    let path = &url[prefix.len() - "/upload/".len()..];
    // No key needed: the URL is the permission.
    let (content_type, body) = multipart(&[], Some(b"uploaded through a URL"));
    let first = post_bytes(emu.addr(), path, &content_type, &body)
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["verbose_msg"], QUEUED_MSG);
    let again = post_bytes(emu.addr(), path, &content_type, &body)
        .await
        .unwrap();
    assert_empty(&again, 404);
    let found = report(&emu, first.json()["sha256"].as_str().unwrap()).await;
    assert_eq!(found["response_code"], 1);
}

#[tokio::test]
async fn queued_resources_finish_after_the_delay_and_answer_by_every_hash() {
    let clock = ManualClock::new();
    let never_stored = "1111111111111111111111111111111111111111111111111111111111111111";
    let emu = start(
        Emulator::builder()
            .analysis_delay(Duration::from_secs(5))
            .clock(clock.clone())
            .queued(EICAR_SHA256)
            .queued(never_stored),
    )
    .await;
    for resource in [EICAR_MD5, EICAR_SHA1, EICAR_SHA256] {
        let queued = report(&emu, resource).await;
        assert_eq!(queued["response_code"], -2, "{resource}");
        assert_eq!(queued["scan_id"], EICAR_SHA256);
    }
    clock.advance(Duration::from_secs(5));
    assert_eq!(report(&emu, EICAR_MD5).await["response_code"], 1);
    // Neither a report nor the bytes: nothing to finish with.
    assert_eq!(report(&emu, never_stored).await["response_code"], -2);
}

#[tokio::test]
async fn an_analysis_delay_of_never_keeps_files_queued() {
    let clock = ManualClock::new();
    let emu = start(
        builder(&clock)
            .analysis_delay(Duration::MAX)
            .queued(EICAR_SHA256),
    )
    .await;
    let sha256 = upload(&emu, "/vtapi/v2/file/scan", "priv", b"x")
        .await
        .json()["sha256"]
        .clone();
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(
        report(&emu, sha256.as_str().unwrap()).await["response_code"],
        -2
    );
    assert_eq!(report(&emu, EICAR_SHA256).await["response_code"], -2);
}

/// The old reader compared the delimiter at every position of every part: a body of 1 MB of
/// near-delimiters under a 70-character boundary cost seconds of CPU (and a longer boundary
/// far more). It is answered now; the reader's own test counts the bytes searched.
#[tokio::test]
async fn a_crafted_multipart_body_is_answered() {
    let emu = start(Emulator::builder()).await;
    let boundary = "a".repeat(70);
    let near = format!("\r\n--{}", "a".repeat(69));
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"resource\"\r\n\r\n"
    )
    .into_bytes();
    while body.len() < 1_000_000 {
        body.extend_from_slice(near.as_bytes());
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let reply = post_bytes(emu.addr(), "/vtapi/v2/file/report", &content_type, &body).await;
    // Read whole: the key was found, the resource is not one.
    let reply = reply.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["response_code"], 0);
    // A boundary longer than RFC 2046 allows is refused before anything is searched.
    let content_type = format!("multipart/form-data; boundary={}", "b".repeat(71));
    let reply = post_bytes(emu.addr(), "/vtapi/v2/file/report", &content_type, b"x").await;
    assert_empty(&reply.unwrap(), 400);
}

async fn form(emu: &RunningEmulator, path: &str, body: &str) -> Reply {
    let content_type = "application/x-www-form-urlencoded";
    common::post(emu.addr(), path, content_type, body)
        .await
        .expect("an answer")
}

#[tokio::test]
async fn a_rescan_gives_known_files_a_new_scan_id_and_can_be_deleted() {
    let clock = ManualClock::new();
    let emu = start(
        Emulator::builder()
            .key(KeySpec::new("pub", Tier::Public).unwrap())
            .key(KeySpec::new("priv", Tier::Private).unwrap())
            .analysis_delay(Duration::from_secs(5))
            .clock(clock.clone()),
    )
    .await;
    let unknown = "00000000000000000000000000000000";
    let target = "/vtapi/v2/file/rescan";
    assert_empty(
        &form(&emu, target, &format!("apikey=pub&resource={EICAR_MD5}")).await,
        403,
    );
    assert_empty(
        &form(&emu, target, "apikey=priv&resource=x&date=2020").await,
        400,
    );
    let reply = form(
        &emu,
        target,
        &format!("apikey=priv&resource={EICAR_MD5},{unknown}"),
    )
    .await;
    assert_eq!(reply.status, 200);
    let answers = reply.json();
    let rescan = &answers[0];
    let scan_id = rescan["scan_id"].as_str().unwrap();
    let text = String::from_utf8(reply.body.clone()).unwrap();
    assert!(
        text.starts_with(&format!(
            "[{{\"permalink\": \"https://www.virustotal.com/file/{EICAR_SHA256}/analysis/"
        )),
        "{text}"
    );
    assert_eq!(rescan["resource"], EICAR_MD5);
    assert_eq!(rescan["sha256"], EICAR_SHA256);
    assert!(rescan.get("verbose_msg").is_none(), "none, as recorded");
    assert!(scan_id.starts_with(&format!("{EICAR_SHA256}-")));
    assert_eq!(answers[1]["response_code"], 0);
    // Pending by every hash, then the stored report again.
    assert_eq!(report(&emu, EICAR_SHA1).await["response_code"], -2);
    let delete = "/vtapi/v2/file/rescan/delete";
    let deleted = form(
        &emu,
        delete,
        &format!("apikey=priv&resource={EICAR_SHA256}"),
    )
    .await;
    assert_eq!(deleted.json()["response_code"], 1);
    assert_eq!(report(&emu, EICAR_SHA1).await["response_code"], 1);
    let again = form(
        &emu,
        delete,
        &format!("apikey=priv&resource={EICAR_SHA256}"),
    )
    .await;
    assert_eq!(again.json()["response_code"], -1);
    assert_eq!(emu.stats().endpoint("file/rescan"), 3);
}

#[tokio::test]
async fn a_download_redirects_once_to_the_bytes_and_samples_have_their_traffic() {
    let dir = common::temp_dir("samples");
    std::fs::write(dir.join("any-name.bin"), b"sample bytes").unwrap();
    std::fs::write(dir.join("any-name.bin.pcap"), b"\xd4\xc3\xb2\xa1pcap").unwrap();
    let clock = ManualClock::new();
    let emu = start(builder(&clock).samples_path(&dir)).await;
    // MD5 of "sample bytes".
    let md5 = "1c9760fe707208d0ae9ff600ddf6cc9d";
    let asked = format!("/vtapi/v2/file/download?apikey=priv&hash={md5}");
    let reply = get(emu.addr(), &asked).await.unwrap();
    assert_empty(&reply, 302);
    let location = reply.header("location").unwrap().to_owned();
    let path = location
        .strip_prefix(&format!("http://{}", emu.addr()))
        .unwrap();
    assert!(
        path.starts_with("/download/") && !path.contains("apikey"),
        "{path}"
    );
    let bytes = get(emu.addr(), path).await.unwrap();
    assert_eq!(bytes.status, 200);
    assert_eq!(
        bytes.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(bytes.body, b"sample bytes");
    assert_empty(&get(emu.addr(), path).await.unwrap(), 404);
    let traffic = format!("/vtapi/v2/file/network-traffic?apikey=priv&hash={md5}");
    let pcap = get(emu.addr(), &traffic).await.unwrap();
    assert_eq!(
        (pcap.status, &pcap.body[..4]),
        (200, &b"\xd4\xc3\xb2\xa1"[..])
    );
    let public = format!("/vtapi/v2/file/download?apikey=pub&hash={md5}");
    assert_empty(&get(emu.addr(), &public).await.unwrap(), 403);
    let absent = "/vtapi/v2/file/download?apikey=priv&hash=00000000000000000000000000000000";
    assert_empty(&get(emu.addr(), absent).await.unwrap(), 404);
    // An upload has bytes, no traffic.
    let sha256 = upload(&emu, "/vtapi/v2/file/scan", "priv", b"up")
        .await
        .json()["sha256"]
        .clone();
    let traffic = format!(
        "/vtapi/v2/file/network-traffic?apikey=priv&hash={}",
        sha256.as_str().unwrap()
    );
    assert_empty(&get(emu.addr(), &traffic).await.unwrap(), 404);
}
