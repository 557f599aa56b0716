//! The referrals a run submits: the demo's flows ([`scenarios::SCENARIOS`]), each written by
//! the sending partner's own adapter in its native format (FHIR Bundle, iWmo WMO315, housing
//! JSON, CSV) about a demo resident who consented to the receiving sector, so every referral
//! is routed and delivered. Each gets a reference of its own (no duplicates).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use wijkbrug::config::Config;
use wijkbrug::demo::network::{DemoTokens, PROVIDER_ID};
use wijkbrug::demo::residents::Residents;
use wijkbrug::demo::scenarios::{self, Scenario};
use wijkbrug_adapters::adapter::OutgoingReferral;
use wijkbrug_adapters::model::ReferralId;
use wijkbrug_adapters::{adapter_for, Directory, Format};

/// Which flows a run draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// All of the demo's flows by their weights: every format.
    Demo,
    /// Only the Wmo provider's WMO315 requests (iWmo XML), the message the peers translate.
    Iwmo,
}

/// One message to submit.
pub struct Message {
    pub sender: &'static str,
    pub token: String,
    pub media_type: &'static str,
    pub body: Vec<u8>,
}

/// Writes the run's messages.
pub struct Traffic {
    flows: Vec<&'static Scenario>,
    total_weight: u32,
    residents: Residents,
    directory: Directory,
    senders: HashMap<&'static str, (Format, String)>,
    run: String,
    sequence: AtomicU64,
}

impl Traffic {
    pub fn new(config: &Config, tokens: &DemoTokens, mix: Mix) -> anyhow::Result<Self> {
        let flows: Vec<&'static Scenario> = scenarios::SCENARIOS
            .iter()
            .filter(|s| mix == Mix::Demo || s.sender == PROVIDER_ID)
            .collect();
        let mut senders = HashMap::new();
        for s in &flows {
            let partner = config
                .partners
                .get(s.sender)
                .ok_or_else(|| anyhow::anyhow!("the configuration has no partner {}", s.sender))?;
            let token = tokens
                .partner(s.sender)
                .ok_or_else(|| anyhow::anyhow!("no demo token for {}", s.sender))?;
            senders.insert(s.sender, (partner.adapter, token.to_owned()));
        }
        Ok(Self {
            total_weight: flows.iter().map(|s| s.weight).sum::<u32>().max(1),
            flows,
            residents: Residents::generate(),
            directory: config
                .partners
                .directory(config.settings.gateway.agb.clone()),
            senders,
            run: format!("{:x}", chrono::Utc::now().timestamp_millis()),
            sequence: AtomicU64::new(0),
        })
    }

    fn draw(&self) -> Option<&'static Scenario> {
        let mut n = rand::random_range(0..self.total_weight);
        for s in &self.flows {
            if n < s.weight {
                return Some(s);
            }
            n -= s.weight;
        }
        self.flows.first().copied()
    }

    /// The next referral, in its sender's format.
    pub fn next(&self) -> anyhow::Result<Message> {
        let scenario = self
            .draw()
            .ok_or_else(|| anyhow::anyhow!("no flows to draw from"))?;
        let (format, token) = self
            .senders
            .get(scenario.sender)
            .ok_or_else(|| anyhow::anyhow!("no sender {}", scenario.sender))?;
        let resident = self
            .residents
            .pick(Some(scenario.to))
            .ok_or_else(|| anyhow::anyhow!("no resident consented to {:?}", scenario.to))?;
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now();
        let own_id = ReferralId::from_parts(
            u64::try_from(now.timestamp_millis()).unwrap_or(0),
            rand::random(),
        );
        // iWmo's reference is the sender's own id; the others carry a reference of the run.
        let reference = match format {
            Format::Iwmo32 => own_id.to_string(),
            _ => format!("{}-LG{}-{n}", scenario.prefix, self.run),
        };
        let request = scenarios::request(scenario, resident, &reference, now)
            .ok_or_else(|| anyhow::anyhow!("cannot build a referral of {}", scenario.sender))?;
        let body = adapter_for(*format)
            .encode_referral(
                OutgoingReferral {
                    id: own_id,
                    request: &request,
                },
                &self.directory,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", scenario.sender))?;
        Ok(Message {
            sender: scenario.sender,
            token: token.clone(),
            media_type: format.media_type(),
            body,
        })
    }
}
