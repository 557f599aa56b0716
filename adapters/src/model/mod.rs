//! The common case model of DESIGN.md.
//!
//! Every constructor validates; nothing downstream re-checks. Validation errors
//! ([`ModelError`]) say which rule was broken but never echo the value, so they are safe to
//! show to a partner or write to a log. Types that hold personal data print redacted with
//! `Debug`.

mod category;
mod consent;
mod error;
mod ids;
mod need;
mod referral;
mod resident;
mod status;
mod text;

pub use category::{CategorySet, DataCategory};
pub use consent::{Consent, ConsentEffect, Grantee, Purpose};
pub(crate) use error::parse_code;
pub use error::ModelError;
pub use ids::{AgbCode, Bsn, ExternalRef, MunicipalityCode, PartnerId, Postcode, ReferralId};
pub use need::{LifeDomain, Need, Severity};
pub use referral::{
    FinancialSituation, MoneyCents, Referral, ReferralRequest, Sector, Source, Target, Urgency,
};
pub use resident::{
    Address, Contact, Email, Gender, HouseNumber, Identity, PersonName, Phone, Resident,
};
pub use status::{
    Actor, ReferralRef, ReferralStatus, StatusHistory, StatusUpdate, Transition, TransitionError,
};
pub use text::{Note, PersonalText, ReasonText};
