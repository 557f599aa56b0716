//! Settings and the partner network, from `config/` and the environment.
//!
//! Layers (the `config` crate): `config/default.toml`, then the optional environment file
//! `config/<WIJKBRUG_ENVIRONMENT>.toml`, then `WIJKBRUG__SECTION__KEY` variables. Partners come
//! from `config/partners/*.toml` (one file a partner), routing rules from
//! `config/routing.toml`, standing consents from `config/consents/*.toml`.
//!
//! Loading reads files; validation is a pure step that reports every problem at once
//! ([`ConfigProblem`]), which is what `wijkbrug check-config` prints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use wijkbrug_adapters::model::{
    AgbCode, Bsn, CategorySet, Consent, ConsentEffect, DataCategory, ExternalRef, Grantee,
    LifeDomain, MunicipalityCode, PartnerId, Purpose, Sector,
};
use wijkbrug_adapters::{Directory, DirectoryEntry, Format};

use crate::access::{Role, Staff, StaffAccount, StaffName};
use crate::auth::TokenHash;
use crate::routing::{PostcodeArea, RoutingTable, Rule};

/// Everything the gateway runs on, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub partners: Partners,
    pub routing: RoutingTable,
    /// Consents recorded in configuration (e.g. for the demo network).
    pub consents: Vec<Consent>,
    /// Staff accounts (`staff.toml`): operations, privacy officers, administrators.
    pub staff: Staff,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub log: LogSettings,
    pub gateway: GatewaySettings,
    pub delivery: DeliverySettings,
    pub audit: AuditSettings,
    pub retention: RetentionSettings,
}

/// `[retention]`: erasing the payloads of referrals that are done.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Payloads of completed, cancelled, declined, undeliverable and consent_missing referrals
    /// are erased this many days after their last status change.
    pub payload_days: u32,
    /// How often the retention job runs.
    pub interval: Duration,
}

/// `[audit]`: the audit log.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The environment variable that holds the key of the residents' pseudonyms.
    pub pseudonym_key_env: String,
    /// The key (the development key when the variable is not set outside production).
    pub pseudonym_key: crate::audit::PseudonymKey,
    /// Whether the key is the fixed development key (the variable was not set): the gateway
    /// warns at start; in production it is a configuration problem.
    pub development_key: bool,
    /// How often the background watcher walks the audit chain
    /// ([`crate::audit_watch::AuditChainWatcher`]): the events appended since its last walk.
    pub verify_interval: Duration,
    /// How often the watcher's walk is of the whole chain (also at start).
    pub whole_verify_interval: Duration,
}

/// `[delivery]`: the outbox worker.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// This instance's name on the leases it takes (default: `<hostname>-<pid>`).
    pub worker_id: String,
    /// How often the worker looks for due rows when nothing wakes it sooner.
    pub poll_interval: Duration,
    /// How long a claimed row stays leased to this worker; an attempt must finish within it.
    pub lease: Duration,
    /// The most rows one claim takes.
    pub claim_batch: usize,
    /// The first retry's backoff ceiling; it doubles with each attempt (full jitter).
    pub backoff_base: Duration,
    /// The ceiling of any one backoff (and of a partner's `Retry-After`).
    pub backoff_max: Duration,
    /// A row older than this is not retried again: it becomes a dead letter.
    pub max_age: Duration,
    /// How long a mailbox item stays hidden after it was offered, until it is offered again.
    pub mailbox_visibility: Duration,
    /// The most attempts in flight to one partner at a time.
    pub per_partner_concurrency: usize,
    /// A partner's circuit opens after this many failed attempts in a row (see
    /// [`crate::delivery::health::CircuitBreaker`]).
    pub circuit_failure_threshold: u32,
    /// How long an open circuit holds a partner's deliveries before one probe may go.
    pub circuit_cooldown: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where to listen, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    pub listen: SocketAddr,
    /// The largest request body accepted.
    pub body_limit_bytes: usize,
    /// How long a request may take before the gateway answers 408/503.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's line and headers (from its first byte,
    /// or from the end of the previous request on a kept-alive connection); the connection is
    /// closed after that.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body; the gateway answers 408 after that.
    pub body_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// The most partner-API requests (`/v1/partners/...`, `/v1/referrals/...`,
    /// `/v1/consents...`) being processed at once; beyond it the gateway answers 503 with
    /// Retry-After at once instead of queueing, but for an eighth of it more kept for work on
    /// referrals already taken (see [`crate::api::in_flight`]).
    pub max_requests_in_flight: usize,
    /// The address people reach the gateway at (`https://...` behind a proxy that ends TLS),
    /// if configured. An `https` address marks the dashboard's session cookie `Secure`.
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` headers are believed:
    /// the dashboard throttles failed sign-ins by the client address they name, and marks
    /// the session cookie `Secure` when they say the request came over https.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `[server.tls]`: serve HTTPS (and, with `client_ca`, verify client certificates)
    /// instead of plain HTTP.
    pub tls: Option<crate::tls::ServerTls>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `sqlite://<path>` or `postgres://...`. A relative SQLite path is under `data_dir`.
    pub url: String,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    /// Group commit: the most writes one commit carries, and how long a write that finds the
    /// writer idle waits for company (zero: none).
    pub group_commit_max_batch: usize,
    pub group_commit_max_wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive, e.g. `info,wijkbrug=debug`.
    pub filter: String,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The AGB code the gateway uses in iWmo messages.
    pub agb: Option<AgbCode>,
}

/// A rate: `per_second` sustained, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// How the gateway authenticates to a partner's endpoint.
#[derive(Debug, Clone)]
pub enum OutboundAuth {
    None,
    Bearer(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
}

/// How a partner receives.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The gateway pushes to this HTTP(S) endpoint; over https with the partner's own
    /// `[delivery.tls]` (CA bundle, client certificate) if it has one.
    Push {
        /// Parsed once, when the configuration is read (every push reuses it).
        url: reqwest::Url,
        auth: OutboundAuth,
        tls: Option<crate::tls::OutboundTls>,
    },
    /// The partner pulls from its mailbox.
    Mailbox,
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub sector: Sector,
    /// The format it speaks.
    pub adapter: Format,
    pub delivery: Delivery,
    /// Hashes of the API tokens it may use (two during a change-over).
    pub token_hashes: Vec<TokenHash>,
    /// Fingerprints of the client certificates it must present with its token (empty: none
    /// needed; two during a change-over). See [`crate::api::client_cert`].
    pub client_certs: Vec<crate::tls::CertFingerprint>,
    /// Requests a second it may make to the gateway.
    pub inbound_rate: RateLimit,
    /// Deliveries a second the gateway may make to it.
    pub outbound_rate: RateLimit,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
    pub agb: Option<AgbCode>,
    pub municipality: Option<MunicipalityCode>,
}

/// The partner network.
#[derive(Debug, Clone, Default)]
pub struct Partners {
    pub list: Vec<Partner>,
}

impl Partners {
    pub fn get(&self, id: &str) -> Option<&Partner> {
        self.list.iter().find(|p| p.id.as_str() == id)
    }

    /// The directory the adapters address partners by.
    pub fn directory(&self, gateway_agb: Option<AgbCode>) -> Directory {
        Directory {
            entries: self
                .list
                .iter()
                .map(|p| DirectoryEntry {
                    partner: p.id.clone(),
                    sector: p.sector,
                    agb: p.agb.clone(),
                    municipality: p.municipality.clone(),
                })
                .collect(),
            gateway_agb,
        }
    }
}

/// One problem in the configuration: where (file and key) and what is wrong. Never holds a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `environment` for a `WIJKBRUG__...` variable).
    pub source: String,
    /// The key, e.g. `server.listen` or `delivery.url`.
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.source, self.key, self.problem)
        }
    }
}

impl Partners {
    /// The partner `partner_id` if `presented_token` is one of its tokens. Every configured
    /// hash is compared, in constant time, whatever the outcome of the others.
    pub fn authenticate(&self, partner_id: &str, presented_token: &str) -> Option<&Partner> {
        let partner = self.get(partner_id)?;
        let presented = TokenHash::of(presented_token);
        let mut ok = subtle::Choice::from(0u8);
        for hash in &partner.token_hashes {
            ok |= hash.0.ct_eq(&presented.0);
        }
        bool::from(ok).then_some(partner)
    }

    /// The partner `presented_token` belongs to, if any (every partner's hashes compared).
    pub fn owner_of(&self, presented_token: &str) -> Option<&Partner> {
        let mut owner = None;
        for p in &self.list {
            if self.authenticate(p.id.as_str(), presented_token).is_some() && owner.is_none() {
                owner = Some(p);
            }
        }
        owner
    }

    /// Whether any partner must present a client certificate.
    pub fn any_client_certs(&self) -> bool {
        self.list.iter().any(|p| !p.client_certs.is_empty())
    }
}

impl Config {
    /// One line for `check-config`: how much was configured.
    pub fn summary(&self) -> String {
        format!(
            "{} partners, {} routing rules, {} consents, {} staff accounts",
            self.partners.list.len(),
            self.routing.rules.len(),
            self.consents.len(),
            self.staff.accounts.len()
        )
    }
}

/// Loads and validates the configuration in `dir`, reporting every problem at once. Reads
/// `WIJKBRUG_ENVIRONMENT`, `WIJKBRUG__...` overrides and the partners' secrets from the
/// process environment.
pub fn load(dir: &Path) -> Result<Config, Vec<ConfigProblem>> {
    load_with_env(dir, process_env())
}

/// [`load`] with an explicit environment instead of the process's (for tests, which would
/// otherwise race on the process-global environment).
pub fn load_with_env<I>(dir: &Path, env: I) -> Result<Config, Vec<ConfigProblem>>
where
    I: IntoIterator<Item = (String, String)>,
{
    let env: HashMap<String, String> = env.into_iter().collect();
    let mut problems = Problems::default();

    let settings = match layered_settings(dir, &env, true) {
        Ok(layers) => validate_settings(dir, &layers, &env, &mut problems),
        Err(p) => {
            problems.0.extend(p);
            None
        }
    };

    let files = read_partner_files(dir, &mut problems);
    let identities: Vec<Option<PartnerIdentity>> = files
        .iter()
        .map(|f| partner_identity(f, &mut problems))
        .collect();
    check_duplicate_ids(&files, &mut problems);
    // Every partner whose file names a valid id, even if something else in it is wrong, so
    // one problem does not cascade into "unknown partner" for every route and consent.
    let known: HashMap<String, Option<Sector>> = files
        .iter()
        .filter_map(|f| Some((f.id()?.to_string(), f.sector())))
        .collect();
    let mut partners = Vec::new();
    for (file, identity) in files.iter().zip(identities) {
        if let Some(p) = validate_partner(dir, file, identity, &env, &mut problems) {
            partners.push(p);
        }
    }

    let routing = read_routing(dir, &known, &mut problems);
    let consents = read_consents(dir, &known, &mut problems);
    let staff = read_staff(dir, &mut problems);
    check_tokens_unique(&partners, &staff, &mut problems);
    if let Some(settings) = &settings {
        check_lease_covers_timeouts(settings, &partners, &mut problems);
        check_client_certs_verifiable(settings, &partners, &mut problems);
    }

    match settings {
        Some(settings) if problems.0.is_empty() => Ok(Config {
            settings,
            partners: Partners { list: partners },
            routing,
            consents,
            staff,
        }),
        _ => Err(problems.into_vec()),
    }
}

