//! The running gateway's shared state: configuration, store, partner directory, the
//! per-partner inbound rate limits, and what operations read: the metrics registry, the push
//! partners' delivery health, the audit-chain watcher's latest walk and the cap on partner
//! requests in flight.
//!
//! Inbound rate limits are the partner's, not the process's: with a store that keeps them
//! for every instance on it (PostgreSQL, [`Store::shares_rate_limits`]) each request takes a
//! token from the partner's bucket in the store; with a store of one instance (SQLite) the
//! limiters are governor's, in this process.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use wijkbrug_adapters::model::ReferralId;
use wijkbrug_adapters::Directory;

use crate::access::{Permission, StaffAccount};
use crate::api::in_flight::InFlight;
use crate::api::problem::Problem;
use crate::audit_watch::ChainWatch;
use crate::config::{Config, Delivery, Partner};
use crate::delivery::health::{BreakerSettings, DeliveryHealth};
use crate::metrics::Metrics;
use crate::store::{RateBucket, RateDecision, Store};

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub directory: Directory,
    /// Wakes the delivery worker when rows were queued, so it need not wait for its poll.
    pub delivery_wake: Arc<tokio::sync::Notify>,
    /// Every push partner's delivery health and circuit breaker (fed by the delivery worker;
    /// [`DeliveryHealth::snapshot`] for the dashboard).
    pub delivery_health: DeliveryHealth,
    /// The audit chain's latest walk by the background watcher.
    pub audit_chain: Arc<ChainWatch>,
    /// The metrics registry and the intake metrics (`GET /metrics`).
    pub metrics: Metrics,
    /// The cap on partner requests in flight (`server.max_requests_in_flight`).
    pub in_flight: InFlight,
    limiters: Limiters,
}

