//! The simulated partner systems: one for each partner of the demo network, each speaking its
//! own format. A push partner's system is a real HTTP server on 127.0.0.1 ([`inbox`]); the
//! Werkplein's looks in its mailbox at the gateway ([`mailbox`]). They read what arrives with
//! their own adapter, drop what they already have (by referral id, as the Idempotency-Key
//! allows), and answer a referral after a while as their profile says ([`profile`]): accept or
//! decline, then start and complete, each a status update in their own format through the
//! gateway's API. Status notices about referrals they sent are counted.
//!
//! Nothing here reads the gateway's store: the systems know only what they received and what
//! the API tells them.

pub mod inbox;
pub mod mailbox;
pub mod outage;
pub mod profile;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wijkbrug_adapters::adapter::OutgoingStatus;
use wijkbrug_adapters::model::{
    PartnerId, ReasonText, ReferralId, ReferralRef, ReferralRequest, ReferralStatus, StatusUpdate,
};
use wijkbrug_adapters::{adapter_for, DecodeContext, Directory, Format, Record};

use super::client::GatewayClient;
use super::stop::Stop;
use super::tally::{bump, Tally};
use profile::Profile;

/// What became of a message a simulated system received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reception {
    /// Taken in (new referrals, status notices, or repeats of what it had): 200.
    Taken,
    /// Its intake refused the referral (422).
    Refused,
    /// It could not read the message (400).
    Unreadable,
}

/// One simulated partner system.
pub struct SimPartner {
    pub id: PartnerId,
    pub format: Format,
    pub profile: Profile,
    token: String,
    gateway: GatewayClient,
    directory: Directory,
    /// Every partner's format: a referral a Wmo provider sent (in iWmo) is a request for an
    /// assignment, answered with an assignment or a refusal only.
    formats: HashMap<String, Format>,
    tally: Arc<Tally>,
    stop: Stop,
    started: Instant,
    seen: Mutex<HashSet<ReferralId>>,
    refused: Mutex<HashSet<ReferralId>>,
}

/// What a simulated system is built from.
pub struct SimSetup {
    pub id: PartnerId,
    pub format: Format,
    pub token: String,
    pub gateway: GatewayClient,
    pub directory: Directory,
    pub formats: HashMap<String, Format>,
    pub tally: Arc<Tally>,
    pub stop: Stop,
    pub started: Instant,
}

