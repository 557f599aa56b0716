//! `/ops/referrals`: the referral list, filtered by status, partner (as sender, receiver or
//! either), sector and time received, paged by key ([`crate::store::Store::referral_page`]);
//! and `/ops/referrals/{id}`: one referral's status history, delivery attempts and outbox rows
//! ([`crate::store::Store::referral_timeline`]).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use wijkbrug_adapters::model::{Actor, PartnerId, ReferralId, ReferralStatus, Sector};

use super::layout::{
    self, ago, encode_query, error_kind, partner, partner_sector, sector_label, status_badge,
    status_label, when,
};
use super::session::Session;
use super::DashState;
use crate::access::Permission;
use crate::audit::AuditAction;
use crate::config::Config;
use crate::store::dashboard::{
    OutboxState, PageStart, ReferralFilter, ReferralKey, ReferralPage, ReferralTimeline, Side,
};
use crate::store::OutboxKind;

/// Page sizes offered.
const SIZES: [usize; 3] = [25, 50, 100];
const DEFAULT_SIZE: usize = 50;
/// The most audit events a timeline shows.
const MAX_EVENTS: usize = 500;

/// The list's query string, as the filter form sends it (empty values mean "any").
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub partner: String,
    #[serde(default)]
    pub side: String,
    #[serde(default)]
    pub sector: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub before: String,
    #[serde(default)]
    pub after: String,
}

/// A filter value that breaks a rule: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub rule: String,
}

/// What the list asks of the store.
#[derive(Debug)]
pub struct ListRequest {
    pub filter: ReferralFilter,
    pub start: PageStart,
    pub size: usize,
}

/// A key as it travels in a link: `<received_at>~<id>`.
pub fn format_key(k: &ReferralKey) -> String {
    format!(
        "{}~{}",
        k.received_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        k.id
    )
}

fn parse_key(s: &str) -> Option<ReferralKey> {
    let (at, id) = s.split_once('~')?;
    Some(ReferralKey {
        received_at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        id: ReferralId::parse(id).ok()?,
    })
}

/// A time given as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`, in UTC. A date alone is its
/// first moment, or with `end_of_day` the first moment of the next day (so "until 5 May"
/// takes all of 5 May in).
fn parse_time(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d.succ_opt()? } else { d };
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The store request a query string asks for, or every rule it breaks.
pub fn parse_list_query(q: &ListQuery, config: &Config) -> Result<ListRequest, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut bad = |field: &'static str, rule: &str| {
        problems.push(FieldProblem {
            field,
            rule: rule.to_owned(),
        })
    };
    let mut filter = ReferralFilter::default();
    if !q.status.is_empty() {
        match q.status.parse::<ReferralStatus>() {
            Ok(s) => filter.status = Some(s),
            Err(_) => bad("status", "must be one of the statuses listed"),
        }
    }
    if !q.partner.is_empty() {
        match PartnerId::parse(&q.partner) {
            Ok(p) => filter.partner = Some(p),
            Err(_) => bad("partner", "must be a partner id"),
        }
    }
    filter.side = match q.side.as_str() {
        "" | "either" => Side::Either,
        "sender" => Side::Sender,
        "receiver" => Side::Receiver,
        _ => {
            bad("side", "must be either, sender or receiver");
            Side::Either
        }
    };
    if !q.sector.is_empty() {
        match q.sector.parse::<Sector>() {
            Ok(s) => {
                filter.partners_any = Some(
                    config
                        .partners
                        .list
                        .iter()
                        .filter(|p| p.sector == s)
                        .map(|p| p.id.clone())
                        .collect(),
                )
            }
            Err(_) => bad("sector", "must be housing, welfare, care or employment"),
        }
    }
    if !q.from.is_empty() {
        match parse_time(&q.from, false) {
            Some(t) => filter.received_from = Some(t),
            None => bad(
                "from",
                "must be a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM), UTC",
            ),
        }
    }
    if !q.to.is_empty() {
        match parse_time(&q.to, true) {
            Some(t) => filter.received_until = Some(t),
            None => bad(
                "to",
                "must be a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM), UTC",
            ),
        }
    }
    if let (Some(from), Some(to)) = (filter.received_from, filter.received_until) {
        if from >= to {
            bad("to", "must be later than from");
        }
    }
    let size = match q.size.as_str() {
        "" => DEFAULT_SIZE,
        s => match s.parse::<usize>() {
            Ok(n) if SIZES.contains(&n) => n,
            _ => {
                bad("size", "must be 25, 50 or 100");
                DEFAULT_SIZE
            }
        },
    };
    let start = match (q.before.as_str(), q.after.as_str()) {
        ("", "") => PageStart::Newest,
        (b, "") => match parse_key(b) {
            Some(k) => PageStart::OlderThan(k),
            None => {
                bad("before", "must be a position from a page link");
                PageStart::Newest
            }
        },
        ("", a) => match parse_key(a) {
            Some(k) => PageStart::NewerThan(k),
            None => {
                bad("after", "must be a position from a page link");
                PageStart::Newest
            }
        },
        _ => {
            bad("after", "must not be given with before");
            PageStart::Newest
        }
    };
    if problems.is_empty() {
        Ok(ListRequest {
            filter,
            start,
            size,
        })
    } else {
        Err(problems)
    }
}

