//! Concurrent failed logins: the per-username cap covers attempts still being checked, so
//! a burst of wrong passwords sent at once gets at most the cap of 401s and 429s for the
//! rest, while another user still logs in from the same address.

use std::sync::{Arc, Barrier};

use taperlog_server::auth::LimitPolicy;
use taperlog_server::role::Role;
use taperlog_tests::{TEST_PASSWORD, TestServer};

/// The server's policy (the tests rely on its user cap and on the address cap being above
/// the burst).
const POLICY: LimitPolicy = taperlog_server::auth::DEFAULT_POLICY;
/// Wrong passwords sent at once for one username.
const BURST: usize = 40;

#[test]
fn a_burst_of_wrong_passwords_gets_at_most_the_cap_of_401s() {
    assert!((BURST as u32) < POLICY.addr_max);
    let server = Arc::new(TestServer::start());
    let victim = server.create_user(Role::Clinician);
    let bystander = server.create_user(Role::Clinician);
    let start = Arc::new(Barrier::new(BURST));
    let threads: Vec<_> = (0..BURST)
        .map(|i| {
            let server = Arc::clone(&server);
            let start = Arc::clone(&start);
            let username = victim.username.clone();
            std::thread::spawn(move || {
                start.wait();
                server.try_login(&username, &format!("wrong password {i}"))
            })
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let unauthorized = replies.iter().filter(|r| r.status == 401).count();
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        unauthorized <= POLICY.user_max as usize,
        "{unauthorized} of {BURST} concurrent wrong passwords were checked (cap {})",
        POLICY.user_max
    );
    assert_eq!(
        unauthorized + limited.len(),
        BURST,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in &limited {
        assert_eq!(reply.error_code(), Some("rate_limited"), "{}", reply.text);
        let retry: u64 = reply
            .header("retry-after")
            .expect("Retry-After on 429")
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry >= 1);
    }
    // The refused attempts were refused because the checked ones reached the cap, which
    // then locks the username: even its right password waits.
    let locked = server.try_login(&victim.username, TEST_PASSWORD);
    assert_eq!(locked.status, 429, "{}", locked.text);
    // Another user, same address, is not shut out.
    let other = server.try_login(&bystander.username, TEST_PASSWORD);
    assert_eq!(other.status, 200, "{}", other.text);
}
