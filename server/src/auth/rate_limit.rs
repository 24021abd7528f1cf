//! Failed logins: slowed, then refused with 429, per username and per client address.
//!
//! Kept in memory: a restart forgets it, and several instances behind a load balancer
//! each keep their own. Successful logins are never counted, so one attacked username
//! or address does not lock out other users.
//!
//! A username's caps count its failures plus its attempts still being checked (one person
//! rarely logs in many times at once, and a burst of guesses must not all be checked
//! before the first failure is recorded). An address's caps count its failures only:
//! many people behind one NAT or proxy log in at once without failing. What an address
//! has in flight is capped on its own, generously ([`MAX_IN_FLIGHT_PER_ADDRESS`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
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
    /// Attempts from one address checked at once; more are answered 429 with a short
    /// Retry-After whether or not anything failed.
    pub addr_max_in_flight: u32,
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
    addr_max_in_flight: MAX_IN_FLIGHT_PER_ADDRESS,
    delay_step: Duration::from_millis(250),
    max_delay: Duration::from_secs(2),
    lockout: Duration::from_secs(5 * 60),
    max_tracked: 100_000,
};

/// Attempts from one address checked at once, by default (well above what the logins of
/// a busy clinic behind one NAT need at the same moment; each checks a password).
pub const MAX_IN_FLIGHT_PER_ADDRESS: u32 = 64;

/// Retry-After given when a username's cap is reached by attempts still being checked: by
/// then they have been answered (and, if they all failed, the username is locked).
const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Retry-After given when an address has [`LimitPolicy::addr_max_in_flight`] attempts being
/// checked: short, since nothing failed and each check takes well under a second.
const ADDRESS_BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

