//! The project's own fixtures of `url/report`, `url/scan`, `domain/report` and
//! `ip-address/report` (in `tests/fixtures/<endpoint>/`, written by hand in the shapes the
//! service sends, with made-up values): each decoded, summarised, compared with what it must
//! say, and re-encoded without loss.

use std::fmt::Write;
use std::path::Path;

use bytes::Bytes;
use serde_json::{json, Value};
use vt_model::{
    decode, Answer, Body, DomainReport, IpReport, RawAnswer, Report, SampleRelation, Status,
    UnixTime, UrlReport, UrlScan,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes the fixture as `Body<T>`, checks that encoding gives the same JSON value, and
/// returns one line per answer: the outcome, then `found` for found reports.
#[track_caller]
fn check<T: Report>(name: &str, found: impl Fn(&T) -> String, expect: &str) -> Body<T> {
    let body = fixture(name);
    let decoded: Body<T> = decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let original: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        original,
        "{name}: lost something in a round trip"
    );
    let mut summary = String::new();
    for answer in decoded.answers() {
        let resource = answer.resource().unwrap_or("-");
        match answer {
            Answer::Found(report) => write!(summary, "found {resource} {}", found(report)),
            other => write!(
                summary,
                "{} {resource} {:?}",
                other.status(),
                other.verbose_msg().unwrap_or("-")
            ),
        }
        .unwrap();
        summary.push('\n');
    }
    assert_eq!(summary.trim_end(), expect.trim(), "{name}");
    decoded
}

fn url_summary(r: &UrlReport) -> String {
    let ratio = r
        .detection_ratio()
        .map_or_else(|| "-".to_owned(), |ratio| ratio.to_string());
    format!(
        "url={} ratio={ratio} queued_scan={} detections={:?}",
        r.url,
        r.is_queued_scan(),
        r.detections().collect::<Vec<_>>()
    )
}

#[test]
fn url_report_found_with_details_and_null_filescan_id() {
    let body = check(
        "url-report/found-detail-and-null-filescan.json",
        url_summary,
        r#"found Shop.Example.test/Login?next=/a,b url=http://shop.example.test/Login?next=/a,b ratio=3/8 queued_scan=false detections=[("Alpha Web", "malicious site"), ("Beta Guard", "phishing site"), ("Zeta Filter", "suspicious site")]"#,
    );
    let report = body.answers()[0].as_found().unwrap();
    assert_eq!(report.filescan_id, Some(None), "null stays null");
    assert_eq!(report.scan_date.to_string(), "2023-11-14 22:13:20");
    let scans = report.scans.as_ref().unwrap();
    assert_eq!(
        scans["Beta Guard"].detail(),
        Some("https://beta.example.test/lookup?u=shop.example.test")
    );
    assert_eq!(scans["Epsilon"].detail, Some(None));
    assert_eq!(scans["Alpha Web"].detail, None);
    assert_eq!(scans["Zeta Filter"].extra["x_engine_key"], 7);
    assert_eq!(
        report.extra["x_future_key"],
        json!({"kept": [1, 2.5, null]})
    );
    let v = report.verdicts();
    assert_eq!(
        (
            v.clean,
            v.unrated,
            v.malicious,
            v.phishing,
            v.suspicious,
            v.other
        ),
        (2, 1, 1, 1, 1, 2),
        "a null result and \"spam site\" are other"
    );
}

#[test]
fn url_report_not_found_scan1_queued_and_a_batch_with_an_invalid_url() {
    check(
        "url-report/not-found.json",
        url_summary,
        r#"not_found http://never-seen.example.test/x "Resource does not exist in the dataset""#,
    );
    let body = check(
        "url-report/scan1-queued.json",
        url_summary,
        "found http://new.example.test/ url=http://new.example.test/ ratio=- queued_scan=true detections=[]",
    );
    let report = body.answers()[0].as_found().unwrap();
    assert_eq!(report.verdicts(), Default::default());
    assert_eq!(report.filescan_id, None, "absent stays absent");
    check(
        "url-report/batch-with-invalid.json",
        url_summary,
        r#"
not_found https://example.test/#frag "Resource does not exist in the dataset"
invalid - "Invalid URL, the scan request was not queued"
found http://пример.test/путь url=http://xn--e1afmkfd.test/%D0%BF%D1%83%D1%82%D1%8C ratio=0/1 queued_scan=false detections=[]
"#,
    );
}

#[test]
fn url_scan_receipt() {
    let body = check(
        "url-scan/queued.json",
        |s: &UrlScan| format!("url={} scan_id={}", s.url, s.scan_id),
        "found http://queued.example.test/ url=http://queued.example.test/ scan_id=2222222222222222222222222222222222222222222222222222222222222222-1650000000",
    );
    let scan = body.answers()[0].as_found().unwrap();
    assert_eq!(scan.scan_date.to_string(), "2022-04-15 05:20:00");
    assert_eq!(scan.extra["x_future_key"], true);
}

