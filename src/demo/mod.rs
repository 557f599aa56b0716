//! `wijkbrug demo`: the whole neighbourhood on one machine. The gateway runs in-process on the
//! configuration of `config/` (changed in memory only, [`network`]) with its SQLite file in the
//! data directory; every partner's system is simulated on loopback ([`sim`]); a generator
//! submits a steady stream of referrals in each sender's own format ([`generator`]) about test
//! residents ([`residents`]), whose consents are imported once at the start through the
//! administrator's API. `demo-partners.toml` in the data directory ([`manifest`]) tells a
//! person how to send their own messages. [`command`] is the command line.

pub mod client;
pub mod command;
pub mod generator;
pub mod manifest;
pub mod network;
pub mod residents;
pub mod scenarios;
pub mod sim;
pub mod stop;
pub mod tally;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::task::JoinHandle;
use wijkbrug_adapters::Format;

use crate::access::Role;
use crate::config::{ConfigProblem, Delivery};
use crate::server::{self, Running};
use client::GatewayClient;
use network::{DemoSettings, DemoTokens};
use residents::Residents;
use sim::inbox::{self, Inbox};
use sim::{SimPartner, SimSetup};
use stop::StopSwitch;
use tally::{Summary, Tally};

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    /// Referrals a second.
    pub rate: f64,
}

/// Why the demo could not start.
#[derive(Debug, Error)]
pub enum DemoError {
    #[error("{} problem(s) in the configuration in {}", .problems.len(), .dir.display())]
    Config {
        dir: PathBuf,
        problems: Vec<ConfigProblem>,
    },
    #[error("the data directory {} cannot be used: {reason}", .path.display())]
    DataDir { path: PathBuf, reason: String },
    #[error("{addr} is already in use: stop what runs there, or pick another address with --listen (port 0 picks a free one)")]
    AddressInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Tokens(String),
    #[error("the demo could not start: {0}")]
    Start(String),
}

/// A running demo.
pub struct Demo {
    /// The gateway's base URL for clients.
    pub base: String,
    pub addr: SocketAddr,
    /// `demo-partners.toml`.
    pub manifest: PathBuf,
    /// The operations account's token (for the dashboard).
    pub ops_token: Option<String>,
    pub tally: Arc<Tally>,
    started: Instant,
    running: Running,
    inboxes: Vec<Inbox>,
    tasks: Vec<JoinHandle<()>>,
    switch: StopSwitch,
}

/// Makes the data directory and checks it can be written in.
fn prepare_data_dir(path: &Path) -> Result<(), DemoError> {
    let fail = |e: std::io::Error| DemoError::DataDir {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(path).map_err(fail)?;
    let probe = path.join(".wijkbrug-demo-write-check");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// Refuses an address in use before anything is made (the gateway binds it again later; a
/// program taking it in between is still reported, by [`address_in_use`]).
fn check_address(addr: SocketAddr) -> Result<(), DemoError> {
    if addr.port() == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(DemoError::AddressInUse { addr })
        }
        Err(e) => Err(DemoError::Listen {
            addr,
            reason: e.to_string(),
        }),
    }
}

/// Whether `e` (from starting the gateway) is an address already in use.
fn address_in_use(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::AddrInUse)
}

