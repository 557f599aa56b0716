//! The report's tables: the aggregates with the small-cell rule applied, one table at a time
//! (see [`crate::analytics::suppression`]). What is withheld here is withheld everywhere in
//! the report: the charts are drawn from these tables' shown rows only.

use crate::analytics::aggregates::{
    ConsentRefusals, PartnerDeliveries, PeriodTotals, SectorFlow, SectorKey, Stage, StageDurations,
};
use crate::analytics::distribution::Summary;
use crate::analytics::gather::PeriodAggregates;
use crate::analytics::suppression::{suppress, Published, RowCounts, MIN_RESIDENTS};
use wijkbrug_adapters::model::PartnerId;

/// A table's rows and its total, after the rule.
#[derive(Clone, PartialEq, Debug)]
pub struct Table<R> {
    pub rows: Vec<R>,
    pub total_referrals: Published,
    pub total_residents: Published,
    /// How many rows are withheld.
    pub withheld: usize,
}

/// One flow between sectors.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FlowLine {
    pub from: SectorKey,
    pub to: SectorKey,
    pub referrals: Published,
    pub residents: Published,
}

/// One receiving sector's times to a stage.
#[derive(Clone, PartialEq, Debug)]
pub struct TimeLine {
    pub sector: SectorKey,
    pub referrals: Published,
    pub residents: Published,
    /// `None` when the row is withheld.
    pub summary: Option<Summary>,
}

/// One stage's table: a line per receiving sector, and the times over all sectors.
#[derive(Clone, PartialEq, Debug)]
pub struct StageTable {
    pub stage: Stage,
    pub table: Table<TimeLine>,
    /// Over every sector (withheld rows included); `None` when the total is withheld.
    pub overall: Option<Summary>,
}

/// One sender's consent refusals.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RefusalLine {
    pub sender: PartnerId,
    pub sector: SectorKey,
    pub referrals: Published,
    pub residents: Published,
}

/// The report's numbers, every small cell withheld.
#[derive(Clone, PartialEq, Debug)]
pub struct Tables {
    /// Referrals received in the period, and their distinct residents (withheld under five).
    pub received: Published,
    pub residents: Published,
    pub flows: Table<FlowLine>,
    pub times: Vec<StageTable>,
    pub refusals: Table<RefusalLine>,
    /// Deliveries per partner: counts of deliveries, not of residents, so not suppressed.
    pub deliveries: Vec<PartnerDeliveries>,
    pub deliveries_total: PartnerTotals,
}

/// The deliveries' totals over all partners.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PartnerTotals {
    pub deliveries: u64,
    pub delivered: u64,
    pub with_failures: u64,
    pub dead_letters: u64,
    pub dead_now: u64,
    pub pending: u64,
}

/// Applies the rule to rows given as (residents, referrals), with the table's distinct
/// residents and its referrals in total; the rows' published counts and the table's totals.
fn apply(
    counts: &[RowCounts],
    total_referrals: u64,
    total_residents: u64,
) -> (Vec<(Published, Published)>, Published, Published, usize) {
    let verdict = suppress(counts, total_residents);
    let rows = counts
        .iter()
        .zip(&verdict.hidden)
        .map(|(c, h)| {
            (
                Published::new(c.referrals, *h),
                Published::new(c.residents, *h),
            )
        })
        .collect();
    let hide_total = !verdict.total_shown;
    (
        rows,
        Published::new(total_referrals, hide_total),
        Published::new(total_residents, hide_total),
        verdict.hidden_count(),
    )
}

fn flows(flows: &[SectorFlow], totals: &PeriodTotals) -> Table<FlowLine> {
    let counts: Vec<RowCounts> = flows
        .iter()
        .map(|f| RowCounts {
            residents: f.residents,
            referrals: f.referrals,
        })
        .collect();
    let (published, total_referrals, total_residents, withheld) =
        apply(&counts, totals.routed, totals.routed_residents);
    Table {
        rows: flows
            .iter()
            .zip(published)
            .map(|(f, (referrals, residents))| FlowLine {
                from: f.from,
                to: f.to,
                referrals,
                residents,
            })
            .collect(),
        total_referrals,
        total_residents,
        withheld,
    }
}

