//! Staff access: the accounts of operations staff, privacy officers and administrators
//! (`config/staff.toml`), their roles, and what each role may do.
//!
//! Partners' systems authenticate with their own tokens (`partners/<id>.toml`) and reach only
//! their own referrals, mailbox and consents. Staff tokens reach the gateway's own APIs,
//! each route requiring one [`Permission`]:
//!
//! | permission            | operations | privacy officer | admin |
//! |-----------------------|:----------:|:---------------:|:-----:|
//! | [`Permission::ViewOperations`]    | yes | – | yes |
//! | [`Permission::ActOnDeadLetters`]  | –   | – | yes |
//! | [`Permission::ImportConsents`]    | –   | – | yes |
//! | [`Permission::ReadProcessingLog`] | –   | yes | – |
//! | [`Permission::ViewAuditChain`]    | yes | yes | yes |
//!
//! Operations views carry metadata only (ids, partners, statuses, times, error kinds); the
//! processing log, which names what was shared about one resident, is the privacy officer's
//! alone. Every staff action is audited under the account's name.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::auth::TokenHash;

/// What a staff account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Watches referrals flow: dashboards, dead letters, metrics. Metadata only.
    Operations,
    /// Answers residents' access requests: processing logs, the audit chain.
    PrivacyOfficer,
    /// Acts: retries or discards dead letters, imports consents. Sees what operations sees.
    Admin,
}

/// One thing a route lets its caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read operational metadata: dead letters, the dashboard, instance health.
    ViewOperations,
    /// Retry or discard a dead letter.
    ActOnDeadLetters,
    /// Import consents recorded outside the gateway (on a partner's behalf).
    ImportConsents,
    /// Read one resident's processing log.
    ReadProcessingLog,
    /// Read the audit chain's status (length, head, verified or the first broken link).
    ViewAuditChain,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Operations, Role::PrivacyOfficer, Role::Admin];

    /// The code used in `staff.toml`.
    pub fn code(self) -> &'static str {
        match self {
            Role::Operations => "operations",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do `p`.
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Operations => matches!(p, ViewOperations | ViewAuditChain),
            Role::PrivacyOfficer => matches!(p, ReadProcessingLog | ViewAuditChain),
            Role::Admin => matches!(
                p,
                ViewOperations | ActOnDeadLetters | ImportConsents | ViewAuditChain
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be one of: operations, privacy_officer, admin")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or(UnknownRole)
    }
}

/// A staff account's name, as the audit log records it: 1–64 of `a-z A-Z 0-9 . _ -`.
/// A function or desk name (`ops-desk`) rather than a person's full name is advised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaffName(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be 1 to 64 characters of a-z, A-Z, 0-9, '.', '_' and '-'")]
pub struct BadStaffName;

impl StaffName {
    pub fn parse(s: &str) -> Result<Self, BadStaffName> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(s.to_owned())).ok_or(BadStaffName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StaffName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One staff account: a name, a role, and the hashes of its tokens (two during a change-over).
#[derive(Debug, Clone)]
pub struct StaffAccount {
    pub name: StaffName,
    pub role: Role,
    pub token_hashes: Vec<TokenHash>,
}

impl StaffAccount {
    /// The name the audit log and the referral history record for this account's actions.
    pub fn audit_name(&self) -> String {
        format!("{}:{}", self.role.code(), self.name)
    }
}

/// Every staff account (none: the staff APIs are closed).
#[derive(Debug, Clone, Default)]
pub struct Staff {
    pub accounts: Vec<StaffAccount>,
}

impl Staff {
    /// The account `presented_token` belongs to. Every configured hash is compared, in
    /// constant time, whatever the outcome of the others.
    pub fn authenticate(&self, presented_token: &str) -> Option<&StaffAccount> {
        let presented = TokenHash::of(presented_token);
        let mut found = None;
        for account in &self.accounts {
            for hash in &account.token_hashes {
                if hash.ct_eq(&presented) && found.is_none() {
                    found = Some(account);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_exactly_its_permissions() {
        use Permission::*;
        let all = [
            ViewOperations,
            ActOnDeadLetters,
            ImportConsents,
            ReadProcessingLog,
            ViewAuditChain,
        ];
        let allowed = |r: Role| all.iter().filter(|p| r.may(**p)).count();
        assert_eq!(allowed(Role::Operations), 2);
        assert_eq!(allowed(Role::PrivacyOfficer), 2);
        assert_eq!(allowed(Role::Admin), 4);
        assert!(!Role::Operations.may(ReadProcessingLog));
        assert!(!Role::Operations.may(ActOnDeadLetters));
        assert!(!Role::Admin.may(ReadProcessingLog));
        assert!(!Role::PrivacyOfficer.may(ViewOperations));
    }

    #[test]
    fn roles_parse_from_their_codes_only() {
        for r in Role::ALL {
            assert_eq!(r.code().parse::<Role>(), Ok(r));
        }
        assert_eq!("ops".parse::<Role>(), Err(UnknownRole));
        assert_eq!("Admin".parse::<Role>(), Err(UnknownRole));
    }

    #[test]
    fn staff_names_are_checked() {
        assert!(StaffName::parse("ops-desk.1_a").is_ok());
        for bad in ["", "a b", "ops/desk", "ops\ndesk", &"x".repeat(65)] {
            assert_eq!(StaffName::parse(bad), Err(BadStaffName), "{bad:?}");
        }
    }

    #[test]
    fn a_token_finds_its_account_and_no_other() {
        let account = |name: &str, role, tokens: &[&str]| StaffAccount {
            name: StaffName::parse(name).unwrap(),
            role,
            token_hashes: tokens.iter().map(|t| TokenHash::of(t)).collect(),
        };
        let staff = Staff {
            accounts: vec![
                account("desk", Role::Operations, &["t-ops"]),
                account("dpo", Role::PrivacyOfficer, &["t-old", "t-new"]),
            ],
        };
        assert_eq!(staff.authenticate("t-ops").unwrap().name.as_str(), "desk");
        assert_eq!(
            staff.authenticate("t-old").unwrap().role,
            Role::PrivacyOfficer
        );
        assert_eq!(
            staff.authenticate("t-new").unwrap().role,
            Role::PrivacyOfficer
        );
        assert!(staff.authenticate("t-other").is_none());
        assert!(Staff::default().authenticate("t-ops").is_none());
    }
}
