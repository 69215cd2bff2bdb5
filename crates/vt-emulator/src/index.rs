//! Lookup keys: a hash or scan_id decoded to binary, stored inline in the index, so that a
//! lookup costs one probe and no string comparison.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use vt_model::{Resource, ResourceKind};

/// An MD5, SHA-1, SHA-256 or scan_id as bytes (case no longer matters).
///
/// 40 bytes, so that a key and its report's place fill one 64-byte slot of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    digest: [u8; 32],
    /// The kind in the top byte, the seconds of a scan_id (0 otherwise) below it.
    tag: u64,
}

impl Key {
    /// The key of a validated resource.
    pub(crate) fn of(resource: &Resource) -> Option<Key> {
        Key::parse(resource.as_str())
    }

    /// The key of a text (a request's resource or a data file's hash), if it is a hash or
    /// scan_id at all (a redacted hash cannot be asked for, so it needs no key). Case does not
    /// matter: hex digits of either case decode to the same bytes. Allocates nothing.
    pub(crate) fn parse(text: &str) -> Option<Key> {
        let text = text.trim();
        let (kind, hex, seconds): (u64, &str, u64) = match ResourceKind::detect(text)? {
            ResourceKind::Md5 => (1, text, 0),
            ResourceKind::Sha1 => (2, text, 0),
            ResourceKind::Sha256 => (3, text, 0),
            ResourceKind::ScanId => {
                let (sha256, seconds) = text.split_once('-')?;
                (4, sha256, seconds.parse().ok()?)
            }
            _ => return None,
        };
        let mut digest = [0u8; 32];
        let hex = hex.as_bytes();
        if hex.len() > 64 || hex.len() % 2 != 0 || seconds >> 56 != 0 {
            return None;
        }
        for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Key {
            digest,
            tag: kind << 56 | seconds,
        })
    }
}

/// The value of each hex digit, 0xff for any other byte.
const NIBBLES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn nibble(c: u8) -> Option<u8> {
    let value = NIBBLES[c as usize];
    (value != 0xff).then_some(value)
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The digests are already uniformly spread: their first eight bytes, the kind and
        // the seconds are enough to tell keys apart in the table.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.digest[..8]);
        state.write_u64(u64::from_le_bytes(head) ^ self.tag);
    }
}

/// A multiply-and-rotate hasher (the Fx hash of rustc), much cheaper than SipHash; the keys
/// come from the loaded data and the requests of a local client, not from an adversary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_and_a_place_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<Key>(), 40);
        assert!(std::mem::size_of::<(Key, crate::dataset::Ready)>() <= 64);
    }

    #[test]
    fn keys_ignore_case_and_tell_kinds_apart() {
        let sha256 = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";
        let upper = Key::parse(&sha256.to_uppercase()).unwrap();
        assert_eq!(Key::parse(sha256), Some(upper));
        let scan = Key::parse(&format!("{sha256}-1273894724")).unwrap();
        assert_ne!(scan, upper);
        assert_ne!(Key::parse(&format!("{sha256}-1273894725")), Some(scan));
        let md5 = Key::parse("99017f6eebbac24f351415dd410d522d").unwrap();
        let sha1_zeros = Key::parse(&"0".repeat(40)).unwrap();
        let md5_zeros = Key::parse(&"0".repeat(32)).unwrap();
        assert_ne!(sha1_zeros, md5_zeros);
        assert_ne!(md5, md5_zeros);
        assert_eq!(Key::parse("1d5920f4b44b27a802bd77c4f053xxxx"), None);
    }
}
