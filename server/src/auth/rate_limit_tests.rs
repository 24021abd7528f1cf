//! Unit tests of the login limiter.

use super::*;

fn fail(limiter: &LoginLimiter, username: Option<&str>, addr: IpAddr) {
    limiter.check(username, addr).unwrap().failed();
}

#[test]
fn a_username_is_slowed_then_locked_while_others_pass() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.1".parse().unwrap();
    for _ in 0..DEFAULT_POLICY.user_free {
        let attempt = limiter.check(Some("eve"), addr).unwrap();
        assert_eq!(attempt.delay(), Duration::ZERO);
        attempt.failed();
    }
    fail(&limiter, Some("eve"), addr);
    assert!(limiter.check(Some("eve"), addr).unwrap().delay() > Duration::ZERO);
    for _ in DEFAULT_POLICY.user_free + 1..DEFAULT_POLICY.user_max {
        fail(&limiter, Some("Eve"), addr);
    }
    assert!(limiter.check(Some("eve"), addr).is_err());
    assert!(limiter.check(Some("bob"), addr).is_ok());
}

#[test]
fn an_address_is_locked_after_many_failures() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.2".parse().unwrap();
    for i in 0..DEFAULT_POLICY.addr_max {
        fail(&limiter, Some(&format!("user{i}")), addr);
    }
    assert!(limiter.check(Some("fresh"), addr).is_err());
    assert!(
        limiter
            .check(Some("fresh"), "10.0.0.3".parse().unwrap())
            .is_ok()
    );
}

#[test]
fn attempts_in_flight_count_against_the_username_cap() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.4".parse().unwrap();
    let in_flight: Vec<_> = (0..DEFAULT_POLICY.user_max)
        .map(|_| limiter.check(Some("eve"), addr).unwrap())
        .collect();
    assert!(in_flight.last().unwrap().delay() > Duration::ZERO);
    let refused = limiter.check(Some("EVE"), addr).unwrap_err();
    assert!(refused > Duration::ZERO);
    assert!(limiter.check(Some("bob"), addr).is_ok());
    for attempt in in_flight {
        attempt.failed();
    }
    // All of them failed: locked for the lockout, not just while they were in flight.
    assert!(limiter.check(Some("eve"), addr).unwrap_err() > IN_FLIGHT_RETRY_AFTER);
}

#[test]
fn concurrent_successful_logins_from_one_address_are_neither_slowed_nor_refused() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.5".parse().unwrap();
    let in_flight: Vec<_> = (0..30)
        .map(|i| limiter.check(Some(&format!("user{i}")), addr).unwrap())
        .collect();
    assert!(in_flight.iter().all(|a| a.delay() == Duration::ZERO));
    for mut attempt in in_flight {
        attempt.verifying();
        attempt.succeeded();
    }
    // Again, now that they all succeeded: nothing was counted.
    let again: Vec<_> = (0..30)
        .map(|i| limiter.check(Some(&format!("user{i}")), addr).unwrap())
        .collect();
    assert!(again.iter().all(|a| a.delay() == Duration::ZERO));
}

#[test]
fn concurrent_failures_from_one_address_are_slowed_then_refused() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.9".parse().unwrap();
    let mut refused = None;
    for round in 0..DEFAULT_POLICY.addr_max {
        let burst: Result<Vec<_>, _> = (0..10)
            .map(|i| limiter.check(Some(&format!("user{round}-{i}")), addr))
            .collect();
        match burst {
            Ok(burst) => burst.into_iter().for_each(Attempt::failed),
            Err(retry_after) => {
                refused = Some((round, retry_after));
                break;
            }
        }
        if round == 1 {
            assert!(limiter.check(None, addr).unwrap().delay() > Duration::ZERO);
        }
    }
    let (round, retry_after) = refused.expect("the address was never refused");
    assert_eq!(round, DEFAULT_POLICY.addr_max / 10);
    assert!(retry_after > IN_FLIGHT_RETRY_AFTER);
}

#[test]
fn attempts_in_flight_from_one_address_are_capped() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.10".parse().unwrap();
    let mut in_flight: Vec<_> = (0..DEFAULT_POLICY.addr_max_in_flight)
        .map(|i| limiter.check(Some(&format!("user{i}")), addr).unwrap())
        .collect();
    assert!(in_flight.iter().all(|a| a.delay() == Duration::ZERO));
    assert_eq!(
        limiter.check(Some("fresh"), addr).unwrap_err(),
        ADDRESS_BUSY_RETRY_AFTER
    );
    assert_eq!(
        limiter.check(None, addr).unwrap_err(),
        ADDRESS_BUSY_RETRY_AFTER
    );
    assert!(
        limiter
            .check(Some("fresh"), "10.0.0.11".parse().unwrap())
            .is_ok()
    );
    in_flight.pop().unwrap().succeeded();
    assert!(limiter.check(Some("fresh"), addr).is_ok());
}

#[test]
fn an_attempt_dropped_while_verifying_counts_as_a_failure() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.7".parse().unwrap();
    for _ in 0..DEFAULT_POLICY.user_max {
        let mut attempt = limiter.check(Some("eve"), addr).unwrap();
        attempt.verifying();
        drop(attempt);
    }
    // Locked for the lockout, as after as many wrong passwords.
    assert!(limiter.check(Some("eve"), addr).unwrap_err() > IN_FLIGHT_RETRY_AFTER);
    assert!(limiter.check(Some("bob"), addr).is_ok());
}

#[test]
fn a_verified_attempt_settles_once() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.8".parse().unwrap();
    for _ in 0..DEFAULT_POLICY.user_max * 3 {
        let mut attempt = limiter.check(Some("ann"), addr).unwrap();
        attempt.verifying();
        attempt.succeeded();
    }
    assert_eq!(
        limiter.check(Some("ann"), addr).unwrap().delay(),
        Duration::ZERO
    );
    let mut attempt = limiter.check(Some("ann"), addr).unwrap();
    attempt.verifying();
    attempt.failed();
    let run = limiter.runs.lock().unwrap()[&Key::User("ann".into())];
    assert_eq!((run.failures, run.in_flight), (1, 0));
}

#[test]
fn a_settled_or_dropped_attempt_leaves_the_caps() {
    let limiter = LoginLimiter::default();
    let addr: IpAddr = "10.0.0.6".parse().unwrap();
    for _ in 0..DEFAULT_POLICY.user_max * 3 {
        drop(limiter.check(Some("ann"), addr).unwrap());
    }
    for _ in 0..DEFAULT_POLICY.user_max * 3 {
        limiter.check(Some("ann"), addr).unwrap().succeeded();
    }
    assert_eq!(
        limiter.check(Some("ann"), addr).unwrap().delay(),
        Duration::ZERO
    );
    for _ in 0..DEFAULT_POLICY.user_max - 2 {
        fail(&limiter, Some("ann"), addr);
    }
    // A success forgives the username's failures, even with another attempt in flight.
    let pending = limiter.check(Some("ann"), addr).unwrap();
    limiter.check(Some("ann"), addr).unwrap().succeeded();
    pending.failed();
    assert!(limiter.check(Some("ann"), addr).is_ok());
    assert!(limiter.runs.lock().unwrap().len() <= 2);
}
