//! Failed-login throttling, kept by [`Service::authenticate`] for every
//! gateway and every node: after a burst of failures from one address, or
//! against one account (however its name was typed: `alice`,
//! `alice@domain` or an alias), further attempts are refused for a while —
//! even with the right password — so guessing stays slow.
//!
//! [`Service::authenticate`]: super::Service::authenticate
//!
//! The counting is GCRA kept in the store (one arrival time per key), so
//! failures on several nodes behind a load balancer add up and a block
//! holds whichever node the next attempt reaches. Written here rather than
//! with governor (used before): its state lives in one process's memory.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::store::Store;

pub(super) struct LoginThrottle {
    store: Store,
    /// Failures forgiven per key before attempts are refused.
    burst: i64,
    /// How long one failure takes to be forgiven, in milliseconds.
    per_ms: i64,
}

/// What one login attempt is counted against: the client's address, and
/// the account the login names (or, for a name that reaches no account,
/// the name as typed, so unknown names are throttled alike).
pub(super) struct Attempt {
    keys: [String; 2],
}

impl Attempt {
    pub(super) fn new(client: IpAddr, account_id: Option<i64>, login: &str) -> Attempt {
        let account = match account_id {
            Some(id) => format!("account:{id}"),
            None => format!("login:{}", login.trim().to_lowercase()),
        };
        Attempt {
            keys: [format!("ip:{client}"), account],
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl LoginThrottle {
    /// Allows `burst` failures per address and per account, then one more
    /// every `per` (so `burst` per `burst × per` in the long run).
    pub(super) fn new(store: Store, burst: u32, per: Duration) -> LoginThrottle {
        LoginThrottle {
            store,
            burst: i64::from(burst.max(1)),
            per_ms: (per.as_millis() as i64).max(1),
        }
    }

    /// How long attempts from `ip` or for `login` must still wait. A store
    /// that cannot answer blocks nobody (the login itself will fail).
    pub(super) async fn wait(&self, login: &Attempt) -> Option<Duration> {
        let debt = match self.store.login_debt(&login.keys).await {
            Ok(tat) => tat,
            Err(e) => {
                tracing::warn!("login throttle: {e}");
                return None;
            }
        };
        let blocked_until = debt - self.burst * self.per_ms;
        let now = now_ms();
        (blocked_until > now).then(|| Duration::from_millis((blocked_until - now) as u64))
    }

    /// Records a failed attempt.
    pub(super) async fn failed(&self, login: &Attempt) {
        if let Err(e) = self.store.login_failed(&login.keys, now_ms(), self.per_ms).await {
            tracing::warn!("login throttle: cannot count a failed login: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_failures_blocks_the_address_and_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let t = LoginThrottle::new(store.clone(), 3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let alice = |from| Attempt::new(from, Some(7), "alice");
        for _ in 0..3 {
            assert_eq!(t.wait(&alice(ip)).await, None);
            t.failed(&alice(ip)).await;
        }
        assert_eq!(t.wait(&alice(ip)).await, None, "the burst itself is allowed");
        // The same account, named another way.
        t.failed(&Attempt::new(ip, Some(7), "Alice@Example.org")).await;
        assert!(
            t.wait(&Attempt::new(ip, Some(8), "bob")).await.is_some(),
            "the address is blocked"
        );
        assert!(t.wait(&alice(other)).await.is_some(), "the account is blocked");
        assert_eq!(t.wait(&Attempt::new(other, Some(8), "bob")).await, None);
        assert_eq!(
            t.wait(&Attempt::new(other, None, "alice")).await,
            None,
            "an unknown name is its own key"
        );
        // A second throttle on the same store (another node) agrees.
        let node_b = LoginThrottle::new(store, 3, Duration::from_secs(60));
        assert!(node_b.wait(&alice(other)).await.is_some());
    }
}