/// A delivery attempt must finish within the lease, or a second worker could take the row
/// while the first is still sending: every push partner's timeout must be shorter.
fn check_lease_covers_timeouts(settings: &Settings, partners: &[Partner], problems: &mut Problems) {
    let lease = settings.delivery.lease;
    for p in partners {
        if matches!(p.delivery, Delivery::Push { .. }) && p.timeout >= lease {
            problems.push(
                &format!("partners/{}.toml", p.id),
                "timeout_ms",
                format!(
                    "must be shorter than delivery.lease_secs ({} s): an attempt must finish within its lease",
                    lease.as_secs()
                ),
            );
        }
    }
}

/// A partner that must present a client certificate can only do so to a gateway that serves
/// TLS and asks for client certificates.
fn check_client_certs_verifiable(
    settings: &Settings,
    partners: &[Partner],
    problems: &mut Problems,
) {
    let asks = settings.server.tls.as_ref().is_some_and(|t| t.client_ca);
    for p in partners {
        if !p.client_certs.is_empty() && !asks {
            problems.push(
                &format!("partners/{}.toml", p.id),
                "client_cert_sha256",
                "needs server.tls with client_ca set: the gateway only sees client certificates \
                 on TLS connections where it asks for them",
            );
        }
    }
}

/// The settings alone (`default.toml`, the environment's layer and `WIJKBRUG__` variables,
/// the audit key), without partners, routing or consents: for tools such as `audit verify`
/// that need only the store.
pub fn load_settings(dir: &Path) -> Result<Settings, Vec<ConfigProblem>> {
    let env: HashMap<String, String> = process_env().into_iter().collect();
    let mut problems = Problems::default();
    let settings = match layered_settings(dir, &env, true) {
        Ok(layers) => validate_settings(dir, &layers, &env, &mut problems),
        Err(p) => {
            problems.0.extend(p);
            None
        }
    };
    match settings {
        Some(settings) if problems.0.is_empty() => Ok(settings),
        _ => Err(problems.into_vec()),
    }
}

/// The process environment's variables that are valid Unicode.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The environment variable naming the optional environment file `<dir>/<name>.toml`.
pub const ENVIRONMENT_VAR: &str = "WIJKBRUG_ENVIRONMENT";

/// The prefix of override variables: `WIJKBRUG__SERVER__LISTEN` sets `server.listen`.
pub const ENV_PREFIX: &str = "WIJKBRUG";

/// The largest `server.max_requests_in_flight` accepted (a cap above it bounds nothing).
pub const MAX_REQUESTS_IN_FLIGHT: usize = 1_000_000;

/// The `source` of a problem in a `WIJKBRUG__...` variable.
pub const ENVIRONMENT_SOURCE: &str = "environment";

// ---------------------------------------------------------------------------------------
// Problems

#[derive(Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, source: &str, key: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ConfigProblem {
            source: source.to_owned(),
            key: key.into(),
            problem: problem.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems in the order found, each once.
    pub(crate) fn into_vec(self) -> Vec<ConfigProblem> {
        let mut out: Vec<ConfigProblem> = Vec::with_capacity(self.0.len());
        for p in self.0 {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Records `r`'s error at `key` and gives its value.
    fn check<T, E: std::fmt::Display>(
        &mut self,
        source: &str,
        key: &str,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| self.push(source, key, e.to_string())).ok()
    }
}

// ---------------------------------------------------------------------------------------
// Settings: default.toml, <environment>.toml, WIJKBRUG__ variables

/// The settings files (`default.toml`, `<environment>.toml`) and `WIJKBRUG__` variables.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
#[allow(dead_code)] // the schema of the whole; the sections are read one by one
struct RawSettings {
    /// The HTTP server.
    server: RawServer,
    /// The durable store.
    store: RawStore,
    /// Logging.
    log: RawLog,
    /// The gateway's own identity in the partners' standards.
    gateway: RawGateway,
    /// The delivery worker.
    delivery: RawDeliverySettings,
    /// The audit log.
    audit: RawAudit,
    /// Retention of payloads.
    retention: RawRetention,
}

/// `[retention]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    /// Days after the last status change of a done referral until its payload is erased
    /// (default 365).
    payload_days: u64,
    /// How often the retention job runs, in seconds (default 3600).
    interval_secs: u64,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            payload_days: 365,
            interval_secs: 3600,
        }
    }
}

/// `[audit]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAudit {
    /// The environment variable holding the key of the residents' pseudonyms.
    pseudonym_key_env: String,
    /// How often the chain is walked in the background, in seconds (default 300): the events
    /// appended since the last walk.
    verify_interval_secs: u64,
    /// How often the background walk is of the whole chain, in seconds (default 86,400).
    whole_verify_interval_secs: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            pseudonym_key_env: "WIJKBRUG_PSEUDONYM_KEY".into(),
            verify_interval_secs: 300,
            whole_verify_interval_secs: 86_400,
        }
    }
}

/// `[delivery]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDeliverySettings {
    /// This instance's name on its leases; empty: `<hostname>-<pid>`.
    worker_id: String,
    /// How often to look for due rows, in milliseconds (default 200).
    poll_interval_ms: u64,
    /// How long a claimed row stays leased, in seconds (default 60).
    lease_secs: u64,
    /// The most rows one claim takes (default 64).
    claim_batch: u64,
    /// The first retry's backoff ceiling, in milliseconds (default 500).
    backoff_base_ms: u64,
    /// The ceiling of any backoff and of a partner's Retry-After, in seconds (default 300).
    backoff_max_secs: u64,
    /// Rows older than this become dead letters instead of being retried, in seconds
    /// (default 86400).
    max_age_secs: u64,
    /// How long an offered mailbox item stays hidden, in seconds (default 300).
    mailbox_visibility_secs: u64,
    /// The most attempts in flight to one partner (default 4).
    per_partner_concurrency: u64,
    /// Failed attempts in a row that open a partner's circuit (default 5).
    circuit_failure_threshold: u64,
    /// How long an open circuit waits before one probe, in seconds (default 30).
    circuit_cooldown_secs: u64,
}

impl Default for RawDeliverySettings {
    fn default() -> Self {
        Self {
            worker_id: String::new(),
            poll_interval_ms: 200,
            lease_secs: 60,
            claim_batch: 64,
            backoff_base_ms: 500,
            backoff_max_secs: 300,
            max_age_secs: 86_400,
            mailbox_visibility_secs: 300,
            per_partner_concurrency: 4,
            circuit_failure_threshold: 5,
            circuit_cooldown_secs: 30,
        }
    }
}

/// The machine's host name (`HOSTNAME`, else /etc/hostname), if it has one.
pub fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// The default worker id: `<hostname>-<pid>`, or a random name when the host has none.
fn default_worker_id() -> String {
    let host = host_name().unwrap_or_else(|| format!("wijkbrug-{:08x}", rand::random::<u32>()));
    format!("{host}-{}", std::process::id())
}

/// `[server]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    /// Address and port to listen on, e.g. `127.0.0.1:8080`; port 0 picks a free one.
    listen: String,
    /// The largest request body accepted, in bytes (default 8 MiB).
    body_limit_bytes: u64,
    /// How long one request may take, in seconds (default 30).
    request_timeout_secs: u64,
    /// How long a client may take to send the request line and headers, in seconds (default 10).
    header_read_timeout_secs: u64,
    /// How long a client may take to send the body, in seconds (default 20).
    body_read_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests, in seconds (default 10).
    shutdown_grace_secs: u64,
    /// The most partner-API requests processed at once; more get 503 at once (default 512).
    max_requests_in_flight: u64,
    /// The address people reach the gateway at; empty: not configured.
    public_url: String,
    /// IP addresses of trusted reverse proxies, separated by commas; empty: none.
    trusted_proxies: String,
    /// Serve HTTPS instead of plain HTTP (see `[server.tls]`).
    tls: Option<RawServerTls>,
}

/// `[server.tls]`. Paths are relative to the configuration folder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServerTls {
    /// The server's certificate chain (PEM, leaf first).
    cert: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    key: Option<PathBuf>,
    /// The CA(s) (PEM) partners' client certificates are verified against; set, the gateway
    /// asks every client for a certificate (partners with `client_cert_sha256` must send one).
    client_ca: Option<PathBuf>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 20,
            shutdown_grace_secs: 10,
            max_requests_in_flight: 512,
            public_url: String::new(),
            trusted_proxies: String::new(),
            tls: None,
        }
    }
}

/// `server.public_url`: empty, or an `http://` or `https://` address with a host.
fn parse_public_url(url: &str) -> Result<Option<String>, &'static str> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://, e.g. https://wijkbrug.example.nl")?;
    let host = host.split('/').next().unwrap_or_default();
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err("must name a host after the scheme, e.g. https://wijkbrug.example.nl");
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

/// `server.trusted_proxies`: IP addresses separated by commas (empty: none).
fn parse_ip_list(list: &str) -> Result<Vec<std::net::IpAddr>, &'static str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| "must be IP addresses separated by commas, e.g. 10.0.0.5, ::1")
        })
        .collect()
}

/// `[store]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    /// `sqlite://<path>` (relative paths are under `data_dir`) or `postgres://...`.
    url: String,
    /// The folder for the SQLite file and other data.
    data_dir: PathBuf,
    /// The most connections the pool opens.
    max_connections: u32,
    /// Group commit: the most intakes one commit carries.
    group_commit_max_batch: u64,
    /// Group commit: how long a write that finds the writer idle waits for company, in
    /// milliseconds (0: none; batches then grow with the load by themselves).
    group_commit_max_wait_ms: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://wijkbrug.db".into(),
            data_dir: PathBuf::from("data"),
            max_connections: 8,
            group_commit_max_batch: 64,
            group_commit_max_wait_ms: 0,
        }
    }
}

/// `[log]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    /// `text` (for people) or `json` (for log collectors).
    format: String,
    /// A tracing `EnvFilter` directive, e.g. `info,wijkbrug=debug`.
    filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// `[gateway]`
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGateway {
    /// The AGB code the gateway uses as sender/receiver of iWmo messages (8 digits).
    agb: Option<String>,
}

/// The settings layers merged by the `config` crate, and where each key was set.
pub(crate) struct Layers {
    /// Sections of settings.
    table: config::Map<String, config::Value>,
    /// The layer files that were read, lowest first: display name and parsed table.
    files: Vec<(String, toml::Table)>,
    /// The `section.key`s set by `WIJKBRUG__` variables.
    from_env: Vec<String>,
    default_source: String,
}

