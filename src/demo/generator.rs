//! The steady stream of referrals: at the configured rate, a flow drawn from
//! [`scenarios::SCENARIOS`], about a drawn resident, written in the sending partner's own
//! format by its adapter and posted with its token, as the partner's system would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use wijkbrug_adapters::adapter::OutgoingReferral;
use wijkbrug_adapters::model::ReferralId;
use wijkbrug_adapters::{adapter_for, Directory, Format};

use super::client::GatewayClient;
use super::residents::Residents;
use super::scenarios::{self, Scenario};
use super::stop::Stop;
use super::tally::{bump, Tally};

/// The most submissions in flight at once.
const IN_FLIGHT: usize = 32;

/// A sending partner as the generator knows it.
#[derive(Clone, Debug)]
pub struct Sender {
    pub format: Format,
    pub token: String,
}

/// What the generator needs.
pub struct GeneratorSetup {
    /// Referrals a second.
    pub rate: f64,
    pub gateway: GatewayClient,
    /// By partner id.
    pub senders: HashMap<String, Sender>,
    pub residents: Arc<Residents>,
    pub directory: Directory,
    pub tally: Arc<Tally>,
    pub stop: Stop,
    /// Makes this run's references unique (a restarted demo on the same data directory sends
    /// new referrals, not repeats).
    pub run: String,
}

/// Starts the stream; it ends when the demo stops.
pub fn spawn(setup: GeneratorSetup) -> JoinHandle<()> {
    tokio::spawn(async move {
        let setup = Arc::new(setup);
        let rate = setup.rate.clamp(0.01, 1000.0);
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        let sequence = Arc::new(AtomicU64::new(0));
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = setup.stop.raised() => break,
            }
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                break;
            };
            let n = sequence.fetch_add(1, Ordering::Relaxed) + 1;
            let setup = Arc::clone(&setup);
            tokio::spawn(async move {
                submit(&setup, scenarios::draw(), n).await;
                drop(permit);
            });
        }
    })
}

/// Writes and posts one referral.
async fn submit(setup: &GeneratorSetup, scenario: &Scenario, n: u64) {
    let Some(sender) = setup.senders.get(scenario.sender) else {
        return;
    };
    let consenting = scenario.consented_only.then_some(scenario.to);
    let Some(resident) = setup.residents.pick(consenting) else {
        return;
    };
    let now = chrono::Utc::now();
    // The id a message of the sender's format carries where it has room for one (iWmo's
    // ReferentieAanbieder is the sender's own reference); the gateway gives its own.
    let own_id = ReferralId::from_parts(
        u64::try_from(now.timestamp_millis()).unwrap_or(0),
        rand::random(),
    );
    let reference = match sender.format {
        Format::Iwmo32 => own_id.to_string(),
        _ => format!("{}-{}-{n:05}", scenario.prefix, setup.run),
    };
    let Some(request) = scenarios::request(scenario, resident, &reference, now) else {
        return;
    };
    let body = match adapter_for(sender.format).encode_referral(
        OutgoingReferral {
            id: own_id,
            request: &request,
        },
        &setup.directory,
    ) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(partner = scenario.sender, error = %e, "the generator cannot write a referral");
            return;
        }
    };
    let answer = setup
        .gateway
        .post_message(
            scenario.sender,
            &sender.token,
            sender.format.media_type(),
            body,
        )
        .await;
    match answer {
        Ok(a) if a.status == 202 => {
            bump(&setup.tally.submitted);
            let refused = a.body["accepted"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["status"] == "consent_missing");
            if refused {
                bump(&setup.tally.consent_refused);
            }
        }
        Ok(a) => {
            bump(&setup.tally.rejected);
            // The answer names fields and rules only, never the message's values.
            tracing::warn!(partner = scenario.sender, status = a.status, answer = %a.body, "the gateway did not accept a generated referral");
        }
        Err(e) => {
            if !setup.stop.is_raised() {
                tracing::warn!(partner = scenario.sender, error = %e, "the generator cannot reach the gateway");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::network;
    use std::path::PathBuf;
    use wijkbrug_adapters::{DecodeContext, Record};

    /// Every flow writes in its sender's format, and the sender's adapter reads it back.
    #[test]
    fn every_scenario_is_written_in_its_senders_format() {
        let mut config = crate::config::load_with_env(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let settings = network::DemoSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("demo-data"),
        };
        network::apply(
            &mut config,
            &settings,
            reqwest::Url::parse("http://127.0.0.1:9/inbox").unwrap(),
        );
        let directory = config
            .partners
            .directory(config.settings.gateway.agb.clone());
        let residents = Residents::generate();
        for (i, scenario) in scenarios::SCENARIOS.iter().enumerate() {
            let partner = config.partners.get(scenario.sender).unwrap();
            let resident = residents.pick(Some(scenario.to)).unwrap();
            let reference = format!("{}-T-{i}", scenario.prefix);
            let now = chrono::Utc::now();
            let request = scenarios::request(scenario, resident, &reference, now).unwrap();
            let own = ReferralId::from_parts(1_762_000_000_000, [i as u8; 10]);
            let bytes = adapter_for(partner.adapter)
                .encode_referral(
                    OutgoingReferral {
                        id: own,
                        request: &request,
                    },
                    &directory,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", scenario.sender));
            let ctx = DecodeContext {
                sender: partner.id.clone(),
                directory: directory.clone(),
            };
            let records: Vec<_> = adapter_for(partner.adapter).decode(&bytes, &ctx).collect();
            assert_eq!(records.len(), 1, "{}", scenario.sender);
            let Ok(Record::Referral(r)) = &records[0] else {
                panic!("{}: {:?}", scenario.sender, records[0])
            };
            assert_eq!(
                r.request.resident.identity.as_ref().unwrap().bsn,
                resident.bsn
            );
        }
    }
}
