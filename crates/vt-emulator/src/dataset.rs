//! The reports the emulator serves, serialised once into ready bytes and indexed by hash;
//! beside the file reports, URL reports and domain and IP address answers ([`crate::sites`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use vt_model::{DecodeCategory, FileReport, FileReportAnswer, UtcTimestamp};
use vt_server::FileHashes;

use crate::chunks::{Slabs, Span};
use crate::index::{Index, Key, Value};
use crate::json_text::{self, WithoutResource};
use crate::search::Facts;
use crate::sites::Sites;
use crate::wire;
use crate::Error;

/// The bundled dataset: the documented sample and the project's own fixtures.
const BUNDLED: [(&str, &[u8]); 4] = [
    (
        "bundled/sample-2010-trojan-vb.json",
        include_bytes!("../data/sample-2010-trojan-vb.json"),
    ),
    (
        "bundled/clean-empty-file.json",
        include_bytes!("../data/clean-empty-file.json"),
    ),
    (
        "bundled/eicar-detected.json",
        include_bytes!("../data/eicar-detected.json"),
    ),
    (
        "bundled/pe-dropper-allinfo.json",
        include_bytes!("../data/pe-dropper-allinfo.json"),
    ),
];

/// The bundled URL reports (`data/url/`).
const BUNDLED_URLS: [(&str, &[u8]); 3] = [
    (
        "bundled/url/example-com-clean.json",
        include_bytes!("../data/url/example-com-clean.json"),
    ),
    (
        "bundled/url/login-example-net-detected.json",
        include_bytes!("../data/url/login-example-net-detected.json"),
    ),
    (
        "bundled/url/shop-example-org-commas.json",
        include_bytes!("../data/url/shop-example-org-commas.json"),
    ),
];

/// The bundled domain answers (`data/domain/`), by domain.
const BUNDLED_DOMAINS: [(&str, &[u8]); 2] = [
    (
        "example.com",
        include_bytes!("../data/domain/example.com.json"),
    ),
    (
        "login.example.net",
        include_bytes!("../data/domain/login.example.net.json"),
    ),
];

/// The bundled IP address answers (`data/ip-address/`), by address.
const BUNDLED_IPS: [(&str, &[u8]); 2] = [
    (
        "192.0.2.10",
        include_bytes!("../data/ip-address/192.0.2.10.json"),
    ),
    (
        "198.51.100.7",
        include_bytes!("../data/ip-address/198.51.100.7.json"),
    ),
];

/// The sub-folders of a data folder that hold the other kinds of data.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `url/`: URL reports, one or an array per file.
    Url,
    /// `domain/`: one answer per file, named after the domain.
    Domain,
    /// `ip-address/`: one answer per file, named after the IPv4 address.
    Ip,
    /// `behaviour/`: one `file/behaviour` answer per file, named after a hash of the file.
    Behaviour,
    /// `clusters/`: one `file/clusters` answer per file, named after the day (`YYYY-MM-DD`).
    Clusters,
}

const SUB_FOLDERS: [(&str, Kind); 5] = [
    ("url", Kind::Url),
    ("domain", Kind::Domain),
    ("ip-address", Kind::Ip),
    ("behaviour", Kind::Behaviour),
    ("clusters", Kind::Clusters),
];

/// Where one report's ready bytes are: the object's members, without braces and without
/// `resource`, for the allinfo view and for the public view (a prefix of the former when the
/// report's public fields come first, as in the service's plain reports). The place of
/// `resource` is kept before the members in the slab ([`wire::store_members`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    slab: u32,
    full: (u32, u32),
    public: (u32, u32),
}

impl Ready {
    /// As the index keeps it.
    fn to_value(self) -> Value {
        [
            self.slab,
            self.full.0,
            self.full.1,
            self.public.0,
            self.public.1,
        ]
    }

