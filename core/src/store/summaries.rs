//! The figures the phone shows, computed by `core::summary` from the store's entries.

use time::{Date, Duration, OffsetDateTime};

use super::DeviceStore;
use super::codec;
use super::error::StoreResult;
use super::query::check_range;
use crate::model::Entry;
use crate::summary::{self, DailySummary, TrendInput, Trends};

/// How many days before a range an entry can start and still count in it: a patch is worn
/// at most 168 hours (7 days) from any time of its local start day.
const SPREAD_DAYS_BEFORE: i64 = 8;

/// How many local dates before the last one may hold an entry that happened later: UTC
/// offsets span at most 51:59:59 (±25:59:59), so an entry dated three days earlier can still
/// be the later instant, one dated four days earlier cannot.
const OFFSET_REORDER_DAYS: i64 = 3;

impl DeviceStore {
    /// The daily summaries of the days with data in `from..=to` (patient-local days), sorted,
    /// computed with the config's MME table. Patches started before `from` count for the days
    /// they are worn in the range.
    pub fn daily_summaries(&self, from: Date, to: Date) -> StoreResult<Vec<DailySummary>> {
        check_range(from, to)?;
        let start = from
            .checked_sub(Duration::days(SPREAD_DAYS_BEFORE))
            .unwrap_or(Date::MIN);
        let entries = self.scan_dates(start, to)?;
        let mut days = summary::daily_summaries(&entries, self.mme_table);
        days.retain(|day| (from..=to).contains(&day.date));
        Ok(days)
    }

    /// The trend series of `days` days ending `today`, the baseline and the flags, computed
    /// from every day with data in the store (the baseline may need the first week of data).
    pub fn trends(
        &self,
        enrolled_on: Date,
        baseline_set: Option<f64>,
        today: Date,
        days: u32,
    ) -> StoreResult<Trends> {
        let entries = self.live_entries()?;
        let daily = summary::daily_summaries(&entries, self.mme_table);
        Ok(summary::trends(TrendInput {
            daily: &daily,
            enrolled_on,
            baseline_set,
            today,
            days,
        }))
    }

    /// The patient's today: the wall clock's date at the UTC offset of the latest entry
    /// (the greatest `occurred_at` instant), as `summary::today_for` defines it.
    pub fn today(&self) -> StoreResult<Date> {
        let now = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(self.wall.now_millis()) * 1_000_000,
        )
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(summary::today_for(
            self.latest_entry()?.map(|e| e.occurred_at.offset()),
            now,
        ))
    }

    /// The live entry that happened last. The index sorts by local date, and an entry of an
    /// earlier local date can have happened later (at a more western offset): the latest is
    /// among the last local dates that offsets can reorder.
    fn latest_entry(&self) -> StoreResult<Option<Entry>> {
        let Some((key, _)) = self.trees.by_date.last()? else {
            return Ok(None);
        };
        let Some(last) = self.entry(codec::id_of_date_key(&key)?)? else {
            return Ok(None);
        };
        let last_date = last.local_date();
        let from = last_date
            .checked_sub(Duration::days(OFFSET_REORDER_DAYS))
            .unwrap_or(Date::MIN);
        Ok(self
            .scan_dates(from, last_date)?
            .into_iter()
            .max_by_key(|entry| entry.occurred_at))
    }

    fn live_entries(&self) -> StoreResult<Vec<Entry>> {
        let mut entries = Vec::new();
        for value in self.trees.entries.iter().values() {
            let entry = codec::decode_entry(&value?)?;
            if !entry.deleted {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}
