//! Clinical facts as versioned data: the medication catalogue, MME tables and scales.
//!
//! Every number here comes from `shared/reference/CLINICAL.md`, which names its source.
//! None of it is medical advice: MME is a population risk measure, not a dosing rule.

mod medication;
mod mme;
mod scales;

pub use medication::{CATALOGUE, Medication, MedicationClass, medication};
pub use mme::{DEFAULT_MME_TABLE, MME_TABLES, MmeFactor, MmeFigure, MmeTable, mme_table};
pub use scales::{
    NRS_LOINC, NRS_MAX, PEG_ITEM_MAX, PEG_LOINC, SOWS_ITEM_MAX, SOWS_ITEMS, SOWS_MAX_TOTAL,
    SOWS_SEVERITY_SOURCE, SowsItem, SowsSeverity, peg_score, sows_total,
};

/// The version of the flag rules the core computes (CLINICAL.md, "Flags").
pub const FLAGS_VERSION: &str = "flags-1";

/// MME/day from which CDC 2022 advises careful reassessment.
pub const MME_THRESHOLD_REASSESS: f64 = 50.0;
/// MME/day that CDC 2016 advises to avoid or carefully justify.
pub const MME_THRESHOLD_AVOID: f64 = 90.0;