fn stage(stage: Stage, durations: &[StageDurations], totals: &PeriodTotals) -> StageTable {
    let of_stage: Vec<&StageDurations> = durations.iter().filter(|d| d.stage == stage).collect();
    let counts: Vec<RowCounts> = of_stage
        .iter()
        .map(|d| RowCounts {
            residents: d.residents,
            referrals: d.referrals(),
        })
        .collect();
    let (referrals, residents) = totals.reached(stage);
    let (published, total_referrals, total_residents, withheld) =
        apply(&counts, referrals, residents);
    let all: Vec<f64> = of_stage
        .iter()
        .flat_map(|d| d.seconds.iter().copied())
        .collect();
    StageTable {
        stage,
        overall: total_referrals.count().and_then(|_| Summary::of(&all)),
        table: Table {
            rows: of_stage
                .iter()
                .zip(published)
                .map(|(d, (referrals, residents))| TimeLine {
                    sector: d.sector,
                    summary: referrals.count().and_then(|_| Summary::of(&d.seconds)),
                    referrals,
                    residents,
                })
                .collect(),
            total_referrals,
            total_residents,
            withheld,
        },
    }
}

fn refusals(refusals: &[ConsentRefusals], totals: &PeriodTotals) -> Table<RefusalLine> {
    let counts: Vec<RowCounts> = refusals
        .iter()
        .map(|r| RowCounts {
            residents: r.residents,
            referrals: r.referrals,
        })
        .collect();
    let (published, total_referrals, total_residents, withheld) =
        apply(&counts, totals.consent_refused, totals.refused_residents);
    Table {
        rows: refusals
            .iter()
            .zip(published)
            .map(|(r, (referrals, residents))| RefusalLine {
                sender: r.sender.clone(),
                sector: r.sector,
                referrals,
                residents,
            })
            .collect(),
        total_referrals,
        total_residents,
        withheld,
    }
}

impl Tables {
    /// The report's tables of `aggregates`.
    pub fn build(aggregates: &PeriodAggregates) -> Self {
        let totals = &aggregates.totals;
        let few = totals.residents < MIN_RESIDENTS;
        let deliveries_total =
            aggregates
                .deliveries
                .iter()
                .fold(PartnerTotals::default(), |t, d| PartnerTotals {
                    deliveries: t.deliveries + d.deliveries,
                    delivered: t.delivered + d.delivered,
                    with_failures: t.with_failures + d.with_failures,
                    dead_letters: t.dead_letters + d.dead_letters,
                    dead_now: t.dead_now + d.dead_now,
                    pending: t.pending + d.pending,
                });
        Self {
            received: Published::new(totals.referrals, few),
            residents: Published::new(totals.residents, few),
            flows: flows(&aggregates.flows, totals),
            times: Stage::ALL
                .into_iter()
                .map(|s| stage(s, &aggregates.durations, totals))
                .collect(),
            refusals: refusals(&aggregates.refusals, totals),
            deliveries: aggregates.deliveries.clone(),
            deliveries_total,
        }
    }

