//! `/ops/`: the overview, and `/ops/live`, the same figures as an HTML fragment that the
//! page's script fetches every few seconds.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use wijkbrug_adapters::model::ReferralStatus;

use super::layout::{self, duration_words, status_label, status_tone, when};
use super::partners;
use super::ChainShown;
use super::DashState;
use crate::access::Permission;
use crate::config::AuditSettings;
use crate::store::dashboard::OpsOverview;
use crate::store::InstanceSeen;

/// The period of the "since" figures.
const PERIOD_HOURS: i64 = 24;
/// How often the page's script fetches the figures again, in seconds.
pub const REFRESH_SECS: u32 = 5;
/// Instances whose last heartbeat is at most this old are listed (those older than
/// [`crate::instances::LIVE_WITHIN`] as not alive: killed, or cut off from the store). A
/// cleanly stopped instance removes its registration and is not listed.
const INSTANCES_SHOWN_WITHIN: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the overview shows, read at `now`.
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub figures: OpsOverview,
    /// The gateway instances on this store (one with SQLite), most recently started first.
    pub instances: Vec<InstanceSeen>,
    pub chain: ChainShown,
}

async fn snapshot(dash: &DashState) -> Result<Snapshot, crate::store::StoreError> {
    let now = crate::app::now();
    let figures = dash
        .app
        .store
        .ops_overview(now - Duration::hours(PERIOD_HOURS), now)
        .await?;
    let instances = dash.app.store.instances(INSTANCES_SHOWN_WITHIN).await?;
    Ok(Snapshot {
        now,
        figures,
        instances,
        chain: dash.chain_shown(),
    })
}

fn in_flight(f: &OpsOverview) -> u64 {
    f.by_status
        .iter()
        .filter(|(s, _)| {
            matches!(
                s,
                ReferralStatus::Received | ReferralStatus::Routed | ReferralStatus::Delivered
            )
        })
        .map(|(_, n)| n)
        .sum()
}

fn card(id: &str, label: &str, value: Markup, note: Markup, tone: &str) -> Markup {
    html! {
        div class={ "card " (tone) } data-card=(id) {
            p.card-label { (label) }
            p.card-value { (value) }
            p.card-note { (note) }
        }
    }
}

