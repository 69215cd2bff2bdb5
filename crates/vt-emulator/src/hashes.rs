//! The hash the service names URLs by: SHA-256 of a normalised URL (its scan_id and
//! permalink). Files' hashes are vt-server's ([`vt_server::FileHashes`]), computed as an
//! upload arrives.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// The SHA-256 of `data` as 64 lower-case hex digits.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for byte in Sha256::digest(data) {
        // Writing into a String cannot fail.
        let _ = write!(out, "{byte:02x}");
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
}
