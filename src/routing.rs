//! Routing: which partner gets a referral whose sender named a sector rather than a partner.
//! Rules from `config/routing.toml`, first match wins; no match is a refusal, never a drop.

use thiserror::Error;
use wijkbrug_adapters::model::{PartnerId, ReferralRequest, Sector};

/// The routing rules, in file order.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {}

/// No rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no routing rule sends a referral from the {from} sector to the {to} sector for these needs; ask the gateway's operators to add one")]
pub struct NoRoute {
    pub from: Sector,
    pub to: Sector,
}

impl RoutingTable {
    /// The partner a referral for sector `to` goes to, sent by a partner of sector `from`.
    pub fn route(
        &self,
        request: &ReferralRequest,
        from: Sector,
        to: Sector,
    ) -> Result<PartnerId, NoRoute> {
        let _ = request;
        Err(NoRoute { from, to })
    }
}
