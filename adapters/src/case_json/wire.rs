//! The JSON shapes of `wijkbrug.case/1`. These types exist only to cross the boundary: they
//! carry unvalidated strings and are turned into the model (with JSON-pointer errors) in
//! `mod.rs`. The checked-in JSON Schema is generated from them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema tag every document carries.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SchemaVersion {
    #[serde(rename = "wijkbrug.case/1")]
    V1,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum ReferralKind {
    Referral,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    Status,
}

/// A `wijkbrug.case/1` document: a referral or a status update.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(untagged)]
#[schemars(title = "wijkbrug.case/1")]
pub enum CaseDocument {
    Referral(Box<WireReferral>),
    Status(WireStatus),
}

/// A referral.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireReferral {
    /// Always `wijkbrug.case/1`.
    pub schema: SchemaVersion,
    /// Always `referral`.
    pub kind: ReferralKind,
    /// The gateway's id (UUID v7). Absent in a partner's new referral; present in what the
    /// gateway delivers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
    ))]
    pub id: Option<String>,
    pub source: WireSource,
    pub target: WireTarget,
    pub urgency: WireUrgency,
    /// When the sender made the referral (RFC 3339 date-time).
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub requested_at: String,
    pub resident: WireResident,
    /// What the resident needs help with: at least one, each life domain at most once.
    pub needs: Vec<WireNeed>,
    /// Free text about the referral (category `notes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4000))]
    pub note: Option<String>,
    /// Arrears (category `finance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance: Option<WireFinance>,
    /// A consent recorded with the referral, covering this resident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<WireConsent>,
    /// The status history, oldest first (written by the gateway's store; ignored on intake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<WireTransition>>,
}

/// Who sent the referral and their own reference for it.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireSource {
    /// The sending partner's id; must be the authenticated sender.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{1,63}$"))]
    pub partner: String,
    /// The sender's own reference: 1–64 printable characters.
    #[schemars(length(min = 1, max = 64))]
    pub reference: String,
}

/// A named partner (`{"partner": "id"}`) or a sector for the router (`{"sector": "welfare"}`).
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WireTarget {
    Partner(#[schemars(regex(pattern = r"^[a-z][a-z0-9-]{1,63}$"))] String),
    Sector(WireSector),
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireSector {
    Housing,
    Welfare,
    Care,
    Employment,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireUrgency {
    Routine,
    Urgent,
    Asap,
    Crisis,
}

/// The resident; each part is optional because consent may not cover it.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct WireResident {
    /// Category `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<WireIdentity>,
    /// Category `contact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<WireContact>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireIdentity {
    /// Burgerservicenummer: 9 digits passing the 11-proef.
    #[schemars(regex(pattern = r"^[0-9]{9}$"))]
    pub bsn: String,
    pub name: WireName,
    /// yyyy-mm-dd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<WireGender>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub given_names: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub initials: Option<String>,
    /// The voorvoegsel, e.g. "van de".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub prefix: Option<String>,
    #[schemars(length(min = 1, max = 200))]
    pub family_name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireGender {
    Male,
    Female,
    Other,
    Unknown,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct WireContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<WireAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireAddress {
    /// `1234AB`.
    #[schemars(regex(pattern = r"^[1-9][0-9]{3} ?[A-Za-z]{2}$"))]
    pub postcode: String,
    #[schemars(range(min = 1, max = 99999))]
    pub house_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z]$"))]
    pub house_letter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{1,4}$"))]
    pub house_number_addition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireNeed {
    pub domain: WireDomain,
    /// Self-Sufficiency Matrix score: 1 (acute) to 5 (self-sufficient).
    #[schemars(range(min = 1, max = 5))]
    pub severity: u8,
    /// Category `notes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4000))]
    pub note: Option<String>,
}

/// The eleven life domains of the Self-Sufficiency Matrix.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireDomain {
    Finances,
    WorkAndEducation,
    Housing,
    DomesticRelations,
    MentalHealth,
    PhysicalHealth,
    Addiction,
    DailyLiving,
    SocialNetwork,
    CommunityParticipation,
    Justice,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireFinance {
    /// Amount in arrears, in euro cents.
    #[schemars(range(min = 0))]
    pub arrears_cents: i64,
    /// yyyy-mm-dd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub arrears_since: Option<String>,
    /// yyyy-mm-dd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub signalled_on: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireConsent {
    pub grantee: WireTarget,
    pub purpose: WirePurpose,
    pub effect: WireEffect,
    /// The data categories it covers; at least one.
    pub categories: Vec<WireCategory>,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<chrono::DateTime<chrono::Utc>>")]
    pub valid_until: Option<String>,
    /// The evidence, e.g. the id of a signed form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub evidence: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WirePurpose {
    Referral,
    Coordination,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireEffect {
    Permit,
    Deny,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireCategory {
    Identity,
    Contact,
    Needs,
    Notes,
    Health,
    Finance,
}

/// One step of a status history.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireTransition {
    pub status: WireStatusCode,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub at: String,
    /// `gateway`, `partner:<id>` or `operator:<name>`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireStatusCode {
    Received,
    Routed,
    Delivered,
    Accepted,
    Declined,
    InProgress,
    Completed,
    Cancelled,
    ConsentMissing,
    Undeliverable,
}

/// A partner's status update. Name the referral by `referral_id` (the gateway's id, as
/// delivered) or by `reference` (your own reference), not both.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireStatus {
    pub schema: SchemaVersion,
    pub kind: StatusKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub status: WireReportable,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub reason_code: Option<String>,
}

/// The statuses a partner may report.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WireReportable {
    Accepted,
    Declined,
    InProgress,
    Completed,
    Cancelled,
}
