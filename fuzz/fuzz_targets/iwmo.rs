//! The iWmo 3.2 decoder (WMO315 requests; WMO301, 319, 305, 307 status), as sent by a
//! municipality and by a provider.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wijkbrug_adapters::Format;

fuzz_target!(|data: &[u8]| {
    wijkbrug_fuzz::decode_all(Format::Iwmo32, data, "zorggroep-oost");
    wijkbrug_fuzz::decode_all(Format::Iwmo32, data, "wijkteam-centrum");
});
