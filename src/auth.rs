//! Partner API tokens: minted by `wijkbrug partner token`, configured as their SHA-256 hash,
//! compared in constant time.

/// The SHA-256 of a partner's API token, configured as `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}
