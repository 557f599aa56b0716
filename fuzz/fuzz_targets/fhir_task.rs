//! The FHIR R4 decoder on Task status updates (seeded with Tasks; the same entry point as a
//! Bundle, so the fuzzer also wanders into Bundles).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::FhirR4, data, "huisarts-de-linde");
});
