//! Encode: one header, then one row per referral or status update.

use std::fmt::Write as _;

use csv::{QuoteStyle, Terminator, Writer, WriterBuilder};

use super::codes::{domain_code, gender_code, sector_code, status_code, urgency_code};
use super::columns::{Col, COLUMNS, COUNT};
use super::values::{write_date, write_date_time, write_euros};
use crate::adapter::{EncodeError, Format, OutgoingReferral, OutgoingStatus};
use crate::model::{ExternalRef, Target};

/// Writes employment CSV rows: the header (all columns, in the documented order) once, then
/// any mix of referral and status rows. `;`-separated, `\r\n` line ends, UTF-8 without a BOM,
/// fields quoted only when they hold `;`, `"` or a line break.
pub struct RowWriter {
    out: Writer<Vec<u8>>,
    header_written: bool,
    cells: [String; COUNT],
}

impl Default for RowWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn refused(_: impl std::error::Error) -> EncodeError {
    EncodeError::Unsupported {
        format: Format::EmploymentCsv,
        what: "a row the CSV writer refused".to_owned(),
    }
}

impl RowWriter {
    pub fn new() -> Self {
        Self {
            out: WriterBuilder::new()
                .delimiter(b';')
                .terminator(Terminator::CRLF)
                .quote_style(QuoteStyle::Necessary)
                .has_headers(false)
                .from_writer(Vec::new()),
            header_written: false,
            cells: Default::default(),
        }
    }

    fn header(&mut self) -> Result<(), EncodeError> {
        if !self.header_written {
            self.header_written = true;
            self.out
                .write_record(COLUMNS.iter().map(|(_, name, _)| name))
                .map_err(refused)?;
        }
        Ok(())
    }

    fn cell(&mut self, col: Col) -> &mut String {
        &mut self.cells[col as usize]
    }

    fn set(&mut self, col: Col, value: &str) {
        self.cell(col).push_str(value);
    }

    fn start_row(&mut self) -> Result<(), EncodeError> {
        self.header()?;
        for c in &mut self.cells {
            c.clear();
        }
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), EncodeError> {
        self.out.write_record(&self.cells).map_err(refused)
    }

    /// Adds a referral row. Writes only what the (minimised) request holds; a request without
    /// identity gets empty identity cells (the BSN cell too).
    pub fn referral(&mut self, referral: OutgoingReferral<'_>) -> Result<(), EncodeError> {
        self.start_row()?;
        let r = referral.request;
        self.set(Col::Soort, "verwijzing");
        self.set(Col::Referentie, r.source.reference.as_str());
        let _ = write!(self.cell(Col::WijkbrugId), "{}", referral.id);
        write_date_time(self.cell(Col::Datum), r.requested_at);
        match &r.target {
            Target::Partner(p) => self.set(Col::Doel, p.as_str()),
            Target::Sector(s) => {
                let cell = self.cell(Col::Doel);
                cell.push_str("sector:");
                cell.push_str(sector_code(*s));
            }
        }
        self.set(Col::Urgentie, urgency_code(r.urgency));
        if let Some(id) = &r.resident.identity {
            self.set(Col::Bsn, id.bsn.as_str());
            let name = &id.name;
            for (col, part) in [
                (Col::Voornamen, &name.given_names),
                (Col::Voorletters, &name.initials),
                (Col::Voorvoegsel, &name.prefix),
            ] {
                if let Some(p) = part {
                    self.set(col, p.as_str());
                }
            }
            self.set(Col::Achternaam, name.family_name.as_str());
            if let Some(d) = id.birth_date {
                write_date(self.cell(Col::Geboortedatum), d);
            }
            if let Some(g) = id.gender {
                self.set(Col::Geslacht, gender_code(g));
            }
        }
        if let Some(contact) = &r.resident.contact {
            if let Some(a) = &contact.address {
                if let Some(s) = &a.street {
                    self.set(Col::Straat, s.as_str());
                }
                let _ = write!(self.cell(Col::Huisnummer), "{}", a.house_number.get());
                if let Some(l) = a.house_letter {
                    self.cell(Col::Huisletter).push(l);
                }
                if let Some(t) = &a.house_number_addition {
                    self.set(Col::Toevoeging, t);
                }
                self.set(Col::Postcode, a.postcode.as_str());
                if let Some(t) = &a.town {
                    self.set(Col::Woonplaats, t.as_str());
                }
            }
            if let Some(p) = &contact.phone {
                self.set(Col::Telefoon, p.as_str());
            }
            if let Some(e) = &contact.email {
                self.set(Col::Email, e.as_str());
            }
        }
        let needs = self.cell(Col::Leefgebieden);
        for (i, need) in r.needs.iter().enumerate() {
            if i > 0 {
                needs.push('|');
            }
            let _ = write!(
                needs,
                "{}:{}",
                domain_code(need.domain),
                need.severity.get()
            );
        }
        if let Some(n) = &r.note {
            self.set(Col::Toelichting, n.as_str());
        }
        if let Some(f) = &r.finance {
            write_euros(self.cell(Col::Achterstand), f.arrears);
            if let Some(d) = f.arrears_since {
                write_date(self.cell(Col::AchterstandSinds), d);
            }
            if let Some(d) = f.signalled_on {
                write_date(self.cell(Col::Signaaldatum), d);
            }
        }
        self.end_row()
    }

    /// Adds a status row: `referentie` is the referral's source reference (the sender's own
    /// reference, for the sender that receives the update), `wijkbrug_id` the gateway's id.
    pub fn status(&mut self, status: OutgoingStatus<'_>) -> Result<(), EncodeError> {
        let u = status.update;
        let code = status_code(u.status).ok_or_else(|| EncodeError::Unsupported {
            format: Format::EmploymentCsv,
            what: format!("the status {}", u.status),
        })?;
        if u.reason_code
            .as_ref()
            .is_some_and(|c| ExternalRef::parse(c).is_err())
        {
            return Err(EncodeError::Unsupported {
                format: Format::EmploymentCsv,
                what: "a reason code that is not 1 to 64 printable characters".to_owned(),
            });
        }
        self.start_row()?;
        self.set(Col::Soort, "status");
        self.set(Col::Referentie, status.request.source.reference.as_str());
        let _ = write!(self.cell(Col::WijkbrugId), "{}", status.id);
        write_date_time(self.cell(Col::Datum), u.at);
        self.set(Col::Status, code);
        if let Some(r) = &u.reason {
            self.set(Col::Reden, r.as_str());
        }
        if let Some(c) = &u.reason_code {
            self.set(Col::RedenCode, c);
        }
        self.end_row()
    }

    /// The file: the header and every row added (just the header when none were).
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        self.header()?;
        self.out.into_inner().map_err(|e| refused(e.into_error()))
    }
}

/// Writes many referrals as one file with one header.
pub fn encode_referrals<'a>(
    referrals: impl IntoIterator<Item = OutgoingReferral<'a>>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = RowWriter::new();
    for r in referrals {
        w.referral(r)?;
    }
    w.finish()
}

/// Writes many status updates as one file with one header.
pub fn encode_statuses<'a>(
    statuses: impl IntoIterator<Item = OutgoingStatus<'a>>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = RowWriter::new();
    for s in statuses {
        w.status(s)?;
    }
    w.finish()
}