fn domain_summary(r: &DomainReport) -> String {
    format!(
        "categories={:?} resolutions={:?} detected_urls={} whois_timestamp={:?}",
        r.categories_merged(),
        r.resolutions_newest_first()
            .iter()
            .map(|r| r.target().unwrap_or("-"))
            .collect::<Vec<_>>(),
        r.detected_urls().len(),
        r.whois_timestamp,
    )
}

#[test]
fn domain_report_with_every_vendor_key_and_a_fractional_whois_timestamp() {
    let body = check(
        "domain-report/vendors-float-whois-timestamp.json",
        domain_summary,
        r#"found - categories=["computers internet", "computersandsoftware", "information technology", "known infection source", "services"] resolutions=["192.0.2.11", "192.0.2.12", "192.0.2.10"] detected_urls=2 whois_timestamp=Some(Fractional(1419000000.4375))"#,
    );
    let report = body.answers()[0].as_found().unwrap();
    for vendor in [
        "BitDefender category",
        "BitDefender domain info",
        "Alexa category",
        "Alexa domain info",
        "Alexa rank",
        "TrendMicro category",
        "Websense ThreatSeeker category",
        "Forcepoint ThreatSeeker category",
        "Dr.Web category",
        "Opera domain info",
        "WOT domain info",
        "Webutation domain info",
    ] {
        assert!(report.extra.contains_key(vendor), "{vendor} kept in extra");
    }
    assert_eq!(report.extra["Webutation domain info"]["Safety score"], 93);
    assert_eq!(report.extra.len(), 12, "only the vendor keys are unknown");
    assert_eq!(
        report.whois(),
        Some("Domain Name: EXAMPLE.TEST\nRegistrar: Made Up Registrar\n")
    );
    assert_eq!(
        report
            .whois_timestamp
            .unwrap()
            .to_utc()
            .unwrap()
            .to_string(),
        "2014-12-19 14:40:00"
    );
    assert_eq!(
        report.resolutions.as_ref().unwrap()[1].extra["x_resolution_key"],
        "kept"
    );
    assert_eq!(report.undetected_urls.as_ref().unwrap()[0][2], 0);
    let detected: Vec<String> = report
        .detected_samples()
        .map(|(relation, s)| {
            let date = s.date.map_or_else(|| "-".to_owned(), |d| d.to_string());
            format!(
                "{relation} {} {} {date}",
                &s.sha256[..4],
                s.detection_ratio()
            )
        })
        .collect();
    assert_eq!(
        detected,
        [
            "communicating 5555 35/56 2014-11-26 12:04:44",
            "referrer 7777 4/53 -",
            "referrer 8888 1/53 -",
        ]
    );
    let second_referrer = &report.detected_referrer_samples.as_ref().unwrap()[1];
    assert_eq!(second_referrer.extra["x_sample_key"], json!([null]));
    let url = &report.detected_urls()[1];
    assert_eq!(
        (url.url.as_str(), url.detection_ratio().to_string()),
        ("http://example.test/dl/setup.exe", "12/61".to_owned())
    );
}

#[test]
fn domain_report_with_dns_records_an_integer_whois_timestamp_and_null_whois() {
    let body = check(
        "domain-report/dns-records-int-whois-timestamp.json",
        domain_summary,
        r#"found - categories=["known infection source", "parked", "uncategorized"] resolutions=[] detected_urls=0 whois_timestamp=Some(Whole(1562956563))"#,
    );
    let report = body.answers()[0].as_found().unwrap();
    assert_eq!(report.whois, Some(None));
    assert_eq!(report.whois(), None);
    assert_eq!(report.dns_records_date, Some(UnixTime::Whole(1564031431)));
    let records = report.dns_records.as_ref().unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.record_type.as_str())
            .collect::<Vec<_>>(),
        ["A", "MX", "SOA"]
    );
    assert_eq!(records[1].extra["priority"], 10);
    assert_eq!(records[2].ttl, Some(3599));
    assert_eq!(records[2].extra.len(), 6);
    assert!(
        report.undetected_urls.as_ref().unwrap()[0].is_object(),
        "objects are kept as well as arrays"
    );
    check(
        "domain-report/not-found.json",
        domain_summary,
        r#"not_found - "Domain not found""#,
    );
}

