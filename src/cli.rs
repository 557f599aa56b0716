//! The command line: `wijkbrug <command>`. Thin glue over the library.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wijkbrug_adapters::model::PartnerId;
use wijkbrug_adapters::{DecodeContext, Format};

use secrecy::ExposeSecret;

use crate::{auth, config, directory, translate};

/// The most input `translate` reads (the gateway's own body limit is configured separately).
const MAX_INPUT: u64 = 256 * 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "wijkbrug",
    version,
    about = "Interoperability gateway for the organisations of one neighbourhood"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: the partner API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Run the whole neighbourhood on this machine: the gateway, simulated partner systems
    /// and a steady stream of referrals, until Ctrl-C or --duration. Exit codes: 0 stopped
    /// cleanly, 1 could not start, 2 the listen address is in use, 3 the data directory
    /// cannot be written.
    Demo(crate::demo::command::DemoArgs),
    /// Translate a message from one format to another, offline, as the gateway would.
    Translate(TranslateArgs),
    /// Print the JSON Schema of case-json (wijkbrug.case/1).
    Schema,
    /// Check the whole configuration (settings, partners, routing, consents, secrets in the
    /// environment) and print every problem.
    CheckConfig(CheckConfigArgs),
    /// Manage partners.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write the learning report of a period: report.html (self-contained) and one CSV file
    /// per table (flows.csv, times.csv, consent_refusals.csv, deliveries.csv). Aggregated
    /// only; counts under five residents are withheld. Exit codes: 0 written, 1 could not run
    /// (configuration, store, files), 2 bad dates.
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// The first day of the period, YYYY-MM-DD (from midnight UTC).
    #[arg(long)]
    from: String,
    /// The first day after the period (not included), YYYY-MM-DD.
    #[arg(long)]
    to: String,
    /// The folder to write the report into (created if missing).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// The configuration folder (default.toml names the store; partners/ their sectors).
    #[arg(long, default_value = "config")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the audit log's hash chain and report the first broken link. Exit codes: 0 the
    /// chain is intact, 1 it is broken, 2 it could not be checked.
    Verify(AuditVerifyArgs),
    /// Print one resident's processing log ("who saw what about me", GDPR article 15): every
    /// event about them, which partner received which data categories, when, under which
    /// consent. Exit codes: 0 printed, 2 an invalid BSN or the log could not be read.
    Resident(AuditResidentArgs),
}

#[derive(Args)]
struct AuditResidentArgs {
    /// The resident's BSN (9 digits, 11-proef); never printed back.
    #[arg(long)]
    bsn: String,
    /// The configuration folder (default.toml names the store and the pseudonym key).
    #[arg(long, default_value = "config")]
    config: PathBuf,
}

#[derive(Args)]
struct AuditVerifyArgs {
    /// The configuration folder (default.toml names the store).
    #[arg(long, default_value = "config")]
    config: PathBuf,
    /// A head printed by an earlier run (`<seq>:<hash>`), kept outside the store: the chain
    /// must still hold it. Catches removed newest events and a rewritten chain. Repeatable.
    #[arg(long = "anchor", value_name = "SEQ:HASH")]
    anchors: Vec<crate::audit_chain::Anchor>,
}

#[derive(Args)]
struct ServeArgs {
    /// The configuration folder (default.toml, partners/, routing.toml, consents/).
    #[arg(long, default_value = "config")]
    config: PathBuf,
}

#[derive(Args)]
struct CheckConfigArgs {
    /// The configuration folder (default.toml, partners/, routing.toml, consents/).
    #[arg(long, default_value = "config")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum PartnerCommand {
    /// Mint a new API token for a partner and print it with the hash to configure.
    Token,
}

#[derive(Args)]
struct TranslateArgs {
    /// List the formats and exit.
    #[arg(long)]
    list: bool,
    /// The input's format.
    #[arg(long, required_unless_present = "list")]
    from: Option<String>,
    /// The output's format.
    #[arg(long, required_unless_present = "list")]
    to: Option<String>,
    /// The sending partner's id (default: the first configured partner speaking --from).
    #[arg(long)]
    sender: Option<String>,
    /// The configuration folder with partners/*.toml (partner ids and their AGB and
    /// municipality codes).
    #[arg(long, default_value = "config")]
    config: PathBuf,
    /// Write one file a record into this folder instead of everything to stdout.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// The input file; `-` or nothing for stdin.
    input: Option<PathBuf>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run_serve(&args),
        Command::Demo(args) => crate::demo::command::run(args),
        Command::Translate(args) => run_translate(args),
        Command::Schema => {
            print!("{}", wijkbrug_adapters::case_json::json_schema());
            ExitCode::SUCCESS
        }
        Command::CheckConfig(args) => run_check_config(&args),
        Command::Partner(PartnerCommand::Token) => run_partner_token(),
        Command::Audit(AuditCommand::Verify(args)) => run_audit_verify(&args),
        Command::Audit(AuditCommand::Resident(args)) => run_audit_resident(&args),
        Command::Report(args) => run_report(&args),
    }
}

