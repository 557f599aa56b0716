//! The column set: names, which row kind uses each, and the header a file has.

/// The columns, in the order the encoder writes them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Col {
    Soort,
    Referentie,
    WijkbrugId,
    Datum,
    Doel,
    Urgentie,
    Bsn,
    Voornamen,
    Voorletters,
    Voorvoegsel,
    Achternaam,
    Geboortedatum,
    Geslacht,
    Straat,
    Huisnummer,
    Huisletter,
    Toevoeging,
    Postcode,
    Woonplaats,
    Telefoon,
    Email,
    Leefgebieden,
    Toelichting,
    Achterstand,
    AchterstandSinds,
    Signaaldatum,
    Status,
    Reden,
    RedenCode,
}

/// Which rows a column belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Use {
    Both,
    Referral,
    Status,
}

pub const COUNT: usize = 29;

/// Every column with its header name and its use, in the encoder's order.
pub const COLUMNS: [(Col, &str, Use); COUNT] = [
    (Col::Soort, "soort", Use::Both),
    (Col::Referentie, "referentie", Use::Both),
    (Col::WijkbrugId, "wijkbrug_id", Use::Both),
    (Col::Datum, "datum", Use::Both),
    (Col::Doel, "doel", Use::Referral),
    (Col::Urgentie, "urgentie", Use::Referral),
    (Col::Bsn, "bsn", Use::Referral),
    (Col::Voornamen, "voornamen", Use::Referral),
    (Col::Voorletters, "voorletters", Use::Referral),
    (Col::Voorvoegsel, "voorvoegsel", Use::Referral),
    (Col::Achternaam, "achternaam", Use::Referral),
    (Col::Geboortedatum, "geboortedatum", Use::Referral),
    (Col::Geslacht, "geslacht", Use::Referral),
    (Col::Straat, "straat", Use::Referral),
    (Col::Huisnummer, "huisnummer", Use::Referral),
    (Col::Huisletter, "huisletter", Use::Referral),
    (Col::Toevoeging, "toevoeging", Use::Referral),
    (Col::Postcode, "postcode", Use::Referral),
    (Col::Woonplaats, "woonplaats", Use::Referral),
    (Col::Telefoon, "telefoon", Use::Referral),
    (Col::Email, "email", Use::Referral),
    (Col::Leefgebieden, "leefgebieden", Use::Referral),
    (Col::Toelichting, "toelichting", Use::Referral),
    (Col::Achterstand, "achterstand", Use::Referral),
    (Col::AchterstandSinds, "achterstand_sinds", Use::Referral),
    (Col::Signaaldatum, "signaaldatum", Use::Referral),
    (Col::Status, "status", Use::Status),
    (Col::Reden, "reden", Use::Status),
    (Col::RedenCode, "reden_code", Use::Status),
];

/// Columns every header must have.
pub const REQUIRED: [Col; 3] = [Col::Soort, Col::Referentie, Col::Datum];

/// The most columns a header may have; wider headers are refused before they are looked at.
pub const MAX_COLUMNS: usize = 64;

impl Col {
    pub fn name(self) -> &'static str {
        COLUMNS[self as usize].1
    }

    pub fn use_(self) -> Use {
        COLUMNS[self as usize].2
    }

    /// A header cell's column: trimmed, ASCII case-insensitive, ' ' and '-' read as '_'.
    pub fn from_header(cell: &str) -> Option<Col> {
        let cell = cell.trim();
        COLUMNS
            .iter()
            .find(|(_, name, _)| {
                name.len() == cell.len()
                    && name.bytes().zip(cell.bytes()).all(|(n, c)| {
                        let c = match c {
                            b' ' | b'-' => b'_',
                            c => c.to_ascii_lowercase(),
                        };
                        n == c
                    })
            })
            .map(|(col, _, _)| *col)
    }
}

/// The columns a file's header names, and where.
#[derive(Clone, Debug)]
pub struct Header {
    /// For each column, its 0-based field index, if the header has it.
    index: [Option<usize>; COUNT],
    /// For each field, its column.
    fields: Vec<Col>,
}

impl Header {
    pub fn new(fields: Vec<Col>) -> Self {
        let mut index = [None; COUNT];
        for (i, col) in fields.iter().enumerate() {
            index[*col as usize] = Some(i);
        }
        Self { index, fields }
    }

    pub fn index(&self, col: Col) -> Option<usize> {
        self.index[col as usize]
    }

    pub fn fields(&self) -> &[Col] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_enum_order_and_names_are_unique() {
        for (i, (col, name, _)) in COLUMNS.iter().enumerate() {
            assert_eq!(*col as usize, i, "{name}");
            assert_eq!(Col::from_header(name), Some(*col));
        }
        assert_eq!(
            Col::from_header(" Achterstand Sinds "),
            Some(Col::AchterstandSinds)
        );
        assert_eq!(Col::from_header("WIJKBRUG-ID"), Some(Col::WijkbrugId));
        assert_eq!(Col::from_header("achternam"), None);
    }
}
