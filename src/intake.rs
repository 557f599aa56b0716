//! The intake pipeline, once a partner is authenticated and its body read: decode with the
//! partner's adapter, route, check consent, minimise, and store everything accepted in one
//! durable transaction. Status updates move the state machine.
//!
//! Nothing here knows HTTP; `api::intake` maps the outcome onto a response.

use axum::http::StatusCode;
use tracing::{info, warn};
use wijkbrug_adapters::model::{
    Actor, PartnerId, ReasonText, Referral, ReferralRef, ReferralRequest, ReferralStatus,
    StatusHistory, StatusUpdate, Target, Transition,
};
use wijkbrug_adapters::{adapter_for, DecodeContext, Format, IncomingReferral, Location, Record};

use crate::api::in_flight::Admission;
use crate::api::problem::FieldError;
use crate::app::{new_consent_id, new_referral_id, now, AppState};
use crate::config::Partner;
use crate::consent::{self, Receiver};
use crate::store::{
    Intake, IntakeOutcome, NewReferral, OutboxItem, OutboxKind, SharedCopy, StoreError,
    TransitionOutcome,
};

/// A referral that was accepted (stored now, or earlier for a duplicate).
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: wijkbrug_adapters::model::ReferralId,
    pub reference: String,
    /// `routed` or `consent_missing` (for a duplicate: as first stored).
    pub status: Option<ReferralStatus>,
    pub receiver: Option<PartnerId>,
    pub duplicate: bool,
    /// Why it is not going anywhere (no consent), for the sender.
    pub reason: Option<String>,
    /// The consent refusal's code when it is `consent_missing` (not for a duplicate).
    pub consent_refusal: Option<&'static str>,
}

/// A status update that was applied.
#[derive(Debug, Clone)]
pub struct Applied {
    pub id: wijkbrug_adapters::model::ReferralId,
    pub status: ReferralStatus,
}

/// A record that was refused, with the HTTP status its kind of problem means.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: StatusCode,
    pub kind: &'static str,
    pub error: FieldError,
}

/// What became of every record of one message.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: Vec<Accepted>,
    pub applied: Vec<Applied>,
    pub refused: Vec<Refused>,
}

fn refused(
    status: StatusCode,
    kind: &'static str,
    location: &str,
    rule: impl Into<String>,
) -> Refused {
    Refused {
        status,
        kind,
        error: FieldError {
            location: location.to_owned(),
            rule: rule.into(),
        },
    }
}

/// Why a message was not run through.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Let in beyond the in-flight cap as a possible answer ([`Admission::AnswersOnly`]), the
    /// message holds a new referral: nothing of it was stored.
    #[error("a message holding a new referral was let in beyond the in-flight cap")]
    Shed,
}

