//! The `reconcile` harness, shared by the fuzz target and
//! `tests/fuzz_regressions.rs` (which replays the corpus through it).
//!
//! The set-reconciliation extension's new inputs, past the crypto: a node
//! holding a few hundred bulletins under a topic, with a neighbour that
//! speaks the extension, is fed arbitrary bytes
//! - as the extension advertisement of a request_sync_headers
//!   (`extensions::advertises`);
//! - as the requester's negentropy message, after it accepted the
//!   neighbour's advertised request (the node as answerer);
//! - as the answerer's negentropy message, after the neighbour accepted
//!   the node's own request (the node as requester);
//! - as a whole reconcile payload (role and message) from a stranger.
//!
//! Nothing may panic and the node may not fail; every answer the node
//! sends stays within the negentropy frame limit.

use std::sync::OnceLock;

use gossip::Bulletin;
use gossip::Seed;
use gossip::Timestamp;
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::extensions::{RECONCILE_V1, advert, advertises};
use gossip::node::{
    Event, Node, NodeConfig, RECONCILE_FRAME_BYTES, ROLE_ANSWERER, ROLE_REQUESTER, prepare_message,
};
use gossip::{Op, Payload};
use gossip::{TopicId, topic_id};

const NOW: u64 = 1_764_000_060;

struct Fixed {
    node: Seed,
    peer: Identity,
    stranger: Identity,
    topic: TopicId,
    held: Vec<Bulletin>,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let topic = topic_id(b"fuzz");
        Fixed {
            node: Seed::from_bytes([3; 32]),
            peer: Identity::from_seed(&Seed::from_bytes([4; 32])),
            stranger: Identity::from_seed(&Seed::from_bytes([5; 32])),
            topic,
            held: (0..300u32)
                .map(|i| Bulletin::new(topic, i.to_be_bytes().to_vec(), NOW as u32 - i * 7))
                .collect(),
        }
    })
}

fn node() -> Node {
    let f = fixed();
    let config = NodeConfig::builder()
        .bulletin_difficulty(0)
        .message_difficulty(0)
        .sync_push(true)
        .build()
        .expect("a valid config");
    let mut n = Node::new(Identity::from_seed(&f.node), config);
    n.add_neighbour(f.peer.address(), 0).expect("valid peer");
    for b in &f.held {
        n.store_mut().store(b).expect("memory store");
    }
    n
}

/// `payload` from `from` to `n`, taken and run to idle; the reconcile
/// answers it made.
fn feed(n: &mut Node, from: &Identity, payload: &Payload) -> Vec<Payload> {
    let to = n.address();
    let key = PeerKey::new(&to).expect("valid key");
    let m = prepare_message(
        from,
        &key,
        to,
        &payload.encode(),
        NOW as u32,
        gossip::Difficulty::new(0),
        Cipher::default(),
    )
    .expect("sealed");
    n.receive(m);
    n.run_until_idle(Timestamp::from_secs(NOW))
        .expect("no input makes the node fail");
    let mut out = Vec::new();
    for e in n.drain_events() {
        if let Event::Send(o) = e
            && o.op == Op::Reconcile
        {
            assert_eq!(o.peer, fixed().peer.address(), "only the peer speaks it");
            let plain = fixed()
                .peer
                .open(o.message.body())
                .expect("sealed to the peer");
            out.push(Payload::decode(&plain).expect("the node's own payload"));
        }
    }
    out
}

fn check(answers: &[Payload]) {
    for a in answers {
        let Payload::Sync(Op::Reconcile, _, body) = a else {
            panic!("not a reconcile payload");
        };
        assert!(
            body.len() as u64 <= 1 + RECONCILE_FRAME_BYTES,
            "frame limit"
        );
    }
}

/// Runs one fuzz input: the first byte picks the role.
pub fn run_input(data: &[u8]) {
    let f = fixed();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = advertises(rest, RECONCILE_V1);
    let mut n = node();
    match mode % 3 {
        0 => {
            // The node answers: an advertised request, then `rest`.
            let request = Payload::Sync(Op::RequestSyncHeaders, f.topic, advert(&[RECONCILE_V1]));
            let accept = feed(&mut n, &f.peer, &request);
            assert_eq!(accept.len(), 1, "accepted");
            let body = [&[ROLE_REQUESTER][..], rest].concat();
            check(&feed(
                &mut n,
                &f.peer,
                &Payload::Sync(Op::Reconcile, f.topic, body),
            ));
        }
        1 => {
            // The node asks: its request, the peer's accept, then `rest`.
            n.request_sync(f.peer.address(), f.topic);
            n.run_until_idle(Timestamp::from_secs(NOW)).expect("runs");
            n.drain_events().for_each(drop);
            let accept = Payload::Sync(Op::Reconcile, f.topic, vec![ROLE_ANSWERER]);
            check(&feed(&mut n, &f.peer, &accept));
            let body = [&[ROLE_ANSWERER][..], rest].concat();
            check(&feed(
                &mut n,
                &f.peer,
                &Payload::Sync(Op::Reconcile, f.topic, body),
            ));
            n.handle_timeout(Timestamp::from_secs(NOW + 60))
                .expect("falls back");
        }
        _ => {
            let p = Payload::Sync(Op::Reconcile, f.topic, rest.to_vec());
            assert!(
                feed(&mut n, &f.stranger, &p).is_empty(),
                "a stranger gets nothing"
            );
        }
    }
}