    fn from_value([slab, full_start, full_len, public_start, public_len]: Value) -> Ready {
        Ready {
            slab,
            full: (full_start, full_len),
            public: (public_start, public_len),
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// The SHA-256 as written in the report, lower case: the identity of the file.
    sha256: Box<str>,
    /// MD5, SHA-1, SHA-256 and scan_id, those that are hashes at all.
    keys: [Option<Key>; 4],
    scan_date: UtcTimestamp,
    ready: Ready,
    /// What `file/search` matches the report by.
    facts: Facts,
}

/// A report serialised, not yet placed in a slab.
#[derive(Debug)]
struct Compiled {
    sha256: Box<str>,
    keys: [Option<Key>; 4],
    scan_date: UtcTimestamp,
    facts: Facts,
    full: WithoutResource,
    /// The length of the public view when it is a prefix of `full` (with `resource` in the
    /// same place), else its own members.
    public: Result<usize, WithoutResource>,
}

/// A set of reports to serve, each stored once as ready JSON bytes (the allinfo view and the
/// public view) and indexed by MD5, SHA-1, SHA-256 and scan_id, whatever their case.
///
/// When two reports are of the same file (same SHA-256), the one with the most recent
/// `scan_date` is kept. Loading is all or nothing per file: a file that is not valid JSON, or
/// holds anything but reports (`response_code` 1), is refused whole with an error naming it.
///
/// ```
/// use vt_emulator::Dataset;
///
/// let mut data = Dataset::new();
/// let added = data.add_json("one.json", br#"{"response_code": 1,
///   "verbose_msg": "Scan finished, information embedded",
///   "resource": "44d88612fea8a8f36de82e1278abb02f",
///   "scan_id": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f-1549381312",
///   "md5": "44d88612fea8a8f36de82e1278abb02f", "sha1": "3395856ce81f2b7382dee72602f798b642f14140",
///   "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
///   "scan_date": "2019-02-05 15:41:52",
///   "permalink": "https://www.virustotal.com/file/275a021b/analysis/1549381312/",
///   "positives": 0, "total": 0, "scans": {}}"#)?;
/// assert_eq!(added, 1);
/// assert!(data.contains("44D88612FEA8A8F36DE82E1278ABB02F"));
///
/// let err = data.add_json("broken.json", b"{\"response_code\": 1,").unwrap_err();
/// assert!(err.to_string().starts_with("broken.json: "));
/// # Ok::<(), vt_emulator::Error>(())
/// ```
#[derive(Default)]
pub struct Dataset {
    entries: Vec<Entry>,
    by_sha256: HashMap<Box<str>, u32>,
    sites: Sites,
    slabs: Slabs,
    /// The cap on a data file's size (`None`: [`DEFAULT_MAX_DATA_FILE_SIZE`]).
    max_file_size: Option<u64>,
    /// What loading passed over.
    notes: Vec<String>,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("reports", &self.entries.len())
            .field("url_reports", &self.url_reports())
            .field("domains", &self.domains())
            .field("ip_addresses", &self.ip_addresses())
            .field("behaviours", &self.behaviours())
            .field("cluster_days", &self.cluster_days())
            .finish()
    }
}

impl Dataset {
    /// An empty dataset.
    pub fn new() -> Dataset {
        Dataset::default()
    }

    /// The small dataset served when no data is given: the sample report of the v2
    /// documentation (5 engines shown of 40) and the project's own fixtures (a clean report, a
    /// detected one, and an allinfo report of a PE file with `additional_info`), three URL
    /// reports, two domains and two IP addresses (made-up values, the service's shapes).
    pub fn bundled() -> Dataset {
        let mut data = Dataset::new();
        for (name, bytes) in BUNDLED {
            // The bundled files are checked by the crate's tests.
            if let Err(e) = data.add_json(name, bytes) {
                unreachable!("the bundled dataset is valid: {e}");
            }
        }
        for (name, bytes) in BUNDLED_URLS {
            if let Err(e) = data.add_url_json(name, bytes) {
                unreachable!("the bundled dataset is valid: {e}");
            }
        }
        for (domain, bytes) in BUNDLED_DOMAINS {
            if let Err(e) = data.add_domain_json(domain, bytes) {
                unreachable!("the bundled dataset is valid: {e}");
            }
        }
        for (ip, bytes) in BUNDLED_IPS {
            if let Err(e) = data.add_ip_json(ip, bytes) {
                unreachable!("the bundled dataset is valid: {e}");
            }
        }
        data
    }

