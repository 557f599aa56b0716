//! Delivery: the outbox worker that pushes to partners, rendering for push and mailbox, and
//! each push partner's delivery health (with its circuit breaker).

pub mod client;
pub mod health;
pub mod render;
pub mod retry;
pub mod worker;

pub use client::DeliveryClient;
pub use health::{DeliveryHealth, PartnerHealth};
pub use worker::{DeliveryStats, DeliveryWorker};
