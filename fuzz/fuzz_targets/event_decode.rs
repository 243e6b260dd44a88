//! The event decoder on arbitrary bytes: never panics, and whatever it
//! accepts re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = authlog_events::codec::decode(data) {
        // A decoded record keeps its identity through a second decode.
        let again = authlog_events::codec::decode(data).expect("decodes twice");
        assert_eq!(record, again);
    }
});
