//! Many people logging in at once from one address (a clinic behind one NAT or proxy):
//! successful logins are not counted against the address, so none of them is refused,
//! even past the address's failure cap.

use std::sync::{Arc, Barrier};

use taperlog_server::auth::LimitPolicy;
use taperlog_server::role::Role;
use taperlog_tests::{TEST_PASSWORD, TestServer};

/// The server's policy.
const POLICY: LimitPolicy = taperlog_server::auth::DEFAULT_POLICY;
/// Users logging in at once, all from 127.0.0.1: more than the address's failure cap
/// (which once counted logins in flight too), fewer than its cap on logins in flight.
const CROWD: usize = 60;

#[test]
fn a_crowd_of_good_logins_from_one_address_all_succeed() {
    assert!((CROWD as u32) > POLICY.addr_max);
    assert!((CROWD as u32) < POLICY.addr_max_in_flight);
    let server = Arc::new(TestServer::start());
    let usernames: Vec<String> = (0..CROWD)
        .map(|_| server.create_user(Role::Clinician).username)
        .collect();
    let start = Arc::new(Barrier::new(CROWD));
    let threads: Vec<_> = usernames
        .into_iter()
        .map(|username| {
            let server = Arc::clone(&server);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                server.try_login(&username, TEST_PASSWORD)
            })
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let statuses: Vec<_> = replies.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|&s| s == 200),
        "{statuses:?}: {}",
        replies
            .iter()
            .find(|r| r.status != 200)
            .map_or("", |r| r.text.as_str())
    );
}
