//! Object::from_json on arbitrary bytes parsed as JSON: never panics; an
//! object that decodes survives to_json -> from_json unchanged, and its
//! JSON text parses back to the same object.
#![no_main]

use gossip::codec::Object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(obj) = Object::from_json(&value) else {
        return;
    };
    let json = obj.to_json();
    let back = Object::from_json(&json).expect("to_json output decodes");
    assert_eq!(back, obj, "from_json(to_json(o)) != o");
    let text = serde_json::to_vec(&json).expect("serialises");
    let reparsed: serde_json::Value = serde_json::from_slice(&text).expect("parses");
    assert_eq!(Object::from_json(&reparsed).expect("decodes"), obj);
});
