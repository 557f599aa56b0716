//! The employment CSV decoder on status rows (`;`-separated, a header, row by row).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::EmploymentCsv, data, "werkplein");
});
