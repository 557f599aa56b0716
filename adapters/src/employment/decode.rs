//! Streaming decode: one [`Record`] (or one or more errors) per row, read lazily.

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{self, Read};

use csv::{ByteRecord, Reader, ReaderBuilder, Terminator};

use super::codes::{self, accepted, GENDERS, LIFE_DOMAINS, SECTORS, STATUSES, URGENCIES};
use super::columns::{Col, Header, Use, COLUMNS, MAX_COLUMNS, REQUIRED};
use super::values::{parse_date, parse_date_time, parse_euros, DATE_RULE, DATE_TIME_RULE};
use crate::adapter::{DecodeContext, DecodeError, IncomingReferral, Location, Record};
use crate::model::{
    Address, Bsn, Contact, Email, ExternalRef, FinancialSituation, HouseNumber, Identity,
    LifeDomain, Need, Note, PartnerId, PersonName, PersonalText, Phone, Postcode, ReasonText,
    ReferralId, ReferralRef, ReferralRequest, Resident, Severity, Source, StatusUpdate, Target,
    Urgency,
};

/// The largest row (header included) read, in bytes. A longer row stops the decode: what
/// follows it cannot be trusted to start a row.
pub const MAX_ROW_BYTES: u64 = 64 * 1024;

/// The csv reader's buffer.
const BUFFER: usize = 8 * 1024;

const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The input as the csv reader sees it: without a leading UTF-8 BOM, counted, and cut off
/// once a row runs past [`MAX_ROW_BYTES`] (so a gigantic field or a row of a million columns
/// is refused after reading a little more than that, not buffered whole).
struct Guard<R> {
    inner: R,
    /// Bytes handed to the csv reader.
    delivered: u64,
    /// No more bytes are handed out once `delivered` reaches this.
    limit: u64,
    tripped: bool,
    started: bool,
    prefix: [u8; 3],
    prefix_len: usize,
    prefix_pos: usize,
    /// The last byte handed out.
    last: u8,
}

impl<R: Read> Guard<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            delivered: 0,
            limit: MAX_ROW_BYTES + 2 * BUFFER as u64,
            tripped: false,
            started: false,
            prefix: [0; 3],
            prefix_len: 0,
            prefix_pos: 0,
            last: 0,
        }
    }

    /// Reads the first three bytes and drops them if they are a UTF-8 BOM.
    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        let mut n = 0;
        while n < self.prefix.len() {
            let k = self.inner.read(&mut self.prefix[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        self.prefix_len = if self.prefix == UTF8_BOM { 0 } else { n };
        Ok(())
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.delivered >= self.limit {
            self.tripped = true;
            return Err(io::Error::other("row too large"));
        }
        if !self.started {
            self.start()?;
        }
        let n = if self.prefix_pos < self.prefix_len {
            let rest = &self.prefix[self.prefix_pos..self.prefix_len];
            let k = rest.len().min(buf.len());
            buf[..k].copy_from_slice(&rest[..k]);
            self.prefix_pos += k;
            k
        } else {
            self.inner.read(buf)?
        };
        // `n <= buf.len()` by the `Read` contract; `get` keeps a reader that breaks it from
        // causing a panic here.
        if let Some(b) = buf.get(..n).and_then(<[u8]>::last) {
            self.last = *b;
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

/// Decodes rows lazily from a reader: see [`decode_reader`].
pub struct RowDecoder<'c, R: Read> {
    reader: Reader<Guard<R>>,
    ctx: &'c DecodeContext,
    record: ByteRecord,
    header: Option<Header>,
    done: bool,
    pending: VecDeque<DecodeError>,
}

/// Decodes an employment CSV from any reader, one row at a time: each row yields its record
/// or its errors (one `Err` per problem, several for one line when a row has several), and
/// decoding goes on with the next row. Problems with the header, or a row over
/// [`MAX_ROW_BYTES`], end the stream. Nothing but the current row is held in memory.
pub fn decode_reader<R: Read>(reader: R, ctx: &DecodeContext) -> RowDecoder<'_, R> {
    let reader = ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .terminator(Terminator::Any(b'\n'))
        .buffer_capacity(BUFFER)
        .from_reader(Guard::new(reader));
    RowDecoder {
        reader,
        ctx,
        record: ByteRecord::new(),
        header: None,
        done: false,
        pending: VecDeque::new(),
    }
}

impl<R: Read> Iterator for RowDecoder<'_, R> {
    type Item = Result<Record, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            let Some(line) = self.read_row() else {
                continue;
            };
            let Some(header) = &self.header else {
                self.read_header(line);
                continue;
            };
            let mut row = match Row::new(header, &self.record, line) {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(errors) => {
                    self.pending.extend(errors);
                    continue;
                }
            };
            let record = row.decode(self.ctx);
            match record {
                Some(r) if row.errors.is_empty() => return Some(Ok(r)),
                _ if row.errors.is_empty() => {
                    self.pending.push_back(DecodeError::new(
                        Location::Csv { line, column: None },
                        "the row could not be decoded",
                    ));
                }
                _ => {
                    // In column order, problems of the whole row first.
                    row.errors.sort_by_key(|e| match &e.location {
                        Location::Csv {
                            column: Some((n, _)),
                            ..
                        } => *n,
                        _ => 0,
                    });
                    self.pending.extend(row.errors);
                }
            }
        }
    }
}

