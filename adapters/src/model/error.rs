use thiserror::Error;

/// Why a value could not become part of the case model.
///
/// Messages name the rule, never the rejected value: they may be shown to other partners and
/// written to logs, and the value may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    #[error("must be 9 digits")]
    BsnFormat,
    #[error("fails the 11-proef (BSN check digit)")]
    BsnCheck,
    #[error("must be a Dutch postcode: 4 digits (not starting with 0) and 2 letters, e.g. 1234AB")]
    Postcode,
    #[error(
        "must be 2 to 64 characters: lowercase letters, digits and '-', starting with a letter"
    )]
    PartnerId,
    #[error("must be a UUID version 7")]
    ReferralId,
    #[error("must be 1 to 64 printable characters without spaces at either end")]
    ExternalRef,
    #[error("must be an 8-digit AGB code")]
    AgbCode,
    #[error("must be a 4-digit municipality (CBS) code")]
    MunicipalityCode,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must be a whole number from 1 to 99999")]
    HouseNumber,
    #[error("must be one letter")]
    HouseLetter,
    #[error("must be 1 to 4 letters or digits")]
    HouseNumberAddition,
    #[error("must be a phone number: digits, spaces, '-', '(', ')' and an optional leading '+', 6 to 20 characters")]
    Phone,
    #[error("must be an e-mail address (local@domain)")]
    Email,
    #[error("must be from 1 to 5 (self-sufficiency matrix score)")]
    Severity,
    #[error("must list at least one need")]
    NoNeeds,
    #[error("must not list the same life domain twice")]
    DuplicateDomain,
    #[error("must not be negative")]
    NegativeAmount,
    #[error("must not end before it starts")]
    PeriodOrder,
    #[error("must name at least one data category")]
    NoCategories,
    #[error("unknown code {code:?}; expected one of: {expected}")]
    UnknownCode { code: String, expected: String },
}

/// The value of `all` whose code is `s`, or an error listing the accepted codes. Shared by
/// every code-valued enum's `FromStr`; the rejected code is quoted (codes are not personal),
/// cut to 40 characters.
pub(crate) fn parse_code<T: Copy, const N: usize>(
    s: &str,
    all: [T; N],
    code: fn(T) -> &'static str,
) -> Result<T, ModelError> {
    all.into_iter()
        .find(|x| code(*x) == s)
        .ok_or_else(|| ModelError::UnknownCode {
            code: s.chars().take(40).collect(),
            expected: all.map(code).join(", "),
        })
}
