//! Known-answer tests: every value in `tests/vectors/reference.json`, made
//! by the original Python implementation, is reproduced or accepted here.

use gossip::Bulletin;
use gossip::RawMessage;
use gossip::Timestamp;
use gossip::crypto::{self, Identity, address_of};
use gossip::tapehash::{leading_zero_bits, tapehash1};
use gossip::verify::{Policy, Reason, verify_bulletin, verify_message};
use gossip::{Address, Seed};
use gossip::{Op, Payload};
use gossip::{beacon_topic, content_id, inbox_topic, topic_id};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("vectors/reference.json");
    serde_json::from_str(text).expect("vectors parse")
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hx(v).try_into().expect("length")
}

fn seed(v: &Value) -> Seed {
    Seed::from_bytes(arr(v))
}

fn now() -> u64 {
    vectors()["now"].as_u64().unwrap()
}

fn cases(name: &str) -> Vec<Value> {
    let list = vectors()[name]
        .as_array()
        .unwrap_or_else(|| panic!("{name} missing"))
        .clone();
    assert!(!list.is_empty(), "{name} is empty");
    list
}

#[test]
fn tapehash1_at_every_code_size() {
    let cases = cases("tapehash1");
    let sizes: std::collections::BTreeSet<u64> = cases
        .iter()
        .map(|c| c["code_size"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.len() >= 3,
        "expected several code sizes, got {sizes:?}"
    );
    for c in &cases {
        let size = c["code_size"].as_u64().unwrap() as usize;
        let input = hx(&c["input"]);
        assert_eq!(
            hex::encode(tapehash1(&input, size)),
            c["digest"].as_str().unwrap(),
            "code size {size}, input {}",
            c["input"]
        );
    }
}

#[test]
fn difficulty_is_leading_zero_bits() {
    for c in cases("difficulty") {
        assert_eq!(
            u64::from(leading_zero_bits(&hx(&c["digest"]))),
            c["leading_zero_bits"].as_u64().unwrap()
        );
    }
}

#[test]
fn keys_give_their_addresses() {
    for c in cases("keys") {
        assert_eq!(
            address_of(&seed(&c["seed"])).to_hex(),
            c["address"].as_str().unwrap()
        );
    }
}

#[test]
fn topics_contents_and_inbox() {
    for c in cases("topics") {
        assert_eq!(
            hex::encode(topic_id(&hx(&c["descriptor"]))),
            c["topic_id"].as_str().unwrap()
        );
    }
    let beacon = cases("topics")
        .into_iter()
        .find(|c| hx(&c["descriptor"]) == b"node beacon channel");
    assert_eq!(
        hex::encode(beacon_topic()),
        beacon.expect("beacon in vectors")["topic_id"]
            .as_str()
            .unwrap()
    );
    for c in cases("contents") {
        assert_eq!(
            hex::encode(content_id(&hx(&c["content"]))),
            c["content_id"].as_str().unwrap()
        );
    }
    let inbox = &vectors()["inbox_topic"];
    let topic = inbox_topic(
        &arr(&inbox["delivery_code"]),
        &Address(arr(&inbox["address"])),
    );
    assert_eq!(hex::encode(topic), inbox["topic_id"].as_str().unwrap());
}

#[test]
fn bulletins_pack_unpack_and_check() {
    for c in cases("bulletins") {
        let packed = hx(&c["packed"]);
        let b = Bulletin::unpack(&packed).unwrap();
        assert_eq!(b.topic, topic_id(&hx(&c["topic_descriptor"])));
        assert_eq!(b.content, hx(&c["content"]));
        assert_eq!(u64::from(b.ts), c["ts"].as_u64().unwrap());
        assert_eq!(u64::from(b.nonce), c["nonce"].as_u64().unwrap());
        assert_eq!(b.pack(), packed);
        let mut rebuilt = Bulletin::new(b.topic, b.content.clone(), b.ts);
        rebuilt.nonce = b.nonce;
        assert_eq!(rebuilt, b);
        assert_eq!(
            hex::encode(b.work().digest()),
            c["header_tapehash"].as_str().unwrap()
        );
        assert_eq!(
            u64::from(b.work().bits()),
            c["leading_zero_bits"].as_u64().unwrap()
        );
        let difficulty = c["difficulty"].as_u64().unwrap() as u32;
        let mut policy = Policy::new(Timestamp::from_secs(now()));
        policy.bulletin_difficulty = difficulty;
        let v = verify_bulletin(&b, &policy);
        assert!(v.is_valid(), "{:?}", v.checks);
        policy.bulletin_difficulty = b.work().bits() + 1;
        assert_eq!(
            verify_bulletin(&b, &policy).first_failure(),
            Some(Reason::WeakBulletinProofOfWork)
        );
    }
}

#[test]
fn messages_verify_decrypt_and_open() {
    for c in cases("messages") {
        let packed = hx(&c["packed"]);
        let m = RawMessage::unpack(&packed).unwrap();
        assert_eq!(m.pack(), packed);
        assert_eq!(m.src.to_hex(), c["src"].as_str().unwrap());
        assert_eq!(m.dst.to_hex(), c["dst"].as_str().unwrap());
        assert_eq!(hex::encode(m.sig), c["sig"].as_str().unwrap());
        assert_eq!(
            u64::from(m.work().bits()),
            c["leading_zero_bits"].as_u64().unwrap()
        );
        let dst = Identity::from_seed(&seed(&c["dst_seed"]));
        let plain = dst.open(&m.body).expect("opens with dst seed");
        assert_eq!(plain, hx(&c["plaintext_body"]));

        let mut policy = Policy::new(Timestamp::from_secs(now()));
        policy.message_difficulty = c["difficulty"].as_u64().unwrap() as u32;
        let v = verify_message(&m, Some(&dst), None, &policy);
        assert!(v.is_valid(), "{:?}", v.checks);
        let Some(Payload::Bulletin(Op::StoreAndForward, b)) = v.payload else {
            panic!("no bulletin")
        };
        assert_eq!(b.pack(), plain[1..]);

        let src = Identity::from_seed(&seed(&c["src_seed"]));
        assert_eq!(src.address(), m.src);
        assert_eq!(
            hex::encode(src.sign(&m.signed_bytes())),
            c["sig"].as_str().unwrap()
        );
        if m.src != m.dst {
            let v = verify_message(&m, Some(&src), None, &policy);
            assert_eq!(v.first_failure(), Some(Reason::WrongDestination));
        }
    }
}

#[test]
fn signatures_are_reproduced_exactly() {
    for c in cases("signatures") {
        let s = seed(&c["seed"]);
        assert_eq!(address_of(&s).to_hex(), c["src"].as_str().unwrap());
        let msg = [hx(&c["src"]), hx(&c["dst"]), hx(&c["body"])].concat();
        let sig = crypto::sign(&s, &msg);
        assert_eq!(hex::encode(sig), c["sig"].as_str().unwrap());
        assert!(crypto::verify(&address_of(&s), &msg, &sig));
    }
}

#[test]
fn invalid_messages_are_rejected_for_their_reason() {
    let dst_seed = cases("messages")[0]["dst_seed"].clone();
    let dst = Identity::from_seed(&seed(&dst_seed));
    let policy = Policy::new(Timestamp::from_secs(now()));
    for c in cases("invalid_messages") {
        let why = c["why"].as_str().unwrap();
        let packed = hx(&c["packed"]);
        let expected = match why {
            w if w.starts_with("truncated") => {
                assert!(RawMessage::unpack(&packed).is_err(), "{why}");
                continue;
            }
            w if w.contains("unsigned") => Reason::Unsigned,
            w if w.contains("signature") || w.contains("body") || w.contains("src") => {
                Reason::BadSignature
            }
            other => panic!("unknown invalid-message case: {other}"),
        };
        let m = RawMessage::unpack(&packed).unwrap();
        let v = verify_message(&m, Some(&dst), None, &policy);
        assert!(!v.is_valid(), "{why} accepted");
        assert!(v.failures().any(|r| r == expected), "{why}: {:?}", v.checks);
        let mut relay = policy;
        relay.stop_at_first = true;
        assert!(
            !verify_message(&m, Some(&dst), None, &relay).is_valid(),
            "{why} accepted by a relay"
        );
    }
}
