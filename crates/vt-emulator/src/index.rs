//! Lookup keys: a hash or scan_id decoded to binary, stored inline in the index, so that a
//! lookup costs one probe and no string comparison; and the index itself.

use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use vt_model::{Resource, ResourceKind};

use crate::chunks::Region;

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
        let hex = hex.as_bytes();
        // Every kind has 32, 40 or 64 digits: whole groups of eight.
        if hex.len() > 64 || hex.len() % 8 != 0 || seconds >> 56 != 0 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (bytes, digits) in digest.chunks_exact_mut(4).zip(hex.chunks_exact(8)) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(digits);
            bytes.copy_from_slice(&decode8(eight));
        }
        Some(Key {
            digest,
            tag: kind << 56 | seconds,
        })
    }
}

/// Eight hex digits (either case) to four bytes, eight at a time in one word: `detect` has
/// already checked that they are digits. A digit's value is its low four bits, plus 9 for a
/// letter (bit 6 set).
fn decode8(digits: [u8; 8]) -> [u8; 4] {
    debug_assert!(digits.iter().all(u8::is_ascii_hexdigit));
    const LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const EVEN: u64 = 0x00ff_00ff_00ff_00ff;
    let word = u64::from_le_bytes(digits);
    let values = (word & LOW) + ((word >> 6) & ONES) * 9;
    // Digit 2k is the high half of byte k: join each pair in the even byte.
    let pairs = ((values & EVEN) << 4) | ((values >> 8) & EVEN);
    [
        pairs as u8,
        (pairs >> 16) as u8,
        (pairs >> 32) as u8,
        (pairs >> 48) as u8,
    ]
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

/// What the index keeps with a key: a report's place, as five words.
pub(crate) type Value = [u32; 5];

/// Bytes per slot: the digest, the tag (0 when the slot is empty: a key's kind is never 0),
/// the value; one cache line.
const SLOT: usize = 64;
const TAG_AT: usize = 32;
const VALUE_AT: usize = 40;
/// Tables this large are mapped with the huge-page advice (a smaller one is on the heap).
const MAPPED_FROM: usize = 2 << 20;

/// The table from keys to the places of their reports: open addressing with linear probing
/// over 64-byte slots (a key and its value in one cache line), at most seven eighths full (as
/// hashbrown: the same memory as the `HashMap` it replaces).
/// Its memory is a [`Region`]: 100,000 reports make a 32 MiB table read at random, which in
/// ordinary pages costs a TLB miss on almost every lookup.
pub(crate) struct Index {
    slots: Region,
    /// How many bits of a key's hash pick its first slot.
    bits: u32,
    len: usize,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("keys", &self.len)
            .field("slots", &(1usize << self.bits))
            .finish()
    }
}

impl Default for Index {
    fn default() -> Index {
        Index::with_capacity(0)
    }
}

impl Index {
    /// A table with room for `keys` keys.
    pub(crate) fn with_capacity(keys: usize) -> Index {
        let slots = (keys * 8 / 7 + 1).next_power_of_two().max(16);
        let bytes = slots * SLOT;
        Index {
            slots: if bytes >= MAPPED_FROM {
                Region::mapped(bytes)
            } else {
                Region::heap(bytes)
            },
            bits: slots.trailing_zeros(),
            len: 0,
        }
    }

    /// The slot a key's probe starts at.
    fn home(&self, key: &Key) -> usize {
        let mut head = [0u8; 8];
        head.copy_from_slice(&key.digest[..8]);
        let hash = (u64::from_le_bytes(head) ^ key.tag).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (hash >> (64 - self.bits)) as usize
    }