impl Layers {
    /// Where `section.key` (or a whole section, for an empty key) got its value.
    fn source_of(&self, section: &str, key: &str) -> String {
        let path = if key.is_empty() {
            section.to_owned()
        } else {
            format!("{section}.{key}")
        };
        if self
            .from_env
            .iter()
            .any(|k| *k == path || k.starts_with(&format!("{path}.")))
        {
            return ENVIRONMENT_SOURCE.to_owned();
        }
        for (name, table) in self.files.iter().rev() {
            let section_table = table.get(section).and_then(toml::Value::as_table);
            let present = match section_table {
                Some(t) => key.is_empty() || t.contains_key(key),
                None => table.contains_key(section) && key.is_empty(),
            };
            if present {
                return name.clone();
            }
        }
        self.default_source.clone()
    }
}

/// Reads the settings layers: `default.toml` (required when `require_default`), the
/// environment file, `WIJKBRUG__` variables.
pub(crate) fn layered_settings(
    dir: &Path,
    env: &HashMap<String, String>,
    require_default: bool,
) -> Result<Layers, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let default = dir.join("default.toml");
    let default_source = default.display().to_string();
    let mut builder = config::Config::builder();
    let mut files = Vec::new();
    let mut add = |path: PathBuf, problems: &mut Problems| {
        let source = path.display().to_string();
        let text = problems.check(&source, "", std::fs::read_to_string(&path))?;
        let table = parse_toml(&source, &text, problems)?;
        files.push((source, table));
        Some(config::File::from_str(&text, config::FileFormat::Toml))
    };
    if default.is_file() {
        if let Some(f) = add(default, &mut problems) {
            builder = builder.add_source(f);
        }
    } else if require_default {
        problems.push(
            &default_source,
            "",
            "missing: the configuration folder needs a default.toml (is --config the right folder?)",
        );
    }
    if let Some(name) = env.get(ENVIRONMENT_VAR).filter(|n| !n.is_empty()) {
        if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            let file = dir.join(format!("{name}.toml"));
            if file.is_file() {
                if let Some(f) = add(file, &mut problems) {
                    builder = builder.add_source(f);
                }
            }
        } else {
            problems.push(
                ENVIRONMENT_SOURCE,
                ENVIRONMENT_VAR,
                "must be a name of letters, digits, '-' and '_' (it names <config>/<name>.toml)",
            );
        }
    }
    let prefix = format!("{ENV_PREFIX}__");
    let overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let from_env = overrides
        .keys()
        .map(|k| k[prefix.len()..].to_lowercase().replace("__", "."))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .separator("__")
            .source(Some(overrides)),
    );
    let built = builder.build().and_then(|c| c.cache.into_table());
    match built {
        Ok(table) if problems.0.is_empty() => Ok(Layers {
            table,
            files,
            from_env,
            default_source,
        }),
        Ok(_) => Err(problems.into_vec()),
        Err(e) => {
            problems.push(&default_source, "", e.to_string());
            Err(problems.into_vec())
        }
    }
}

/// The problem in a `config` crate deserialisation error, without its location.
fn config_error_text(e: config::ConfigError) -> String {
    match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::At { error, .. } => config_error_text(*error),
        other => other.to_string(),
    }
}

/// The gateway's AGB code (`gateway.agb`) from the settings layers, looking at nothing else
/// (for tools such as `translate` that must work with an incomplete configuration).
pub(crate) fn gateway_agb(
    dir: &Path,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) -> Option<AgbCode> {
    let layers = match layered_settings(dir, env, false) {
        Ok(t) => t,
        Err(p) => {
            problems.0.extend(p);
            return None;
        }
    };
    let value = layers
        .table
        .get("gateway")
        .and_then(|g| g.clone().into_table().ok())
        .and_then(|mut g| g.remove("agb"))?;
    let source = layers.source_of("gateway", "agb");
    let text = problems.check(
        &source,
        "gateway.agb",
        value
            .into_string()
            .map_err(|_| "must be a string of 8 digits"),
    )?;
    problems.check(&source, "gateway.agb", AgbCode::parse(&text))
}

/// Reads one section: reports its unknown keys and each key whose value has the wrong type,
/// and reads the rest (a key with a problem takes its default, so the others are still
/// checked; the problem is reported all the same).
fn settings_section<T: for<'de> Deserialize<'de> + Default>(
    layers: &Layers,
    name: &str,
    problems: &mut Problems,
) -> Option<T> {
    let Some(value) = layers.table.get(name) else {
        return Some(T::default());
    };
    let Ok(mut inner) = value.clone().into_table() else {
        problems.push(
            &layers.source_of(name, ""),
            name,
            "must be a table of settings",
        );
        return None;
    };
    let allowed = fields_of::<T>();
    let mut keys: Vec<String> = inner.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let src = layers.source_of(name, &key);
        if !allowed.contains(&key.as_str()) {
            problems.push(
                &src,
                format!("{name}.{key}"),
                unknown_key_message(&key, name, allowed),
            );
            inner.remove(&key);
            continue;
        }
        let Some(v) = inner.get(&key) else { continue };
        let single: config::Map<String, config::Value> = [(key.clone(), v.clone())].into();
        let single = config::Value::new(None, config::ValueKind::Table(single));
        if let Err(e) = single.try_deserialize::<T>() {
            problems.push(&src, format!("{name}.{key}"), config_error_text(e));
            inner.remove(&key);
        }
    }
    let value = config::Value::new(None, config::ValueKind::Table(inner));
    match value.try_deserialize::<T>() {
        // A key with the wrong type was reported above and read as its default here.
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(&layers.source_of(name, ""), name, config_error_text(e));
            None
        }
    }
}

