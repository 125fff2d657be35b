//! The `dissemination` harness, shared by the fuzz target and
//! `tests/fuzz_regressions.rs` (which replays the corpus through it).
//!
//! The dissemination extension's messages, past the crypto: a node that
//! speaks it, holding a few hundred bulletins, with a neighbour that
//! speaks it too, is fed arbitrary bytes
//! - as the payload of an announce from the neighbour, then given time
//!   (the grafts it makes);
//! - as the payload of a graft from the neighbour (what it serves);
//! - as the payload of a prune from the neighbour, once it pushed this
//!   node a bulletin first and with a second eager neighbour beside it;
//! - as any of the three from a stranger.
//!
//! Nothing may panic and the node may not fail. A graft names at most
//! `MAX_GRAFT_IDS` ids and the node never has more than
//! `MAX_GRAFTS_PER_PEER` outstanding to the neighbour; a graft is answered
//! with at most the held ids it names; a prune is refused (one empty
//! graft) exactly when it names one id above the bulletin the neighbour
//! pushed first, and taken silently otherwise; a stranger gets nothing.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use gossip::Bulletin;
use gossip::Seed;
use gossip::Timestamp;
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::{
    DEFAULT_GRAFT_TIMEOUT, ENTRY_LEN, Event, MAX_GRAFT_IDS, MAX_GRAFTS_PER_PEER, Node, NodeConfig,
    prepare_message,
};
use gossip::{BulletinKey, TopicId, topic_id};
use gossip::{Op, Payload};

const NOW: u64 = 1_764_000_060;

