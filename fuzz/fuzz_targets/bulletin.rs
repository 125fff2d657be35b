//! Bulletin::unpack on arbitrary bytes: never panics; what decodes packs
//! back to the identical bytes.
#![no_main]

use gossip::{BULLETIN_HEADER_LEN as HEADER_LEN, Bulletin};
use gossip::DecodeError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Bulletin::unpack(data) {
        Ok(b) => {
            assert_eq!(b.pack(), data, "pack(unpack(x)) != x");
            assert_eq!(b.header()[..], data[..HEADER_LEN]);
            let _ = b.content_id_matches();
            let _ = b.is_expired(u64::MAX);
        }
        Err(e) => assert!(
            data.len() < HEADER_LEN && matches!(e, DecodeError::Truncated { .. }),
            "unexpected error {e:?} for {} bytes",
            data.len()
        ),
    }
});
