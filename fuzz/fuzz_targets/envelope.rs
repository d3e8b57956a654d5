//! Host envelopes for every function (the first byte picks the function),
//! and the work item a queue envelope carries: never a panic, and every
//! refusal says what was wrong.
#![no_main]
use guest_sync::protocol::envelope::decode_request;
use guest_sync::protocol::{FunctionName, Trigger};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let function = FunctionName::ALL[usize::from(*pick) % FunctionName::ALL.len()];
    match decode_request(function, Some("inv-1".into()), body) {
        Ok(inv) => {
            if let Trigger::Queue(m) = &inv.trigger {
                if let Err(e) = m.work_item() {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
