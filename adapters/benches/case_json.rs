//! Criterion benchmarks of the case_json adapter (filled in with the adapter).
fn main() {}
