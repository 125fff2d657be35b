//! Several node engines wired together in memory with an injected clock:
//! each node's sent messages are handed to the next node's inbound queue
//! until the network goes quiet.

use gossip::Bulletin;
use gossip::RawMessage;
use gossip::Timestamp;
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::{
    Acceptance, Event, HookError, Hooks, Node, NodeConfig, NodeConfigBuilder, Outbound,
    ROLE_ANSWERER, SyncState, prepare_message,
};
use gossip::pow::{self, Mined, Progress};
use gossip::store::{
    BulletinStore, Bulletins, CodeBook, DeliveryCode, DeliveryJournal, SeenLog, SqliteStore,
    StoreError, Stored,
};
use gossip::verify::Reason;
use gossip::{Address, Seed};
use gossip::{BulletinKey, ContentId, TopicId, beacon_topic, topic_id};
use gossip::{Op, PackedContent, Payload};

const NOW: u64 = 1_700_000_000;

/// A node with what its events said so far, split for the assertions: the
/// messages it sent and the bulletins it delivered (each taken once).
struct TestNode {
    node: Node,
    sent: Vec<Outbound>,
    delivered: Vec<Bulletin>,
}

impl From<Node> for TestNode {
    fn from(node: Node) -> Self {
        Self {
            node,
            sent: Vec::new(),
            delivered: Vec::new(),
        }
    }
}

impl std::ops::Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl std::ops::DerefMut for TestNode {
    fn deref_mut(&mut self) -> &mut Node {
        &mut self.node
    }
}

impl TestNode {
    fn split_events(&mut self) {
        for event in self.node.drain_events() {
            match event {
                Event::Send(out) => self.sent.push(out),
                Event::Deliver(b) => self.delivered.push(b),
                _ => {}
            }
        }
    }

    /// The messages sent since the last call.
    fn take_sent(&mut self) -> Vec<Outbound> {
        self.split_events();
        std::mem::take(&mut self.sent)
    }

    /// The bulletins delivered since the last call.
    fn take_delivered(&mut self) -> Vec<Bulletin> {
        self.split_events();
        std::mem::take(&mut self.delivered)
    }
}

fn node() -> TestNode {
    Node::new(
        Identity::from_seed(&Seed::generate()),
        NodeConfig::default(),
    )
    .into()
}

/// A bulletin mined to the default bulletin difficulty (7).
fn mined(topic: TopicId, content: &[u8], ts: u64) -> Bulletin {
    let mut b = Bulletin::new(topic, content.to_vec(), ts as u32);
    let Mined::Found(nonce) = pow::mine(
        &b.work(),
        gossip::Difficulty::new(7),
        0,
        &Progress::default(),
    ) else {
        panic!("no nonce");
    };
    b.nonce = nonce;
    b
}

fn link(nodes: &mut [TestNode], a: usize, b: usize) {
    let (aa, ba) = (nodes[a].address(), nodes[b].address());
    nodes[a].add_neighbour(ba, 1).unwrap();
    nodes[b].add_neighbour(aa, 1).unwrap();
}

/// Runs every node and passes messages along until nothing moves; returns
/// the messages passed. Panics if the network never goes quiet.
fn pump(nodes: &mut [TestNode], now: u64) -> usize {
    let mut passed = 0;
    for _ in 0..1000 {
        let mut moved = 0;
        for i in 0..nodes.len() {
            nodes[i].run_until_idle(Timestamp::from_secs(now)).unwrap();
            for out in nodes[i].take_sent() {
                let j = nodes
                    .iter()
                    .position(|n| n.address() == out.peer)
                    .expect("known peer");
                nodes[j].receive(out.message);
                moved += 1;
            }
        }
        if moved == 0 {
            return passed;
        }
        passed += moved;
    }
    panic!("the network did not go quiet");
}

#[test]
fn chain_of_three_delivers_once_at_the_far_end() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    link(&mut nodes, 1, 2);
    let topic = topic_id(b"far away");
    nodes[2].subscribe(topic);
    let b = mined(topic, b"hello", NOW);
    nodes[0]
        .publish(b.clone(), Timestamp::from_secs(NOW))
        .unwrap();
    let passed = pump(&mut nodes, NOW);
    assert_eq!(passed, 2, "0->1 and 1->2; nothing echoes back");
    assert_eq!(nodes[2].take_delivered(), vec![b.clone()]);
    assert!(
        nodes[1].take_delivered().is_empty(),
        "the middle node does not follow the topic"
    );
    assert!(nodes[0].take_delivered().is_empty());
    assert!(
        nodes[1].store().contains(&b.key()).unwrap(),
        "the middle node still stores it"
    );
    assert_eq!(nodes[1].counters().forwarded, 1);
    assert_eq!(nodes[2].counters().delivered, 1);
    assert!(nodes.iter().all(|n| n.counters().drops.is_empty()));
    // Publishing the same bulletin again is a duplicate everywhere.
    nodes[0].publish(b, Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(pump(&mut nodes, NOW), 0);
    assert_eq!(nodes[0].counters().duplicates, 1);
    assert!(nodes[2].take_delivered().is_empty());
}

#[test]
fn ring_does_not_loop() {
    let mut nodes: Vec<TestNode> = (0..4).map(|_| node()).collect();
    for i in 0..4 {
        link(&mut nodes, i, (i + 1) % 4);
    }
    let topic = topic_id(b"ring");
    for n in &mut nodes {
        n.subscribe(topic);
    }
    let b = mined(topic, b"round and round", NOW);
    nodes[0]
        .publish(b.clone(), Timestamp::from_secs(NOW))
        .unwrap();
    pump(&mut nodes, NOW);
    for n in &mut nodes {
        assert_eq!(n.take_delivered(), vec![b.clone()]);
        assert_eq!(n.counters().delivered, 1);
    }
    let dups: u64 = nodes.iter().map(|n| n.counters().duplicates).sum();
    assert!(
        dups >= 1,
        "the copies meeting across the ring are counted as duplicates"
    );
    assert_eq!(pump(&mut nodes, NOW), 0, "quiet");
}

#[test]
fn late_joiner_catches_up_via_sync() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    let topic = topic_id(b"history");
    let bs: Vec<Bulletin> = (0..3)
        .map(|i| mined(topic, format!("item {i}").as_bytes(), NOW + i))
        .collect();
    for b in &bs {
        nodes[0]
            .publish(b.clone(), Timestamp::from_secs(NOW))
            .unwrap();
    }
    nodes[0]
        .publish(
            mined(topic_id(b"other"), b"elsewhere", NOW),
            Timestamp::from_secs(NOW),
        )
        .unwrap();
    pump(&mut nodes, NOW + 10);
    assert_eq!(nodes[1].store().len().unwrap(), 4);

    // Node 2 joins later, follows the topic and asks node 1.
    let later = NOW + 100;
    link(&mut nodes, 1, 2);
    nodes[2].subscribe(topic);
    let peer = nodes[1].address();
    nodes[2].request_sync(peer, topic);
    pump(&mut nodes, later);
    let mut got = nodes[2].take_delivered();
    got.sort_by_key(|b| b.ts);
    assert_eq!(got, bs);
    assert_eq!(nodes[2].store().len().unwrap(), 3, "only the asked topic");
    assert_eq!(nodes[2].counters().unsolicited, 0);

    // Asking again finds nothing missing: the request (advertising
    // reconciliation), the accept, one negentropy round trip whose
    // fingerprints match; no content.
    nodes[2].request_sync(peer, topic);
    assert_eq!(pump(&mut nodes, later), 4);
    assert!(nodes[2].take_delivered().is_empty());
    let status = nodes[2].sync_status(&peer, &topic).expect("asked");
    assert_eq!(status.state, SyncState::Reconciled);
    assert_eq!((status.rounds, status.need, status.have), (1, 0, 0));
}

/// A message from `from` to `to` with a hand-made body, signed, mined at 1.
fn hand_made(from: &Identity, to: Address, body: Vec<u8>, ts: u64) -> RawMessage {
    let mut m = RawMessage {
        src: from.address(),
        dst: to,
        ts: ts as u32,
        nonce: 0,
        sig: [0; 64],
        body,
    };
    m.sig = from.sign(&m.signed_bytes());
    mine_message(&mut m, 1);
    m
}

fn mine_message(m: &mut RawMessage, difficulty: u32) {
    let Mined::Found(nonce) = pow::mine(
        &m.work(),
        gossip::Difficulty::new(difficulty),
        0,
        &Progress::default(),
    ) else {
        panic!("no nonce");
    };
    m.nonce = nonce;
}

