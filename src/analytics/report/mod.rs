//! The learning report (`wijkbrug report --from DATE --to DATE`): the numbers a neighbourhood
//! programme reviews each quarter, as one self-contained HTML page and a CSV file per table.
//! Aggregated only, small cells withheld ([`crate::analytics::suppression`]).

pub mod csv;
pub mod html;
pub mod tables;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::aggregates::{PartnerSectors, Stage};
use super::distribution::Summary;
use super::gather::PeriodAggregates;
use super::period::ReportPeriod;
use super::svg::sankey::{sankey_svg, SankeyLink};
use super::svg::times::{time_distribution_svg, TimeRow};
use super::svg::ChartOptions;
use crate::store::{Store, StoreError};
use tables::Tables;

/// The name of the report's HTML file.
pub const HTML_FILE: &str = "report.html";

/// A report, ready to write.
#[derive(Clone, PartialEq, Debug)]
pub struct Report {
    pub period: ReportPeriod,
    pub generated_at: DateTime<Utc>,
    pub tables: Tables,
    /// The flow diagram (SVG) of the flows shown.
    pub flow_chart: String,
    /// The times chart (SVG) of the sectors shown.
    pub time_chart: String,
}

/// Why a report could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn withheld_note(n: usize, what: &str) -> Option<String> {
    (n > 0).then(|| {
        format!(
            "{n} {what} withheld (fewer than five residents, or withheld with one) and not drawn"
        )
    })
}

impl Report {
    /// Reads the period's aggregates from `store` and builds the report.
    pub async fn gather(
        store: &dyn Store,
        period: ReportPeriod,
        sectors: &PartnerSectors,
        generated_at: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let aggregates = PeriodAggregates::fetch(store, period.window(), sectors).await?;
        Ok(Self::build(period, &aggregates, generated_at))
    }

    /// The report of `aggregates` (pure).
    pub fn build(
        period: ReportPeriod,
        aggregates: &PeriodAggregates,
        generated_at: DateTime<Utc>,
    ) -> Self {
        let tables = Tables::build(aggregates);
        let links: Vec<SankeyLink> = tables
            .flows
            .rows
            .iter()
            .filter_map(|r| {
                Some(SankeyLink {
                    from: r.from.code().to_owned(),
                    to: r.to.code().to_owned(),
                    referrals: r.referrals.count()?,
                    residents: r.residents.count(),
                })
            })
            .collect();
        let mut flow_options = ChartOptions::new(
            "report-flows",
            &format!("Referrals between sectors, {}", period.label()),
        );
        flow_options.note = withheld_note(tables.flows.withheld, "flow(s)");
        let flow_chart = sankey_svg(&links, &flow_options);

        let mut rows: Vec<TimeRow> = Vec::new();
        let mut withheld = 0;
        for st in &tables.times {
            withheld += st.table.withheld;
            for line in &st.table.rows {
                let label = line.sector.code();
                let summary: Option<Summary> = line.summary;
                let row = match rows.iter_mut().find(|r| r.label == label) {
                    Some(r) => r,
                    None => {
                        rows.push(TimeRow {
                            label: label.to_owned(),
                            acceptance: None,
                            completion: None,
                        });
                        let last = rows.len() - 1;
                        &mut rows[last]
                    }
                };
                match st.stage {
                    Stage::Acceptance => row.acceptance = summary,
                    Stage::Completion => row.completion = summary,
                }
            }
        }
        let mut time_options = ChartOptions::new(
            "report-times",
            &format!(
                "Time from referral to acceptance and completion, {}",
                period.label()
            ),
        );
        time_options.note = withheld_note(withheld, "sector time(s)");
        let time_chart = time_distribution_svg(&rows, &time_options);
        Self {
            period,
            generated_at,
            tables,
            flow_chart,
            time_chart,
        }
    }

    /// The HTML page.
    pub fn html(&self) -> String {
        html::page(self)
    }

    /// The CSV files: name and contents.
    pub fn csv_files(&self) -> Vec<(&'static str, String)> {
        csv::files(&self.tables)
    }

    /// Writes `report.html` and the CSV files into `dir` (created if missing); the paths
    /// written.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut files = vec![(HTML_FILE, self.html())];
        files.extend(self.csv_files());
        let mut written = Vec::with_capacity(files.len());
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::write(&path, contents).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::aggregates::{PeriodTotals, SectorFlow, SectorKey};
    use crate::analytics::svg::check::parse;
    use wijkbrug_adapters::model::Sector;

    fn period() -> ReportPeriod {
        ReportPeriod::parse("2026-01-01", "2026-04-01").unwrap()
    }

    fn empty() -> PeriodAggregates {
        PeriodAggregates {
            window: period().window(),
            totals: PeriodTotals::default(),
            flows: vec![],
            durations: vec![],
            refusals: vec![],
            deliveries: vec![],
        }
    }

    #[test]
    fn an_empty_period_still_makes_a_whole_report() {
        let r = Report::build(period(), &empty(), Utc::now());
        let html = r.html();
        assert!(html.contains("No referrals in this period"));
        for svg in [&r.flow_chart, &r.time_chart] {
            parse(svg);
        }
        for (name, csv) in r.csv_files() {
            let lines: Vec<&str> = csv.lines().collect();
            assert_eq!(
                lines.len(),
                if name == "times.csv" { 3 } else { 2 },
                "{name}"
            );
            assert!(lines.last().unwrap().contains("total"));
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        // The only address is the SVG namespace, an identifier, not a resource.
        assert_eq!(
            html.matches("http").count(),
            html.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!html.contains("https://"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn withheld_flows_are_not_drawn() {
        let mut a = empty();
        a.totals = PeriodTotals {
            referrals: 30,
            residents: 25,
            routed: 30,
            routed_residents: 25,
            ..Default::default()
        };
        let k = SectorKey::Known;
        a.flows = vec![
            SectorFlow {
                from: k(Sector::Housing),
                to: k(Sector::Welfare),
                referrals: 20,
                residents: 16,
            },
            SectorFlow {
                from: k(Sector::Care),
                to: k(Sector::Welfare),
                referrals: 2,
                residents: 2,
            },
            SectorFlow {
                from: k(Sector::Employment),
                to: k(Sector::Welfare),
                referrals: 8,
                residents: 7,
            },
        ];
        let r = Report::build(period(), &a, Utc::now());
        let elements = parse(&r.flow_chart);
        let bands: Vec<_> = elements
            .iter()
            .filter(|e| e.attr("class") == Some("wb-link"))
            .collect();
        assert_eq!(bands.len(), 1);
        assert_eq!(bands[0].attr("data-referrals"), Some("20"));
        assert!(elements
            .iter()
            .any(|e| e.text.starts_with("2 flow(s) withheld")));
        let flows = &r.csv_files()[0].1;
        assert_eq!(
            flows,
            "from_sector,to_sector,referrals,residents\n\
             housing,welfare,20,16\n\
             care,welfare,<5,<5\n\
             employment,welfare,<5,<5\n\
             total,total,30,25\n"
        );
        assert!(r.html().contains("complementary suppression"));
    }
}
