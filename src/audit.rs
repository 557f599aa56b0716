//! The audit log: an append-only, hash-chained record of every processing event.
//!
//! Each [`AuditEvent`] carries the hash of the event before it, so altering, deleting or
//! reordering any stored event breaks the chain, and [`verify`] (and `wijkbrug audit verify`)
//! finds the first broken link.
//!
//! Events name partners, referral ids, consent ids, status and category codes and operator
//! names; never a BSN, a name or any other personal value. The resident is referenced by a
//! keyed pseudonym, [`PseudonymKey::pseudonym`]: HMAC-SHA256 of the BSN with a secret from
//! configuration, so events about one resident can be found by whoever holds the key, and
//! nobody else can tell whose they are.
//!
//! ## Canonical encoding (version 1)
//! An event's hash is `SHA-256(prev_hash || canonical)`, where `prev_hash` is the previous
//! event's hash as 32 raw bytes (32 zero bytes for the first event) and `canonical` is the
//! compact JSON (`serde_json`, no whitespace) of this object, with the fields in exactly this
//! order:
//!
//! ```text
//! {"v":1,"seq":<u64>,"at":"YYYY-MM-DDTHH:MM:SS.ffffffZ","action":"<code>",
//!  "partner":<string|null>,"referral":<uuid string|null>,"resident":<64 hex|null>,
//!  "detail":{<keys in byte order>: <string>},"prev_hash":"<64 lowercase hex>"}
//! ```
//!
//! Every field but `hash` is covered. Times are UTC with exactly six fractional digits (the
//! store's precision); strings are JSON-escaped as `serde_json` does.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;
use wijkbrug_adapters::model::{Bsn, PartnerId, ReferralId};

/// The hash of "no previous event".
pub const GENESIS: [u8; 32] = [0; 32];

/// The key used when none is configured: for development and tests only (`check-config`
/// refuses it in production).
pub const DEVELOPMENT_KEY: &str = "wijkbrug-development-pseudonym-key-not-for-production";

/// The secret the resident pseudonyms are keyed with.
#[derive(Clone)]
pub struct PseudonymKey(SecretString);

impl PseudonymKey {
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The fixed development key ([`DEVELOPMENT_KEY`]).
    pub fn development() -> Self {
        Self(SecretString::from(DEVELOPMENT_KEY))
    }