    /// Whether the period has no referral at all.
    pub fn is_empty(&self) -> bool {
        self.received == Published::Count(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::aggregates::TimeWindow;
    use chrono::{TimeZone, Utc};
    use wijkbrug_adapters::model::Sector;

    const HOUSING: SectorKey = SectorKey::Known(Sector::Housing);
    const WELFARE: SectorKey = SectorKey::Known(Sector::Welfare);
    const CARE: SectorKey = SectorKey::Known(Sector::Care);

    fn flow(from: SectorKey, to: SectorKey, referrals: u64, residents: u64) -> SectorFlow {
        SectorFlow {
            from,
            to,
            referrals,
            residents,
        }
    }

    fn times(sector: SectorKey, stage: Stage, hours: &[f64], residents: u64) -> StageDurations {
        StageDurations {
            sector,
            stage,
            residents,
            seconds: hours.iter().map(|h| h * 3600.0).collect(),
        }
    }

    fn aggregates() -> PeriodAggregates {
        PeriodAggregates {
            window: TimeWindow::new(
                Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
            )
            .unwrap(),
            totals: PeriodTotals {
                referrals: 40,
                residents: 30,
                routed: 33,
                routed_residents: 27,
                consent_refused: 7,
                refused_residents: 6,
                accepted: 14,
                accepted_residents: 13,
                completed: 3,
                completed_residents: 3,
            },
            flows: vec![
                flow(HOUSING, WELFARE, 20, 16),
                flow(HOUSING, CARE, 3, 3),
                flow(WELFARE, CARE, 10, 8),
            ],
            durations: vec![
                times(
                    WELFARE,
                    Stage::Acceptance,
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                    6,
                ),
                times(CARE, Stage::Acceptance, &[10.0; 8], 7),
                times(CARE, Stage::Completion, &[100.0, 200.0, 300.0], 3),
            ],
            refusals: vec![
                ConsentRefusals {
                    sender: PartnerId::parse("werkplein").unwrap(),
                    sector: SectorKey::Known(Sector::Employment),
                    referrals: 2,
                    residents: 1,
                },
                ConsentRefusals {
                    sender: PartnerId::parse("woonstad-noord").unwrap(),
                    sector: HOUSING,
                    referrals: 5,
                    residents: 5,
                },
            ],
            deliveries: vec![PartnerDeliveries {
                partner: PartnerId::parse("wijkteam-centrum").unwrap(),
                sector: WELFARE,
                deliveries: 22,
                delivered: 19,
                with_failures: 3,
                dead_letters: 1,
                dead_now: 1,
                pending: 2,
            }],
        }
    }

    #[test]
    fn the_small_flow_and_its_complement_are_withheld_and_the_total_stays() {
        let t = Tables::build(&aggregates());
        let shown: Vec<_> = t
            .flows
            .rows
            .iter()
            .map(|r| (r.from, r.to, r.referrals, r.residents))
            .collect();
        // housing → care has 3 residents; welfare → care (10) is the smallest other row.
        assert_eq!(
            shown,
            vec![
                (HOUSING, WELFARE, Published::Count(20), Published::Count(16)),
                (HOUSING, CARE, Published::Withheld, Published::Withheld),
                (WELFARE, CARE, Published::Withheld, Published::Withheld),
            ]
        );
        assert_eq!(t.flows.total_referrals, Published::Count(33));
        assert_eq!(t.flows.total_residents, Published::Count(27));
        assert_eq!(t.flows.withheld, 2);
        // Total minus the shown rows is 13 for two rows: either may hold 1 to 12.
        assert_eq!(t.received, Published::Count(40));
    }

    #[test]
    fn times_keep_their_arithmetic_and_withhold_small_sectors() {
        let t = Tables::build(&aggregates());
        let acceptance = &t.times[0];
        assert_eq!(acceptance.stage, Stage::Acceptance);
        let welfare = &acceptance.table.rows[0];
        assert_eq!(welfare.referrals, Published::Count(6));
        let s = welfare.summary.unwrap();
        assert_eq!(s.median, 3.5 * 3600.0);
        assert_eq!(acceptance.table.rows[1].summary.unwrap().median, 36_000.0);
        // Overall: 6 + 8 times, the total is the store's.
        assert_eq!(acceptance.table.total_referrals, Published::Count(14));
        assert_eq!(acceptance.overall.unwrap().n, 14);
        // Completion: one sector of 3 residents, nothing to protect it with: all withheld.
        let completion = &t.times[1];
        assert_eq!(completion.table.rows[0].referrals, Published::Withheld);
        assert_eq!(completion.table.rows[0].summary, None);
        assert_eq!(completion.table.total_referrals, Published::Withheld);
        assert_eq!(completion.overall, None);
    }

    #[test]
    fn refusals_and_deliveries() {
        let t = Tables::build(&aggregates());
        // werkplein (1 resident) and woonstad-noord with it; the total, 7 referrals for two
        // rows, is shown.
        assert_eq!(t.refusals.withheld, 2);
        assert_eq!(t.refusals.total_referrals, Published::Count(7));
        assert_eq!(t.deliveries_total.deliveries, 22);
        assert_eq!(t.deliveries_total.dead_now, 1);
    }

    #[test]
    fn a_period_of_three_residents_shows_no_number_of_them() {
        let mut a = aggregates();
        a.totals = PeriodTotals {
            referrals: 3,
            residents: 3,
            routed: 3,
            routed_residents: 3,
            ..Default::default()
        };
        a.flows = vec![flow(HOUSING, WELFARE, 2, 2), flow(HOUSING, CARE, 1, 1)];
        a.durations.clear();
        a.refusals.clear();
        let t = Tables::build(&a);
        assert_eq!(t.received, Published::Withheld);
        assert_eq!(t.residents, Published::Withheld);
        assert!(t
            .flows
            .rows
            .iter()
            .all(|r| r.referrals == Published::Withheld));
        assert_eq!(t.flows.total_referrals, Published::Withheld);
        assert!(!t.is_empty());
    }
}
