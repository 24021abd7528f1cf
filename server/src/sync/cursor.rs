//! The pull cursor: opaque to devices, `<sequence number>-<digest>` to the server.
//!
//! The sequence number says where in the patient's change log the device has read to. The
//! digest (16 hex digits) is the log's own at that position: a hash chained over every
//! position up to it (entry id and rev), stored with the log. It ties the cursor to this
//! log: a log restored from an earlier backup has lost that position, or holds another
//! history up to it once it has grown again, and the device must then read it from the
//! beginning and push back what the server lost. A plain number (the form before digests,
//! and the form at positions written before them) is checked against the end of the log
//! only.

use taperlog_core::model::ValidationError;

use crate::store::LogPosition;

/// A parsed `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last sequence number the device has read (0: nothing yet).
    pub seq: u64,
    /// The log's digest at `seq`, if the cursor carries one.
    digest: Option<u64>,
}

impl Cursor {
    /// The start of the log (no `since`).
    pub const START: Cursor = Cursor {
        seq: 0,
        digest: None,
    };

    /// Reads a `since` this server gave.
    pub fn parse(text: &str) -> Result<Cursor, ValidationError> {
        Cursor::parse_field(text, "since")
    }

    /// Reads a position this server gave, as the query parameter `field`.
    pub fn parse_field(text: &str, field: &str) -> Result<Cursor, ValidationError> {
        let invalid = || ValidationError::new(field, "is not a log position this server gave");
        let (seq, digest) = match text.split_once('-') {
            Some((seq, digest)) if digest.len() == 16 => (
                seq,
                Some(u64::from_str_radix(digest, 16).map_err(|_| invalid())?),
            ),
            Some(_) => return Err(invalid()),
            None => (text, None),
        };
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let seq = seq.parse::<u64>().map_err(|_| invalid())?;
        Ok(Cursor { seq, digest })
    }

    /// The cursor of position `seq` of the log, as read (none at position 0).
    pub fn at(seq: u64, position: Option<LogPosition>) -> Cursor {
        Cursor {
            seq,
            digest: position.and_then(|p| p.digest),
        }
    }

    /// The end of a log whose last sequence number is `seq`, with the log's digest there.
    pub fn end(seq: u64, digest: Option<u64>) -> Cursor {
        Cursor { seq, digest }
    }

    /// Whether the change log holding `position` at this cursor's sequence number (none:
    /// the log does not reach it), which ends at `log_end`, is the one this cursor was read
    /// from.
    pub fn belongs_to(&self, position: Option<LogPosition>, log_end: u64) -> bool {
        if self.seq == 0 {
            return true;
        }
        if self.seq > log_end {
            return false;
        }
        match self.digest {
            Some(digest) => position.and_then(|p| p.digest) == Some(digest),
            None => true,
        }
    }

    /// The text devices send back as `since`.
    pub fn text(&self) -> String {
        match self.digest {
            Some(digest) => format!("{}-{digest:016x}", self.seq),
            None => self.seq.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn position(digest: Option<u64>) -> Option<LogPosition> {
        Some(LogPosition {
            id: Uuid::now_v7(),
            digest,
        })
    }

    #[test]
    fn round_trips_and_refuses_what_the_server_never_gave() {
        let cursor = Cursor::at(42, position(Some(0x2a5b_0c1d_2e3f)));
        assert_eq!(cursor.text(), "42-00002a5b0c1d2e3f");
        assert_eq!(Cursor::parse(&cursor.text()).unwrap(), cursor);
        assert_eq!(Cursor::parse("7").unwrap(), Cursor::at(7, None));
        assert_eq!(Cursor::at(7, position(None)).text(), "7");
        assert_eq!(Cursor::at(0, None).text(), "0");
        for bad in [
            "",
            "-1",
            "+3",
            "x",
            "3-",
            "3-zzzzzzzzzzzzzzzz",
            "3-2a5b0c1d2e3f",
            "3-00002a5b0c1d2e3f0",
        ] {
            assert_eq!(Cursor::parse(bad).unwrap_err().field, "since", "{bad}");
        }
    }

    #[test]
    fn belongs_to_the_log_with_its_digest() {
        let cursor = Cursor::at(42, position(Some(9)));
        assert!(cursor.belongs_to(position(Some(9)), 42));
        assert!(cursor.belongs_to(position(Some(9)), 900));
        assert!(
            !cursor.belongs_to(position(Some(8)), 900),
            "another history"
        );
        assert!(!cursor.belongs_to(position(None), 900));
        assert!(!cursor.belongs_to(None, 41), "the log ends before it");
        let plain = Cursor::parse("42").unwrap();
        assert!(plain.belongs_to(None, 42) && !plain.belongs_to(None, 41));
        assert!(Cursor::START.belongs_to(None, 0));
    }
}

#[cfg(test)]
mod log_tests {
    use taperlog_core::clinical::DEFAULT_MME_TABLE;
    use taperlog_core::model::{Body, DeviceId, Entry, HybridClock, NoteBody};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::Cursor;
    use crate::ServerStore;

    fn note(clock: &mut HybridClock, id: Uuid, millis: u64) -> Entry {
        Entry::live(
            id,
            OffsetDateTime::now_utc(),
            Body::Note(NoteBody { text: "x".into() }),
            clock.now(millis),
        )
    }

    /// Applies `changes` one push each to a fresh store; returns the cursor at the last one.
    fn log_of(patient: Uuid, changes: &[Entry]) -> (tempfile::TempDir, ServerStore, Cursor) {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        for change in changes {
            store
                .apply_changes(
                    patient,
                    std::slice::from_ref(change),
                    DEFAULT_MME_TABLE,
                    OffsetDateTime::now_utc(),
                )
                .unwrap();
        }
        let seq = changes.len() as u64;
        let cursor = Cursor::at(seq, store.change_at(patient, seq).unwrap());
        (dir, store, cursor)
    }

    #[test]
    fn a_log_rebuilt_with_the_same_change_at_the_cursor_is_still_told_apart() {
        let patient = Uuid::now_v7();
        let mut clock = HybridClock::new(DeviceId::new("phone").unwrap());
        let (base, e, f, n) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let base = note(&mut clock, base, 1);
        let e1 = note(&mut clock, e, 2);
        let f = note(&mut clock, f, 3);
        let e2 = note(&mut clock, e, 4);
        let n = note(&mut clock, n, 5);
        // The log a phone read: base | e1, f, e2 (e edited). Restored to base, it grew
        // again as base | n, f, e2: the same entry at the cursor's position.
        let (_a, read, cursor) =
            log_of(patient, &[base.clone(), e1.clone(), f.clone(), e2.clone()]);
        let (_b, rebuilt, _) = log_of(patient, &[base.clone(), n, f.clone(), e2.clone()]);
        let at = |store: &ServerStore| store.change_at(patient, 4).unwrap();
        assert_eq!(at(&read).unwrap().id, at(&rebuilt).unwrap().id);
        assert!(cursor.belongs_to(at(&read), 4));
        assert!(!cursor.belongs_to(at(&rebuilt), 4));
        // The same history gives the same digests, wherever it is written.
        let (_c, same, again) = log_of(patient, &[base, e1, f, e2]);
        assert_eq!(again, cursor);
        assert!(cursor.belongs_to(at(&same), 4));
    }
}
