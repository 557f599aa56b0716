//! Validated free text. Personal text prints redacted with `Debug`.

use std::fmt;

use super::ModelError;

fn check(s: &str, max: usize, allow_newlines: bool) -> Result<String, ModelError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ModelError::Empty);
    }
    if t.chars().count() > max {
        return Err(ModelError::TooLong { max });
    }
    let bad =
        |c: char| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'));
    if t.chars().any(bad) {
        return Err(ModelError::ControlCharacter);
    }
    Ok(t.to_owned())
}

/// A short piece of personal text (a name part, a street, a town): trimmed, 1–200 characters,
/// no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonalText(String);

impl PersonalText {
    pub const MAX: usize = 200;

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        check(s, Self::MAX, false).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Free text about a resident (a note on a need or on the referral): 1–4000 characters, line
/// breaks allowed. Belongs to the `notes` data category.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Note(String);

impl Note {
    pub const MAX: usize = 4000;

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        check(s, Self::MAX, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Note(<redacted>)")
    }
}

/// Why a status changed, as the partner put it: 1–1000 characters, line breaks allowed.
///
/// Partners are asked not to put personal data here; it is still treated as personal (`Debug`
/// is redacted) because nobody can check that they did not.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReasonText(String);

impl ReasonText {
    pub const MAX: usize = 1000;

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        check(s, Self::MAX, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReasonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReasonText(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(PersonalText::parse("  Dijk ").unwrap().as_str(), "Dijk");
        assert_eq!(PersonalText::parse("   "), Err(ModelError::Empty));
        assert_eq!(
            PersonalText::parse(&"x".repeat(201)),
            Err(ModelError::TooLong { max: 200 })
        );
        assert_eq!(
            PersonalText::parse("a\nb"),
            Err(ModelError::ControlCharacter)
        );
        assert!(Note::parse("line one\nline two").is_ok());
        assert_eq!(Note::parse("a\u{0}b"), Err(ModelError::ControlCharacter));
        assert!(!format!("{:?}", PersonalText::parse("Dijk").unwrap()).contains("Dijk"));
    }
}
