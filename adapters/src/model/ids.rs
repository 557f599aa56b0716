//! Identifiers: validated on construction, printable with `Display`, redacted where personal.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::ModelError;

/// A burgerservicenummer: 9 digits that pass the 11-proef.
///
/// `Debug` prints it redacted, so a stray `{:?}` in a log line cannot leak it; `Display` and
/// [`Bsn::as_str`] give the digits for the formats that must carry them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bsn([u8; 9]);

impl Bsn {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let bytes = s.as_bytes();
        if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(ModelError::BsnFormat);
        }
        let mut digits = [0u8; 9];
        digits.copy_from_slice(bytes);
        let sum: i32 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
            .map(|(d, w)| i32::from(d - b'0') * w)
            .sum();
        if sum % 11 != 0 || digits == *b"000000000" {
            return Err(ModelError::BsnCheck);
        }
        Ok(Self(digits))
    }

    /// The nine digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored (checked in `parse`).
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Whether this is one of the numbers reserved for tests (999900006–999999990).
    pub fn is_test_number(&self) -> bool {
        self.0.starts_with(b"9999")
    }
}

impl fmt::Display for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(<redacted>)")
    }
}

impl FromStr for Bsn {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A Dutch postcode, normalised to `1234AB` (input may have a space and lowercase letters).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode([u8; 6]);

impl Postcode {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let compact: Vec<u8> = s.trim().bytes().filter(|b| *b != b' ').collect();
        if compact.len() != 6 {
            return Err(ModelError::Postcode);
        }
        let (digits, letters) = compact.split_at(4);
        if !digits.iter().all(u8::is_ascii_digit)
            || digits[0] == b'0'
            || !letters.iter().all(u8::is_ascii_alphabetic)
        {
            return Err(ModelError::Postcode);
        }
        let mut out = [0u8; 6];
        out[..4].copy_from_slice(digits);
        out[4] = letters[0].to_ascii_uppercase();
        out[5] = letters[1].to_ascii_uppercase();
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Postcode(<redacted>)")
    }
}

/// A partner organisation's id in the gateway's configuration, e.g. `woonstad-noord`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnerId(String);

impl PartnerId {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let b = s.as_bytes();
        let ok = (2..=64).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ModelError::PartnerId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PartnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartnerId({})", self.0)
    }
}

impl FromStr for PartnerId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The gateway's id of a referral: a UUID version 7 (time-ordered).
///
/// The adapters have no clock, so they never mint one: the gateway builds it from the time
/// and random bytes with [`ReferralId::from_parts`], or parses one a message carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferralId(Uuid);

impl ReferralId {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let uuid = Uuid::try_parse(s).map_err(|_| ModelError::ReferralId)?;
        Self::from_uuid(uuid)
    }

    pub fn from_uuid(uuid: Uuid) -> Result<Self, ModelError> {
        if uuid.get_version_num() == 7 {
            Ok(Self(uuid))
        } else {
            Err(ModelError::ReferralId)
        }
    }

    /// Builds a v7 id from milliseconds since the Unix epoch and 10 random bytes.
    pub fn from_parts(unix_millis: u64, random: [u8; 10]) -> Self {
        Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ReferralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for ReferralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferralId({})", self.0)
    }
}

impl FromStr for ReferralId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A partner's own reference for a record (its case number, message id or row key).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ExternalRef(String);

impl ExternalRef {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let ok = !s.is_empty()
            && s.chars().count() <= 64
            && s.trim() == s
            && !s.chars().any(char::is_control);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ModelError::ExternalRef)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! digit_code {
    ($(#[$doc:meta])* $name:ident, $len:expr, $err:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, ModelError> {
                if s.len() == $len && s.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($err)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

digit_code!(
    /// A care or welfare provider's AGB code (8 digits), as iWmo messages address providers.
    AgbCode,
    8,
    ModelError::AgbCode
);
digit_code!(
    /// A municipality's CBS code (4 digits), as iWmo messages address municipalities.
    MunicipalityCode,
    4,
    ModelError::MunicipalityCode
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsn_passes_the_11_proef_for_the_documented_test_numbers() {
        for ok in ["999900006", "999900018", "999999990"] {
            let bsn = Bsn::parse(ok).expect(ok);
            assert_eq!(bsn.as_str(), ok);
            assert!(bsn.is_test_number());
        }
    }

    #[test]
    fn bsn_refuses_wrong_check_digits_and_shapes() {
        assert_eq!(Bsn::parse("123456789"), Err(ModelError::BsnCheck));
        assert_eq!(Bsn::parse("999900007"), Err(ModelError::BsnCheck));
        assert_eq!(Bsn::parse("000000000"), Err(ModelError::BsnCheck));
        for bad in ["", "99990000", "9999000066", "99990000a", " 99990000"] {
            assert_eq!(Bsn::parse(bad), Err(ModelError::BsnFormat), "{bad:?}");
        }
    }

    #[test]
    fn bsn_debug_is_redacted() {
        let bsn = Bsn::parse("999900006").unwrap();
        assert!(!format!("{bsn:?}").contains("999900006"));
    }

    #[test]
    fn postcode_normalises_and_refuses() {
        assert_eq!(Postcode::parse("1234 ab").unwrap().as_str(), "1234AB");
        for bad in ["0123AB", "123AB", "1234A1", "12345AB", "", "ABCD12"] {
            assert_eq!(Postcode::parse(bad), Err(ModelError::Postcode), "{bad:?}");
        }
    }

    #[test]
    fn partner_id_is_a_lowercase_slug() {
        assert!(PartnerId::parse("woonstad-noord").is_ok());
        for bad in ["", "a", "Woonstad", "1abc", "a b", "a_b", &"a".repeat(65)] {
            assert_eq!(PartnerId::parse(bad), Err(ModelError::PartnerId), "{bad:?}");
        }
    }

    #[test]
    fn referral_id_must_be_version_7() {
        let id = ReferralId::from_parts(1_700_000_000_000, [7; 10]);
        assert_eq!(ReferralId::parse(&id.to_string()), Ok(id));
        assert_eq!(
            ReferralId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            Err(ModelError::ReferralId)
        );
        assert_eq!(ReferralId::parse("nonsense"), Err(ModelError::ReferralId));
    }

    #[test]
    fn external_ref_and_codes() {
        assert!(ExternalRef::parse("VS-2025-0001").is_ok());
        assert!(ExternalRef::parse(" x").is_err());
        assert!(ExternalRef::parse("a\nb").is_err());
        assert!(AgbCode::parse("42420001").is_ok());
        assert!(AgbCode::parse("4242000").is_err());
        assert!(MunicipalityCode::parse("0384").is_ok());
        assert!(MunicipalityCode::parse("384").is_err());
    }
}
