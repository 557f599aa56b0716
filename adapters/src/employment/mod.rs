//! The employment sector's CSV (`employment-csv`): `;`-separated rows with a header row, one
//! row a referral (`soort` = `verwijzing`) or a status update (`soort` = `status`), so one
//! file may mix both.
//!
//! # The file
//!
//! - UTF-8, with or without a byte order mark (stripped on input, never written).
//! - `;` between fields; a field holding `;`, `"` or a line break is quoted (`"..."`, with `""`
//!   for a quote inside). Rows end in `\r\n` or `\n` on input; the encoder writes `\r\n`.
//! - The first non-blank line is the header. Header names are matched ignoring ASCII case and
//!   surrounding spaces, with `' '` and `'-'` read as `'_'`; column order is free.
//!   **Unknown columns are refused** (each reported at `line:column` of its header cell, the
//!   name shown as `?` since a header-less file would otherwise put a resident's data in the
//!   error), as are duplicate columns, headers of more than 64 columns, and headers lacking a
//!   required column (`soort`, `referentie`, `datum`). A header problem ends the decode.
//!   Refusing unknown columns means a misspelt optional column cannot silently drop data.
//! - Every row has as many fields as the header. Cells are trimmed; a row of empty cells is
//!   skipped. A row (header included) may be at most 64 KiB; a longer row ends the decode.
//! - Dates are `dd-mm-jjjj` (day and month may have one digit). Timestamps (`datum`) are
//!   `dd-mm-jjjj`, `dd-mm-jjjj uu:mm` or `dd-mm-jjjj uu:mm:ss` in **Dutch local time**
//!   (CET/CEST by the EU summer-time rule, applied to every year); a bare date is midnight.
//!   In the repeated autumn hour a time is read as summer time; in the skipped spring hour as
//!   winter time. The encoder writes `dd-mm-jjjj uu:mm`, adding `:ss` when the seconds are
//!   not zero.
//! - Amounts are euros with a decimal comma: `1350,00`; on input also `1.350,00`, `1350`,
//!   `1350,5` and a leading `€`. The encoder writes `1350,00`.
//!
//! # Columns
//!
//! | column | rows | content |
//! |---|---|---|
//! | `soort` | both | `verwijzing` or `status` (required) |
//! | `referentie` | both | the sender's own reference (1–64 printable characters). Required in a referral row; in a status row required when `wijkbrug_id` is empty |
//! | `wijkbrug_id` | both | the gateway's referral id (UUID v7), optional. A status row with it refers to the referral by it (it wins over `referentie`) |
//! | `datum` | both | when the referral was made / the status changed (required) |
//! | `doel` | referral | the target: a partner id (`werkplein`) or `sector:` and a sector code (`sector:wonen`, `welzijn`, `zorg`, `werk`) (required) |
//! | `urgentie` | referral | `regulier`, `urgent`, `spoed`, `crisis` (also `routine`, `normaal`, `asap`, `met_spoed`); empty is `regulier` |
//! | `bsn` | referral | 9 digits passing the 11-proef (required) |
//! | `voornamen`, `voorletters`, `voorvoegsel` | referral | name parts, optional |
//! | `achternaam` | referral | family name (required) |
//! | `geboortedatum` | referral | date, optional |
//! | `geslacht` | referral | `M`, `V`, `X` (other), `O` (unknown); also `man`, `vrouw`, `anders`, `onbekend` |
//! | `straat`, `huisnummer`, `huisletter`, `toevoeging`, `postcode`, `woonplaats` | referral | the address; when any is filled, `huisnummer` and `postcode` are required |
//! | `telefoon`, `email` | referral | optional |
//! | `leefgebieden` | referral | the needs: `code:score` items separated by `|`, e.g. `financien:2|werk:3`; score 1–5 on the Self-Sufficiency Matrix; codes in [`codes::LIFE_DOMAINS`] (required, at least one, no domain twice) |
//! | `toelichting` | referral | a note on the referral, optional (line breaks allowed) |
//! | `achterstand` | referral | arrears in euros, optional |
//! | `achterstand_sinds`, `signaaldatum` | referral | dates, only with `achterstand` |
//! | `status` | status | `geaccepteerd`, `afgewezen`, `gestart`, `afgerond`, `geannuleerd` (also `in_behandeling`, `ingetrokken`) (required) |
//! | `reden` | status | why, optional (line breaks allowed) |
//! | `reden_code` | status | the partner's reason code, 1–64 printable characters, optional |
//!
//! Cells of the other row kind must be empty (`bsn` in a status row is refused, not ignored).
//! A file with only status rows needs only the status columns (and the required ones); a
//! referral row in a file whose header lacks `bsn` is refused at that row ("required; the
//! header has no column bsn").
//!
//! Example (one referral, one status update):
//!
//! ```text
//! soort;referentie;wijkbrug_id;datum;doel;urgentie;bsn;voornamen;voorletters;voorvoegsel;achternaam;geboortedatum;geslacht;straat;huisnummer;huisletter;toevoeging;postcode;woonplaats;telefoon;email;leefgebieden;toelichting;achterstand;achterstand_sinds;signaaldatum;status;reden;reden_code
//! verwijzing;WP-2026-0042;;02-11-2026 10:30;sector:werk;urgent;999900006;Anna Maria;A.M.;van de;Berg;12-04-1980;V;Lindelaan;12;a;2;1234AB;Utrecht;06-12345678;anna@example.nl;financien:2|werk:3;"Graag bellen; liefst ""s ochtends""";1350,00;01-08-2026;01-11-2026;;;
//! status;WP-2026-0041;;03-11-2026 09:00;;;;;;;;;;;;;;;;;;;;;;;geaccepteerd;Intake gepland;
//! ```
//!
//! # Decoding
//!
//! [`decode_reader`] reads any [`std::io::Read`] row by row (the trait's `decode` runs it over
//! the byte slice). Each row yields its record or its errors, located as
//! `Location::Csv { line, column: Some((column number, column name)) }` with `line` the
//! physical line the row starts on (1-based, the header counted, line breaks inside quoted
//! fields counted); every problem in a row is reported, and the next rows are still decoded.
//! A referral's source partner is the authenticated sender (`DecodeContext::sender`); a
//! referral row never carries a consent.
//!
//! # What a round trip loses
//!
//! [`carried_referral`] and [`carried_status`] state it as code:
//! - the notes on single needs (a need is only `code:score`);
//! - sub-second precision of timestamps, and the second of the two instants of the repeated
//!   autumn hour (both read back as the first);
//! - the source partner (taken from the sender on decode);
//! - an empty `Contact` (read back as none).
//!
//! A referral without identity (minimised without the identity category) is encoded with
//! empty identity cells, but a referral row without a `bsn` is refused on decode; so is one
//! without needs. A status update is written with the gateway's id (`OutgoingStatus::id`) and
//! the request's reference, whatever `ReferralRef` it held, and reads back as
//! `ReferralRef::Id`.