/// A message from `from` to `to` carrying `payload`, sealed, signed and
/// mined at 1, as the wire carries it (for a test to change a field).
fn sealed(from: &Identity, to: Address, payload: &Payload, ts: u64) -> RawMessage {
    let key = PeerKey::new(&to).unwrap();
    prepare_message(
        from,
        &key,
        to,
        &payload.encode(),
        ts as u32,
        gossip::Difficulty::new(1),
        Cipher::default(),
    )
    .unwrap()
    .into_raw()
}

#[test]
fn every_drop_reason_is_counted_by_name() {
    let seed = Seed::generate();
    let me = Identity::from_seed(&seed);
    let mut n = node();
    n.add_neighbour(me.address(), 1).unwrap();
    let dst = n.address();
    let topic = topic_id(b"t");
    let good = mined(topic, b"good", NOW);
    let carry = |b: Bulletin| Payload::Bulletin(Op::StoreAndForward, b);

    let mut cases: Vec<(Reason, RawMessage)> = Vec::new();
    cases.push((
        Reason::WrongDestination,
        sealed(&me, me.address(), &carry(good.clone()), NOW),
    ));
    cases.push((
        Reason::TooOld,
        sealed(&me, dst, &carry(good.clone()), NOW - 301),
    ));
    cases.push((
        Reason::FromFuture,
        sealed(&me, dst, &carry(good.clone()), NOW + 61),
    ));
    let mut weak = sealed(&me, dst, &carry(good.clone()), NOW);
    weak.nonce = (0..)
        .find(|&x| {
            weak.nonce = x;
            !weak.work().meets(1)
        })
        .unwrap();
    cases.push((Reason::WeakProofOfWork, weak));
    let mut unsigned = sealed(&me, dst, &carry(good.clone()), NOW);
    unsigned.sig = [0; 64];
    mine_message(&mut unsigned, 1);
    cases.push((Reason::Unsigned, unsigned));
    let mut forged = sealed(&me, dst, &carry(good.clone()), NOW);
    forged.sig[0] ^= 1;
    cases.push((Reason::BadSignature, forged));
    cases.push((
        Reason::Undecryptable,
        hand_made(&me, dst, carry(good.clone()).encode(), NOW),
    ));
    let key = PeerKey::new(&dst).unwrap();
    let unknown_op = key.seal(&[0x0f, 1, 2], Cipher::default()).unwrap();
    cases.push((Reason::BadPayload, hand_made(&me, dst, unknown_op, NOW)));
    let old = Bulletin::new(topic, b"old".to_vec(), (NOW - 3600) as u32);
    cases.push((Reason::Expired, sealed(&me, dst, &carry(old), NOW)));
    let future = Bulletin::new(topic, b"future".to_vec(), (NOW + 61) as u32);
    cases.push((
        Reason::BulletinFromFuture,
        sealed(&me, dst, &carry(future), NOW),
    ));
    let mut mismatch = good.clone();
    mismatch.content = b"not good".to_vec();
    cases.push((
        Reason::ContentIdMismatch,
        sealed(&me, dst, &carry(mismatch), NOW),
    ));
    let mut weak_b = Bulletin::new(topic, b"weak".to_vec(), NOW as u32);
    weak_b.nonce = (0..)
        .find(|&x| {
            weak_b.nonce = x;
            !weak_b.work().meets(7)
        })
        .unwrap();
    cases.push((
        Reason::WeakBulletinProofOfWork,
        sealed(&me, dst, &carry(weak_b), NOW),
    ));

    let reasons: Vec<Reason> = cases.iter().map(|(r, _)| *r).collect();
    assert_eq!(reasons, Reason::ALL.to_vec(), "every reason has a case");
    for (_, m) in cases {
        n.receive(m);
    }
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    for r in Reason::ALL {
        assert_eq!(n.counters().drops_of(r.name()), 1, "{r}");
    }
    assert_eq!(n.counters().received, 12);
    assert_eq!(n.counters().accepted, 0);

    // Malformed bytes, the good one, then it again (duplicate).
    n.receive_bytes(&[1, 2, 3]);
    n.receive(sealed(&me, dst, &carry(good.clone()), NOW));
    n.receive(sealed(&me, dst, &carry(good.clone()), NOW));
    // A sync answer nobody asked for, and one with ragged ids.
    n.receive(sealed(
        &me,
        dst,
        &Payload::Sync(Op::RespondSyncHeaders, topic, vec![7; 32]),
        NOW,
    ));
    n.receive(sealed(
        &me,
        dst,
        &Payload::Sync(Op::RespondSyncHeaders, topic, vec![7; 33]),
        NOW,
    ));
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let c = n.counters();
    assert_eq!(
        (c.malformed, c.duplicates, c.unsolicited, c.accepted),
        (2, 1, 1, 4)
    );
    assert_eq!(
        n.take_sent().len(),
        0,
        "the only neighbour sent it, so nothing is forwarded"
    );
}

#[test]
fn routing_operations_are_counted_as_unsupported() {
    let me = Identity::from_seed(&Seed::generate());
    let mut n = node();
    let dst = n.address();
    for op in Op::ALL.into_iter().filter(|op| op.is_routing()) {
        n.receive(sealed(&me, dst, &Payload::Routing(op, vec![1, 2, 3]), NOW));
    }
    n.receive(sealed(
        &me,
        dst,
        &Payload::Routing(Op::RouteMessage, Vec::new()),
        NOW,
    ));
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(n.counters().unsupported, 6);
    assert_eq!(n.counters().accepted, 6);
    assert!(n.take_sent().is_empty());
}

#[test]
fn deliver_without_forward_stops_at_the_first_hop() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    link(&mut nodes, 1, 2);
    let topic = topic_id(b"local");
    nodes[1].subscribe(topic);
    nodes[2].subscribe(topic);
    let b = mined(topic, b"just you", NOW);
    let to = nodes[1].address();
    nodes[0]
        .send(
            to,
            &Payload::Bulletin(Op::DeliverWithoutForward, b.clone()),
            Timestamp::from_secs(NOW),
        )
        .unwrap();
    assert_eq!(pump(&mut nodes, NOW), 1);
    assert_eq!(nodes[1].take_delivered(), vec![b]);
    assert!(nodes[2].take_delivered().is_empty());
}

#[test]
fn request_content_is_served_only_for_held_content() {
    let mut nodes: Vec<TestNode> = (0..2).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    let b = mined(beacon_topic(), b"beacon", NOW);
    nodes[0]
        .publish(b.clone(), Timestamp::from_secs(NOW))
        .unwrap();
    pump(&mut nodes, NOW);
    assert_eq!(
        nodes[1].take_delivered(),
        vec![b.clone()],
        "every node follows the beacon"
    );
    let to = nodes[0].address();
    for id in [b.content_id, ContentId::from_bytes([9; 32])] {
        nodes[1]
            .send(
                to,
                &Payload::RequestContent(PackedContent {
                    id,
                    content: Vec::new(),
                }),
                Timestamp::from_secs(NOW),
            )
            .unwrap();
    }
    assert_eq!(pump(&mut nodes, NOW), 3, "two requests, one answer");
    assert!(
        nodes[1].take_delivered().is_empty(),
        "the answer is a duplicate"
    );
    assert_eq!(nodes[1].counters().duplicates, 1);
}

#[test]
fn delivery_code_rotation_notifies_neighbours() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    link(&mut nodes, 1, 2);
    let old_inbox = nodes[0].inbox_topic();
    nodes[0]
        .rotate_delivery_code(Timestamp::from_secs(NOW))
        .unwrap();
    let inbox = nodes[0].inbox_topic();
    assert_ne!(inbox, old_inbox);
    assert!(nodes[0].follows(&inbox) && !nodes[0].follows(&old_inbox));
    assert_eq!(
        pump(&mut nodes, NOW),
        1,
        "one neighbour, one notice, not forwarded"
    );
    let a = nodes[0].address();
    assert_eq!(nodes[1].peer_inbox(&a), Some(inbox));
    assert_eq!(nodes[2].peer_inbox(&a), None);
    assert_eq!(nodes[1].counters().notices, 1);
    assert!(
        nodes[1].take_delivered().is_empty(),
        "a notice is not delivered"
    );
    assert!(
        nodes[1].store().is_empty().unwrap(),
        "nor stored (so sync never serves it)"
    );

    // Node 2 writes to node 0's new inbox; only node 0 delivers it.
    let b = mined(inbox, b"for your eyes", NOW);
    nodes[2]
        .publish(b.clone(), Timestamp::from_secs(NOW))
        .unwrap();
    pump(&mut nodes, NOW);
    assert_eq!(nodes[0].take_delivered(), vec![b]);

    // Node 2 forwards a notice naming node 0: not from node 0, so malformed.
    let forged = gossip::node::Notice {
        address: a,
        code: [1; 8],
    }
    .bulletin(NOW as u32);
    let mut forged = forged;
    let Mined::Found(nonce) = pow::mine(
        &forged.work(),
        gossip::Difficulty::new(7),
        0,
        &Progress::default(),
    ) else {
        panic!()
    };
    forged.nonce = nonce;
    let to = nodes[1].address();
    nodes[2]
        .send(
            to,
            &Payload::Bulletin(Op::DeliverWithoutForward, forged),
            Timestamp::from_secs(NOW),
        )
        .unwrap();
    pump(&mut nodes, NOW);
    assert_eq!(nodes[1].counters().malformed, 1);
    assert_eq!(nodes[1].peer_inbox(&a), Some(inbox));
}

