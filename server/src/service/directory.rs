//! What delivery reads of the directory for every message — the primary
//! domain, the account an address goes to, the recipient's own mailbox
//! and its rules — kept on each node between deliveries. Without it an
//! LMTP delivery asked the database the same eight small questions each
//! time (four at RCPT, four before its transaction), a round trip each on
//! PostgreSQL.
//!
//! Everything kept belongs to one directory generation
//! ([`Store::directory_generation`](super::store::Store::directory_generation)),
//! which moves at every change of domains, aliases, accounts, routing,
//! rules, mailbox names and ACLs: on this node at the commit, on other
//! nodes and for the command line's changes when the change feed reads
//! the log (milliseconds on PostgreSQL, at most a poll's 200 ms on
//! SQLite). A generation that moved empties the cache.
//!
//! Only what exists is kept: an address that went nowhere is asked again
//! next time, so an account or alias made elsewhere works at once. Logins
//! never read from here (they read the password hash afresh).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use mailroom_shared::AclEntry;

use super::store::{AccountRow, MailboxRow, RuleRow};

/// Entries per kind; a full map is emptied (a site delivering to more
/// accounts at once than this reads the rest afresh, as before).
const MOST: usize = 10_000;

/// The kept answers, each map for the generation it was read in.
#[derive(Default)]
pub(super) struct Directory {
    primary_domain: Kept<(), String>,
    /// `"{default domain}\n{address as given}"` → the account it reaches.
    recipients: Kept<String, AccountRow>,
    /// (account, mailbox name) → the row and its ACL.
    mailboxes: Kept<(i64, String), (MailboxRow, Vec<AclEntry>)>,
    /// (domain, account) → the rules that run on its mail, in order.
    rules: Kept<(i64, i64), Arc<Vec<RuleRow>>>,
}

impl Directory {
    pub(super) fn primary_domain(&self) -> &Kept<(), String> {
        &self.primary_domain
    }

    pub(super) fn recipients(&self) -> &Kept<String, AccountRow> {
        &self.recipients
    }

    pub(super) fn mailboxes(&self) -> &Kept<(i64, String), (MailboxRow, Vec<AclEntry>)> {
        &self.mailboxes
    }

    pub(super) fn rules(&self) -> &Kept<(i64, i64), Arc<Vec<RuleRow>>> {
        &self.rules
    }
}

/// One map of answers read in one directory generation.
pub(super) struct Kept<K, V> {
    inner: Mutex<Generation<K, V>>,
}

struct Generation<K, V> {
    number: u64,
    answers: HashMap<K, V>,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Kept {
            inner: Mutex::new(Generation {
                number: 0,
                answers: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    /// The answer kept for `key` in `generation` (read just now).
    pub(super) fn get(&self, generation: u64, key: &K) -> Option<V> {
        let mut kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        kept.move_to(generation);
        match kept.number == generation {
            true => kept.answers.get(key).cloned(),
            false => None,
        }
    }

    /// Keeps an answer read after `generation` was: unless the directory
    /// changed since, in which case it may be stale and is dropped.
    pub(super) fn put(&self, generation: u64, key: K, value: V) {
        let mut kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        kept.move_to(generation);
        if kept.number != generation {
            return;
        }
        if kept.answers.len() >= MOST {
            kept.answers.clear();
        }
        kept.answers.insert(key, value);
    }
}

impl<K, V> Generation<K, V> {
    /// Forgets everything of an older generation. A reader that read its
    /// generation before another reader saw a newer one finds nothing.
    fn move_to(&mut self, generation: u64) {
        if generation > self.number {
            self.number = generation;
            self.answers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_live_for_one_generation() {
        let kept: Kept<&str, u32> = Kept::default();
        kept.put(1, "a", 7);
        assert_eq!(kept.get(1, &"a"), Some(7));
        assert_eq!(kept.get(2, &"a"), None, "the directory changed");
        assert_eq!(kept.get(1, &"a"), None, "nothing older comes back");
    }

    #[test]
    fn an_answer_read_before_a_change_is_not_kept() {
        let kept: Kept<&str, u32> = Kept::default();
        // A reader at generation 3 is overtaken by one at 4 (a change
        // committed while the first one read).
        assert_eq!(kept.get(4, &"b"), None);
        kept.put(3, "a", 1);
        assert_eq!(kept.get(4, &"a"), None);
        kept.put(4, "a", 2);
        assert_eq!(kept.get(4, &"a"), Some(2));
    }

    #[test]
    fn a_full_map_starts_again() {
        let kept: Kept<usize, usize> = Kept::default();
        for i in 0..=MOST {
            kept.put(1, i, i);
        }
        assert_eq!(kept.get(1, &MOST), Some(MOST));
        assert_eq!(kept.get(1, &0), None);
    }
}