/// The figures (the part the script replaces).
pub fn figures(dash: &DashState, s: &Snapshot) -> Markup {
    let f = &s.figures;
    let total: u64 = f.by_status.iter().map(|(_, n)| n).sum();
    let max = f
        .by_status
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(1);
    let oldest = f.oldest_due.map(|t| (s.now - t).num_seconds());
    let period = format!("{PERIOD_HOURS} h");
    let health = dash.app.delivery_health.snapshot(std::time::Instant::now());
    let rows = partners::rows(&dash.app.config, &f.partners, &health);
    html! {
        div.cards {
            (card("in-flight", "In flight", html! { (thousands(in_flight(f))) },
                html! { "referrals received, routed or delivered, not yet taken up" }, ""))
            (card("queued", "Deliveries queued", html! { (thousands(f.deliveries_pending)) },
                html! {
                    @if f.deliveries_retrying > 0 {
                        strong { (thousands(f.deliveries_retrying)) } " waiting to retry after a failure"
                    } @else { "none failing" }
                },
                if f.deliveries_retrying > 0 { "tone-warn" } else { "" }))
            (card("dead-letters", "Dead letters", html! {
                    a href="/ops/dead-letters" { (thousands(f.dead_letters)) }
                },
                html! { @if f.dead_letters > 0 { "need an operator" } @else { "nothing to do" } },
                if f.dead_letters > 0 { "tone-bad" } else { "" }))
            (card("oldest-due", "Oldest due delivery", html! {
                    @match oldest { Some(secs) => (duration_words(secs)), None => "—" }
                },
                html! { @if oldest.is_some() { "waiting since it was due" } @else { "nothing waiting" } },
                if oldest.is_some_and(|s| s > OLDEST_DUE_WARN_SECS) { "tone-warn" } else { "" }))
            (card("received", "Received", html! { (thousands(f.received_since)) },
                html! { "referrals in the last " (period) }, ""))
            (card("consent-refusals", "Consent refusals", html! { (thousands(f.consent_refusals_since)) },
                html! { "of those, stopped for lack of consent" },
                if f.consent_refusals_since > 0 { "tone-warn" } else { "" }))
        }
        div.columns {
            section.panel aria-labelledby="by-status-title" {
                h2 #by-status-title { "Referrals by status" }
                p.panel-note { (thousands(total)) " referrals in the store" }
                table.data.bars #by-status {
                    caption.visually-hidden { "Referrals by current status" }
                    thead { tr { th scope="col" { "Status" } th.num scope="col" { "Referrals" } th scope="col" { span.visually-hidden { "Share" } } } }
                    tbody {
                        @for (status, n) in &f.by_status {
                            tr data-status=(status.code()) {
                                th scope="row" {
                                    a href={ "/ops/referrals?status=" (status.code()) } {
                                        span class={ "dot " (status_tone(*status)) } aria-hidden="true" {}
                                        (status_label(*status))
                                    }
                                }
                                td.num { (thousands(*n)) }
                                td.bar-cell {
                                    svg class={ "bar " (status_tone(*status)) } viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
                                        rect.track x="0" y="0" width="100" height="10" rx="2" {}
                                        rect.fill x="0" y="0" width=(format!("{:.1}", (*n as f64) * 100.0 / (max as f64))) height="10" rx="2" {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.stack {
                section.panel aria-labelledby="attention-title" {
                    h2 #attention-title { "Needs attention" }
                    (attention(&rows, oldest, &s.chain))
                }
                section.panel aria-labelledby="chain-title" {
                    h2 #chain-title { "Audit chain" }
                    (chain(&s.chain, &dash.app.config.settings.audit))
                }
            }
        }
        section.panel aria-labelledby="instances-title" {
            h2 #instances-title { "Gateway instances" }
            p.panel-note {
                "The gateways on this store, by their heartbeat; alive when it was seen in the last "
                (crate::instances::LIVE_WITHIN.as_secs()) " s."
            }
            (instances(&s.instances, s.now))
        }
        section.panel aria-labelledby="partners-title" {
            h2 #partners-title { "Deliveries per partner" }
            p.panel-note { "Delivered in the last " (period) "; queued, retrying and dead letters now." }
            (partners::table(&rows, &period))
        }
        p.updated {
            "Figures of " (when(s.now)) " UTC."
        }
    }
}

/// The instances table.
fn instances(list: &[InstanceSeen], now: DateTime<Utc>) -> Markup {
    html! {
        table.data #instances {
            caption.visually-hidden { "Gateway instances" }
            thead { tr {
                th scope="col" { "Instance" } th scope="col" { "Host" } th scope="col" { "Version" }
                th scope="col" { "Started" } th.num scope="col" { "Last heartbeat" } th scope="col" { "State" }
            } }
            tbody {
                @for i in list {
                    @let alive = i.seen_ago <= crate::instances::LIVE_WITHIN;
                    tr data-instance=(i.instance.id) data-alive=(alive) {
                        th scope="row" { code { (i.instance.id) } }
                        td { @if i.instance.host.is_empty() { "—" } @else { (i.instance.host) } }
                        td { (i.instance.version) }
                        td { (when(i.instance.started_at)) " UTC"
                            span.visually-hidden { ", " } br;
                            small { (duration_words((now - i.instance.started_at).num_seconds().max(0))) " ago" } }
                        td.num data-seen-ago=(i.seen_ago.as_secs()) { (i.seen_ago.as_secs()) " s ago" }
                        td {
                            @if alive {
                                span.dot.tone-done aria-hidden="true" {} " alive"
                            } @else {
                                span.dot.tone-bad aria-hidden="true" {} strong { " not seen" }
                            }
                        }
                    }
                }
                @if list.is_empty() {
                    tr { td colspan="6" { "No instance has registered a heartbeat." } }
                }
            }
        }
    }
}

/// A delivery due this long ago (seconds) is worth a look.
const OLDEST_DUE_WARN_SECS: i64 = 300;

/// What operations should look at first, in words, worst first.
fn attention(
    rows: &[partners::PartnerRow],
    oldest_due_secs: Option<i64>,
    chain: &ChainShown,
) -> Markup {
    let broken = matches!(chain, ChainShown::Walked { check, .. } if !check.intact);
    let late = oldest_due_secs.filter(|s| *s > OLDEST_DUE_WARN_SECS);
    let dead: Vec<&partners::PartnerRow> = rows.iter().filter(|r| r.dead > 0).collect();
    let retrying: Vec<&partners::PartnerRow> = rows.iter().filter(|r| r.retrying > 0).collect();
    let calm = !broken && late.is_none() && dead.is_empty() && retrying.is_empty();
    html! {
        @if calm {
            p.calm data-attention="none" {
                span.chain-mark aria-hidden="true" { "✓" }
                span { "Nothing needs attention: every delivery got through or is on its way." }
            }
        } @else {
            ul.attention {
                @if broken {
                    li.tone-bad data-attention="audit-chain" { strong { "The audit chain is broken." } " See below." }
                }
                @for r in &dead {
                    li.tone-bad data-attention="dead-letters" {
                        a href="/ops/dead-letters" { (thousands(r.dead)) " dead letter" @if r.dead != 1 { "s" } }
                        " for " strong { (r.name) }
                    }
                }
                @for r in &retrying {
                    li.tone-warn data-attention="retrying" {
                        (thousands(r.retrying)) " deliver" @if r.retrying == 1 { "y" } @else { "ies" }
                        " to " strong { (r.name) } " waiting to retry after a failure"
                    }
                }
                @if let Some(secs) = late {
                    li.tone-warn data-attention="oldest-due" {
                        "The oldest due delivery has waited " (duration_words(secs))
                    }
                }
            }
        }
    }
}

fn chain(shown: &ChainShown, audit: &AuditSettings) -> Markup {
    let every = html! {
        "Walked every " (duration_words(secs_i64(audit.verify_interval)))
        ", the whole chain every " (duration_words(secs_i64(audit.whole_verify_interval))) "."
    };
    let ChainShown::Walked {
        check: c,
        checked_secs,
        whole,
        walked,
        whole_secs,
    } = shown
    else {
        return html! {
            p.chain data-chain="pending" {
                span { strong { "Not walked yet" } ": the first walk since the gateway started, over the whole chain, is under way." }
            }
            p.panel-note { (every) }
        };
    };
    html! {
        @if c.intact {
            p.chain.chain-ok data-chain="intact" data-chain-events=(c.events) {
                span.chain-mark aria-hidden="true" { "✓" }
                span { strong { "Intact" } ": every one of " (thousands(c.events)) " events links to the one before." }
            }
            @if let Some(head) = &c.head_hash {
                p.panel-note { "Head " code { (head.get(..16).unwrap_or(head)) "…" } }
            }
        } @else {
            p.chain.chain-bad data-chain="broken" role="alert" {
                span.chain-mark aria-hidden="true" { "✗" }
                span {
                    strong { "Broken" }
                    @if let Some(at) = c.broken_at { " at event " (thousands(at)) }
                    @if let Some(why) = &c.reason { ": " (why) }
                }
            }
            p.panel-note { "Tell the privacy officer and the administrator: the audit log was changed outside the gateway." }
        }
        @if *whole {
            p.panel-note data-chain-walk="whole" data-chain-whole-ago=(whole_secs) {
                "Walked whole " (ago_words(*checked_secs)) "."
            }
        } @else {
            p.panel-note data-chain-walk="new-events" data-chain-whole-ago=(whole_secs) {
                "Walked " (ago_words(*checked_secs)) ": the " (thousands(*walked)) " event"
                @if *walked != 1 { "s" }
                " added since the walk before, after checking that the event it ended at is unchanged. "
                "Walked whole " (ago_words(*whole_secs)) "."
            }
        }
        p.panel-note { (every) }
    }
}

fn secs_i64(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn ago_words(secs: u64) -> String {
    layout::ago_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// `GET /ops/`.
pub async fn page(State(dash): State<DashState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ViewOperations)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let snap = match snapshot(&dash).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "store failed reading the overview");
            return super::unavailable(Some(&session));
        }
    };
    layout::page(
        "Overview",
        Some(&session),
        Some("/ops/"),
        html! {
            div.page-head {
                h1 { "Overview" }
                div.live-controls {
                    span #live-status role="status" aria-live="polite" data-refresh=(REFRESH_SECS) {
                        noscript { "Reload the page for fresh figures." }
                    }
                    button.button.small #live-toggle type="button" hidden { "Pause updates" }
                }
            }
            div #live data-src="/ops/live" {
                (figures(&dash, &snap))
            }
        },
    )
    .into_response()
}

/// `GET /ops/live`: the figures alone, for the script. 401 without a session (the script
/// then asks to sign in again), 403 for a role without the permission.
pub async fn live(State(dash): State<DashState>, headers: HeaderMap) -> Response {
    let session = match dash.session(&headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !session.may(Permission::ViewOperations) {
        return StatusCode::FORBIDDEN.into_response();
    }
    match snapshot(&dash).await {
        Ok(s) => figures(&dash, &s).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading the overview");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{attention, chain, thousands, ChainShown};
    use crate::audit_chain::ChainCheck;
    use crate::config::AuditSettings;

    fn audit() -> AuditSettings {
        AuditSettings {
            pseudonym_key_env: "WIJKBRUG_PSEUDONYM_KEY".to_owned(),
            pseudonym_key: crate::audit::PseudonymKey::development(),
            development_key: true,
            verify_interval: Duration::from_secs(300),
            whole_verify_interval: Duration::from_secs(86_400),
        }
    }

    fn check(events: u64, intact: bool) -> ChainCheck {
        ChainCheck {
            events,
            head_hash: Some("ab".repeat(32)),
            intact,
            broken_at: (!intact).then_some(events + 1),
            reason: (!intact).then(|| "its link does not match".to_owned()),
        }
    }

    #[test]
    fn the_chain_panel_says_what_the_latest_walk_covered_and_when_the_whole_chain_was_walked() {
        let pending = chain(&ChainShown::Pending, &audit()).into_string();
        assert!(pending.contains(r#"data-chain="pending""#), "{pending}");
        assert!(pending.contains("Not walked yet"), "{pending}");
        assert!(pending.contains("Walked every 5 min, the whole chain every 1 d 0 h."));

        let whole = chain(
            &ChainShown::Walked {
                check: check(1_200, true),
                checked_secs: 20,
                whole: true,
                walked: 1_200,
                whole_secs: 20,
            },
            &audit(),
        )
        .into_string();
        assert!(
            whole.contains(r#"data-chain="intact" data-chain-events="1200""#),
            "{whole}"
        );
        assert!(whole.contains(r#"data-chain-walk="whole""#), "{whole}");
        assert!(whole.contains("Walked whole 20 s ago."), "{whole}");

        let new_events = chain(
            &ChainShown::Walked {
                check: check(1_207, true),
                checked_secs: 3,
                whole: false,
                walked: 7,
                whole_secs: 7_300,
            },
            &audit(),
        )
        .into_string();
        assert!(new_events.contains(r#"data-chain-walk="new-events" data-chain-whole-ago="7300""#));
        assert!(new_events.contains("Walked just now: the 7 events added since the walk before"));
        assert!(new_events.contains("Walked whole 2 h ago."), "{new_events}");

        let broken = chain(
            &ChainShown::Walked {
                check: check(40, false),
                checked_secs: 3,
                whole: false,
                walked: 1,
                whole_secs: 600,
            },
            &audit(),
        )
        .into_string();
        assert!(broken.contains(r#"data-chain="broken""#), "{broken}");
        assert!(broken.contains("Broken</strong> at event 41: its link does not match"));
    }

    #[test]
    fn only_a_broken_chain_needs_attention_not_one_still_being_walked() {
        let calm = |shown: &ChainShown| {
            attention(&[], None, shown)
                .into_string()
                .contains(r#"data-attention="none""#)
        };
        assert!(calm(&ChainShown::Pending));
        let walked = |intact| ChainShown::Walked {
            check: check(5, intact),
            checked_secs: 0,
            whole: true,
            walked: 5,
            whole_secs: 0,
        };
        assert!(calm(&walked(true)));
        assert!(!calm(&walked(false)));
        assert!(attention(&[], None, &walked(false))
            .into_string()
            .contains(r#"data-attention="audit-chain""#));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
