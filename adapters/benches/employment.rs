//! Criterion benchmarks of the employment adapter (filled in with the adapter).
fn main() {}
