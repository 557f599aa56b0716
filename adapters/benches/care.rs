//! Criterion benchmarks of the care adapter (filled in with the adapter).
fn main() {}
