//! Everything the store counts about one window, fetched together.

use super::aggregates::{
    ConsentRefusals, PartnerDeliveries, PartnerSectors, PeriodTotals, SectorFlow, StageDurations,
    TimeWindow,
};
use crate::store::{Store, StoreError};

/// The aggregates of one window, straight from the store (nothing suppressed yet).
#[derive(Clone, PartialEq, Debug)]
pub struct PeriodAggregates {
    pub window: TimeWindow,
    pub totals: PeriodTotals,
    pub flows: Vec<SectorFlow>,
    pub durations: Vec<StageDurations>,
    pub refusals: Vec<ConsentRefusals>,
    pub deliveries: Vec<PartnerDeliveries>,
}

impl PeriodAggregates {
    /// Reads every aggregate of `window` from `store` ([`Store::period_aggregates`]: one
    /// snapshot), grouping partners by `sectors`.
    pub async fn fetch(
        store: &dyn Store,
        window: TimeWindow,
        sectors: &PartnerSectors,
    ) -> Result<Self, StoreError> {
        store.period_aggregates(&window, sectors).await
    }
}
