//! The token endpoint's answer: never a panic, and a refusal never repeats
//! the token it may hold.
#![no_main]
use guest_sync::graph::decode_token_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = decode_token_answer(data) {
        assert!(!e.is_empty());
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
            if let Some(t) = v.get("access_token").and_then(|t| t.as_str()) {
                if t.len() >= 8 {
                    assert!(!e.contains(t), "the error repeats the token");
                }
            }
        }
    }
});
