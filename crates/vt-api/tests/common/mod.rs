//! Shared by the vt-api tests: a mockall transport, and helpers to read requests and write
//! answers as the service does.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use vt_api::{ApiKey, Client, Tier};
use vt_transport::{async_trait, Transport};

pub const KEY: &str = "k3y-s3cr3t-0123456789abcdef0123456789abcdef0123456789abcdef012345";

/// The network, mocked: `send` is what mockall counts and orders.
pub trait Network: Send + Sync {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, vt_transport::Error>;
}

mockall::mock! {
    pub Transport {}
    impl Network for Transport {
        fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, vt_transport::Error>;
    }
}

impl std::fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockTransport")
    }
}

#[async_trait]
impl Transport for MockTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, vt_transport::Error> {
        Network::send(self, request)
    }
}

/// A client on `transport` with fast retries, for `tier`.
pub fn client(transport: Arc<dyn Transport>, tier: Tier) -> Client {
    Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2")
        .tier(tier)
        .transport(transport)
        .build()
        .unwrap()
}

/// The parameters of a request: the form body for POST, the query for GET.
pub fn params(request: &http::Request<Bytes>) -> HashMap<String, String> {
    let raw = if request.method() == http::Method::POST {
        String::from_utf8(request.body().to_vec()).unwrap()
    } else {
        request.uri().query().unwrap_or("").to_owned()
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The resources asked by a request, as sent.
pub fn asked(request: &http::Request<Bytes>) -> Vec<String> {
    params(request)["resource"]
        .split(',')
        .map(|r| r.trim().to_owned())
        .collect()
}

pub fn response(status: u16, body: impl Into<Bytes>) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(body.into())
        .unwrap()
}

/// The service's "not found" answer for `resource`.
pub fn not_found(resource: &str) -> serde_json::Value {
    serde_json::json!({
        "response_code": 0,
        "resource": resource,
        "verbose_msg": "The requested resource is not among the finished, queued or pending scans",
    })
}

/// A found report for `resource` with `positives` of 3 engines.
pub fn found(resource: &str, positives: u32) -> serde_json::Value {
    let sha256 = format!("{:0>64}", resource.to_ascii_lowercase());
    let sha256 = &sha256[sha256.len() - 64..];
    let mut scans = serde_json::Map::new();
    for (i, engine) in ["Alpha", "Beta", "Gamma"].iter().enumerate() {
        let detected = (i as u32) < positives;
        scans.insert(
            engine.to_string(),
            serde_json::json!({"detected": detected, "version": "1.0", "result": if detected { "Trojan.Test" } else { "" }, "update": "20261120"}),
        );
    }
    serde_json::json!({
        "response_code": 1,
        "verbose_msg": "Scan finished, information embedded",
        "resource": resource,
        "scan_id": format!("{sha256}-1795000000"),
        "md5": hash_or_zeros(resource, 32), "sha1": hash_or_zeros(resource, 40), "sha256": sha256,
        "scan_date": "2026-11-18 08:53:20",
        "permalink": format!("https://www.virustotal.com/file/{sha256}/analysis/1795000000/"),
        "positives": positives, "total": 3, "scans": scans,
    })
}

/// `resource` (lower case) when it is a hash of `len` digits, else zeros: a report's hashes
/// never contradict the question it answers.
fn hash_or_zeros(resource: &str, len: usize) -> String {
    match resource.len() == len {
        true => resource.to_ascii_lowercase(),
        false => "0".repeat(len),
    }
}

/// The body the service sends for these answers: an object for one, an array for several.
pub fn body_of(answers: Vec<serde_json::Value>) -> Bytes {
    let value = if answers.len() == 1 {
        answers.into_iter().next().unwrap()
    } else {
        serde_json::Value::Array(answers)
    };
    Bytes::from(serde_json::to_vec(&value).unwrap())
}

/// `n` distinct MD5-shaped resources.
pub fn md5s(n: usize) -> Vec<vt_api::Resource> {
    (0..n)
        .map(|i| format!("{i:032x}").parse().unwrap())
        .collect()
}

/// What an outcome came to: its status (`found`, `not_found`, ...) or its error's kind.
pub fn kind_of(outcome: &vt_api::FileReportOutcome) -> &'static str {
    match &outcome.result {
        Ok(answer) => answer.status().as_str(),
        Err(error) => error.kind(),
    }
}

/// [`kind_of`] each outcome of looking `resources` up, in input order.
pub async fn kinds(client: &Client, resources: Vec<vt_api::Resource>) -> Vec<&'static str> {
    let mut outcomes = client.file_reports(resources, false);
    let mut all = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        all.push(kind_of(&outcome));
    }
    all
}

/// A client of vt.test with `cache` (answers of any age), private tier.
pub fn cached(transport: Arc<dyn Transport>, cache: &Arc<vt_api::Cache>) -> Client {
    Client::builder(ApiKey::new(KEY))
        .base_url("https://vt.test/vtapi/v2/")
        .tier(Tier::Private)
        .transport(transport)
        .cache(Arc::clone(cache), None)
        .build()
        .unwrap()
}