impl SimPartner {
    pub fn new(setup: SimSetup) -> Arc<Self> {
        Arc::new(Self {
            profile: Profile::of(setup.id.as_str()),
            id: setup.id,
            format: setup.format,
            token: setup.token,
            gateway: setup.gateway,
            directory: setup.directory,
            formats: setup.formats,
            tally: setup.tally,
            stop: setup.stop,
            started: setup.started,
            seen: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the system is down now (by its outage schedule).
    pub fn is_down(&self) -> bool {
        self.profile
            .outage
            .is_some_and(|o| o.is_down(self.started.elapsed()))
    }

    /// Takes in a message from the gateway; `referral` is the id the delivery named (header or
    /// mailbox item). New referrals are answered later, in the background.
    pub fn receive(self: &Arc<Self>, body: &[u8], referral: Option<ReferralId>) -> Reception {
        let Some(sender) = self.sender_of(body) else {
            return Reception::Unreadable;
        };
        let ctx = DecodeContext {
            sender,
            directory: self.directory.clone(),
        };
        let records: Vec<_> = adapter_for(self.format).decode(body, &ctx).collect();
        if records.is_empty() {
            return Reception::Unreadable;
        }
        for record in records {
            match record {
                Ok(Record::Referral(incoming)) => {
                    let Some(id) = incoming.gateway_id.or(referral) else {
                        return Reception::Unreadable;
                    };
                    if self.is_new(id) {
                        if self.refuses_once(id) {
                            bump(&self.tally.refused_by_partner);
                            self.forget(id);
                            return Reception::Refused;
                        }
                        bump(&self.tally.delivered);
                        let me = Arc::clone(self);
                        tokio::spawn(me.answer(id, incoming.request));
                    }
                }
                Ok(Record::Status(_)) => bump(&self.tally.notices),
                Err(e) => {
                    // Field and rule only: decode errors never quote the input.
                    tracing::warn!(partner = %self.id, error = %e, "a simulated partner could not read a delivery");
                    return Reception::Unreadable;
                }
            }
        }
        Reception::Taken
    }

    /// Who the system takes a message to be from: the gateway, except that a FHIR
    /// ServiceRequest names its requester (the partner that referred), whose own reference
    /// identifies it.
    fn sender_of(&self, body: &[u8]) -> Option<PartnerId> {
        let requester = (self.format == Format::FhirR4)
            .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
            .flatten()
            .and_then(|bundle| {
                bundle["entry"].as_array()?.iter().find_map(|e| {
                    let r = &e["resource"];
                    let id = &r["requester"]["identifier"];
                    (r["resourceType"] == "ServiceRequest"
                        && id["system"] == "urn:wijkbrug:partner")
                        .then(|| id["value"].as_str())
                        .flatten()
                        .and_then(|v| PartnerId::parse(v).ok())
                })
            });
        requester.or_else(|| PartnerId::parse(super::network::GATEWAY_ID).ok())
    }

    /// Marks `id` seen; whether it was new.
    fn is_new(&self, id: ReferralId) -> bool {
        self.seen.lock().map(|mut s| s.insert(id)).unwrap_or(false)
    }

    fn forget(&self, id: ReferralId) {
        if let Ok(mut s) = self.seen.lock() {
            s.remove(&id);
        }
    }

    /// Whether the intake refuses this referral: drawn the first time, never again for the
    /// same referral (so an operator's retry of the dead letter goes through).
    fn refuses_once(&self, id: ReferralId) -> bool {
        let Ok(mut refused) = self.refused.lock() else {
            return false;
        };
        if refused.contains(&id) || !self.profile.refuses() {
            return false;
        }
        refused.insert(id)
    }

    /// The system's answers to one referral: decide, then (if accepted) start and complete,
    /// each after a drawn delay, until the demo stops.
    async fn answer(self: Arc<Self>, id: ReferralId, request: ReferralRequest) {
        let p = &self.profile;
        if !self.stop.sleep(Profile::delay(&p.decide)).await {
            return;
        }
        if !p.accepts() {
            let reason = p.decline_reason();
            self.report(id, &request, ReferralStatus::Declined, reason)
                .await;
            return;
        }
        if !self
            .report(id, &request, ReferralStatus::Accepted, None)
            .await
        {
            return;
        }
        if self.format == Format::Iwmo32 && self.is_assignment_request(id).await {
            // The provider that asked does the work; the desk only assigns it.
            return;
        }
        if !self.stop.sleep(Profile::delay(&p.start)).await
            || !self
                .report(id, &request, ReferralStatus::InProgress, None)
                .await
        {
            return;
        }
        if self.stop.sleep(Profile::delay(&p.complete)).await {
            self.report(id, &request, ReferralStatus::Completed, None)
                .await;
        }
    }

    /// Whether the referral came from a Wmo provider (asked through the API, as the desk's
    /// system would look it up).
    async fn is_assignment_request(&self, id: ReferralId) -> bool {
        match self
            .gateway
            .get(&format!("/v1/referrals/{id}"), &self.token)
            .await
        {
            Ok(a) if a.status == 200 => a.body["sender"]
                .as_str()
                .and_then(|s| self.formats.get(s))
                .is_some_and(|f| *f == Format::Iwmo32),
            _ => false,
        }
    }

    /// Sends one status update in the system's own format; whether the gateway applied it.
    async fn report(
        &self,
        id: ReferralId,
        request: &ReferralRequest,
        status: ReferralStatus,
        reason: Option<(&str, &str)>,
    ) -> bool {
        let Ok(mut update) = StatusUpdate::new(ReferralRef::Id(id), status, chrono::Utc::now())
        else {
            return false;
        };
        if let Some((code, text)) = reason {
            update.reason_code = Some(code.to_owned());
            update.reason = ReasonText::parse(text).ok();
        }
        let body = match adapter_for(self.format).encode_status(
            OutgoingStatus {
                id,
                request,
                update: &update,
            },
            &self.directory,
        ) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(partner = %self.id, referral = %id, error = %e, "a simulated partner cannot write its status update");
                return false;
            }
        };
        let answer = self
            .gateway
            .post_message(
                self.id.as_str(),
                &self.token,
                self.format.media_type(),
                body,
            )
            .await;
        match answer {
            Ok(a) if a.status == 200 => {
                bump(match status {
                    ReferralStatus::Accepted => &self.tally.accepted,
                    ReferralStatus::Declined => &self.tally.declined,
                    ReferralStatus::InProgress => &self.tally.started,
                    _ => &self.tally.completed,
                });
                true
            }
            Ok(a) => {
                // E.g. the referral was cancelled meanwhile (409) or erased (404).
                tracing::debug!(partner = %self.id, referral = %id, status = a.status, "a status update was not applied");
                false
            }
            Err(e) => {
                if !self.stop.is_raised() {
                    tracing::warn!(partner = %self.id, error = %e, "a simulated partner cannot reach the gateway");
                }
                false
            }
        }
    }
}