struct Fixed {
    node: Seed,
    peer: Identity,
    other: Identity,
    stranger: Identity,
    held: Vec<Bulletin>,
    fresh: Bulletin,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let topic: TopicId = topic_id(b"fuzz");
        Fixed {
            node: Seed::from_bytes([3; 32]),
            peer: Identity::from_seed(&Seed::from_bytes([4; 32])),
            other: Identity::from_seed(&Seed::from_bytes([6; 32])),
            stranger: Identity::from_seed(&Seed::from_bytes([5; 32])),
            fresh: Bulletin::new(topic, b"fresh".to_vec(), NOW as u32),
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
        .dissemination(true)
        .build()
        .expect("a valid config");
    let mut n = Node::new(Identity::from_seed(&f.node), config);
    n.add_neighbour(f.peer.address(), 0).expect("valid peer");
    for b in &f.held {
        n.store_mut().store(b).expect("memory store");
    }
    n
}

/// What the node sent, opened: (to the neighbour, payload).
fn sent(n: &mut Node) -> Vec<(bool, Payload)> {
    let f = fixed();
    let mut out = Vec::new();
    for e in n.drain_events() {
        if let Event::Send(o) = e {
            let to_peer = o.peer == f.peer.address();
            let who = if to_peer {
                &f.peer
            } else if o.peer == f.other.address() {
                &f.other
            } else {
                &f.stranger
            };
            let plain = who.open(o.message.body()).expect("sealed to its peer");
            out.push((
                to_peer,
                Payload::decode(&plain).expect("the node's own payload"),
            ));
        }
    }
    out
}

/// `payload` from `from` to `n`, taken and run to idle at `now`.
fn feed(n: &mut Node, from: &Identity, payload: &Payload, now: u64) -> Vec<(bool, Payload)> {
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
    n.run_until_idle(Timestamp::from_secs(now))
        .expect("no input makes the node fail");
    sent(n)
}

/// The ids named by an announce or graft payload.
fn ids(body: &[u8]) -> Vec<BulletinKey> {
    body.chunks_exact(ENTRY_LEN)
        .map(|e| {
            BulletinKey::new(
                e[..32].try_into().expect("32"),
                e[32..].try_into().expect("32"),
            )
        })
        .collect()
}

/// Runs one fuzz input: the first byte picks the case.
pub fn run_input(data: &[u8]) {
    let f = fixed();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    for op in [Op::Announce, Op::Graft, Op::Prune] {
        let p = Payload::Tree(op, rest.to_vec());
        assert_eq!(Payload::decode(&p.encode()).as_ref(), Ok(&p));
    }
    let mut n = node();
    match mode % 4 {
        0 => {
            let out = feed(
                &mut n,
                &f.peer,
                &Payload::Tree(Op::Announce, rest.to_vec()),
                NOW,
            );
            assert!(out.is_empty(), "an announce is answered by nothing at once");
            let mut now = NOW;
            for _ in 0..4 {
                now += DEFAULT_GRAFT_TIMEOUT.as_secs();
                n.handle_timeout(Timestamp::from_secs(now))
                    .expect("time passes");
                n.run_until_idle(Timestamp::from_secs(now)).expect("runs");
                let mut asked = 0;
                for (to_peer, p) in sent(&mut n) {
                    if let Payload::Tree(op, body) = p {
                        assert!(to_peer, "only the neighbour speaks it");
                        assert_eq!(op, Op::Graft);
                        let k = ids(&body);
                        assert!(!k.is_empty() && k.len() <= MAX_GRAFT_IDS);
                        asked += k.len();
                    }
                }
                assert!(asked <= MAX_GRAFTS_PER_PEER, "{asked} ids grafted at once");
            }
        }
        1 => {
            let asked: BTreeSet<BulletinKey> = ids(rest).into_iter().collect();
            let out = feed(
                &mut n,
                &f.peer,
                &Payload::Tree(Op::Graft, rest.to_vec()),
                NOW,
            );
            assert!(out.len() <= asked.len().min(MAX_GRAFT_IDS) * 2);
            for (to_peer, p) in out {
                assert!(to_peer);
                let Payload::Bulletin(Op::StoreAndForward, b) = p else {
                    panic!("a graft is answered with bulletins only: {p:?}");
                };
                assert!(asked.contains(&b.key()), "served only what was asked");
            }
        }
        2 => {
            // Another neighbour that speaks it (an empty graft shows it, as
            // the peer's does), so the link to the peer is not the last
            // eager one; then the peer pushes a bulletin new to this node.
            n.add_neighbour(f.other.address(), 0).expect("valid peer");
            for who in [&f.other, &f.peer] {
                feed(&mut n, who, &Payload::Tree(Op::Graft, Vec::new()), NOW);
            }
            let push = Payload::Bulletin(Op::StoreAndForward, f.fresh.clone());
            feed(&mut n, &f.peer, &push, NOW);
            let out = feed(
                &mut n,
                &f.peer,
                &Payload::Tree(Op::Prune, rest.to_vec()),
                NOW,
            );
            // A prune naming a key above the one the peer brought first is
            // refused with one empty graft; any other is taken (or is
            // malformed) and answered by nothing.
            let named = ids(rest);
            let refused = rest.len() == ENTRY_LEN && named[0] > f.fresh.key();
            let graft = (true, Payload::Tree(Op::Graft, Vec::new()));
            if refused {
                assert_eq!(out, vec![graft], "refused");
            } else {
                assert!(out.is_empty(), "taken silently: {out:?}");
            }
        }
        _ => {
            let op =
                [Op::Announce, Op::Graft, Op::Prune][rest.first().map_or(0, |b| *b as usize % 3)];
            let body = rest.get(1..).unwrap_or_default().to_vec();
            let out = feed(&mut n, &f.stranger, &Payload::Tree(op, body), NOW);
            assert!(out.is_empty(), "a stranger gets nothing");
            n.handle_timeout(Timestamp::from_secs(NOW + 10))
                .expect("time passes");
            n.run_until_idle(Timestamp::from_secs(NOW + 10))
                .expect("runs");
            assert!(
                sent(&mut n)
                    .iter()
                    .all(|(_, p)| !matches!(p, Payload::Tree(..))),
                "nothing came of it"
            );
        }
    }
}