    /// Loads a JSON file, or every `*.json` file of a folder (in name order; its other
    /// sub-folders are not read). Each file holds one file report or an array of them. A
    /// folder may also have the sub-folders `url/` (URL reports, one or an array per file),
    /// `domain/` and `ip-address/` (one answer per file, named after the domain or the IPv4
    /// address: `domain/example.com.json`, `ip-address/192.0.2.10.json`), `behaviour/` (one
    /// `file/behaviour` answer per file, named after a hash of the file) and `clusters/` (one
    /// `file/clusters` answer per file, named after the day: `clusters/2026-12-01.json`).
    /// Returns how many reports and answers were read.
    ///
    /// A path that is neither a regular file nor a folder (`/dev/zero`, a pipe) is refused, and
    /// so is a data file larger than [`Dataset::set_max_file_size`] (256 MiB unless set).
    /// What is passed over in a folder (sub-folders the emulator does not read, files not
    /// named `*.json`, in any case) is listed by [`Dataset::notes`].
    pub fn add_path(&mut self, path: impl AsRef<Path>) -> Result<usize, Error> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| read_error(path, e))?;
        if meta.is_file() {
            let bytes = self.read_file(path)?;
            return self.add_json(&path.display().to_string(), &bytes);
        }
        if !meta.is_dir() {
            return Err(Error::Data {
                file: path.display().to_string(),
                reason: "not a regular file or a folder: --data reads a JSON file or a folder of \
                         them"
                    .to_owned(),
            });
        }
        let mut added = 0;
        let listing = json_files(path)?;
        self.note_skipped(path, &listing.skipped, true);
        for file in listing.json {
            added += self.add_path(&file)?;
        }
        for (name, kind) in SUB_FOLDERS {
            let folder = path.join(name);
            if !folder.is_dir() {
                continue;
            }
            let listing = json_files(&folder)?;
            self.note_skipped(&folder, &listing.skipped, false);
            for file in listing.json {
                let bytes = self.read_file(&file)?;
                let file_name = file.display().to_string();
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let result = match kind {
                    Kind::Url => self.sites.add_urls(&mut self.slabs, &bytes),
                    Kind::Domain => self
                        .sites
                        .add_domain(&mut self.slabs, stem, &bytes)
                        .map(|()| 1),
                    Kind::Ip => self.sites.add_ip(&mut self.slabs, stem, &bytes).map(|()| 1),
                    Kind::Behaviour => self
                        .sites
                        .add_behaviour(&mut self.slabs, stem, &bytes)
                        .map(|()| 1),
                    Kind::Clusters => self
                        .sites
                        .add_clusters(&mut self.slabs, stem, &bytes)
                        .map(|()| 1),
                };
                added += result.map_err(|reason| Error::Data {
                    file: file_name,
                    reason,
                })?;
            }
        }
        Ok(added)
    }

    /// The largest data file [`Dataset::add_path`] reads, in bytes (256 MiB by default): a
    /// larger one is refused with an error naming it and the cap.
    pub fn set_max_file_size(&mut self, bytes: u64) {
        self.max_file_size = Some(bytes);
    }

    /// What [`Dataset::add_path`] passed over in the folders it read, one sentence each (the
    /// binary prints them on stderr at start-up).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// A regular file's bytes, up to the cap (read through a bounded reader: a file that
    /// grows while read is refused too).
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, Error> {
        use std::io::Read as _;
        let cap = self.max_file_size.unwrap_or(DEFAULT_MAX_DATA_FILE_SIZE);
        let too_large = || Error::Data {
            file: path.display().to_string(),
            reason: format!("larger than the cap of {} on a data file", human_size(cap)),
        };
        let file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
        let len = file.metadata().map_err(|e| read_error(path, e))?.len();
        if len > cap {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(path, e))?;
        if bytes.len() as u64 > cap {
            return Err(too_large());
        }
        Ok(bytes)
    }

    /// Notes what a folder's listing passed over.
    fn note_skipped(&mut self, folder: &Path, skipped: &Skipped, top: bool) {
        for name in &skipped.folders {
            if top && SUB_FOLDERS.iter().any(|(known, _)| known == name) {
                continue;
            }
            let read = SUB_FOLDERS.map(|(known, _)| format!("{known}/")).join(", ");
            let why = if top {
                format!("the sub-folders read are {read}")
            } else {
                "sub-folders of it are not read".to_owned()
            };
            self.notes.push(format!(
                "{}: skipped the sub-folder {name}/ ({why})",
                folder.display()
            ));
        }
        if !skipped.files.is_empty() {
            const SHOWN: usize = 5;
            let mut names = skipped.files[..skipped.files.len().min(SHOWN)].join(", ");
            if skipped.files.len() > SHOWN {
                names.push_str(&format!(", and {} more", skipped.files.len() - SHOWN));
            }
            self.notes.push(format!(
                "{}: skipped {} entr{} that {} not a *.json file: {names}",
                folder.display(),
                skipped.files.len(),
                if skipped.files.len() == 1 { "y" } else { "ies" },
                if skipped.files.len() == 1 {
                    "is"
                } else {
                    "are each"
                },
            ));
        }
    }

    /// Adds the URL reports of one JSON document (one report or an array of them: objects with
    /// `response_code` 1, `url`, `scan_id`, `scan_date` and `scans`) given in memory; `name` is
    /// what errors call it. Each is found by its `url`, its `resource` and its `scan_id`.
    /// Returns how many were read; nothing is added when any is refused.
    pub fn add_url_json(&mut self, name: &str, json: &[u8]) -> Result<usize, Error> {
        self.sites
            .add_urls(&mut self.slabs, json)
            .map_err(|reason| Error::Data {
                file: name.to_owned(),
                reason,
            })
    }

    /// Adds the `domain/report` answer of a domain (a JSON object with `response_code` 1),
    /// replacing an earlier one of the same domain (any case).
    pub fn add_domain_json(&mut self, domain: &str, json: &[u8]) -> Result<(), Error> {
        self.sites
            .add_domain(&mut self.slabs, domain, json)
            .map_err(sub_folder_error("domain", domain))
    }

    /// Adds the `ip-address/report` answer of an IPv4 address (a JSON object with
    /// `response_code` 1; `asn`, if any, a string or an integer), replacing an earlier one.
    pub fn add_ip_json(&mut self, ip: &str, json: &[u8]) -> Result<(), Error> {
        self.sites
            .add_ip(&mut self.slabs, ip, json)
            .map_err(sub_folder_error("ip-address", ip))
    }

    /// Adds the `file/behaviour` answer of a file, named after one of its hashes (MD5, SHA-1
    /// or SHA-256, any case; asking by any hash of a file the emulator knows finds it) or any
    /// other name (found by that name only). It must be a JSON object; its bytes are served as
    /// given. Replaces an earlier one of the same name.
    pub fn add_behaviour_json(&mut self, name: &str, json: &[u8]) -> Result<(), Error> {
        self.sites
            .add_behaviour(&mut self.slabs, name, json)
            .map_err(sub_folder_error("behaviour", name))
    }

    /// Adds the `file/clusters` answer of a day (`YYYY-MM-DD`). It must be a JSON object; its
    /// bytes are served as given. Replaces an earlier one of the same day.
    pub fn add_clusters_json(&mut self, day: &str, json: &[u8]) -> Result<(), Error> {
        self.sites
            .add_clusters(&mut self.slabs, day, json)
            .map_err(sub_folder_error("clusters", day))
    }

    /// How many `file/behaviour` answers the dataset holds.
    pub fn behaviours(&self) -> usize {
        self.sites.extra_counts().0
    }

    /// How many days have a `file/clusters` answer.
    pub fn cluster_days(&self) -> usize {
        self.sites.extra_counts().1
    }

    /// How many URL reports the dataset holds (distinct URLs).
    pub fn url_reports(&self) -> usize {
        self.sites.counts().0
    }

    /// How many domains the dataset has an answer for.
    pub fn domains(&self) -> usize {
        self.sites.counts().1
    }

    /// How many IP addresses the dataset has an answer for.
    pub fn ip_addresses(&self) -> usize {
        self.sites.counts().2
    }

    /// Adds the reports of one JSON document (one report, or an array of them) given in
    /// memory; `name` is what errors call it. Returns how many reports were read. Nothing is
    /// added when any part of the document is refused.
    pub fn add_json(&mut self, name: &str, json: &[u8]) -> Result<usize, Error> {
        let data_error = |reason: String| Error::Data {
            file: name.to_owned(),
            reason,
        };
        let body = vt_model::decode_body(json).map_err(|e| match e.as_decode() {
            Some(d) => {
                let what = match d.category {
                    DecodeCategory::Syntax => "not valid JSON",
                    DecodeCategory::Truncated => "not valid JSON (it ends too early)",
                    _ => "not a report",
                };
                let at = if matches!(d.path.as_str(), "" | "." | "?") {
                    String::new()
                } else {
                    format!(" at {}", d.path)
                };
                data_error(format!(
                    "{what}{at}: {} (line {}, column {})",
                    d.message, d.line, d.column
                ))
            }
            None => data_error(format!("not a report: {e}")),
        })?;
        let answers = body.into_answers();
        if answers.is_empty() {
            return Err(data_error("an empty array, not a report".to_owned()));
        }
        // Served as loaded (key and engine order, strings and numbers as written), with the
        // service's separators.
        let text = json_text::respace(json.trim_ascii());
        let texts = match text.first() {
            Some(b'[') => json_text::items(&text),
            _ => vec![text.as_slice()],
        };
        let many = answers.len() > 1;
        let mut reports = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            let item = if many {
                format!("item {i}: ")
            } else {
                String::new()
            };
            match answer {
                FileReportAnswer::Found(report) => reports.push(report),
                other => {
                    return Err(data_error(format!(
                        "{item}not a report: response_code {} ({}), not 1",
                        other.response_code(),
                        other.status()
                    )))
                }
            }
        }
        if texts.len() != reports.len() {
            return Err(data_error(
                "cannot cut the array into its reports".to_owned(),
            ));
        }
        let compiled: Vec<Compiled> = reports
            .into_iter()
            .zip(texts)
            .map(|(report, text)| compile(*report, text))
            .collect();
        let added = compiled.len();
        for report in compiled {
            self.insert(report);
        }
        Ok(added)
    }

    /// Adds one report, already decoded.
    /// Its keys are served in the model's order.
    pub fn add_report(&mut self, report: FileReport) -> Result<(), Error> {
        let json = serde_json::to_vec(&report).map_err(|e| Error::Data {
            file: "report".to_owned(),
            reason: format!("cannot encode: {e}"),
        })?;
        let text = json_text::respace(&json);
        self.insert(compile(report, &text));
        Ok(())
    }

    /// How many reports (distinct files) the dataset holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the dataset holds no report.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when a report answers this MD5, SHA-1, SHA-256 or scan_id (any case).
    pub fn contains(&self, resource: &str) -> bool {
        self.sha256_of(resource).is_some()
    }

    /// The SHA-256 (lower case) of the report that answers this resource, if any.
    pub(crate) fn sha256_of(&self, resource: &str) -> Option<&str> {
        let key = Key::parse(resource)?;
        self.entries
            .iter()
            .find(|e| e.keys.contains(&Some(key)))
            .map(|e| &*e.sha256)
    }

    /// The SHA-256 (lower case) and the keys (MD5, SHA-1, SHA-256, scan_id) of the report that
    /// answers this resource, if any.
    pub(crate) fn keys_of(&self, resource: &str) -> Option<(&str, Vec<Key>)> {
        let key = Key::parse(resource)?;
        self.entries
            .iter()
            .find(|e| e.keys.contains(&Some(key)))
            .map(|e| (&*e.sha256, e.keys.iter().flatten().copied().collect()))
    }

    /// Copies a report's bytes (both views) into one slab.
    fn place(&mut self, compiled: Compiled) -> Entry {
        let needed = wire::stored_len(&compiled.full)
            + compiled
                .public
                .as_ref()
                .map_or_else(wire::stored_len, |_| 0);
        self.slabs.reserve(needed);
        let full = wire::store_members(&mut self.slabs, &compiled.full);
        let public = match compiled.public {
            Ok(len) => (full.start, u32::try_from(len).unwrap_or(u32::MAX)),
            Err(own) => {
                let own = wire::store_members(&mut self.slabs, &own);
                (own.start, own.len)
            }
        };
        Entry {
            sha256: compiled.sha256,
            keys: compiled.keys,
            scan_date: compiled.scan_date,
            facts: compiled.facts,
            ready: Ready {
                slab: full.slab,
                full: (full.start, full.len),
                public,
            },
        }
    }

    fn insert(&mut self, compiled: Compiled) {
        match self.by_sha256.get(&compiled.sha256) {
            // Keep the most recent analysis of a file; on a tie the later one read wins.
            // (The bytes of the one dropped stay in their slab, unused.)
            Some(&i) => {
                if compiled.scan_date >= self.entries[i as usize].scan_date {
                    let entry = self.place(compiled);
                    self.entries[i as usize] = entry;
                }
            }
            None => {
                let i = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
                let entry = self.place(compiled);
                self.by_sha256.insert(entry.sha256.clone(), i);
                self.entries.push(entry);
            }
        }
    }

    /// Moves the reports into the lookup table the server answers from, and the other data
    /// beside it (in the same slabs).
    pub(crate) fn into_store(self) -> (Store, Sites) {
        // Each key holds a copy of the report's place (20 bytes): one probe finds it all.
        let keys = self.entries.iter().flat_map(|e| e.keys.iter().flatten());
        let mut index = Index::with_capacity(keys.count());
        for entry in &self.entries {
            for key in entry.keys.into_iter().flatten() {
                index.insert(key, entry.ready.to_value());
            }
        }
        let store = Store {
            index,
            reports: self.entries.len(),
            catalog: self.entries.into_iter().map(|e| e.facts).collect(),
            slabs: self.slabs,
        };
        (store, self.sites)
    }
}

