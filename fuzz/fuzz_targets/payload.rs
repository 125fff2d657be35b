//! Payload::decode on arbitrary message bodies (and PackedContent::unpack):
//! never panics; what decodes encodes back to the identical bytes.
#![no_main]

use gossip::{PackedContent, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::decode(data) {
        assert_eq!(p.encode(), data, "encode(decode(x)) != x");
        assert_eq!(p.op() as u8, data[0]);
    }
    if let Ok(pc) = PackedContent::unpack(data) {
        assert_eq!(pc.pack(), data, "PackedContent round trip");
    }
});
