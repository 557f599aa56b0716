//! A standalone FHIR Consent (`POST /v1/consents` with `application/fhir+json`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = wijkbrug_fuzz::ctx("huisarts-de-linde");
    match wijkbrug_adapters::care::decode_consent(data, &ctx) {
        Ok(c) => {
            std::hint::black_box(c);
        }
        Err(errors) => {
            for e in errors {
                std::hint::black_box(e.to_string());
            }
        }
    }
});