#[test]
fn strangers_delivery_codes_are_recorded_up_to_max_peer_inboxes() {
    let config = NodeConfig::builder().max_peer_inboxes(1).build().unwrap();
    let mut nodes = vec![
        Node::new(Identity::from_seed(&Seed::generate()), config).into(),
        node(),
        node(),
        node(),
    ];
    let b = nodes[0].address();
    // Nodes 1 to 3 count node 0 as their neighbour; node 0 knows only 3.
    for n in &mut nodes[1..] {
        n.add_neighbour(b, 1).unwrap();
    }
    let neighbour = nodes[3].address();
    nodes[0].add_neighbour(neighbour, 1).unwrap();

    let rotate = |nodes: &mut Vec<TestNode>, i: usize| {
        nodes[i]
            .rotate_delivery_code(Timestamp::from_secs(NOW))
            .unwrap();
        pump(nodes, NOW);
        (nodes[i].address(), nodes[i].inbox_topic())
    };
    let (first, inbox) = rotate(&mut nodes, 1);
    assert_eq!(
        nodes[0].peer_inbox(&first),
        Some(inbox),
        "one stranger fits"
    );
    let (second, _) = rotate(&mut nodes, 2);
    assert_eq!(nodes[0].peer_inbox(&second), None, "the second does not");
    assert_eq!(nodes[0].counters().over_cap, 1);
    let (first, inbox) = rotate(&mut nodes, 1);
    assert_eq!(
        nodes[0].peer_inbox(&first),
        Some(inbox),
        "a recorded stranger's new code replaces its old one"
    );
    let (third, inbox) = rotate(&mut nodes, 3);
    assert_eq!(
        nodes[0].peer_inbox(&third),
        Some(inbox),
        "a neighbour's code is recorded past the cap"
    );
    assert_eq!(nodes[0].counters().notices, 4, "every notice was taken");
    assert_eq!(nodes[0].counters().over_cap, 1);
}

#[test]
fn sqlite_store_survives_reopen_and_does_not_redeliver() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let seed = Seed::generate();
    let topic = topic_id(b"durable");
    let open = |path: &std::path::Path| {
        let store = SqliteStore::open(path).unwrap();
        let mut n = Node::with_store(
            Identity::from_seed(&seed),
            NodeConfig::default(),
            Box::new(store),
            Timestamp::from_secs(NOW),
        )
        .unwrap();
        n.subscribe(topic);
        TestNode::from(n)
    };
    let sender = Identity::from_seed(&Seed::generate());
    let relay_address = open(&path).address();
    let b = mined(topic, b"keep me", NOW);
    let msg = sealed(
        &sender,
        relay_address,
        &Payload::Bulletin(Op::StoreAndForward, b.clone()),
        NOW,
    );

    let mut relay = open(&path);
    relay.receive(msg.clone());
    relay.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(relay.take_delivered(), vec![b.clone()]);
    drop(relay);

    // Restarted, the relay replays its input: nothing is delivered twice.
    let mut relay = open(&path);
    assert!(relay.has_seen(&b.key(), Timestamp::from_secs(NOW + 1)));
    assert_eq!(relay.store().retrieve(&b.key()).unwrap(), Some(b.clone()));
    assert!(relay.store().is_delivered(&b.key()).unwrap());
    relay.receive(msg);
    relay.run_until_idle(Timestamp::from_secs(NOW + 1)).unwrap();
    assert!(relay.take_delivered().is_empty());
    assert_eq!(relay.counters().duplicates, 1);

    // Even with the seen set forgotten, the delivery mark holds. (The
    // store is locked by its one writer: the relay lets go of it first.)
    drop(relay);
    let mut store = SqliteStore::open(&path).unwrap();
    assert!(!store.handle(&b, true).unwrap().deliver);
    drop(store);

    // Expiry purges the bulletin, the seen entry and the mark.
    let mut relay = open(&path);
    assert_eq!(
        relay
            .delete_old_content(Timestamp::from_secs(NOW + 3600))
            .unwrap(),
        1
    );
    drop(relay);
    let relay = open(&path);
    assert!(!relay.has_seen(&b.key(), Timestamp::from_secs(NOW)));
    assert!(relay.store().is_empty().unwrap());
}

