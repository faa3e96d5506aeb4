//! Passwords verified a moment ago: a client that logs in again with the
//! same password (a desktop client's five connections, a phone that
//! reconnects on every network change, a mail fetcher every minute) is
//! let in without hashing it again. Argon2 costs ~19 MiB and tens of
//! milliseconds per check on purpose, against guessing; paying it on every
//! connection of a known-good client made logins the slowest thing a node
//! does and held a mass reconnect (after a restart, say) behind two hashing
//! threads.
//!
//! Only successes are kept, so every wrong guess still costs a full hash
//! (and counts against the login throttle before that). An entry is a
//! SHA-256 of a key made at start, the stored hash (which a password
//! change replaces, so the old password stops matching at once) and the
//! password: what is kept is no password. Whoever reads the process's
//! memory (a core dump, swap) gets the key with the entries, and could
//! then test guesses at a recent login's password at SHA-256's speed
//! rather than Argon2's — the trade Dovecot's `auth_cache` makes too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a verified password is taken without hashing it again.
const KEPT_FOR: Duration = Duration::from_secs(15 * 60);
/// The most entries kept; beyond, the oldest half goes.
const ENTRIES: usize = 20_000;

type Entry = [u8; 32];

pub(crate) struct Verified {
    key: [u8; 32],
    entries: Mutex<HashMap<Entry, Instant>>,
}

impl Verified {
    pub(crate) fn new() -> Verified {
        Verified {
            key: rand::random(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, hash: &str, password: &str) -> Entry {
        let mut d = Sha256::new();
        d.update(self.key);
        d.update((hash.len() as u64).to_le_bytes());
        d.update(hash.as_bytes());
        d.update(password.as_bytes());
        d.finalize().into()
    }

    /// Whether `password` was verified against `hash` a short while ago.
    pub(crate) fn knows(&self, hash: &str, password: &str) -> bool {
        let entry = self.entry(hash, password);
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries.get(&entry).is_some_and(|at| at.elapsed() < KEPT_FOR)
    }

    /// Keeps that `password` matched `hash`.
    pub(crate) fn remember(&self, hash: &str, password: &str) {
        let entry = self.entry(hash, password);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= ENTRIES {
            entries.retain(|_, at| at.elapsed() < KEPT_FOR);
            if entries.len() >= ENTRIES {
                let mut ages: Vec<Instant> = entries.values().copied().collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, at| *at > cut);
            }
        }
        entries.insert(entry, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_password_and_hash_match() {
        let v = Verified::new();
        assert!(!v.knows("$argon2id$a", "secret"));
        v.remember("$argon2id$a", "secret");
        assert!(v.knows("$argon2id$a", "secret"));
        assert!(!v.knows("$argon2id$a", "Secret"), "another password");
        assert!(!v.knows("$argon2id$b", "secret"), "the password was changed");
        // The hash's length is part of the entry: no shifting of bytes
        // between hash and password makes a match.
        assert!(!v.knows("$argon2id$as", "ecret"));
    }

    #[test]
    fn a_full_cache_keeps_its_newest() {
        let v = Verified::new();
        for i in 0..ENTRIES + 10 {
            v.remember("h", &i.to_string());
        }
        assert!(v.entries.lock().unwrap().len() <= ENTRIES);
        assert!(v.knows("h", &(ENTRIES + 9).to_string()));
    }
}
