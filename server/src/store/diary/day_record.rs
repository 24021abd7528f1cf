//! A day's contributions record: what each entry adds to one patient-local day, which the
//! day's summary is recomputed from whenever a change touches the day.
//!
//! A push rewrites the record of every day it touches, so its size is paid on every push:
//! as JSON, each contribution repeated its entry id as text, its date and field names
//! (about 150 bytes). Written today in a compact binary form ([`COMPACT_FORMAT`], postcard:
//! the id in 16 bytes, the date only in the key), about 40 bytes. Records of the JSON
//! format written before are still read.

use std::collections::BTreeMap;

use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};
use taperlog_core::model::{EntryId, Route};
use taperlog_core::summary::{Contribution, DayContribution};
use time::Date;
use uuid::Uuid;

use super::super::StoreError;
use super::keys::{CONTRIBUTIONS, kind_name};

/// One day's contributions by entry.
pub(super) type DayRecord = BTreeMap<EntryId, DayContribution>;

/// The format of the records written before [`COMPACT_FORMAT`]: the record as JSON. A
/// literal, not the store codec's `FORMAT_VERSION`: that one may move on, while these records
/// keep the byte they were written with.
const JSON_FORMAT: u8 = 1;
/// Today's format: postcard of a list of [`Item`]s.
const COMPACT_FORMAT: u8 = 2;

/// A contribution as stored. postcard writes a variant by its index: never reorder these,
/// only add at the end (with a new format if an older build must not misread it).
#[derive(Serialize, Deserialize)]
enum Stored<'a> {
    Dose {
        medication: &'a str,
        quantity: f64,
        mg: f64,
        /// The route's wire name, so that reordering `Route` cannot change stored records.
        route: &'a str,
    },
    Pain {
        nrs: u8,
        peg: Option<f64>,
    },
    Withdrawal {
        sows_total: Option<u8>,
    },
    Note,
}

/// One entry's contribution to the day.
#[derive(Serialize, Deserialize)]
struct Item<'a> {
    id: [u8; 16],
    logged: bool,
    #[serde(borrow)]
    contribution: Stored<'a>,
}

fn bad(detail: String) -> StoreError {
    StoreError::Format {
        tree: kind_name(CONTRIBUTIONS),
        detail,
    }
}

/// The record of a day's contributions (all of that day, the date being in the key).
pub(super) fn encode_day(day: &DayRecord) -> Result<Vec<u8>, StoreError> {
    let items: Vec<Item<'_>> = day
        .iter()
        .map(|(id, item)| Item {
            id: id.into_bytes(),
            logged: item.logged,
            contribution: match &item.contribution {
                Contribution::Dose {
                    medication,
                    quantity,
                    mg,
                    route,
                } => Stored::Dose {
                    medication,
                    quantity: *quantity,
                    mg: *mg,
                    route: route.as_str(),
                },
                Contribution::Pain { nrs, peg } => Stored::Pain {
                    nrs: *nrs,
                    peg: *peg,
                },
                Contribution::Withdrawal { sows_total } => Stored::Withdrawal {
                    sows_total: *sows_total,
                },
                Contribution::Note => Stored::Note,
            },
        })
        .collect();
    let mut bytes = Vec::with_capacity(1 + 48 * items.len());
    bytes.push(COMPACT_FORMAT);
    postcard::to_extend(&items, bytes).map_err(|e| bad(e.to_string()))
}