impl Key {
    fn of(username: Option<&str>, addr: IpAddr) -> [Option<Key>; 2] {
        [
            username.map(|u| Key::User(u.to_lowercase())),
            Some(Key::Addr(addr)),
        ]
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    failures: u32,
    /// Attempts let through [`LoginLimiter::check`] and not yet answered: they count
    /// against the caps, or a burst sent at once would all be checked before the first
    /// failure is recorded.
    in_flight: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl Run {
    fn new(now: Instant) -> Run {
        Run {
            failures: 0,
            in_flight: 0,
            first: now,
            locked_until: None,
        }
    }

    /// Starts a new run (keeping the attempts in flight) once the lock or window is over.
    fn refresh(&mut self, now: Instant, window: Duration) {
        let expired_lock = self.locked_until.is_some_and(|until| until <= now);
        let expired_window = self.locked_until.is_none() && now.duration_since(self.first) > window;
        if expired_lock || expired_window {
            *self = Run {
                in_flight: self.in_flight,
                ..Run::new(now)
            };
        }
    }

    fn forgettable(&self, now: Instant, window: Duration) -> bool {
        self.in_flight == 0
            && now.duration_since(self.first) > window
            && self.locked_until.is_none_or(|until| until <= now)
    }
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

/// An attempt let through [`LoginLimiter::check`]: counted in flight until it is settled
/// with [`Attempt::failed`] or [`Attempt::succeeded`], or dropped. Dropped before
/// [`Attempt::verifying`] it counts as neither (e.g. the request ended with another error);
/// dropped after, as a failure.
#[derive(Debug)]
#[must_use = "an attempt counts against the caps until it is settled or dropped"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    /// The keys, each with whether it is counted in flight.
    keys: [Option<(Key, bool)>; 2],
    delay: Duration,
    settled: bool,
    verifying: bool,
}

impl Attempt<'_> {
    /// How long to wait before checking the password.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The password is being checked from now on: if the attempt is dropped before it is
    /// settled (the client went away mid-check, or the check itself failed), it counts as a
    /// failure. Otherwise a client that hangs up before each answer would cost a full hash
    /// every time yet never be slowed or refused.
    pub fn verifying(&mut self) {
        self.verifying = true;
    }

    /// The password or code was wrong: the attempt becomes a failure.
    pub fn failed(mut self) {
        self.settled = true;
        self.limiter.settle(&self.keys, Outcome::Failed);
    }

    /// The login succeeded: the username's failures are forgiven (the address's are not,
    /// so one good account does not shield guessing at others).
    pub fn succeeded(mut self) {
        self.settled = true;
        self.limiter.settle(&self.keys, Outcome::Succeeded);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let outcome = if self.verifying {
                Outcome::Failed
            } else {
                Outcome::Released
            };
            self.limiter.settle(&self.keys, outcome);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    Released,
}

impl LoginLimiter {
    /// A limiter with `policy`.
    pub fn new(policy: LimitPolicy) -> Self {
        LoginLimiter {
            policy,
            runs: Mutex::new(HashMap::new()),
        }
    }

    fn caps(&self, key: &Key) -> (u32, u32) {
        match key {
            Key::User(_) => (self.policy.user_free, self.policy.user_max),
            Key::Addr(_) => (self.policy.addr_free, self.policy.addr_max),
        }
    }

    /// Before checking a password: an [`Attempt`] (counted in flight, with the time to
    /// wait first), or `Err(retry_after)` when the key is locked, when the username's
    /// failures plus its attempts in flight reach its cap, or when the address has
    /// [`LimitPolicy::addr_max_in_flight`] attempts in flight.
    pub fn check(&self, username: Option<&str>, addr: IpAddr) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let keys = Key::of(username, addr);
        let mut delay = Duration::ZERO;
        for key in keys.iter().flatten() {
            let Some(run) = runs.get_mut(key) else {
                continue;
            };
            run.refresh(now, self.policy.window);
            if let Some(until) = run.locked_until {
                return Err(until - now);
            }
            let (free, max) = self.caps(key);
            let counted = match key {
                Key::User(_) => run.failures.saturating_add(run.in_flight),
                Key::Addr(_) => {
                    if run.in_flight >= self.policy.addr_max_in_flight {
                        return Err(ADDRESS_BUSY_RETRY_AFTER);
                    }
                    run.failures
                }
            };
            if counted >= max {
                return Err(IN_FLIGHT_RETRY_AFTER);
            }
            let extra = counted.saturating_sub(free);
            delay = delay.max((self.policy.delay_step * extra).min(self.policy.max_delay));
        }
        if runs.len() >= self.policy.max_tracked {
            let window = self.policy.window;
            runs.retain(|_, run| !run.forgettable(now, window));
        }
        let keys = keys.map(|key| {
            key.map(|key| {
                if runs.len() >= self.policy.max_tracked && !runs.contains_key(&key) {
                    return (key, false);
                }
                let run = runs.entry(key.clone()).or_insert_with(|| Run::new(now));
                run.in_flight += 1;
                (key, true)
            })
        });
        Ok(Attempt {
            limiter: self,
            keys,
            delay,
            settled: false,
            verifying: false,
        })
    }

    fn settle(&self, keys: &[Option<(Key, bool)>; 2], outcome: Outcome) {
        let now = Instant::now();
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        for (key, counted) in keys.iter().flatten() {
            let max = self.caps(key).1;
            // A key not counted at check (the table was full) gets its failure if there is
            // room now.
            let room = runs.len() < self.policy.max_tracked;
            let run = match runs.entry(key.clone()) {
                Entry::Occupied(run) => run.into_mut(),
                Entry::Vacant(slot) if room && outcome == Outcome::Failed => {
                    slot.insert(Run::new(now))
                }
                Entry::Vacant(_) => continue,
            };
            if *counted {
                run.in_flight = run.in_flight.saturating_sub(1);
            }
            run.refresh(now, self.policy.window);
            match outcome {
                Outcome::Failed => {
                    run.failures += 1;
                    if run.failures >= max {
                        run.locked_until = Some(now + self.policy.lockout);
                    }
                }
                Outcome::Succeeded if matches!(key, Key::User(_)) => {
                    *run = Run {
                        in_flight: run.in_flight,
                        ..Run::new(now)
                    };
                }
                Outcome::Succeeded | Outcome::Released => {}
            }
            if run.in_flight == 0 && run.failures == 0 && run.locked_until.is_none() {
                runs.remove(key);
            }
        }
    }
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
