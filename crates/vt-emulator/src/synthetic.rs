//! Reproducible synthetic data for soak and load tests: reports in the shape of the service's
//! answers, and a list of resources that asks for them the way real input lists do (known
//! hashes in every form, unknown ones, repeats).
//!
//! This file uses `std` only, so that tools which must not build the server (the workspace's
//! `xtask`) can include it with `#[path]` and generate exactly the same data.

use std::fmt::Write as _;

/// SplitMix64: tiny, fast and reproducible; good enough to pick faults and make test data.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(dead_code)] // the faults' draw; unused where this file is included alone
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `digits` random lower-case hex digits.
    fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits + 16);
        while out.len() < digits {
            let _ = write!(out, "{:016x}", self.next_u64());
        }
        out.truncate(digits);
        out
    }
}

/// Report number `i` of a benchmark's dataset, shaped like the service's (the size and
/// layout of a real answer: `engines` engines, a third of them detecting, and a few allinfo
/// fields), with its hashes. The same `i` gives the same report; different ones, different
/// files.
///
/// ```
/// let report = vt_emulator::ServiceReport::generate(7, 60);
/// assert_eq!((report.md5.len(), report.sha1.len(), report.sha256.len()), (32, 40, 64));
/// assert_eq!(vt_emulator::ServiceReport::generate(7, 60).json, report.json);
/// let mut dataset = vt_emulator::Dataset::new();
/// dataset.add_json("generated", report.json.as_bytes())?;
/// # Ok::<(), vt_emulator::Error>(())
/// ```
#[derive(Debug, Clone)]
#[allow(dead_code)] // the benchmarks' data; unused where this file is included alone
pub struct ServiceReport {
    /// Its MD5, in lower case.
    pub md5: String,
    /// Its SHA-1, in lower case.
    pub sha1: String,
    /// Its SHA-256, in lower case.
    pub sha256: String,
    /// The report, as one JSON object (what `Dataset::add_json` takes).
    pub json: String,
}

#[allow(dead_code)] // the benchmarks' data; unused where this file is included alone
impl ServiceReport {
    /// Report `i`, with `engines` engines.
    pub fn generate(i: u64, engines: usize) -> ServiceReport {
        let mix = |z: u64| SplitMix64(z).next_u64();
        let hex = |seed: u64, digits: usize| {
            let mut out = String::with_capacity(digits + 16);
            let mut n = 0;
            while out.len() < digits {
                let _ = write!(out, "{:016x}", mix(seed.wrapping_mul(31).wrapping_add(n)));
                n += 1;
            }
            out.truncate(digits);
            out
        };
        let (md5, sha1, sha256) = (hex(i * 3, 32), hex(i * 3 + 1, 40), hex(i * 3 + 2, 64));
        let unix = 1_500_000_000 + i * 37;
        let mut scans = String::new();
        let mut positives = 0;
        for e in 0..engines {
            let detected = mix(i ^ ((e as u64) << 20)).is_multiple_of(3);
            positives += usize::from(detected);
            let result = if detected {
                format!("\"Trojan.Generic.{}\"", mix(i + e as u64) % 100_000)
            } else {
                "null".to_owned()
            };
            if e > 0 {
                scans.push(',');
            }
            let _ = write!(
                scans,
                "\"Engine-{e:02}\":{{\"detected\":{detected},\"version\":\"{e}.{}.0.1\",\"result\":{result},\"update\":\"20240611\"}}",
                i % 97
            );
        }
        let json = format!(
            "{{\"response_code\":1,\"verbose_msg\":\"Scan finished, information embedded\",\
             \"resource\":\"{md5}\",\"scan_id\":\"{sha256}-{unix}\",\"md5\":\"{md5}\",\"sha1\":\"{sha1}\",\
             \"sha256\":\"{sha256}\",\"scan_date\":\"2024-06-11 10:30:00\",\
             \"permalink\":\"https://www.virustotal.com/file/{sha256}/analysis/{unix}/\",\
             \"positives\":{positives},\"total\":{engines},\"scans\":{{{scans}}},\
             \"first_seen\":\"2020-01-01 00:00:00\",\"size\":{},\"type\":\"Win32 EXE\",\"tags\":[\"peexe\"]}}",
            1000 + i
        );
        ServiceReport {
            md5,
            sha1,
            sha256,
            json,
        }
    }
}