    /// `HMAC-SHA256(key, bsn digits)` as lowercase hex.
    pub fn pseudonym(&self, bsn: &Bsn) -> Pseudonym {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
        let mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(
            self.0.expose_secret().as_bytes(),
        )
        .map(|mut mac| {
            mac.update(bsn.as_str().as_bytes());
            mac.finalize().into_bytes()
        });
        match mac {
            Ok(bytes) => Pseudonym(HexDigest::of(&bytes.into()).as_str().to_owned()),
            Err(_) => Pseudonym(String::new()),
        }
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// A 32-byte digest as 64 lowercase hex digits, written into a buffer on the stack: the
/// chain writes three of them for each event it appends (`hex::encode` builds its string a
/// character at a time).
#[derive(Clone, Copy)]
pub struct HexDigest([u8; 64]);

impl HexDigest {
    pub fn of(digest: &[u8; 32]) -> Self {
        let mut out = [0u8; 64];
        // Twice the input's length is what `encode_to_slice` needs: it cannot fail here.
        let _ = hex::encode_to_slice(digest, &mut out);
        Self(out)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits are ASCII, so the buffer is always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A resident's keyed pseudonym: 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// Reads a stored pseudonym (64 lowercase hex digits).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AuditAction {
    /// A referral was received from a partner (detail: status after intake).
    MessageReceived,
    /// Whether consent permits sharing (detail: decision permit/refuse, consent id, refusal
    /// code).
    ConsentDecision,
    /// The shared copy was minimised (detail: categories kept and removed, receiver).
    Minimised,
    /// A delivery attempt and its result (detail: outbox id, kind, result
    /// delivered/retry/dead/cancelled, HTTP status code if any).
    DeliveryAttempt,
    /// A referral changed status (detail: from, to, by, reason code).
    StatusChanged,
    /// A partner read a referral through the API.
    ReferralRead,
    /// An operator acted on a dead letter (detail: op retry/discard, operator, outbox id).
    OpsAction,
    /// A consent was recorded (detail: consent id, effect, purpose, grantee, categories).
    ConsentRecorded,
    /// A consent was revoked.
    ConsentRevoked,
    /// Retention erased a referral's payload (detail: its status, the cut-off, how many
    /// reason texts were erased and deliveries cancelled).
    PayloadErased,
    /// A resident's processing log was read (detail: reader, entries shown); carries the
    /// resident's pseudonym.
    ProcessingLogRead,
    /// A partner's valid token was refused because a rule of its own was not met (detail:
    /// rule, e.g. `client_certificate`, and what was presented: `none` or a certificate
    /// fingerprint). Never carries the token.
    AccessRefused,
}

impl AuditAction {
    pub const ALL: [Self; 12] = [
        Self::MessageReceived,
        Self::ConsentDecision,
        Self::Minimised,
        Self::DeliveryAttempt,
        Self::StatusChanged,
        Self::ReferralRead,
        Self::OpsAction,
        Self::ConsentRecorded,
        Self::ConsentRevoked,
        Self::PayloadErased,
        Self::ProcessingLogRead,
        Self::AccessRefused,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::MessageReceived => "message_received",
            Self::ConsentDecision => "consent_decision",
            Self::Minimised => "minimised",
            Self::DeliveryAttempt => "delivery_attempt",
            Self::StatusChanged => "status_changed",
            Self::ReferralRead => "referral_read",
            Self::OpsAction => "ops_action",
            Self::ConsentRecorded => "consent_recorded",
            Self::ConsentRevoked => "consent_revoked",
            Self::PayloadErased => "payload_erased",
            Self::ProcessingLogRead => "processing_log_read",
            Self::AccessRefused => "access_refused",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for AuditAction {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.code() == s).ok_or(())
    }
}

/// An event before it is chained: what the writer records.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditDraft {
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub partner: Option<PartnerId>,
    pub referral: Option<ReferralId>,
    pub resident: Option<Pseudonym>,
    /// Non-personal facts only: codes, ids, operator names.
    pub detail: BTreeMap<String, String>,
}

impl AuditDraft {
    /// A partner's request refused by `rule` (`presented`: what it showed, never a secret).
    pub fn access_refused(
        at: DateTime<Utc>,
        partner: &wijkbrug_adapters::model::PartnerId,
        rule: &str,
        presented: &str,
    ) -> Self {
        Self::new(at, AuditAction::AccessRefused)
            .partner(partner)
            .detail("rule", rule)
            .detail("presented", presented)
    }

    /// A resident's processing log read by `reader`, `entries` long.
    pub fn processing_log_read(
        at: DateTime<Utc>,
        pseudonym: &Pseudonym,
        reader: &str,
        entries: usize,
    ) -> Self {
        Self::new(at, AuditAction::ProcessingLogRead)
            .resident(Some(pseudonym.clone()))
            .detail("reader", reader)
            .detail("entries", entries)
    }

    pub fn new(at: DateTime<Utc>, action: AuditAction) -> Self {
        Self {
            at,
            action,
            partner: None,
            referral: None,
            resident: None,
            detail: BTreeMap::new(),
        }
    }

    pub fn partner(mut self, partner: &PartnerId) -> Self {
        self.partner = Some(partner.clone());
        self
    }

    pub fn referral(mut self, referral: ReferralId) -> Self {
        self.referral = Some(referral);
        self
    }

    pub fn resident(mut self, resident: Option<Pseudonym>) -> Self {
        self.resident = resident;
        self
    }

    pub fn detail(mut self, key: &str, value: impl ToString) -> Self {
        self.detail.insert(key.to_owned(), value.to_string());
        self
    }

    /// Chains the draft after `prev_hash` as event `seq`.
    pub fn chain(self, seq: u64, prev_hash: [u8; 32]) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            at: self.at,
            action: self.action,
            partner: self.partner,
            referral: self.referral,
            resident: self.resident,
            detail: self.detail,
            prev_hash,
            hash: [0; 32],
        };
        event.hash = event.computed_hash();
        event
    }
}

/// One recorded event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEvent {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub partner: Option<PartnerId>,
    pub referral: Option<ReferralId>,
    pub resident: Option<Pseudonym>,
    pub detail: BTreeMap<String, String>,
    /// The previous event's hash ([`GENESIS`] for the first).
    pub prev_hash: [u8; 32],
    /// `SHA-256(prev_hash || canonical)`.
    pub hash: [u8; 32],
}

/// The canonical form's fields, in their fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    seq: u64,
    at: String,
    action: &'static str,
    partner: Option<&'a str>,
    referral: Option<String>,
    resident: Option<&'a str>,
    detail: &'a BTreeMap<String, String>,
    prev_hash: &'a str,
}

