//! `housing-signal`: a landlord's rent-arrears early-warning signal, shaped like one entry of
//! `vroegsignalen[]` in the VNG "Data delen armoede en schulden" exchange model v0.9
//! (`json_schema_Uitwisselmodel.json`), with a JSON status callback for the way back.
//!
//! # Decoding
//!
//! The input is one JSON object (UTF-8, an optional BOM, at most 64 MiB). Its keys decide its
//! shape:
//!
//! * `schema` → a **status callback** (below);
//! * `codeGegevensleverancier`, `leveringen`, `aanleverdatumEnTijd`, `startdatumLevering` or
//!   `einddatumLevering` → a **delivery envelope** (the model's root object): every
//!   `leveringen[i].vroegsignalen[j]` is its own record, and its errors carry pointers such as
//!   `/leveringen/0/vroegsignalen/1/client/Burgerservicenummer`. One bad signal does not stop
//!   the good ones. The envelope's own required fields (`codeGegevensleverancier`,
//!   `startdatumLevering`, `einddatumLevering`, `aanleverdatumEnTijd`; per levering `teller`,
//!   `gemeentecode`, `aanleverende_organisatie`) are checked; when one fails, the delivery is
//!   refused as a whole (its own errors, then every error of its signals, no records). Other
//!   envelope and levering keys (`vroegsignaalzaken`, contact persons, keys a later model
//!   version adds) are **ignored**: they are the municipality's case data, not the signal;
//! * `ID`, `client` or `signaalpartner` → a **single signal** (one `vroegsignalen[]` entry).
//!
//! A signal becomes a referral:
//!
//! | signal                                   | referral                                               |
//! |------------------------------------------|--------------------------------------------------------|
//! | `ID` (required)                          | `source` = (`ctx.sender`, `ID`)                        |
//! | `signaalpartner.type` (required)         | must be `Huur`; any other VNG type is refused          |
//! | `crisissignaal`, `warmeOverdracht`, `bedrag`, dates | `urgency` by [`codes::derived_urgency`]     |
//! | `bedrag` (required here, euros, ≤ 2 decimals) | `finance.arrears` (exact cents, no float rounding) |
//! | `ontstaansdatum`                         | `finance.arrears_since`                                |
//! | `signaaldatum` (required here)           | `finance.signalled_on`; `requested_at` = that day 00:00 UTC for a single signal, the envelope's `aanleverdatumEnTijd` for an envelope |
//! | `status`                                 | checked against `EnumSignaalstatus`, not carried       |
//! | `client.Burgerservicenummer` (required)  | `identity.bsn` (11-proef)                              |
//! | `client.Voorletters`, `Voorvoegsel`, `Achternaam` (required), `Geboortedatum` | initials, prefix, family name, birth date |
//! | `client.Straatnaam`, `Postcode`, `Huisnummer`, `Huisnummertoevoeging`, `Plaatsnaam` | `contact.address` (postcode and number required once any address field is given; a Dutch postcode) |
//! | —                                        | `needs`: Finances and Housing at [`codes::derived_severity`], unless `leefgebieden` lists them |
//! | —                                        | `target`: `Sector(Welfare)` unless `doelpartner`/`doelsector` say otherwise |
//!
//! `Huisnummertoevoeging` is one field in the VNG model and two in ours: one letter is the
//! house letter (`A`), `A-2` is letter and addition, anything else of 1–4 letters or digits
//! the addition.
//!
//! **Deviations from the VNG schema**, all documented rules of this adapter: `bedrag` may have
//! up to 2 decimals (the schema says whole euros) and is required, as is `signaaldatum`
//! (a rent-arrears signal without them carries no signal); `null` counts as absent; unknown
//! keys in a signal, its `client`, `signaalpartner` and `leefgebieden` items are refused (the
//! schema closes the signal with `additionalProperties: false`, and a misspelt name field
//! would otherwise vanish silently).
//!
//! **Extensions** (optional keys on a signal, written by this adapter, accepted from anyone):
//!
//! * `doelpartner`: a partner id from the gateway's directory → `Target::Partner`;
//! * `doelsector`: `housing`, `welfare`, `care` or `employment` → `Target::Sector` (not with
//!   `doelpartner`);
//! * `betalingsregelingStatus`: a VERA `BETALINGSREGELINGSTATUS` code (AAN, ACT, ANN, BEE,
//!   BEV, VER); AAN and ACT soften the derived severity by one step;
//! * `leefgebieden`: `[{"leefgebied": "financien", "ernst": 2}, ...]` with the codes of
//!   [`codes::DOMAIN_CODES`]: the needs, replacing the derived ones;
//! * `verwijzingId`: the gateway's referral id (UUID v7) → `IncomingReferral::gateway_id`.
//!
//! Every problem found in a record is its own `Err` with the JSON pointer of the field and
//! the rule; a value from the input is quoted only when it is a code (`signaalpartner.type`,
//! `status`, `leefgebied`, VERA codes), never a BSN, name, address or amount.
//!
//! # The status callback (`wijkbrug.housing-status/1`)
//!
//! The landlord sends signals and gets their progress back as this JSON object; it may send
//! one itself (e.g. to cancel its own signal):
//!
//! ```json
//! {
//!   "schema": "wijkbrug.housing-status/1",
//!   "signaal_id": "HUUR-2026-0042",
//!   "referral_id": "01900000-0000-7000-8000-000000000000",
//!   "status": "declined",
//!   "at": "2026-11-03T14:05:00Z",
//!   "reden": "Inwoner is al bekend bij schuldhulpverlening",
//!   "reden_code": "AL-BEKEND"
//! }
//! ```
//!
//! `status` is one of `accepted`, `declined`, `in_progress`, `completed`, `cancelled`; `at` is
//! RFC 3339; `reden` (1–1000 characters) and `reden_code` (1–64 printable characters) are
//! optional; unknown keys are refused. On decode `referral_id` gives `ReferralRef::Id`,
//! otherwise `signaal_id` (then required) gives `ReferralRef::External`. On encode the
//! landlord's `ID` (`request.source.reference`) is `signaal_id` and the gateway id
//! `referral_id`.
//!
//! # Encoding a referral
//!
//! Housing corporations only send signals, but for completeness (and round trips) a referral
//! is written as one signal when it has an identity and a finance part (otherwise
//! `EncodeError::MissingCategory`): `crisissignaal` = urgency is `Crisis`, `warmeOverdracht` =
//! urgency is `Asap`, `signaaldatum` = `finance.signalled_on`, or the day of `requested_at`;
//! `status` "Nog niet opgepakt", `signaalpartner.type` "Huur", the needs as `leefgebieden`,
//! the target as `doelpartner`/`doelsector` (nothing for `Sector(Welfare)`), and the id as
//! `verwijzingId`.
//!
//! **What a round trip loses** (see `project` in `tests/housing_roundtrip.rs`): the
//! `Routine`/`Urgent` distinction (re-derived from amount and dates), the time of
//! `requested_at` (midnight UTC of `signaaldatum`; `signalled_on` becomes that day when it was
//! absent), given names and gender, phone and e-mail, notes (on the referral and on needs), a
//! house-number addition that is a single letter without a house letter (read back as the
//! house letter), and a contact without an address.

pub mod codes;
mod decode;
mod encode;

use crate::adapter::{
    Adapter, DecodeContext, Directory, EncodeError, Format, OutgoingReferral, OutgoingStatus,
    Records,
};

pub use decode::{CALLBACK_KEYS, CLIENT_KEYS, SIGNAL_KEYS};

/// The `schema` value of a status callback.
pub const CALLBACK_SCHEMA: &str = "wijkbrug.housing-status/1";

/// The largest input decoded.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The largest `bedrag` accepted, in euros (keeps every amount exact in cents).
pub const MAX_EUROS: u64 = 1_000_000_000_000;

/// The housing-signal adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct HousingSignal;

impl Adapter for HousingSignal {
    fn format(&self) -> Format {
        Format::HousingSignal
    }

    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a> {
        Box::new(decode::decode(input, ctx).into_iter())
    }

    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::referral(referral)
    }

    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::status(status)
    }
}
