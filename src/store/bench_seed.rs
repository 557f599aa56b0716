//! What [`Store::seed_benchmark_referrals`](super::Store::seed_benchmark_referrals) writes:
//! finished referrals between the five demo partners, metadata only (empty payloads), spread
//! evenly over a past period, so that the load generator can measure the gateway and the
//! dashboard with a large store. Never used by the gateway itself.

/// The partners the seeded referrals are between (those of `config/partners/`).
pub const PARTNERS: [&str; 5] = [
    "woonstad-noord",
    "wijkteam-centrum",
    "huisarts-de-linde",
    "thuiszorg-oost",
    "werkplein",
];

/// One seeding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    /// How many referrals.
    pub count: u64,
    /// Over how many seconds before the hour before now they were received.
    pub span_secs: u64,
    /// Makes this seeding's ids and references unique (`SEED-<tag>-<n>`); 0 to 65,535.
    pub tag: u16,
}

impl SeedPlan {
    /// The status of referral `i` (SQL, on a column `i`): 1 in 20 each consent_missing,
    /// undeliverable, delivered, declined and cancelled, 2 in 20 each accepted and in
    /// progress, the rest completed. None is left pending: the delivery worker has nothing
    /// to do for them, and the retention job (a year by default) nothing to erase when the
    /// span is under a year.
    pub const STATUS_CASE: &'static str = "CASE i % 20 WHEN 0 THEN 'consent_missing' \
         WHEN 1 THEN 'undeliverable' WHEN 2 THEN 'delivered' WHEN 3 THEN 'accepted' \
         WHEN 4 THEN 'accepted' WHEN 5 THEN 'in_progress' WHEN 6 THEN 'in_progress' \
         WHEN 18 THEN 'declined' WHEN 19 THEN 'cancelled' ELSE 'completed' END";

    /// Referrals spread over the 180 days before now.
    pub fn new(count: u64, tag: u16) -> Self {
        Self {
            count,
            span_secs: 180 * 86_400,
            tag,
        }
    }
}
