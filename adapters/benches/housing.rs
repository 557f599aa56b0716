//! Criterion benchmarks of the housing adapter (filled in with the adapter).
fn main() {}
