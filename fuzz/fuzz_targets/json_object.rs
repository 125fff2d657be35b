//! Object::from_json on arbitrary bytes: never panics; an object that
//! decodes survives to_json -> text -> from_json unchanged.
#![no_main]

use gossip::codec::Object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::from_json(data) else {
        return;
    };
    let text = serde_json::to_vec(&obj.to_json()).expect("serialises");
    assert_eq!(Object::from_json(&text).expect("decodes"), obj);
});
