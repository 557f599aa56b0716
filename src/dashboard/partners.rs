//! Deliveries per partner: one plain row per configured partner, and the table that shows
//! them. The rows are filled from the store's outbox figures and this instance's delivery
//! health ([`rows`]: success rate, latency percentiles, rate limiting, circuit state, from
//! [`crate::delivery::health::DeliveryHealth::snapshot`]).

use maud::{html, Markup};
use wijkbrug_adapters::model::Sector;

use super::layout::sector_label;
use crate::config::{Config, Delivery};
use crate::delivery::health::{CircuitState, PartnerHealth};
use crate::store::dashboard::PartnerDeliveries;

/// One partner's line in the overview.
#[derive(Clone, Debug, PartialEq)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub sector: Option<Sector>,
    /// `push` or `mailbox`.
    pub delivery: &'static str,
    /// Deliveries completed in the overview's period.
    pub delivered: u64,
    /// Waiting to be delivered.
    pub pending: u64,
    /// Waiting after a failed attempt.
    pub retrying: u64,
    /// Failed for good, waiting for an operator.
    pub dead: u64,
    /// Delivery health of push partners (this instance's recent attempts); `None` for a
    /// mailbox partner.
    pub live: Option<Live>,
}

/// A push partner's recent delivery health.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    /// Share of recent attempts delivered, 0–1; `None` before any attempt.
    pub success_rate: Option<f64>,
    /// Latency percentiles of recent attempts, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Times a delivery waited for a rate limit (own quota or the partner's 429).
    pub rate_limited: u64,
    pub circuit: CircuitState,
    /// The latest failure's kind (`timeout`, `http_5xx`, ...).
    pub last_error: Option<&'static str>,
}

impl From<&PartnerHealth> for Live {
    fn from(h: &PartnerHealth) -> Self {
        Self {
            success_rate: h.success_rate,
            p50_ms: h.latency_p50_ms,
            p95_ms: h.latency_p95_ms,
            p99_ms: h.latency_p99_ms,
            rate_limited: h.rate_limited,
            circuit: h.circuit,
            last_error: h.last_error.map(|e| e.as_str()),
        }
    }
}

/// How a partner's deliveries are doing, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    Retrying,
    Failing,
}

impl PartnerRow {
    pub fn health(&self) -> Health {
        let circuit = self.live.as_ref().map(|l| l.circuit);
        if self.dead > 0 || circuit == Some(CircuitState::Open) {
            Health::Failing
        } else if self.retrying > 0 || circuit == Some(CircuitState::HalfOpen) {
            Health::Retrying
        } else {
            Health::Ok
        }
    }
}

