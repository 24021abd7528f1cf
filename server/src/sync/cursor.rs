//! The pull cursor: opaque to devices, `<sequence number>-<check>` to the server.
//!
//! The sequence number says where in the patient's change log the device has read to. The
//! check (the low 48 bits of the entry id at that position, 12 hex digits) ties it to this
//! log: a log restored from an earlier backup has lost that position, or holds another
//! change there once it has grown again, and the device must then read it from the
//! beginning and push back what the server lost. A plain number (the form before the check)
//! is still read, checked against the end of the log only.

use taperlog_core::model::{EntryId, ValidationError};

/// A parsed `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last sequence number the device has read (0: nothing yet).
    pub seq: u64,
    /// The check of the change at `seq`, if the cursor carries one.
    check: Option<u64>,
}

/// The check of a change-log position holding `id`.
fn check_of(id: EntryId) -> u64 {
    (id.as_u128() & 0xffff_ffff_ffff) as u64
}

impl Cursor {
    /// The start of the log (no `since`).
    pub const START: Cursor = Cursor {
        seq: 0,
        check: None,
    };

    /// Reads a `since` this server gave.
    pub fn parse(text: &str) -> Result<Cursor, ValidationError> {
        let invalid = || ValidationError::new("since", "is not a cursor this server gave");
        let (seq, check) = match text.split_once('-') {
            Some((seq, check)) if check.len() == 12 => (
                seq,
                Some(u64::from_str_radix(check, 16).map_err(|_| invalid())?),
            ),
            Some(_) => return Err(invalid()),
            None => (text, None),
        };
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let seq = seq.parse::<u64>().map_err(|_| invalid())?;
        Ok(Cursor { seq, check })
    }

    /// The cursor of position `seq`, which holds `id` (none at position 0).
    pub fn at(seq: u64, id: Option<EntryId>) -> Cursor {
        Cursor {
            seq,
            check: id.map(check_of),
        }
    }

    /// Whether the change log holding `id` at this cursor's position (none: the log does not
    /// reach it), which ends at `log_end`, is the one this cursor was read from.
    pub fn belongs_to(&self, id: Option<EntryId>, log_end: u64) -> bool {
        if self.seq == 0 {
            return true;
        }
        if self.seq > log_end {
            return false;
        }
        match self.check {
            Some(check) => id.is_some_and(|id| check_of(id) == check),
            None => true,
        }
    }

    /// The text devices send back as `since`.
    pub fn text(&self) -> String {
        match self.check {
            Some(check) => format!("{}-{check:012x}", self.seq),
            None => self.seq.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_the_server_never_gave() {
        let id: EntryId = "0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f".parse().unwrap();
        let cursor = Cursor::at(42, Some(id));
        assert_eq!(cursor.text(), "42-2a5b0c1d2e3f");
        assert_eq!(Cursor::parse(&cursor.text()).unwrap(), cursor);
        assert_eq!(Cursor::parse("7").unwrap(), Cursor::at(7, None));
        assert_eq!(Cursor::at(0, None).text(), "0");
        for bad in [
            "",
            "-1",
            "+3",
            "x",
            "3-",
            "3-zzzzzzzzzzzz",
            "3-abc",
            "3-2a5b0c1d2e3f0",
        ] {
            assert_eq!(Cursor::parse(bad).unwrap_err().field, "since", "{bad}");
        }
    }

    #[test]
    fn belongs_to_the_log_that_holds_its_change() {
        let id: EntryId = "0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f".parse().unwrap();
        let other: EntryId = "0193a0c4-7e1b-7cc2-9f3e-00000000003f".parse().unwrap();
        let cursor = Cursor::at(42, Some(id));
        assert!(cursor.belongs_to(Some(id), 42));
        assert!(cursor.belongs_to(Some(id), 900));
        assert!(!cursor.belongs_to(Some(other), 900), "another change there");
        assert!(!cursor.belongs_to(None, 41), "the log ends before it");
        let plain = Cursor::parse("42").unwrap();
        assert!(plain.belongs_to(None, 42) && !plain.belongs_to(None, 41));
        assert!(Cursor::START.belongs_to(None, 0));
    }
}
