//! Data categories: consent and minimisation work on these.

use std::fmt;
use std::str::FromStr;

use super::ModelError;

/// The categories personal data in a referral belongs to. Every field of the model that
/// holds data about the resident belongs to exactly one (see `ReferralRequest::minimise`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum DataCategory {
    /// BSN, name, birth date, gender.
    Identity,
    /// Address, phone, e-mail.
    Contact,
    /// Needs on the non-health life domains (domain and severity).
    Needs,
    /// Free text: notes on the referral and on needs.
    Notes,
    /// Needs on mental health, physical health and addiction: a special category (GDPR art. 9).
    Health,
    /// Amounts owed, arrears and their dates.
    Finance,
}

impl DataCategory {
    pub const ALL: [DataCategory; 6] = [
        Self::Identity,
        Self::Contact,
        Self::Needs,
        Self::Notes,
        Self::Health,
        Self::Finance,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Contact => "contact",
            Self::Needs => "needs",
            Self::Notes => "notes",
            Self::Health => "health",
            Self::Finance => "finance",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DataCategory {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::parse_code(s, Self::ALL, Self::code)
    }
}

/// A set of data categories (a small bit set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    pub const fn empty() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        DataCategory::ALL.into_iter().collect()
    }

    pub fn contains(self, c: DataCategory) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn insert(&mut self, c: DataCategory) {
        self.0 |= c.bit();
    }

    pub fn remove(&mut self, c: DataCategory) {
        self.0 &= !c.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Categories in `self` but not in `other`.
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = DataCategory> {
        DataCategory::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<DataCategory> for CategorySet {
    fn from_iter<I: IntoIterator<Item = DataCategory>>(iter: I) -> Self {
        let mut set = Self::empty();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(DataCategory::code).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let a: CategorySet = [DataCategory::Identity, DataCategory::Needs]
            .into_iter()
            .collect();
        let b: CategorySet = [DataCategory::Needs, DataCategory::Health]
            .into_iter()
            .collect();
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            [DataCategory::Needs]
        );
        assert_eq!(
            a.difference(b).iter().collect::<Vec<_>>(),
            [DataCategory::Identity]
        );
        assert_eq!(a.union(b).iter().count(), 3);
        assert_eq!(CategorySet::all().iter().count(), 6);
        assert_eq!(a.to_string(), "identity,needs");
        for c in DataCategory::ALL {
            assert_eq!(c.code().parse::<DataCategory>(), Ok(c));
        }
    }
}
