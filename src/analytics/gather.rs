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
    /// Reads every aggregate of `window` from `store`, grouping partners by `sectors`.
    pub async fn fetch(
        store: &dyn Store,
        window: TimeWindow,
        sectors: &PartnerSectors,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            window,
            totals: store.period_totals(&window).await?,
            flows: store.sector_flows(&window, sectors).await?,
            durations: store.stage_durations(&window, sectors).await?,
            refusals: store.consent_refusals(&window, sectors).await?,
            deliveries: store.delivery_outcomes(&window, sectors).await?,
        })
    }
}