/// The content ids a node asked `peer` for, from the messages it sent.
fn asked_for(sent: Vec<Outbound>, peer: &Identity) -> Vec<ContentId> {
    sent.into_iter()
        .map(|o| {
            let plain = peer.open(o.message.body()).unwrap();
            match Payload::decode(&plain).unwrap() {
                Payload::RequestContent(PackedContent { id, .. }) => id,
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect()
}

#[test]
fn a_sync_request_takes_up_to_max_sync_request_ids_from_all_its_answers() {
    let mut n = TestNode::from(Node::new(
        Identity::from_seed(&Seed::generate()),
        NodeConfig::builder()
            .max_sync_request_ids(13)
            .build()
            .unwrap(),
    ));
    let peer = Identity::from_seed(&Seed::generate());
    n.add_neighbour(peer.address(), 1).unwrap();
    let topic = topic_id(b"big answer");
    n.request_sync(peer.address(), topic);
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(n.take_sent().len(), 1, "the request");
    let address = n.address();
    let page = |first: u8| -> Vec<u8> { (first..first + 10).flat_map(|i| [i; 32]).collect() };
    // Two answers of ten ids: the first whole, three of the second.
    for (i, first) in [1u8, 11].into_iter().enumerate() {
        n.receive(sealed(
            &peer,
            address,
            &Payload::Sync(Op::RespondSyncHeaders, topic, page(first)),
            NOW + i as u64,
        ));
    }
    n.run_until_idle(Timestamp::from_secs(NOW + 1)).unwrap();
    let asked = asked_for(n.take_sent(), &peer);
    assert_eq!(
        asked,
        (1..=13u8)
            .map(|i| ContentId::from_bytes([i; 32]))
            .collect::<Vec<_>>()
    );
    assert_eq!(n.counters().over_cap, 7);
    assert_eq!(n.counters().unsolicited, 0);
    // Past the message TTL from the request, an answer is unsolicited.
    n.receive(sealed(
        &peer,
        address,
        &Payload::Sync(Op::RespondSyncHeaders, topic, page(21)),
        NOW + 301,
    ));
    n.run_until_idle(Timestamp::from_secs(NOW + 301)).unwrap();
    assert!(n.take_sent().is_empty());
    assert_eq!(n.counters().unsolicited, 1);
}

#[test]
fn an_original_style_single_answer_with_every_id_is_taken_and_its_requests_paged() {
    let mut n = node();
    let peer = Identity::from_seed(&Seed::generate());
    n.add_neighbour(peer.address(), 1).unwrap();
    let topic = topic_id(b"one big answer");
    n.request_sync(peer.address(), topic);
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    n.take_sent();
    // One answer with 3,000 ids, as the original sends it.
    let ids: Vec<ContentId> = (0..3000u32)
        .map(|i| gossip::content_id(&i.to_be_bytes()))
        .collect();
    let address = n.address();
    n.receive(sealed(
        &peer,
        address,
        &Payload::Sync(
            Op::RespondSyncHeaders,
            topic,
            ids.iter().flat_map(|id| *id.as_bytes()).collect(),
        ),
        NOW,
    ));
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let limit = gossip::node::DEFAULT_MAX_CONTENT_REQUESTS;
    let asked = asked_for(n.take_sent(), &peer);
    assert_eq!(asked, ids[..limit].to_vec(), "the first slots, in order");
    let c = n.counters();
    assert_eq!((c.over_cap, c.unsolicited), (0, 0));
    assert_eq!(c.sync_deferred, (3000 - limit) as u64);
    // Each answer frees a slot for the next id.
    let answered = mined(topic, &0u32.to_be_bytes(), NOW);
    assert_eq!(answered.content_id, ids[0]);
    n.receive(sealed(
        &peer,
        address,
        &Payload::Bulletin(Op::RespondContent, answered),
        NOW,
    ));
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let asked = asked_for(
        n.take_sent()
            .into_iter()
            .filter(|o| o.op == Op::RequestContent)
            .collect(),
        &peer,
    );
    assert_eq!(asked, vec![ids[limit]]);
    // Unanswered past the window, the peer is given up, counted.
    n.delete_old_content(Timestamp::from_secs(NOW + 301))
        .unwrap();
    assert_eq!(n.counters().sync_unanswered, 3000 - 1);
}

/// Two nodes linked at message difficulty 0 that take bulletins of
/// difficulty 0, the first holding `n` bulletins under `topic`.
fn holder_and_empty(n: u32, topic: TopicId) -> Vec<TestNode> {
    let config = NodeConfig::builder()
        .bulletin_difficulty(0)
        .message_difficulty(0)
        .build()
        .unwrap();
    let mut nodes: Vec<TestNode> = (0..2)
        .map(|_| Node::new(Identity::from_seed(&Seed::generate()), config.clone()).into())
        .collect();
    let (a0, a1) = (nodes[0].address(), nodes[1].address());
    nodes[0].add_neighbour(a1, 0).unwrap();
    nodes[1].add_neighbour(a0, 0).unwrap();
    for i in 0..n {
        let b = Bulletin::new(
            topic,
            format!("m {i}").into_bytes(),
            (NOW + u64::from(i) % 600) as u32,
        );
        assert!(nodes[0].store_mut().store(&b).unwrap());
    }
    nodes
}

#[test]
fn a_node_with_nothing_catches_up_3000_bulletins_in_one_sync() {
    let topic = topic_id(b"chat");
    let mut nodes = holder_and_empty(3000, topic);
    nodes[1].subscribe(topic);
    let holder = nodes[0].address();
    nodes[1].request_sync(holder, topic);
    let now = NOW + 600;
    pump(&mut nodes, now);
    let got = nodes[1].take_delivered();
    assert_eq!(got.len(), 3000, "every bulletin");
    let keys: std::collections::HashSet<_> = got.iter().map(Bulletin::key).collect();
    assert_eq!(keys.len(), 3000, "each once");
    assert_eq!(nodes[1].store().len().unwrap(), 3000);
    let c = nodes[1].counters();
    assert_eq!((c.over_cap, c.unsolicited, c.duplicates), (0, 0, 0));
    assert_eq!(
        c.received,
        2 + 3000,
        "the accept and one negentropy answer with every id, then the contents"
    );
}

/// A node holding `n` beacon bulletins (neither followed nor new to it).
fn node_holding(n: usize, config: NodeConfig) -> (TestNode, Vec<Bulletin>) {
    let mut node = TestNode::from(Node::new(Identity::from_seed(&Seed::generate()), config));
    let held: Vec<Bulletin> = (0..n)
        .map(|i| mined(beacon_topic(), format!("held {i}").as_bytes(), NOW))
        .collect();
    for b in &held {
        node.publish(b.clone(), Timestamp::from_secs(NOW)).unwrap();
    }
    node.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    node.take_sent();
    node.take_delivered();
    (node, held)
}

#[test]
fn exact_replays_of_requests_are_answered_once() {
    let (mut node, held) = node_holding(1, NodeConfig::default());
    let stranger = Identity::from_seed(&Seed::generate());
    let sync = sealed(
        &stranger,
        node.address(),
        &Payload::Sync(Op::RequestSyncHeaders, beacon_topic(), Vec::new()),
        NOW,
    );
    let content = sealed(
        &stranger,
        node.address(),
        &Payload::RequestContent(PackedContent {
            id: held[0].content_id,
            content: Vec::new(),
        }),
        NOW,
    );
    for _ in 0..100 {
        node.receive(sync.clone());
        node.receive(content.clone());
    }
    // Still a replay at the last second of the message TTL.
    node.run_until_idle(Timestamp::from_secs(NOW + 300))
        .unwrap();
    let sent = node.take_sent();
    let ops: Vec<Op> = sent.iter().map(|o| o.op).collect();
    assert_eq!(ops, vec![Op::RespondSyncHeaders, Op::RespondContent]);
    assert_eq!(node.counters().duplicates, 198);
    // Re-stamped (new ts, re-mined: both outside the signature): the same
    // signature, still a replay.
    let mut restamped = sync.clone();
    restamped.ts += 200;
    mine_message(&mut restamped, 1);
    node.receive(restamped.clone());
    node.run_until_idle(Timestamp::from_secs(NOW + 250))
        .unwrap();
    // And it keeps the entry alive past the original's TTL.
    node.receive(restamped);
    node.run_until_idle(Timestamp::from_secs(NOW + 450))
        .unwrap();
    assert!(
        node.take_sent().is_empty(),
        "a re-stamped request is a replay"
    );
    assert_eq!(node.counters().duplicates, 200);
    // A fresh request (a new signature) is answered again.
    let address = node.address();
    node.receive(sealed(
        &stranger,
        address,
        &Payload::Sync(Op::RequestSyncHeaders, beacon_topic(), Vec::new()),
        NOW + 450,
    ));
    node.run_until_idle(Timestamp::from_secs(NOW + 450))
        .unwrap();
    assert_eq!(node.take_sent().len(), 1);
}

#[test]
fn answers_to_strangers_are_capped_in_bytes_per_source() {
    // Each respond_content payload is its op byte and a 78-byte bulletin:
    // 200 bytes a window lets two through, not three.
    let config = NodeConfig::builder()
        .stranger_answer_bytes(200)
        .build()
        .unwrap();
    let (mut node, held) = node_holding(4, config);
    let stranger = Identity::from_seed(&Seed::generate());
    let other = Identity::from_seed(&Seed::generate());
    let neighbour = Identity::from_seed(&Seed::generate());
    node.add_neighbour(neighbour.address(), 1).unwrap();
    let me = node.address();
    let ask = |from: &Identity, b: &Bulletin, ts: u64| {
        sealed(
            from,
            me,
            &Payload::RequestContent(PackedContent {
                id: b.content_id,
                content: Vec::new(),
            }),
            ts,
        )
    };
    let mut asks = Vec::new();
    for b in &held {
        asks.push(ask(&stranger, b, NOW));
        asks.push(ask(&other, b, NOW));
        asks.push(ask(&neighbour, b, NOW));
    }
    for m in asks {
        node.receive(m);
    }
    node.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let sent = node.take_sent();
    let to = |a: Address| sent.iter().filter(|o| o.peer == a).count();
    assert_eq!(to(stranger.address()), 2, "two answers fit the budget");
    assert_eq!(to(other.address()), 2, "each source has its own budget");
    assert_eq!(to(neighbour.address()), 4, "neighbours are not capped");
    assert_eq!(node.counters().over_cap, 4);
    // The next window brings a new budget.
    node.receive(ask(&stranger, &held[3], NOW + 60));
    node.run_until_idle(Timestamp::from_secs(NOW + 60)).unwrap();
    assert_eq!(node.take_sent().len(), 1);
}

#[test]
fn delivery_codes_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (seed_a, seed_b) = (Seed::generate(), Seed::generate());
    let open = |seed: &Seed, name: &str, code: Option<[u8; 8]>| {
        let store = SqliteStore::open(dir.path().join(name)).unwrap();
        let config = NodeConfig::builder().delivery_code(code).build().unwrap();
        TestNode::from(
            Node::with_store(
                Identity::from_seed(seed),
                config,
                Box::new(store),
                Timestamp::from_secs(NOW),
            )
            .unwrap(),
        )
    };
    let mut nodes = vec![open(&seed_a, "a.db", None), open(&seed_b, "b.db", None)];
    link(&mut nodes, 0, 1);
    let first = nodes[0].delivery_code();
    assert_eq!(
        nodes[0].delivery_code_since(),
        Some(Timestamp::from_secs(NOW))
    );
    let code = nodes[0]
        .rotate_delivery_code(Timestamp::from_secs(NOW + 5))
        .unwrap();
    assert_ne!(code, first);
    pump(&mut nodes, NOW + 5);
    let a = nodes[0].address();
    let inbox = nodes[0].inbox_topic();
    drop(nodes);

    let a_again = open(&seed_a, "a.db", None);
    assert_eq!(a_again.delivery_code(), code, "the rotated code is kept");
    assert_eq!(
        a_again.delivery_code_since(),
        Some(Timestamp::from_secs(NOW + 5))
    );
    assert!(a_again.follows(&inbox));
    let b_again = open(&seed_b, "b.db", None);
    assert_eq!(b_again.peer_code(&a), Some(code), "the peer's code is kept");
    assert_eq!(b_again.peer_inbox(&a), Some(inbox));
    let listed = b_again.store().delivery_codes().unwrap();
    assert_eq!(listed.len(), 2, "B's own code and A's: {listed:?}");
    assert!(
        listed
            .iter()
            .any(|c| !c.own && c.address == a && c.inbox() == inbox)
    );
    drop((a_again, b_again));

    // A code given in the config replaces the stored one, and is kept.
    let given = [7; 8];
    assert_eq!(open(&seed_a, "a.db", Some(given)).delivery_code(), given);
    assert_eq!(open(&seed_a, "a.db", None).delivery_code(), given);
}

/// Every ts and nonce a node makes (message nonces on forwards, sync
/// requests and answers, and the bulletin inside a delivery-code notice) is
/// one the original can read: below 2^31. (The parallel search takes chunks
/// in any order, so a found nonce may be anywhere in 0..2^31.)
#[test]
fn nodes_mine_nonces_the_original_can_read() {
    let seeds: Vec<Seed> = (0..3).map(|_| Seed::generate()).collect();
    let ids: Vec<Identity> = seeds.iter().map(Identity::from_seed).collect();
    let mut nodes: Vec<TestNode> = seeds
        .iter()
        .map(|s| Node::new(Identity::from_seed(s), NodeConfig::default()).into())
        .collect();
    link(&mut nodes, 0, 1);
    link(&mut nodes, 1, 2);
    let topic = topic_id(b"low nonces");
    nodes[2].subscribe(topic);
    let mut sent = Vec::new();
    let mut pass = |nodes: &mut Vec<TestNode>, now: u64| loop {
        let mut moved = false;
        for i in 0..nodes.len() {
            nodes[i].run_until_idle(Timestamp::from_secs(now)).unwrap();
            for out in nodes[i].take_sent() {
                let j = nodes.iter().position(|n| n.address() == out.peer).unwrap();
                sent.push((j, out.message.clone()));
                nodes[j].receive(out.message);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    };
    for i in 0..20 {
        nodes[0]
            .publish(
                mined(topic, format!("item {i}").as_bytes(), NOW),
                Timestamp::from_secs(NOW),
            )
            .unwrap();
        nodes[0]
            .rotate_delivery_code(Timestamp::from_secs(NOW))
            .unwrap();
    }
    pass(&mut nodes, NOW);
    let peer = nodes[1].address();
    nodes[2].request_sync(peer, topic);
    pass(&mut nodes, NOW);
    let mut made = Vec::new();
    for (to, m) in &sent {
        made.push(("message ts", m.ts()));
        made.push(("message nonce", m.nonce()));
        let plain = ids[*to].open(m.body()).unwrap();
        if let Ok(Payload::Bulletin(Op::DeliverWithoutForward, b)) = Payload::decode(&plain) {
            made.push(("notice nonce", b.nonce));
        }
    }
    assert!(sent.len() >= 60, "{} messages", sent.len());
    assert_eq!(
        made.iter().filter(|(w, _)| *w == "notice nonce").count(),
        20
    );
    let high: Vec<_> = made.iter().filter(|(_, v)| *v >= 1 << 31).collect();
    assert!(
        high.is_empty(),
        "{} of {}: {high:?}",
        high.len(),
        made.len()
    );
}

/// Issue 10: a bulletin is (topic id, content id). The same content under
/// two followed topics is delivered under each; a re-stamped copy (same
/// topic and content, another ts and nonce) is a duplicate.
#[test]
fn same_content_under_two_topics_is_two_bulletins_a_restamped_copy_one() {
    let mut nodes: Vec<TestNode> = (0..2).map(|_| node()).collect();
    link(&mut nodes, 0, 1);
    let (t1, t2) = (topic_id(b"junk"), topic_id(b"news"));
    nodes[1].subscribe(t1);
    nodes[1].subscribe(t2);
    let first = mined(t1, b"same words", NOW);
    let second = mined(t2, b"same words", NOW);
    let restamped = mined(t2, b"same words", NOW + 5);
    assert_eq!(first.content_id, second.content_id);
    let to = nodes[1].address();
    for b in [&first, &second, &restamped] {
        let payload = Payload::Bulletin(Op::StoreAndForward, b.clone());
        nodes[0]
            .send(to, &payload, Timestamp::from_secs(NOW))
            .unwrap();
    }
    pump(&mut nodes, NOW + 5);
    assert_eq!(
        nodes[1].take_delivered(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(nodes[1].counters().duplicates, 1, "the re-stamped copy");
    assert!(
        nodes[1].has_seen(&first.key(), Timestamp::from_secs(NOW))
            && nodes[1].has_seen(&second.key(), Timestamp::from_secs(NOW))
    );
    assert_eq!(nodes[1].store().len().unwrap(), 2);
}

/// request_content names only a content id: a node holding it under
/// several topics answers with the one under the topic the requester last
/// asked it to sync, else the newest, and one bulletin per request.
#[test]
fn request_content_answers_under_the_topic_last_synced_else_the_newest() {
    let mut nodes: Vec<TestNode> = (0..2).map(|_| node()).collect();
    let (t1, t2) = (topic_id(b"one"), topic_id(b"two"));
    let older = mined(t1, b"shared", NOW);
    let newer = mined(t2, b"shared", NOW + 1);
    nodes[0]
        .publish(older.clone(), Timestamp::from_secs(NOW + 1))
        .unwrap();
    nodes[0]
        .publish(newer.clone(), Timestamp::from_secs(NOW + 1))
        .unwrap();
    nodes[0]
        .run_until_idle(Timestamp::from_secs(NOW + 1))
        .unwrap();
    link(&mut nodes, 0, 1);
    nodes[1].subscribe(t1);
    nodes[1].subscribe(t2);
    let holder = nodes[0].address();
    let ask = Payload::RequestContent(PackedContent {
        id: older.content_id,
        content: Vec::new(),
    });
    nodes[1]
        .send(holder, &ask, Timestamp::from_secs(NOW + 1))
        .unwrap();
    assert_eq!(pump(&mut nodes, NOW + 1), 2, "one request, one answer");
    assert_eq!(nodes[1].take_delivered(), vec![newer.clone()], "the newest");
    // A sync of t1: the id is offered under t1, which the requester does
    // not hold under t1 yet, so it asks, and gets the t1 bulletin.
    nodes[1].request_sync(holder, t1);
    pump(&mut nodes, NOW + 1);
    assert_eq!(nodes[1].take_delivered(), vec![older.clone()]);
    assert_eq!(nodes[1].store().len().unwrap(), 2);
}

#[test]
fn learned_neighbours_are_budgeted_and_sent_at_no_more_than_the_default() {
    let config = NodeConfig::builder()
        .stranger_answer_bytes(200)
        .build()
        .unwrap();
    let (mut node, held) = node_holding(4, config);
    let learned = Identity::from_seed(&Seed::generate());
    let configured = Identity::from_seed(&Seed::generate());
    node.add_learned_neighbour(learned.address(), 8).unwrap();
    node.add_neighbour(configured.address(), 8).unwrap();
    // Learning a configured neighbour leaves it configured.
    node.add_learned_neighbour(configured.address(), 8).unwrap();
    assert!(node.connection(&learned.address()).unwrap().is_learned());
    assert!(!node.connection(&configured.address()).unwrap().is_learned());
    assert_eq!(node.difficulty_for(&learned.address()), 1, "min(8, -d)");
    assert_eq!(node.difficulty_for(&configured.address()), 8);
    let me = node.address();
    for b in &held {
        for from in [&learned, &configured] {
            let mut m = sealed(
                from,
                me,
                &Payload::RequestContent(PackedContent {
                    id: b.content_id,
                    content: Vec::new(),
                }),
                NOW,
            );
            mine_message(&mut m, 8);
            node.receive(m);
        }
    }
    node.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let sent = node.take_sent();
    let to = |a: Address| sent.iter().filter(|o| o.peer == a).count();
    assert_eq!(
        to(learned.address()),
        2,
        "a learned neighbour gets the budget"
    );
    assert_eq!(
        to(configured.address()),
        4,
        "a configured one is not capped"
    );
    assert!(
        sent.iter()
            .filter(|o| o.peer == configured.address())
            .all(|o| o.message.work().meets(8))
    );
}

#[test]
fn forwards_past_a_neighbours_send_credit_are_deferred_then_forwarded_from_the_store() {
    let mut a = node();
    let peer = Identity::from_seed(&Seed::generate());
    a.add_neighbour(peer.address(), 1).unwrap();
    // Room for one forward of a small bulletin, not two.
    a.set_send_credit(peer.address(), Some(400));
    let first = mined(beacon_topic(), b"fits the credit", NOW);
    let second = mined(beacon_topic(), b"does not", NOW);
    a.publish(first.clone(), Timestamp::from_secs(NOW)).unwrap();
    a.publish(second.clone(), Timestamp::from_secs(NOW))
        .unwrap();
    a.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let events: Vec<Event> = a.drain_events().collect();
    let sent: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Send(o) => o.bulletin,
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![first.key()],
        "nothing is prepared past the credit"
    );
    let deferred: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Deferred { peer, key } => Some((*peer, *key)),
            _ => None,
        })
        .collect();
    assert_eq!(deferred, vec![(peer.address(), second.key())]);
    // No credit: nothing goes; credit again: the owed bulletin, from the
    // store; a key with nothing stored is used up without a forward.
    a.set_send_credit(peer.address(), Some(0));
    let gone = BulletinKey::new(TopicId::from_bytes([9; 32]), ContentId::from_bytes([9; 32]));
    assert_eq!(
        a.forward_stored(peer.address(), &[second.key()], Timestamp::from_secs(NOW))
            .unwrap(),
        (0, 0)
    );
    a.set_send_credit(peer.address(), None);
    assert_eq!(
        a.forward_stored(
            peer.address(),
            &[gone, second.key()],
            Timestamp::from_secs(NOW)
        )
        .unwrap(),
        (2, 1)
    );
    a.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let sent = a.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].bulletin, sent[0].op),
        (Some(second.key()), Op::StoreAndForward)
    );
    assert_eq!(
        a.forward_stored(
            peer.address(),
            &[second.key()],
            Timestamp::from_secs(NOW + 3600)
        )
        .unwrap(),
        (1, 0),
        "an expired bulletin is used up, not forwarded"
    );
}