/// The faults of a soak run (issue #6), as `vt-emulator --fault` takes them: 12% of requests
/// meet one.
pub const SOAK_FAULTS: [&str; 5] = [
    "500:0.05",
    "reset:0.02",
    "truncate:0.02",
    "slow:0.01",
    "204:0.02",
];

/// The engines of every synthetic report.
const ENGINES: [&str; 4] = ["Avast", "ClamAV", "Kaspersky", "Microsoft"];

/// Synthetic reports and a list of resources asking for them.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The reports, as one JSON array (what `--data` and `Dataset::add_json` take).
    pub reports_json: String,
    /// How many reports.
    pub reports: usize,
    /// The resources, in input order: 55% known (by SHA-256, or by MD5 or SHA-1 in upper
    /// case), 35% unknown (SHA-256s and MD5s), 10% repeats of an earlier input.
    pub inputs: Vec<String>,
}

impl Synthetic {
    /// `inputs` resources and half as many reports, the same for the same `seed`.
    ///
    /// ```
    /// let data = vt_emulator::Synthetic::generate(100, 7);
    /// assert_eq!((data.inputs.len(), data.reports), (100, 50));
    /// let mut dataset = vt_emulator::Dataset::new();
    /// dataset.add_json("synthetic", data.reports_json.as_bytes())?;
    /// assert_eq!(vt_emulator::Synthetic::generate(100, 7).inputs, data.inputs);
    /// # Ok::<(), vt_emulator::Error>(())
    /// ```
    pub fn generate(inputs: usize, seed: u64) -> Synthetic {
        let mut rng = SplitMix64(seed ^ 0x5eed);
        let reports = (inputs / 2).max(1);
        let mut hashes = Vec::with_capacity(reports);
        let mut json = String::from("[");
        for i in 0..reports {
            let (md5, sha1, sha256) = (rng.hex(32), rng.hex(40), rng.hex(64));
            let positives = i % (ENGINES.len() + 1);
            if i > 0 {
                json.push(',');
            }
            let _ = write!(
                json,
                r#"{{"response_code":1,"verbose_msg":"Scan finished, information embedded","resource":"{sha256}","scan_id":"{sha256}-1735732800","md5":"{md5}","sha1":"{sha1}","sha256":"{sha256}","scan_date":"2025-01-01 12:00:00","permalink":"https://www.virustotal.com/file/{sha256}/analysis/1735732800/","positives":{positives},"total":{},"scans":{{"#,
                ENGINES.len()
            );
            for (k, engine) in ENGINES.iter().enumerate() {
                let detected = k < positives;
                let result = if detected {
                    format!("\"Trojan.Gen.{}\"", i % 97)
                } else {
                    "null".to_owned()
                };
                let comma = if k > 0 { "," } else { "" };
                let _ = write!(
                    json,
                    r#"{comma}"{engine}":{{"detected":{detected},"version":"1.0","result":{result},"update":"20250101"}}"#
                );
            }
            json.push_str("}}");
            hashes.push((md5, sha1, sha256));
        }
        json.push(']');
        let mut list: Vec<String> = Vec::with_capacity(inputs);
        for _ in 0..inputs {
            let roll = rng.below(100);
            let input = if roll < 55 {
                let (md5, sha1, sha256) = &hashes[rng.below(reports)];
                match rng.below(10) {
                    0 | 1 => md5.to_ascii_uppercase(),
                    2 | 3 => sha1.to_ascii_uppercase(),
                    _ => sha256.clone(),
                }
            } else if roll < 90 || list.is_empty() {
                rng.hex(if roll.is_multiple_of(2) { 64 } else { 32 })
            } else {
                list[rng.below(list.len())].clone()
            };
            list.push(input);
        }
        Synthetic {
            reports_json: json,
            reports,
            inputs: list,
        }
    }
}
