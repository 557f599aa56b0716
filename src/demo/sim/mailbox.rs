//! The mailbox partner's system (the Werkplein): every few seconds it takes what waits in its
//! mailbox at the gateway (`GET /v1/partners/{id}/mailbox`), reads each item with its own
//! adapter, and acknowledges it (`POST .../mailbox/{item}/ack`). An item it could not read is
//! left unacknowledged, so the gateway offers it again.

use std::sync::Arc;

use tokio::task::JoinHandle;
use wijkbrug_adapters::model::ReferralId;

use super::{Reception, SimPartner};
use crate::demo::tally::bump;

/// The most items one look takes.
const PAGE: usize = 50;

/// Looks in `partner`'s mailbox until the demo stops.
pub fn spawn(partner: Arc<SimPartner>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while partner.stop.sleep(partner.profile.poll).await {
            look(&partner).await;
        }
    })
}

async fn look(partner: &Arc<SimPartner>) {
    let id = partner.id.as_str();
    let page = match partner
        .gateway
        .get(
            &format!("/v1/partners/{id}/mailbox?limit={PAGE}"),
            &partner.token,
        )
        .await
    {
        Ok(a) if a.status == 200 => a.body,
        Ok(a) => {
            tracing::warn!(partner = %id, status = a.status, "the mailbox did not answer");
            return;
        }
        Err(e) => {
            if !partner.stop.is_raised() {
                tracing::warn!(partner = %id, error = %e, "cannot reach the mailbox");
            }
            return;
        }
    };
    let items = page["items"].as_array().cloned().unwrap_or_default();
    for item in items {
        let (Some(item_id), Some(content)) = (item["id"].as_i64(), item["content"].as_str()) else {
            continue;
        };
        let referral = item["referral_id"]
            .as_str()
            .and_then(|r| ReferralId::parse(r).ok());
        if partner.receive(content.as_bytes(), referral) != Reception::Taken {
            continue;
        }
        let acked = partner
            .gateway
            .post_json(
                &format!("/v1/partners/{id}/mailbox/{item_id}/ack"),
                &partner.token,
                &serde_json::Value::Null,
            )
            .await;
        if matches!(acked, Ok(ref a) if a.status == 204) {
            bump(&partner.tally.acked);
        }
    }
}