impl<R: Read> RowDecoder<'_, R> {
    /// Reads the next row into `self.record` and returns its first physical line, or ends the
    /// stream (with an error queued when the input is bad).
    fn read_row(&mut self) -> Option<u64> {
        let before = self.reader.position().line();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                let line = self.record_line();
                let consumed = self.reader.position().byte();
                self.reader.get_mut().limit = consumed + MAX_ROW_BYTES + 2 * BUFFER as u64;
                Some(line)
            }
            Ok(false) => {
                self.done = true;
                if self.header.is_none() {
                    self.pending.push_back(DecodeError::document(
                        "empty input: expected a header row naming the columns",
                    ));
                }
                None
            }
            Err(e) => {
                self.done = true;
                let rule = if self.reader.get_ref().tripped {
                    format!(
                        "a row must be at most {} KiB; the rest of the input is not read",
                        MAX_ROW_BYTES / 1024
                    )
                } else if e.is_io_error() {
                    "the input could not be read".to_owned()
                } else {
                    "not valid CSV".to_owned()
                };
                self.pending.push_back(DecodeError::new(
                    Location::Csv {
                        line: before,
                        column: None,
                    },
                    rule,
                ));
                None
            }
        }
    }

    /// The physical line the record just read starts on. The reader's own position is the
    /// line after the record (it counts skipped blank lines into the next record), so count
    /// back from the end: the terminating '\n', then the line breaks inside quoted fields.
    fn record_line(&self) -> u64 {
        let pos = self.reader.position();
        let guard = self.reader.get_ref();
        let unterminated = pos.byte() == guard.delivered && guard.last != b'\n';
        let end = if unterminated {
            pos.line()
        } else {
            pos.line().saturating_sub(1)
        };
        let inside = self
            .record
            .as_slice()
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        end.saturating_sub(inside).max(1)
    }

    fn read_header(&mut self, line: u64) {
        if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
            return;
        }
        let loc = |column| Location::Csv { line, column };
        if self.record.len() > MAX_COLUMNS {
            self.done = true;
            self.pending.push_back(DecodeError::new(
                loc(None),
                format!(
                    "the header has {} columns; at most {MAX_COLUMNS} are allowed",
                    self.record.len()
                ),
            ));
            return;
        }
        let mut fields = Vec::with_capacity(self.record.len());
        let mut errors = Vec::new();
        let mut unknown = Vec::new();
        for (i, raw) in self.record.iter().enumerate() {
            let col = std::str::from_utf8(raw).ok().and_then(Col::from_header);
            match col {
                Some(col) if fields.contains(&col) => errors.push(DecodeError::new(
                    loc(Some((i + 1, col.name().to_owned()))),
                    "duplicate column",
                )),
                Some(col) => fields.push(col),
                None => unknown.push(i + 1),
            }
        }
        if fields.is_empty() {
            errors.push(DecodeError::new(
                loc(None),
                format!(
                    "the first line must be the header row naming the columns: {}",
                    all_columns()
                ),
            ));
        } else {
            for n in unknown {
                errors.push(DecodeError::new(
                    loc(Some((n, "?".to_owned()))),
                    format!("unknown column; expected one of: {}", all_columns()),
                ));
            }
            for col in REQUIRED {
                if !fields.contains(&col) {
                    errors.push(DecodeError::new(
                        loc(None),
                        format!("the header must have the column {}", col.name()),
                    ));
                }
            }
        }
        if errors.is_empty() {
            self.header = Some(Header::new(fields));
        } else {
            self.done = true;
            self.pending.extend(errors);
        }
    }
}

