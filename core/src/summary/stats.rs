//! Descriptive statistics and the paired t-test used by the cohort table.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The arithmetic mean; `None` for an empty set.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample standard deviation (n − 1); `None` for fewer than two values.
pub fn sample_sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let mean = mean(values)?;
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    Some((squares / (values.len() - 1) as f64).sqrt())
}

/// The `p` quantile by linear interpolation between order statistics (Hyndman & Fan type 7,
/// the default of R and NumPy); `None` for an empty set.
pub fn quantile_type7(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lower = h.floor() as usize;
    let upper = h.ceil() as usize;
    Some(sorted[lower] + (h - lower as f64) * (sorted[upper] - sorted[lower]))
}

/// The two-sided p-value of the paired t-test of `after` against `before` (same length);
/// `None` with fewer than two pairs or when the differences have no variance.
pub fn paired_t_test_p_value(before: &[f64], after: &[f64]) -> Option<f64> {
    if before.len() != after.len() || before.len() < 2 {
        return None;
    }
    let differences: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let sd = sample_sd(&differences)?;
    if sd == 0.0 || !sd.is_finite() {
        return None;
    }
    let n = differences.len() as f64;
    let t = mean(&differences)? / (sd / n.sqrt());
    let distribution = StudentsT::new(0.0, 1.0, n - 1.0).ok()?;
    Some((2.0 * (1.0 - distribution.cdf(t.abs()))).clamp(0.0, 1.0))
}

/// Mean, SD, median and quartiles of a set of values (each `None` when undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Mean.
    pub mean: Option<f64>,
    /// Sample standard deviation.
    pub sd: Option<f64>,
    /// Median (type 7).
    pub median: Option<f64>,
    /// First quartile (type 7).
    pub q1: Option<f64>,
    /// Third quartile (type 7).
    pub q3: Option<f64>,
}

impl Distribution {
    /// Describes `values`.
    pub fn of(values: &[f64]) -> Distribution {
        Distribution {
            mean: mean(values),
            sd: sample_sd(values),
            median: quantile_type7(values, 0.5),
            q1: quantile_type7(values, 0.25),
            q3: quantile_type7(values, 0.75),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(mean(&values), Some(2.5));
        assert!((sample_sd(&values).unwrap() - 1.290_994_448_7).abs() < 1e-9);
        // R: quantile(c(1,2,3,4), c(.25,.5,.75)) = 1.75 2.50 3.25
        assert_eq!(quantile_type7(&values, 0.25), Some(1.75));
        assert_eq!(quantile_type7(&values, 0.5), Some(2.5));
        assert_eq!(quantile_type7(&values, 0.75), Some(3.25));
        assert_eq!(Distribution::of(&[]).mean, None);
        assert_eq!(Distribution::of(&[7.0]).sd, None);
        assert_eq!(Distribution::of(&[7.0]).median, Some(7.0));
    }

    #[test]
    fn paired_t_test_matches_a_direct_integration() {
        // t = -6.5169 with 4 df; integrating the t density numerically gives p = 0.0028622.
        let before = [10.0, 9.0, 12.0, 8.0, 11.0];
        let after = [5.0, 7.0, 9.0, 4.0, 6.0];
        let p = paired_t_test_p_value(&before, &after).unwrap();
        assert!((p - 0.002_862_2).abs() < 1e-6, "{p}");
        assert_eq!(paired_t_test_p_value(&[1.0], &[2.0]), None);
        assert_eq!(paired_t_test_p_value(&[1.0, 2.0], &[2.0, 3.0]), None);
    }

    proptest! {
        #[test]
        fn quantiles_are_ordered_and_within_range(values in proptest::collection::vec(-1e6f64..1e6, 1..50)) {
            let d = Distribution::of(&values);
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (q1, median, q3) = (d.q1.unwrap(), d.median.unwrap(), d.q3.unwrap());
            prop_assert!(min <= q1 && q1 <= median && median <= q3 && q3 <= max);
            prop_assert!(d.mean.unwrap() >= min - 1e-6 && d.mean.unwrap() <= max + 1e-6);
        }
    }
}