/// The query string of the filter (no page position), to carry into page links.
fn filter_query(q: &ListQuery) -> String {
    [
        ("status", &q.status),
        ("partner", &q.partner),
        ("side", &q.side),
        ("sector", &q.sector),
        ("from", &q.from),
        ("to", &q.to),
        ("size", &q.size),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", encode_query(v)))
    .collect::<Vec<_>>()
    .join("&")
}

fn page_link(q: &ListQuery, param: &str, key: &ReferralKey) -> String {
    let base = filter_query(q);
    let pos = format!("{param}={}", encode_query(&format_key(key)));
    if base.is_empty() {
        format!("/ops/referrals?{pos}")
    } else {
        format!("/ops/referrals?{base}&{pos}")
    }
}

fn filter_form(q: &ListQuery, config: &Config) -> Markup {
    let selected = |a: &str, b: &str| a == b;
    html! {
        form.filters method="get" action="/ops/referrals" aria-label="Filter referrals" {
            div.field {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" selected[q.status.is_empty()] { "Any status" }
                    @for s in ReferralStatus::ALL {
                        option value=(s.code()) selected[selected(&q.status, s.code())] { (status_label(s)) }
                    }
                }
            }
            div.field {
                label for="f-partner" { "Partner" }
                select #f-partner name="partner" {
                    option value="" selected[q.partner.is_empty()] { "Any partner" }
                    @for p in &config.partners.list {
                        option value=(p.id.as_str()) selected[selected(&q.partner, p.id.as_str())] { (p.id.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-side" { "Partner or sector as" }
                select #f-side name="side" {
                    option value="either" selected[q.side.is_empty() || q.side == "either"] { "Sender or receiver" }
                    option value="sender" selected[q.side == "sender"] { "Sender" }
                    option value="receiver" selected[q.side == "receiver"] { "Receiver" }
                }
            }
            div.field {
                label for="f-sector" { "Sector" }
                select #f-sector name="sector" {
                    option value="" selected[q.sector.is_empty()] { "Any sector" }
                    @for s in Sector::ALL {
                        option value=(s.code()) selected[selected(&q.sector, s.code())] { (sector_label(s)) }
                    }
                }
            }
            div.field {
                label for="f-from" { "Received from " span.unit { "(UTC)" } }
                input #f-from type="datetime-local" name="from" value=(q.from);
            }
            div.field {
                label for="f-to" { "Received until " span.unit { "(UTC)" } }
                input #f-to type="datetime-local" name="to" value=(q.to);
            }
            div.field {
                label for="f-size" { "Per page" }
                select #f-size name="size" {
                    @for n in SIZES {
                        option value=(n) selected[q.size == n.to_string() || (q.size.is_empty() && n == DEFAULT_SIZE)] { (n) }
                    }
                }
            }
            div.field.actions {
                button.button.primary type="submit" { "Show" }
                a.button href="/ops/referrals" { "Clear" }
            }
        }
    }
}

