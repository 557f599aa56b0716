//! Deliveries per partner: one plain row per configured partner, and the table that shows
//! them. The rows are filled from the store's outbox figures ([`rows`]); more columns (success
//! rate, latency, rate limiting, circuit state) are added by adding fields to [`PartnerRow`]
//! and cells to [`table`].

use maud::{html, Markup};
use wijkbrug_adapters::model::Sector;

use super::layout::sector_label;
use crate::config::{Config, Delivery};
use crate::store::dashboard::PartnerDeliveries;

/// One partner's line in the overview.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        if self.dead > 0 {
            Health::Failing
        } else if self.retrying > 0 {
            Health::Retrying
        } else {
            Health::Ok
        }
    }
}

/// A row for every configured partner (in configuration order), then any recipient the
/// outbox names that is no longer configured.
pub fn rows(config: &Config, figures: &[PartnerDeliveries]) -> Vec<PartnerRow> {
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
                        th scope="col" { "Sector" }
                        th scope="col" { "Receives by" }
                        th scope="col" { "Health" }
                        th.num scope="col" { "Delivered (" (period) ")" }
                        th.num scope="col" { "Queued" }
                        th.num scope="col" { "Retrying" }
                        th.num scope="col" { "Dead letters" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr data-partner=(r.id) {
                            th scope="row" {
                                span.partner-name { (r.name) }
                                span.partner-id { (r.id) }
                            }
                            td { (r.sector.map(sector_label).unwrap_or("—")) }
                            td { (r.delivery) }
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
                        }
                    }
                }
            }
        }
    }
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
        }
    }

    #[test]
    fn health_follows_dead_letters_then_retries() {
        assert_eq!(row(0, 0).health(), Health::Ok);
        assert_eq!(row(0, 2).health(), Health::Retrying);
        assert_eq!(row(1, 2).health(), Health::Failing);
    }

    #[test]
    fn the_table_shows_each_row() {
        let html = table(&[row(1, 0)], "24 h").into_string();
        assert!(html.contains("data-partner=\"p\""));
        assert!(html.contains("Dead letters"));
        assert!(html.contains("Delivered (24 h)"));
    }
}
