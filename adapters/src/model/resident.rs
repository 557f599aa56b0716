//! The resident a referral is about. Identity and contact are separate data categories, so
//! each is optional: a referral minimised to what a consent covers may lack either.

use std::fmt;

use chrono::NaiveDate;

use super::{ModelError, PersonalText, Postcode};

/// The resident as far as the referral's data categories allow.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Resident {
    /// Category `identity`: BSN, name, birth date, gender.
    pub identity: Option<Identity>,
    /// Category `contact`: address, phone, e-mail.
    pub contact: Option<Contact>,
}

/// Who the resident is (data category `identity`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Identity {
    pub bsn: super::Bsn,
    pub name: PersonName,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
}

/// A Dutch person's name: given names, initials, a prefix such as "van de", and a family name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PersonName {
    pub given_names: Option<PersonalText>,
    pub initials: Option<PersonalText>,
    pub prefix: Option<PersonalText>,
    pub family_name: PersonalText,
}

impl PersonName {
    /// A name with only a family name.
    pub fn family(family_name: PersonalText) -> Self {
        Self {
            given_names: None,
            initials: None,
            prefix: None,
            family_name,
        }
    }
}

/// Administrative gender as the Dutch standards record it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Gender {
    Male,
    Female,
    Other,
    Unknown,
}

/// How to reach the resident (data category `contact`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Contact {
    pub address: Option<Address>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        self.address.is_none() && self.phone.is_none() && self.email.is_none()
    }
}

/// A Dutch address in the shape of the BAG: postcode, house number, house letter and addition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Address {
    pub postcode: Postcode,
    pub house_number: HouseNumber,
    /// One letter, e.g. the "a" of "12a".
    pub house_letter: Option<char>,
    /// Up to 4 letters or digits, e.g. "bis" or "2" in "12-2".
    pub house_number_addition: Option<String>,
    pub street: Option<PersonalText>,
    pub town: Option<PersonalText>,
}

impl Address {
    pub fn parse_house_letter(s: &str) -> Result<char, ModelError> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_alphabetic() => Ok(c),
            _ => Err(ModelError::HouseLetter),
        }
    }

    pub fn parse_house_number_addition(s: &str) -> Result<String, ModelError> {
        if (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(s.to_owned())
        } else {
            Err(ModelError::HouseNumberAddition)
        }
    }
}

/// A house number, 1 to 99999.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct HouseNumber(u32);

impl HouseNumber {
    pub fn new(n: u32) -> Result<Self, ModelError> {
        if (1..=99_999).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ModelError::HouseNumber)
        }
    }

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ModelError::HouseNumber);
        }
        s.parse()
            .map_err(|_| ModelError::HouseNumber)
            .and_then(Self::new)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A phone number as written (digits, spaces, '-', parentheses, optional leading '+').
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let s = s.trim();
        let body = s.strip_prefix('+').unwrap_or(s);
        let ok = (6..=20).contains(&s.len())
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
            && body.chars().filter(char::is_ascii_digit).count() >= 6;
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ModelError::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

/// An e-mail address, checked for shape only (one '@', a dot in the domain, no spaces).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let s = s.trim();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ModelError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_parts_validate() {
        assert!(HouseNumber::parse("10").is_ok());
        for bad in ["0", "", "100000", "1a", "-1"] {
            assert_eq!(
                HouseNumber::parse(bad),
                Err(ModelError::HouseNumber),
                "{bad:?}"
            );
        }
        assert_eq!(Address::parse_house_letter("a"), Ok('a'));
        assert!(Address::parse_house_letter("ab").is_err());
        assert!(Address::parse_house_number_addition("bis").is_ok());
        assert!(Address::parse_house_number_addition("toolong").is_err());
    }

    #[test]
    fn contact_details_validate() {
        assert!(Phone::parse("010-1234567").is_ok());
        assert!(Phone::parse("+31 6 12345678").is_ok());
        assert!(Phone::parse("call me").is_err());
        assert!(Email::parse("j.devries@example.nl").is_ok());
        for bad in ["nope", "a@b", "@b.nl", "a b@c.nl", "a@.nl"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
