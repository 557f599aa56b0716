//! wijkbrug's load generator: plays the demo network's partners against a running gateway and
//! measures it (throughput, intake and submission-to-delivery latency, errors, the gateway's
//! peak memory and CPU), or posts one body to one URL for the peers it is compared with.
//! `scripts/bench.sh` drives it; BENCHMARKS.md has the figures.
//!
//! - [`gateway_run`]: one measured run against wijkbrug (configuration, store, partners).
//! - [`netconfig`]: the run's configuration folder.
//! - [`traffic`]: the referrals, in each sender's native format.
//! - [`partners`]: the receiving partners' endpoints and their status updates.
//! - [`drive`]: open-loop (fixed rate) and closed-loop (N connections) pacing.
//! - [`measure`]: counters and latency histograms.
//! - [`procstat`]: a process's peak memory and CPU from `/proc`.
//! - [`growth`]: seeding the store and timing the dashboard's queries.
//! - [`plain`]: the plain mode and its sink.
//! - [`disk`]: how long the disk under the store takes to make an append durable.
//! - [`writer_metrics`]: the store writer's counters from `/metrics` over a run.
//! - [`intake_metrics`]: the gateway's own histogram of its 202 answers over a run.
//! - [`histogram_metrics`]: a histogram of `/metrics` over a run (the two above read theirs
//!   with it).

pub mod disk;
pub mod drive;
pub mod gateway_run;
pub mod growth;
pub mod histogram_metrics;
pub mod intake_metrics;
pub mod measure;
pub mod netconfig;
pub mod partners;
pub mod plain;
pub mod procstat;
pub mod traffic;
pub mod writer_metrics;
