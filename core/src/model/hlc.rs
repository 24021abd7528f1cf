//! The hybrid logical clock (HLC) that orders every change of an entry.
//!
//! A stamp is `<12 hex digits: ms since epoch>-<4 hex digits: counter>-<device_id>`; the
//! fixed-width lowercase hex makes byte order equal to clock order, so stores and the wire
//! compare stamps as plain strings.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest millisecond value that fits the 12 hex digits of a stamp.
pub const MAX_STAMP_MILLIS: u64 = (1 << 48) - 1;
/// The longest device id allowed.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// Why a stamp or device id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// The stamp is not `<12 hex>-<4 hex>-<device_id>`.
    #[error("must be `<12 lowercase hex digits>-<4 lowercase hex digits>-<device_id>`")]
    Malformed,
    /// The device id is empty, too long, or has characters outside `[A-Za-z0-9_-]`.
    #[error("must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")]
    BadDeviceId,
}

/// The id of a device (or of the server), 1–64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    /// Checks and wraps a device id.
    pub fn new(id: impl Into<String>) -> Result<Self, StampError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= MAX_DEVICE_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(DeviceId(id))
        } else {
            Err(StampError::BadDeviceId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeviceId {
    type Err = StampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceId::new(s)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DeviceId::new(text).map_err(serde::de::Error::custom)
    }
}

/// One HLC stamp: physical milliseconds, a logical counter, and the device that made it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stamp {
    millis: u64,
    counter: u16,
    device: DeviceId,
}

impl Stamp {
    /// A stamp from its parts; `millis` is clamped to what 12 hex digits hold.
    pub fn new(millis: u64, counter: u16, device: DeviceId) -> Self {
        Stamp {
            millis: millis.min(MAX_STAMP_MILLIS),
            counter,
            device,
        }
    }

    /// Milliseconds since the Unix epoch (physical part).
    pub fn millis(&self) -> u64 {
        self.millis
    }

    /// The logical counter.
    pub fn counter(&self) -> u16 {
        self.counter
    }

    /// The device that made the stamp.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
}

impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.millis, self.counter, self.device.as_str().as_bytes()).cmp(&(
            other.millis,
            other.counter,
            other.device.as_str().as_bytes(),
        ))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:012x}-{:04x}-{}",
            self.millis, self.counter, self.device
        )
    }
}

fn lower_hex(text: &str, width: usize) -> Option<u64> {
    let valid = text.len() == width
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        u64::from_str_radix(text, 16).ok()
    } else {
        None
    }
}

