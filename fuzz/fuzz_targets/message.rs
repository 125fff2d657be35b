//! RawMessage::unpack on arbitrary bytes: never panics; what decodes packs
//! back to the identical bytes.
#![no_main]

use gossip::DecodeError;
use gossip::{MESSAGE_HEADER_LEN as HEADER_LEN, RawMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match RawMessage::unpack(data) {
        Ok(m) => {
            assert_eq!(m.pack(), data, "pack(unpack(x)) != x");
            let _ = m.is_unsigned();
            let _ = m.is_stale(u64::MAX);
            assert_eq!(m.signed_bytes().len(), 64 + m.body.len());
        }
        Err(e) => assert!(
            data.len() < HEADER_LEN && matches!(e, DecodeError::Truncated { .. }),
            "unexpected error {e:?} for {} bytes",
            data.len()
        ),
    }
});