pub mod codes;
mod columns;
mod decode;
mod encode;
mod values;

use chrono::{DateTime, Utc};

pub use columns::MAX_COLUMNS;
pub use decode::{decode_reader, RowDecoder, MAX_ROW_BYTES};
pub use encode::{encode_referrals, encode_statuses, RowWriter};

use crate::adapter::{
    Adapter, DecodeContext, Directory, EncodeError, Format, OutgoingReferral, OutgoingStatus,
    Records,
};
use crate::model::{Contact, Need, PartnerId, ReferralRef, ReferralRequest, StatusUpdate};

/// The employment CSV adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmploymentCsv;

impl Adapter for EmploymentCsv {
    fn format(&self) -> Format {
        Format::EmploymentCsv
    }

    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a> {
        Box::new(decode_reader(input, ctx))
    }

    /// A header and one referral row.
    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode_referrals([referral])
    }

    /// A header (the same as for referrals) and one status row.
    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode_statuses([status])
    }
}

/// A timestamp as it reads back from a cell: whole seconds, and in the repeated autumn hour
/// the first (summer-time) of the two instants a local time names.
pub fn carried_time(t: DateTime<Utc>) -> DateTime<Utc> {
    values::carried_time(t)
}

/// The referral request a decoder gets back from an encoded `request` sent by `sender`.
pub fn carried_referral(request: &ReferralRequest, sender: &PartnerId) -> ReferralRequest {
    let mut r = request.clone();
    r.source.partner = sender.clone();
    r.requested_at = carried_time(r.requested_at);
    r.needs = r
        .needs
        .iter()
        .map(|n| Need::new(n.domain, n.severity))
        .collect();
    r.resident.contact = r.resident.contact.filter(|c: &Contact| !c.is_empty());
    r
}

/// The status update a decoder gets back from an encoded `status`.
pub fn carried_status(status: &OutgoingStatus<'_>) -> StatusUpdate {
    let mut u = status.update.clone();
    u.referral = ReferralRef::Id(status.id);
    u.at = carried_time(u.at);
    u
}
