//! Connection limits per client address and per account, shared by the
//! gateways. A [`Slot`] holds one place and gives it back when dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counters of open connections.
pub struct Connections {
    per_ip: usize,
    per_account: usize,
    ips: Arc<Counter<IpAddr>>,
    accounts: Arc<Counter<i64>>,
}

struct Counter<K>(Mutex<HashMap<K, usize>>);

impl<K: Hash + Eq + Copy + Send + Sync + 'static> Counter<K> {
    fn take(self: &Arc<Self>, key: K, limit: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        let counter = Arc::clone(self);
        Some(Slot(Some(Box::new(move || counter.give_back(key)))))
    }

    fn give_back(&self, key: K) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

/// One connection's place in a counter.
pub struct Slot(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

impl Connections {
    pub fn new(per_ip: usize, per_account: usize) -> Connections {
        Connections {
            per_ip,
            per_account,
            ips: Arc::new(Counter(Mutex::new(HashMap::new()))),
            accounts: Arc::new(Counter(Mutex::new(HashMap::new()))),
        }
    }

    /// A place for a new connection from `ip`, unless it has too many.
    pub fn from_ip(&self, ip: IpAddr) -> Option<Slot> {
        self.ips.take(ip, self.per_ip)
    }

    /// A place for a session of the account, unless it has too many.
    pub fn of_account(&self, account_id: i64) -> Option<Slot> {
        self.accounts.take(account_id, self.per_account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let c = Connections::new(2, 1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = c.from_ip(ip).unwrap();
        let _b = c.from_ip(ip).unwrap();
        assert!(c.from_ip(ip).is_none());
        assert!(c.from_ip("127.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(c.from_ip(ip).is_some());
        let s = c.of_account(7).unwrap();
        assert!(c.of_account(7).is_none());
        drop(s);
        assert!(c.of_account(7).is_some());
    }
}