/// A client's URL for an address the gateway listens on (`0.0.0.0` is reached on loopback).
fn client_base(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Demo {
    /// Starts the gateway, the simulated partners and the generator; returns once all run.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        check_address(options.listen)?;
        prepare_data_dir(&options.data_dir)?;
        let tokens = DemoTokens::read(&options.config_dir).map_err(DemoError::Tokens)?;
        let mut config =
            crate::config::load(&options.config_dir).map_err(|problems| DemoError::Config {
                dir: options.config_dir.clone(),
                problems,
            })?;
        let started = Instant::now();
        let settings = DemoSettings {
            listen: options.listen,
            data_dir: options.data_dir.clone(),
        };
        // Every push partner (and the demo's provider) gets a loopback port first: the
        // gateway's configuration points at it.
        let provider_listener = inbox::bind().await.map_err(start_error)?;
        let provider_url = inbox::url(provider_listener.local_addr().map_err(start_error)?)
            .map_err(start_error)?;
        network::apply(&mut config, &settings, provider_url);
        let mut listeners = Vec::new();
        for p in &config.partners.list {
            if p.id.as_str() == network::PROVIDER_ID {
                continue;
            }
            if let Delivery::Push { .. } = p.delivery {
                let l = inbox::bind().await.map_err(start_error)?;
                listeners.push((p.id.to_string(), l));
            }
        }
        for (id, l) in &listeners {
            let url = inbox::url(l.local_addr().map_err(start_error)?).map_err(start_error)?;
            network::point_at(&mut config, id, url);
        }
        listeners.push((network::PROVIDER_ID.to_owned(), provider_listener));

        let running = match server::start(config.clone()).await {
            Ok(r) => r,
            Err(e) if address_in_use(&e) => {
                return Err(DemoError::AddressInUse {
                    addr: options.listen,
                })
            }
            Err(e) => {
                let reason = format!("{e:#}");
                return Err(if reason.starts_with("binding") {
                    DemoError::Listen {
                        addr: options.listen,
                        reason,
                    }
                } else {
                    DemoError::Start(reason)
                });
            }
        };
        let base = client_base(running.addr);
        let gateway = GatewayClient::new(base.clone()).map_err(start_error)?;
        let tally = Arc::new(Tally::default());
        let (switch, stop) = stop::signal();
        let directory = network::partner_directory(&config);
        let formats: HashMap<String, Format> = config
            .partners
            .list
            .iter()
            .map(|p| (p.id.to_string(), p.adapter))
            .collect();
        let residents = Arc::new(Residents::generate());

        let mut demo = Demo {
            base: base.clone(),
            addr: running.addr,
            manifest: options.data_dir.join(manifest::FILE_NAME),
            ops_token: tokens
                .staff_with_role(&config, Role::Operations)
                .map(str::to_owned),
            tally: Arc::clone(&tally),
            started,
            running,
            inboxes: Vec::new(),
            tasks: Vec::new(),
            switch,
        };
        if let Err(e) = import_consents(&gateway, &config, &tokens, &residents).await {
            demo.stop().await;
            return Err(DemoError::Start(e));
        }

        let sim = |p: &crate::config::Partner| -> Option<Arc<SimPartner>> {
            Some(SimPartner::new(SimSetup {
                id: p.id.clone(),
                format: p.adapter,
                token: tokens.partner(p.id.as_str())?.to_owned(),
                gateway: gateway.clone(),
                directory: directory.clone(),
                formats: formats.clone(),
                tally: Arc::clone(&tally),
                stop: stop.clone(),
                started,
            }))
        };
        let mut senders = HashMap::new();
        for p in &config.partners.list {
            let Some(partner) = sim(p) else {
                continue;
            };
            senders.insert(
                p.id.to_string(),
                generator::Sender {
                    format: p.adapter,
                    token: partner_token(&tokens, p.id.as_str()),
                },
            );
            match p.delivery {
                Delivery::Mailbox => demo.tasks.push(sim::mailbox::spawn(partner)),
                Delivery::Push { .. } => {
                    let Some(i) = listeners.iter().position(|(id, _)| id == p.id.as_str()) else {
                        continue;
                    };
                    let (_, listener) = listeners.swap_remove(i);
                    match Inbox::serve(listener, partner) {
                        Ok(inbox) => demo.inboxes.push(inbox),
                        Err(e) => {
                            demo.stop().await;
                            return Err(start_error(e));
                        }
                    }
                }
            }
        }
        demo.tasks.push(generator::spawn(generator::GeneratorSetup {
            rate: options.rate,
            gateway,
            senders,
            residents,
            directory: config
                .partners
                .directory(config.settings.gateway.agb.clone()),
            tally,
            stop,
            run: run_tag(),
        }));
        let manifest = manifest::Manifest::new(&base, &config, &tokens);
        if let Err(e) = manifest.write(&options.data_dir) {
            let path = options.data_dir.clone();
            demo.stop().await;
            return Err(DemoError::DataDir {
                path,
                reason: e.to_string(),
            });
        }
        Ok(demo)
    }

    /// How long the demo has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the generator and the partners' answers, then the gateway (finishing its
    /// deliveries in flight, which the partners still answer), then the partners' servers.
    pub async fn stop(self) -> Summary {
        self.switch.raise();
        for t in self.tasks {
            let _ = t.await;
        }
        let dead_letters = count_dead_letters(&self.running).await;
        let counts = self.tally.snapshot();
        let elapsed = self.started.elapsed();
        if let Err(e) = self.running.stop().await {
            tracing::warn!(error = %e, "the gateway did not stop cleanly");
        }
        for inbox in self.inboxes {
            inbox.stop().await;
        }
        Summary {
            elapsed,
            counts,
            dead_letters,
        }
    }
}

