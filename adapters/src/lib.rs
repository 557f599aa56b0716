//! wijkbrug's translation layer.
//!
//! The common case model ([`model`]) is the one language inside the gateway; its types validate
//! on construction, so an invalid value cannot exist. Each sector adapter translates both ways
//! between a partner's native format and that model. Everything here is pure: no I/O, no async,
//! no clock. Bytes in, typed values or errors out.

pub mod adapter;
pub mod care;
pub mod case_json;
pub mod employment;
pub mod housing;
pub mod model;
pub mod welfare;

pub use adapter::{
    adapter_for, collect_records, Adapter, DecodeContext, DecodeError, Directory, DirectoryEntry,
    EncodeError, Format, IncomingReferral, Location, OutgoingReferral, OutgoingStatus, Record,
    Records,
};
