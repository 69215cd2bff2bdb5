//! Recent final answers of every lane, in memory in front of the store: a hit then costs no
//! store query, and no scan when it echoes what was asked.
//!
//! A hit from memory is the gateway's whole work for most requests, so its cost is counted in
//! cache misses: a 25-hash request reads 25 answers at random among tens of thousands. The
//! tables hold 16-byte slots (a key's hash and its entry), small enough to stay in the
//! processor's cache; a lookup finds its slot by the hash alone, then the entries of the whole
//! request are read together so that their cache misses overlap, and only then are their keys
//! compared. A hit hands out its entry (one reference count, on a line just read), not a
//! clone of the answer's `Bytes` (whose count lives elsewhere, one more miss each).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashTable;

use crate::store::StoredAnswer;

/// How long an answer in memory is served without the store being read again: the store
/// stays the authority (a newer answer kept by another gateway, a cleared cache), at most this
/// much behind.
pub(crate) const HOT_TRUST: Duration = Duration::from_secs(60);

/// What an answer in memory costs beyond its bytes, key and echo (its entry, its slot in a
/// table half full at worst), about.
const HOT_OVERHEAD: usize = 320;

/// An answer in memory: as stored, the `resource` it echoes, and when the store last had it.
#[derive(Debug)]
pub(crate) struct Hot {
    pub(crate) stored: StoredAnswer,
    pub(crate) echo: Option<Box<str>>,
    pub(crate) checked: Instant,
}

impl Hot {
    fn cost(&self, key_len: usize) -> usize {
        let echo = self.echo.as_ref().map_or(0, |echo| echo.len());
        self.stored.raw.len() + key_len + echo + HOT_OVERHEAD
    }
}

/// The longest match key kept in the map's slot itself (an MD5, SHA-1 or SHA-256, most
/// domains and addresses).
const INLINE_KEY: usize = 64;

/// A match key, in the map's slot when short: a lookup then reads the slot alone, not also a
/// key allocated among the answers (a cache and TLB miss each, half of a hit's time when the
/// keys lived on the heap).
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_KEY => {
                let mut inline = [0; INLINE_KEY];
                inline[..bytes.len()].copy_from_slice(bytes);
                Key::Inline(len, inline)
            }
            _ => Key::Heap(bytes.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Key::Heap(bytes) => bytes,
        }
    }
}

/// One answer held, with its key's hash and its key, in one allocation: a hit reads it
/// alone.
struct Entry {
    hash: u64,
    key: Key,
    /// The `resource` the answer echoes, beside the key rather than on the heap.
    echo: Option<Key>,
    stored: StoredAnswer,
    checked: Instant,
    /// What it counts against the budget.
    cost: usize,
}

impl Entry {
    /// Reads a word of each of the entry's cache lines, to bring them in.
    fn warm(&self) -> u64 {
        let key = self.key.as_bytes();
        let echo = self.echo.as_ref().map_or(&[][..], Key::as_bytes);
        let edge = |bytes: &[u8]| {
            u64::from(bytes.first().copied().unwrap_or(0) ^ bytes.last().copied().unwrap_or(0))
        };
        self.hash ^ edge(key) ^ edge(echo) ^ self.stored.response_code as u64 ^ self.cost as u64
    }
}

/// A table's slot: the entry's hash beside it, so that a probe and a rehash read no entry.
struct Slot {
    hash: u64,
    entry: Arc<Entry>,
}

/// An answer found in memory: its bytes as stored (which keep the entry alive, not a copy),
/// its `response_code` and time, and whether it echoes the text asked.
#[derive(Debug)]
pub(crate) struct HotHit {
    pub(crate) stored: StoredAnswer,
    pub(crate) echoes: bool,
}

/// Recent final answers of every lane, at most `budget` bytes: two generations, the older
/// dropped whole when the newer holds half the budget (least recently used, roughly, at the
/// cost of a move into the newer per hit in the older).
pub(crate) struct HotAnswers {
    budget: usize,
    lanes: AtomicUsize,
    hasher: hashbrown::DefaultHashBuilder,
    generations: RwLock<Generations>,
}

impl std::fmt::Debug for HotAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotAnswers")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Each generation holds one table per lane.
#[derive(Default)]
struct Generations {
    newer: Vec<HashTable<Slot>>,
    older: Vec<HashTable<Slot>>,
    newer_bytes: usize,
}

impl Generations {
    fn find<'g>(
        tables: &'g [HashTable<Slot>],
        lane: usize,
        hash: u64,
        key: &[u8],
    ) -> Option<&'g Slot> {
        tables.get(lane)?.find(hash, |slot| {
            slot.hash == hash && slot.entry.key.as_bytes() == key
        })
    }

    fn remove(
        tables: &mut [HashTable<Slot>],
        lane: usize,
        hash: u64,
        key: &[u8],
    ) -> Option<Arc<Entry>> {
        let table = tables.get_mut(lane)?;
        let found = table.find_entry(hash, |slot| {
            slot.hash == hash && slot.entry.key.as_bytes() == key
        });
        found.ok().map(|slot| slot.remove().0.entry)
    }
}