/// The error of an answer refused by `Sites`, naming it as it would be in a data folder
/// (`domain/example.com`).
fn sub_folder_error<'n>(folder: &'n str, name: &'n str) -> impl FnOnce(String) -> Error + 'n {
    move |reason| Error::Data {
        file: format!("{folder}/{name}"),
        reason,
    }
}

fn read_error(path: &Path, e: std::io::Error) -> Error {
    Error::Read {
        path: path.to_owned(),
        source: Box::new(e),
    }
}

/// The cap on a data file's size unless [`Dataset::set_max_file_size`] says otherwise.
pub const DEFAULT_MAX_DATA_FILE_SIZE: u64 = 256 * 1024 * 1024;

/// `256 MiB`, `1 KiB`, or `100 bytes`.
fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// A folder's entries: its `*.json` files (any case) and what else is in it.
struct Listing {
    json: Vec<PathBuf>,
    skipped: Skipped,
}

/// The names of a folder's entries that are not read as data files.
#[derive(Default)]
struct Skipped {
    folders: Vec<String>,
    files: Vec<String>,
}

/// The `*.json` files of a folder (not of its sub-folders; the extension in any case:
/// `*.JSON` too), in name order, and the names of the other entries.
fn json_files(folder: &Path) -> Result<Listing, Error> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| read_error(folder, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(folder, e))?;
    paths.sort();
    let mut listing = Listing {
        json: Vec::new(),
        skipped: Skipped::default(),
    };
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            listing.skipped.folders.push(name);
        } else if path.is_file()
            && path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            listing.json.push(path);
        } else if !name.starts_with('.') {
            listing.skipped.files.push(name);
        }
    }
    Ok(listing)
}

