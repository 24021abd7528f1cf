//! Seeds of the fault tests' random schedules (which answers the proxy loses, when a server
//! is killed), so that repeated runs can try other schedules than the committed ones.
//!
//! `TAPERLOG_TEST_SEED=<n>` (decimal, or hex with `0x`) replaces every schedule; unset, the
//! tests run the committed ones, so CI is repeatable.

/// The environment variable that varies the schedules.
pub const SEED_VARIABLE: &str = "TAPERLOG_TEST_SEED";

/// The seed of one schedule: `default` unless [`SEED_VARIABLE`] is set, then mixed with it
/// (so that two schedules of one test still differ). Printed, so that a failure can be
/// replayed.
pub fn schedule_seed(default: u64) -> u64 {
    let Ok(text) = std::env::var(SEED_VARIABLE) else {
        return default;
    };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(seed) => {
            let mixed = seed ^ default;
            eprintln!("{SEED_VARIABLE}={text}: schedule {default:#x} runs with seed {mixed:#x}");
            mixed
        }
        Err(_) => panic!("{SEED_VARIABLE}={text:?} is not a number"),
    }
}