/// Reports unknown sections and keys and reads and checks every setting.
fn validate_settings(
    dir: &Path,
    layers: &Layers,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) -> Option<Settings> {
    let sections = fields_of::<RawSettings>();
    let mut names: Vec<&String> = layers.table.keys().collect();
    names.sort();
    for name in names {
        if !sections.contains(&name.as_str()) {
            problems.push(
                &layers.source_of(name, ""),
                name.as_str(),
                unknown_key_message(name, "", sections),
            );
        }
    }
    let server = settings_section::<RawServer>(layers, "server", problems);
    let store = settings_section::<RawStore>(layers, "store", problems);
    let log = settings_section::<RawLog>(layers, "log", problems);
    let gateway = settings_section::<RawGateway>(layers, "gateway", problems);
    let delivery = settings_section::<RawDeliverySettings>(layers, "delivery", problems);
    let audit = settings_section::<RawAudit>(layers, "audit", problems);
    let retention = settings_section::<RawRetention>(layers, "retention", problems);
    let src = |s: &str, k: &str| layers.source_of(s, k);
    let positive = |problems: &mut Problems, s: &str, k: &str, n: u64| -> Option<u64> {
        if n == 0 {
            problems.push(&src(s, k), format!("{s}.{k}"), "must be at least 1");
            None
        } else {
            Some(n)
        }
    };

    let server = server.and_then(|r| {
        let listen = problems.check(
            &src("server", "listen"),
            "server.listen",
            r.listen.parse::<SocketAddr>().map_err(|_| {
                "must be an IP address and port, e.g. 127.0.0.1:8080 or [::1]:8080 (port 0 picks a free one)"
            }),
        );
        let body = positive(problems, "server", "body_limit_bytes", r.body_limit_bytes)
            .and_then(|n| {
                problems.check(
                    &src("server", "body_limit_bytes"),
                    "server.body_limit_bytes",
                    usize::try_from(n).map_err(|_| "is too large for this machine"),
                )
            });
        let timeout = positive(
            problems,
            "server",
            "request_timeout_secs",
            r.request_timeout_secs,
        );
        let public_url = problems.check(
            &src("server", "public_url"),
            "server.public_url",
            parse_public_url(&r.public_url),
        );
        let trusted_proxies = problems.check(
            &src("server", "trusted_proxies"),
            "server.trusted_proxies",
            parse_ip_list(&r.trusted_proxies),
        );
        let tls = match &r.tls {
            None => Some(None),
            Some(t) => server_tls(dir, t, &src("server", "tls"), problems).map(Some),
        };
        let header_read = positive(
            problems,
            "server",
            "header_read_timeout_secs",
            r.header_read_timeout_secs,
        );
        let body_read = positive(
            problems,
            "server",
            "body_read_timeout_secs",
            r.body_read_timeout_secs,
        );
        let max_in_flight = positive(
            problems,
            "server",
            "max_requests_in_flight",
            r.max_requests_in_flight,
        )
        .and_then(|n| {
            problems.check(
                &src("server", "max_requests_in_flight"),
                "server.max_requests_in_flight",
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_REQUESTS_IN_FLIGHT)
                    .ok_or("must be at most 1000000"),
            )
        });
        if let (Some(body), Some(request)) = (body_read, timeout) {
            if body >= request {
                problems.push(
                    &src("server", "body_read_timeout_secs"),
                    "server.body_read_timeout_secs",
                    "must be less than server.request_timeout_secs (a slow body gets 408, not the \
                     request's 503)",
                );
            }
        }
        Some(ServerSettings {
            listen: listen?,
            body_limit_bytes: body?,
            request_timeout: Duration::from_secs(timeout?),
            header_read_timeout: Duration::from_secs(header_read?),
            body_read_timeout: Duration::from_secs(body_read?),
            shutdown_grace: Duration::from_secs(r.shutdown_grace_secs),
            max_requests_in_flight: max_in_flight?,
            public_url: public_url?,
            trusted_proxies: trusted_proxies?,
            tls: tls?,
        })
    });

    let store = store.and_then(|r| {
        let url_ok = r.url.starts_with("sqlite:")
            || r.url.starts_with("postgres://")
            || r.url.starts_with("postgresql://");
        if !url_ok {
            problems.push(
                &src("store", "url"),
                "store.url",
                "must be sqlite://<path> or postgres://...",
            );
        }
        let max_connections = positive(
            problems,
            "store",
            "max_connections",
            u64::from(r.max_connections),
        );
        let batch = positive(
            problems,
            "store",
            "group_commit_max_batch",
            r.group_commit_max_batch,
        )
        .and_then(|n| {
            problems.check(
                &src("store", "group_commit_max_batch"),
                "store.group_commit_max_batch",
                usize::try_from(n).map_err(|_| "is too large for this machine"),
            )
        });
        if r.data_dir.as_os_str().is_empty() {
            problems.push(
                &src("store", "data_dir"),
                "store.data_dir",
                "must not be empty",
            );
        }
        Some(StoreSettings {
            url: url_ok.then_some(r.url)?,
            data_dir: r.data_dir,
            max_connections: max_connections.map(|_| r.max_connections)?,
            group_commit_max_batch: batch?,
            group_commit_max_wait: Duration::from_millis(r.group_commit_max_wait_ms),
        })
    });

    let log = log.and_then(|r| {
        let format = match r.format.as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => {
                problems.push(
                    &src("log", "format"),
                    "log.format",
                    "must be one of: text, json",
                );
                None
            }
        };
        let filter = problems.check(
            &src("log", "filter"),
            "log.filter",
            tracing_subscriber::EnvFilter::try_new(&r.filter)
                .map(|_| r.filter.clone())
                .map_err(|e| {
                    format!("must be a tracing filter such as `info,wijkbrug=debug`: {e}")
                }),
        );
        Some(LogSettings {
            format: format?,
            filter: filter?,
        })
    });

    let gateway = gateway.and_then(|r| {
        let agb = match r.agb {
            Some(a) => {
                Some(problems.check(&src("gateway", "agb"), "gateway.agb", AgbCode::parse(&a))?)
            }
            None => None,
        };
        Some(GatewaySettings { agb })
    });

    let delivery = delivery.and_then(|r| {
        let worker_id = if r.worker_id.trim().is_empty() {
            Some(default_worker_id())
        } else if r.worker_id.len() > 128 || r.worker_id.chars().any(char::is_control) {
            problems.push(
                &src("delivery", "worker_id"),
                "delivery.worker_id",
                "must be at most 128 characters without control characters",
            );
            None
        } else {
            Some(r.worker_id.trim().to_owned())
        };
        let poll = positive(problems, "delivery", "poll_interval_ms", r.poll_interval_ms);
        let lease = positive(problems, "delivery", "lease_secs", r.lease_secs);
        let usize_of = |problems: &mut Problems, k: &str, n: Option<u64>| -> Option<usize> {
            problems.check(
                &src("delivery", k),
                &format!("delivery.{k}"),
                usize::try_from(n?).map_err(|_| "is too large for this machine"),
            )
        };
        let batch = positive(problems, "delivery", "claim_batch", r.claim_batch);
        let batch = usize_of(problems, "claim_batch", batch);
        let base = positive(problems, "delivery", "backoff_base_ms", r.backoff_base_ms);
        let max = positive(problems, "delivery", "backoff_max_secs", r.backoff_max_secs);
        let ordered = base
            .zip(max)
            .is_none_or(|(b, m)| b <= m.saturating_mul(1000));
        if !ordered {
            problems.push(
                &src("delivery", "backoff_base_ms"),
                "delivery.backoff_base_ms",
                "must not be more than backoff_max_secs",
            );
        }
        let max_age = positive(problems, "delivery", "max_age_secs", r.max_age_secs);
        let visibility = positive(
            problems,
            "delivery",
            "mailbox_visibility_secs",
            r.mailbox_visibility_secs,
        );
        let concurrency = positive(
            problems,
            "delivery",
            "per_partner_concurrency",
            r.per_partner_concurrency,
        );
        let concurrency = usize_of(problems, "per_partner_concurrency", concurrency);
        let threshold = positive(
            problems,
            "delivery",
            "circuit_failure_threshold",
            r.circuit_failure_threshold,
        )
        .and_then(|n| {
            problems.check(
                &src("delivery", "circuit_failure_threshold"),
                "delivery.circuit_failure_threshold",
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or("must be at most 1000"),
            )
        });
        let cooldown = positive(
            problems,
            "delivery",
            "circuit_cooldown_secs",
            r.circuit_cooldown_secs,
        )
        .and_then(|n| {
            // At most a day: a longer hold outlives any sensible max_age.
            problems.check(
                &src("delivery", "circuit_cooldown_secs"),
                "delivery.circuit_cooldown_secs",
                Some(n)
                    .filter(|n| *n <= 86_400)
                    .ok_or("must be at most 86400 (a day)"),
            )
        });
        Some(DeliverySettings {
            worker_id: worker_id?,
            poll_interval: Duration::from_millis(poll?),
            lease: Duration::from_secs(lease?),
            claim_batch: batch?,
            backoff_base: Duration::from_millis(ordered.then_some(base?)?),
            backoff_max: Duration::from_secs(max?),
            max_age: Duration::from_secs(max_age?),
            mailbox_visibility: Duration::from_secs(visibility?),
            per_partner_concurrency: concurrency?,
            circuit_failure_threshold: threshold?,
            circuit_cooldown: Duration::from_secs(cooldown?),
        })
    });

    let audit = audit.and_then(|r| {
        let mut interval =
            |key: &str, secs: u64| positive(problems, "audit", key, secs).map(Duration::from_secs);
        let verify_interval = interval("verify_interval_secs", r.verify_interval_secs);
        let whole_verify_interval =
            interval("whole_verify_interval_secs", r.whole_verify_interval_secs);
        let source = src("audit", "pseudonym_key_env");
        let name = r.pseudonym_key_env;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            problems.push(
                &source,
                "audit.pseudonym_key_env",
                "must be the name of an environment variable: letters, digits and '_'",
            );
            return None;
        }
        let production = env.get(ENVIRONMENT_VAR).is_some_and(|e| e == "production");
        match env.get(&name).filter(|v| !v.is_empty()) {
            Some(v) => Some(AuditSettings {
                pseudonym_key: crate::audit::PseudonymKey::new(SecretString::from(v.clone())),
                pseudonym_key_env: name,
                development_key: false,
                verify_interval: verify_interval?,
                whole_verify_interval: whole_verify_interval?,
            }),
            None if production => {
                problems.push(
                    &source,
                    "audit.pseudonym_key_env",
                    format!(
                        "environment variable {name} is not set; in production it must hold the \
                         secret key of the residents' pseudonyms in the audit log"
                    ),
                );
                None
            }
            None => Some(AuditSettings {
                pseudonym_key: crate::audit::PseudonymKey::development(),
                pseudonym_key_env: name,
                development_key: true,
                verify_interval: verify_interval?,
                whole_verify_interval: whole_verify_interval?,
            }),
        }
    });

    let retention = retention.and_then(|r| {
        let days = positive(problems, "retention", "payload_days", r.payload_days);
        // At most about 100 years: keeps the cut-off computable.
        let days = days.and_then(|d| {
            problems.check(
                &src("retention", "payload_days"),
                "retention.payload_days",
                u32::try_from(d)
                    .ok()
                    .filter(|d| *d <= 36_500)
                    .ok_or("must be at most 36500"),
            )
        });
        let interval = positive(problems, "retention", "interval_secs", r.interval_secs);
        Some(RetentionSettings {
            payload_days: days?,
            interval: Duration::from_secs(interval?),
        })
    });

    Some(Settings {
        retention: retention?,
        audit: audit?,
        server: server?,
        store: store?,
        log: log?,
        gateway: gateway?,
        delivery: delivery?,
    })
}

/// A path from the configuration: a relative one is under the configuration folder.
fn config_path(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

/// `[server.tls]`: both files there and usable, and the client CA if named.
fn server_tls(
    dir: &Path,
    raw: &RawServerTls,
    source: &str,
    problems: &mut Problems,
) -> Option<crate::tls::ServerTls> {
    let needed = |problems: &mut Problems, key: &str, v: &Option<PathBuf>| {
        if v.is_none() {
            problems.push(
                source,
                format!("server.tls.{key}"),
                "is needed to serve TLS: the path of a PEM file (relative to the configuration folder)",
            );
        }
    };
    needed(problems, "cert", &raw.cert);
    needed(problems, "key", &raw.key);
    let (cert, key) = (raw.cert.as_deref()?, raw.key.as_deref()?);
    let client_ca = raw.client_ca.as_deref().map(|p| config_path(dir, p));
    match crate::tls::server_config(
        &config_path(dir, cert),
        &config_path(dir, key),
        client_ca.as_deref(),
    ) {
        Ok(tls) => Some(tls),
        Err(found) => {
            for (key, e) in found {
                problems.push(source, key.name(), e.to_string());
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Partners: partners/<id>.toml

/// A partner file, `partners/<id>.toml`. Secrets are not in it: outbound credentials are
/// named environment variables, inbound tokens are configured as their hashes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // identity fields are read through `RawPartnerIdentity`
struct RawPartner {
    /// The partner's id: lowercase letters, digits and '-'; the file is named after it.
    id: String,
    /// A display name.
    name: String,
    /// housing, welfare, care or employment.
    sector: String,
    /// The format it speaks (`wijkbrug translate --list`).
    adapter: String,
    /// How it receives referrals.
    delivery: RawDelivery,
    /// `sha256:<hex>` hashes of its API tokens: one, or two while changing over.
    #[serde(default)]
    token_hashes: Vec<String>,
    /// `sha256:<hex>` fingerprints of the client certificate(s) it must present with its
    /// token (one, or two while changing over); absent: no client certificate needed.
    #[serde(default)]
    client_cert_sha256: Vec<String>,
    /// Requests a second it may make to the gateway.
    #[serde(default = "RawRate::inbound")]
    inbound_rate: RawRate,
    /// Deliveries a second the gateway may make to it.
    #[serde(default = "RawRate::outbound")]
    outbound_rate: RawRate,
    /// Timeout of one delivery attempt, in milliseconds (default 10000).
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// Its 8-digit AGB code (care and welfare standards address it by this).
    agb: Option<String>,
    /// Its 4-digit municipality (CBS) code, for a municipality's desk.
    municipality: Option<String>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The fields of a partner file every tool needs (the directory for `translate` too), read
/// leniently: a problem elsewhere in the file does not stop these.
#[derive(Deserialize)]
struct RawPartnerIdentity {
    id: String,
    #[serde(default)]
    name: Option<String>,
    sector: String,
    adapter: String,
    #[serde(default)]
    agb: Option<String>,
    #[serde(default)]
    municipality: Option<String>,
}

/// `[delivery]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    /// `push` (the gateway posts to `url`) or `mailbox` (the partner pulls).
    kind: String,
    /// The endpoint for `push`: an http:// or https:// URL.
    url: Option<String>,
    /// How the gateway authenticates to the endpoint (push only).
    auth: Option<RawOutboundAuth>,
    /// TLS towards the endpoint (push to an https:// URL only).
    tls: Option<RawOutboundTls>,
}

/// `[delivery.tls]`. Paths are relative to the configuration folder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutboundTls {
    /// The CA bundle (PEM) the partner's server certificate must chain to; absent: the public
    /// web roots.
    ca: Option<PathBuf>,
    /// The client certificate (PEM) the gateway presents to the partner.
    client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    client_key: Option<PathBuf>,
}

/// `[delivery.auth]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutboundAuth {
    /// `none`, `bearer` or `basic`.
    kind: String,
    /// For `bearer`: the environment variable holding the token.
    token_env: Option<String>,
    /// For `basic`: the user name.
    username: Option<String>,
    /// For `basic`: the environment variable holding the password.
    password_env: Option<String>,
}

/// `[inbound_rate]`, `[outbound_rate]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    /// Sustained requests a second.
    per_second: u32,
    /// The most requests at once.
    burst: u32,
}

impl RawRate {
    fn inbound() -> Self {
        Self {
            per_second: 20,
            burst: 40,
        }
    }
    fn outbound() -> Self {
        Self {
            per_second: 10,
            burst: 20,
        }
    }
}

/// A partner file, parsed as TOML, its unknown keys not yet looked at.
pub(crate) struct PartnerFile {
    pub(crate) path: PathBuf,
    pub(crate) source: String,
    pub(crate) table: toml::Table,
}

impl PartnerFile {
    /// The file's `id`, if it is a valid partner id (whatever else is wrong in the file).
    pub(crate) fn id(&self) -> Option<PartnerId> {
        PartnerId::parse(self.table.get("id")?.as_str()?).ok()
    }

    /// The file's `sector`, if it is a valid one.
    fn sector(&self) -> Option<Sector> {
        self.table.get("sector")?.as_str()?.parse().ok()
    }

    /// Whether the file is `partners/<id>.toml`.
    fn named_after(&self, id: &PartnerId) -> bool {
        self.path.file_stem().and_then(|x| x.to_str()) == Some(id.as_str())
    }
}

/// What identifies a partner, validated.
pub(crate) struct PartnerIdentity {
    pub(crate) id: PartnerId,
    pub(crate) name: String,
    pub(crate) sector: Sector,
    pub(crate) adapter: Format,
    pub(crate) agb: Option<AgbCode>,
    pub(crate) municipality: Option<MunicipalityCode>,
}

/// Reads and parses `dir/partners/*.toml`, sorted by file name. A missing folder is no
/// partners.
pub(crate) fn read_partner_files(dir: &Path, problems: &mut Problems) -> Vec<PartnerFile> {
    toml_files(&dir.join("partners"), problems)
        .into_iter()
        .filter_map(|(path, source, text)| {
            let table = parse_toml(&source, &text, problems)?;
            Some(PartnerFile {
                path,
                source,
                table,
            })
        })
        .collect()
}

/// The identity fields of a partner file, validated (also that the file is named after the
/// id). Tolerant: other fields are not looked at.
pub(crate) fn partner_identity(
    file: &PartnerFile,
    problems: &mut Problems,
) -> Option<PartnerIdentity> {
    let s = file.source.as_str();
    // Only the identity fields: whatever else is wrong in the file is not this step's concern.
    let mut table = toml::Table::new();
    for key in fields_of::<RawPartnerIdentity>() {
        if let Some(v) = file.table.get(*key) {
            table.insert((*key).to_owned(), v.clone());
        }
    }
    let raw: RawPartnerIdentity = read_lenient(table, "", s, problems)?;
    let id = problems.check(s, "id", PartnerId::parse(&raw.id));
    if let Some(id) = &id {
        if !file.named_after(id) {
            problems.push(
                s,
                "id",
                format!("must match the file name: partner `{id}` belongs in partners/{id}.toml"),
            );
        }
    }
    let name = match raw.name {
        Some(n) if !n.trim().is_empty() => Some(n),
        Some(_) => {
            problems.push(s, "name", "must not be empty");
            None
        }
        None => Some(String::new()),
    };
    let sector = problems.check(s, "sector", raw.sector.parse::<Sector>());
    let adapter = problems.check(
        s,
        "adapter",
        raw.adapter
            .parse::<Format>()
            .map_err(|e| format!("{e} (see `wijkbrug translate --list`)")),
    );
    if let (Some(sector), Some(adapter)) = (sector, adapter) {
        if adapter.sector().is_some_and(|a| a != sector) {
            let fits: Vec<&str> = Format::ALL
                .into_iter()
                .filter(|f| f.sector().is_none_or(|x| x == sector))
                .map(Format::code)
                .collect();
            problems.push(
                s,
                "adapter",
                format!(
                    "{} is a format of the {} sector; a {sector} partner speaks one of: {}",
                    adapter.code(),
                    adapter.sector().map_or("", |x| x.code()),
                    fits.join(", ")
                ),
            );
        }
    }
    let agb = optional(problems, s, "agb", raw.agb.as_deref(), AgbCode::parse);
    let municipality = optional(
        problems,
        s,
        "municipality",
        raw.municipality.as_deref(),
        MunicipalityCode::parse,
    );
    let adapter_fits = match (sector, adapter) {
        (Some(sector), Some(adapter)) => adapter.sector().is_none_or(|a| a == sector),
        _ => false,
    };
    Some(PartnerIdentity {
        id: id?,
        name: name?,
        sector: sector?,
        adapter: adapter.filter(|_| adapter_fits)?,
        agb: agb?,
        municipality: municipality?,
    })
}

fn optional<V: ?Sized, T, E: std::fmt::Display>(
    problems: &mut Problems,
    source: &str,
    key: &str,
    value: Option<&V>,
    parse: impl Fn(&V) -> Result<T, E>,
) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(v) => problems.check(source, key, parse(v)).map(Some),
    }
}

