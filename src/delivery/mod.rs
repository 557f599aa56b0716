//! Delivery: the outbox worker that pushes to partners, and rendering for push and mailbox.

pub mod render;
pub mod retry;
