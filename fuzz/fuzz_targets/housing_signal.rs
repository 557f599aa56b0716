//! The housing-signal decoder on a single early-warning signal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::HousingSignal, data, "woonstad-noord");
});
