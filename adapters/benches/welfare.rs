//! Criterion benchmarks of the welfare adapter (filled in with the adapter).
fn main() {}
