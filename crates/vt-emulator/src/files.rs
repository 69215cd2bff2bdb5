//! The files the emulator holds bytes of (uploads and `--samples`), the scans of files
//! (uploads, rescans, `--queued`), and the one-time upload and download tokens.
//!
//! A file is known by its MD5, SHA-1 and SHA-256 and by the scan_id of its latest scan; all of
//! them lead to its SHA-256, by which everything else is kept. A scan is pending until the
//! analysis delay has passed since it started ([`crate::server::State::is_over`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vt_model::UtcTimestamp;

use vt_server::{FileHasher, FileHashes};

use crate::index::{FxBuild, Key};

/// The EICAR test file; followed by nothing but whitespace, up to 128 bytes in all, it is the
/// test file (the EICAR rules).
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The longest EICAR test file.
const EICAR_MAX: usize = 128;

/// Whether a file is the EICAR test file, from its first bytes and its size.
pub(crate) fn is_eicar(head: &[u8], size: u64) -> bool {
    size <= EICAR_MAX as u64
        && head.len() as u64 == size
        && head.starts_with(EICAR)
        && head[EICAR.len()..].iter().all(u8::is_ascii_whitespace)
}

/// Whether the file at `path`, of `size` bytes, is the EICAR test file (read only when small
/// enough to be).
pub(crate) fn is_eicar_file(path: &Path, size: u64) -> bool {
    if size > EICAR_MAX as u64 {
        return false;
    }
    std::fs::read(path).is_ok_and(|bytes| is_eicar(&bytes, size))
}

/// A file whose bytes are served (`file/download`) and whose report the emulator can make.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) hashes: FileHashes,
    pub(crate) path: PathBuf,
    /// Its network traffic (`file/network-traffic`), a pcap.
    pub(crate) pcap: Option<PathBuf>,
    /// Detected by every engine.
    pub(crate) eicar: bool,
}

impl Sample {
    /// Reads and hashes a file of a `--samples` folder; `<name>.pcap` beside it is its
    /// traffic.
    pub(crate) fn load(path: &Path) -> std::io::Result<Sample> {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path)?;
        let mut hasher = FileHasher::default();
        let mut buffer = vec![0; 64 * 1024];
        let mut head = Vec::new();
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            if head.len() <= 128 {
                head.extend_from_slice(&buffer[..n.min(129)]);
            }
            size += n as u64;
        }
        let mut pcap = path.as_os_str().to_owned();
        pcap.push(".pcap");
        let pcap = PathBuf::from(pcap);
        Ok(Sample {
            hashes: hasher.finish(),
            path: path.to_owned(),
            pcap: pcap.is_file().then_some(pcap),
            eicar: is_eicar(&head, size),
        })
    }
}

/// Why a file was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanKind {
    /// `--queued`.
    Queued,
    /// `file/scan` or an upload URL.
    Upload,
    /// `file/rescan` (which `file/rescan/delete` cancels).
    Rescan,
}

/// One scan of a file.
#[derive(Debug, Clone)]
pub(crate) struct FileScan {
    /// What a queued answer gives as `scan_id`: `<sha256>-<unix seconds>`, or the bare SHA-256
    /// for `--queued` (as before).
    pub(crate) scan_id: Box<str>,
    /// When it started, in unix seconds.
    pub(crate) unix: i64,
    /// When it started, on the emulator's clock.
    pub(crate) at: Duration,
    pub(crate) kind: ScanKind,
}

impl FileScan {
    /// A scan of `sha256` started at `unix` (`at` on the clock).
    pub(crate) fn new(sha256: &str, unix: i64, at: Duration, kind: ScanKind) -> FileScan {
        FileScan {
            scan_id: format!("{sha256}-{unix}").into(),
            unix,
            at,
            kind,
        }
    }

    /// `https://www.virustotal.com/file/<sha256>/analysis/<unix>/`.
    pub(crate) fn permalink(&self, sha256: &str) -> String {
        permalink(sha256, self.unix)
    }
}

/// The permalink of an analysis of a file.
pub(crate) fn permalink(sha256: &str, unix: i64) -> String {
    format!("https://www.virustotal.com/file/{sha256}/analysis/{unix}/")
}

