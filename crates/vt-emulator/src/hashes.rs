//! The hashes the service names files and URLs by: SHA-256 of a normalised URL (its scan_id
//! and permalink), and MD5, SHA-1 and SHA-256 of an uploaded or sample file, computed while
//! its bytes stream past (the RustCrypto crates: see docs/design.md).

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The SHA-256 of `data` as 64 lower-case hex digits.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// MD5, SHA-1 and SHA-256 of a file, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHashes {
    pub(crate) md5: Box<str>,
    pub(crate) sha1: Box<str>,
    pub(crate) sha256: Box<str>,
}

/// The three hashes of a file fed in pieces.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hasher {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
}

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha1.update(bytes);
        self.sha256.update(bytes);
    }

    pub(crate) fn finish(self) -> FileHashes {
        FileHashes {
            md5: hex(&self.md5.finalize()).into(),
            sha1: hex(&self.sha1.finalize()).into(),
            sha256: hex(&self.sha256.finalize()).into(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // What the service gave as the id of this URL (in its url/scan answer's scan_id).
        assert_eq!(
            sha256_hex(b"http://www.google.com/"),
            "dd014af5ed6b38d9130e3f466f850e46d21b951199d53a18ef29ee9341614eaf"
        );
    }

    #[test]
    fn a_file_fed_in_pieces_has_the_hashes_the_service_gave_it() {
        // The recorded file/scan answer of a one-byte file holding "\n".
        let mut hasher = Hasher::default();
        hasher.update(b"");
        hasher.update(b"\n");
        let hashes = hasher.finish();
        assert_eq!(&*hashes.md5, "68b329da9893e34099c7d8ad5cb9c940");
        assert_eq!(&*hashes.sha1, "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc");
        assert_eq!(
            &*hashes.sha256,
            "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"
        );
    }
}
