//! Scales: NRS, PEG (Krebs et al. 2009) and SOWS (Handelsman et al. 1987).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::PegAnswers;

/// LOINC code of the 0–10 pain severity NRS.
pub const NRS_LOINC: &str = "72514-3";
/// LOINC panel of the PEG (to be verified before an export relies on it).
pub const PEG_LOINC: &str = "91148-7";

/// The highest NRS rating (0 = no pain, 10 = worst imaginable).
pub const NRS_MAX: u8 = 10;
/// The highest rating of each PEG item (each is a 0–10 NRS).
pub const PEG_ITEM_MAX: u8 = 10;
/// The highest rating of each SOWS item (0 = not at all, 4 = extremely).
pub const SOWS_ITEM_MAX: u8 = 4;

/// One SOWS item: its wire key and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SowsItem {
    /// Wire key (`anxious`).
    pub key: &'static str,
    /// The statement the patient rates.
    pub text: &'static str,
}

/// The 16 items of the Subjective Opiate Withdrawal Scale, each rated 0–4.
pub const SOWS_ITEMS: [SowsItem; 16] = [
    SowsItem {
        key: "anxious",
        text: "I feel anxious",
    },
    SowsItem {
        key: "yawning",
        text: "I feel like yawning",
    },
    SowsItem {
        key: "perspiring",
        text: "I am perspiring",
    },
    SowsItem {
        key: "tearing",
        text: "My eyes are tearing",
    },
    SowsItem {
        key: "runny_nose",
        text: "My nose is running",
    },
    SowsItem {
        key: "goosebumps",
        text: "I have goose flesh",
    },
    SowsItem {
        key: "shaking",
        text: "I am shaking",
    },
    SowsItem {
        key: "hot_flushes",
        text: "I have hot flushes",
    },
    SowsItem {
        key: "cold_flushes",
        text: "I have cold flushes",
    },
    SowsItem {
        key: "aches",
        text: "My bones and muscles ache",
    },
    SowsItem {
        key: "restless",
        text: "I feel restless",
    },
    SowsItem {
        key: "nauseous",
        text: "I feel nauseous",
    },
    SowsItem {
        key: "vomiting",
        text: "I feel like vomiting",
    },
    SowsItem {
        key: "twitching",
        text: "My muscles twitch",
    },
    SowsItem {
        key: "stomach_cramps",
        text: "I have cramps in my stomach",
    },
    SowsItem {
        key: "craving",
        text: "I feel like using now",
    },
];

/// The highest possible SOWS total.
pub const SOWS_MAX_TOTAL: u8 = 64;

const _: () = assert!(SOWS_MAX_TOTAL as usize == SOWS_ITEMS.len() * SOWS_ITEM_MAX as usize);

/// Where the SOWS severity bands come from (they are not in the 1987 paper).
pub const SOWS_SEVERITY_SOURCE: &str = "NCETA (Australia): 1-10 mild, 11-20 moderate, 21+ severe";

/// A SOWS total's severity band, as published by NCETA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SowsSeverity {
    /// Total 0.
    None,
    /// Total 1–10.
    Mild,
    /// Total 11–20.
    Moderate,
    /// Total 21 and above.
    Severe,
}

impl SowsSeverity {
    /// The band of a total.
    pub fn of_total(total: u8) -> SowsSeverity {
        match total {
            0 => SowsSeverity::None,
            1..=10 => SowsSeverity::Mild,
            11..=20 => SowsSeverity::Moderate,
            _ => SowsSeverity::Severe,
        }
    }
}

/// The SOWS total, or `None` when any of the 16 items is missing (never sum an incomplete one).
pub fn sows_total(answers: &BTreeMap<String, u8>) -> Option<u8> {
    SOWS_ITEMS.iter().try_fold(0u8, |total, item| {
        answers
            .get(item.key)
            .map(|value| total.saturating_add(*value))
    })
}

/// The PEG score: the mean of its three items.
pub fn peg_score(answers: &PegAnswers) -> f64 {
    (f64::from(answers.pain) + f64::from(answers.enjoyment) + f64::from(answers.activity)) / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sows_total_needs_every_item() {
        let mut answers: BTreeMap<String, u8> =
            SOWS_ITEMS.iter().map(|i| (i.key.to_string(), 4)).collect();
        assert_eq!(sows_total(&answers), Some(SOWS_MAX_TOTAL));
        answers.remove("yawning");
        assert_eq!(sows_total(&answers), None);
    }

    #[test]
    fn severity_bands() {
        assert_eq!(SowsSeverity::of_total(0), SowsSeverity::None);
        assert_eq!(SowsSeverity::of_total(10), SowsSeverity::Mild);
        assert_eq!(SowsSeverity::of_total(11), SowsSeverity::Moderate);
        assert_eq!(SowsSeverity::of_total(21), SowsSeverity::Severe);
    }

    #[test]
    fn peg_is_the_mean() {
        assert_eq!(
            peg_score(&PegAnswers {
                pain: 6,
                enjoyment: 3,
                activity: 0
            }),
            3.0
        );
    }
}
