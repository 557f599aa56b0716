//! The housing-signal decoder on a status callback (`wijkbrug.housing-status/1`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::HousingSignal, data, "woonstad-noord");
});
