//! What lets a session that keeps a mailbox's listing (POP3) serve its
//! messages without a query each: recently read bytes by content hash,
//! and per mailbox a count of commits that removed messages.
//!
//! Stored bytes never change under their hash, so the cache is never
//! stale; whether a listed message still exists is the removal count's
//! business: unchanged since the listing was made, nothing in it is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

impl Default for Contents {
    fn default() -> Contents {
        Contents {
            bytes: Cache::with_weighter(4096, CACHE_BYTES, ByLength),
            removals: Mutex::default(),
        }
    }
}

impl Store {
    /// A message's bytes if read recently.
    pub fn cached_content(&self, hash: &str) -> Option<Arc<[u8]>> {
        self.contents.bytes.get(hash)
    }

    pub(super) fn remember_content(&self, hash: &str, bytes: &[u8]) {
        if bytes.len() <= LARGEST_CACHED {
            self.contents.bytes.insert(hash.to_owned(), Arc::from(bytes));
        }
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
