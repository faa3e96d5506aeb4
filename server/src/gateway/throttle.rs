//! Failed-login throttling, shared by every gateway: after a burst of
//! failures from one address, or against one account, further attempts
//! are refused for a while — even with the right password — so guessing
//! stays slow. governor's GCRA does the counting; the time until the next
//! allowed attempt is remembered so that checking costs no token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Ip(IpAddr),
    Account(String),
}

pub struct LoginThrottle {
    failures: DefaultKeyedRateLimiter<Key>,
    blocked: Mutex<HashMap<Key, Instant>>,
}

impl LoginThrottle {
    /// Allows `burst` failures per address and per account, then one more
    /// every `per` (so `burst` per `burst × per` in the long run).
    pub fn new(burst: u32, per: Duration) -> LoginThrottle {
        let burst = NonZeroU32::new(burst.max(1)).expect("at least one");
        let quota = Quota::with_period(per.max(Duration::from_millis(1)))
            .expect("non-zero period")
            .allow_burst(burst);
        LoginThrottle {
            failures: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: IpAddr, login: &str) -> [Key; 2] {
        [Key::Ip(ip), Key::Account(login.trim().to_lowercase())]
    }

    /// How long attempts from `ip` or for `login` must still wait.
    pub fn wait(&self, ip: IpAddr, login: &str) -> Option<Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        Self::keys(ip, login)
            .iter()
            .filter_map(|k| blocked.get(k))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, ip: IpAddr, login: &str) {
        let clock = DefaultClock::default();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if blocked.len() > 10_000 {
            blocked.retain(|_, until| *until > now);
            self.failures.retain_recent();
        }
        for key in Self::keys(ip, login) {
            if let Err(not_until) = self.failures.check_key(&key) {
                blocked.insert(key, now + not_until.wait_time_from(clock.now()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_blocks_the_address_and_the_account() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.wait(ip, "alice"), None);
            t.failed(ip, "alice");
        }
        assert_eq!(t.wait(ip, "alice"), None, "the burst itself is allowed");
        t.failed(ip, "Alice");
        assert!(t.wait(ip, "bob").is_some(), "the address is blocked");
        assert!(
            t.wait("10.0.0.2".parse().unwrap(), "alice").is_some(),
            "the account is blocked"
        );
        assert_eq!(t.wait("10.0.0.2".parse().unwrap(), "bob"), None);
    }
}