fn sector_of(config: &Config, id: &str) -> Markup {
    match partner_sector(config, id) {
        Some(s) => html! { span.sector { (sector_label(s)) } },
        None => html! {},
    }
}

fn results(page: &ReferralPage, q: &ListQuery, config: &Config, now: DateTime<Utc>) -> Markup {
    html! {
        @if page.items.is_empty() {
            p.empty { "No referrals match these filters." }
        } @else {
            div.table-wrap {
                table.data #referrals {
                    caption.visually-hidden { "Referrals, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Received (UTC)" }
                            th scope="col" { "Referral" }
                            th scope="col" { "From" }
                            th scope="col" { "To" }
                            th scope="col" { "Status" }
                            th scope="col" { "Last change" }
                        }
                    }
                    tbody {
                        @for r in &page.items {
                            tr data-referral=(r.id) {
                                td.nowrap { (when(r.received_at)) }
                                td { a.mono href={ "/ops/referrals/" (r.id) } { (r.id) } }
                                td { (partner(config, r.sender.as_str())) " " (sector_of(config, r.sender.as_str())) }
                                td {
                                    @match &r.receiver {
                                        Some(p) => { (partner(config, p.as_str())) " " (sector_of(config, p.as_str())) }
                                        None => { span.muted { "not routed" } }
                                    }
                                }
                                td {
                                    (status_badge(r.status))
                                    @if r.erased_at.is_some() { " " span.tag title="Retention erased its payload" { "erased" } }
                                }
                                td.nowrap title=(r.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) { (ago(now, r.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page.has_newer {
                @if let Some(first) = page.items.first() {
                    a.button rel="prev" href=(page_link(q, "after", &first.key())) { "← Newer" }
                } @else {
                    a.button href={ "/ops/referrals?" (filter_query(q)) } { "← Newest" }
                }
            } @else {
                span.button.disabled aria-disabled="true" { "← Newer" }
            }
            @if page.has_older {
                @if let Some(last) = page.items.last() {
                    a.button rel="next" href=(page_link(q, "before", &last.key())) { "Older →" }
                }
            } @else {
                span.button.disabled aria-disabled="true" { "Older →" }
            }
        }
    }
}

fn list_page(session: &Session, q: &ListQuery, config: &Config, body: Markup) -> Markup {
    layout::page(
        "Referrals",
        Some(session),
        Some("/ops/referrals"),
        html! {
            div.page-head { h1 { "Referrals" } }
            section.panel { (filter_form(q, config)) }
            section.panel.results { (body) }
        },
    )
}

/// `GET /ops/referrals`.
pub async fn list(
    State(dash): State<DashState>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ViewOperations)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let config = &dash.app.config;
    let q = match q {
        Ok(Query(q)) => q,
        Err(_) => {
            let problems = vec![FieldProblem {
                field: "query",
                rule: "must be the filter form's fields".to_owned(),
            }];
            return bad_filter(&session, &ListQuery::default(), config, &problems);
        }
    };
    let request = match parse_list_query(&q, config) {
        Ok(r) => r,
        Err(problems) => return bad_filter(&session, &q, config, &problems),
    };
    match dash
        .app
        .store
        .referral_page(&request.filter, request.start, request.size)
        .await
    {
        Ok(page) => list_page(
            &session,
            &q,
            config,
            results(&page, &q, config, crate::app::now()),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed listing referrals");
            super::unavailable(Some(&session))
        }
    }
}

fn bad_filter(
    session: &Session,
    q: &ListQuery,
    config: &Config,
    problems: &[FieldProblem],
) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        list_page(
            session,
            q,
            config,
            html! {
                div.alert.alert-bad role="alert" {
                    p { strong { "These filters cannot be used:" } }
                    ul {
                        @for p in problems {
                            li data-field=(p.field) { code { (p.field) } " " (p.rule) "." }
                        }
                    }
                }
            },
        ),
    )
        .into_response()
}

fn actor(config: &Config, by: &Actor) -> Markup {
    match by {
        Actor::Gateway => html! { span.muted { "gateway" } },
        Actor::Partner(p) => html! { "partner " (partner(config, p.as_str())) },
        Actor::Operator(o) => html! { "operator " strong { (o) } },
    }
}

fn outbox_kind(kind: OutboxKind) -> String {
    match kind {
        OutboxKind::Referral => "referral".to_owned(),
        OutboxKind::Status { transition } => format!("status notice (step {transition})"),
    }
}

fn outbox_tone(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Pending => "tone-flow",
        OutboxState::Delivered => "tone-done",
        OutboxState::Dead => "tone-bad",
        OutboxState::Cancelled | OutboxState::Discarded => "tone-muted",
    }
}

/// What an audit event says, in words (only the events the timeline lists).
fn event_words(config: &Config, e: &crate::store::dashboard::TimelineEvent) -> Option<Markup> {
    let d = |k: &str| e.detail.get(k).map(String::as_str);
    let who = e.partner.as_ref().map(|p| partner(config, p.as_str()));
    Some(match e.action {
        AuditAction::DeliveryAttempt => {
            let result = d("result").unwrap_or("attempt");
            let tone = match result {
                "delivered" => "tone-done",
                "dead" => "tone-bad",
                "retry" => "tone-warn",
                _ => "tone-muted",
            };
            html! {
                span class={ "badge " (tone) } { (result) }
                " delivery of the "
                (match d("kind") { Some("status") => "status notice", Some("referral") => "referral", _ => "item" })
                @if let Some(w) = who { " to " (w) }
                @if d("via") == Some("mailbox") { " (mailbox)" }
                @if let Some(code) = d("http_status") { " · HTTP " (code) }
                @if let Some(row) = d("outbox_id") { " · outbox #" (row) }
            }
        }
        AuditAction::OpsAction => html! {
            span.badge.tone-work { (d("op").unwrap_or("action")) }
            " by operator " strong { (d("operator").unwrap_or("?")) }
            @if let Some(row) = d("outbox_id") { " · dead letter #" (row) }
        },
        AuditAction::ConsentDecision => html! {
            "Consent decision: " strong { (d("decision").unwrap_or("?")) }
            @if let Some(code) = d("refusal_code") { " (" (code) ")" }
        },
        AuditAction::ReferralRead => html! {
            "Read through the API"
            @if let Some(w) = who { " by " (w) }
        },
        AuditAction::PayloadErased => html! { "Payload erased by retention" },
        AuditAction::ConsentRevoked => html! { "The consent it rests on was revoked" },
        _ => return None,
    })
}

fn timeline_page(
    session: &Session,
    config: &Config,
    t: &ReferralTimeline,
    now: DateTime<Utc>,
) -> Markup {
    let m = &t.meta;
    let events: Vec<(_, Markup)> = t
        .events
        .iter()
        .filter_map(|e| event_words(config, e).map(|w| (e, w)))
        .collect();
    layout::page(
        "Referral",
        Some(session),
        Some("/ops/referrals"),
        html! {
            div.page-head {
                div {
                    p.crumbs { a href="/ops/referrals" { "Referrals" } " / " }
                    h1 { "Referral " code.mono #referral-id { (m.id) } }
                }
                (status_badge(m.status))
            }
            section.panel {
                dl.facts {
                    div { dt { "From" } dd { (partner(config, m.sender.as_str())) " " (sector_of(config, m.sender.as_str())) } }
                    div { dt { "To" } dd {
                        @match &m.receiver {
                            Some(p) => { (partner(config, p.as_str())) " " (sector_of(config, p.as_str())) }
                            None => { span.muted { "not routed" } }
                        }
                    } }
                    div { dt { "Status" } dd #status { (status_label(m.status)) } }
                    div { dt { "Received" } dd { (when(m.received_at)) " UTC" } }
                    div { dt { "Last change" } dd { (when(m.updated_at)) " UTC · " (ago(now, m.updated_at)) } }
                    div { dt { "Payload" } dd {
                        @match m.erased_at {
                            Some(at) => { "erased by retention on " (when(at)) " UTC" }
                            None => { "kept (not shown here)" }
                        }
                    } }
                }
            }
            div.columns {
                section.panel aria-labelledby="history-title" {
                    h2 #history-title { "Status history" }
                    ol.steps #history {
                        @for s in &t.steps {
                            li data-step=(s.seq) {
                                span class={ "step-dot " (layout::status_tone(s.status)) } aria-hidden="true" {}
                                div {
                                    p.step-title { (status_label(s.status))
                                        @if let Some(code) = &s.reason_code { " " span.tag { (code) } }
                                    }
                                    p.step-meta { (when(s.at)) " UTC · by " (actor(config, &s.by)) }
                                }
                            }
                        }
                    }
                }
                section.panel aria-labelledby="events-title" {
                    h2 #events-title { "Delivery attempts and actions" }
                    @if events.is_empty() {
                        p.empty { "None yet." }
                    } @else {
                        ol.events #events {
                            @for (e, words) in &events {
                                li data-action=(e.action.code()) {
                                    span.event-time { (when(e.at)) }
                                    span.event-text { (words) }
                                }
                            }
                        }
                    }
                    @if t.events_truncated {
                        p.panel-note { "Only the first " (MAX_EVENTS) " events are shown." }
                    }
                }
            }
            section.panel aria-labelledby="outbox-title" {
                h2 #outbox-title { "Outbox rows" }
                @if t.outbox.is_empty() {
                    p.empty { "Nothing was queued for this referral." }
                } @else {
                    div.table-wrap {
                        table.data #outbox {
                            caption.visually-hidden { "The deliveries queued for this referral" }
                            thead { tr {
                                th scope="col" { "#" }
                                th scope="col" { "To" }
                                th scope="col" { "What" }
                                th scope="col" { "State" }
                                th.num scope="col" { "Attempts" }
                                th scope="col" { "Queued (UTC)" }
                                th scope="col" { "Done or next (UTC)" }
                                th scope="col" { "Last error" }
                            } }
                            tbody {
                                @for o in &t.outbox {
                                    tr data-outbox=(o.id) {
                                        td.mono { (o.id) }
                                        td { (partner(config, o.recipient.as_str())) }
                                        td { (outbox_kind(o.kind)) }
                                        td { span class={ "badge " (outbox_tone(o.state)) } { (o.state.code()) } }
                                        td.num { (o.attempts) }
                                        td.nowrap { (when(o.created_at)) }
                                        td.nowrap {
                                            @match (o.state, o.delivered_at, o.failed_at) {
                                                (OutboxState::Delivered, Some(at), _) => { "delivered " (when(at)) }
                                                (OutboxState::Dead, _, Some(at)) => { "failed " (when(at)) }
                                                (OutboxState::Pending, _, _) => { "next " (when(o.next_attempt_at)) }
                                                _ => { "—" }
                                            }
                                        }
                                        td { (o.last_error.as_deref().map(error_kind).unwrap_or_else(|| "—".to_owned())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `GET /ops/referrals/{id}`.
pub async fn timeline(
    State(dash): State<DashState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ViewOperations)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let Ok(id) = ReferralId::parse(&id) else {
        return super::not_found(Some(&session), "referral with this id");
    };
    match dash.app.store.referral_timeline(id, MAX_EVENTS).await {
        Ok(Some(t)) => {
            timeline_page(&session, &dash.app.config, &t, crate::app::now()).into_response()
        }
        Ok(None) => super::not_found(Some(&session), "referral with this id"),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading a referral's timeline");
            super::unavailable(Some(&session))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_survive_a_link() {
        let k = ReferralKey {
            received_at: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
                + chrono::Duration::microseconds(12),
            id: ReferralId::from_parts(1_762_000_000_000, [7; 10]),
        };
        assert_eq!(parse_key(&format_key(&k)), Some(k));
        assert_eq!(parse_key("nonsense"), None);
    }

    #[test]
    fn times_are_dates_or_minutes_in_utc() {
        let day = Utc.with_ymd_and_hms(2026, 5, 5, 0, 0, 0).unwrap();
        assert_eq!(parse_time("2026-05-05", false), Some(day));
        assert_eq!(
            parse_time("2026-05-05", true),
            Some(day + chrono::Duration::days(1))
        );
        assert_eq!(
            parse_time("2026-05-05T13:45", false),
            Some(Utc.with_ymd_and_hms(2026, 5, 5, 13, 45, 0).unwrap())
        );
        assert_eq!(parse_time("5 May", false), None);
    }
}
