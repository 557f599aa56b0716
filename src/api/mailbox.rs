//! Mailbox delivery for partners that cannot receive pushes: they pull pending items in their
//! own format and acknowledge each; what is not acknowledged is offered again after the
//! visibility timeout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wijkbrug_adapters::model::{Actor, ReasonText, ReferralStatus, Transition};

use super::params::PathParams;
use super::problem::Problem;
use super::query::{QueryRules, ValidQuery};
use crate::app::{now, SharedState};
use crate::config::Delivery;
use crate::delivery::render::{render, RenderError};
use crate::store::{OutboxItem, OutboxKind};

/// The most items one mailbox call returns.
pub const MAX_ITEMS: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
pub struct MailboxQuery {
    /// Only items after this cursor (the `cursor` of the previous answer).
    pub after: Option<i64>,
    /// At most this many items (1–100, default 20).
    pub limit: Option<usize>,
}

impl QueryRules for MailboxQuery {
    const RULES: &'static [(&'static str, &'static str)] = &[
        ("after", "a cursor of a previous answer (a whole number)"),
        ("limit", "a whole number from 1 to 100"),
    ];
}

/// One pending item, in your own format.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxItem {
    /// Acknowledge with `POST .../mailbox/{id}/ack`.
    pub id: i64,
    /// `referral` or `status`.
    pub kind: &'static str,
    pub referral_id: String,
    /// The same key on every offer of this item: use it to drop duplicates.
    pub idempotency_key: String,
    pub content_type: &'static str,
    /// The message in your format.
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxPage {
    pub items: Vec<MailboxItem>,
    /// Pass as `after` to continue; absent when there was nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<i64>,
    /// Seconds before an unacknowledged item is offered again.
    pub visibility_timeout_secs: u64,
}

/// Take pending items from your mailbox.
#[utoipa::path(
    get,
    path = "/v1/partners/{partner}/mailbox",
    params(("partner" = String, Path, description = "Your partner id"), MailboxQuery),
    responses(
        (status = 200, description = "Pending items, oldest first; each is hidden until acknowledged or the visibility timeout passes", body = MailboxPage),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You receive by push, not by mailbox", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `after` or `limit`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "mailbox"
)]
#[tracing::instrument(skip_all, fields(partner = %partner))]
pub async fn get_mailbox(
    State(state): State<SharedState>,
    PathParams(partner): PathParams<String>,
    headers: HeaderMap,
    query: Result<ValidQuery<MailboxQuery>, Problem>,
) -> Response {
    match handle_get(&state, &partner, query, &headers).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn handle_get(
    state: &SharedState,
    partner: &str,
    query: Result<ValidQuery<MailboxQuery>, Problem>,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let p = state.authenticate_as(partner, headers).await?;
    let ValidQuery(q) = query?;
    if !matches!(p.delivery, Delivery::Mailbox) {
        return Err(Problem::conflict(
            "you receive by push; your mailbox is not used",
        ));
    }
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_ITEMS {
        return Err(Problem::invalid_request(
            format!("limit must be from 1 to {MAX_ITEMS}"),
            vec![super::problem::FieldError {
                location: "limit".into(),
                rule: format!("must be from 1 to {MAX_ITEMS}"),
            }],
        ));
    }
    let visibility = state.config.settings.delivery.mailbox_visibility;
    let unavailable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "store failed serving a mailbox");
        Problem::unavailable("the mailbox is unavailable")
    };
    let offered = state
        .store
        .mailbox_offer(&p.id, q.after, now(), visibility, limit)
        .await
        .map_err(unavailable)?;
    let mut items = Vec::with_capacity(offered.len());
    let mut cursor = None;
    for lease in offered {
        cursor = Some(lease.row);
        match render(state, &lease).await {
            Ok(r) => items.push(MailboxItem {
                id: lease.row,
                kind: match lease.item.kind {
                    OutboxKind::Referral => "referral",
                    OutboxKind::Status { .. } => "status",
                },
                referral_id: lease.item.referral.to_string(),
                idempotency_key: format!("{}:{}", lease.item.referral, lease.row),
                content_type: r.media_type,
                content: String::from_utf8_lossy(&r.bytes).into_owned(),
            }),
            Err(RenderError::ConsentRevoked(refusal)) => {
                tracing::warn!(referral = %lease.item.referral, code = refusal.code(), "consent no longer permits; mailbox item cancelled");
                let t = Transition {
                    to: ReferralStatus::ConsentMissing,
                    at: now(),
                    by: Actor::Gateway,
                    reason: ReasonText::parse(&refusal.reason()).ok(),
                    reason_code: Some(refusal.code().to_owned()),
                };
                let notify = sender_notice(state, &lease.item).await;
                state
                    .store
                    .cancel_delivery(lease.row, "mailbox", t, notify)
                    .await
                    .map_err(unavailable)?;
            }
            Err(RenderError::Permanent(reason)) => {
                tracing::warn!(referral = %lease.item.referral, %reason, "mailbox item cannot be rendered; dead letter");
                let notify = sender_notice(state, &lease.item).await;
                state
                    .store
                    .dead_letter(lease.row, "mailbox", &reason, now(), notify)
                    .await
                    .map_err(unavailable)?;
            }
            Err(RenderError::Store(e)) => return Err(unavailable(e)),
        }
    }
    Ok(Json(MailboxPage {
        items,
        cursor,
        visibility_timeout_secs: visibility.as_secs(),
    })
    .into_response())
}

/// The notice to the referral's sender that its referral will not arrive (for referral rows).
async fn sender_notice(state: &SharedState, item: &OutboxItem) -> Vec<OutboxItem> {
    if item.kind != OutboxKind::Referral {
        return Vec::new();
    }
    match state.store.referral(item.referral).await {
        Ok(Some(r)) => vec![OutboxItem {
            referral: item.referral,
            recipient: r.referral.request.source.partner.clone(),
            kind: OutboxKind::Status { transition: 0 },
        }],
        _ => Vec::new(),
    }
}

/// Acknowledge an item you have processed.
#[utoipa::path(
    post,
    path = "/v1/partners/{partner}/mailbox/{item}/ack",
    params(("partner" = String, Path, description = "Your partner id"), ("item" = i64, Path, description = "The item's id")),
    responses(
        (status = 204, description = "Acknowledged; it will not be offered again"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending item in your mailbox", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "mailbox"
)]
#[tracing::instrument(skip_all, fields(partner = %partner, item = %item))]
pub async fn ack(
    State(state): State<SharedState>,
    PathParams((partner, item)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let p = match state.authenticate_as(&partner, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Ok(row) = item.parse::<i64>() else {
        return Problem::not_found("mailbox item").into_response();
    };
    match state.store.mailbox_ack(&p.id, row, now()).await {
        Ok(true) => {
            tracing::info!("mailbox item acknowledged");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => Problem::not_found("mailbox item").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed acknowledging");
            Problem::unavailable("the mailbox is unavailable").into_response()
        }
    }
}
