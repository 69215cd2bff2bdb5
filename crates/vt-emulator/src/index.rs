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

impl Key {
    /// The key's hash: every byte of the digest (all 32: an MD5's or a SHA-1's unused ones
    /// are zero) and the tag, mixed. Real digests are uniform, but synthetic ones
    /// (`format!("{i:064x}")`) differ only in their last bytes, so no byte may be left out.
    /// The four words are XOR-folded, each rotated by another quarter (so that equal words
    /// do not cancel), the tag XORed in; then a 64x64-bit multiply folded in half (high XOR
    /// low), which carries every bit of the fold into the high bits the table takes (a plain
    /// multiply spreads a bit only upwards: the last bytes of a digest, high in its last
    /// word, would pick the home slot almost alone). Branch-free: four loads, a few ALU
    /// operations and one `mul`, about 0.4 ns more than the first-word hash it replaces.
    #[inline]
    fn mixed(&self) -> u64 {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.digest[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let folded = word(0)
            ^ word(1).rotate_left(16)
            ^ word(2).rotate_left(32)
            ^ word(3).rotate_left(48)
            ^ self.tag;
        let product = u128::from(folded) * u128::from(MIX);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// An odd constant with its bits well spread (2^64 divided by the golden ratio).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.mixed());
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
        Index::with_slots((keys * 8 / 7 + 1).next_power_of_two())
    }

    /// A table of `slots` slots (rounded up to a power of two, at least 16).
    fn with_slots(slots: usize) -> Index {
        let slots = slots.next_power_of_two().max(16);
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

    /// The slot a key's probe starts at: the high bits of its hash.
    #[inline]
    fn home(&self, key: &Key) -> usize {
        (key.mixed() >> (64 - self.bits)) as usize
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
        let mut bigger = Index::with_slots(2 << self.bits);
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

#[cfg(test)]
impl Index {
    /// How many slots a lookup of `key` reads (1: its home slot), and whether it found it.
    fn probe_len(&self, key: &Key) -> (usize, bool) {
        let (i, found) = self.probe(key);
        let mask = (1 << self.bits) - 1;
        (((i.wrapping_sub(self.home(key))) & mask) + 1, found)
    }

    fn slots(&self) -> usize {
        1 << self.bits
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
    use std::hash::BuildHasher;

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

    fn parse(text: &str) -> Key {
        Key::parse(text).unwrap_or_else(|| panic!("{text} is a key"))
    }

    /// The longest and the mean probe of `keys` in `index`, all expected `found` or not.
    fn probes(index: &Index, keys: impl Iterator<Item = Key>, found: bool) -> (usize, f64) {
        let (mut longest, mut total, mut n) = (0, 0, 0);
        for key in keys {
            let (len, hit) = index.probe_len(&key);
            assert_eq!(hit, found, "{key:?}");
            longest = longest.max(len);
            total += len;
            n += 1;
        }
        (longest, total as f64 / f64::from(n.max(1)))
    }

    #[test]
    fn sequential_synthetic_hashes_spread_over_the_table() {
        // What benchmarks and tests generate: zero leading bytes, the counter at the end.
        const N: u32 = 12_000;
        let sha256 = |i: u32| parse(&format!("{i:064x}"));
        let md5 = |i: u32| parse(&format!("{i:032x}"));
        let mut index = Index::default();
        for i in 0..N {
            index.insert(sha256(i), [i, 0, 0, 0, 0]);
            index.insert(md5(i), [i, 1, 0, 0, 0]);
        }
        assert_eq!(index.len, 2 * N as usize);
        for i in 0..N {
            assert_eq!(index.get(&sha256(i)), Some([i, 0, 0, 0, 0]), "{i}");
            assert_eq!(index.get(&md5(i)), Some([i, 1, 0, 0, 0]), "{i}");
        }
        let found = (0..N).flat_map(|i| [sha256(i), md5(i)]);
        let (longest, mean) = probes(&index, found, true);
        // A uniform hash at this load (24,000 keys in 32,768 slots) gives a mean of about 2
        // and a longest probe of a few dozen (here 16, 30 for absent keys); the hash of the
        // first eight bytes gave every key of a kind the same home slot (probes of 12,000
        // slots and more: this test did not end in 20 s).
        assert!(
            longest <= 64 && mean < 3.5,
            "longest {longest}, mean {mean:.2}"
        );
        let absent = (N..2 * N).flat_map(|i| [sha256(i), md5(i)]);
        let (longest, mean) = probes(&index, absent, false);
        assert!(
            longest <= 96 && mean < 8.0,
            "absent: longest {longest}, mean {mean:.2}"
        );
        // Counters at the front (the digits written left to right) spread as well.
        let mut front = Index::default();
        let sha1 = |i: u32| parse(&format!("{i:08x}{}", "0".repeat(32)));
        for i in 0..N {
            front.insert(sha1(i), [i; 5]);
        }
        let (longest, mean) = probes(&front, (0..N).map(sha1), true);
        assert!(
            longest <= 64 && mean < 3.5,
            "longest {longest}, mean {mean:.2}"
        );
    }

    #[test]
    fn every_byte_of_every_kind_moves_the_hash() {
        let fx = |key: &Key| FxBuild::default().hash_one(key);
        for digits in [32, 40, 64] {
            let zeros = "0".repeat(digits);
            let base = parse(&zeros);
            for byte in 0..digits / 2 {
                let mut text = zeros.clone().into_bytes();
                text[2 * byte + 1] = b'1';
                let moved = parse(std::str::from_utf8(&text).unwrap());
                assert_ne!(moved.mixed(), base.mixed(), "{digits} digits, byte {byte}");
                assert_ne!(fx(&moved), fx(&base), "{digits} digits, byte {byte}");
            }
        }
        let scan = |seconds: u32| parse(&format!("{}-{seconds}", "0".repeat(64)));
        assert_ne!(scan(1).mixed(), scan(2).mixed());
        assert_ne!(scan(1).mixed(), parse(&"0".repeat(64)).mixed());
    }

    #[test]
    fn the_kinds_of_one_digest_are_found_as_themselves() {
        let sha256 = "52d3df0ed60c46f336c131bf2ca454f73bafdc4b04dfa2aea80746f5ba9e6d1c";
        let texts = [
            sha256.to_owned(),
            format!("{sha256}-1273894724"),
            format!("{sha256}-1273894725"),
            // An MD5 and a SHA-1 that are the SHA-256's leading bytes.
            sha256[..32].to_owned(),
            sha256[..40].to_owned(),
            // A SHA-1 whose digest bytes are exactly the MD5's (padded with zeros).
            format!("{}00000000", &sha256[..32]),
        ];
        // A small table, so that they also meet in one run of slots.
        let mut index = Index::default();
        for (i, text) in (0..).zip(&texts) {
            index.insert(parse(text), [i, i, i, i, i]);
        }
        assert_eq!(index.len, texts.len());
        for (i, text) in (0..).zip(&texts) {
            assert_eq!(index.get(&parse(text)), Some([i; 5]), "{text}");
            assert_eq!(
                index.get(&parse(&text.to_uppercase())),
                Some([i; 5]),
                "{text} in upper case"
            );
        }
        for absent in [
            format!("{sha256}-1273894726"),
            format!("{sha256}-0"),
            sha256[..32].replace('5', "6"),
            format!("{}00000001", &sha256[..32]),
        ] {
            assert_eq!(index.get(&parse(&absent)), None, "{absent}");
        }
    }

    #[test]
    fn lookups_in_upper_case_find_what_lower_case_put_in() {
        let mut index = Index::default();
        let text = |i: u32| format!("{:08x}{i:056x}", i.wrapping_mul(0x9e37_79b9) | 0xa0a0_a0a0);
        for i in 0..2000 {
            index.insert(parse(&text(i)), [i; 5]);
        }
        for i in 0..2000 {
            let upper = text(i).to_uppercase();
            assert_ne!(upper, text(i));
            assert_eq!(index.get(&parse(&upper)), Some([i; 5]), "{upper}");
            let scan = format!("{upper}-17");
            assert_eq!(index.get(&parse(&scan)), None, "{scan}");
        }
    }

    #[test]
    fn probes_wrap_around_the_end_of_the_table() {
        let mut index = Index::default();
        let last = index.slots() - 1;
        // Keys whose home is the last slot: the second and third go on at slots 0 and 1.
        let mut at_end = (0u32..)
            .map(|i| parse(&format!("{i:064x}")))
            .filter(|k| index.home(k) == last);
        let keys: Vec<Key> = at_end.by_ref().take(3).collect();
        let absent = at_end.next().unwrap();
        for (i, key) in (0..).zip(&keys) {
            index.insert(*key, [i; 5]);
        }
        let slots: Vec<(usize, bool)> = keys.iter().map(|k| index.probe(k)).collect();
        assert_eq!(slots, [(last, true), (0, true), (1, true)]);
        for (i, key) in (0..).zip(&keys) {
            assert_eq!(index.get(key), Some([i; 5]));
        }
        assert_eq!(
            index.probe_len(&absent),
            (4, false),
            "past the end and back"
        );
        assert_eq!(index.get(&absent), None);
    }

    #[test]
    fn a_full_table_misses_absent_keys_and_grows_twofold() {
        for slots in [16, 1024] {
            let mut index = Index::with_slots(slots);
            let most = slots * 7 / 8;
            let key = |i: usize| parse(&format!("{i:040x}"));
            for i in 0..most {
                index.insert(key(i), [0; 5]);
            }
            assert_eq!(
                (index.slots(), index.len),
                (slots, most),
                "filled, not grown"
            );
            // At most `most` slots in a row are taken: a miss reads one empty slot at most
            // that far on.
            let (longest, _) = probes(&index, (most..most + 10_000).map(key), false);
            assert!(longest <= most + 1, "{longest}");
            let (longest, _) = probes(&index, (0..most).map(key), true);
            assert!(longest <= most);
            index.insert(key(most), [1; 5]);
            assert_eq!(
                (index.slots(), index.len),
                (2 * slots, most + 1),
                "twice as big"
            );
            for i in 0..=most {
                assert!(index.get(&key(i)).is_some(), "{i} kept when growing");
            }
        }
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