/// Reads the record of the day `date`, of either format.
pub(super) fn decode_day(date: Date, bytes: &[u8]) -> Result<DayRecord, StoreError> {
    let compact = match bytes.split_first() {
        Some((&COMPACT_FORMAT, compact)) => compact,
        Some((&JSON_FORMAT, json)) => {
            return serde_json::from_slice(json).map_err(|e| bad(e.to_string()));
        }
        Some((format, _)) => return Err(bad(format!("unknown format version {format}"))),
        None => return Err(bad("empty value".into())),
    };
    let (items, rest): (Vec<Item<'_>>, &[u8]) =
        postcard::take_from_bytes(compact).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes after the record", rest.len())));
    }
    items
        .into_iter()
        .map(|item| {
            let contribution = match item.contribution {
                Stored::Dose {
                    medication,
                    quantity,
                    mg,
                    route,
                } => Contribution::Dose {
                    medication: medication.to_owned(),
                    quantity,
                    mg,
                    // Read as on the wire, so that every route the wire knows reads back.
                    route: Route::deserialize(route.into_deserializer())
                        .map_err(|e: serde::de::value::Error| bad(format!("route: {e}")))?,
                },
                Stored::Pain { nrs, peg } => Contribution::Pain { nrs, peg },
                Stored::Withdrawal { sows_total } => Contribution::Withdrawal { sows_total },
                Stored::Note => Contribution::Note,
            };
            let day = DayContribution {
                date,
                logged: item.logged,
                contribution,
            };
            Ok((Uuid::from_bytes(item.id), day))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::super::codec::{FORMAT_VERSION, encode};
    use super::*;
    use time::macros::date;

    fn day() -> DayRecord {
        let date = date!(2026 - 11 - 20);
        let item = |n: u128, logged, contribution| {
            (
                Uuid::from_u128(n),
                DayContribution {
                    date,
                    logged,
                    contribution,
                },
            )
        };
        [
            item(
                1,
                true,
                Contribution::Dose {
                    medication: "oxycodone".into(),
                    quantity: 7.5,
                    mg: 7.5,
                    route: Route::Oral,
                },
            ),
            item(
                2,
                false,
                Contribution::Dose {
                    medication: "fentanyl".into(),
                    quantity: 12.0 / 24.0 * 25.0,
                    mg: 0.3,
                    route: Route::Transdermal,
                },
            ),
            item(
                3,
                true,
                Contribution::Pain {
                    nrs: 6,
                    peg: Some(5.666_666_666_666_667),
                },
            ),
            item(4, true, Contribution::Pain { nrs: 0, peg: None }),
            item(
                5,
                true,
                Contribution::Withdrawal {
                    sows_total: Some(31),
                },
            ),
            item(6, true, Contribution::Withdrawal { sows_total: None }),
            item(7, true, Contribution::Note),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn records_of_both_formats_read_back() {
        let day = day();
        let compact = encode_day(&day).unwrap();
        let json = encode(kind_name(CONTRIBUTIONS), &day).unwrap();
        assert_eq!((compact[0], json[0]), (COMPACT_FORMAT, FORMAT_VERSION));
        assert!(
            compact.len() * 3 < json.len(),
            "{} vs {}",
            compact.len(),
            json.len()
        );
        assert_eq!(decode_day(date!(2026 - 11 - 20), &compact).unwrap(), day);
        assert_eq!(decode_day(date!(2026 - 11 - 20), &json).unwrap(), day);
        let empty = DayRecord::new();
        assert_eq!(
            decode_day(date!(2026 - 11 - 20), &encode_day(&empty).unwrap()).unwrap(),
            empty
        );
    }

    #[test]
    fn damaged_and_unknown_records_are_refused() {
        let compact = encode_day(&day()).unwrap();
        let when = date!(2026 - 11 - 20);
        for end in 0..compact.len() {
            assert!(
                decode_day(when, &compact[..end]).is_err(),
                "truncated at {end}"
            );
        }
        let mut longer = compact.clone();
        longer.push(0);
        assert!(decode_day(when, &longer).is_err());
        let mut newer = compact.clone();
        newer[0] = COMPACT_FORMAT + 1;
        assert!(decode_day(when, &newer).is_err());
        for at in 1..compact.len() {
            let mut changed = compact.clone();
            changed[at] ^= 0x5a;
            let _ = decode_day(when, &changed);
        }
    }

    /// The bytes of format 2 as written today. Records on disk keep them: a change of field
    /// order, field type or variant order fails here rather than misreading stores.
    #[test]
    fn the_stored_bytes_are_fixed() {
        let bytes = encode_day(&day()).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, DAY_HEX);
        assert_eq!(decode_day(date!(2026 - 11 - 20), &bytes).unwrap(), day());
    }

    const DAY_HEX: &str = concat!(
        "0207000000000000000000000000000000010100096f7879636f646f6e650000",
        "000000001e400000000000001e40046f72616c00000000000000000000000000",
        "00000200000866656e74616e796c0000000000002940333333333333d33f0b74",
        "72616e736465726d616c0000000000000000000000000000000301010601abaa",
        "aaaaaaaa16400000000000000000000000000000000401010000000000000000",
        "000000000000000000050102011f000000000000000000000000000000060102",
        "00000000000000000000000000000000070103",
    );

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn any_bytes_are_a_day_or_an_error_never_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            let mut value = vec![COMPACT_FORMAT];
            value.extend(bytes);
            let _ = decode_day(date!(2026 - 11 - 20), &value);
        }
    }

    #[test]
    fn every_route_reads_back_by_its_wire_name() {
        for route in Route::ALL {
            let read: Result<Route, serde::de::value::Error> =
                Route::deserialize(route.as_str().into_deserializer());
            assert_eq!(read, Ok(route));
        }
    }

    #[test]
    fn a_huge_item_count_is_an_error_without_allocating_it() {
        let value = [COMPACT_FORMAT, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_day(date!(2026 - 11 - 20), &value).is_err());
    }
}
