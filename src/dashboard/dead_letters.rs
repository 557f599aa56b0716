//! `/ops/dead-letters`: deliveries that failed for good. Operations staff see the list;
//! administrators retry or discard, each through a confirmation page (a form with a confirm
//! box and the session's form token), recorded under their account name through the same
//! store calls as the API (`src/api/ops.rs`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, ago, error_kind, partner, when};
use super::session::{same_origin, Session};
use super::{forbidden, DashState};
use crate::access::Permission;
use crate::config::Config;
use crate::store::{DeadLetter, OutboxKind};

const PAGE: usize = 50;

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    /// Continue after this dead letter (the last row of the previous page).
    #[serde(default)]
    pub before: Option<i64>,
    /// What was just done (`retry` or `discard`), to say so.
    #[serde(default)]
    pub done: Option<String>,
    #[serde(default)]
    pub row: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
}

/// Retry or discard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Retry,
    Discard,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "retry" => Some(Self::Retry),
            "discard" => Some(Self::Discard),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Discard => "discard",
        }
    }
}

fn kind(k: OutboxKind) -> &'static str {
    match k {
        OutboxKind::Referral => "referral",
        OutboxKind::Status { .. } => "status notice",
    }
}

fn table(list: &[DeadLetter], config: &Config, can_act: bool) -> Markup {
    let now = crate::app::now();
    html! {
        div.table-wrap {
            table.data #dead-letters {
                caption.visually-hidden { "Dead letters, newest first" }
                thead { tr {
                    th scope="col" { "#" }
                    th scope="col" { "Failed (UTC)" }
                    th scope="col" { "Referral" }
                    th scope="col" { "To" }
                    th scope="col" { "What" }
                    th.num scope="col" { "Attempts" }
                    th scope="col" { "Error" }
                    @if can_act { th scope="col" { "Action" } }
                } }
                tbody {
                    @for d in list {
                        tr data-dead-letter=(d.row) {
                            td.mono { (d.row) }
                            td.nowrap { (when(d.failed_at)) br; span.muted { (ago(now, d.failed_at)) } }
                            td { a.mono href={ "/ops/referrals/" (d.item.referral) } { (d.item.referral) } }
                            td { (partner(config, d.item.recipient.as_str())) }
                            td { (kind(d.item.kind)) }
                            td.num { (d.attempts) }
                            td { span.badge.tone-bad { (error_kind(&d.last_error)) } }
                            @if can_act {
                                td.actions {
                                    a.button.small href={ "/ops/dead-letters/" (d.row) "/retry" } { "Retry…" }
                                    " "
                                    a.button.small.danger href={ "/ops/dead-letters/" (d.row) "/discard" } { "Discard…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ops/dead-letters`.
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
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let mut list = match dash.app.store.dead_letters(q.before, PAGE + 1).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "store failed listing dead letters");
            return super::unavailable(Some(&session));
        }
    };
    let more = list.len() > PAGE;
    list.truncate(PAGE);
    let can_act = session.may(Permission::ActOnDeadLetters);
    let config = &dash.app.config;
    layout::page(
        "Dead letters",
        Some(&session),
        Some("/ops/dead-letters"),
        html! {
            div.page-head { h1 { "Dead letters" } }
            @if let (Some(done), Some(row)) = (q.done.as_deref(), q.row) {
                div.alert.alert-good role="status" {
                    @match done {
                        "retry" => { "Dead letter #" (row) " is queued again; the delivery worker sends it now." }
                        "discard" => { "Dead letter #" (row) " is discarded; an undeliverable referral is cancelled." }
                        _ => {}
                    }
                }
            }
            section.panel {
                p.panel-note {
                    "Deliveries that failed for good: a partner refused them, or they kept failing "
                    "until they were too old. Fix the cause with the partner first."
                    @if can_act {
                        " Retry puts one back in the queue; discard gives it up."
                    } @else {
                        " Retrying and discarding is for administrators."
                    }
                }
                @if list.is_empty() {
                    p.empty #no-dead-letters { "No dead letters. Every delivery got through or is still being tried." }
                } @else {
                    (table(&list, config, can_act))
                }
                nav.pager aria-label="Pages" {
                    @if q.before.is_some() {
                        a.button href="/ops/dead-letters" { "← Newest" }
                    }
                    @if more {
                        @if let Some(last) = list.last() {
                            a.button rel="next" href={ "/ops/dead-letters?before=" (last.row) } { "Older →" }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn confirmation(
    session: &Session,
    config: &Config,
    d: &DeadLetter,
    action: Action,
    problem: Option<&str>,
) -> Markup {
    let recipient = d.item.recipient.as_str();
    let (title, consequence, check, button, tone) = match action {
        Action::Retry => (
            "Retry this delivery?",
            "It goes back in the queue, due now, with its attempts counted from zero. If it is a \
             referral that became undeliverable, the referral is routed again.",
            format!("I have checked that {recipient} can receive again."),
            "Retry delivery",
            "primary",
        ),
        Action::Discard => (
            "Discard this delivery?",
            "It will not be sent again. If it is a referral that became undeliverable, the \
             referral is cancelled. This cannot be undone.",
            "I understand that this delivery is given up for good.".to_owned(),
            "Discard for good",
            "danger",
        ),
    };
    layout::page(
        title,
        Some(session),
        Some("/ops/dead-letters"),
        html! {
            section.panel.confirm {
                p.crumbs { a href="/ops/dead-letters" { "Dead letters" } " / #" (d.row) }
                h1 { (title) }
                @if let Some(p) = problem {
                    div.alert.alert-bad role="alert" { (p) }
                }
                dl.facts {
                    div { dt { "Dead letter" } dd.mono { "#" (d.row) } }
                    div { dt { "Referral" } dd { a.mono href={ "/ops/referrals/" (d.item.referral) } { (d.item.referral) } } }
                    div { dt { "To" } dd { (partner(config, recipient)) } }
                    div { dt { "What" } dd { (kind(d.item.kind)) } }
                    div { dt { "Attempts" } dd { (d.attempts) } }
                    div { dt { "Error" } dd { (error_kind(&d.last_error)) } }
                    div { dt { "Failed" } dd { (when(d.failed_at)) " UTC" } }
                }
                p { (consequence) " It is recorded under your account name, " strong { (session.name.as_str()) } "." }
                form method="post" action={ "/ops/dead-letters/" (d.row) "/" (action.code()) } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    div.field.check {
                        input #confirm type="checkbox" name="confirm" value="yes" required;
                        label for="confirm" { (check) }
                    }
                    div.form-actions {
                        button class={ "button " (tone) } type="submit" { (button) }
                        a.button href="/ops/dead-letters" { "Cancel" }
                    }
                }
            }
        },
    )
}

async fn load(
    dash: &DashState,
    session: &Session,
    id: &str,
    action: &str,
) -> Result<(DeadLetter, Action), super::Refusal> {
    let (Some(action), Ok(row)) = (Action::parse(action), id.parse::<i64>()) else {
        return Err(super::Refusal(Box::new(super::not_found(
            Some(session),
            "such page",
        ))));
    };
    match dash.app.store.dead_letter_by_id(row).await {
        Ok(Some(d)) => Ok((d, action)),
        Ok(None) => Err(super::Refusal(Box::new(gone(session, row)))),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading a dead letter");
            Err(super::Refusal(Box::new(super::unavailable(Some(session)))))
        }
    }
}

fn gone(session: &Session, row: i64) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout::message_page(
            "Not a dead letter",
            Some(session),
            &format!("#{row} is not a dead letter (any more): it may have been retried or discarded already."),
            Some(("/ops/dead-letters", "Back to the dead letters")),
        ),
    )
        .into_response()
}

/// `GET /ops/dead-letters/{id}/{retry|discard}`: the confirmation page (admin role).
pub async fn confirm(
    State(dash): State<DashState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ActOnDeadLetters)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match load(&dash, &session, &id, &action).await {
        Ok((d, action)) => {
            confirmation(&session, &dash.app.config, &d, action, None).into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// `POST /ops/dead-letters/{id}/{retry|discard}`: needs the session's form token and the
/// confirm box; then the same store call as the API, under the account's name.
pub async fn act(
    State(dash): State<DashState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<ActForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let session = match dash
        .authorize(&headers, &uri, Permission::ActOnDeadLetters)
        .await
    {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if !same_origin(&headers) || !session.csrf_matches(&f.csrf) {
        tracing::warn!(staff = %session.name, "dashboard form without its form token refused");
        return forbidden(
            Some(&session),
            "This form did not come from the dashboard's own page (its form token is missing or \
             old). Open the dead letter again and confirm there.",
        );
    }
    let (d, action) = match load(&dash, &session, &id, &action).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    if f.confirm != "yes" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            confirmation(
                &session,
                &dash.app.config,
                &d,
                action,
                Some("Tick the box to confirm: nothing was changed."),
            ),
        )
            .into_response();
    }
    let operator = session.operator();
    let now = crate::app::now();
    let result = match action {
        Action::Retry => {
            dash.app
                .store
                .retry_dead_letter(d.row, &operator, now)
                .await
        }
        Action::Discard => {
            dash.app
                .store
                .discard_dead_letter(d.row, &operator, now)
                .await
        }
    };
    match result {
        Ok(true) => {
            if action == Action::Retry {
                dash.app.delivery_wake.notify_one();
            }
            tracing::info!(operator = %operator, dead_letter = d.row, action = action.code(), via = "dashboard", "operations action");
            Redirect::to(&format!(
                "/ops/dead-letters?done={}&row={}",
                action.code(),
                d.row
            ))
            .into_response()
        }
        Ok(false) => gone(&session, d.row),
        Err(e) => {
            tracing::error!(error = %e, "store failed an operations action");
            super::unavailable(Some(&session))
        }
    }
}
