//! The `relay_input` harness, shared by the fuzz target and
//! `tests/fuzz_regressions.rs` (which replays the corpus through it).
//!
//! The relay's input path: a Node with a fixed identity (the reference
//! vectors' message recipient) fed arbitrary bytes, then run to idle at a
//! fixed now. Nothing may panic and the node may not fail: a NodeError
//! would stop the relay, so no input may cause one.
//!
//! The first byte picks the mode:
//! - 0: the rest through `Node::receive_bytes` (one packed message);
//! - 1: the rest through `ObjectReader` (Kind::Any), messages to
//!   `Node::receive`, bulletins to `Node::publish`, as `gossip relay` does;
//! - 2: a sequence of chunks `flags (1) ‖ len (2, BE) ‖ plain body`, each
//!   body sealed to the node, signed by a fixed neighbour and sent at
//!   difficulty 0 (bulletin difficulty 0 too), so the fuzzer reaches the
//!   operation handlers past the crypto. Flag 1 fixes a carried bulletin's
//!   content id, flag 2 sets its ts to now, flag 4 runs the node to idle
//!   after this chunk.

use std::sync::OnceLock;

use gossip::Timestamp;
use gossip::codec::{Kind, Object, ObjectReader};
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::{Node, NodeConfig, prepare_message};
use gossip::{Address, Seed};
use gossip::{TopicId, beacon_topic, content_id};

/// The reference vectors' `now`.
const NOW: u64 = 1_764_000_060;

fn seed(hex: &str) -> Seed {
    Seed::from_hex(hex).expect("fixed seed")
}

/// The vectors' messages[0] dst_seed: the node.
const NODE_SEED: &str = "1077e5c3414cd4bb7bfa43d99025abc69956a91fc444d428eec704b2229ccf1b";
/// The vectors' messages[0] src_seed: a neighbour.
const PEER_SEED: &str = "39e9ccf864d4f34de6b60b271f9578e3a90f49f7eb454cd4957e411ec6cfb788";

struct Fixed {
    peer: Identity,
    other: Identity,
    node_address: Address,
    node_key: PeerKey,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let node = Identity::from_seed(&seed(NODE_SEED));
        Fixed {
            peer: Identity::from_seed(&seed(PEER_SEED)),
            other: Identity::from_seed(&Seed::from_bytes([9; 32])),
            node_address: node.address(),
            node_key: PeerKey::new(&node.address()).expect("valid key"),
        }
    })
}

fn node(easy: bool) -> Node {
    let f = fixed();
    let mut config = NodeConfig::builder().delivery_code(Some([1; 8]));
    if easy {
        config = config.bulletin_difficulty(0).message_difficulty(0);
    }
    let config = config.build().expect("a valid config");
    let mut n = Node::new(Identity::from_seed(&seed(NODE_SEED)), config);
    n.add_neighbour(f.peer.address(), if easy { 0 } else { 1 })
        .expect("valid peer");
    n.add_neighbour(f.other.address(), 0).expect("valid peer");
    n
}

fn run(n: &mut Node) {
    n.run_until_idle(Timestamp::from_secs(NOW))
        .expect("no input makes the node fail");
    n.drain_events().for_each(drop);
}

fn chunks(n: &mut Node, mut data: &[u8]) {
    let f = fixed();
    // Pending sync requests, so respond_sync_headers answers are taken.
    n.request_sync(f.peer.address(), TopicId::from_bytes([0; 32]));
    n.request_sync(f.peer.address(), beacon_topic());
    run(n);
    while data.len() >= 3 {
        let flags = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])) % 4096;
        let end = (3 + len).min(data.len());
        let mut body = data[3..end].to_vec();
        data = &data[end..];
        let carries_bulletin = matches!(body.first(), Some(0x00 | 0x01 | 0x05));
        if carries_bulletin && body.len() >= 73 {
            if flags & 2 != 0 {
                body[65..69].copy_from_slice(&(NOW as u32).to_be_bytes());
            }
            if flags & 1 != 0 {
                let id = content_id(&body[73..]);
                body[33..65].copy_from_slice(id.as_bytes());
            }
        }
        let m = prepare_message(
            &f.peer,
            &f.node_key,
            f.node_address,
            &body,
            NOW as u32,
            gossip::Difficulty::new(0),
            Cipher::default(),
        )
        .expect("difficulty 0 mines");
        n.receive(m);
        if flags & 4 != 0 {
            run(n);
        }
    }
}

/// Runs one input: panics (the fuzzer's finding) if anything goes wrong.
pub fn run_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let mut n = node(false);
            n.receive_bytes(rest);
            run(&mut n);
        }
        1 => {
            let mut n = node(false);
            for item in ObjectReader::new(rest, Kind::Any) {
                match item {
                    Ok(Object::Message(m)) => n.receive(m),
                    Ok(Object::Bulletin(b)) => {
                        let _ = n.publish(b, Timestamp::from_secs(NOW));
                    }
                    Err(_) => {}
                }
            }
            run(&mut n);
        }
        _ => {
            let mut n = node(true);
            chunks(&mut n, rest);
            run(&mut n);
        }
    }
}