/// The served reports: ready bytes and the index from lower-case keys to them.
#[derive(Debug, Default)]
pub(crate) struct Store {
    index: Index,
    reports: usize,
    /// What `file/search` matches each report by.
    catalog: Vec<Facts>,
    slabs: Slabs,
}

impl Store {
    /// Where the report for a key is.
    pub(crate) fn find(&self, key: &Key) -> Option<Ready> {
        self.index.get(key).map(Ready::from_value)
    }

    /// Brings the index slots of a batch's keys into the cache, all at once.
    pub(crate) fn warm<'k>(&self, keys: impl Iterator<Item = &'k Key>) {
        self.index.warm(keys);
    }

    /// Where the members of a report are, in the allinfo or the public view.
    pub(crate) fn members(&self, ready: Ready, allinfo: bool) -> Span {
        let (start, len) = if allinfo { ready.full } else { ready.public };
        Span {
            slab: ready.slab,
            start,
            len,
        }
    }

    /// The MD5, SHA-1 and SHA-256 a stored report gives (read back from its bytes: a rare
    /// question, asked by `file/rescan` and comments).
    pub(crate) fn hashes(&self, ready: Ready) -> Option<FileHashes> {
        #[derive(serde::Deserialize)]
        struct Hashes {
            md5: String,
            sha1: String,
            sha256: String,
        }
        let members = self.slabs.get(self.members(ready, false));
        let mut object = Vec::with_capacity(members.len() + 2);
        object.push(b'{');
        object.extend_from_slice(members);
        object.push(b'}');
        let hashes: Hashes = serde_json::from_slice(&object).ok()?;
        Some(FileHashes {
            md5: hashes.md5.to_ascii_lowercase().into(),
            sha1: hashes.sha1.to_ascii_lowercase().into(),
            sha256: hashes.sha256.to_ascii_lowercase().into(),
        })
    }

    /// The bytes of the reports.
    pub(crate) fn slabs(&self) -> &Slabs {
        &self.slabs
    }

    pub(crate) fn len(&self) -> usize {
        self.reports
    }

    /// What `file/search` matches the stored reports by, one per file.
    pub(crate) fn catalog(&self) -> &[Facts] {
        &self.catalog
    }
}

