//! Structured logs: text or JSON lines (tracing-subscriber), filtered by the configured
//! directive. Log lines carry partner ids, referral ids and request ids, never resident data.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber writing to `writer`. Returns false when one was already
/// installed (e.g. a second app in one test process).
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    match settings.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init().is_ok(),
        LogFormat::Text => builder.try_init().is_ok(),
    }
}
