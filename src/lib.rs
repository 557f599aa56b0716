//! The wijkbrug gateway: everything with I/O. The translation layer is `wijkbrug_adapters`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod consent;
pub mod directory;
pub mod routing;
pub mod store;
pub mod translate;
