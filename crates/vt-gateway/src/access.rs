//! Who may ask what: tokens (looked up in the store, remembered briefly), their daily limit,
//! and the fair share of a scarce upstream quota between them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::store::{now_ms, Store, DAY_MS};
use crate::token::Token;
use crate::Error;

/// How long a token's lookup (found or not) is remembered: a revocation reaches every gateway
/// on the store within this time.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(1);
/// How long a token's count of the day is remembered before the store is asked again.
const USAGE_TTL: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// Tokens looked up (found or not) by the SHA-256 of their secret (never the secret itself),
/// and when; shared, not cloned, with each request that presents one.
type Remembered = HashMap<[u8; 32], (Option<Arc<Token>>, Instant)>;

#[derive(Debug, Default)]
pub(crate) struct Access {
    tokens: Mutex<Remembered>,
    usage: Mutex<HashMap<String, Usage>>,
    share: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// A token's requests of the last day: the store's count when last read, and this gateway's
/// since.
#[derive(Debug)]
struct Usage {
    stored: u64,
    read_at: Instant,
    since: u64,
}

impl Access {
    /// The live token sent as `apikey`, if any.
    pub(crate) async fn token(
        &self,
        store: &Store,
        secret: &str,
    ) -> Result<Option<Arc<Token>>, Error> {
        let digest = crate::token::digest(secret);
        if let Some((token, at)) = self.lock_tokens().get(&digest) {
            if at.elapsed() < TOKEN_TTL {
                return Ok(token.clone());
            }
        }
        let token = store.find_token(secret).await?.map(Arc::new);
        let mut tokens = self.lock_tokens();
        // Bounded: a client trying many keys must not grow the map without end.
        if tokens.len() > 10_000 {
            tokens.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
        }
        tokens.insert(digest, (token.clone(), Instant::now()));
        Ok(token)
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `token` may make one more request today; counts it when it may.
    pub(crate) async fn take_daily(&self, store: &Store, token: &Token) -> Result<bool, Error> {
        let Some(per_day) = token.per_day else {
            return Ok(true);
        };
        let fresh = self
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token.name)
            .is_some_and(|u| u.read_at.elapsed() < USAGE_TTL);
        if !fresh {
            let stored = store.used_since(&token.name, now_ms() - DAY_MS).await?;
            self.usage.lock().unwrap_or_else(|e| e.into_inner()).insert(
                token.name.clone(),
                Usage {
                    stored,
                    read_at: Instant::now(),
                    since: 0,
                },
            );
        }
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let Some(usage) = usage.get_mut(&token.name) else {
            return Ok(true);
        };
        if usage.stored + usage.since >= u64::from(per_day) {
            return Ok(false);
        }
        usage.since += 1;
        Ok(true)
    }

    /// Whether `token` may have `cost` more resources asked upstream now, when the key can
    /// answer `capacity` resources a minute (its requests a minute times its batch size):
    /// each token active in the last minute gets an equal share (at least one resource), a
    /// token alone gets all of it.
    pub(crate) fn take_share(&self, token: &str, capacity: Option<u32>, cost: usize) -> bool {
        let Some(capacity) = capacity else {
            return true;
        };
        let now = Instant::now();
        let mut share = self.share.lock().unwrap_or_else(|e| e.into_inner());
        share.retain(|_, asked| {
            while asked
                .front()
                .is_some_and(|t| now.duration_since(*t) >= MINUTE)
            {
                asked.pop_front();
            }
            !asked.is_empty()
        });
        let active = share.len() + usize::from(!share.contains_key(token));
        let mine = (capacity as usize / active).max(1);
        let asked = share.entry(token.to_owned()).or_default();
        // A request larger than a whole share still goes when the token has asked nothing.
        if !asked.is_empty() && asked.len() + cost > mine {
            return false;
        }
        asked.extend(std::iter::repeat_n(now, cost));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scarce_quota_is_shared_between_the_active_tokens() {
        let access = Access::default();
        // Alone, a token may use the whole minute (16 resources: 4 requests of 4).
        assert!(access.take_share("alice", Some(16), 12));
        assert!(access.take_share("alice", Some(16), 4));
        assert!(!access.take_share("alice", Some(16), 1));
        // A second token still gets its share, and alice no more.
        assert!(access.take_share("bob", Some(16), 4));
        assert!(!access.take_share("alice", Some(16), 1));
        // Without a per-minute limit there is nothing to share.
        assert!(access.take_share("alice", None, 100));
    }
}
