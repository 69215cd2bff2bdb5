//! No silent traps for integration testers (#14): the data-file cap, keys with ':', the
//! request log and `POST /_emulator/reset`, over loopback.

mod common;

use std::sync::{Arc, Mutex};

use common::{assert_empty, get, post, report};
use vt_emulator::{Emulator, KeySpec, Tier, RESET_PATH, STATS_PATH};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const EICAR_REPORT: &[u8] = include_bytes!("../data/eicar-detected.json");

#[test]
fn a_data_file_over_the_cap_is_refused_naming_it_and_the_cap() {
    let dir = common::temp_dir("cap");
    let file = dir.join("eicar.json");
    std::fs::write(&file, EICAR_REPORT).unwrap();
    let err = Emulator::builder()
        .data_path(&file)
        .max_data_file_size(100)
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("eicar.json"), "{message}");
    assert!(message.contains("100 bytes"), "{message}");
    assert!(err.is_data());
    // Under the cap (the file's own size), the same file loads.
    let emulator = Emulator::builder()
        .data_path(&file)
        .max_data_file_size(EICAR_REPORT.len() as u64)
        .build()
        .unwrap();
    assert_eq!(emulator.reports(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_path_that_is_not_a_file_or_folder_is_refused() {
    let err = Emulator::builder()
        .data_path("/dev/zero")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("/dev/zero: not a regular file or a folder"),
        "{err}"
    );
}

#[test]
fn upper_case_json_files_are_read_and_the_rest_is_noted() {
    let dir = common::temp_dir("upper");
    std::fs::write(dir.join("EICAR.JSON"), EICAR_REPORT).unwrap();
    std::fs::create_dir(dir.join("reports")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not data").unwrap();
    let mut data = vt_emulator::Dataset::new();
    assert_eq!(data.add_path(&dir).unwrap(), 1);
    assert!(data.contains(EICAR_MD5));
    let notes = data.notes().join("\n");
    assert!(notes.contains("skipped the sub-folder reports/"), "{notes}");
    assert!(notes.contains("notes.txt"), "{notes}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_tier_is_refused_and_a_key_with_a_colon_takes_its_tier() {
    for spec in ["K:gold", "K:pubic", "K:"] {
        let err = spec.parse::<KeySpec>().unwrap_err().to_string();
        assert!(err.contains("public and private"), "{spec}: {err}");
    }
    let spec: KeySpec = "a:b:public".parse().unwrap();
    assert_eq!((spec.key(), spec.tier()), ("a:b", Tier::Public));
    let spec: KeySpec = "K:PRIVATE".parse().unwrap();
    assert_eq!((spec.key(), spec.tier()), ("K", Tier::Private));
}

#[tokio::test]
async fn a_key_with_a_colon_is_accepted_as_given() {
    let emu = Emulator::builder()
        .key("a:b:private".parse().unwrap())
        .start()
        .await
        .unwrap();
    let reply = report(emu.addr(), &format!("apikey=a%3Ab&resource={EICAR_MD5}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["sha256"], EICAR_SHA256);
    let reply = report(emu.addr(), &format!("apikey=a&resource={EICAR_MD5}")).await;
    assert_empty(&reply, 403);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_request_log_has_one_line_per_request_without_the_key() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let emu = Emulator::builder()
        .key(KeySpec::new("SECRET-KEY-1", Tier::Public).unwrap())
        .request_log(move |line| sink.lock().unwrap().push(line.to_owned()))
        .start()
        .await
        .unwrap();
    let addr = emu.addr();
    let batch = format!("{EICAR_MD5},{EICAR_SHA256}");
    assert_eq!(
        report(addr, &format!("apikey=SECRET-KEY-1&resource={batch}"))
            .await
            .status,
        200
    );
    assert_eq!(
        report(addr, &format!("apikey=wrong-key&resource={EICAR_MD5}"))
            .await
            .status,
        403
    );
    let form = "apikey=SECRET-KEY-1&url=http%3A%2F%2Fexample.com%2F%3Fkey%3DSECRET-KEY-1";
    let scanned = post(
        addr,
        "/vtapi/v2/url/scan",
        "application/x-www-form-urlencoded",
        form,
    )
    .await
    .unwrap();
    assert_eq!(scanned.status, 200);
    assert_eq!(get(addr, "/nowhere").await.unwrap().status, 404);
    emu.shutdown().await;
    let lines = lines.lock().unwrap().clone();
    assert_eq!(
        lines,
        [
            "GET file/report resources=2 status=200",
            "GET file/report resources=1 status=403",
            "POST url/scan resources=1 status=200",
            "GET /nowhere resources=0 status=404",
        ]
    );
    for line in &lines {
        assert!(
            !line.contains("SECRET") && !line.contains("wrong"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn reset_zeroes_the_stats_and_the_quota_windows() {
    let emu = Emulator::builder()
        .key(KeySpec::new("pub", Tier::Public).unwrap())
        .public_per_minute(1)
        .start()
        .await
        .unwrap();
    let addr = emu.addr();
    let query = format!("apikey=pub&resource={EICAR_MD5}");
    assert_eq!(report(addr, &query).await.status, 200);
    assert_empty(&report(addr, &query).await, 204);
    assert_eq!(emu.stats().requests, 2);

    // Only POST resets; the answer is the counters as they were.
    let refused = get(addr, RESET_PATH).await.unwrap();
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("POST"));
    assert_eq!(emu.stats().requests, 2, "a refused reset changes nothing");
    let reset = post(addr, RESET_PATH, "text/plain", "").await.unwrap();
    assert_eq!(reset.status, 200);
    assert_eq!(reset.json()["requests"], 2);
    assert_eq!(reset.json()["by_status"]["204"], 1);

    let stats = get(addr, STATS_PATH).await.unwrap().json();
    assert_eq!(stats["requests"], 0, "{stats}");
    assert_eq!(stats["resources_asked"], 0, "{stats}");
    assert_eq!(stats["by_status"], serde_json::json!({}), "{stats}");
    // The minute's quota, spent before the reset, is whole again.
    assert_eq!(report(addr, &query).await.status, 200);
    assert_eq!(emu.stats().requests, 1);
    assert_eq!(emu.stats().status(200), 1);
    emu.shutdown().await;
}
