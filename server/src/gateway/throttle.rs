//! Failed-login throttling, shared by every gateway and every node: after
//! a burst of failures from one address, or against one account, further
//! attempts are refused for a while — even with the right password — so
//! guessing stays slow.
//!
//! The counting is GCRA kept in the store (one arrival time per key), so
//! failures on several nodes behind a load balancer add up and a block
//! holds whichever node the next attempt reaches. Written here rather than
//! with governor (used before): its state lives in one process's memory.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::Store;

pub struct LoginThrottle {
    store: Store,
    /// Failures forgiven per key before attempts are refused.
    burst: i64,
    /// How long one failure takes to be forgiven, in milliseconds.
    per_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl LoginThrottle {
    /// Allows `burst` failures per address and per account, then one more
    /// every `per` (so `burst` per `burst × per` in the long run).
    pub fn new(store: Store, burst: u32, per: Duration) -> LoginThrottle {
        LoginThrottle {
            store,
            burst: i64::from(burst.max(1)),
            per_ms: (per.as_millis() as i64).max(1),
        }
    }

    fn keys(ip: IpAddr, login: &str) -> [String; 2] {
        [format!("ip:{ip}"), format!("account:{}", login.trim().to_lowercase())]
    }

    /// How long attempts from `ip` or for `login` must still wait. A store
    /// that cannot answer blocks nobody (the login itself will fail).
    pub async fn wait(&self, ip: IpAddr, login: &str) -> Option<Duration> {
        let debt = match self.store.login_debt(&Self::keys(ip, login)).await {
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
    pub async fn failed(&self, ip: IpAddr, login: &str) {
        if let Err(e) = self
            .store
            .login_failed(&Self::keys(ip, login), now_ms(), self.per_ms)
            .await
        {
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
        for _ in 0..3 {
            assert_eq!(t.wait(ip, "alice").await, None);
            t.failed(ip, "alice").await;
        }
        assert_eq!(t.wait(ip, "alice").await, None, "the burst itself is allowed");
        t.failed(ip, "Alice").await;
        assert!(t.wait(ip, "bob").await.is_some(), "the address is blocked");
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.wait(other, "alice").await.is_some(), "the account is blocked");
        assert_eq!(t.wait(other, "bob").await, None);
        // A second throttle on the same store (another node) agrees.
        let node_b = LoginThrottle::new(store, 3, Duration::from_secs(60));
        assert!(node_b.wait(other, "alice").await.is_some());
    }
}
