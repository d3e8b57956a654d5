//! A Graph collection page: never a panic, a refusal says what was wrong,
//! and an accepted next link never leaves the Graph endpoint's origin.
#![no_main]
use guest_sync::graph::http::decode_page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let graph = url::Url::parse("https://graph.microsoft.com").unwrap();
    match decode_page(data, &graph) {
        Ok(page) => {
            if let Some(next) = page.next.as_ref() {
                assert_eq!(next.origin(), graph.origin());
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }
});
