//! Aggregate analytics over the referrals received in a period: flows between sectors, the
//! time to acceptance and to completion per receiving sector, consent refusals and delivery
//! outcomes per partner. Counts only: residents are counted distinct inside the store and
//! never named.
//!
//! - [`aggregates`]: the types the store's analytics methods answer ([`crate::store::Store`]'s
//!   `sector_flows`, `stage_durations`, `consent_refusals`, `delivery_outcomes`,
//!   `period_totals`); [`gather::PeriodAggregates`] fetches them all.
//! - [`svg`]: the charts as inline SVG, pure functions: [`sankey_svg`] and
//!   [`time_distribution_svg`].
//! - [`suppression`]: the small-cell rule (fewer than five residents, complementary cells).
//! - [`distribution`]: medians and percentiles.
//! - [`report`]: `wijkbrug report`: the learning report as HTML and CSV.
//! - [`period`]: the report's `--from`/`--to` days.

pub mod aggregates;
pub mod distribution;
pub mod gather;
pub mod period;
pub mod report;
pub mod suppression;
pub mod svg;

pub use aggregates::{
    ConsentRefusals, PartnerDeliveries, PartnerSectors, PeriodTotals, SectorFlow, SectorKey, Stage,
    StageDurations, TimeWindow,
};
pub use gather::PeriodAggregates;
pub use svg::sankey::{sankey_links, sankey_svg, SankeyLink};
pub use svg::times::{time_distribution_svg, time_rows, TimeRow};
pub use svg::ChartOptions;