fn start_error(e: impl std::fmt::Display) -> DemoError {
    DemoError::Start(e.to_string())
}

fn partner_token(tokens: &DemoTokens, id: &str) -> String {
    tokens.partner(id).unwrap_or_default().to_owned()
}

/// A short tag unique to this start (base 36 of the seconds since 2020), for references.
fn run_tag() -> String {
    let mut n = chrono::Utc::now()
        .timestamp()
        .saturating_sub(1_577_836_800)
        .max(0);
    let mut out = Vec::new();
    loop {
        let digit = u8::try_from(n % 36).unwrap_or(0);
        out.push(if digit < 10 {
            b'0' + digit
        } else {
            b'A' + digit - 10
        });
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The dead letters in the store (counted page by page).
async fn count_dead_letters(running: &Running) -> usize {
    let mut count = 0;
    let mut before = None;
    loop {
        match running.state.store.dead_letters(before, 500).await {
            Ok(page) if !page.is_empty() => {
                count += page.len();
                before = page.last().map(|d| d.row);
            }
            _ => return count,
        }
    }
}

/// Imports the residents' consents through the administrator's API, unless an earlier run on
/// this data directory did.
pub async fn import_consents(
    gateway: &GatewayClient,
    config: &crate::config::Config,
    tokens: &DemoTokens,
    residents: &Residents,
) -> Result<(), String> {
    const RECORDED_BY: &str = "wijkteam-centrum";
    let recorder = tokens
        .partner(RECORDED_BY)
        .ok_or("the demo tokens have no token for wijkteam-centrum")?;
    let admin = tokens
        .staff_with_role(config, Role::Admin)
        .ok_or("the demo tokens have no administrator's token")?;
    let Some(first) = residents.list.iter().find(|r| !r.consents.is_empty()) else {
        return Ok(());
    };
    let cannot = |e: reqwest::Error| format!("cannot reach the gateway: {e}");
    let known = gateway
        .get(
            &format!("/v1/consents?resident={}", first.bsn.as_str()),
            recorder,
        )
        .await
        .map_err(cannot)?;
    let recorded = known.body["consents"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    if known.status == 200 && recorded {
        return Ok(());
    }
    let answer = gateway
        .post_json(
            "/v1/admin/consents",
            admin,
            &residents.consent_import(RECORDED_BY),
        )
        .await
        .map_err(cannot)?;
    if answer.status == 201 {
        Ok(())
    } else {
        Err(format!(
            "importing the residents' consents failed ({}): {}",
            answer.status, answer.body
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_tags_are_short_and_plain() {
        let tag = run_tag();
        assert!((1..=8).contains(&tag.len()), "{tag}");
        assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn an_unusable_data_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let err = prepare_data_dir(&file.join("data")).unwrap_err();
        assert!(matches!(err, DemoError::DataDir { .. }));
        assert!(err.to_string().contains("a-file"), "{err}");
        prepare_data_dir(&dir.path().join("fresh/data")).unwrap();
    }

    #[test]
    fn clients_reach_an_unspecified_address_on_loopback() {
        assert_eq!(
            client_base("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            client_base("127.0.0.1:9".parse().unwrap()),
            "http://127.0.0.1:9"
        );
    }
}