/// Exit codes: 0 written, 1 could not run (configuration, store, files), 2 bad dates.
fn run_report(args: &ReportArgs) -> ExitCode {
    use crate::analytics::period::ReportPeriod;
    use crate::analytics::PartnerSectors;

    let period = match ReportPeriod::parse(&args.from, &args.to) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let problems = |problems: Vec<config::ConfigProblem>| {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problem(s) in {}", problems.len(), args.config.display());
        ExitCode::from(1)
    };
    let settings = match config::load_settings(&args.config) {
        Ok(s) => s,
        Err(p) => return problems(p),
    };
    let sectors = match directory::load(&args.config) {
        Ok((_, partners)) => PartnerSectors::new(
            partners
                .into_iter()
                .map(|p| (p.entry.partner, p.entry.sector)),
        ),
        Err(p) => return problems(p),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let Ok(store) = open_existing_store(&settings).await else {
            return ExitCode::from(1);
        };
        let report = crate::analytics::report::Report::gather(
            store.as_ref(),
            period,
            &sectors,
            crate::store::now(),
        )
        .await;
        store.close().await;
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: reading the store: {e}");
                return ExitCode::from(1);
            }
        };
        match report.write_to(&args.out) {
            Ok(paths) => {
                println!("learning report {}:", period.label());
                for p in paths {
                    println!("  {}", p.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}

/// Exit codes: 0 stopped cleanly, 1 could not start (configuration, store, address).
fn run_serve(args: &ServeArgs) -> ExitCode {
    let config = match crate::config::load(&args.config) {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!(
                "{} problem(s) in the configuration; `wijkbrug check-config` lists them too",
                problems.len()
            );
            return ExitCode::from(1);
        }
    };
    crate::telemetry::init(&config.settings.log, std::io::stdout);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(crate::server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Exit codes: 0 the configuration is sound (a summary on stdout), 1 it has problems (one
/// line each on stderr, then their count).
fn run_check_config(args: &CheckConfigArgs) -> ExitCode {
    match config::load(&args.config) {
        Ok(cfg) => {
            println!("{}: ok: {}", args.config.display(), cfg.summary());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) in {}", problems.len(), args.config.display());
            ExitCode::from(1)
        }
    }
}

fn run_audit_verify(args: &AuditVerifyArgs) -> ExitCode {
    let settings = match config::load_settings(&args.config) {
        Ok(s) => s,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) in {}", problems.len(), args.config.display());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(audit_verify(&settings, &args.anchors))
}

fn run_audit_resident(args: &AuditResidentArgs) -> ExitCode {
    let bsn = match wijkbrug_adapters::model::Bsn::parse(args.bsn.trim()) {
        Ok(b) => b,
        Err(rule) => {
            eprintln!("error: --bsn {rule}");
            return ExitCode::from(2);
        }
    };
    let settings = match config::load_settings(&args.config) {
        Ok(s) => s,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) in {}", problems.len(), args.config.display());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(audit_resident(&settings, &bsn))
}

async fn audit_resident(
    settings: &config::Settings,
    bsn: &wijkbrug_adapters::model::Bsn,
) -> ExitCode {
    let store = match open_existing_store(settings).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pseudonym = settings.audit.pseudonym_key.pseudonym(bsn);
    let retention = crate::processing_log::retention_text(&settings.retention);
    let result = store.processing_log(pseudonym.as_str(), &retention).await;
    store.close().await;
    let entries = match result {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: reading the audit log: {e}");
            return ExitCode::from(2);
        }
    };
    println!("processing log for the resident with the given BSN");
    print!("{}", processing_table(&entries));
    println!("{} event(s)", entries.len());
    ExitCode::SUCCESS
}

/// The entries as a plain-text table: time, action, partner, recipient, categories, legal
/// basis, result.
fn processing_table(entries: &[crate::processing_log::ProcessingEntry]) -> String {
    let header = [
        "TIME (UTC)",
        "ACTION",
        "PARTNER",
        "RECIPIENT",
        "CATEGORIES",
        "LEGAL BASIS",
        "RESULT",
    ];
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.action.code().to_owned(),
                e.actor.clone(),
                e.recipient
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| r.to_string()),
                e.categories
                    .filter(|c| !c.is_empty())
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                e.legal_basis.clone(),
                e.result.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    out
}

/// Opens the configured store for a tool (SQLite or PostgreSQL), refusing a missing database
/// (opening a SQLite file would create it; a PostgreSQL database must exist) or one that was
/// never migrated. Errors are printed; the exit code is 2.
async fn open_existing_store(
    settings: &config::Settings,
) -> Result<std::sync::Arc<dyn crate::store::Store>, ExitCode> {
    use crate::store::sqlite::SqliteStore;
    use crate::store::Backend;

    let cannot = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("error: {what}: {e}");
        ExitCode::from(2)
    };
    if Backend::of(&settings.store.url) == Some(Backend::Sqlite) {
        match SqliteStore::database_file(&settings.store) {
            Ok(path) if path.is_file() => {}
            Ok(path) => {
                return Err(cannot(
                    "no database",
                    &format_args!("{} does not exist", path.display()),
                ))
            }
            Err(e) => return Err(cannot("the store", &e)),
        }
    }
    let store =
        match crate::store::open(&settings.store, settings.audit.pseudonym_key.clone()).await {
            Ok(s) => s,
            Err(e) => return Err(cannot("opening the store", &e)),
        };
    if let Err(e) = store.ready().await {
        store.close().await;
        return Err(cannot(
            "the store is not ready (start the gateway once to migrate it)",
            &e,
        ));
    }
    Ok(store)
}

async fn audit_verify(
    settings: &config::Settings,
    anchors: &[crate::audit_chain::Anchor],
) -> ExitCode {
    let store = match open_existing_store(settings).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = crate::audit_chain::check_with_anchors(store.as_ref(), anchors).await;
    store.close().await;
    match result {
        Ok(check) => {
            println!("{check}");
            if check.intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: reading the audit log: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_partner_token() -> ExitCode {
    let (token, hash) = auth::mint_token();
    let mut out = std::io::stdout().lock();
    let written = writeln!(
        out,
        "token: {}\n\
         hash:  {hash}\n\
         \n\
         Put the hash in token_hashes in config/partners/<id>.toml (keep the old one there too\n\
         until the partner has switched). Hand the token to the partner over a safe channel,\n\
         it is shown only this once: the gateway keeps only its hash.",
        token.expose_secret()
    )
    .and_then(|()| out.flush());
    if written.is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Exit codes: 0 translated, 1 could not run (configuration, files), 2 bad input.
fn run_translate(args: TranslateArgs) -> ExitCode {
    if args.list {
        println!(
            "{:<16} {:<11} {:<22} description",
            "format", "sector", "media type"
        );
        for f in Format::ALL {
            println!(
                "{:<16} {:<11} {:<22} {}",
                f.code(),
                f.sector().map_or("any", |s| s.code()),
                f.media_type(),
                f.description()
            );
        }
        return ExitCode::SUCCESS;
    }
    let parse_format = |flag: &str, v: Option<&String>| -> Result<Format, ExitCode> {
        let v = v.map(String::as_str).unwrap_or_default();
        v.parse::<Format>().map_err(|e| {
            eprintln!("error: --{flag}: {e}");
            ExitCode::from(1)
        })
    };
    let from = match parse_format("from", args.from.as_ref()) {
        Ok(f) => f,
        Err(c) => return c,
    };
    let to = match parse_format("to", args.to.as_ref()) {
        Ok(f) => f,
        Err(c) => return c,
    };
    let (directory, partners) = match directory::load(&args.config) {
        Ok(d) => d,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(1);
        }
    };
    let input = match read_input(args.input.as_ref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let sender = args
        .sender
        .unwrap_or_else(|| translate::default_sender(&partners, from, &input));
    let sender = match PartnerId::parse(&sender) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --sender: {e}");
            return ExitCode::from(1);
        }
    };
    let ctx = DecodeContext { sender, directory };
    let records = match translate::translate(&input, from, to, &ctx) {
        Ok(t) => {
            for note in &t.notes {
                eprintln!("{note}");
            }
            t.records
        }
        Err(problems) => {
            for p in problems {
                eprintln!("error: {}", p.0);
            }
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = args.out_dir {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
        let ext = match to {
            Format::Iwmo32 => "xml",
            Format::EmploymentCsv => "csv",
            _ => "json",
        };
        for (i, r) in records.iter().enumerate() {
            let path = dir.join(format!("{:04}-{}.{ext}", i + 1, r.kind));
            if let Err(e) = std::fs::write(&path, &r.bytes) {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
        eprintln!("wrote {} file(s) to {}", records.len(), dir.display());
        return ExitCode::SUCCESS;
    }
    match translate::join(to, &records) {
        Ok(bytes) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn read_input(path: Option<&PathBuf>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::File::open(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?
                .take(MAX_INPUT)
                .read_to_end(&mut buf)?;
        }
        _ => {
            std::io::stdin()
                .lock()
                .take(MAX_INPUT)
                .read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}
