//! API keys and their tiers.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The tier of an API key: what it may ask and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Tier {
    /// Quota per minute and per day, batches of up to 4, no `allinfo`.
    Public,
    /// No quota unless one is set, batches of up to 25, `allinfo` allowed.
    #[default]
    Private,
}

impl Tier {
    /// `public` or `private`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Private => "private",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "public" => Ok(Tier::Public),
            "private" => Ok(Tier::Private),
            _ => Err(Error::config(format!(
                "unknown key tier {s:?}: expected public or private"
            ))),
        }
    }
}

/// An accepted key and its tier, as given to `--key KEY[:public|:private]` (private when no
/// tier is named).
///
/// ```
/// use vt_emulator::{KeySpec, Tier};
///
/// let spec: KeySpec = "abc:public".parse()?;
/// assert_eq!((spec.key(), spec.tier()), ("abc", Tier::Public));
/// let spec: KeySpec = "abc".parse()?;
/// assert_eq!(spec.tier(), Tier::Private);
/// // A tier that does not exist is refused, naming those that do.
/// let err = "abc:gold".parse::<KeySpec>().unwrap_err();
/// assert!(err.to_string().contains("public and private"));
/// // A key with ':' in it is given with its tier.
/// let spec: KeySpec = "a:b:private".parse()?;
/// assert_eq!((spec.key(), spec.tier()), ("a:b", Tier::Private));
/// # Ok::<(), vt_emulator::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    key: String,
    tier: Tier,
}

impl KeySpec {
    /// A key of a tier; the key must not be empty.
    pub fn new(key: impl Into<String>, tier: Tier) -> Result<KeySpec, Error> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::config("an API key must not be empty"));
        }
        Ok(KeySpec { key, tier })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its tier.
    pub fn tier(&self) -> Tier {
        self.tier
    }
}

impl FromStr for KeySpec {
    type Err = Error;

    /// `KEY`, `KEY:public` or `KEY:private`. Whatever follows the last `:` must be a tier (any
    /// case): `K:gold` or `K:pubic` is refused rather than taken as a key named `K:gold`. A key
    /// that itself contains `:` is given with its tier: `a:b:private` is the key `a:b`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.rsplit_once(':') {
            Some((key, tier)) => match tier.parse() {
                Ok(tier) => KeySpec::new(key, tier),
                Err(_) => Err(Error::config(format!(
                    "unknown key tier {tier:?} (after the last ':'): the tiers are public and \
                     private; a key that contains ':' is given with its tier, e.g. {s}:private"
                ))),
            },
            None => KeySpec::new(s, Tier::Private),
        }
    }
}

/// Which keys are accepted.
#[derive(Debug)]
pub(crate) enum Keys {
    /// No key was configured: every non-empty key is private.
    AnyPrivate,
    /// Only these.
    Listed(HashMap<String, Tier>),
}

impl Keys {
    pub(crate) fn new(specs: Vec<KeySpec>) -> Keys {
        if specs.is_empty() {
            return Keys::AnyPrivate;
        }
        Keys::Listed(specs.into_iter().map(|s| (s.key, s.tier)).collect())
    }

    pub(crate) fn tier(&self, key: &str) -> Option<Tier> {
        if key.is_empty() {
            return None;
        }
        match self {
            Keys::AnyPrivate => Some(Tier::Private),
            Keys::Listed(keys) => keys.get(key).copied(),
        }
    }
}