/// Times as the canonical form (and the store) writes them.
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, always six digits of fraction: stored times compare
/// as text in time order).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl AuditEvent {
    /// The canonical encoding of every field but `hash` (see the module documentation).
    pub fn canonical(&self) -> Vec<u8> {
        let prev_hash = HexDigest::of(&self.prev_hash);
        let canonical = Canonical {
            v: 1,
            seq: self.seq,
            at: timestamp(self.at),
            action: self.action.code(),
            partner: self.partner.as_ref().map(|p| p.as_str()),
            referral: self.referral.map(|r| r.to_string()),
            resident: self.resident.as_ref().map(|r| r.as_str()),
            detail: &self.detail,
            prev_hash: prev_hash.as_str(),
        };
        // Serialising strings, integers and a string map to a Vec cannot fail.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }

    /// `SHA-256(prev_hash || canonical)`.
    pub fn computed_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }
}

/// The first broken link of a chain.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("audit chain broken at event {seq}: {why}")]
pub struct BrokenLink {
    pub seq: u64,
    pub why: String,
}

/// Checks a chain event by event (for walking it in pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    next_seq: u64,
    prev_hash: [u8; 32],
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS,
        }
    }
}

impl Verifier {
    /// Checks the next event of the chain.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), BrokenLink> {
        let expected = self.next_seq;
        if event.seq > expected {
            return Err(BrokenLink {
                seq: expected,
                why: if expected + 1 == event.seq {
                    format!(
                        "the event is missing (the next one present is {})",
                        event.seq
                    )
                } else {
                    format!(
                        "events {expected} to {} are missing (the next one present is {})",
                        event.seq - 1,
                        event.seq
                    )
                },
            });
        }
        if event.seq < expected {
            return Err(BrokenLink {
                seq: event.seq,
                why: format!("out of order: event {expected} was expected here"),
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(BrokenLink {
                seq: event.seq,
                why: if expected == 1 {
                    "the first event does not start the chain (its previous hash is not zero)"
                        .to_owned()
                } else {
                    format!(
                        "its previous hash does not match event {}'s hash",
                        expected - 1
                    )
                },
            });
        }
        if event.computed_hash() != event.hash {
            return Err(BrokenLink {
                seq: event.seq,
                why: "its contents do not match its hash (the event was altered)".to_owned(),
            });
        }
        self.next_seq = expected + 1;
        self.prev_hash = event.hash;
        Ok(())
    }

    /// How many events were checked.
    pub fn count(&self) -> u64 {
        self.next_seq - 1
    }
}

/// Checks a whole chain, given in seq order; the number of events.
pub fn verify<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> Result<u64, BrokenLink> {
    let mut verifier = Verifier::default();
    for event in events {
        verifier.push(event)?;
    }
    Ok(verifier.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn a_digest_in_hex_is_what_the_hex_crate_writes(digest in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let written = HexDigest::of(&digest);
            proptest::prop_assert_eq!(written.as_str(), hex::encode(digest));
        }
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = AuditDraft::new(crate::store::now(), AuditAction::StatusChanged)
                    .detail("to", "routed")
                    .chain(seq, prev);
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn timestamps_are_fixed_width_utc_with_microseconds() {
        use chrono::TimeZone;
        let whole = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(timestamp(whole), "2026-01-02T03:04:05.000000Z");
        let fine = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(timestamp(fine), "2026-01-02T03:04:05.123456Z");
        // The audit chain's canonical form and the stored text depend on this exact form.
        assert_eq!(
            timestamp(fine),
            fine.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn an_altered_event_is_caught_at_its_seq() {
        let mut events = chain(5);
        events[2].detail.insert("to".into(), "cancelled".into());
        assert_eq!(verify(&events).unwrap_err().seq, 3);
    }

    #[test]
    fn a_rehashed_altered_event_is_caught_at_the_next() {
        let mut events = chain(5);
        events[2].detail.insert("to".into(), "cancelled".into());
        events[2].hash = events[2].computed_hash();
        assert_eq!(verify(&events).unwrap_err().seq, 4);
    }

    #[test]
    fn a_deleted_event_is_caught_at_its_seq() {
        let mut events = chain(5);
        events.remove(1);
        let broken = verify(&events).unwrap_err();
        assert_eq!(broken.seq, 2);
        assert!(broken.why.contains("missing"));
    }

    #[test]
    fn reordered_events_are_caught() {
        let mut events = chain(5);
        events.swap(1, 2);
        assert_eq!(verify(&events).unwrap_err().seq, 2);
    }

    #[test]
    fn pseudonyms_are_keyed_hmacs_not_the_bsn() {
        let bsn = Bsn::parse("999900006").unwrap();
        let a = PseudonymKey::development().pseudonym(&bsn);
        let b = PseudonymKey::new(SecretString::from("another key")).pseudonym(&bsn);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert!(!a.as_str().contains("999900006"));
        assert_eq!(Pseudonym::parse(a.as_str()), Some(a.clone()));
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