/// The top-level keys of a file report's public view (without `allinfo`): the model's
/// public fields.
pub(crate) const PUBLIC_FIELDS: [&str; 12] = [
    "response_code",
    "verbose_msg",
    "resource",
    "scan_id",
    "md5",
    "sha1",
    "sha256",
    "scan_date",
    "permalink",
    "positives",
    "total",
    "scans",
];

/// Where `resource` goes in a file report that has none: just before `response_code`, where
/// every recorded file report has it.
const RESOURCE_BEFORE: [&str; 1] = ["response_code"];

/// Cuts a report's text (re-spaced, as loaded) into its two views, without `resource`.
fn compile(report: FileReport, text: &[u8]) -> Compiled {
    let members = json_text::members(text);
    let full = json_text::without_resource(&members, &RESOURCE_BEFORE, |_| true);
    let public = json_text::without_resource(&members, &RESOURCE_BEFORE, |key| {
        PUBLIC_FIELDS.contains(&key)
    });
    let prefix = full.text.starts_with(&public.text)
        && matches!(full.text.get(public.text.len()), None | Some(b','))
        && full.split == public.split;
    let public = if prefix {
        Ok(public.text.len())
    } else {
        Err(public)
    };
    Compiled {
        facts: Facts::of_report(&report),
        sha256: report.sha256.trim().to_ascii_lowercase().into(),
        keys: [
            Key::parse(&report.md5),
            Key::parse(&report.sha1),
            Key::parse(&report.sha256),
            Key::parse(&report.scan_id),
        ],
        scan_date: report.scan_date,
        full,
        public,
    }
}