/// A row for every configured partner (in configuration order), then any recipient the
/// outbox names that is no longer configured; push partners with their delivery health.
pub fn rows(
    config: &Config,
    figures: &[PartnerDeliveries],
    health: &[PartnerHealth],
) -> Vec<PartnerRow> {
    let mut out: Vec<PartnerRow> = config
        .partners
        .list
        .iter()
        .map(|p| PartnerRow {
            id: p.id.to_string(),
            name: p.name.clone(),
            sector: Some(p.sector),
            delivery: match p.delivery {
                Delivery::Mailbox => "mailbox",
                _ => "push",
            },
            delivered: 0,
            pending: 0,
            retrying: 0,
            dead: 0,
            live: health
                .iter()
                .find(|h| h.partner == p.id.as_str())
                .map(Live::from),
        })
        .collect();
    for f in figures {
        let id = f.recipient.as_str();
        let row = match out.iter().position(|r| r.id == id) {
            Some(i) => &mut out[i],
            None => {
                out.push(PartnerRow {
                    id: id.to_owned(),
                    name: "(no longer configured)".to_owned(),
                    sector: None,
                    delivery: "—",
                    delivered: 0,
                    pending: 0,
                    retrying: 0,
                    dead: 0,
                    live: None,
                });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        row.delivered = f.delivered_since;
        row.pending = f.pending;
        row.retrying = f.retrying;
        row.dead = f.dead;
    }
    out
}

/// The per-partner table. `period` names the period of the delivered column ("24 h").
pub fn table(rows: &[PartnerRow], period: &str) -> Markup {
    html! {
        div.table-wrap {
            table.data #partners {
                caption.visually-hidden { "Deliveries per partner" }
                thead {
                    tr {
                        th scope="col" { "Partner" }
                        th scope="col" { "Health" }
                        th.num scope="col" { "Delivered (" (period) ")" }
                        th.num scope="col" { "Queued" }
                        th.num scope="col" { "Retrying" }
                        th.num scope="col" { "Dead letters" }
                        th.num scope="col" { "Success" }
                        th.num scope="col" { "Latency" br; span.th-note { "p50 · p95 · p99" } }
                        th.num scope="col" { "Rate-limited" }
                        th scope="col" { "Circuit" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr data-partner=(r.id) {
                            th scope="row" {
                                span.partner-name { (r.name) }
                                span.partner-id {
                                    (r.id) " · " (r.sector.map(sector_label).unwrap_or("—"))
                                    " · " span data-figure="delivery" { (r.delivery) }
                                }
                            }
                            td { (health_badge(r.health())) }
                            td.num data-figure="delivered" { (r.delivered) }
                            td.num data-figure="pending" { (r.pending) }
                            td.num data-figure="retrying" { (r.retrying) }
                            td.num data-figure="dead" {
                                @if r.dead > 0 {
                                    a href="/ops/dead-letters" { (r.dead) }
                                } @else {
                                    (r.dead)
                                }
                            }
                            @match &r.live {
                                Some(l) => {
                                    td.num data-figure="success" { (percent(l.success_rate)) }
                                    td.num.nowrap data-figure="latency" {
                                        (latencies(l.p50_ms, l.p95_ms, l.p99_ms))
                                    }
                                    td.num data-figure="rate-limited" { (l.rate_limited) }
                                    td data-figure="circuit" {
                                        (circuit_badge(l.circuit))
                                        @if let Some(e) = l.last_error {
                                            " " span.partner-id { "last: " (e) }
                                        }
                                    }
                                }
                                None => {
                                    td.num { "—" } td.num { "—" } td.num { "—" } td { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

/// Three latencies with one unit: `154 · 249 · 260 ms` (`—` for one not known).
fn latencies(p50: Option<f64>, p95: Option<f64>, p99: Option<f64>) -> String {
    if p50.is_none() && p95.is_none() && p99.is_none() {
        return "—".to_owned();
    }
    let one = |ms: Option<f64>| millis(ms).trim_end_matches(" ms").to_owned();
    format!("{} · {} · {} ms", one(p50), one(p95), one(p99))
}

fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

fn circuit_badge(c: CircuitState) -> Markup {
    let (tone, text) = match c {
        CircuitState::Closed => ("tone-done", "closed"),
        CircuitState::HalfOpen => ("tone-warn", "half open (probing)"),
        CircuitState::Open => ("tone-bad", "open"),
    };
    html! { span class={ "badge " (tone) } { (text) } }
}

fn health_badge(h: Health) -> Markup {
    let (tone, text) = match h {
        Health::Ok => ("tone-done", "OK"),
        Health::Retrying => ("tone-warn", "Retrying"),
        Health::Failing => ("tone-bad", "Dead letters"),
    };
    html! { span class={ "badge " (tone) } { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(dead: u64, retrying: u64) -> PartnerRow {
        PartnerRow {
            id: "p".into(),
            name: "P".into(),
            sector: Some(Sector::Care),
            delivery: "push",
            delivered: 3,
            pending: retrying,
            retrying,
            dead,
            live: None,
        }
    }

    #[test]
    fn health_follows_dead_letters_then_retries() {
        assert_eq!(row(0, 0).health(), Health::Ok);
        assert_eq!(row(0, 2).health(), Health::Retrying);
        assert_eq!(row(1, 2).health(), Health::Failing);
    }

    #[test]
    fn an_open_circuit_is_failing_and_shows_in_the_table() {
        let mut r = row(0, 0);
        r.live = Some(Live {
            success_rate: Some(0.5),
            p50_ms: Some(3.25),
            p95_ms: Some(40.0),
            p99_ms: None,
            rate_limited: 2,
            circuit: CircuitState::Open,
            last_error: Some("http_5xx"),
        });
        assert_eq!(r.health(), Health::Failing);
        let html = table(&[r], "24 h").into_string();
        assert!(html.contains("50%"), "{html}");
        assert!(html.contains("3.2 · 40 · — ms"), "{html}");
        assert!(html.contains(">open<"), "{html}");
        assert!(html.contains("last: http_5xx"), "{html}");
    }

    #[test]
    fn the_table_shows_each_row() {
        let html = table(&[row(1, 0)], "24 h").into_string();
        assert!(html.contains("data-partner=\"p\""));
        assert!(html.contains("Dead letters"));
        assert!(html.contains("Delivered (24 h)"));
    }
}