/// Runs one message from `sender` through the pipeline. A message let in as
/// [`Admission::AnswersOnly`] that holds a new referral is refused whole before anything is
/// stored ([`ProcessError::Shed`]).
#[tracing::instrument(skip_all, fields(partner = %sender.id, records))]
pub async fn process(
    state: &AppState,
    sender: &Partner,
    body: &[u8],
    idempotency_key: Option<String>,
    admission: Admission,
) -> Result<Outcome, ProcessError> {
    let ctx = DecodeContext {
        sender: sender.id.clone(),
        directory: state.directory.clone(),
    };
    let mut outcome = Outcome::default();
    let mut new_referrals = Vec::new();
    let mut references = Vec::new();
    // Decoding is pure CPU work; it finishes before the first await (the record stream is not
    // Send).
    let records: Vec<_> = adapter_for(sender.adapter).decode(body, &ctx).collect();
    let count = records.len();
    if admission == Admission::AnswersOnly
        && records.iter().any(|r| matches!(r, Ok(Record::Referral(_))))
    {
        return Err(ProcessError::Shed);
    }
    for record in records {
        match record {
            Err(e) => {
                let status = if e.location == Location::Document {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                outcome.refused.push(Refused {
                    status,
                    kind: "invalid-message",
                    error: FieldError::from(&e),
                });
            }
            Ok(Record::Referral(incoming)) => match prepare(state, sender, *incoming).await? {
                Ok((new, accepted)) => {
                    references.push(accepted);
                    new_referrals.push(new);
                }
                Err(r) => outcome.refused.push(r),
            },
            Ok(Record::Status(update)) => {
                match apply_status(state, sender, update, &outcome.applied).await? {
                    // A message may report one change once per product of the referral (an
                    // iWmo start or stop lists each product): the first applies it, the others
                    // are the same change.
                    Ok(applied)
                        if outcome
                            .applied
                            .iter()
                            .any(|a| a.id == applied.id && a.status == applied.status) => {}
                    Ok(applied) => outcome.applied.push(applied),
                    Err(r) => outcome.refused.push(r),
                }
            }
        }
    }
    tracing::Span::current().record("records", count);
    if !new_referrals.is_empty() || idempotency_key.is_some() {
        let outcomes = state
            .store
            .intake(Intake {
                sender: sender.id.clone(),
                idempotency_key,
                referrals: new_referrals,
            })
            .await?;
        for (i, o) in outcomes.into_iter().enumerate() {
            match (o, references.get(i)) {
                (IntakeOutcome::Created(_), Some(a)) => {
                    count_consent_decision(state, a);
                    outcome.accepted.push(a.clone());
                }
                (IntakeOutcome::Duplicate(id), a) => outcome.accepted.push(Accepted {
                    id,
                    reference: a.map(|a| a.reference.clone()).unwrap_or_default(),
                    status: None,
                    receiver: None,
                    duplicate: true,
                    reason: None,
                    consent_refusal: None,
                }),
                (IntakeOutcome::Created(id), None) => outcome.accepted.push(Accepted {
                    id,
                    reference: String::new(),
                    status: None,
                    receiver: None,
                    duplicate: false,
                    reason: None,
                    consent_refusal: None,
                }),
            }
        }
    }
    if !outcome.accepted.is_empty() || !outcome.applied.is_empty() {
        state.delivery_wake.notify_one();
    }
    info!(
        accepted = outcome.accepted.len(),
        applied = outcome.applied.len(),
        refused = outcome.refused.len(),
        "message processed"
    );
    Ok(outcome)
}

/// Counts the consent decision of a referral stored now (`/metrics`).
fn count_consent_decision(state: &AppState, accepted: &Accepted) {
    let sector = accepted
        .receiver
        .as_ref()
        .and_then(|r| state.config.partners.get(r.as_str()))
        .map(|p| p.sector);
    if let Some(sector) = sector {
        state
            .metrics
            .consent_decision(accepted.consent_refusal, sector);
    }
}

/// Routes a referral, checks consent and minimises: the rows to store, or why not.
async fn prepare(
    state: &AppState,
    sender: &Partner,
    incoming: IncomingReferral,
) -> Result<Result<(NewReferral, Accepted), Refused>, StoreError> {
    let request = incoming.request;
    let at = now();
    let id = new_referral_id(at);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    let receiver = match &request.target {
        Target::Partner(p) => match state.config.partners.get(p.as_str()) {
            Some(r) if r.id != sender.id => r,
            Some(_) => {
                return Ok(Err(refused(
                    unprocessable,
                    "invalid-target",
                    "target",
                    "a partner cannot refer to itself",
                )));
            }
            None => {
                return Ok(Err(refused(
                    unprocessable,
                    "invalid-target",
                    "target",
                    format!("{p} is not a partner of this gateway"),
                )));
            }
        },
        Target::Sector(to) => match state.config.routing.route(&request, sender.sector, *to) {
            Ok(p) => match state.config.partners.get(p.as_str()) {
                Some(r) => r,
                None => {
                    return Ok(Err(refused(
                        unprocessable,
                        "no-route",
                        "target",
                        "the routing rule names an unknown partner",
                    )))
                }
            },
            Err(no_route) => {
                return Ok(Err(refused(
                    unprocessable,
                    "no-route",
                    "target",
                    no_route.to_string(),
                )));
            }
        },
    };
    let Some(identity) = &request.resident.identity else {
        return Ok(Err(refused(
            unprocessable,
            "invalid-message",
            "resident",
            "a referral must identify the resident (BSN) so consent can be checked",
        )));
    };

    // The resident's consents: recorded ones, standing ones from configuration, and one that
    // came with this message (stored together with the referral).
    let stored = state.store.consents_for(&identity.bsn).await?;
    let message_consent = incoming.consent.map(|c| (new_consent_id(), c));
    let mut consents: Vec<_> = stored.iter().map(|s| (Some(s.id), &s.consent)).collect();
    consents.extend(
        state
            .config
            .consents
            .iter()
            .filter(|c| c.resident == identity.bsn)
            .map(|c| (None, c)),
    );
    if let Some((cid, c)) = &message_consent {
        consents.push((Some(*cid), c));
    }

    let mut history = StatusHistory::received(at, Actor::Partner(sender.id.clone()));
    let routed = Transition {
        to: ReferralStatus::Routed,
        at,
        by: Actor::Gateway,
        reason: None,
        reason_code: None,
    };
    let _ = history.apply(routed);
    let decision = consent::decide(
        &request,
        Receiver {
            partner: &receiver.id,
            sector: receiver.sector,
        },
        &consents,
        at,
    );
    let reference = request.source.reference.to_string();
    let consent_refusal = decision.as_ref().err().map(|r| r.code());
    let (shared, outbox, status, reason) = match decision {
        Ok(permit) => {
            info!(referral = %id, receiver = %receiver.id, kept = %permit.categories, removed = %permit.removed, "consent permits; minimised");
            let shared = SharedCopy {
                receiver: receiver.id.clone(),
                request: permit.shared,
                categories: permit.categories,
                removed: permit.removed,
                consent: permit.consent,
            };
            let outbox = vec![OutboxItem {
                referral: id,
                recipient: receiver.id.clone(),
                kind: OutboxKind::Referral,
            }];
            (Some(shared), outbox, ReferralStatus::Routed, None)
        }
        Err(refusal) => {
            warn!(referral = %id, receiver = %receiver.id, code = refusal.code(), "consent missing; nothing will be delivered");
            let reason = refusal.reason();
            let _ = history.apply(Transition {
                to: ReferralStatus::ConsentMissing,
                at,
                by: Actor::Gateway,
                reason: ReasonText::parse(&reason).ok(),
                reason_code: Some(refusal.code().to_owned()),
            });
            let index = u32::try_from(history.transitions().len().saturating_sub(1)).unwrap_or(0);
            let outbox = vec![OutboxItem {
                referral: id,
                recipient: sender.id.clone(),
                kind: OutboxKind::Status { transition: index },
            }];
            (None, outbox, ReferralStatus::ConsentMissing, Some(reason))
        }
    };
    let new = NewReferral {
        referral: Referral {
            id,
            request,
            history,
        },
        shared,
        outbox,
        consents: message_consent.into_iter().collect(),
    };
    let accepted = Accepted {
        id,
        reference,
        status: Some(status),
        receiver: Some(receiver.id.clone()),
        duplicate: false,
        reason,
        consent_refusal,
    };
    Ok(Ok((new, accepted)))
}

/// Who may report a status: the receiver reports its progress, the sender may cancel.
fn may_report(status: ReferralStatus, is_sender: bool, is_receiver: bool) -> bool {
    match status {
        ReferralStatus::Cancelled => is_sender,
        ReferralStatus::Accepted
        | ReferralStatus::Declined
        | ReferralStatus::InProgress
        | ReferralStatus::Completed => is_receiver,
        _ => false,
    }
}

async fn apply_status(
    state: &AppState,
    reporter: &Partner,
    update: StatusUpdate,
    already: &[Applied],
) -> Result<Result<Applied, Refused>, StoreError> {
    let not_found = || {
        refused(
            StatusCode::NOT_FOUND,
            "not-found",
            "referral",
            "no referral with this reference is visible to you",
        )
    };
    let id = match &update.referral {
        ReferralRef::Id(id) => Some(*id),
        ReferralRef::External(r) => match state.store.referral_by_source(&reporter.id, r).await? {
            Some(id) => Some(id),
            None if reporter.adapter == Format::Iwmo32 => {
                by_toewijzing_nummer(state, reporter, r.as_str(), already).await?
            }
            None => None,
        },
    };
    let Some(id) = id else {
        return Ok(Err(not_found()));
    };
    if let Some(same) = already
        .iter()
        .find(|a| a.id == id && a.status == update.status)
    {
        return Ok(Ok(same.clone()));
    }
    // Who may report and when the last change was: the referral's metadata is enough (its
    // payload is not read). An erased referral is not found, as its payload is gone.
    let Some(meta) = state.store.live_referral_meta(id).await? else {
        return Ok(Err(not_found()));
    };
    let sender = meta.sender;
    let receiver = meta.receiver;
    let is_sender = sender == reporter.id;
    let is_receiver = receiver.as_ref() == Some(&reporter.id);
    if !is_sender && !is_receiver {
        return Ok(Err(not_found()));
    }
    if !may_report(update.status, is_sender, is_receiver) {
        let who = if update.status == ReferralStatus::Cancelled {
            "the sender"
        } else {
            "the receiver"
        };
        return Ok(Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-permitted",
            "status",
            format!("only {who} may report {}", update.status),
        )));
    }
    // The store fills in the index of the change it appends.
    let notify: Vec<OutboxItem> = [Some(sender), receiver]
        .into_iter()
        .flatten()
        .filter(|p| p != &reporter.id)
        .map(|recipient| OutboxItem {
            referral: id,
            recipient,
            kind: OutboxKind::Status { transition: 0 },
        })
        .collect();
    // A reported time before the referral's last change cannot be when it happened (a format
    // that carries only a date, as iWmo's start and stop do, or a partner's clock running
    // behind): the change is recorded at the time the gateway received the report, so the
    // history stays in order and the times from referral to start and completion mean
    // something.
    // `updated_at` is the time of the last change in the history.
    let at = if update.at < meta.updated_at {
        now()
    } else {
        update.at
    };
    let transition = Transition {
        to: update.status,
        at,
        by: Actor::Partner(reporter.id.clone()),
        reason: update.reason,
        reason_code: update.reason_code,
    };
    match state.store.apply_transition(id, transition, notify).await? {
        TransitionOutcome::Applied(history) => {
            info!(referral = %id, status = %history.current(), "status applied");
            Ok(Ok(Applied {
                id,
                status: history.current(),
            }))
        }
        TransitionOutcome::Refused(e) => Ok(Err(refused(
            StatusCode::CONFLICT,
            "invalid-transition",
            "status",
            e.to_string(),
        ))),
        TransitionOutcome::NotFound => Ok(Err(not_found())),
    }
}