pub(crate) fn check_duplicate_ids(files: &[PartnerFile], problems: &mut Problems) {
    // The file named after the id owns it; the others are the duplicates.
    let mut order: Vec<(&PartnerFile, PartnerId)> =
        files.iter().filter_map(|f| Some((f, f.id()?))).collect();
    order.sort_by_key(|(f, id)| !f.named_after(id));
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (file, id) in order {
        match seen.get(id.as_str()) {
            Some(first) => problems.push(
                &file.source,
                "id",
                format!("duplicate partner id `{id}`: {first} already uses it"),
            ),
            None => {
                seen.insert(id.to_string(), &file.source);
            }
        }
    }
}

/// The whole partner: every key known, delivery, secrets, token hashes, rates.
fn validate_partner(
    dir: &Path,
    file: &PartnerFile,
    identity: Option<PartnerIdentity>,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) -> Option<Partner> {
    let s = file.source.as_str();
    let mut table = file.table.clone();
    strip_unknown_keys::<RawPartner>(&mut table, "", s, problems);
    if let Some(toml::Value::Table(d)) = table.get_mut("delivery") {
        strip_unknown_keys::<RawDelivery>(d, "delivery", s, problems);
        if let Some(toml::Value::Table(a)) = d.get_mut("auth") {
            strip_unknown_keys::<RawOutboundAuth>(a, "delivery.auth", s, problems);
        }
        if let Some(toml::Value::Table(t)) = d.get_mut("tls") {
            strip_unknown_keys::<RawOutboundTls>(t, "delivery.tls", s, problems);
        }
    }
    for rate in ["inbound_rate", "outbound_rate"] {
        if let Some(toml::Value::Table(r)) = table.get_mut(rate) {
            strip_unknown_keys::<RawRate>(r, rate, s, problems);
        }
    }
    let raw: RawPartner = read_lenient(table, "", s, problems)?;

    let delivery = validate_delivery(dir, &raw.delivery, env, s, problems);

    let mut token_hashes = Vec::new();
    match raw.token_hashes.len() {
        0 => problems.push(
            s,
            "token_hashes",
            "a partner needs at least one token hash: mint one with `wijkbrug partner token`",
        ),
        1 | 2 => {}
        _ => problems.push(
            s,
            "token_hashes",
            "at most two: the current token and, while changing over, the next",
        ),
    }
    for (i, h) in raw.token_hashes.iter().enumerate() {
        if let Some(h) = problems.check(s, &format!("token_hashes[{i}]"), TokenHash::parse(h)) {
            token_hashes.push(h);
        }
    }
    if raw.client_cert_sha256.len() > 2 {
        problems.push(
            s,
            "client_cert_sha256",
            "at most two: the current certificate and, while changing over, the next",
        );
    }
    let mut client_certs = Vec::new();
    for (i, f) in raw.client_cert_sha256.iter().enumerate() {
        if let Some(f) = problems.check(
            s,
            &format!("client_cert_sha256[{i}]"),
            crate::tls::CertFingerprint::parse(f),
        ) {
            client_certs.push(f);
        }
    }
    let inbound_rate = rate(&raw.inbound_rate, "inbound_rate", s, problems);
    let outbound_rate = rate(&raw.outbound_rate, "outbound_rate", s, problems);
    if raw.timeout_ms == 0 {
        problems.push(s, "timeout_ms", "must be at least 1");
    }
    let identity = identity?;
    if token_hashes.len() != raw.token_hashes.len() || !(1..=2).contains(&token_hashes.len()) {
        return None;
    }
    if client_certs.len() != raw.client_cert_sha256.len() || client_certs.len() > 2 {
        return None;
    }
    Some(Partner {
        id: identity.id,
        name: if identity.name.is_empty() {
            raw.name
        } else {
            identity.name
        },
        sector: identity.sector,
        adapter: identity.adapter,
        delivery: delivery?,
        token_hashes,
        client_certs,
        inbound_rate: inbound_rate?,
        outbound_rate: outbound_rate?,
        timeout: (raw.timeout_ms > 0).then(|| Duration::from_millis(raw.timeout_ms))?,
        agb: identity.agb,
        municipality: identity.municipality,
    })
}

fn rate(raw: &RawRate, key: &str, s: &str, problems: &mut Problems) -> Option<RateLimit> {
    let per_second = NonZeroU32::new(raw.per_second);
    let burst = NonZeroU32::new(raw.burst);
    if per_second.is_none() {
        problems.push(s, format!("{key}.per_second"), "must be at least 1");
    }
    if burst.is_none() {
        problems.push(s, format!("{key}.burst"), "must be at least 1");
    }
    Some(RateLimit {
        per_second: per_second?,
        burst: burst?,
    })
}

fn validate_delivery(
    dir: &Path,
    raw: &RawDelivery,
    env: &HashMap<String, String>,
    s: &str,
    problems: &mut Problems,
) -> Option<Delivery> {
    match raw.kind.as_str() {
        "push" => {
            let url = match &raw.url {
                None => {
                    problems.push(
                        s,
                        "delivery.url",
                        "a push partner needs the URL of its endpoint (http:// or https://)",
                    );
                    None
                }
                Some(u) => problems.check(s, "delivery.url", check_url(u)),
            };
            let auth = match &raw.auth {
                None => Some(OutboundAuth::None),
                Some(a) => validate_auth(a, env, s, problems),
            };
            let tls = match &raw.tls {
                None => Some(None),
                Some(t) => {
                    let https = raw.url.as_deref().is_some_and(|u| {
                        u.get(..8)
                            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
                    });
                    if https {
                        outbound_tls(dir, t, s, problems).map(Some)
                    } else {
                        problems.push(
                            s,
                            "delivery.tls",
                            "applies to an https:// URL only; use https:// in delivery.url or remove [delivery.tls]",
                        );
                        None
                    }
                }
            };
            Some(Delivery::Push {
                url: url?,
                auth: auth?,
                tls: tls?,
            })
        }
        "mailbox" => {
            if raw.url.is_some() {
                problems.push(
                    s,
                    "delivery.url",
                    "a mailbox partner pulls its referrals and has no URL; remove it, or use kind = \"push\"",
                );
            }
            if raw.auth.is_some() {
                problems.push(
                    s,
                    "delivery.auth",
                    "a mailbox partner pulls its referrals; outbound auth is for push only",
                );
            }
            if raw.tls.is_some() {
                problems.push(
                    s,
                    "delivery.tls",
                    "a mailbox partner pulls its referrals; outbound TLS settings are for push only",
                );
            }
            (raw.url.is_none() && raw.auth.is_none() && raw.tls.is_none())
                .then_some(Delivery::Mailbox)
        }
        _ => {
            problems.push(s, "delivery.kind", "must be one of: push, mailbox");
            None
        }
    }
}