fn all_columns() -> String {
    let mut s = String::new();
    for (i, (_, name, _)) in COLUMNS.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(name);
    }
    s
}

fn unknown_code<T>(table: &[(&str, T)]) -> String {
    format!("unknown code; expected one of: {}", accepted(table))
}

fn code<T: Copy>(table: &[(&str, T)], s: &str) -> Result<T, String> {
    codes::decode(table, s).ok_or_else(|| unknown_code(table))
}

/// One row's trimmed cells, and the problems found in it.
struct Row<'a> {
    header: &'a Header,
    cells: [&'a str; MAX_COLUMNS],
    line: u64,
    errors: Vec<DecodeError>,
}

impl<'a> Row<'a> {
    /// The row's cells, `None` for a row of empty cells (skipped), or the errors that make
    /// the row unreadable (wrong number of fields, invalid UTF-8).
    fn new(
        header: &'a Header,
        record: &'a ByteRecord,
        line: u64,
    ) -> Result<Option<Self>, Vec<DecodeError>> {
        if record.len() != header.len() {
            if record.iter().all(|f| f.trim_ascii().is_empty()) {
                return Ok(None);
            }
            return Err(vec![DecodeError::new(
                Location::Csv { line, column: None },
                format!(
                    "the row has {} fields; the header has {}",
                    record.len(),
                    header.len()
                ),
            )]);
        }
        let mut cells = [""; MAX_COLUMNS];
        let mut errors = Vec::new();
        let mut empty = true;
        for ((i, raw), (cell, col)) in record
            .iter()
            .enumerate()
            .zip(cells.iter_mut().zip(header.fields()))
        {
            match std::str::from_utf8(raw) {
                Ok(s) => {
                    *cell = s.trim();
                    empty &= cell.is_empty();
                }
                Err(_) => errors.push(DecodeError::new(
                    Location::Csv {
                        line,
                        column: Some((i + 1, col.name().to_owned())),
                    },
                    "must be UTF-8 text",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if empty {
            return Ok(None);
        }
        Ok(Some(Self {
            header,
            cells,
            line,
            errors: Vec::new(),
        }))
    }

    fn loc(&self, col: Col) -> Location {
        Location::Csv {
            line: self.line,
            column: self
                .header
                .index(col)
                .map(|i| (i + 1, col.name().to_owned())),
        }
    }

    fn fail(&mut self, col: Col, rule: impl Display) {
        let e = DecodeError::new(self.loc(col), rule.to_string());
        self.errors.push(e);
    }

    fn get(&self, col: Col) -> Option<&'a str> {
        let i = self.header.index(col)?;
        self.cells.get(i).copied().filter(|s| !s.is_empty())
    }

    fn missing(&mut self, col: Col, rule: &str) {
        if self.header.index(col).is_some() {
            self.fail(col, rule);
        } else {
            let rule = format!("{rule}; the header has no column {}", col.name());
            self.fail(col, rule);
        }
    }

    fn parse<T, E: Display>(
        &mut self,
        col: Col,
        s: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(col, e);
                None
            }
        }
    }

    /// A cell that must be filled; `None` (with an error) when empty or invalid.
    fn required<T, E: Display>(
        &mut self,
        col: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.required_because(col, "required", parse)
    }

    fn required_because<T, E: Display>(
        &mut self,
        col: Col,
        missing_rule: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.get(col) {
            Some(s) => self.parse(col, s, parse),
            None => {
                self.missing(col, missing_rule);
                None
            }
        }
    }

    /// A cell that may be empty; `None` when empty or invalid (an error when invalid).
    fn optional<T, E: Display>(
        &mut self,
        col: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let s = self.get(col)?;
        self.parse(col, s, parse)
    }

    /// Cells of the other row kind must be empty: a value there would otherwise be dropped.
    fn check_kind(&mut self, kind: Use, name: &str) {
        for (i, col) in self.header.fields().iter().enumerate() {
            let used = col.use_() == Use::Both || col.use_() == kind;
            let filled = self.cells.get(i).is_some_and(|c| !c.is_empty());
            if !used && filled {
                self.fail(*col, format!("must be empty in a {name} row"));
            }
        }
    }

    fn decode(&mut self, ctx: &DecodeContext) -> Option<Record> {
        let kind = self.required(Col::Soort, |s| {
            codes::ROW_KINDS
                .iter()
                .position(|k| k.eq_ignore_ascii_case(s))
                .ok_or("unknown code; expected one of: verwijzing, status")
        })?;
        if kind == 0 {
            self.check_kind(Use::Referral, "verwijzing");
            self.referral(ctx)
        } else {
            self.check_kind(Use::Status, "status");
            self.status()
        }
    }

    fn referral(&mut self, ctx: &DecodeContext) -> Option<Record> {
        let reference = self.required(Col::Referentie, ExternalRef::parse);
        let gateway_id = self.optional(Col::WijkbrugId, ReferralId::parse);
        let requested_at = self.required(Col::Datum, |s| parse_date_time(s).ok_or(DATE_TIME_RULE));
        let target = self.required(Col::Doel, parse_target);
        let urgency = self
            .optional(Col::Urgentie, |s| code(&URGENCIES, s))
            .unwrap_or(Urgency::Routine);

        let bsn = self.required(Col::Bsn, Bsn::parse);
        let given_names = self.optional(Col::Voornamen, PersonalText::parse);
        let initials = self.optional(Col::Voorletters, PersonalText::parse);
        let prefix = self.optional(Col::Voorvoegsel, PersonalText::parse);
        let family_name = self.required(Col::Achternaam, PersonalText::parse);
        let birth_date = self.optional(Col::Geboortedatum, |s| parse_date(s).ok_or(DATE_RULE));
        let gender = self.optional(Col::Geslacht, |s| code(&GENDERS, s));

        let address = self.address();
        let phone = self.optional(Col::Telefoon, Phone::parse);
        let email = self.optional(Col::Email, Email::parse);

        let needs = self.required(Col::Leefgebieden, parse_needs);
        let note = self.optional(Col::Toelichting, Note::parse);
        let finance = self.finance();

        let (Some(reference), Some(requested_at), Some(target), Some(bsn), Some(family_name)) =
            (reference, requested_at, target, bsn, family_name)
        else {
            return None;
        };
        let needs = needs?;
        if !self.errors.is_empty() {
            return None;
        }
        let contact = Contact {
            address,
            phone,
            email,
        };
        let request = ReferralRequest {
            source: Source {
                partner: ctx.sender.clone(),
                reference,
            },
            target,
            urgency,
            requested_at,
            resident: Resident {
                identity: Some(Identity {
                    bsn,
                    name: PersonName {
                        given_names,
                        initials,
                        prefix,
                        family_name,
                    },
                    birth_date,
                    gender,
                }),
                contact: (!contact.is_empty()).then_some(contact),
            },
            needs,
            note,
            finance,
        };
        Some(Record::Referral(Box::new(IncomingReferral {
            gateway_id,
            request,
            consent: None,
        })))
    }

    fn address(&mut self) -> Option<Address> {
        const PARTS: [Col; 6] = [
            Col::Straat,
            Col::Huisnummer,
            Col::Huisletter,
            Col::Toevoeging,
            Col::Postcode,
            Col::Woonplaats,
        ];
        if PARTS.iter().all(|c| self.get(*c).is_none()) {
            return None;
        }
        const WITH_ADDRESS: &str = "required when an address is given";
        let street = self.optional(Col::Straat, PersonalText::parse);
        let house_number = self.required_because(Col::Huisnummer, WITH_ADDRESS, HouseNumber::parse);
        let house_letter = self.optional(Col::Huisletter, Address::parse_house_letter);
        let addition = self.optional(Col::Toevoeging, Address::parse_house_number_addition);
        let postcode = self.required_because(Col::Postcode, WITH_ADDRESS, Postcode::parse);
        let town = self.optional(Col::Woonplaats, PersonalText::parse);
        Some(Address {
            postcode: postcode?,
            house_number: house_number?,
            house_letter,
            house_number_addition: addition,
            street,
            town,
        })
    }

    fn finance(&mut self) -> Option<FinancialSituation> {
        let arrears = self.optional(Col::Achterstand, parse_euros);
        let since = self.optional(Col::AchterstandSinds, |s| parse_date(s).ok_or(DATE_RULE));
        let signalled = self.optional(Col::Signaaldatum, |s| parse_date(s).ok_or(DATE_RULE));
        if self.get(Col::Achterstand).is_none() {
            for col in [Col::AchterstandSinds, Col::Signaaldatum] {
                if self.get(col).is_some() {
                    self.fail(col, "must be empty when achterstand is empty");
                }
            }
        }
        Some(FinancialSituation {
            arrears: arrears?,
            arrears_since: since,
            signalled_on: signalled,
        })
    }

    fn status(&mut self) -> Option<Record> {
        let id = self.optional(Col::WijkbrugId, ReferralId::parse);
        let external = self.optional(Col::Referentie, ExternalRef::parse);
        if self.get(Col::WijkbrugId).is_none() && self.get(Col::Referentie).is_none() {
            self.missing(
                Col::Referentie,
                "required in a status row when wijkbrug_id is empty",
            );
        }
        let status = self.required(Col::Status, |s| code(&STATUSES, s));
        let at = self.required(Col::Datum, |s| parse_date_time(s).ok_or(DATE_TIME_RULE));
        let reason = self.optional(Col::Reden, ReasonText::parse);
        let reason_code = self.optional(Col::RedenCode, |s| {
            ExternalRef::parse(s).map(|r| r.as_str().to_owned())
        });
        let referral = match (id, external) {
            (Some(id), _) => ReferralRef::Id(id),
            (None, Some(r)) => ReferralRef::External(r),
            (None, None) => return None,
        };
        let (Some(status), Some(at)) = (status, at) else {
            return None;
        };
        if !self.errors.is_empty() {
            return None;
        }
        let mut update = match StatusUpdate::new(referral, status, at) {
            Ok(u) => u,
            Err(e) => {
                self.fail(Col::Status, e);
                return None;
            }
        };
        update.reason = reason;
        update.reason_code = reason_code;
        Some(Record::Status(update))
    }
}

/// `doel`: a partner id, or `sector:` and a sector code.
fn parse_target(s: &str) -> Result<Target, String> {
    const PREFIX: &str = "sector:";
    let sector = s
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| s.get(PREFIX.len()..));
    match sector {
        Some(code) => codes::decode(&SECTORS, code.trim())
            .map(Target::Sector)
            .ok_or_else(|| {
                format!(
                    "unknown sector code; expected sector: followed by one of: {}",
                    accepted(&SECTORS)
                )
            }),
        None => PartnerId::parse(s)
            .map(Target::Partner)
            .map_err(|e| format!("must be a partner id or sector:<code>; a partner id {e}")),
    }
}

