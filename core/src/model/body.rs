//! The typed body of each kind of entry, in the wire form of API.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::numbers::{integral_u8, integral_u8_map, optional_object};
#[cfg(feature = "openapi")]
use crate::clinical::{SOWS_ITEM_MAX, SOWS_ITEMS};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A medication taken or applied.
    Dose,
    /// A pain rating (NRS, optionally PEG).
    Pain,
    /// A SOWS withdrawal questionnaire.
    Withdrawal,
    /// Free text.
    Note,
}

impl EntryKind {
    /// The wire name (`dose`, `pain`, `withdrawal`, `note`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Dose => "dose",
            EntryKind::Pain => "pain",
            EntryKind::Withdrawal => "withdrawal",
            EntryKind::Note => "note",
        }
    }
}

/// The unit a dose amount is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Unit {
    /// Milligrams.
    #[serde(rename = "mg")]
    Mg,
    /// Micrograms.
    #[serde(rename = "mcg")]
    Mcg,
    /// Micrograms per hour, the delivery rate of a transdermal patch.
    #[serde(rename = "mcg/h")]
    McgPerHour,
}

impl Unit {
    /// The wire name (`mg`, `mcg`, `mcg/h`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Mg => "mg",
            Unit::Mcg => "mcg",
            Unit::McgPerHour => "mcg/h",
        }
    }
}

/// How a medication was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Swallowed.
    Oral,
    /// Under the tongue.
    Sublingual,
    /// Against the cheek.
    Buccal,
    /// Nasal spray.
    Nasal,
    /// A skin patch.
    Transdermal,
    /// Into a vein.
    Intravenous,
    /// Into a muscle.
    Intramuscular,
    /// Under the skin.
    Subcutaneous,
    /// Suppository.
    Rectal,
}

impl Route {
    /// Every route, in wire order.
    pub const ALL: [Route; 9] = [
        Route::Oral,
        Route::Sublingual,
        Route::Buccal,
        Route::Nasal,
        Route::Transdermal,
        Route::Intravenous,
        Route::Intramuscular,
        Route::Subcutaneous,
        Route::Rectal,
    ];

    /// The wire name (`oral`, `sublingual`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Oral => "oral",
            Route::Sublingual => "sublingual",
            Route::Buccal => "buccal",
            Route::Nasal => "nasal",
            Route::Transdermal => "transdermal",
            Route::Intravenous => "intravenous",
            Route::Intramuscular => "intramuscular",
            Route::Subcutaneous => "subcutaneous",
            Route::Rectal => "rectal",
        }
    }
}

/// A dose of a medication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DoseBody {
    /// A code of the medication catalogue, or `other`.
    pub medication: String,
    /// The medication's name when `medication` is `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The amount, in `unit`; for a patch, its delivery rate.
    pub amount: f64,
    /// The unit of `amount`.
    pub unit: Unit,
    /// How it was taken.
    pub route: Route,
    /// Hours a patch is worn (transdermal only; 72 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_h: Option<f64>,
    /// Taken as needed rather than on schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prn: Option<bool>,
}

/// Hours a transdermal patch is worn when the entry does not say.
pub const DEFAULT_PATCH_HOURS: f64 = 72.0;

impl DoseBody {
    /// Whether this dose is a patch that delivers its rate over hours.
    pub fn is_patch(&self) -> bool {
        self.unit == Unit::McgPerHour && self.route == Route::Transdermal
    }

    /// Hours the patch is worn (only meaningful for a patch).
    pub fn wear_hours(&self) -> f64 {
        self.duration_h.unwrap_or(DEFAULT_PATCH_HOURS)
    }
}

/// The three PEG items (Krebs et al. 2009), each 0–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PegAnswers {
    /// Average pain in the past week.
    #[serde(deserialize_with = "integral_u8")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub pain: u8,
    /// Interference with enjoyment of life.
    #[serde(deserialize_with = "integral_u8")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub enjoyment: u8,
    /// Interference with general activity.
    #[serde(deserialize_with = "integral_u8")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub activity: u8,
}

/// A pain rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PainBody {
    /// Numeric rating scale, 0 (no pain) to 10 (worst imaginable).
    #[serde(deserialize_with = "integral_u8")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub nrs: u8,
    /// The PEG questionnaire, when answered.
    #[serde(
        default,
        deserialize_with = "optional_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub peg: Option<PegAnswers>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A SOWS questionnaire: the 16 items of `clinical::SOWS_ITEMS`, each 0–4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    /// Item key → answer.
    #[serde(deserialize_with = "integral_u8_map")]
    #[cfg_attr(feature = "openapi", schema(schema_with = sows_schema))]
    pub sows: BTreeMap<String, u8>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The schema of a SOWS answer set, built from [`SOWS_ITEMS`] so the document names the
/// same 16 items, each required and rated 0 to [`SOWS_ITEM_MAX`], that validation checks.
#[cfg(feature = "openapi")]
fn sows_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "The 16 SOWS items, each rated 0 (not at all) to 4 (extremely).",
        ))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for item in SOWS_ITEMS {
        let answer = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(SOWS_ITEM_MAX))
            .description(Some(item.text));
        object = object.property(item.key, answer).required(item.key);
    }
    object.build()
}

/// A free-text note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note, 1–4000 characters.
    pub text: String,
}

/// An entry's body as the OpenAPI document shows it (`EntryBody`): the object of the entry's `kind`
/// (serde's `untagged` makes utoipa write a `oneOf` of the four; never serialised).
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "a schema only: the document is its one use")]
pub(crate) enum EntryBody {
    /// `kind: dose`.
    Dose(DoseBody),
    /// `kind: pain`.
    Pain(PainBody),
    /// `kind: withdrawal`.
    Withdrawal(WithdrawalBody),
    /// `kind: note`.
    Note(NoteBody),
}

/// The body of a live (not deleted) entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A dose.
    Dose(DoseBody),
    /// A pain rating.
    Pain(PainBody),
    /// A withdrawal questionnaire.
    Withdrawal(WithdrawalBody),
    /// A note.
    Note(NoteBody),
}

impl Body {
    /// The kind this body belongs to.
    pub fn kind(&self) -> EntryKind {
        match self {
            Body::Dose(_) => EntryKind::Dose,
            Body::Pain(_) => EntryKind::Pain,
            Body::Withdrawal(_) => EntryKind::Withdrawal,
            Body::Note(_) => EntryKind::Note,
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Body::Dose(body) => serde_json::to_value(body),
            Body::Pain(body) => serde_json::to_value(body),
            Body::Withdrawal(body) => serde_json::to_value(body),
            Body::Note(body) => serde_json::to_value(body),
        };
        // Serialising these plain structs cannot fail: no maps with non-string keys, no I/O.
        value.unwrap_or(serde_json::Value::Null)
    }
}