/// How many of a receiver's open referrals a WMO305/307's `ToewijzingNummer` is looked for
/// among (newest first).
const TOEWIJZING_CANDIDATES: u32 = 100_000;

/// The referral an iWmo receiver's WMO305 or WMO307 names by its `ToewijzingNummer`: the
/// number the gateway wrote for one of the referral's products in the WMO301 it relayed
/// ([`wijkbrug_adapters::welfare::toewijzing_nummer`]: 7 digits from the id, then the product
/// number), looked for among the referrals this message already changed (a stop lists every
/// product, and the first closes the referral), then those open with `reporter`; `None` when
/// it names no open referral, or more than one.
async fn by_toewijzing_nummer(
    state: &AppState,
    reporter: &Partner,
    nummer: &str,
    already: &[Applied],
) -> Result<Option<wijkbrug_adapters::model::ReferralId>, StoreError> {
    let Ok(nummer) = nummer.parse::<u32>() else {
        return Ok(None);
    };
    let names = |id: &wijkbrug_adapters::model::ReferralId| {
        wijkbrug_adapters::welfare::toewijzing_nummer(*id, 0) / 100 == nummer / 100
    };
    if let Some(a) = already.iter().find(|a| names(&a.id)) {
        return Ok(Some(a.id));
    }
    let candidates = state
        .store
        .open_received(&reporter.id, TOEWIJZING_CANDIDATES)
        .await?;
    let mut matching = candidates.into_iter().filter(|id| names(id));
    match (matching.next(), matching.next()) {
        (Some(id), None) => Ok(Some(id)),
        // Seven digits of the id can be shared by two open referrals: then the number names
        // neither for certain, and the update is refused rather than applied to a guess.
        (Some(_), Some(_)) => {
            warn!(partner = %reporter.id, "a ToewijzingNummer matches more than one open referral; not applied");
            Ok(None)
        }
        (None, _) => Ok(None),
    }
}

/// The request a partner may see of a stored referral: the sender its own, the receiver the
/// shared copy. `None` for anyone else.
pub fn view_for<'a>(
    stored: &'a crate::store::StoredReferral,
    partner: &PartnerId,
) -> Option<&'a ReferralRequest> {
    if &stored.referral.request.source.partner == partner {
        Some(&stored.referral.request)
    } else {
        stored
            .shared
            .as_ref()
            .filter(|s| &s.receiver == partner)
            .map(|s| &s.request)
    }
}