/// Where the partners' inbound quotas are kept.
enum Limiters {
    /// In this process (the only instance): one governor limiter a partner.
    Local(HashMap<String, DefaultDirectRateLimiter>),
    /// In the store, shared by every instance on it.
    Shared,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let directory = config
            .partners
            .directory(config.settings.gateway.agb.clone());
        let limiters = if store.shares_rate_limits() {
            Limiters::Shared
        } else {
            Limiters::Local(
                config
                    .partners
                    .list
                    .iter()
                    .map(|p| {
                        let quota = Quota::per_second(p.inbound_rate.per_second)
                            .allow_burst(p.inbound_rate.burst);
                        (p.id.to_string(), RateLimiter::direct(quota))
                    })
                    .collect(),
            )
        };
        let mut registry = Metrics::registry();
        let delivery_health = DeliveryHealth::new(
            config
                .partners
                .list
                .iter()
                .filter(|p| matches!(p.delivery, Delivery::Push { .. }))
                .map(|p| p.id.as_str()),
            BreakerSettings::from(&config.settings.delivery),
            &mut registry,
        );
        let metrics = Metrics::new(registry, &config);
        let in_flight = InFlight::new(config.settings.server.max_requests_in_flight);
        Self {
            config,
            store,
            directory,
            delivery_wake: Arc::new(tokio::sync::Notify::new()),
            delivery_health,
            audit_chain: Arc::new(ChainWatch::default()),
            metrics,
            in_flight,
            limiters,
        }
    }

    /// The partner whose id is in the path, if the bearer token is one of its tokens.
    /// Unknown partner and wrong token look the same (401), so ids leak nothing; another
    /// partner's or a staff member's valid token gets 403.
    pub async fn authenticate_as(
        &self,
        partner: &str,
        headers: &HeaderMap,
    ) -> Result<&Partner, Problem> {
        let token = bearer(headers).ok_or_else(Problem::unauthorized)?;
        let Some(p) = self.config.partners.authenticate(partner, token) else {
            return Err(self.refusal_for_partner_route(token));
        };
        self.check_rate(p).await?;
        tracing::Span::current().record("partner", p.id.as_str());
        Ok(p)
    }

    /// The partner a bearer token belongs to (for routes without a partner in the path).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<&Partner, Problem> {
        let token = bearer(headers).ok_or_else(Problem::unauthorized)?;
        let p = self
            .config
            .partners
            .list
            .iter()
            .find_map(|p| self.config.partners.authenticate(p.id.as_str(), token))
            .ok_or_else(|| self.refusal_for_partner_route(token))?;
        self.check_rate(p).await?;
        tracing::Span::current().record("partner", p.id.as_str());
        Ok(p)
    }

    /// The staff account behind the bearer token, if its role grants `permission`: 401 for
    /// no or an unknown token, 403 for a partner's token or a role without the permission.
    /// The account is recorded on the request span (never the token).
    pub fn authorize_staff(
        &self,
        headers: &HeaderMap,
        permission: Permission,
    ) -> Result<&StaffAccount, Problem> {
        let token = bearer(headers).ok_or_else(Problem::unauthorized_staff)?;
        let Some(account) = self.config.staff.authenticate(token) else {
            return Err(if self.is_partner_token(token) {
                Problem::forbidden(
                    "this route is for the gateway's staff; a partner's token does not open it",
                )
            } else {
                Problem::unauthorized_staff()
            });
        };
        if !account.role.may(permission) {
            return Err(Problem::forbidden(format!(
                "the {} role may not use this route",
                account.role
            )));
        }
        tracing::Span::current().record("staff", account.audit_name().as_str());
        Ok(account)
    }

    /// Why a token that is not the path's partner's was refused: 403 for a staff token or
    /// another partner's, 401 otherwise.
    fn refusal_for_partner_route(&self, token: &str) -> Problem {
        if self.config.staff.authenticate(token).is_some() {
            Problem::forbidden(
                "this route is for partners' systems; a staff token does not open it",
            )
        } else if self.is_partner_token(token) {
            Problem::forbidden("this token belongs to another partner")
        } else {
            Problem::unauthorized()
        }
    }

    fn is_partner_token(&self, token: &str) -> bool {
        let mut any = false;
        for p in &self.config.partners.list {
            any |= self
                .config
                .partners
                .authenticate(p.id.as_str(), token)
                .is_some();
        }
        any
    }

    /// 429 when the partner is over its inbound quota. A shared quota the store cannot be
    /// asked about lets the request through (with a warning): the request needs the store
    /// anyway and fails there, so a 429 would only mislead.
    pub(crate) async fn check_rate(&self, partner: &Partner) -> Result<(), Problem> {
        match &self.limiters {
            Limiters::Local(limiters) => {
                let Some(limiter) = limiters.get(partner.id.as_str()) else {
                    return Ok(());
                };
                limiter.check().map_err(|not_until| {
                    self.metrics.inbound_rate_limited(partner.id.as_str());
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    Problem::rate_limited(wait.as_secs().max(1))
                })
            }
            Limiters::Shared => {
                match self
                    .store
                    .take_rate_token(
                        &RateBucket::Inbound(partner.id.clone()),
                        partner.inbound_rate,
                    )
                    .await
                {
                    Ok(RateDecision::Allowed) => Ok(()),
                    Ok(RateDecision::Limited { retry_after }) => {
                        self.metrics.inbound_rate_limited(partner.id.as_str());
                        let secs =
                            retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                        Err(Problem::rate_limited(secs.max(1)))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the shared rate limit could not be read; letting the request through");
                        Ok(())
                    }
                }
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// The current time (the one clock the request path reads), at the store's precision.
pub fn now() -> DateTime<Utc> {
    crate::store::now()
}

/// A new referral id: UUID v7 from the clock and 10 random bytes.
pub fn new_referral_id(at: DateTime<Utc>) -> ReferralId {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ReferralId::from_parts(millis, rand::random())
}

/// A new consent id (UUID v7).
pub fn new_consent_id() -> crate::store::ConsentId {
    crate::store::ConsentId(uuid::Uuid::now_v7())
}

pub type SharedState = Arc<AppState>;
