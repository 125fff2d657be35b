//! The `session_input` harness, shared by the fuzz target and
//! `tests/fuzz_regressions.rs` (which replays the corpus through it).
//!
//! A `Session` in front of a `Node` (difficulty 0, a fixed identity),
//! driven by a sequence of operations read from the input, one byte for
//! the operation and its arguments after it:
//! - 0: a connection accepted; 1 `p`: dialed to signer `p`;
//! - 2 `c` `len` bytes: packed bytes received on connection `c`;
//! - 3 `c` `p`: a fresh, valid message from signer `p` on `c`;
//! - 4 `c` `p` `q`: signer `p`'s message with signer `q` as its src (forged);
//! - 5 `c`: a copy of the last message sent on `c` (a replay);
//! - 6 `c` `n`: `n` × 64 bytes of `c`'s queue reported written;
//! - 7 `c`: `c` closed; 8 `s`: `s` seconds pass, then the timers;
//! - 9: the node run to idle and its events through the session (grant,
//!   send, note, repair, end of batch);
//! - 10: a local input opened (stdin); 11 `k`: a local output opened,
//!   carrying signer `k`'s messages, those elsewhere, all or none (`k %
//!   4`), holding when `k & 16`.
//!
//! Nothing may panic, the node may not fail, and the session's books must
//! balance: queued bytes add up over the remote connections (local links
//! are outside the bound on all queues), a peer is identified only by a
//! message its key signed (or by a dial) and never on a local link, the
//! session never closes a local link, and the bounded tables stay within
//! their bounds.

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gossip::Message;
use gossip::Timestamp;
use gossip::TopicId;
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::{Event, Node, NodeConfig, prepare_message};
use gossip::session::{Carries, ConnId, Opening, Session, SessionConfig, SessionEvent};
use gossip::{Address, Seed};
use gossip::{Op, Payload};

const NOW: u64 = 1_764_000_060;

struct Fixed {
    node: Seed,
    signers: Vec<Identity>,
    node_key: PeerKey,
    node_address: Address,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let node = Seed::from_bytes([1; 32]);
        let address = Identity::from_seed(&node).address();
        Fixed {
            signers: (2..5)
                .map(|i| Identity::from_seed(&Seed::from_bytes([i; 32])))
                .collect(),
            node_key: PeerKey::recipient(&address).expect("valid key"),
            node_address: address,
            node,
        }
    })
}

fn message(from: &Identity, topic: u8) -> Message {
    let f = fixed();
    let plain = Payload::Sync(
        Op::RequestSyncHeaders,
        TopicId::from_bytes([topic; 32]),
        Vec::new(),
    )
    .encode();
    prepare_message(
        from,
        &f.node_key,
        f.node_address,
        &plain,
        NOW as u32,
        gossip::Difficulty::new(0),
        Cipher::default(),
    )
    .expect("difficulty 0 mines")
}