#[test]
fn a_replay_is_known_before_and_after_the_node_takes_it() {
    let mut a = node();
    let sender = Identity::from_seed(&Seed::generate());
    let m = sealed(
        &sender,
        a.address(),
        &Payload::Sync(Op::RequestSyncHeaders, beacon_topic(), Vec::new()),
        NOW,
    );
    assert!(!a.is_replay(&m, Timestamp::from_secs(NOW)));
    a.receive_unattributed(m.clone());
    a.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert!(
        a.is_replay(&m, Timestamp::from_secs(NOW)),
        "taken once: a copy is a replay"
    );
    assert!(
        !a.is_replay(&m, Timestamp::from_secs(NOW + 301)),
        "stale: no longer held"
    );
}

#[test]
fn the_delivery_code_is_announced_to_one_neighbour() {
    let mut a = node();
    let (p, q) = (
        Identity::from_seed(&Seed::generate()).address(),
        Identity::from_seed(&Seed::generate()).address(),
    );
    a.add_neighbour(p, 1).unwrap();
    a.add_neighbour(q, 1).unwrap();
    a.announce_delivery_code_to(p, Timestamp::from_secs(NOW))
        .unwrap();
    a.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    let sent = a.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].peer, sent[0].op), (p, Op::DeliverWithoutForward));
}

