//! Failed logins: slowed, then refused with 429, per username and per client address.
//!
//! Kept in memory: a restart forgets it, and several instances behind a load balancer
//! each keep their own. Successful logins are never counted, so one attacked username
//! or address does not lock out other users.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct LimitPolicy {
    /// Failures are forgotten this long after the first one of a run.
    pub window: Duration,
    /// Failures per username answered at once.
    pub user_free: u32,
    /// Failures per username after which it is locked.
    pub user_max: u32,
    /// Failures per address answered at once.
    pub addr_free: u32,
    /// Failures per address after which it is locked.
    pub addr_max: u32,
    /// Extra wait per failure beyond the free ones.
    pub delay_step: Duration,
    /// Longest wait.
    pub max_delay: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
    /// Most keys remembered (older runs are dropped first when full).
    pub max_tracked: usize,
}

/// Today's limits.
pub const DEFAULT_POLICY: LimitPolicy = LimitPolicy {
    window: Duration::from_secs(15 * 60),
    user_free: 3,
    user_max: 8,
    addr_free: 10,
    addr_max: 50,
    delay_step: Duration::from_millis(250),
    max_delay: Duration::from_secs(2),
    lockout: Duration::from_secs(5 * 60),
    max_tracked: 100_000,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Run {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// Counts failures and says how long to wait or whether to refuse.
#[derive(Debug)]
pub struct LoginLimiter {
    policy: LimitPolicy,
    runs: Mutex<HashMap<Key, Run>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(DEFAULT_POLICY)
    }
}

impl LoginLimiter {
    /// A limiter with `policy`.
    pub fn new(policy: LimitPolicy) -> Self {
        LoginLimiter {
            policy,
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// Before checking a password: `Ok(delay)` to wait first, or `Err(retry_after)`.
    pub fn check(&self, username: Option<&str>, addr: IpAddr) -> Result<Duration, Duration> {
        let now = Instant::now();
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let mut delay = Duration::ZERO;
        let keys = [
            username.map(|u| Key::User(u.to_lowercase())),
            Some(Key::Addr(addr)),
        ];
        for key in keys.into_iter().flatten() {
            let Some(run) = runs.get(&key) else { continue };
            if let Some(until) = run.locked_until {
                if until > now {
                    return Err(until - now);
                }
                continue;
            }
            if now.duration_since(run.first) > self.policy.window {
                continue;
            }
            let free = match key {
                Key::User(_) => self.policy.user_free,
                Key::Addr(_) => self.policy.addr_free,
            };
            let extra = run.failures.saturating_sub(free);
            delay = delay.max((self.policy.delay_step * extra).min(self.policy.max_delay));
        }
        Ok(delay)
    }

    /// After a failed attempt.
    pub fn record_failure(&self, username: Option<&str>, addr: IpAddr) {
        let now = Instant::now();
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if runs.len() >= self.policy.max_tracked {
            let window = self.policy.window;
            runs.retain(|_, run| {
                now.duration_since(run.first) <= window
                    || run.locked_until.is_some_and(|until| until > now)
            });
        }
        let keys = [
            username.map(|u| Key::User(u.to_lowercase())),
            Some(Key::Addr(addr)),
        ];
        for key in keys.into_iter().flatten() {
            let max = match key {
                Key::User(_) => self.policy.user_max,
                Key::Addr(_) => self.policy.addr_max,
            };
            if runs.len() >= self.policy.max_tracked && !runs.contains_key(&key) {
                continue;
            }
            let run = runs.entry(key).or_insert(Run {
                failures: 0,
                first: now,
                locked_until: None,
            });
            let expired_lock = run.locked_until.is_some_and(|until| until <= now);
            if expired_lock
                || (run.locked_until.is_none()
                    && now.duration_since(run.first) > self.policy.window)
            {
                *run = Run {
                    failures: 0,
                    first: now,
                    locked_until: None,
                };
            }
            run.failures += 1;
            if run.failures >= max {
                run.locked_until = Some(now + self.policy.lockout);
            }
        }
    }

    /// After a successful login: the username's failures are forgiven (the address's are
    /// not, so one good account does not shield guessing at others).
    pub fn record_success(&self, username: &str) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.remove(&Key::User(username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_slowed_then_locked_while_others_pass() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..DEFAULT_POLICY.user_free {
            assert_eq!(limiter.check(Some("eve"), addr), Ok(Duration::ZERO));
            limiter.record_failure(Some("eve"), addr);
        }
        limiter.record_failure(Some("eve"), addr);
        assert!(limiter.check(Some("eve"), addr).unwrap() > Duration::ZERO);
        for _ in 0..DEFAULT_POLICY.user_max {
            limiter.record_failure(Some("Eve"), addr);
        }
        assert!(limiter.check(Some("eve"), addr).is_err());
        assert!(limiter.check(Some("bob"), addr).is_ok());
    }

    #[test]
    fn an_address_is_locked_after_many_failures() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..DEFAULT_POLICY.addr_max {
            limiter.record_failure(Some(&format!("user{i}")), addr);
        }
        assert!(limiter.check(Some("fresh"), addr).is_err());
        assert!(
            limiter
                .check(Some("fresh"), "10.0.0.3".parse().unwrap())
                .is_ok()
        );
    }
}
