//! The boundary every sector adapter implements: bytes in, typed records or errors out.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::model::{
    AgbCode, Consent, DataCategory, ModelError, MunicipalityCode, PartnerId, ReferralId,
    ReferralRequest, Sector, StatusUpdate,
};

/// The native formats the gateway speaks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Format {
    /// HL7 FHIR R4 JSON (care).
    FhirR4,
    /// iStandaarden iWmo 3.2 XML (welfare).
    Iwmo32,
    /// Early-warning signals modelled on the VNG vroegsignalering exchange model (housing).
    HousingSignal,
    /// `;`-separated rows with a header (employment).
    EmploymentCsv,
    /// The gateway's own JSON form of the case model.
    CaseJson,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Self::FhirR4,
        Self::Iwmo32,
        Self::HousingSignal,
        Self::EmploymentCsv,
        Self::CaseJson,
    ];

    /// The name used on the command line and in partner configuration.
    pub fn code(self) -> &'static str {
        match self {
            Self::FhirR4 => "fhir-r4",
            Self::Iwmo32 => "iwmo-3.2",
            Self::HousingSignal => "housing-signal",
            Self::EmploymentCsv => "employment-csv",
            Self::CaseJson => "case-json",
        }
    }

    /// The media type of a message in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::FhirR4 => "application/fhir+json",
            Self::Iwmo32 => "application/xml",
            Self::HousingSignal | Self::CaseJson => "application/json",
            Self::EmploymentCsv => "text/csv",
        }
    }

    /// The sector whose partners speak this format natively, if any.
    pub fn sector(self) -> Option<Sector> {
        match self {
            Self::FhirR4 => Some(Sector::Care),
            Self::Iwmo32 => Some(Sector::Welfare),
            Self::HousingSignal => Some(Sector::Housing),
            Self::EmploymentCsv => Some(Sector::Employment),
            Self::CaseJson => None,
        }
    }

    /// One line on what the format carries.
    pub fn description(self) -> &'static str {
        match self {
            Self::FhirR4 => "HL7 FHIR R4 JSON: Bundle (Patient, ServiceRequest, Consent) in, transaction Bundle out; Task for status",
            Self::Iwmo32 => "iWmo 3.2 XML: WMO315 request in and out; WMO301, 319, 305, 307 for status",
            Self::HousingSignal => "rent-arrears early-warning signal (VNG vroegsignalering), single or delivery envelope; JSON status callback",
            Self::EmploymentCsv => "';'-separated CSV with header, dd-mm-jjjj dates, one referral or status update a row",
            Self::CaseJson => "wijkbrug.case/1: the gateway's own JSON form of the case model",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Format {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::model::parse_code(s, Self::ALL, Self::code)
    }
}

/// One partner's codes in the other standards' address spaces.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DirectoryEntry {
    pub partner: PartnerId,
    pub sector: Sector,
    /// Its AGB code, for care and welfare providers.
    pub agb: Option<AgbCode>,
    /// Its municipality code, for a municipality's social support desk.
    pub municipality: Option<MunicipalityCode>,
}

/// Maps partner ids to and from the codes formats address organisations by (AGB, municipality
/// codes). The gateway builds it from its partner configuration; adapters only read it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Directory {
    pub entries: Vec<DirectoryEntry>,
    /// The AGB code the gateway itself uses as sender or receiver of iWmo messages.
    pub gateway_agb: Option<AgbCode>,
}

impl Directory {
    pub fn partner(&self, id: &PartnerId) -> Option<&DirectoryEntry> {
        self.entries.iter().find(|e| &e.partner == id)
    }

    pub fn by_agb(&self, code: &str) -> Option<&DirectoryEntry> {
        self.entries
            .iter()
            .find(|e| e.agb.as_ref().is_some_and(|a| a.as_str() == code))
    }

    pub fn by_municipality(&self, code: &str) -> Option<&DirectoryEntry> {
        self.entries
            .iter()
            .find(|e| e.municipality.as_ref().is_some_and(|m| m.as_str() == code))
    }
}

/// What the gateway knows when it decodes a message: who sent it (authenticated) and the
/// directory of partners.
#[derive(Clone, Debug)]
pub struct DecodeContext {
    pub sender: PartnerId,
    pub directory: Directory,
}

/// A referral as decoded from a message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IncomingReferral {
    /// The gateway's id, when the message carries one (a message the gateway wrote).
    pub gateway_id: Option<ReferralId>,
    pub request: ReferralRequest,
    /// A consent that came with the referral (e.g. a FHIR Consent in the Bundle).
    pub consent: Option<Consent>,
}