/// `YYYY-MM-DD HH:MM:SS` of unix seconds.
pub(crate) fn scan_date(unix: i64) -> String {
    UtcTimestamp::from_unix_seconds(unix)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Files, scans and tokens (behind one lock in the server's state).
#[derive(Debug, Default)]
pub(crate) struct Files {
    /// Files with bytes, by SHA-256.
    samples: HashMap<Box<str>, Sample>,
    /// Every hash and scan_id known to the SHA-256 of its file.
    names: HashMap<Key, Box<str>, FxBuild>,
    /// The latest scan of each file, by SHA-256.
    scans: HashMap<Box<str>, FileScan>,
    /// Upload URLs not used yet.
    upload_tokens: HashSet<Box<str>>,
    /// Download paths not used yet, to the file they serve.
    download_tokens: HashMap<Box<str>, PathBuf>,
}

impl Files {
    /// Whether nothing at all is held (the fast path of `file/report`).
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Makes the MD5, SHA-1 and SHA-256 of a file lead to it.
    pub(crate) fn name(&mut self, hashes: &FileHashes) {
        for hash in [&hashes.md5, &hashes.sha1, &hashes.sha256] {
            self.alias(hash, &hashes.sha256);
        }
    }

    /// Makes a hash or scan_id (any case) lead to the file `sha256`.
    pub(crate) fn alias(&mut self, text: &str, sha256: &str) {
        if let Some(key) = Key::parse(text) {
            self.names.insert(key, sha256.to_ascii_lowercase().into());
        }
    }

    /// Makes a key lead to the file `sha256`.
    pub(crate) fn alias_key(&mut self, key: Key, sha256: &str) {
        self.names.insert(key, sha256.to_ascii_lowercase().into());
    }

    /// The SHA-256 of the file a hash or scan_id names, if known here.
    pub(crate) fn sha256_of(&self, key: &Key) -> Option<&str> {
        self.names.get(key).map(|s| &**s)
    }

    /// Keeps a file's bytes (replacing an earlier copy of the same file).
    pub(crate) fn add_sample(&mut self, sample: Sample) {
        self.name(&sample.hashes);
        self.samples.insert(sample.hashes.sha256.clone(), sample);
    }

    /// Every file held, in no particular order.
    pub(crate) fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.values()
    }

    pub(crate) fn sample(&self, sha256: &str) -> Option<&Sample> {
        self.samples.get(sha256)
    }

    /// The latest scan of a file.
    pub(crate) fn scan(&self, sha256: &str) -> Option<&FileScan> {
        self.scans.get(sha256)
    }

    /// Records a file's new scan, replacing the earlier one (whose scan_id no longer finds
    /// it, unless it was the bare SHA-256).
    pub(crate) fn start_scan(&mut self, sha256: &str, scan: FileScan) {
        if let Some(old) = self.scans.get(sha256) {
            self.forget_scan_id(&old.scan_id.clone());
        }
        self.alias(&scan.scan_id, sha256);
        self.scans.insert(sha256.into(), scan);
    }

    /// Cancels a file's pending rescan: `false` when its latest scan is not a rescan.
    pub(crate) fn cancel_rescan(&mut self, sha256: &str) -> bool {
        match self.scans.get(sha256) {
            Some(scan) if scan.kind == ScanKind::Rescan => {
                let scan_id = scan.scan_id.clone();
                self.forget_scan_id(&scan_id);
                self.scans.remove(sha256);
                true
            }
            _ => false,
        }
    }

    fn forget_scan_id(&mut self, scan_id: &str) {
        if scan_id.contains('-') {
            if let Some(key) = Key::parse(scan_id) {
                self.names.remove(&key);
            }
        }
    }

    pub(crate) fn add_upload_token(&mut self, token: &str) {
        self.upload_tokens.insert(token.into());
    }

    /// Whether an upload token is valid (it is spent by [`Files::spend_upload_token`]).
    pub(crate) fn has_upload_token(&self, token: &str) -> bool {
        self.upload_tokens.contains(token)
    }

    pub(crate) fn spend_upload_token(&mut self, token: &str) -> bool {
        self.upload_tokens.remove(token)
    }

    pub(crate) fn add_download_token(&mut self, token: &str, path: PathBuf) {
        self.download_tokens.insert(token.into(), path);
    }

    /// The file of a download token, which is spent.
    pub(crate) fn spend_download_token(&mut self, token: &str) -> Option<PathBuf> {
        self.download_tokens.remove(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eicar_file_is_recognised_with_trailing_whitespace_only() {
        assert!(is_eicar(EICAR, EICAR.len() as u64));
        let spaced = [EICAR, b" \r\n\t"].concat();
        assert!(is_eicar(&spaced, spaced.len() as u64));
        let more = [EICAR, b"x"].concat();
        assert!(!is_eicar(&more, more.len() as u64));
        assert!(!is_eicar(&EICAR[1..], EICAR.len() as u64 - 1));
        // The head of a larger file.
        assert!(!is_eicar(EICAR, 4096));
    }
}
