//! The local secrets file and the tenant options JSON: never a panic, a
//! refusal says what was wrong (the secrets file's never repeats a value).
#![no_main]
use guest_sync::secrets::local::decode_file;
use guest_sync::tenants::parse_options;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = decode_file(data) {
        assert!(!e.is_empty());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = parse_options(text) {
            assert!(!e.is_empty());
        }
    }
});
