//! The case-json parser: as a partner's message, as a tracked referral (the mailbox and the
//! store read these back) and as a bare request.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::{case_json, Format};

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::CaseJson, data, "werkplein");
    if let Ok(r) = case_json::decode_tracked(data) {
        std::hint::black_box(r);
    }
    if let Ok(r) = case_json::decode_request(data) {
        std::hint::black_box(r);
    }
});
