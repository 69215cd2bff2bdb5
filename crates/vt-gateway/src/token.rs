//! Team tokens: what members send as `apikey` instead of the real key.
//!
//! A token is 64 lower-case hex digits, the shape of a VirusTotal key, so that every v2
//! client takes it as one. The store keeps only its SHA-256 (with a purpose prefix): a copy
//! of the store gives no one a usable token.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::Error;

/// What a token may do beyond plain lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Allow {
    /// Submissions: `file/scan` (and its upload URL), `file/rescan`, `url/scan`,
    /// `url/report` with `scan=1`.
    pub upload: bool,
    /// `allinfo=1` on the report endpoints.
    pub allinfo: bool,
    /// The file's bytes: `file/download`, `file/network-traffic`.
    pub download: bool,
}

impl Allow {
    /// Everything.
    pub const ALL: Allow = Allow {
        upload: true,
        allinfo: true,
        download: true,
    };

    /// The permission names, as `--allow` takes them.
    pub const NAMES: [&'static str; 3] = ["upload", "allinfo", "download"];
}

impl FromStr for Allow {
    type Err = Error;

    /// `upload,allinfo,download` (any of them, any order; empty for none).
    fn from_str(text: &str) -> Result<Allow, Error> {
        let mut allow = Allow::default();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "upload" => allow.upload = true,
                "allinfo" => allow.allinfo = true,
                "download" => allow.download = true,
                _ => {
                    return Err(Error::config(format!(
                        "unknown permission {name:?}: expected any of {}",
                        Allow::NAMES.join(", ")
                    )))
                }
            }
        }
        Ok(allow)
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [self.upload, self.allinfo, self.download]
            .into_iter()
            .zip(Allow::NAMES)
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A live token as the store knows it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// Who holds it: a person, a playbook, a script.
    pub name: String,
    /// What it may do beyond lookups.
    pub allow: Allow,
    /// Requests a day it may make, if limited.
    pub per_day: Option<u32>,
}

/// A token as listed: its name, rights and whether it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token.
    pub token: Token,
    /// When it was made (milliseconds since the Unix epoch).
    pub created_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// A new token: 32 random bytes from the OS, as 64 hex digits.
pub(crate) fn new_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::config(format!("no random source: {e}")))?;
    Ok(hex(&bytes))
}

/// What the store keeps of a token: its SHA-256 under a purpose prefix, in hex. The token is
/// trimmed and lower-cased first, as clients may send the key in either case.
pub(crate) fn hash(secret: &str) -> String {
    hex(&digest(secret))
}

/// The SHA-256 that [`hash`] writes in hex; what every request computes to find its token,
/// without an allocation (the secret lower-cased a block at a time on the stack).
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    let mut sha = Sha256::new().chain_update(b"vt-gateway token\n");
    let mut block = [0u8; 64];
    for chunk in secret.trim().as_bytes().chunks(block.len()) {
        let lower = &mut block[..chunk.len()];
        lower.copy_from_slice(chunk);
        lower.make_ascii_lowercase();
        sha.update(&*lower);
    }
    sha.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    // Every request hashes its token: no formatting machinery per byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    text
}

/// A token name: what `--token NAME` and the audit show. Printable, no spaces, at most 64
/// characters, so that it reads well in a table and cannot smuggle control characters.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "token name {:?}: use 1 to 64 letters, digits, '-', '_', '.' or '@'",
            name.escape_debug().to_string()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_and_write_back() {
        let allow: Allow = "download, UPLOAD".parse().unwrap();
        assert_eq!(allow.to_string(), "upload,download");
        assert_eq!("".parse::<Allow>().unwrap(), Allow::default());
        let err = "uplaod".parse::<Allow>().unwrap_err().to_string();
        assert!(err.contains("\"uplaod\"") && err.contains("upload, allinfo, download"));
    }

    #[test]
    fn a_new_token_has_the_shape_of_a_key_and_is_stored_hashed() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&format!(" {}\n", a.to_uppercase())));
        assert!(!hash(&a).contains(&a));
    }

    #[test]
    fn a_tokens_hash_never_changes_as_stores_keep_it() {
        assert_eq!(
            hash(" ABC\n"),
            "9a6db6bc817bc93a47af4516bd7bad00290688bfe8af305a992e08029083386d"
        );
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
        // Lower-cased a block at a time: the same as the whole secret at once.
        let long = "Ab".repeat(100);
        let whole = Sha256::new()
            .chain_update(b"vt-gateway token\n")
            .chain_update(long.to_ascii_lowercase())
            .finalize();
        assert_eq!(hash(&long), hex(&whole));
    }

    #[test]
    fn token_names_are_plain() {
        assert!(check_name("alice@soc").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("x\u{1b}[2J")
            .unwrap_err()
            .to_string()
            .contains("\\u{1b}"));
    }
}
