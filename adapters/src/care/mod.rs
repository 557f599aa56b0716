//! The care adapter: HL7 FHIR R4 JSON (`fhir-r4`).
//!
//! # What it reads
//!
//! A message is a **Bundle** (type `collection`, `transaction`, `message` or `document`) or a
//! single **Task**. Decoding parses (with serde_json, whose recursion limit of 128 levels bounds
//! nesting; inputs above [`MAX_INPUT_BYTES`] are refused) into a small JSON tree that borrows
//! its strings from the input, much cheaper than `serde_json::Value`, and walks it, so
//! every problem is reported with its JSON pointer, e.g. `/entry/0/resource/identifier/0/value`.
//! All problems found in a record are reported, each as its own `Err`. Errors name the rule,
//! never a value from the input (unknown *codes* are quoted, cut to 40 characters).
//!
//! * A Bundle with a **ServiceRequest** is one referral. Its Patient is the one `subject`
//!   references (by `fullUrl` or `Patient/<id>`), or the only Patient. Tasks next to the
//!   ServiceRequest (such as the `requested` Task the gateway writes) are ignored.
//! * A Bundle with Tasks and no ServiceRequest yields one status update per Task; a lone Task
//!   yields one.
//! * Anything else is refused (`/resourceType`, or `/entry` when the Bundle holds neither).
//!
//! ## Referral (ServiceRequest + Patient [+ Consent])
//!
//! | FHIR | case model |
//! |---|---|
//! | `ServiceRequest.status` | must be `active` |
//! | `ServiceRequest.intent` | required, any R4 request-intent code |
//! | `identifier` system `urn:wijkbrug:referral` | `IncomingReferral::gateway_id` (UUID v7) |
//! | `identifier` system `urn:wijkbrug:partner:<sender>`, else the first identifier in a non-`urn:wijkbrug:` system | `Source.reference`; `Source.partner` is always the authenticated sender |
//! | `requester` | optional; when it names a partner it must be the sender |
//! | `performer[0]` (Organization reference: identifier `urn:wijkbrug:partner`, or an AGB code the directory knows; on the reference or on the referenced Organization entry) | `Target::Partner` (at most one performer) |
//! | `performerType` coding `urn:wijkbrug:sector` (`housing`, `welfare`, `care`, `employment`) | `Target::Sector` (used only without a performer) |
//! | `priority` `routine`/`urgent`/`asap`/`stat` (absent: routine) | `Urgency::Routine`/`Urgent`/`Asap`/`Crisis` |
//! | `authoredOn` (date-time with offset; a date is midnight UTC) | `requested_at` (required) |
//! | `reasonCode[]`, then `category[]` coded in [`codes::LIFE_DOMAIN_SYSTEM`] or the Gravity SDOH categories ([`codes::SDOH_CATEGORIES`]) | `needs`, in order |
//! | extension `urn:wijkbrug:fhir:severity` (valueInteger 1–5) on that reasonCode/category | `Need.severity`; **absent means 3** ([`codes::DEFAULT_SEVERITY`], the matrix's middle) |
//! | extension `urn:wijkbrug:fhir:need-note` (valueString) on it | `Need.note` |
//! | `note[].text` (several are joined with a blank line) | `note` |
//! | extension `urn:wijkbrug:fhir:finance` with sub-extensions `arrears` (valueMoney, EUR), `arrearsSince`, `signalledOn` (valueDate) | `finance` |
//! | Patient `identifier` system `http://fhir.nl/fhir/NamingSystem/bsn` or `urn:oid:2.16.840.1.113883.2.4.6.3` | `Identity.bsn` (required; 11-proef) |
//! | Patient `name` (`use` official, else the first): `family`; `_family` extensions `humanname-own-prefix` / `humanname-own-name`; `given` with `_given` qualifier `IN` = initials (joined without separator), others given names (joined with a space) | `PersonName` (the prefix is taken off the front of `family` when `own-name` is absent) |
//! | `birthDate` (full date only), `gender` | `birth_date`, `gender` |
//! | `address` (`use` home, else the first): `postalCode`, `city`, `_line[0]` extensions ADXP-streetName / houseNumber / buildingNumberSuffix, else `line[0]` parsed as "Street 12a-2" | `Contact.address` |
//! | `telecom` first `phone`, first `email` (other systems ignored) | `Contact.phone`, `email` |
//!
//! Needs: codings in other systems (SNOMED diagnoses, the Gravity "social service" category)
//! are ignored; an unknown code in one of the two needs systems is refused. A domain listed
//! twice in `reasonCode` is refused; a `category` naming a domain already listed is skipped.
//! At least one need is required. A Patient without a BSN identifier is refused, so a Bundle
//! the gateway wrote for a receiver without the identity category cannot come back as a
//! referral (by design: an incoming referral must name the resident for the consent check).
//!
//! ## Consent (optional, at most one per Bundle) → `IncomingReferral::consent`
//!
//! * `status` is **required** (the two invalid consents in `shared/standards/fhir-r4` are
//!   refused for it). `active` gives a consent; `rejected` gives a consent with effect `Deny`;
//!   `inactive`, `draft`, `proposed` and `entered-in-error` are checked but carry no consent
//!   (`consent: None`).
//! * `patient` is required: a reference to the Bundle's Patient or a BSN identifier equal to
//!   its BSN. `resident` is the Patient's BSN.
//! * `provision.period.start`/`end` → `valid_from`/`valid_until`; without a start, `dateTime`
//!   is the start. `provision.type` `permit`/`deny` → effect; absent: `policyRule` `OPTOUT`
//!   denies, anything else permits.
//! * `provision.actor` (at most one) → `Grantee::Partner` like a performer; **no actor means
//!   the consent is for whoever the referral is for** (the target partner or sector).
//! * `provision.purpose[0]`: `urn:wijkbrug:fhir:consent-purpose` `referral`/`coordination`,
//!   v3-ActReason `TREAT` (referral) / `COC` (coordination); absent: referral.
//! * `provision.class[]` and `provision.securityLabel[]` → data categories by
//!   [`codes::CONSENT_CLASSES`]: `urn:wijkbrug:fhir:data-category` (the category codes),
//!   resource types `Patient` (identity, contact), `ServiceRequest` (needs, notes),
//!   `Observation`/`Condition` (health), v3-ActCode `PSY`/`ETH`/`HIV` (health). Unknown
//!   codes are refused. **None given: a permit covers every category but health** (health
//!   must be named, DESIGN.md), a deny covers all.
//! * Nested provisions are refused. `identifier[0].value` → `evidence`;
//!   `recorded_by` is the sender. `consent-example-basic.json` (no actor, no class, policy
//!   OPTIN) thus decodes as a permit for the referral's target on all but health, 1964–2016.
//!
//! ## A standalone Consent → [`decode_consent`]
//!
//! A care partner may also record a consent with the gateway as a lone FHIR Consent resource.
//! The mapping is the one above, except that the resident must be named by a BSN identifier
//! on `patient` (either system; a reference alone cannot be tied to a resident, so the
//! standard's `consent-example-basic.json` is refused at `/patient/identifier`), one
//! `provision.actor` is required (no referral to default to), and `status` must be `active`
//! or `rejected`.
//!
//! ## Status update (Task), Gravity lifecycle
//!
//! | Task.status | status update |
//! |---|---|
//! | `draft`, `requested`, `received`, `ready`, `entered-in-error` | refused: not reportable |
//! | `accepted` / `rejected` | `Accepted` / `Declined` |
//! | `in-progress` | `InProgress` |
//! | `on-hold` | `InProgress`, reason kept; `reason_code` from statusReason, else `"on-hold"` |
//! | `completed` / `cancelled` | `Completed` / `Cancelled` |
//! | `failed` | `Cancelled` with `reason_code` `"failed"` |
//!
//! The referral: `basedOn[]` then `focus` with identifier system `urn:wijkbrug:referral`, or a
//! reference `urn:uuid:<id>` / `ServiceRequest/<id>` whose id is a UUID v7 → `ReferralRef::Id`;
//! else an identifier with system `urn:wijkbrug:partner:<sender>` there, or the Task's first
//! `identifier` → `ReferralRef::External`. `statusReason.text` → `reason`, the first
//! `statusReason.coding[].code` → `reason_code` (≤ 64 characters). `lastModified`, else
//! `authoredOn`, → `at` (required).
//!
//! # What it writes
//!
//! A referral is a `transaction` Bundle of three entries, each with a `fullUrl` and
//! `request {method POST, url}`. The fullUrls derive from the referral id alone (see
//! [`full_urls`]): no randomness, no clock.
//! * **Patient**: BSN identifier (`http://fhir.nl/fhir/NamingSystem/bsn`), `name` (use
//!   official; `family` is prefix + family name with the own-prefix/own-name extensions;
//!   given names as one `given` qualified `BR`, initials as one qualified `IN`), `birthDate`,
//!   `gender`, `address` (use home, `line` "Street 12a-2" with the ADXP extensions, `city`,
//!   `postalCode`), `telecom` phone/email: only what the minimised referral carries; without
//!   identity and contact it is a bare Patient.
//! * **ServiceRequest**: status active, intent order, identifiers `urn:wijkbrug:referral`
//!   (gateway id) and `urn:wijkbrug:partner:<sender>` (the sender's reference), priority,
//!   subject, authoredOn, requester (the sender), performer or performerType, one reasonCode
//!   per need (with the severity and need-note extensions), note, and the finance extension.
//! * **Task**: status requested, intent order, basedOn and focus the ServiceRequest, for the
//!   Patient, authoredOn, requester, owner (the target partner).
//!
//! A status update is a lone Task: the status per the table above (`Cancelled` with reason
//! code `failed` is written `failed`, `InProgress` with `on-hold` is `on-hold`), `statusReason`
//! (text; other reason codes as a coding in `urn:wijkbrug:fhir:status-reason`), basedOn and
//! focus the ServiceRequest by its `urn:wijkbrug:referral` identifier (plus basedOn the
//! sender's own reference), `lastModified`.
//!
//! # Losses (what a round trip does not give back)
//!
//! * `Source.partner` becomes the authenticated sender of the decoded message.
//! * A status update's `referral` is written as the gateway id of the outgoing status, so it
//!   comes back as `ReferralRef::Id(id)` whatever it was.
//! * Arrears above 2^53 cents with a cents part cannot be written exactly (JSON numbers):
//!   encoding them is refused.
//! * On decode: on-hold becomes in progress, several notes are joined, several given-name
//!   parts are joined with one space, a partial birth date is refused.

pub mod codes;
mod decode;
mod encode;
mod json;

pub use decode::{decode_consent, BUNDLE_TYPES, MAX_INPUT_BYTES};
pub use encode::full_urls;

use crate::adapter::{
    Adapter, DecodeContext, Directory, EncodeError, Format, OutgoingReferral, OutgoingStatus,
    Records,
};

/// The FHIR R4 adapter (care).
#[derive(Clone, Copy, Debug, Default)]
pub struct FhirR4;

impl Adapter for FhirR4 {
    fn format(&self) -> Format {
        Format::FhirR4
    }

    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a> {
        Box::new(decode::decode(input, ctx).into_iter())
    }

    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::encode_referral(referral)
    }

    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::encode_status(status)
    }
}