/// Runs one input: panics (the fuzzer's finding) if anything goes wrong.
pub fn run_input(data: &[u8]) {
    let f = fixed();
    let config = NodeConfig::builder()
        .message_difficulty(0)
        .bulletin_difficulty(0)
        .build()
        .expect("a valid config");
    let mut node = Node::new(Identity::from_seed(&f.node), config);
    node.set_sync_topics([TopicId::from_bytes([7; 32])]);
    let mut sc = SessionConfig::default();
    sc.max_connections = 3;
    sc.send_queue = 2000;
    sc.send_total = 5000;
    sc.max_frame = 4000;
    sc.max_invalid = 4;
    sc.max_reply_routes = 4;
    sc.announce = true;
    let mut s = Session::new(sc);
    let t0 = Instant::now();
    let mut now = t0;
    let mut open: BTreeSet<u64> = BTreeSet::new();
    // The open local links among them.
    let mut local: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0u64;
    // Who may be identified: signers of a valid message, and peers dialed.
    let mut may: HashSet<Address> = HashSet::new();
    let mut last: Vec<Option<gossip::RawMessage>> = vec![None; 8];
    let mut topic = 0u8;
    let mut data = data;
    let take = |d: &mut &[u8]| -> u8 {
        let (b, rest) = d.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        *d = rest;
        b
    };
    for _ in 0..64 {
        if data.is_empty() {
            break;
        }
        let op = take(&mut data) % 12;
        let conn = |b: u8| ConnId(u64::from(b % 8));
        match op {
            0 | 1 | 10 | 11 => {
                let how = if op == 0 {
                    Opening::Accepted { difficulty: 0 }
                } else if op == 10 {
                    Opening::Input
                } else if op == 11 {
                    let k = take(&mut data);
                    let carries = match k % 4 {
                        0 => Carries::Peer(f.signers[usize::from(k / 4) % 3].address()),
                        1 => Carries::Elsewhere,
                        2 => Carries::All,
                        _ => Carries::Nothing,
                    };
                    Opening::Output {
                        carries,
                        holds: k & 16 != 0,
                    }
                } else {
                    let peer = f.signers[usize::from(take(&mut data)) % 3].address();
                    may.insert(peer);
                    Opening::Dialed {
                        peer,
                        difficulty: 0,
                    }
                };
                let id = next % 8;
                next += 1;
                if open.insert(id) {
                    if op >= 10 {
                        local.insert(id);
                    }
                    s.opened(ConnId(id), how, &mut node, now, Timestamp::from_secs(NOW))
                        .expect("opening never fails");
                }
            }
            2 => {
                let c = conn(take(&mut data));
                let len = usize::from(take(&mut data)).min(data.len());
                let (bytes, rest) = data.split_at(len);
                data = rest;
                s.receive_bytes(c, bytes, &mut node, now, Timestamp::from_secs(NOW))
                    .expect("receiving never fails");
            }
            3..=5 => {
                let c = conn(take(&mut data));
                let m = if op == 5 {
                    match &last[c.0 as usize] {
                        Some(m) => m.clone(),
                        None => continue,
                    }
                } else {
                    let signer = &f.signers[usize::from(take(&mut data)) % 3];
                    topic = topic.wrapping_add(1);
                    let mut m = message(signer, topic).into_raw();
                    if op == 4 {
                        // Forged unless it names its own signer.
                        m.src = f.signers[usize::from(take(&mut data)) % 3].address();
                    }
                    if m.src == signer.address() {
                        may.insert(m.src);
                    }
                    m
                };
                last[c.0 as usize] = Some(m.clone());
                s.receive(c, m, &mut node, now, Timestamp::from_secs(NOW))
                    .expect("receiving never fails");
            }
            6 => {
                let c = conn(take(&mut data));
                let n = usize::from(take(&mut data)) * 64;
                s.drained(c, n);
            }
            7 => {
                let c = conn(take(&mut data));
                if open.remove(&c.0) {
                    local.remove(&c.0);
                    s.closed(c, &mut node);
                }
            }
            8 => {
                now += Duration::from_secs(u64::from(take(&mut data)));
                s.handle_timeout(now);
            }
            _ => {
                s.grant(&mut node);
                node.run_until_idle(Timestamp::from_secs(NOW))
                    .expect("no input makes the node fail");
                let events: Vec<Event> = node.drain_events().collect();
                for e in &events {
                    match e {
                        Event::Send(out) => {
                            s.send(out, &node);
                        }
                        other => {
                            s.note(other);
                        }
                    }
                }
                s.repair(&mut node, Timestamp::from_secs(NOW))
                    .expect("repair never fails");
                s.end_batch();
            }
        }
        for e in s.drain_events() {
            match e {
                SessionEvent::PeerIdentified { peer, conn } => {
                    assert!(
                        may.contains(&peer),
                        "{peer} identified by no message it signed"
                    );
                    assert!(
                        !local.contains(&conn.0),
                        "a peer identified on a local link"
                    );
                }
                SessionEvent::Close { conn, .. } => {
                    assert!(!local.contains(&conn.0), "the session closed a local link");
                }
                _ => {}
            }
        }
        let sum: usize = open
            .difference(&local)
            .map(|id| s.queued_bytes(ConnId(*id)))
            .sum();
        assert_eq!(sum, s.queued_total(), "queued bytes add up");
        assert!(s.connections() <= open.len());
        assert!(s.reply_routes() <= 4);
        assert!(s.owed() <= gossip::session::OWED_TOTAL);
    }
}
