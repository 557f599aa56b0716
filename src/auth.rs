//! Partner API tokens: minted by `wijkbrug partner token`, configured as their SHA-256 hash,
//! compared in constant time.
//!
//! A token is `wbt_` followed by 32 random bytes in base64url without padding (43 characters).
//! The gateway never stores a token, only `sha256:<64 hex digits>` of it, in the partner's
//! file (`token_hashes`, one or two during a change-over).

use base64::Engine as _;
use rand::RngExt as _;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The prefix of every token the gateway mints, so a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "wbt_";

/// The prefix of a configured token hash.
pub const HASH_PREFIX: &str = "sha256:";

/// The SHA-256 of a partner's API token, configured as `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Why a configured token hash is not one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be \"sha256:\" followed by 64 hex digits (print one with `wijkbrug partner token`)")]
pub struct BadTokenHash;

impl TokenHash {
    /// Parses `sha256:<64 hex digits>` (either case).
    pub fn parse(s: &str) -> Result<Self, BadTokenHash> {
        let hex_part = s.strip_prefix(HASH_PREFIX).ok_or(BadTokenHash)?;
        if hex_part.len() != 64 {
            return Err(BadTokenHash);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| BadTokenHash)?;
        Ok(Self(out))
    }

    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `token` hashes to this hash, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        Self::of(token).ct_eq(self)
    }

    /// Constant-time equality of two hashes.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Display for TokenHash {
    /// The configured form, `sha256:<64 lowercase hex digits>` (a hash is not a secret).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{HASH_PREFIX}{}", hex::encode(self.0))
    }
}

/// Mints a new API token: `wbt_` and 32 random bytes (thread CSPRNG) in base64url without
/// padding. Returns the token (hand it to the partner) and its hash (configure it).
pub fn mint_token() -> (SecretString, TokenHash) {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes[..]);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = TokenHash::of(&token);
    (SecretString::from(token), hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_minted_token_matches_its_hash_and_no_other() {
        let (token, hash) = mint_token();
        let token = token.expose_secret();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 43);
        assert!(hash.matches(token));
        assert!(!hash.matches(&format!("{token}x")));
        let (other, _) = mint_token();
        assert_ne!(other.expose_secret(), token);
    }

    #[test]
    fn a_hash_prints_in_the_form_it_parses_from() {
        let hash = TokenHash::of("wbt_example");
        let printed = hash.to_string();
        assert!(printed.starts_with("sha256:"));
        assert_eq!(TokenHash::parse(&printed), Ok(hash.clone()));
        assert_eq!(
            TokenHash::parse(&printed.to_uppercase().replace("SHA256:", "sha256:")),
            Ok(hash)
        );
    }

    #[test]
    fn a_malformed_hash_is_refused() {
        for bad in [
            "",
            "sha256:",
            "md5:00",
            "sha256:abc",
            &format!("sha256:{}", "g".repeat(64)),
            &format!("sha256:{}", "0".repeat(63)),
            &format!("sha256:{}", "0".repeat(65)),
            &"0".repeat(64),
        ] {
            assert_eq!(TokenHash::parse(bad), Err(BadTokenHash), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_hash() {
        assert_eq!(format!("{:?}", TokenHash::of("x")), "TokenHash(..)");
    }
}
