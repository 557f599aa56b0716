//! The flow pictures: referrals between sectors (a Sankey diagram) and the time from referral
//! to acceptance and to completion per receiving sector (box plots), for a chosen period,
//! drawn by the server as inline SVG (`crate::analytics::svg`). Counts of referrals only: no
//! resident is named or countable from them beyond what the referral list already shows.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::layout;
use super::session::Session;
use super::DashState;
use crate::access::Permission;
use crate::analytics::aggregates::PartnerSectors;
use crate::analytics::gather::PeriodAggregates;
use crate::analytics::period::ReportPeriod;
use crate::analytics::svg::{sankey, times, ChartOptions};

/// The default period: this many days up to and including today.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct FlowsQuery {
    /// First day (YYYY-MM-DD, UTC).
    pub from: Option<String>,
    /// Last day included (YYYY-MM-DD, UTC).
    pub until: Option<String>,
}

/// The period asked for: `from` to `until` both included; by default the last 30 days.
fn period(q: &FlowsQuery, today: NaiveDate) -> Result<ReportPeriod, String> {
    let from = q
        .from
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| (today - Duration::days(DEFAULT_DAYS - 1)).to_string());
    let until = q
        .until
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| today.to_string());
    let until = NaiveDate::parse_from_str(until.trim(), "%Y-%m-%d")
        .map_err(|_| "until must be a date written YYYY-MM-DD".to_owned())?;
    let to = until
        .succ_opt()
        .ok_or_else(|| "until is out of range".to_owned())?;
    ReportPeriod::parse(&from, &to.to_string()).map_err(|e| {
        e.to_string()
            .replace("--to is the first day not included", "both days included")
            .replace("--to", "until")
            .replace("--", "")
    })
}

pub async fn page(
    State(dash): State<DashState>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<FlowsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ViewOperations)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let today = crate::store::now().date_naive();
    let period = match period(&q, today) {
        Ok(p) => p,
        Err(rule) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                flows_page(
                    &session,
                    &q,
                    html! {
                        div.alert.alert-bad role="alert" {
                            p { strong { "This period cannot be shown: " } (rule) "." }
                        }
                    },
                ),
            )
                .into_response()
        }
    };
    let sectors = PartnerSectors::new(
        dash.app
            .config
            .partners
            .list
            .iter()
            .map(|p| (p.id.clone(), p.sector)),
    );
    let aggregates =
        match PeriodAggregates::fetch(dash.app.store.as_ref(), period.window(), &sectors).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "store failed reading the flows");
                return super::unavailable(Some(&session));
            }
        };
    let sankey_svg = sankey::sankey_svg(
        &sankey::sankey_links(&aggregates.flows),
        &ChartOptions::new(
            "flows",
            &format!("Referrals between sectors, {}", period.label()),
        ),
    );
    let times_svg = times::time_distribution_svg(
        &times::time_rows(&aggregates.durations),
        &ChartOptions::new(
            "times",
            &format!(
                "Time from referral to acceptance and to completion, {}",
                period.label()
            ),
        ),
    );
    flows_page(
        &session,
        &FlowsQuery {
            from: Some(period.from.to_string()),
            until: Some(period.last_day().to_string()),
        },
        html! {
            p.muted {
                (aggregates.totals.referrals) " referrals received in this period. Band widths are
                proportional to referrals; the box plots show the median, the middle half and the
                90th percentile per receiving sector."
            }
            figure.chart.panel { (PreEscaped(sankey_svg)) }
            figure.chart.panel { (PreEscaped(times_svg)) }
        },
    )
    .into_response()
}

fn flows_page(session: &Session, q: &FlowsQuery, body: Markup) -> Markup {
    layout::page(
        "Flows",
        Some(session),
        Some("/ops/flows"),
        html! {
            div.page-head { h1 { "Flows between sectors" } }
            section.panel {
                form.filters.period method="get" action="/ops/flows" aria-label="Choose the period" {
                    div.field {
                        label for="f-from" { "From (UTC)" }
                        input #f-from type="date" name="from" value=[q.from.as_deref()];
                    }
                    div.field {
                        label for="f-until" { "Until, included (UTC)" }
                        input #f-until type="date" name="until" value=[q.until.as_deref()];
                    }
                    div.field.actions {
                        button.button.primary type="submit" { "Show" }
                    }
                }
            }
            (body)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, until: Option<&str>) -> FlowsQuery {
        FlowsQuery {
            from: from.map(str::to_owned),
            until: until.map(str::to_owned),
        }
    }

    #[test]
    fn the_period_defaults_to_the_last_thirty_days_and_includes_both_ends() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let p = period(&q(None, None), today).unwrap();
        assert_eq!(p.from.to_string(), "2026-10-24");
        assert_eq!(p.last_day(), today);
        let p = period(&q(Some("2026-11-01"), Some("2026-11-01")), today).unwrap();
        assert_eq!(p.label(), "2026-11-01");
    }

    #[test]
    fn a_bad_period_names_the_field_and_the_rule() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let e = period(&q(Some("yesterday"), None), today).unwrap_err();
        assert!(e.contains("from must be a date"), "{e}");
        let e = period(&q(None, Some("2026-13-01")), today).unwrap_err();
        assert!(e.contains("until must be a date"), "{e}");
        let e = period(&q(Some("2026-11-10"), Some("2026-11-01")), today).unwrap_err();
        assert!(e.contains("before"), "{e}");
    }
}