#[test]
fn publish_new_makes_mines_and_publishes_in_one_call() {
    let mut nodes: Vec<TestNode> = vec![node(), node()];
    link(&mut nodes, 0, 1);
    let chat = topic_id(b"chat");
    nodes[1].subscribe(chat);
    let b = nodes[0]
        .publish_new(chat, b"one call".to_vec(), Timestamp::from_secs(NOW))
        .unwrap();
    assert!(b.work().meets(NodeConfig::default().bulletin_difficulty()));
    assert_eq!((b.topic, b.ts), (chat, NOW as u32));
    pump(&mut nodes, NOW);
    assert_eq!(nodes[1].take_delivered(), vec![b]);
}

// Set reconciliation (negentropy) between two nodes.

/// Two linked nodes at difficulty 0 holding the given bulletins (by index
/// into `all`) under `topic`; `config` is the second node's, the first
/// node's is the default at difficulty 0 with `first` applied.
fn reconciling_pair(
    topic: TopicId,
    all: &[Bulletin],
    first_holds: &[usize],
    second_holds: &[usize],
    first: impl Fn(NodeConfigBuilder) -> NodeConfigBuilder,
    second: NodeConfig,
) -> Vec<TestNode> {
    let config = first(quick().to_builder()).build().unwrap();
    let mut nodes: Vec<TestNode> = [config, second]
        .into_iter()
        .map(|c| Node::new(Identity::from_seed(&Seed::generate()), c).into())
        .collect();
    let (a0, a1) = (nodes[0].address(), nodes[1].address());
    nodes[0].add_neighbour(a1, 0).unwrap();
    nodes[1].add_neighbour(a0, 0).unwrap();
    for (n, holds) in [(0, first_holds), (1, second_holds)] {
        for &i in holds {
            assert!(nodes[n].store_mut().store(&all[i]).unwrap());
        }
        nodes[n].subscribe(topic);
    }
    let _ = topic;
    nodes
}

fn quick() -> NodeConfig {
    NodeConfig::builder()
        .bulletin_difficulty(0)
        .message_difficulty(0)
        .build()
        .unwrap()
}

fn bulletins(topic: TopicId, n: usize) -> Vec<Bulletin> {
    (0..n)
        .map(|i| {
            Bulletin::new(
                topic,
                format!("r {i}").into_bytes(),
                (NOW + (i as u64 % 900)) as u32,
            )
        })
        .collect()
}

fn held_ids(node: &TestNode, topic: &TopicId) -> std::collections::BTreeSet<ContentId> {
    node.store()
        .list_topic(topic)
        .unwrap()
        .into_iter()
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Reconciliation finds exactly the brute-force set differences, each
    /// way: the requester fetches what it lacks, and with `sync_push` the
    /// answerer gets what it lacks.
    #[test]
    fn reconciliation_finds_the_set_difference(
        membership in proptest::collection::vec(0u8..3, 0..2500),
        push: bool,
    ) {
        let topic = topic_id(b"reconcile");
        let all = bulletins(topic, membership.len());
        // 0: first only, 1: second only, 2: both.
        let first: Vec<usize> = (0..all.len()).filter(|&i| membership[i] != 1).collect();
        let second: Vec<usize> = (0..all.len()).filter(|&i| membership[i] != 0).collect();
        let mut nodes = reconciling_pair(topic, &all, &first, &second, |c| c.sync_push(push), quick());
        let (before0, before1) = (held_ids(&nodes[0], &topic), held_ids(&nodes[1], &topic));
        let need = before1.difference(&before0).count() as u64;
        let have = before0.difference(&before1).count() as u64;
        let peer = nodes[1].address();
        nodes[0].request_sync(peer, topic);
        pump(&mut nodes, NOW + 1000);
        let status = nodes[0].sync_status(&peer, &topic).expect("asked");
        proptest::prop_assert_eq!(status.state, SyncState::Reconciled);
        proptest::prop_assert_eq!((status.need, status.have), (need, have));
        let union: std::collections::BTreeSet<ContentId> = before0.union(&before1).copied().collect();
        proptest::prop_assert_eq!(&held_ids(&nodes[0], &topic), &union);
        let expect1 = if push { union } else { before1 };
        proptest::prop_assert_eq!(held_ids(&nodes[1], &topic), expect1);
        for n in &nodes {
            let c = n.counters();
            proptest::prop_assert_eq!((c.malformed, c.unsolicited, c.over_cap, c.sync_fallbacks), (0, 0, 0, 0));
        }
    }
}

#[test]
fn reconciling_equal_sets_of_20000_costs_under_4_kib() {
    let topic = topic_id(b"equal");
    let all = bulletins(topic, 20_000);
    let every: Vec<usize> = (0..all.len()).collect();
    let mut nodes = reconciling_pair(topic, &all, &every, &every, |c| c, quick());
    let peer = nodes[1].address();
    nodes[0].request_sync(peer, topic);
    pump(&mut nodes, NOW + 1000);
    let s = nodes[0].sync_status(&peer, &topic).unwrap();
    assert_eq!(s.state, SyncState::Reconciled);
    assert_eq!((s.need, s.have, s.rounds), (0, 0, 1));
    assert!(
        s.bytes_sent + s.bytes_received < 4096,
        "{} bytes",
        s.bytes_sent + s.bytes_received
    );
}

