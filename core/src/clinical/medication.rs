//! The medication catalogue: codes patients pick from, with what they may be given in.

use crate::model::{Route, Unit};

/// How a medication counts in the daily summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MedicationClass {
    /// A full opioid agonist, converted to MME by the table in use.
    Opioid,
    /// Buprenorphine: not converted to MME (CDC removed it in 2018); reported in mg.
    Buprenorphine,
    /// Ketamine: not an opioid; reported in mg.
    Ketamine,
    /// A catalogue medication that is shown but never counted (naltrexone, dextromethorphan).
    NotConverted,
    /// `other`: free text; its doses are counted as unconverted so the gap stays visible.
    Other,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Medication {
    /// The wire code (`oxycodone`).
    pub code: &'static str,
    /// The name shown to people.
    pub display_name: &'static str,
    /// How it counts.
    pub class: MedicationClass,
    /// Units a dose may be given in.
    pub units: &'static [Unit],
    /// Routes it may be taken by.
    pub routes: &'static [Route],
}

use MedicationClass::*;
use Route::*;
use Unit::*;

const ORAL_AND_PARENTERAL: &[Route] = &[Oral, Rectal, Intravenous, Intramuscular, Subcutaneous];

/// Every medication a patient can pick, `other` last.
pub const CATALOGUE: &[Medication] = &[
    Medication {
        code: "codeine",
        display_name: "Codeine",
        class: Opioid,
        units: &[Mg],
        routes: &[Oral, Rectal, Intramuscular, Subcutaneous],
    },
    Medication {
        code: "fentanyl_transdermal",
        display_name: "Fentanyl patch",
        class: Opioid,
        units: &[McgPerHour],
        routes: &[Transdermal],
    },
    Medication {
        code: "hydrocodone",
        display_name: "Hydrocodone",
        class: Opioid,
        units: &[Mg],
        routes: &[Oral],
    },
    Medication {
        code: "hydromorphone",
        display_name: "Hydromorphone",
        class: Opioid,
        units: &[Mg, Mcg],
        routes: ORAL_AND_PARENTERAL,
    },
    Medication {
        code: "methadone",
        display_name: "Methadone",
        class: Opioid,
        units: &[Mg],
        routes: &[Oral, Intravenous, Intramuscular, Subcutaneous],
    },
    Medication {
        code: "morphine",
        display_name: "Morphine",
        class: Opioid,
        units: &[Mg, Mcg],
        routes: ORAL_AND_PARENTERAL,
    },
    Medication {
        code: "oxycodone",
        display_name: "Oxycodone",
        class: Opioid,
        units: &[Mg],
        routes: ORAL_AND_PARENTERAL,
    },
    Medication {
        code: "oxymorphone",
        display_name: "Oxymorphone",
        class: Opioid,
        units: &[Mg],
        routes: ORAL_AND_PARENTERAL,
    },
    Medication {
        code: "tapentadol",
        display_name: "Tapentadol",
        class: Opioid,
        units: &[Mg],
        routes: &[Oral],
    },
    Medication {
        code: "tramadol",
        display_name: "Tramadol",
        class: Opioid,
        units: &[Mg],
        routes: &[Oral, Rectal, Intravenous, Intramuscular],
    },
    Medication {
        code: "buprenorphine",
        display_name: "Buprenorphine",
        class: Buprenorphine,
        units: &[Mg, Mcg, McgPerHour],
        routes: &[
            Sublingual,
            Buccal,
            Transdermal,
            Intravenous,
            Intramuscular,
            Subcutaneous,
        ],
    },
    Medication {
        code: "ketamine",
        display_name: "Ketamine",
        class: Ketamine,
        units: &[Mg, Mcg],
        routes: &[
            Oral,
            Sublingual,
            Nasal,
            Intravenous,
            Intramuscular,
            Subcutaneous,
        ],
    },
    Medication {
        code: "naltrexone",
        display_name: "Naltrexone",
        class: NotConverted,
        units: &[Mg, Mcg],
        routes: &[Oral, Sublingual, Intramuscular, Subcutaneous],
    },
    Medication {
        code: "dextromethorphan",
        display_name: "Dextromethorphan",
        class: NotConverted,
        units: &[Mg],
        routes: &[Oral],
    },
    Medication {
        code: "other",
        display_name: "Other (name it)",
        class: Other,
        units: &[Mg, Mcg, McgPerHour],
        routes: &Route::ALL,
    },
];

/// The catalogue entry for a wire code.
pub fn medication(code: &str) -> Option<&'static Medication> {
    CATALOGUE.iter().find(|medication| medication.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_found() {
        for (index, entry) in CATALOGUE.iter().enumerate() {
            assert_eq!(medication(entry.code).map(|m| m.code), Some(entry.code));
            assert!(
                CATALOGUE[index + 1..]
                    .iter()
                    .all(|other| other.code != entry.code)
            );
            // mcg/h is the unit of a patch, so it goes with the transdermal route only.
            if entry.units.contains(&McgPerHour) {
                assert!(entry.routes.contains(&Transdermal), "{}", entry.code);
            }
        }
        assert!(medication("heroin").is_none());
    }
}