/// `[delivery.tls]`: the CA bundle and the client certificate and key (both or neither),
/// read and checked.
fn outbound_tls(
    dir: &Path,
    raw: &RawOutboundTls,
    s: &str,
    problems: &mut Problems,
) -> Option<crate::tls::OutboundTls> {
    let client = match (&raw.client_cert, &raw.client_key) {
        (Some(c), Some(k)) => Some((config_path(dir, c), config_path(dir, k))),
        (None, None) => None,
        (Some(_), None) => {
            problems.push(
                s,
                "delivery.tls.client_key",
                "is needed with client_cert: the path of the certificate's PEM private key",
            );
            return None;
        }
        (None, Some(_)) => {
            problems.push(
                s,
                "delivery.tls.client_cert",
                "is needed with client_key: the path of the PEM client certificate",
            );
            return None;
        }
    };
    if raw.ca.is_none() && client.is_none() {
        problems.push(
            s,
            "delivery.tls",
            "name a CA bundle (ca), a client certificate (client_cert, client_key) or both; \
             without [delivery.tls] the public web roots are trusted",
        );
        return None;
    }
    let ca = raw.ca.as_deref().map(|p| config_path(dir, p));
    match crate::tls::outbound_config(
        ca.as_deref(),
        client.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    ) {
        Ok(tls) => Some(tls),
        Err(found) => {
            for (key, e) in found {
                problems.push(s, key.name(), e.to_string());
            }
            None
        }
    }
}

/// A push endpoint's URL: http(s), with a host and no credentials in it, parsed as the
/// delivery client will use it. The URL is not echoed: it might hold a secret.
fn check_url(u: &str) -> Result<reqwest::Url, &'static str> {
    let uri: axum::http::Uri = u
        .parse()
        .map_err(|_| "must be an http:// or https:// URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must be an http:// or https:// URL (other schemes are not supported)"),
    }
    let authority = uri
        .authority()
        .ok_or("must be an http:// or https:// URL with a host")?;
    if authority.as_str().contains('@') {
        return Err("must not carry credentials; configure them in [delivery.auth]");
    }
    if authority.host().is_empty() {
        return Err("must be an http:// or https:// URL with a host");
    }
    reqwest::Url::parse(u).map_err(|_| "must be an http:// or https:// URL")
}

fn validate_auth(
    raw: &RawOutboundAuth,
    env: &HashMap<String, String>,
    s: &str,
    problems: &mut Problems,
) -> Option<OutboundAuth> {
    let unexpected = |problems: &mut Problems, key: &str, present: bool, kind: &str| {
        if present {
            problems.push(
                s,
                format!("delivery.auth.{key}"),
                format!("does not apply to kind = \"{kind}\""),
            );
        }
    };
    match raw.kind.as_str() {
        "none" => {
            unexpected(problems, "token_env", raw.token_env.is_some(), "none");
            unexpected(problems, "username", raw.username.is_some(), "none");
            unexpected(problems, "password_env", raw.password_env.is_some(), "none");
            Some(OutboundAuth::None)
        }
        "bearer" => {
            unexpected(problems, "username", raw.username.is_some(), "bearer");
            unexpected(
                problems,
                "password_env",
                raw.password_env.is_some(),
                "bearer",
            );
            let token = secret(raw.token_env.as_deref(), "token_env", env, s, problems);
            Some(OutboundAuth::Bearer(token?))
        }
        "basic" => {
            unexpected(problems, "token_env", raw.token_env.is_some(), "basic");
            let username = match raw.username.as_deref() {
                Some(u) if !u.is_empty() && !u.contains(':') => Some(u.to_owned()),
                Some(_) => {
                    problems.push(
                        s,
                        "delivery.auth.username",
                        "must not be empty and must not contain ':'",
                    );
                    None
                }
                None => {
                    problems.push(s, "delivery.auth.username", "basic auth needs a username");
                    None
                }
            };
            let password = secret(
                raw.password_env.as_deref(),
                "password_env",
                env,
                s,
                problems,
            );
            Some(OutboundAuth::Basic {
                username: username?,
                password: password?,
            })
        }
        _ => {
            problems.push(
                s,
                "delivery.auth.kind",
                "must be one of: none, bearer, basic",
            );
            None
        }
    }
}

/// The secret in the environment variable `name`. Problems name the variable, never a value.
fn secret(
    name: Option<&str>,
    key: &str,
    env: &HashMap<String, String>,
    s: &str,
    problems: &mut Problems,
) -> Option<SecretString> {
    let key = format!("delivery.auth.{key}");
    let Some(name) = name else {
        problems.push(
            s,
            &key,
            "name the environment variable that holds the secret (the secret itself never goes in a file)",
        );
        return None;
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        problems.push(
            s,
            &key,
            "must be the name of an environment variable: letters, digits and '_'",
        );
        return None;
    }
    match env.get(name) {
        None => {
            problems.push(
                s,
                &key,
                format!("environment variable {name} is not set; it must hold the secret"),
            );
            None
        }
        Some(v) if v.is_empty() => {
            problems.push(
                s,
                &key,
                format!("environment variable {name} is empty; it must hold the secret"),
            );
            None
        }
        Some(v) => Some(SecretString::from(v.clone())),
    }
}

// ---------------------------------------------------------------------------------------
// Routing: routing.toml

/// `routing.toml`: the rules, tried in file order. (The schema of the file: its entries are
/// read one by one.)
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    /// `[[rule]]` entries.
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// `[[rule]]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    /// The sector the sender named (required).
    to_sector: String,
    /// Only referrals sent by partners of this sector.
    from_sector: Option<String>,
    /// Only referrals with a need in this life domain (a case-json domain code).
    domain: Option<String>,
    /// Only residents in this postcode area: `"1000-1099"` or a prefix such as `"1011"`.
    postcode: Option<String>,
    /// The partner that gets the referral; it must be of `to_sector`.
    partner: String,
}

fn read_routing(
    dir: &Path,
    known: &HashMap<String, Option<Sector>>,
    problems: &mut Problems,
) -> RoutingTable {
    let path = dir.join("routing.toml");
    let s = path.display().to_string();
    if !path.exists() {
        return RoutingTable::default();
    }
    let Some(text) = problems.check(&s, "", std::fs::read_to_string(&path)) else {
        return RoutingTable::default();
    };
    let Some(mut table) = parse_toml(&s, &text, problems) else {
        return RoutingTable::default();
    };
    strip_unknown_keys::<RawRouting>(&mut table, "", &s, problems);
    let mut rules = Vec::new();
    for (i, r) in read_entries::<RawRule>(&table, "rule", &s, problems) {
        let k = |f: &str| format!("rule[{i}].{f}");
        let to_sector = problems.check(&s, &k("to_sector"), r.to_sector.parse::<Sector>());
        let from_sector = optional(
            problems,
            &s,
            &k("from_sector"),
            r.from_sector.as_deref(),
            str::parse::<Sector>,
        );
        let domain = optional(
            problems,
            &s,
            &k("domain"),
            r.domain.as_deref(),
            str::parse::<LifeDomain>,
        );
        let postcode = optional(
            problems,
            &s,
            &k("postcode"),
            r.postcode.as_deref(),
            str::parse::<PostcodeArea>,
        );
        let partner = problems.check(&s, &k("partner"), PartnerId::parse(&r.partner));
        if let Some(p) = &partner {
            match known.get(p.as_str()) {
                None => problems.push(
                    &s,
                    k("partner"),
                    format!("unknown partner `{p}`: no partners/{p}.toml"),
                ),
                Some(sector) => {
                    let mismatch = to_sector.zip(*sector).filter(|(to, sector)| to != sector);
                    if let Some((to, sector)) = mismatch {
                        problems.push(
                            &s,
                            k("partner"),
                            format!(
                                "partner `{p}` is in the {sector} sector, not in to_sector {to}"
                            ),
                        );
                    }
                }
            }
        }
        if let (Some(to_sector), Some(from_sector), Some(domain), Some(postcode), Some(partner)) =
            (to_sector, from_sector, domain, postcode, partner)
        {
            rules.push(Rule {
                to_sector,
                from_sector,
                domain,
                postcode,
                partner,
            });
        }
    }
    RoutingTable::new(rules)
}

// ---------------------------------------------------------------------------------------
// Staff: staff.toml

/// `staff.toml`: the staff accounts. (The schema of the file: its entries are read one by
/// one.)
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawStaff {
    /// `[[account]]` entries.
    #[serde(default)]
    account: Vec<RawAccount>,
}

/// `[[account]]`: one staff account.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    /// The name the audit log records for the account's actions.
    name: String,
    /// `operations`, `privacy_officer` or `admin`.
    role: String,
    /// `sha256:<hex>` hashes of its tokens: one, or two while changing over.
    token_hashes: Vec<String>,
}

fn read_staff(dir: &Path, problems: &mut Problems) -> Staff {
    let path = dir.join("staff.toml");
    let s = path.display().to_string();
    if !path.exists() {
        return Staff::default();
    }
    let Some(text) = problems.check(&s, "", std::fs::read_to_string(&path)) else {
        return Staff::default();
    };
    let Some(mut table) = parse_toml(&s, &text, problems) else {
        return Staff::default();
    };
    strip_unknown_keys::<RawStaff>(&mut table, "", &s, problems);
    let mut accounts: Vec<StaffAccount> = Vec::new();
    let mut names: Vec<StaffName> = Vec::new();
    for (i, a) in read_entries::<RawAccount>(&table, "account", &s, problems) {
        let k = |f: &str| format!("account[{i}].{f}");
        let name = problems.check(&s, &k("name"), StaffName::parse(&a.name));
        if let Some(n) = &name {
            if names.contains(n) {
                problems.push(&s, k("name"), format!("`{n}` is already an account's name"));
            }
            names.push(n.clone());
        }
        let role = problems.check(&s, &k("role"), a.role.parse::<Role>());
        let mut hashes = Vec::new();
        let mut hashes_ok = true;
        if !(1..=2).contains(&a.token_hashes.len()) {
            hashes_ok = false;
            problems.push(
                &s,
                k("token_hashes"),
                "one or two hashes (the current token and, while changing over, the next): mint one with `wijkbrug partner token`",
            );
        }
        for (j, h) in a.token_hashes.iter().enumerate() {
            match problems.check(
                &s,
                &format!("account[{i}].token_hashes[{j}]"),
                TokenHash::parse(h),
            ) {
                Some(h) => hashes.push(h),
                None => hashes_ok = false,
            }
        }
        if let (Some(name), Some(role), true) = (name, role, hashes_ok) {
            accounts.push(StaffAccount {
                name,
                role,
                token_hashes: hashes,
            });
        }
    }
    Staff { accounts }
}

