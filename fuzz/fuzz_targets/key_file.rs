//! parse_key_file on arbitrary text (bytes decoded lossily as UTF-8, and
//! exactly when they are UTF-8): never panics; a seed it accepts round
//! trips through key_file_text.
#![no_main]

use gossip::crypto::address_of;
use gossip::{key_file_text, parse_key_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lossy = String::from_utf8_lossy(data);
    let texts = [Some(lossy.as_ref()), std::str::from_utf8(data).ok()];
    for text in texts.into_iter().flatten() {
        if let Ok(seed) = parse_key_file(text, address_of) {
            let again = key_file_text(&seed, &address_of(&seed));
            let back = parse_key_file(&again, address_of).expect("keygen text parses");
            assert_eq!(back.as_bytes(), seed.as_bytes());
        }
    }
});
