//! The wijkbrug gateway: everything with I/O. The translation layer is `wijkbrug_adapters`.

pub mod access;
pub mod analytics;
pub mod api;
pub mod app;
pub mod audit;
pub mod audit_chain;
pub mod audit_watch;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod consent;
pub mod dashboard;
pub mod delivery;
pub mod demo;
pub mod directory;
pub mod instances;
pub mod intake;
pub mod metrics;
pub mod processing_log;
pub mod retention;
pub mod routing;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod translate;
