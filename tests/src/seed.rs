//! Seeds of the fault tests' random schedules (which answers the proxy loses, when a server
//! is killed), so that repeated runs can try other schedules than the committed ones.
//!
//! `TAPERLOG_TEST_SEED=<n>` (decimal, or hex with `0x`) replaces every schedule; unset, the
//! tests run the committed ones, so CI is repeatable.

/// The environment variable that varies the schedules.
pub const SEED_VARIABLE: &str = "TAPERLOG_TEST_SEED";

/// The seed of one schedule: `default` unless [`SEED_VARIABLE`] is set, then mixed with it
/// (so that two schedules of one test still differ) and never 0 (a xorshift generator would
/// stay at 0: every kill at the same moment). Printed, so that a failure can be replayed.
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
            let mixed = splitmix64(seed ^ default).max(1);
            eprintln!("{SEED_VARIABLE}={text}: schedule {default:#x} runs with seed {mixed:#x}");
            mixed
        }
        Err(_) => panic!("{SEED_VARIABLE}={text:?} is not a number"),
    }
}

/// SplitMix64's finaliser: spreads a seed's bits (found in review: a plain XOR made the one
/// seed equal to a default give 0).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_equal_to_a_default_still_gives_a_schedule() {
        // With a plain XOR this seed made the kill timing's generator 0.
        assert_ne!(splitmix64(0x51_9c11 ^ 0x51_9c11), 0);
        // One seed still gives the two schedules of a test different seeds.
        assert_ne!(splitmix64(7 ^ 0x51_9c11), splitmix64(7 ^ 0x5eed));
    }
}