fn ip_summary(r: &IpReport) -> String {
    format!(
        "asn={:?} owner={:?} country={:?} resolutions={:?} detected={:?}",
        r.asn(),
        r.owner(),
        r.country(),
        r.resolutions_newest_first()
            .iter()
            .map(|r| r.target().unwrap_or("-"))
            .collect::<Vec<_>>(),
        r.detected_samples()
            .map(|(relation, s)| (relation, s.detection_ratio().to_string()))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn ip_report_with_a_string_asn_and_an_undated_resolution() {
    let body = check(
        "ip-address-report/asn-string-2014.json",
        ip_summary,
        r#"found - asn=Some("64496") owner=Some("Example Networks Inc.") country=Some("ZZ") resolutions=["b.example.test", "a.example.test", "c.example.test", "undated.example.test"] detected=[(Downloaded, "1/46"), (Referrer, "23/53")]"#,
    );
    let report = body.answers()[0].as_found().unwrap();
    assert_eq!(report.asn, Some(Some(vt_model::Asn::Text("64496".into()))));
    assert_eq!(
        report.resolutions.as_ref().unwrap()[2].last_resolved,
        Some(None)
    );
    assert_eq!(report.detected_urls()[0].positives, 2);
    assert_eq!(
        report.detected_samples().next().map(|(r, _)| r),
        Some(SampleRelation::Downloaded)
    );
}

#[test]
fn ip_report_with_an_integer_asn_whois_and_network() {
    let body = check(
        "ip-address-report/asn-int-whois-2019.json",
        ip_summary,
        r#"found - asn=Some("64511") owner=Some("Made Up Hosting") country=Some("ZZ") resolutions=["hosted.example.test"] detected=[]"#,
    );
    let report = body.answers()[0].as_found().unwrap();
    assert_eq!(report.asn, Some(Some(vt_model::Asn::Number(64511))));
    assert_eq!(report.network, Some(Some("203.0.113.0/24".into())));
    assert_eq!(report.continent, Some(Some("EU".into())));
    assert_eq!(report.whois_timestamp, Some(UnixTime::Whole(1561814151)));
    assert!(report.whois().unwrap().starts_with("NetRange"));
    assert_eq!(report.extra["x_future_key"], "kept");
    check(
        "ip-address-report/invalid.json",
        ip_summary,
        r#"invalid - "Invalid IP address""#,
    );
}

#[test]
fn raw_answers_decode_each_report_type_on_demand() {
    let raw = |name: &str| Bytes::from(fixture(name));

    let url = RawAnswer::<UrlReport>::parse(raw("url-report/found-detail-and-null-filescan.json"))
        .unwrap();
    assert_eq!(url.status(), Status::Found);
    assert_eq!(url.resource(), Some("Shop.Example.test/Login?next=/a,b"));
    assert_eq!(
        url.ids().url.as_deref(),
        Some("http://shop.example.test/Login?next=/a,b")
    );
    assert_eq!(
        url.as_found()
            .unwrap()
            .detection_ratio()
            .unwrap()
            .to_string(),
        "3/8"
    );

    let scan = RawAnswer::<UrlScan>::parse(raw("url-scan/queued.json")).unwrap();
    assert_eq!(scan.as_found().unwrap().url, "http://queued.example.test/");

    let domain =
        RawAnswer::<DomainReport>::parse(raw("domain-report/dns-records-int-whois-timestamp.json"))
            .unwrap();
    assert_eq!(domain.resource(), None);
    assert!(domain.ids().is_empty());
    assert_eq!(
        domain
            .as_found()
            .unwrap()
            .subdomains
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    let not_found = RawAnswer::<DomainReport>::parse(raw("domain-report/not-found.json")).unwrap();
    assert!(matches!(not_found.answer(), Ok(Answer::NotFound(_))));

    let ip =
        RawAnswer::<IpReport>::parse(raw("ip-address-report/asn-int-whois-2019.json")).unwrap();
    assert_eq!(ip.as_found().unwrap().owner(), Some("Made Up Hosting"));
    let invalid = RawAnswer::<IpReport>::parse(raw("ip-address-report/invalid.json")).unwrap();
    assert_eq!(invalid.status(), Status::Invalid);
    assert!(matches!(invalid.answer(), Ok(Answer::Invalid(_))));
}

#[test]
fn a_found_answer_of_the_wrong_shape_fails_with_its_path() {
    // A url/report answer whose engine entry has `detected` as text.
    let body = br#"{"response_code": 1, "url": "http://a.test/", "scan_id": "s", "scan_date": "2020-01-01 00:00:00", "permalink": "p", "scans": {"E": {"detected": "yes"}}}"#;
    let error = decode::<Body<UrlReport>>(body).unwrap_err();
    assert_eq!(error.as_decode().unwrap().path, "scans.E.detected");
    // A domain answer with a whois_timestamp that is not a number.
    let error = decode::<Body<DomainReport>>(br#"{"response_code": 1, "whois_timestamp": "soon"}"#)
        .unwrap_err();
    assert_eq!(error.as_decode().unwrap().path, "whois_timestamp");
    // An IP answer with a negative asn.
    let error = decode::<Body<IpReport>>(br#"{"response_code": 1, "asn": -5}"#).unwrap_err();
    assert_eq!(error.as_decode().unwrap().path, "asn");
}
