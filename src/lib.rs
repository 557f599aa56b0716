//! The wijkbrug gateway: everything with I/O. The translation layer is `wijkbrug_adapters`.

pub mod cli;
pub mod directory;
pub mod translate;