/// `leefgebieden`: `code:score` items separated by `|`, e.g. `financien:2|werk:3`.
fn parse_needs(s: &str) -> Result<Vec<Need>, String> {
    let mut needs = Vec::new();
    for (i, item) in s.split('|').enumerate() {
        let n = i + 1;
        if i >= LifeDomain::ALL.len() {
            return Err(format!(
                "must list at most {} needs, one per life domain",
                LifeDomain::ALL.len()
            ));
        }
        let Some((domain, score)) = item.split_once(':') else {
            return Err(format!(
                "item {n} must be a life-domain code and a score, e.g. financien:2"
            ));
        };
        let domain = codes::decode(&LIFE_DOMAINS, domain.trim()).ok_or_else(|| {
            format!(
                "item {n}: unknown life-domain code; expected one of: {}",
                accepted(&LIFE_DOMAINS)
            )
        })?;
        let score = score.trim();
        let severity = match score.as_bytes() {
            [d] if d.is_ascii_digit() => Severity::new(d - b'0'),
            _ => Severity::new(0),
        }
        .map_err(|e| format!("item {n}: the score {e}"))?;
        needs.push(Need::new(domain, severity));
    }
    ReferralRequest::check_needs(&needs).map_err(|e| e.to_string())?;
    Ok(needs)
}