#[test]
fn a_peer_without_reconciliation_answers_the_advertisement_with_a_full_list() {
    let topic = topic_id(b"old peer");
    let all = bulletins(topic, 50);
    let old = quick().to_builder().reconcile(false).build().unwrap();
    let mut nodes = reconciling_pair(
        topic,
        &all,
        &[0, 1],
        &(0..50).collect::<Vec<_>>(),
        |c| c,
        old,
    );
    let peer = nodes[1].address();
    nodes[0].request_sync(peer, topic);
    nodes[0]
        .run_until_idle(Timestamp::from_secs(NOW + 1000))
        .unwrap();
    let sent = nodes[0].take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].op, Op::RequestSyncHeaders);
    nodes[1].receive(sent[0].message.clone());
    pump(&mut nodes, NOW + 1000);
    assert_eq!(
        nodes[0].sync_status(&peer, &topic).unwrap().state,
        SyncState::FullList
    );
    assert_eq!(held_ids(&nodes[0], &topic).len(), 50);
    let c = nodes[1].counters();
    assert_eq!(
        (c.malformed, c.unsolicited, c.unsupported),
        (0, 0, 0),
        "no reconcile reached it"
    );
}

/// Drops every reconcile message a node receives: a peer that accepts and
/// then goes silent.
struct SilentAfterAccept;
impl Hooks for SilentAfterAccept {
    fn accept_message(
        &mut self,
        _: &RawMessage,
        p: &Payload,
        _: u64,
    ) -> Result<Acceptance, HookError> {
        Ok(match p.op() {
            Op::Reconcile => Acceptance::Ignore,
            _ => Acceptance::Accept,
        })
    }
}

#[test]
fn a_peer_that_goes_silent_mid_reconciliation_is_synced_by_full_list_after_the_timeout() {
    let topic = topic_id(b"silent");
    let all = bulletins(topic, 300);
    let mut nodes = reconciling_pair(
        topic,
        &all,
        &[],
        &(0..300).collect::<Vec<_>>(),
        |c| c,
        quick(),
    );
    // A silent answerer holding the same 300.
    let mut answerer: Node<SilentAfterAccept> =
        Node::new(Identity::from_seed(&Seed::generate()), quick()).with_hooks(SilentAfterAccept);
    for b in &all {
        answerer.store_mut().store(b).unwrap();
    }
    let a = answerer.address();
    nodes[0].add_neighbour(a, 0).unwrap();
    answerer.add_neighbour(nodes[0].address(), 0).unwrap();
    let t = NOW + 1000;
    nodes[0].request_sync(a, topic);
    // Pass messages both ways until quiet, at time `t`.
    let run = |nodes: &mut Vec<TestNode>, answerer: &mut Node<SilentAfterAccept>, t: u64| loop {
        nodes[0].run_until_idle(Timestamp::from_secs(t)).unwrap();
        answerer.run_until_idle(Timestamp::from_secs(t)).unwrap();
        let mut moved = 0;
        for out in nodes[0].take_sent() {
            answerer.receive(out.message);
            moved += 1;
        }
        for e in answerer.drain_events() {
            if let Event::Send(out) = e {
                nodes[0].receive(out.message);
                moved += 1;
            }
        }
        if moved == 0 {
            break;
        }
    };
    nodes[0].handle_timeout(Timestamp::from_secs(t)).unwrap(); // the first purge; the next at t + 30
    run(&mut nodes, &mut answerer, t);
    assert_eq!(
        nodes[0].sync_status(&a, &topic).unwrap().state,
        SyncState::Reconciling
    );
    assert_eq!(nodes[0].poll_timeout(), Some(Timestamp::from_secs(t + 10)));
    assert!(held_ids(&nodes[0], &topic).is_empty(), "nothing yet");
    nodes[0]
        .handle_timeout(Timestamp::from_secs(t + 10))
        .unwrap();
    run(&mut nodes, &mut answerer, t + 10);
    assert_eq!(
        nodes[0].sync_status(&a, &topic).unwrap().state,
        SyncState::FellBack
    );
    assert_eq!(nodes[0].counters().sync_fallbacks, 1);
    assert_eq!(
        held_ids(&nodes[0], &topic).len(),
        300,
        "every bulletin, by full list"
    );
    assert_eq!(
        nodes[0].poll_timeout(),
        Some(Timestamp::from_secs(t + 30)),
        "only the next purge"
    );
}

#[test]
fn a_lying_answerer_is_counted_malformed_and_the_sync_falls_back() {
    let topic = topic_id(b"liar");
    let all = bulletins(topic, 40);
    let mut nodes = reconciling_pair(
        topic,
        &all,
        &[],
        &(0..40).collect::<Vec<_>>(),
        |c| c,
        quick(),
    );
    let liar = Identity::from_seed(&Seed::generate());
    let me = nodes[0].address();
    nodes[0].add_neighbour(liar.address(), 0).unwrap();
    let t = NOW + 1000;
    nodes[0].request_sync(liar.address(), topic);
    nodes[0].run_until_idle(Timestamp::from_secs(t)).unwrap();
    nodes[0].take_sent();
    // An accept, then garbage where a negentropy answer belongs.
    let accept = Payload::Sync(Op::Reconcile, topic, vec![ROLE_ANSWERER]);
    nodes[0].receive(sealed(&liar, me, &accept, t));
    nodes[0].run_until_idle(Timestamp::from_secs(t)).unwrap();
    let sent = nodes[0].take_sent();
    assert_eq!(
        sent.iter().map(|o| o.op).collect::<Vec<_>>(),
        vec![Op::Reconcile]
    );
    let garbage = Payload::Sync(Op::Reconcile, topic, vec![ROLE_ANSWERER, 0x20, 0xff, 0xff]);
    nodes[0].receive(sealed(&liar, me, &garbage, t));
    nodes[0].run_until_idle(Timestamp::from_secs(t)).unwrap();
    let sent = nodes[0].take_sent();
    assert_eq!(
        nodes[0].counters().malformed,
        1,
        "{:?} {:?}",
        nodes[0].counters(),
        sent.iter().map(|o| o.op).collect::<Vec<_>>()
    );
    assert_eq!(
        nodes[0].sync_status(&liar.address(), &topic).unwrap().state,
        SyncState::FellBack
    );
    assert_eq!(
        sent.iter().map(|o| o.op).collect::<Vec<_>>(),
        vec![Op::RequestSyncHeaders]
    );
    // A reconcile nobody asked for, from a stranger, is unsolicited.
    let stranger = Identity::from_seed(&Seed::generate());
    let query = Payload::Sync(Op::Reconcile, topic, vec![0x00, 0x61]);
    let to = nodes[1].address();
    nodes[1].receive(sealed(&stranger, to, &query, t));
    nodes[1].run_until_idle(Timestamp::from_secs(t)).unwrap();
    assert_eq!(nodes[1].counters().unsolicited, 1);
    assert!(
        nodes[1].take_sent().is_empty(),
        "no answer to an unaccepted query"
    );
}

// The engine's timers: poll_timeout / handle_timeout.

