//! The hashes the service names files by (MD5, SHA-1, SHA-256), computed while an uploaded
//! file's bytes stream past (the RustCrypto crates: see docs/design.md).

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// MD5, SHA-1 and SHA-256 of a file, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// 32 hex digits.
    pub md5: Box<str>,
    /// 40 hex digits.
    pub sha1: Box<str>,
    /// 64 hex digits.
    pub sha256: Box<str>,
}

/// The three hashes of a file fed in pieces.
#[derive(Debug, Default, Clone)]
pub struct FileHasher {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
}

impl FileHasher {
    /// Feeds the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha1.update(bytes);
        self.sha256.update(bytes);
    }

    /// The hashes of everything fed.
    pub fn finish(self) -> FileHashes {
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
    fn a_file_fed_in_pieces_has_the_hashes_the_service_gave_it() {
        // The recorded file/scan answer of a one-byte file holding "\n".
        let mut hasher = FileHasher::default();
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
