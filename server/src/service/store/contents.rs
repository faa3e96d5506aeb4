//! What lets a session that keeps a mailbox's listing (POP3) serve its
//! messages without a query each: recently read bytes by content hash,
//! and per mailbox a count of commits that removed messages.
//!
//! Stored bytes never change under their hash, so the cache is never
//! stale; whether a listed message still exists is the removal count's
//! business: unchanged since the listing was made, nothing in it is gone.
//!
//! The cache serves bursts (clients that poll and download together); a
//! server gone quiet gives its memory back (`release_idle_contents`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::Store;

/// How many bytes of messages the cache holds at most.
const CACHE_BYTES: u64 = 32 << 20;
/// Larger messages are not cached (they would push out many others).
const LARGEST_CACHED: usize = 256 << 10;

#[derive(Clone)]
struct ByLength;

impl Weighter<String, Arc<[u8]>> for ByLength {
    fn weight(&self, key: &String, bytes: &Arc<[u8]>) -> u64 {
        (key.len() + bytes.len()) as u64
    }
}

pub(super) struct Contents {
    bytes: Cache<String, Arc<[u8]>, ByLength>,
    /// Mailbox id → commits that removed messages from it, as seen by
    /// this process (its own at commit, others' through the change feed).
    removals: Mutex<HashMap<i64, u64>>,
    /// When the cache was last read or written, in seconds after `born`.
    used: AtomicU64,
    born: Instant,
}

impl Contents {
    fn touch(&self) {
        self.used.store(self.born.elapsed().as_secs(), Ordering::Relaxed);
    }
}

impl Default for Contents {
    fn default() -> Contents {
        Contents {
            bytes: Cache::with_weighter(4096, CACHE_BYTES, ByLength),
            removals: Mutex::default(),
            used: AtomicU64::new(0),
            born: Instant::now(),
        }
    }
}

impl Store {
    /// A message's bytes if read recently.
    pub fn cached_content(&self, hash: &str) -> Option<Arc<[u8]>> {
        self.contents.touch();
        self.contents.bytes.get(hash)
    }

    pub(super) fn remember_content(&self, hash: &str, bytes: &[u8]) {
        if bytes.len() <= LARGEST_CACHED {
            self.contents.touch();
            self.contents.bytes.insert(hash.to_owned(), Arc::from(bytes));
        }
    }

    /// Empties the cache of message bytes when nothing has used it for
    /// `idle`: returns how many bytes it held then (0: it was in use, or
    /// empty).
    pub fn release_idle_contents(&self, idle: Duration) -> u64 {
        let contents = &self.contents;
        let quiet = contents.born.elapsed().as_secs() >= contents.used.load(Ordering::Relaxed) + idle.as_secs();
        let held = contents.bytes.weight();
        if !quiet || held == 0 {
            return 0;
        }
        contents.bytes.clear();
        held
    }

    /// How many commits removed messages from the mailbox so far (see
    /// the module's comment). Read it before the listing it vouches for.
    pub fn removals(&self, mailbox_id: i64) -> u64 {
        let counts = self.contents.removals.lock().expect("removals");
        counts.get(&mailbox_id).copied().unwrap_or(0)
    }

    /// Notes a committed removal (called after the commit).
    pub(crate) fn removed_from(&self, mailbox_id: i64) {
        let mut counts = self.contents.removals.lock().expect("removals");
        *counts.entry(mailbox_id).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cache_nobody_uses_is_emptied_and_one_in_use_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        store.remember_content("h1", &[7; 1000]);
        assert_eq!(store.release_idle_contents(Duration::from_secs(3600)), 0, "just used");
        assert!(store.cached_content("h1").is_some());
        assert!(store.release_idle_contents(Duration::ZERO) >= 1000);
        assert!(store.cached_content("h1").is_none(), "emptied");
        assert_eq!(
            store.release_idle_contents(Duration::ZERO),
            0,
            "nothing left to give back"
        );
    }
}