/// The slot of `lane` holding an entry whose key has `hash`, its key not compared.
fn by_hash(tables: &[HashTable<Slot>], lane: usize, hash: u64) -> Option<&Slot> {
    tables.get(lane)?.find(hash, |slot| slot.hash == hash)
}

/// Where a key's slot was found, before its entry is read.
enum Probe<'g> {
    Newer(&'g Slot),
    Older(&'g Slot),
    Neither,
}

impl HotAnswers {
    /// At most `budget` bytes of answers (none when 0).
    pub(crate) fn new(budget: usize) -> HotAnswers {
        HotAnswers {
            budget,
            lanes: AtomicUsize::new(0),
            hasher: hashbrown::DefaultHashBuilder::default(),
            generations: RwLock::new(Generations::default()),
        }
    }

    /// A number for a new lane's answers.
    pub(crate) fn lane(&self) -> usize {
        self.lanes.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_on(&self) -> bool {
        self.budget > 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Generations> {
        self.generations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Generations> {
        self.generations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The answers of `lane` to each `(match key, text asked)` that the store had less than
    /// [`HOT_TRUST`] before `now`, each with whether it echoes the text asked.
    pub(crate) fn get_many<'a>(
        &self,
        lane: usize,
        asked: impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
        now: Instant,
    ) -> Vec<Option<HotHit>> {
        if !self.is_on() {
            return asked.map(|_| None).collect();
        }
        let hashes: Vec<u64> = asked
            .clone()
            .map(|(key, _)| self.hash(key.as_bytes()))
            .collect();
        let mut promote = Vec::new();
        let hits = {
            let generations = self.read();
            // Slots first, by hash alone: the tables are small and warm, the entries are not.
            let probes: Vec<Probe<'_>> = hashes
                .iter()
                .map(|&hash| {
                    if let Some(slot) = by_hash(&generations.newer, lane, hash) {
                        Probe::Newer(slot)
                    } else if let Some(slot) = by_hash(&generations.older, lane, hash) {
                        Probe::Older(slot)
                    } else {
                        Probe::Neither
                    }
                })
                .collect();
            // Then every entry's first line at once: independent loads, whose misses overlap
            // (a loop that compared keys would wait for each in turn).
            let mut sum = 0u64;
            for probe in &probes {
                if let Probe::Newer(slot) | Probe::Older(slot) = probe {
                    sum ^= slot.entry.warm();
                }
            }
            std::hint::black_box(sum);
            asked
                .zip(probes)
                .zip(&hashes)
                .map(|(((key, text), probe), &hash)| {
                    let key = key.as_bytes();
                    let (slot, older) = match probe {
                        Probe::Newer(slot) if slot.entry.key.as_bytes() == key => (slot, false),
                        Probe::Older(slot) if slot.entry.key.as_bytes() == key => (slot, true),
                        // Another key of the same hash (rare): the whole search.
                        Probe::Newer(_) | Probe::Older(_) => {
                            match Generations::find(&generations.newer, lane, hash, key) {
                                Some(slot) => (slot, false),
                                None => (
                                    Generations::find(&generations.older, lane, hash, key)?,
                                    true,
                                ),
                            }
                        }
                        Probe::Neither => return None,
                    };
                    if older {
                        // Read again: into the newer generation, so that it outlives the older.
                        promote.push((hash, key));
                    }
                    let entry = &slot.entry;
                    let trusted = now.saturating_duration_since(entry.checked) < HOT_TRUST;
                    let echoes = entry
                        .echo
                        .as_ref()
                        .is_none_or(|echo| echo.as_bytes() == text.as_bytes());
                    trusted.then(|| HotHit {
                        stored: StoredAnswer {
                            raw: Bytes::from_owner(Body(Arc::clone(entry))),
                            response_code: entry.stored.response_code,
                            fetched_at: entry.stored.fetched_at,
                        },
                        echoes,
                    })
                })
                .collect()
        };
        if !promote.is_empty() {
            let mut generations = self.write();
            for (hash, key) in promote {
                if let Some(entry) = Generations::remove(&mut generations.older, lane, hash, key) {
                    self.insert(&mut generations, lane, entry);
                }
            }
        }
        hits
    }

    /// Holds `hot` as the answer of `lane` to the query whose match key is `key`.
    pub(crate) fn put(&self, lane: usize, key: &str, hot: Hot) {
        if !self.is_on() {
            return;
        }
        let key = key.as_bytes();
        let hash = self.hash(key);
        let entry = Arc::new(Entry {
            hash,
            key: Key::new(key),
            echo: hot.echo.as_deref().map(|echo| Key::new(echo.as_bytes())),
            cost: hot.cost(key.len()),
            stored: hot.stored,
            checked: hot.checked,
        });
        let mut generations = self.write();
        Generations::remove(&mut generations.older, lane, hash, key);
        self.insert(&mut generations, lane, entry);
    }

    fn insert(&self, generations: &mut Generations, lane: usize, entry: Arc<Entry>) {
        let cost = entry.cost;
        let half = self.budget / 2;
        if cost > half {
            return;
        }
        if generations.newer_bytes + cost > half {
            generations.older = std::mem::take(&mut generations.newer);
            generations.newer_bytes = 0;
        }
        if generations.newer.len() <= lane {
            generations.newer.resize_with(lane + 1, HashTable::new);
        }
        let hash = entry.hash;
        let table = &mut generations.newer[lane];
        let slot = Slot { hash, entry };
        match table.find_entry(hash, |held| {
            held.hash == hash && held.entry.key.as_bytes() == slot.entry.key.as_bytes()
        }) {
            Ok(mut held) => {
                let replaced = std::mem::replace(held.get_mut(), slot);
                generations.newer_bytes -= replaced.entry.cost;
            }
            Err(_) => {
                table.insert_unique(hash, slot, |held| held.hash);
            }
        }
        generations.newer_bytes += cost;
    }
}

/// An entry's answer bytes, as the owner of a [`Bytes`] handed to a client's reply.
struct Body(Arc<Entry>);

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0.stored.raw
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn answer(size: usize, at: Instant) -> Hot {
        Hot {
            stored: StoredAnswer {
                raw: Bytes::from(vec![b' '; size]),
                response_code: 1,
                fetched_at: SystemTime::now(),
            },
            echo: None,
            checked: at,
        }
    }

    fn held(hot: &HotAnswers) -> (usize, usize) {
        let generations = hot.read();
        let tables = generations.newer.iter().chain(&generations.older);
        let count = tables.clone().map(HashTable::len).sum();
        let bytes = tables
            .flat_map(HashTable::iter)
            .map(|slot| slot.entry.cost)
            .sum();
        (count, bytes)
    }

    fn has(hot: &HotAnswers, key: &str, now: Instant) -> bool {
        hot.get_many(0, [(key, "")].into_iter(), now)[0].is_some()
    }

    /// Whether `key` is held, without reading it (which moves it).
    fn holds(hot: &HotAnswers, key: &str) -> bool {
        let generations = hot.read();
        let hash = hot.hash(key.as_bytes());
        let has = |tables: &[HashTable<Slot>]| {
            Generations::find(tables, 0, hash, key.as_bytes()).is_some()
        };
        has(&generations.newer) || has(&generations.older)
    }

    #[test]
    fn memory_holds_the_latest_answers_within_its_budget() {
        let now = Instant::now();
        let hot = HotAnswers::new(100_000);
        for i in 0..1_000 {
            hot.put(0, &format!("k{i:03}"), answer(1_000, now));
            assert!(held(&hot).1 <= 100_000);
        }
        // Half the budget of the newest answers at least, never the oldest.
        let half = 50_000 / (1_000 + 4 + HOT_OVERHEAD);
        assert!((1_000 - half..1_000).all(|i| holds(&hot, &format!("k{i:03}"))));
        assert!(!holds(&hot, "k000"));
        // An answer larger than half the budget is not kept.
        hot.put(0, "big", answer(60_000, now));
        assert!(!holds(&hot, "big"));
    }

    #[test]
    fn an_answer_read_again_survives_the_older_generation() {
        let now = Instant::now();
        let hot = HotAnswers::new(20 * (1_000 + HOT_OVERHEAD + 3));
        hot.put(0, "k00", answer(1_000, now));
        for i in 1..15 {
            hot.put(0, &format!("k{i:02}"), answer(1_000, now));
        }
        // k00 is in the older generation now; reading it moves it to the newer, so that the
        // next turn, which drops the older, keeps it.
        assert!(has(&hot, "k00", now));
        for i in 15..25 {
            hot.put(0, &format!("k{i:02}"), answer(1_000, now));
        }
        assert!(has(&hot, "k00", now));
        assert!(!has(&hot, "k01", now));
    }

    #[test]
    fn the_store_is_read_again_for_an_answer_held_a_minute() {
        let then = Instant::now();
        let hot = HotAnswers::new(1 << 20);
        hot.put(0, "k", answer(10, then));
        assert!(has(&hot, "k", then + HOT_TRUST - Duration::from_secs(1)));
        assert!(!has(&hot, "k", then + HOT_TRUST));
    }

    #[test]
    fn long_and_short_keys_are_found() {
        let now = Instant::now();
        let hot = HotAnswers::new(1 << 20);
        let long = "u".repeat(200);
        let short = "44d88612fea8a8f36de82e1278abb02f";
        hot.put(0, &long, answer(10, now));
        hot.put(0, short, answer(10, now));
        assert!(has(&hot, &long, now) && has(&hot, short, now));
        assert!(!has(&hot, &long[1..], now) && !has(&hot, &short[1..], now));
        assert!(!has(&hot, &format!("{short}\0"), now));
    }

    #[test]
    fn no_budget_no_memory() {
        let now = Instant::now();
        let hot = HotAnswers::new(0);
        hot.put(0, "k", answer(10, now));
        assert!(!has(&hot, "k", now));
        assert_eq!(held(&hot), (0, 0));
    }
}
