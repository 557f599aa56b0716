//! The FHIR R4 decoder on referral Bundles (Patient, ServiceRequest, Consent) from a GP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::FhirR4, data, "huisarts-de-linde");
});