    /// The slot holding `key` (`true`), or the empty one where it would go (`false`).
    fn probe(&self, key: &Key) -> (usize, bool) {
        let mask = (1 << self.bits) - 1;
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i * SLOT..(i + 1) * SLOT];
            let mut tag = [0u8; 8];
            tag.copy_from_slice(&slot[TAG_AT..VALUE_AT]);
            let tag = u64::from_le_bytes(tag);
            if tag == 0 {
                return (i, false);
            }
            if tag == key.tag && slot[..TAG_AT] == key.digest {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a key, or gives a known one a new value.
    pub(crate) fn insert(&mut self, key: Key, value: Value) {
        if (self.len + 1) * 8 > (7 << self.bits) {
            self.grow();
        }
        let (i, found) = self.probe(&key);
        let slot = &mut self.slots[i * SLOT..(i + 1) * SLOT];
        slot[..TAG_AT].copy_from_slice(&key.digest);
        slot[TAG_AT..VALUE_AT].copy_from_slice(&key.tag.to_le_bytes());
        for (bytes, word) in slot[VALUE_AT..].chunks_exact_mut(4).zip(value) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        self.len += usize::from(!found);
    }

    fn grow(&mut self) {
        let mut bigger = Index::with_capacity((1 << self.bits) * 2);
        for slot in self.slots.chunks_exact(SLOT) {
            let mut key = Key {
                digest: [0; 32],
                tag: 0,
            };
            key.digest.copy_from_slice(&slot[..TAG_AT]);
            let mut tag = [0u8; 8];
            tag.copy_from_slice(&slot[TAG_AT..VALUE_AT]);
            key.tag = u64::from_le_bytes(tag);
            if key.tag != 0 {
                bigger.insert(key, value_of(slot));
            }
        }
        *self = bigger;
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Value> {
        match self.probe(key) {
            (i, true) => Some(value_of(&self.slots[i * SLOT..(i + 1) * SLOT])),
            _ => None,
        }
    }

    /// Reads the first slot of each key, so that the cache misses of a batch's lookups
    /// overlap instead of coming one after the other (a probe loop branches on what it
    /// reads, which keeps the processor from running ahead to the next lookup).
    pub(crate) fn warm<'k>(&self, keys: impl Iterator<Item = &'k Key>) {
        let mut sum = 0u8;
        for key in keys {
            sum ^= self.slots[self.home(key) * SLOT + TAG_AT];
        }
        std::hint::black_box(sum);
    }
}

fn value_of(slot: &[u8]) -> Value {
    let mut value = [0u32; 5];
    for (word, bytes) in value.iter_mut().zip(slot[VALUE_AT..].chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(bytes);
        *word = u32::from_le_bytes(le);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_replaces_and_grows() {
        let key = |i: u32| Key::parse(&format!("{i:032x}")).unwrap();
        let mut index = Index::with_capacity(4);
        for i in 0..1000 {
            index.insert(key(i), [i, 1, 2, 3, 4]);
        }
        index.insert(key(7), [70, 0, 0, 0, 0]);
        assert_eq!(index.len, 1000);
        assert_eq!(index.get(&key(7)), Some([70, 0, 0, 0, 0]));
        for i in (0..1000).filter(|&i| i != 7) {
            assert_eq!(index.get(&key(i)), Some([i, 1, 2, 3, 4]), "{i}");
        }
        assert_eq!(index.get(&key(1000)), None);
        let sha1 = Key::parse(&format!("{:032x}00000000", 5)).unwrap();
        assert_eq!(index.get(&sha1), None, "same digest bytes, other kind");
        index.warm([key(1), key(5000)].iter());
    }

    #[test]
    fn hex_digits_decode_eight_at_a_time() {
        assert_eq!(decode8(*b"0123abcd"), [0x01, 0x23, 0xab, 0xcd]);
        assert_eq!(decode8(*b"89EFef9A"), [0x89, 0xef, 0xef, 0x9a]);
        let key = Key::parse("52D3DF0ED60C46F336C131BF2CA454F73BAFDC4B04DFA2AEA80746F5BA9E6D1C");
        assert_eq!(
            key.map(|k| k.digest[..4].to_vec()),
            Some(vec![0x52, 0xd3, 0xdf, 0x0e])
        );
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
