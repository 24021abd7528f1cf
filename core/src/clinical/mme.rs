//! Versioned MME conversion tables (CLINICAL.md, "Morphine milligram equivalents").

use serde::Serialize;

/// How one medication converts to MME.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MmeFactor {
    /// MME = quantity × factor. The quantity is mg for oral opioids and the day's mean
    /// rate in mcg/h for a fentanyl patch.
    Fixed(f64),
    /// The factor depends on the day's total dose in mg (methadone in `cdc-2016`): the first
    /// band whose upper bound holds the total; above the last band, `beyond` applies and the
    /// figure is marked as outside the table.
    DailyDoseBands {
        /// (inclusive upper bound in mg, factor), ascending.
        bands: &'static [(f64, f64)],
        /// The factor used above the last band.
        beyond: f64,
    },
}

/// A named, sourced conversion table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmeTable {
    /// Its version name, recorded with every figure it produces.
    pub version: &'static str,
    /// Where its numbers come from.
    pub source: &'static str,
    /// Medication code → factor; codes absent here are not converted.
    pub factors: &'static [(&'static str, MmeFactor)],
}

/// One converted figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MmeFigure {
    /// Morphine milligram equivalents.
    pub mme: f64,
    /// The dose was beyond what the table covers and the last factor was used.
    pub beyond_table: bool,
}

const CDC_2022: MmeTable = MmeTable {
    version: "cdc-2022",
    source: "CDC Clinical Practice Guideline for Prescribing Opioids for Pain, 2022",
    factors: &[
        ("codeine", MmeFactor::Fixed(0.15)),
        ("fentanyl_transdermal", MmeFactor::Fixed(2.4)),
        ("hydrocodone", MmeFactor::Fixed(1.0)),
        ("hydromorphone", MmeFactor::Fixed(5.0)),
        ("methadone", MmeFactor::Fixed(4.7)),
        ("morphine", MmeFactor::Fixed(1.0)),
        ("oxycodone", MmeFactor::Fixed(1.5)),
        ("oxymorphone", MmeFactor::Fixed(3.0)),
        ("tapentadol", MmeFactor::Fixed(0.4)),
        ("tramadol", MmeFactor::Fixed(0.2)),
    ],
};

const CDC_2016: MmeTable = MmeTable {
    version: "cdc-2016",
    source: "CDC Guideline for Prescribing Opioids for Chronic Pain, 2016",
    factors: &[
        ("codeine", MmeFactor::Fixed(0.15)),
        ("fentanyl_transdermal", MmeFactor::Fixed(2.4)),
        ("hydrocodone", MmeFactor::Fixed(1.0)),
        ("hydromorphone", MmeFactor::Fixed(4.0)),
        (
            "methadone",
            MmeFactor::DailyDoseBands {
                bands: &[(20.0, 4.0), (40.0, 8.0), (60.0, 10.0), (80.0, 12.0)],
                beyond: 12.0,
            },
        ),
        ("morphine", MmeFactor::Fixed(1.0)),
        ("oxycodone", MmeFactor::Fixed(1.5)),
        ("oxymorphone", MmeFactor::Fixed(3.0)),
        ("tapentadol", MmeFactor::Fixed(0.4)),
        ("tramadol", MmeFactor::Fixed(0.1)),
    ],
};

/// Every table the core knows.
pub const MME_TABLES: &[MmeTable] = &[CDC_2022, CDC_2016];

/// The table used unless another is asked for.
pub const DEFAULT_MME_TABLE: &MmeTable = &CDC_2022;

/// The table of a version name.
pub fn mme_table(version: &str) -> Option<&'static MmeTable> {
    MME_TABLES.iter().find(|table| table.version == version)
}

impl MmeTable {
    /// The factor of a medication code, if this table converts it.
    pub fn factor(&self, code: &str) -> Option<MmeFactor> {
        self.factors
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, factor)| *factor)
    }

    /// Converts one day's total quantity of a medication (see [`MmeFactor::Fixed`]).
    pub fn convert_daily(&self, code: &str, daily_quantity: f64) -> Option<MmeFigure> {
        Some(match self.factor(code)? {
            MmeFactor::Fixed(factor) => MmeFigure {
                mme: daily_quantity * factor,
                beyond_table: false,
            },
            MmeFactor::DailyDoseBands { bands, beyond } => {
                match bands.iter().find(|(upper, _)| daily_quantity <= *upper) {
                    Some((_, factor)) => MmeFigure {
                        mme: daily_quantity * factor,
                        beyond_table: false,
                    },
                    None => MmeFigure {
                        mme: daily_quantity * beyond,
                        beyond_table: true,
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_of_cdc_2022() {
        let table = mme_table("cdc-2022").unwrap();
        assert_eq!(table.convert_daily("oxycodone", 20.0).unwrap().mme, 30.0);
        assert_eq!(table.convert_daily("methadone", 10.0).unwrap().mme, 47.0);
        assert!(
            (table
                .convert_daily("fentanyl_transdermal", 25.0)
                .unwrap()
                .mme
                - 60.0)
                .abs()
                < 1e-9
        );
        assert!(table.convert_daily("buprenorphine", 8.0).is_none());
        assert!(table.convert_daily("ketamine", 8.0).is_none());
    }

    #[test]
    fn methadone_bands_of_cdc_2016() {
        let table = mme_table("cdc-2016").unwrap();
        assert_eq!(table.convert_daily("methadone", 20.0).unwrap().mme, 80.0);
        assert_eq!(table.convert_daily("methadone", 30.0).unwrap().mme, 240.0);
        assert_eq!(table.convert_daily("methadone", 80.0).unwrap().mme, 960.0);
        let beyond = table.convert_daily("methadone", 100.0).unwrap();
        assert_eq!(
            beyond,
            MmeFigure {
                mme: 1200.0,
                beyond_table: true
            }
        );
        assert_eq!(table.convert_daily("tramadol", 100.0).unwrap().mme, 10.0);
    }
}
