//! The cohort table: per window, the distribution of subjects' values and their comparison
//! with the baseline window — the shape of the seed study's table (Elyn et al. 2025).

use serde::{Deserialize, Serialize};

use super::followup::{SubjectWindow, Window};
use super::stats::{Distribution, mean, paired_t_test_p_value};

/// A count and its share of the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CountShare {
    /// How many subjects.
    pub count: u32,
    /// Their share of the pairs (null when there are no pairs).
    pub share: Option<f64>,
}

/// The mean change from baseline and its paired t-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanChange {
    /// Mean of (window value − baseline value) over the pairs.
    pub mean: Option<f64>,
    /// Two-sided p-value of the paired t-test (null with fewer than 2 pairs or no variance).
    pub p_value: Option<f64>,
}

/// One row of the cohort table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortWindow {
    /// The window's name.
    pub name: String,
    /// First day, relative to enrolment.
    pub first_day: i32,
    /// Last day, relative to enrolment.
    pub last_day: i32,
    /// Subjects with a value in this window.
    pub n: u32,
    /// The distribution of their window values (mean daily MME).
    pub mme: Distribution,
    /// Subjects with both a baseline and a window value (null for the baseline window).
    pub pairs: Option<u32>,
    /// Mean change from baseline with its p-value (null for the baseline window).
    pub change_from_baseline: Option<MeanChange>,
    /// Pairs whose window value is at most half their baseline (null for the baseline window).
    pub reduction_50: Option<CountShare>,
    /// Pairs whose window value is 0 (null for the baseline window).
    pub cessation: Option<CountShare>,
    /// Subjects lost to follow-up at this window.
    pub lost_to_follow_up: u32,
}

fn count_share(count: usize, pairs: usize) -> CountShare {
    CountShare {
        count: count as u32,
        share: (pairs > 0).then(|| count as f64 / pairs as f64),
    }
}

/// The cohort table. `subjects[s][w]` is subject `s`'s value in `windows[w]` (as made by
/// `subject_windows` with the same windows); `windows[0]` is the baseline.
pub fn cohort_table(windows: &[Window], subjects: &[Vec<SubjectWindow>]) -> Vec<CohortWindow> {
    let value = |subject: &Vec<SubjectWindow>, w: usize| subject.get(w).and_then(|sw| sw.mme_mean);
    windows
        .iter()
        .enumerate()
        .map(|(w, window)| {
            let values: Vec<f64> = subjects.iter().filter_map(|s| value(s, w)).collect();
            let lost = subjects
                .iter()
                .filter(|s| s.get(w).is_some_and(|sw| sw.lost_to_follow_up))
                .count() as u32;
            let mut row = CohortWindow {
                name: window.name.clone(),
                first_day: window.first_day,
                last_day: window.last_day,
                n: values.len() as u32,
                mme: Distribution::of(&values),
                pairs: None,
                change_from_baseline: None,
                reduction_50: None,
                cessation: None,
                lost_to_follow_up: lost,
            };
            if w > 0 {
                let (baseline, current): (Vec<f64>, Vec<f64>) = subjects
                    .iter()
                    .filter_map(|s| Some((value(s, 0)?, value(s, w)?)))
                    .unzip();
                let pairs = baseline.len();
                let changes: Vec<f64> = current.iter().zip(&baseline).map(|(c, b)| c - b).collect();
                let reduced = current
                    .iter()
                    .zip(&baseline)
                    .filter(|(c, b)| **c <= 0.5 * **b)
                    .count();
                let ceased = current.iter().filter(|c| **c == 0.0).count();
                row.pairs = Some(pairs as u32);
                row.change_from_baseline = Some(MeanChange {
                    mean: mean(&changes),
                    p_value: paired_t_test_p_value(&baseline, &current),
                });
                row.reduction_50 = Some(count_share(reduced, pairs));
                row.cessation = Some(count_share(ceased, pairs));
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::parse_windows;

    fn subject(values: &[Option<f64>], lost: &[bool]) -> Vec<SubjectWindow> {
        values
            .iter()
            .zip(lost)
            .enumerate()
            .map(|(i, (value, lost))| SubjectWindow {
                window: format!("w{i}"),
                first_day: 0,
                last_day: 0,
                days_with_data: u32::from(value.is_some()),
                mme_mean: *value,
                pain_nrs_mean: None,
                sows_mean: None,
                lost_to_follow_up: *lost,
            })
            .collect()
    }

    #[test]
    fn table_of_a_small_cohort() {
        let windows = parse_windows("baseline:-7..-1,discharge:0..6").unwrap();
        let subjects = vec![
            subject(&[Some(200.0), Some(90.0)], &[false, false]),
            subject(&[Some(100.0), Some(0.0)], &[false, false]),
            subject(&[Some(60.0), Some(50.0)], &[false, false]),
            subject(&[Some(80.0), None], &[false, true]),
        ];
        let table = cohort_table(&windows, &subjects);
        assert_eq!(table[0].n, 4);
        assert_eq!(table[0].mme.mean, Some(110.0));
        assert_eq!(table[0].pairs, None);
        assert_eq!(table[0].change_from_baseline, None);
        let discharge = &table[1];
        assert_eq!(discharge.n, 3);
        assert_eq!(discharge.pairs, Some(3));
        let change = discharge.change_from_baseline.unwrap();
        assert!((change.mean.unwrap() - (-110.0 - 100.0 - 10.0) / 3.0).abs() < 1e-9);
        assert!(change.p_value.unwrap() > 0.0 && change.p_value.unwrap() < 1.0);
        assert_eq!(
            discharge.reduction_50,
            Some(CountShare {
                count: 2,
                share: Some(2.0 / 3.0)
            })
        );
        assert_eq!(
            discharge.cessation,
            Some(CountShare {
                count: 1,
                share: Some(1.0 / 3.0)
            })
        );
        assert_eq!(discharge.lost_to_follow_up, 1);
    }

    #[test]
    fn empty_cohort_has_null_statistics() {
        let windows = parse_windows("baseline:-7..-1,discharge:0..6").unwrap();
        let table = cohort_table(&windows, &[]);
        assert_eq!(table[1].n, 0);
        assert_eq!(table[1].mme.mean, None);
        assert_eq!(
            table[1].reduction_50,
            Some(CountShare {
                count: 0,
                share: None
            })
        );
        assert_eq!(
            table[1].change_from_baseline,
            Some(MeanChange {
                mean: None,
                p_value: None
            })
        );
    }
}