impl FromStr for Stamp {
    type Err = StampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let millis = s
            .get(0..12)
            .and_then(|t| lower_hex(t, 12))
            .ok_or(StampError::Malformed)?;
        if s.as_bytes().get(12) != Some(&b'-') || s.as_bytes().get(17) != Some(&b'-') {
            return Err(StampError::Malformed);
        }
        let counter = s
            .get(13..17)
            .and_then(|t| lower_hex(t, 4))
            .ok_or(StampError::Malformed)?;
        let device = DeviceId::new(s.get(18..).unwrap_or_default())?;
        Ok(Stamp {
            millis,
            counter: counter as u16,
            device,
        })
    }
}

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Stamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("HLC stamp: <12 hex ms>-<4 hex counter>-<device_id>"))
            .examples(["0193a0c47e1b-0000-ios-7f3a9c"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Stamp {}

/// The source of physical time, so tests can run a device whose clock is wrong.
pub trait WallClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A device's hybrid logical clock: stamps strictly increase even when the wall clock goes
/// backwards, and after [`HybridClock::merge`] every new stamp is greater than the merged one
/// (until the clock is moved back with [`HybridClock::rebase`], after it ran ahead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridClock {
    device: DeviceId,
    last_millis: u64,
    last_counter: u16,
}

impl HybridClock {
    /// A fresh clock for a device.
    pub fn new(device: DeviceId) -> Self {
        HybridClock {
            device,
            last_millis: 0,
            last_counter: 0,
        }
    }

    /// A clock that continues after a stamp it made (or merged) before, e.g. after a restart.
    pub fn resume(device: DeviceId, last: &Stamp) -> Self {
        HybridClock {
            device,
            last_millis: last.millis,
            last_counter: last.counter,
        }
    }

    /// The device this clock stamps for.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The greatest stamp made or merged so far, as this device's stamp.
    pub fn last(&self) -> Stamp {
        Stamp::new(self.last_millis, self.last_counter, self.device.clone())
    }

    /// A new stamp, greater than every stamp this clock made or merged since it was created,
    /// resumed or last moved back.
    pub fn now(&mut self, wall_millis: u64) -> Stamp {
        let wall = wall_millis.min(MAX_STAMP_MILLIS);
        if wall > self.last_millis {
            self.last_millis = wall;
            self.last_counter = 0;
        } else if self.last_counter < u16::MAX {
            self.last_counter += 1;
        } else {
            // The counter is exhausted within one millisecond: borrow the next millisecond.
            self.last_millis = (self.last_millis + 1).min(MAX_STAMP_MILLIS);
            self.last_counter = 0;
        }
        self.last()
    }

    /// Takes a stamp received from elsewhere into account, so later stamps order after it.
    pub fn merge(&mut self, remote: &Stamp) {
        if (remote.millis, remote.counter) > (self.last_millis, self.last_counter) {
            self.last_millis = remote.millis;
            self.last_counter = remote.counter;
        }
    }

    /// Moves the clock back to `base` if it is ahead of it (never forward). This gives up
    /// the clock's promise that later stamps order after the ones it made: only for a clock
    /// that ran ahead, whose stamps after `base` nobody else has accepted.
    pub fn rebase(&mut self, base: &Stamp) {
        if (self.last_millis, self.last_counter) > (base.millis, base.counter) {
            self.last_millis = base.millis;
            self.last_counter = base.counter;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn device(name: &str) -> DeviceId {
        DeviceId::new(name).unwrap()
    }

    #[test]
    fn stamp_round_trips_in_the_documented_form() {
        let stamp: Stamp = "0193a0c47e1b-0000-ios-7f3a9c".parse().unwrap();
        assert_eq!(stamp.millis(), 0x0193a0c47e1b);
        assert_eq!(stamp.counter(), 0);
        assert_eq!(stamp.device().as_str(), "ios-7f3a9c");
        assert_eq!(stamp.to_string(), "0193a0c47e1b-0000-ios-7f3a9c");
    }

    #[test]
    fn malformed_stamps_are_refused() {
        for bad in [
            "",
            "0193A0C47E1B-0000-ios",
            "0193a0c47e1b-000-ios",
            "0193a0c47e1b-0000-",
            "0193a0c47e1b_0000-ios",
            "0193a0c47e1b-0000-bad device",
            "193a0c47e1b-0000-ios",
        ] {
            assert!(bad.parse::<Stamp>().is_err(), "{bad:?} parsed");
        }
        let long = format!("0193a0c47e1b-0000-{}", "d".repeat(65));
        assert!(long.parse::<Stamp>().is_err());
    }

    #[test]
    fn clock_survives_a_wall_clock_going_backwards() {
        let mut clock = HybridClock::new(device("a"));
        let first = clock.now(1_000_000);
        let second = clock.now(999_000);
        assert!(second > first);
        assert_eq!(second.millis(), 1_000_000);
        assert_eq!(second.counter(), 1);
    }

    #[test]
    fn rebase_moves_a_clock_that_ran_ahead_back_but_never_forward() {
        let mut clock = HybridClock::new(device("a"));
        let ahead = clock.now(9_000_000);
        clock.rebase(&Stamp::new(1_000, 7, device("server")));
        let next = clock.now(1_000);
        assert!(next < ahead);
        assert_eq!((next.millis(), next.counter()), (1_000, 8));
        clock.rebase(&Stamp::new(5_000, 0, device("server")));
        assert_eq!(
            clock.now(1_000).millis(),
            1_000,
            "rebase never moves forward"
        );
    }

    #[test]
    fn counter_overflow_borrows_the_next_millisecond() {
        let mut clock = HybridClock::resume(device("a"), &Stamp::new(5, u16::MAX, device("a")));
        let next = clock.now(5);
        assert_eq!((next.millis(), next.counter()), (6, 0));
    }

    fn stamp_strategy() -> impl Strategy<Value = Stamp> {
        (0u64..=MAX_STAMP_MILLIS, any::<u16>(), "[A-Za-z0-9_-]{1,64}").prop_map(
            |(millis, counter, id)| Stamp::new(millis, counter, DeviceId::new(id).unwrap()),
        )
    }

    proptest! {
        #[test]
        fn string_order_is_clock_order(a in stamp_strategy(), b in stamp_strategy()) {
            prop_assert_eq!(a.cmp(&b), a.to_string().as_bytes().cmp(b.to_string().as_bytes()));
            prop_assert_eq!(a.to_string().parse::<Stamp>().unwrap(), a);
        }

        #[test]
        fn a_clock_moved_to_a_base_stamps_right_after_it(
            made in 0u64..3_000_000,
            base_millis in 0u64..3_000_000,
            base_counter in any::<u16>(),
            wall in 0u64..3_000_000,
        ) {
            let mut clock = HybridClock::new(device("dev"));
            clock.now(made);
            let base = Stamp::new(base_millis, base_counter, device("server"));
            clock.rebase(&base);
            clock.merge(&base);
            let last = clock.last();
            prop_assert_eq!((last.millis(), last.counter()), (base_millis, base_counter));
            let next = clock.now(wall);
            prop_assert!((next.millis(), next.counter()) > (base_millis, base_counter));
            prop_assert!(next.millis() <= wall.max(base_millis) + 1);
        }

        #[test]
        fn now_strictly_increases_whatever_the_wall_clock_does(
            walls in proptest::collection::vec(0u64..2_000_000, 1..200),
            merges in proptest::collection::vec(
                proptest::option::of((0u64..3_000_000, any::<u16>())
                    .prop_map(|(millis, counter)| Stamp::new(millis, counter, device("remote")))),
                1..200,
            ),
        ) {
            let mut clock = HybridClock::new(device("dev"));
            let mut previous: Option<Stamp> = None;
            for (wall, merge) in walls.iter().zip(merges.iter().cycle()) {
                if let Some(remote) = merge {
                    clock.merge(remote);
                    let next = clock.now(*wall);
                    prop_assert!((next.millis(), next.counter()) > (remote.millis(), remote.counter()));
                }
                let stamp = clock.now(*wall);
                if let Some(previous) = &previous {
                    prop_assert!(stamp > *previous);
                }
                previous = Some(stamp);
            }
        }
    }
}
