//! Helpers shared by the store's unit tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::macros::datetime;

use super::{DeviceStore, StoreConfig};
use crate::model::{Body, DeviceId, DoseBody, NoteBody, PainBody, Route, Unit, WallClock};

/// A wall clock the test sets by hand.
#[derive(Debug)]
pub struct ManualClock(pub AtomicU64);

impl ManualClock {
    pub fn at(millis: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicU64::new(millis)))
    }
    pub fn set(&self, millis: u64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl WallClock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 2026-11-22T12:00:00Z in milliseconds.
pub const NOON_MILLIS: u64 = 1_795_348_800_000;

pub fn device(name: &str) -> DeviceId {
    DeviceId::new(name).unwrap()
}

pub fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> DeviceStore {
    DeviceStore::open(
        dir,
        StoreConfig::default()
            .with_device_id(device("phone-1"))
            .with_wall_clock(clock),
    )
    .unwrap()
}

pub fn morning() -> OffsetDateTime {
    datetime!(2026-11-21 08:30 +01:00)
}

pub fn oxycodone(mg: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "oxycodone".into(),
        name: None,
        amount: mg,
        unit: Unit::Mg,
        route: Route::Oral,
        duration_h: None,
        prn: Some(true),
    })
}

pub fn pain(nrs: u8) -> Body {
    Body::Pain(PainBody {
        nrs,
        peg: None,
        note: None,
    })
}

pub fn note(text: &str) -> Body {
    Body::Note(NoteBody { text: text.into() })
}