#[test]
fn timers_purge_and_rotate_on_schedule_and_say_when_they_are_due() {
    let config = NodeConfig::builder()
        .bulletin_difficulty(0)
        .rotate_every(Some(std::time::Duration::from_secs(600)))
        .rng_seed(Some(7))
        .build()
        .unwrap();
    let mut n = Node::new(Identity::from_seed(&Seed::generate()), config.clone());
    assert_eq!(
        n.poll_timeout(),
        Some(Timestamp::from_secs(0)),
        "a node never given time is due at once"
    );
    let topic = topic_id(b"timers");
    let b = Bulletin::new(topic, b"old".to_vec(), NOW as u32);
    n.store_mut().store(&b).unwrap();
    n.handle_timeout(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(
        n.poll_timeout(),
        Some(Timestamp::from_secs(NOW + 30)),
        "the next purge"
    );
    // Early: nothing is due, nothing changes.
    n.handle_timeout(Timestamp::from_secs(NOW + 29)).unwrap();
    assert_eq!(n.store().len().unwrap(), 1);
    let code = n.delivery_code();
    n.handle_timeout(Timestamp::from_secs(NOW + 599)).unwrap();
    assert_eq!(n.delivery_code(), code, "not yet");
    n.handle_timeout(Timestamp::from_secs(NOW + 600)).unwrap();
    assert_ne!(
        n.delivery_code(),
        code,
        "rotated 600 s after the first time"
    );
    let rotated: Vec<Event> = n
        .drain_events()
        .filter(|e| matches!(e, Event::DeliveryCodeRotated { .. }))
        .collect();
    assert_eq!(
        rotated,
        vec![Event::DeliveryCodeRotated {
            at: Timestamp::from_secs(NOW + 600)
        }]
    );
    assert_eq!(n.store().len().unwrap(), 1, "not expired yet");
    // Past the bulletin's expiry, at a purge: it goes; the next rotation is
    // 600 s after the last.
    n.handle_timeout(Timestamp::from_secs(NOW + 3600)).unwrap();
    assert_eq!(n.store().len().unwrap(), 0);
    assert_eq!(
        n.poll_timeout(),
        Some(Timestamp::from_secs(NOW + 3600 + 30))
    );
    // Seeded: the same codes again.
    let again = Node::new(Identity::from_seed(&Seed::generate()), config);
    let first = Node::new(
        Identity::from_seed(&Seed::generate()),
        NodeConfig::builder().rng_seed(Some(7)).build().unwrap(),
    );
    assert_eq!(again.delivery_code(), first.delivery_code());
}

#[test]
fn a_peer_that_disconnects_mid_reconciliation_is_not_sent_a_fallback() {
    let mut n: TestNode = Node::new(Identity::from_seed(&Seed::generate()), quick()).into();
    let peer = Identity::from_seed(&Seed::generate());
    n.add_neighbour(peer.address(), 0).unwrap();
    let topic = topic_id(b"gone");
    n.handle_timeout(Timestamp::from_secs(NOW)).unwrap();
    n.request_sync(peer.address(), topic);
    n.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(n.take_sent().len(), 1, "the advertised request");
    assert_eq!(n.poll_timeout(), Some(Timestamp::from_secs(NOW + 10)));
    n.peer_disconnected(&peer.address());
    assert_eq!(
        n.poll_timeout(),
        Some(Timestamp::from_secs(NOW + 30)),
        "only the purge"
    );
    n.handle_timeout(Timestamp::from_secs(NOW + 30)).unwrap();
    n.run_until_idle(Timestamp::from_secs(NOW + 30)).unwrap();
    assert!(
        n.take_sent().is_empty(),
        "no fallback to a peer that is gone"
    );
    assert_eq!(n.counters().sync_fallbacks, 0);
    assert!(n.sync_status(&peer.address(), &topic).is_none());
}

/// A message is verified at the difficulty of the connection it came on,
/// as it was when the message came: a learned neighbour that sends and
/// leaves before the node runs (a publisher that closes its connection to
/// a `--listen HOST:PORT/0`) does not have what it sent held to the
/// default difficulty. Before, the tail of such a connection's input was
/// dropped as weak_proof_of_work.
#[test]
fn a_neighbour_that_left_keeps_its_difficulty_for_what_it_sent() {
    let mut node = node();
    let topic = topic_id(b"sent and left");
    node.subscribe(topic);
    let from = Identity::from_seed(&Seed::generate());
    node.add_learned_neighbour(from.address(), 0).unwrap();
    let me = node.address();
    let key = PeerKey::new(&me).unwrap();
    let mut weak = 0;
    for i in 0..32 {
        let b = mined(topic, format!("sent {i}").as_bytes(), NOW);
        let payload = Payload::Bulletin(Op::StoreAndForward, b).encode();
        let m = prepare_message(
            &from,
            &key,
            me,
            &payload,
            NOW as u32,
            gossip::Difficulty::new(0),
            Cipher::default(),
        )
        .unwrap();
        weak += usize::from(!m.work().meets(1));
        node.receive_from(from.address(), m);
    }
    assert!(weak > 0, "some of the 32 messages must fail difficulty 1");
    node.remove_neighbour(&from.address());
    node.run_until_idle(Timestamp::from_secs(NOW)).unwrap();
    assert_eq!(node.take_delivered().len(), 32);
    assert_eq!(node.counters().accepted, 32);
}

/// A memory store that counts the items it lists for sync (range_ids):
/// the work a peer's sync request makes a node do.
struct Counting {
    inner: gossip::store::MemoryStore,
    listed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Bulletins for Counting {
    fn store(&mut self, b: &Bulletin) -> Result<bool, StoreError> {
        self.inner.store(b)
    }
    fn retrieve(&self, k: &BulletinKey) -> Result<Option<Bulletin>, StoreError> {
        self.inner.retrieve(k)
    }
    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.inner.list()
    }
    fn range_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        after: Option<(u32, ContentId)>,
        max: usize,
    ) -> Result<Vec<(u32, ContentId)>, StoreError> {
        let page = self
            .inner
            .range_ids(topic, Timestamp::from_secs(now.as_secs()), after, max)?;
        self.listed
            .fetch_add(page.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(page)
    }
}

impl SeenLog for Counting {
    fn mark_seen(&mut self, k: &BulletinKey, e: Timestamp) -> Result<(), StoreError> {
        self.inner.mark_seen(k, e)
    }
    fn seen(&self, now: Timestamp) -> Result<Vec<(BulletinKey, Timestamp)>, StoreError> {
        self.inner.seen(now)
    }
}

impl DeliveryJournal for Counting {
    fn mark_delivered(&mut self, k: &BulletinKey, e: Timestamp) -> Result<bool, StoreError> {
        self.inner.mark_delivered(k, e)
    }
    fn is_delivered(&self, k: &BulletinKey) -> Result<bool, StoreError> {
        self.inner.is_delivered(k)
    }
    fn confirm_delivered(&mut self, k: &[BulletinKey]) -> Result<(), StoreError> {
        self.inner.confirm_delivered(k)
    }
    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.inner.pending_deliveries()
    }
}

impl CodeBook for Counting {
    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError> {
        self.inner.delivery_codes()
    }
    fn put_delivery_code(&mut self, c: &DeliveryCode) -> Result<(), StoreError> {
        self.inner.put_delivery_code(c)
    }
}

impl BulletinStore for Counting {
    fn handle(&mut self, b: &Bulletin, deliver: bool) -> Result<Stored, StoreError> {
        self.inner.handle(b, deliver)
    }
    fn remove_expired(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.remove_expired(now)
    }
}

#[test]
fn a_stranger_gets_no_more_reconciliation_work_than_its_answer_budget() {
    use negentropy::{Id as NegId, Negentropy, NegentropyStorageVector};
    let topic = topic_id(b"work");
    let all = bulletins(topic, 3000);
    let config = quick()
        .to_builder()
        .stranger_answer_bytes(100_000)
        .build()
        .unwrap();
    let listed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut store = Counting {
        inner: gossip::store::MemoryStore::new(),
        listed: listed.clone(),
    };
    for b in &all {
        store.store(b).unwrap();
    }
    let t = NOW + 1000;
    let node = Node::with_store(
        Identity::from_seed(&Seed::generate()),
        config,
        Box::new(store),
        Timestamp::from_secs(t),
    )
    .unwrap();
    let mut n: TestNode = node.into();
    let stranger = Identity::from_seed(&Seed::generate());
    let me = n.address();
    let request = Payload::Sync(
        Op::RequestSyncHeaders,
        topic,
        gossip::node::extensions::advert(&[gossip::node::extensions::RECONCILE_V1]),
    );
    n.receive(sealed(&stranger, me, &request, t));
    n.run_until_idle(Timestamp::from_secs(t)).unwrap();
    assert_eq!(n.take_sent().len(), 1, "accepted");
    // The stranger's query over the same 3,000 items, sent 20 times.
    let mut items = NegentropyStorageVector::new();
    for b in &all {
        items
            .insert(
                u64::from(b.ts),
                NegId::from_byte_array(b.content_id.to_bytes()),
            )
            .unwrap();
    }
    items.seal().unwrap();
    let query = Negentropy::owned(items, 500_000)
        .unwrap()
        .initiate()
        .unwrap();
    let body = [&[0u8][..], &query].concat();
    for _ in 0..20 {
        n.receive(sealed(
            &stranger,
            me,
            &Payload::Sync(Op::Reconcile, topic, body.clone()),
            t,
        ));
        n.run_until_idle(Timestamp::from_secs(t)).unwrap();
    }
    // 100,000 bytes at 8 a listed item (24,000 a list of 3,000): the
    // accept and three answers, then no list is built this window.
    assert_eq!(n.take_sent().len(), 3, "answers past the accept");
    assert_eq!(n.counters().over_cap, 17);
    assert_eq!(
        listed.load(std::sync::atomic::Ordering::Relaxed),
        5 * 3000,
        "lists built: the accept's, three answered, the one that used the budget up"
    );
}