/// One token must name one caller: a hash configured twice (for two partners, two staff
/// accounts, or a partner and an account) is a problem.
fn check_tokens_unique(partners: &[Partner], staff: &Staff, problems: &mut Problems) {
    let mut seen: Vec<(&TokenHash, String)> = Vec::new();
    let owners = partners
        .iter()
        .flat_map(|p| {
            p.token_hashes
                .iter()
                .map(move |h| (h, format!("partners/{}.toml", p.id)))
        })
        .chain(staff.accounts.iter().flat_map(|a| {
            a.token_hashes
                .iter()
                .map(move |h| (h, format!("staff.toml account `{}`", a.name)))
        }));
    for (hash, owner) in owners {
        if let Some((_, first)) = seen.iter().find(|(h, _)| h.ct_eq(hash)) {
            if first != &owner {
                problems.push(
                    &owner,
                    "token_hashes",
                    format!("the same token hash is configured for {first}: every token must name one caller"),
                );
            }
        } else {
            seen.push((hash, owner));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Consents: consents/*.toml

/// A consents file: `[[consent]]` entries. (The schema of the file: its entries are read one
/// by one.)
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawConsents {
    #[serde(default)]
    consent: Vec<RawConsent>,
}

/// `[[consent]]`: one standing consent (or objection) of a resident.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    /// The resident's BSN, as a string of 9 digits.
    resident: toml::Value,
    /// The partner the consent is given to; or:
    grantee_partner: Option<String>,
    /// the sector it is given to (all its partners). Exactly one of the two.
    grantee_sector: Option<String>,
    /// `referral` (default) or `coordination`.
    #[serde(default = "default_purpose")]
    purpose: String,
    /// `permit` (default) or `deny` (an objection, which wins over any permit).
    #[serde(default = "default_effect")]
    effect: String,
    /// The data categories: identity, contact, needs, notes, health, finance.
    categories: Vec<String>,
    /// From when: a date (`2025-01-01`) or a date-time with offset.
    valid_from: toml::Value,
    /// Until when (exclusive), if it ends.
    valid_until: Option<toml::Value>,
    /// The partner that recorded it on the resident's behalf.
    recorded_by: String,
    /// The evidence, e.g. the id of the signed form.
    evidence: Option<String>,
}

fn default_purpose() -> String {
    "referral".into()
}

fn default_effect() -> String {
    "permit".into()
}

fn read_consents(
    dir: &Path,
    known: &HashMap<String, Option<Sector>>,
    problems: &mut Problems,
) -> Vec<Consent> {
    let mut out = Vec::new();
    for (_, s, text) in toml_files(&dir.join("consents"), problems) {
        // Messages from parsing a consents file could quote a BSN: count on redaction.
        let mut local = Problems::default();
        let table = parse_toml(&s, &text, &mut local);
        if let Some(mut table) = table {
            strip_unknown_keys::<RawConsents>(&mut table, "", &s, &mut local);
            for (i, c) in read_entries::<RawConsent>(&table, "consent", &s, &mut local) {
                if let Some(c) =
                    validate_consent(&c, &format!("consent[{i}]"), known, &s, &mut local)
                {
                    out.push(c);
                }
            }
        }
        for mut p in local.0 {
            p.problem = redact_numbers(&p.problem);
            problems.0.push(p);
        }
    }
    out
}

fn validate_consent(
    raw: &RawConsent,
    at: &str,
    known: &HashMap<String, Option<Sector>>,
    s: &str,
    problems: &mut Problems,
) -> Option<Consent> {
    let k = |f: &str| format!("{at}.{f}");
    let resident = match &raw.resident {
        toml::Value::String(b) => problems.check(s, &k("resident"), Bsn::parse(b)),
        _ => {
            problems.push(s, k("resident"), "must be a string of 9 digits (quote it)");
            None
        }
    };
    let known_partner = |problems: &mut Problems, key: &str, id: &str| -> Option<PartnerId> {
        let id = problems.check(s, key, PartnerId::parse(id))?;
        if known.contains_key(id.as_str()) {
            Some(id)
        } else {
            problems.push(
                s,
                key,
                format!("unknown partner `{id}`: no partners/{id}.toml"),
            );
            None
        }
    };
    let grantee = match (&raw.grantee_partner, &raw.grantee_sector) {
        (Some(p), None) => known_partner(problems, &k("grantee_partner"), p).map(Grantee::Partner),
        (None, Some(sec)) => problems
            .check(s, &k("grantee_sector"), sec.parse::<Sector>())
            .map(Grantee::Sector),
        _ => {
            problems.push(
                s,
                k("grantee_partner"),
                "give exactly one of grantee_partner and grantee_sector",
            );
            None
        }
    };
    let purpose = problems.check(s, &k("purpose"), raw.purpose.parse::<Purpose>());
    let effect = match raw.effect.as_str() {
        "permit" => Some(ConsentEffect::Permit),
        "deny" => Some(ConsentEffect::Deny),
        _ => {
            problems.push(s, k("effect"), "must be one of: permit, deny");
            None
        }
    };
    let mut categories = CategorySet::empty();
    let mut categories_ok = true;
    for (j, c) in raw.categories.iter().enumerate() {
        match problems.check(
            s,
            &format!("{at}.categories[{j}]"),
            c.parse::<DataCategory>(),
        ) {
            Some(c) => categories.insert(c),
            None => categories_ok = false,
        }
    }
    if raw.categories.is_empty() {
        problems.push(s, k("categories"), "must name at least one data category");
        categories_ok = false;
    }
    let valid_from = problems.check(s, &k("valid_from"), instant(&raw.valid_from));
    let valid_until = optional(
        problems,
        s,
        &k("valid_until"),
        raw.valid_until.as_ref(),
        instant,
    );
    let recorded_by = known_partner(problems, &k("recorded_by"), &raw.recorded_by);
    let evidence = optional(
        problems,
        s,
        &k("evidence"),
        raw.evidence.as_deref(),
        ExternalRef::parse,
    );
    let consent = Consent {
        resident: resident?,
        grantee: grantee?,
        purpose: purpose?,
        effect: effect?,
        categories: categories_ok.then_some(categories)?,
        valid_from: valid_from?,
        valid_until: valid_until?,
        recorded_by: recorded_by?,
        evidence: evidence?,
        revoked_at: None,
    };
    problems.check(s, &k("valid_until"), consent.check())?;
    Some(consent)
}

/// A date (midnight UTC) or an RFC 3339 date-time, as a TOML date/date-time or a string.
fn instant(v: &toml::Value) -> Result<DateTime<Utc>, &'static str> {
    const RULE: &str =
        "must be a date (2025-01-01) or a date-time with offset (2025-01-01T09:00:00+01:00)";
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return Err(RULE),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or(RULE)
}

/// Replaces runs of 6 or more digits (a BSN, a phone number) by `…`.
fn redact_numbers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        if run.len() >= 6 {
            out.push('…');
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Reading TOML files, unknown keys

/// The `*.toml` files in `dir` (path, display name, text), sorted. A missing folder is none.
fn toml_files(dir: &Path, problems: &mut Problems) -> Vec<(PathBuf, String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let source = path.display().to_string();
            let text = problems.check(&source, "", std::fs::read_to_string(&path))?;
            Some((path, source, text))
        })
        .collect()
}

/// Parses TOML; a syntax error is reported with its line, not the line's text.
fn parse_toml(source: &str, text: &str, problems: &mut Problems) -> Option<toml::Table> {
    match text.parse::<toml::Table>() {
        Ok(t) => Some(t),
        Err(e) => {
            let line = e
                .span()
                .map(|sp| text[..sp.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim_end();
            problems.push(
                source,
                "",
                match line {
                    Some(l) => format!("line {l}: not valid TOML: {message}"),
                    None => format!("not valid TOML: {message}"),
                },
            );
            None
        }
    }
}

/// Reads `T` from a TOML table, reporting every value of the wrong type (each is removed and
/// the rest read again) and a missing required key. `at` prefixes the keys in problems.
fn read_lenient<T: for<'de> Deserialize<'de>>(
    mut table: toml::Table,
    at: &str,
    source: &str,
    problems: &mut Problems,
) -> Option<T> {
    let within = |path: String| match (at.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => at.to_owned(),
        (false, false) => format!("{at}.{path}"),
    };
    let mut removed: Vec<String> = Vec::new();
    // Each round removes one bad value; a table has few keys.
    for _ in 0..256 {
        let value = toml::Value::Table(table.clone());
        let e = match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let segments: Vec<&serde_path_to_error::Segment> = e.path().iter().collect();
        let path = if segments.is_empty() {
            String::new()
        } else {
            e.path().to_string()
        };
        let message = e.inner().message().to_owned();
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            let key = if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            if !removed.contains(&key) {
                problems.push(source, within(key), "is required");
            }
            return None;
        }
        problems.push(source, within(path.clone()), message);
        removed.push(path);
        if !remove_at(&mut table, &segments) {
            return None;
        }
    }
    None
}

/// The `[[list]]` entries of a file, each read on its own (a problem in one does not hide the
/// others'), with their index.
fn read_entries<T: for<'de> Deserialize<'de>>(
    table: &toml::Table,
    list: &str,
    source: &str,
    problems: &mut Problems,
) -> Vec<(usize, T)> {
    let entries = match table.get(list) {
        None => return Vec::new(),
        Some(toml::Value::Array(a)) => a,
        Some(_) => {
            problems.push(source, list, format!("must be a list of [[{list}]] tables"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{list}[{i}]");
        let toml::Value::Table(t) = entry else {
            problems.push(source, at, format!("must be a [[{list}]] table"));
            continue;
        };
        let mut t = t.clone();
        strip_unknown_keys::<T>(&mut t, &at, source, problems);
        if let Some(v) = read_lenient::<T>(t, &at, source, problems) {
            out.push((i, v));
        }
    }
    out
}

/// Removes the value at `path` from `table`; false if there is none.
fn remove_at(table: &mut toml::Table, path: &[&serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here = Some(table);
    let mut current: Option<&mut toml::Value> = None;
    for seg in parents {
        let next = match (current.take(), here.take(), seg) {
            (None, Some(t), Segment::Map { key }) => t.get_mut(key),
            (Some(toml::Value::Table(t)), None, Segment::Map { key }) => t.get_mut(key),
            (Some(toml::Value::Array(a)), None, Segment::Seq { index }) => a.get_mut(*index),
            _ => None,
        };
        match next {
            Some(v) => current = Some(v),
            None => return false,
        }
    }
    match (current, here, last) {
        (None, Some(t), Segment::Map { key }) => t.remove(key).is_some(),
        (Some(toml::Value::Table(t)), None, Segment::Map { key }) => t.remove(key).is_some(),
        (Some(toml::Value::Array(a)), None, Segment::Seq { index }) if *index < a.len() => {
            a.remove(*index);
            true
        }
        _ => false,
    }
}

/// Reports and removes the keys of `table` that `T` does not have, so the rest can still be
/// read and checked.
fn strip_unknown_keys<T: for<'de> Deserialize<'de>>(
    table: &mut toml::Table,
    at: &str,
    source: &str,
    problems: &mut Problems,
) {
    let allowed = fields_of::<T>();
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        let full = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        problems.push(source, full, unknown_key_message(&key, at, allowed));
        table.remove(&key);
    }
}

fn unknown_key_message(key: &str, at: &str, allowed: &[&str]) -> String {
    let place = if at.is_empty() {
        String::new()
    } else {
        format!(" in {at}")
    };
    format!(
        "unknown key `{key}`; the keys allowed{place} are: {}",
        allowed.join(", ")
    )
}

/// The field names of a struct deriving `Deserialize` (asks serde's derived code).
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("field probe"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("field probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_probe_lists_a_structs_keys() {
        assert_eq!(fields_of::<RawRate>(), ["per_second", "burst"]);
        assert!(fields_of::<RawPartner>().contains(&"token_hashes"));
    }

    #[test]
    fn long_numbers_are_redacted_from_consent_messages() {
        assert_eq!(
            redact_numbers("invalid type: integer `999900006`, expected a string at line 3"),
            "invalid type: integer `…`, expected a string at line 3"
        );
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host_and_no_credentials() {
        assert!(check_url("http://127.0.0.1:18081/referrals").is_ok());
        assert!(check_url("https://partner.example/in").is_ok());
        assert!(check_url("ftp://partner.example/in").is_err());
        assert!(check_url("partner.example/in").is_err());
        assert!(check_url("https://user:pw@partner.example/in").is_err());
        assert!(check_url("not a url").is_err());
        // Read as a URI, but no URL the delivery client can send to: refused when the
        // configuration is read, not at every push.
        assert!(check_url("http://partner.example:99999/in").is_err());
        // What a push uses: the URL as configured, parsed once.
        assert_eq!(
            check_url("https://partner.example/in?x=1").map(|u| u.to_string()),
            Ok("https://partner.example/in?x=1".to_owned())
        );
    }

    #[test]
    fn instants_are_dates_or_rfc3339() {
        let d = instant(&toml::Value::String("2025-01-01".into())).unwrap();
        assert_eq!(d.to_rfc3339(), "2025-01-01T00:00:00+00:00");
        assert!(instant(&toml::Value::String("2025-01-01T09:00:00+01:00".into())).is_ok());
        assert!(instant(&toml::Value::String("yesterday".into())).is_err());
    }

    fn shipped(env: &[(&str, &str)]) -> Result<Config, Vec<ConfigProblem>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        load_with_env(
            &dir,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn delivery_settings_have_their_defaults_and_a_worker_id() {
        let d = shipped(&[]).unwrap().settings.delivery;
        assert!(!d.worker_id.is_empty());
        assert_eq!(d.poll_interval, Duration::from_millis(200));
        assert_eq!(d.lease, Duration::from_secs(60));
        assert_eq!(d.claim_batch, 64);
        assert_eq!(d.backoff_base, Duration::from_millis(500));
        assert_eq!(d.backoff_max, Duration::from_secs(300));
        assert_eq!(d.max_age, Duration::from_secs(86_400));
        assert_eq!(d.mailbox_visibility, Duration::from_secs(300));
        assert_eq!(d.per_partner_concurrency, 4);
        let named = shipped(&[("WIJKBRUG__DELIVERY__WORKER_ID", "gw-1")]).unwrap();
        assert_eq!(named.settings.delivery.worker_id, "gw-1");
    }

    #[test]
    fn group_commit_has_no_wait_for_company_unless_one_is_set() {
        // A wait would hold every write that finds the writer idle, and a closed loop of
        // clients in step with the commits (BENCHMARKS.md): batches grow with the load alone.
        let s = shipped(&[]).unwrap().settings.store;
        assert_eq!(s.group_commit_max_batch, 64);
        assert_eq!(s.group_commit_max_wait, Duration::ZERO);
        assert_eq!(
            RawStore::default().group_commit_max_wait_ms,
            0,
            "the embedded default agrees with default.toml"
        );
        let set = shipped(&[("WIJKBRUG__STORE__GROUP_COMMIT_MAX_WAIT_MS", "3")])
            .unwrap()
            .settings
            .store;
        assert_eq!(set.group_commit_max_wait, Duration::from_millis(3));
    }

    #[test]
    fn wrong_delivery_and_ops_settings_are_each_reported() {
        let problems = shipped(&[
            ("WIJKBRUG__DELIVERY__LEASE_SECS", "0"),
            ("WIJKBRUG__DELIVERY__PER_PARTNER_CONCURRENCY", "0"),
            ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "400000"),
            ("WIJKBRUG__OPS__TOKEN_HASHES", "nonsense"),
        ])
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"delivery.lease_secs"), "{problems:?}");
        assert!(
            keys.contains(&"delivery.per_partner_concurrency"),
            "{problems:?}"
        );
        assert!(keys.contains(&"delivery.backoff_base_ms"), "{problems:?}");
        // Staff tokens are in staff.toml now: an [ops] section is an unknown one.
        assert!(keys.contains(&"ops"), "{problems:?}");
    }

    #[test]
    fn retention_settings_have_their_defaults_and_must_be_at_least_one() {
        let r = shipped(&[]).unwrap().settings.retention;
        assert_eq!(r.payload_days, 365);
        assert_eq!(r.interval, Duration::from_secs(3600));
        let set = shipped(&[
            ("WIJKBRUG__RETENTION__PAYLOAD_DAYS", "30"),
            ("WIJKBRUG__RETENTION__INTERVAL_SECS", "60"),
        ])
        .unwrap()
        .settings
        .retention;
        assert_eq!(set.payload_days, 30);
        assert_eq!(set.interval, Duration::from_secs(60));
        let problems = shipped(&[
            ("WIJKBRUG__RETENTION__PAYLOAD_DAYS", "0"),
            ("WIJKBRUG__RETENTION__INTERVAL_SECS", "0"),
        ])
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"retention.payload_days"), "{problems:?}");
        assert!(keys.contains(&"retention.interval_secs"), "{problems:?}");
    }

    #[test]
    fn circuit_breaker_and_chain_watch_settings_have_defaults_and_limits() {
        let c = shipped(&[]).unwrap().settings;
        assert_eq!(c.delivery.circuit_failure_threshold, 5);
        assert_eq!(c.delivery.circuit_cooldown, Duration::from_secs(30));
        assert_eq!(c.audit.verify_interval, Duration::from_secs(300));
        assert_eq!(c.audit.whole_verify_interval, Duration::from_secs(86_400));
        let set = shipped(&[
            ("WIJKBRUG__DELIVERY__CIRCUIT_FAILURE_THRESHOLD", "2"),
            ("WIJKBRUG__DELIVERY__CIRCUIT_COOLDOWN_SECS", "600"),
            ("WIJKBRUG__AUDIT__VERIFY_INTERVAL_SECS", "60"),
            ("WIJKBRUG__AUDIT__WHOLE_VERIFY_INTERVAL_SECS", "3600"),
        ])
        .unwrap()
        .settings;
        assert_eq!(set.delivery.circuit_failure_threshold, 2);
        assert_eq!(set.delivery.circuit_cooldown, Duration::from_secs(600));
        assert_eq!(set.audit.verify_interval, Duration::from_secs(60));
        assert_eq!(set.audit.whole_verify_interval, Duration::from_secs(3600));
        for (threshold, cooldown, interval) in [("0", "0", "0"), ("1001", "86401", "0")] {
            let problems = shipped(&[
                ("WIJKBRUG__DELIVERY__CIRCUIT_FAILURE_THRESHOLD", threshold),
                ("WIJKBRUG__DELIVERY__CIRCUIT_COOLDOWN_SECS", cooldown),
                ("WIJKBRUG__AUDIT__VERIFY_INTERVAL_SECS", interval),
                ("WIJKBRUG__AUDIT__WHOLE_VERIFY_INTERVAL_SECS", "0"),
            ])
            .unwrap_err();
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            for key in [
                "delivery.circuit_failure_threshold",
                "delivery.circuit_cooldown_secs",
                "audit.verify_interval_secs",
                "audit.whole_verify_interval_secs",
            ] {
                assert!(keys.contains(&key), "{key} not reported: {problems:?}");
            }
            assert_eq!(problems.len(), 4, "{problems:?}");
        }
        let problems =
            shipped(&[("WIJKBRUG__DELIVERY__CIRCUIT_FAILURE_THRESHOLD", "many")]).unwrap_err();
        assert_eq!(
            problems[0].key, "delivery.circuit_failure_threshold",
            "{problems:?}"
        );
    }

    /// A copy of the shipped config/ with `staff.toml` replaced by `staff`.
    fn with_staff(staff: &str) -> Result<Config, Vec<ConfigProblem>> {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        copy_dir(&src, dir.path());
        std::fs::write(dir.path().join("staff.toml"), staff).unwrap();
        load_with_env(dir.path(), Vec::new())
    }

    fn copy_dir(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.path().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn the_shipped_staff_accounts_have_one_of_each_role() {
        let staff = shipped(&[]).unwrap().staff;
        for role in Role::ALL {
            assert_eq!(
                staff.accounts.iter().filter(|a| a.role == role).count(),
                1,
                "{role}"
            );
        }
    }

    #[test]
    fn staff_accounts_are_read() {
        let ops = TokenHash::of("ops-token");
        let next = TokenHash::of("ops-token-next");
        let config = with_staff(&format!(
            "[[account]]\nname = \"desk\"\nrole = \"operations\"\ntoken_hashes = [\"{ops}\", \"{next}\"]\n"
        ))
        .unwrap();
        let account = config.staff.authenticate("ops-token-next").unwrap();
        assert_eq!(account.name.as_str(), "desk");
        assert_eq!(account.role, Role::Operations);
        assert_eq!(account.audit_name(), "operations:desk");
        assert!(config.staff.authenticate("ops-token").is_some());
        assert!(config.staff.authenticate("other").is_none());
        // No staff.toml: the staff APIs are closed.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
            dir.path(),
        );
        std::fs::remove_file(dir.path().join("staff.toml")).unwrap();
        assert!(load_with_env(dir.path(), Vec::new())
            .unwrap()
            .staff
            .accounts
            .is_empty());
    }

    #[test]
    fn every_problem_in_staff_toml_is_reported_at_its_key() {
        let ok = TokenHash::of("a");
        let partner = TokenHash::of("wbt_demo-werkplein-not-a-secret");
        let problems = with_staff(&format!(
            "[[account]]\nname = \"a b\"\nrole = \"root\"\ntoken_hashes = [\"plain\"]\n\
             [[account]]\nname = \"desk\"\nrole = \"admin\"\ntoken_hashes = []\n\
             [[account]]\nname = \"desk\"\nrole = \"admin\"\ntoken_hashes = [\"{ok}\"]\n\
             [[account]]\nname = \"twin\"\nrole = \"admin\"\ntoken_hashes = [\"{partner}\"]\ncolour = 1\n"
        ))
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("account[0].name: must be 1 to 64"), "{text:#?}");
        assert!(has("account[0].role: must be one of"), "{text:#?}");
        assert!(has("account[0].token_hashes[0]"), "{text:#?}");
        assert!(has("account[1].token_hashes: one or two"), "{text:#?}");
        assert!(has("account[2].name: `desk` is already"), "{text:#?}");
        assert!(has("colour"), "{text:#?}");
        assert!(
            has("the same token hash is configured for partners/werkplein.toml"),
            "{text:#?}"
        );
    }
}
