//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and any
//! crashing inputs kept in `fuzz/regressions/<target>/` through the same
//! code and checks as the fuzz targets, so a decoder change that panics or
//! breaks a round trip on them fails `cargo test` without cargo-fuzz.

use std::fs;
use std::path::Path;

use gossip::DecodeError;
use gossip::Payload;
use gossip::codec::{Kind, Object, ObjectReader, ReadError};
use gossip::crypto::address_of;
use gossip::{BULLETIN_HEADER_LEN, Bulletin};
use gossip::{MESSAGE_HEADER_LEN, RawMessage};
use gossip::{key_file_text, parse_key_file};

#[path = "../fuzz/harness/relay_input.rs"]
mod relay_input;
#[path = "../fuzz/harness/session_input.rs"]
mod session_input;

/// Every input kept for `target`, from the corpus and the regressions.
fn inputs(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            out.push(fs::read(e.path()).expect("readable input"));
        }
    }
    out
}

#[test]
fn bulletin_inputs_round_trip() {
    let all = inputs("bulletin");
    assert!(!all.is_empty(), "the bulletin corpus is committed");
    for data in all {
        match Bulletin::unpack(&data) {
            Ok(b) => assert_eq!(b.pack(), data),
            Err(e) => assert!(
                data.len() < BULLETIN_HEADER_LEN && matches!(e, DecodeError::Truncated { .. })
            ),
        }
    }
}

#[test]
fn message_inputs_round_trip() {
    for data in inputs("message") {
        match RawMessage::unpack(&data) {
            Ok(m) => assert_eq!(m.pack(), data),
            Err(e) => assert!(
                data.len() < MESSAGE_HEADER_LEN && matches!(e, DecodeError::Truncated { .. })
            ),
        }
    }
}

#[test]
fn payload_inputs_round_trip() {
    for data in inputs("payload") {
        if let Ok(p) = Payload::decode(&data) {
            assert_eq!(p.encode(), data);
        }
    }
}

#[test]
fn json_object_inputs_round_trip() {
    for data in inputs("json_object") {
        if let Ok(obj) = Object::from_json(&data) {
            let text = serde_json::to_vec(&obj.to_json()).unwrap();
            assert_eq!(Object::from_json(&text).unwrap(), obj);
        }
    }
}

#[test]
fn wire_stream_inputs_read_without_panic() {
    for data in inputs("wire_stream") {
        let Some((&selector, stream)) = data.split_first() else {
            continue;
        };
        let kind = [Kind::Any, Kind::Bulletin, Kind::Message][usize::from(selector % 3)];
        let mut ended = false;
        for item in ObjectReader::new(stream, kind) {
            assert!(!ended, "an item after a fatal error");
            match item {
                Ok(obj) => assert!(obj.expect(kind).is_ok()),
                Err(ReadError::Decode { fatal, .. }) => ended = fatal,
                Err(ReadError::Io(e)) => panic!("I/O error from a slice: {e}"),
            }
        }
    }
}

#[test]
fn key_file_inputs_parse_without_panic() {
    for data in inputs("key_file") {
        if let Ok(seed) = parse_key_file(&String::from_utf8_lossy(&data), address_of) {
            let text = key_file_text(&seed, &address_of(&seed));
            let back = parse_key_file(&text, address_of).unwrap();
            assert_eq!(back.as_bytes(), seed.as_bytes());
        }
    }
}

#[test]
fn relay_input_inputs_run_without_panic_or_node_error() {
    let all = inputs("relay_input");
    assert!(!all.is_empty(), "the relay_input corpus is committed");
    for data in all {
        relay_input::run_input(&data);
    }
}

#[path = "../fuzz/harness/reconcile.rs"]
mod reconcile;

#[path = "../fuzz/harness/dissemination.rs"]
mod dissemination;

#[test]
fn dissemination_inputs_run_without_panic_or_node_error() {
    let all = inputs("dissemination");
    assert!(!all.is_empty(), "the dissemination corpus is committed");
    for data in all {
        dissemination::run_input(&data);
    }
}

#[test]
fn reconcile_inputs_run_without_panic_or_node_error() {
    let all = inputs("reconcile");
    assert!(!all.is_empty(), "the reconcile corpus is committed");
    for data in all {
        reconcile::run_input(&data);
    }
}

#[test]
fn session_input_inputs_run_without_panic_or_broken_books() {
    let all = inputs("session_input");
    assert!(!all.is_empty(), "the session_input corpus is committed");
    for data in all {
        session_input::run_input(&data);
    }
}
