//! What the operations dashboard reads from the store: metadata only. Ids, partners,
//! statuses, times, outbox states and error texts the gateway wrote itself; never a request,
//! a shared copy, a reason text or anything about the resident.
//!
//! The [`crate::store::Store`] methods that answer with these types are in the trait's
//! "operations dashboard" section.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use wijkbrug_adapters::model::{Actor, PartnerId, ReferralId, ReferralStatus};

use super::{OutboxKind, ReferralMeta};
use crate::audit::AuditAction;

/// The figures of the dashboard's overview, read in one snapshot.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OpsOverview {
    /// Referrals per current status, every status listed (zero included), in
    /// [`ReferralStatus::ALL`] order.
    pub by_status: Vec<(ReferralStatus, u64)>,
    /// Referrals received at or after the overview's `since`.
    pub received_since: u64,
    /// Referrals received at or after `since` that are now `consent_missing` (consent refused
    /// at intake, or revoked since).
    pub consent_refusals_since: u64,
    /// Outbox rows waiting to be delivered (pushes and mailbox items), leased or not.
    pub deliveries_pending: u64,
    /// Of those, the ones whose last attempt failed (they wait for a retry).
    pub deliveries_retrying: u64,
    /// Outbox rows that failed for good and wait for an operator.
    pub dead_letters: u64,
    /// The earliest `next_attempt_at` of a pending row that was due at `now`: how long the
    /// oldest due delivery has waited. `None` when nothing is due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Per recipient with any outbox row, by partner id.
    pub partners: Vec<PartnerDeliveries>,
}

/// The first whole hour (UTC) at or after `since`: `since` itself when it is on the hour.
/// The overview counts the rows from `since` up to it and takes the hours from it on from the
/// stores' per-hour counts (migration `0010_dashboard_hourly.sql`). `None` past the last
/// representable hour (then everything from `since` is counted from the rows).
pub(crate) fn hour_after(since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let secs = since.timestamp();
    let on_the_hour = secs.rem_euclid(3_600) == 0 && since.timestamp_subsec_nanos() == 0;
    let hour = secs.div_euclid(3_600) + i64::from(!on_the_hour);
    DateTime::from_timestamp(hour.checked_mul(3_600)?, 0)
}

/// One recipient's deliveries, as the outbox has them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartnerDeliveries {
    pub recipient: PartnerId,
    /// Rows delivered at or after the overview's `since`.
    pub delivered_since: u64,
    /// Rows waiting to be delivered.
    pub pending: u64,
    /// Pending rows whose last attempt failed.
    pub retrying: u64,
    /// Dead letters now.
    pub dead: u64,
}

/// Which side of a referral a partner or sector filter looks at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Side {
    /// The sender or the receiver.
    #[default]
    Either,
    Sender,
    Receiver,
}

/// Which referrals a page lists. Every condition given must hold.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReferralFilter {
    pub status: Option<ReferralStatus>,
    /// The partner on [`ReferralFilter::side`].
    pub partner: Option<PartnerId>,
    /// One of these partners on [`ReferralFilter::side`] (a sector's partners; the caller
    /// resolves the sector through the configuration). An empty list matches nothing.
    pub partners_any: Option<Vec<PartnerId>>,
    pub side: Side,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_until: Option<DateTime<Utc>>,
}

/// A position in the list: referrals are listed newest first by `(received_at, id)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReferralKey {
    pub received_at: DateTime<Utc>,
    pub id: ReferralId,
}

/// Where a page starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum PageStart {
    /// The newest referrals.
    #[default]
    Newest,
    /// The referrals just older than this key (the next page).
    OlderThan(ReferralKey),
    /// The referrals just newer than this key (the previous page).
    NewerThan(ReferralKey),
}

/// One page of the referral list, newest first.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReferralPage {
    pub items: Vec<ReferralMeta>,
    /// Whether a referral matching the filter is older than the last item.
    pub has_older: bool,
    /// Whether a referral matching the filter is newer than the first item.
    pub has_newer: bool,
}

impl ReferralMeta {
    /// Its position in the referral list.
    pub fn key(&self) -> ReferralKey {
        ReferralKey {
            received_at: self.received_at,
            id: self.id,
        }
    }
}

/// One status change of a referral, without its reason text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TimelineStep {
    /// Its index in the history (0 is `received`).
    pub seq: u32,
    pub status: ReferralStatus,
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub reason_code: Option<String>,
}

/// An outbox row's state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
    Cancelled,
    Discarded,
}

impl OutboxState {
    pub const ALL: [OutboxState; 5] = [
        Self::Pending,
        Self::Delivered,
        Self::Dead,
        Self::Cancelled,
        Self::Discarded,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
            Self::Discarded => "discarded",
        }
    }
}

/// One outbox row of a referral, as operations see it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxRecord {
    pub id: i64,
    pub recipient: PartnerId,
    pub kind: OutboxKind,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure as the gateway wrote it: a status code and a short reason.
    pub last_error: Option<String>,
    pub failed_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An audit event about a referral, with only the facts the timeline shows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TimelineEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub partner: Option<PartnerId>,
    /// Of the event's detail, only the keys in [`TIMELINE_DETAIL_KEYS`].
    pub detail: BTreeMap<String, String>,
}

/// The detail keys of an audit event that the timeline shows: codes, ids, results and
/// operator names.
pub const TIMELINE_DETAIL_KEYS: [&str; 12] = [
    "outbox_id",
    "kind",
    "result",
    "http_status",
    "via",
    "op",
    "operator",
    "decision",
    "refusal_code",
    "reason_code",
    "from",
    "to",
];

/// Everything the dashboard shows about one referral.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferralTimeline {
    pub meta: ReferralMeta,
    /// The status history, oldest first.
    pub steps: Vec<TimelineStep>,
    /// Its outbox rows, oldest first.
    pub outbox: Vec<OutboxRecord>,
    /// Its audit events (delivery attempts, operators' actions, ...), oldest first, at most
    /// the number asked for.
    pub events: Vec<TimelineEvent>,
    /// Whether there were more events than that.
    pub events_truncated: bool,
}

/// The key a dashboard session is stored under: the SHA-256 of its id. The id itself (the
/// cookie's value) is never stored.
pub type SessionKey = [u8; 32];

/// A dashboard sign-in session as the store keeps it (see `dashboard/session.rs`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StaffSession {
    /// The staff account's name.
    pub staff: String,
    /// The account's role code at sign-in.
    pub role: String,
    /// The session's form token.
    pub csrf: String,
    pub started_at: DateTime<Utc>,
    /// When it was last marked seen.
    pub seen_at: DateTime<Utc>,
    /// When it ends unless it is used again before.
    pub expires_at: DateTime<Utc>,
}