/// One record of a decoded message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Record {
    Referral(Box<IncomingReferral>),
    Status(StatusUpdate),
}

/// Where in the input a problem is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Location {
    /// The input as a whole (not well-formed, wrong kind of document, ...).
    Document,
    /// A JSON pointer (RFC 6901), e.g. `/entry/0/resource/identifier/0/value`.
    JsonPointer(String),
    /// An XML path, e.g. `/Bericht/Client/Bsn`.
    XmlPath(String),
    /// A CSV line (1-based, counting the header) and column (1-based) with its header name.
    Csv {
        line: u64,
        column: Option<(usize, String)>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Document => f.write_str("document"),
            Self::JsonPointer(p) if p.is_empty() => f.write_str("/"),
            Self::JsonPointer(p) | Self::XmlPath(p) => f.write_str(p),
            Self::Csv { line, column: None } => write!(f, "line {line}"),
            Self::Csv {
                line,
                column: Some((n, name)),
            } => write!(f, "line {line}:{n} ({name})"),
        }
    }
}

/// A problem with one record, or with the whole input. The rule never quotes personal data.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("{location}: {rule}")]
pub struct DecodeError {
    pub location: Location,
    pub rule: String,
}

impl DecodeError {
    pub fn new(location: Location, rule: impl Into<String>) -> Self {
        Self {
            location,
            rule: rule.into(),
        }
    }

    pub fn at_pointer(pointer: impl Into<String>, rule: impl fmt::Display) -> Self {
        Self::new(Location::JsonPointer(pointer.into()), rule.to_string())
    }

    pub fn at_xml(path: impl Into<String>, rule: impl fmt::Display) -> Self {
        Self::new(Location::XmlPath(path.into()), rule.to_string())
    }

    pub fn document(rule: impl fmt::Display) -> Self {
        Self::new(Location::Document, rule.to_string())
    }
}

/// Why a referral or status update cannot be written in a format.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum EncodeError {
    /// The format requires data the (minimised) referral does not hold.
    #[error("{format} requires {field}, which is in the {category} category this referral does not carry")]
    MissingCategory {
        format: Format,
        field: &'static str,
        category: DataCategory,
    },
    /// The format requires a field the referral does not have.
    #[error("{format} requires {field}, which this referral does not have")]
    MissingField { format: Format, field: &'static str },
    /// A partner has no code the format needs to address it.
    #[error(
        "{format} addresses partner {partner} by {code_kind}, and the directory has none for it"
    )]
    MissingCode {
        format: Format,
        partner: String,
        code_kind: &'static str,
    },
    /// The format has no way to express this.
    #[error("{format} cannot express {what}")]
    Unsupported { format: Format, what: String },
}

/// A stream of decoded records (a batch yields several; a single message one). A problem with
/// the whole document is a single `Err`.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Record, DecodeError>> + 'a>;

/// A referral ready to be written for a receiving partner.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingReferral<'a> {
    pub id: ReferralId,
    /// Already minimised to what the receiver may see; `target` names the receiver.
    pub request: &'a ReferralRequest,
}

/// A status update ready to be written for a partner (usually the referral's sender).
#[derive(Clone, Copy, Debug)]
pub struct OutgoingStatus<'a> {
    pub id: ReferralId,
    /// The referral as the recipient of the status may see it.
    pub request: &'a ReferralRequest,
    pub update: &'a StatusUpdate,
}

/// A sector adapter. Pure: no I/O, no state, no clock, not async.
pub trait Adapter: Send + Sync {
    fn format(&self) -> Format;

    /// Decodes a message: referrals and/or status updates, one result per record.
    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a>;

    /// Writes a referral in this format.
    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError>;

    /// Writes a status update in this format.
    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError>;
}

/// The adapter for a format.
pub fn adapter_for(format: Format) -> &'static dyn Adapter {
    match format {
        Format::FhirR4 => &crate::care::FhirR4,
        Format::Iwmo32 => &crate::welfare::Iwmo32,
        Format::HousingSignal => &crate::housing::HousingSignal,
        Format::EmploymentCsv => &crate::employment::EmploymentCsv,
        Format::CaseJson => &crate::case_json::CaseJson,
    }
}

/// Collects a decoded stream into its records, or every error found.
pub fn collect_records(records: Records<'_>) -> Result<Vec<Record>, Vec<DecodeError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for r in records {
        match r {
            Ok(rec) => ok.push(rec),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}
