//! Delivery: the outbox worker that pushes to partners, and rendering for push and mailbox.

pub mod client;
pub mod render;
pub mod retry;
pub mod worker;

pub use client::DeliveryClient;
pub use worker::{DeliveryStats, DeliveryWorker};
