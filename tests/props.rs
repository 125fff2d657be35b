//! Property tests: every pack/unpack pair round-trips (bulletins, messages,
//! payloads, JSON and wire streams), readers never panic on arbitrary
//! bytes, and mined objects always meet the difficulty they were mined to.

use gossip::Address;
use gossip::Bulletin;
use gossip::RawMessage;
use gossip::codec::{Format, Kind, Object, ObjectReader, write_object};
use gossip::pow::{Mined, Progress, mine};
use gossip::{ContentId, TopicId};
use gossip::{Op, PackedContent, Payload};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..600)
}

/// Any bulletin, its content id possibly not matching its content.
fn any_bulletin() -> impl Strategy<Value = Bulletin> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        content(),
    )
        .prop_map(|(topic, content_id, ts, nonce, content)| Bulletin {
            topic: TopicId::from_bytes(topic),
            content_id: ContentId::from_bytes(content_id),
            ts,
            nonce,
            content,
        })
}

/// A well-formed bulletin: its content id is SHA-256 of its content.
fn good_bulletin() -> impl Strategy<Value = Bulletin> {
    (any::<[u8; 32]>(), content(), any::<u32>(), any::<u32>()).prop_map(
        |(topic, content, ts, nonce)| {
            let mut b = Bulletin::new(TopicId::from_bytes(topic), content, ts);
            b.nonce = nonce;
            b
        },
    )
}

fn any_message() -> impl Strategy<Value = RawMessage> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 64..=64),
        content(),
    )
        .prop_map(|(dst, src, ts, nonce, sig, body)| RawMessage {
            dst: Address(dst),
            src: Address(src),
            ts,
            nonce,
            sig: sig.try_into().unwrap(),
            body,
        })
}

fn any_payload() -> impl Strategy<Value = Payload> {
    let bulletin_op = prop::sample::select(vec![
        Op::StoreAndForward,
        Op::DeliverWithoutForward,
        Op::RespondContent,
    ]);
    let sync_op = prop::sample::select(vec![Op::RequestSyncHeaders, Op::RespondSyncHeaders]);
    let routing_op = prop::sample::select(
        Op::ALL
            .into_iter()
            .filter(|op| op.is_routing())
            .collect::<Vec<_>>(),
    );
    let tree_op = prop::sample::select(vec![Op::Announce, Op::Graft, Op::Prune]);
    prop_oneof![
        (bulletin_op, any_bulletin()).prop_map(|(op, b)| Payload::Bulletin(op, b)),
        (sync_op, any::<[u8; 32]>(), content()).prop_map(|(op, t, rest)| Payload::Sync(
            op,
            TopicId::from_bytes(t),
            rest
        )),
        (any::<[u8; 32]>(), content()).prop_map(|(id, content)| Payload::RequestContent(
            PackedContent {
                id: ContentId::from_bytes(id),
                content
            }
        )),
        (routing_op, content()).prop_map(|(op, rest)| Payload::Routing(op, rest)),
        (tree_op, content()).prop_map(|(op, rest)| Payload::Tree(op, rest)),
    ]
}

/// Reads every object of a stream, failing on any error.
fn read_stream(bytes: &[u8], kind: Kind) -> Vec<Object> {
    ObjectReader::new(bytes, kind)
        .map(|o| o.expect("object reads back"))
        .collect()
}

fn write_stream(objects: &[Object], format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    for o in objects {
        write_object(&mut out, o, format).unwrap();
    }
    out
}

/// Mines `work` on one thread (the test machine is shared).
fn mine_one(work: &gossip::pow::Work, difficulty: u32, start: u32) -> u32 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    match pool.install(|| {
        mine(
            work,
            gossip::Difficulty::new(difficulty),
            start,
            &Progress::default(),
        )
    }) {
        Mined::Found(nonce) => nonce,
        other => panic!("no nonce at difficulty {difficulty}: {other:?}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bulletin_pack_unpack(b in any_bulletin()) {
        let packed = b.pack();
        prop_assert_eq!(packed.len(), 72 + b.content.len());
        prop_assert_eq!(&packed[..72], &b.header()[..]);
        prop_assert_eq!(Bulletin::unpack(&packed).unwrap(), b);
    }

    #[test]
    fn message_pack_unpack(m in any_message()) {
        let packed = m.pack();
        prop_assert_eq!(packed.len(), 136 + m.body.len());
        prop_assert_eq!(RawMessage::unpack(&packed).unwrap(), m);
    }

    #[test]
    fn short_inputs_do_not_unpack(bytes in prop::collection::vec(any::<u8>(), 0..136)) {
        prop_assert_eq!(Bulletin::unpack(&bytes).is_ok(), bytes.len() >= 72);
        prop_assert!(RawMessage::unpack(&bytes).is_err());
    }

    #[test]
    fn payload_encode_decode(p in any_payload()) {
        let body = p.encode();
        prop_assert_eq!(body[0], p.op() as u8);
        prop_assert_eq!(Payload::decode(&body).unwrap(), p);
    }

    #[test]
    fn payload_decode_is_exact_or_an_error(body in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = Payload::decode(&body) {
            prop_assert_eq!(p.encode(), body);
        }
    }

    #[test]
    fn json_object_round_trip(b in any_bulletin(), m in any_message()) {
        for obj in [Object::Bulletin(b), Object::Message(m)] {
            let json = obj.to_json();
            prop_assert_eq!(&json["type"], obj.type_name());
            let text = serde_json::to_string(&json).unwrap();
            prop_assert_eq!(Object::from_json(text.as_bytes()).unwrap(), obj);
        }
    }

    #[test]
    fn json_stream_round_trip(
        bs in prop::collection::vec(any_bulletin(), 0..4),
        ms in prop::collection::vec(any_message(), 0..4),
    ) {
        let mut objects: Vec<Object> = bs.into_iter().map(Object::Bulletin).collect();
        objects.extend(ms.into_iter().map(Object::Message));
        let text = write_stream(&objects, Format::Json);
        prop_assert_eq!(read_stream(&text, Kind::Any), objects);
    }

    #[test]
    fn wire_stream_round_trip_classifies_both_kinds(
        bs in prop::collection::vec(good_bulletin(), 0..4),
        ms in prop::collection::vec(any_message(), 0..4),
    ) {
        let mut objects = Vec::new();
        for (b, m) in bs.into_iter().zip(ms) {
            objects.push(Object::Bulletin(b));
            objects.push(Object::Message(m));
        }
        let wire = write_stream(&objects, Format::Wire);
        let mut expected_len = 0;
        for o in &objects {
            expected_len += 4 + o.pack().len();
        }
        prop_assert_eq!(wire.len(), expected_len);
        prop_assert_eq!(read_stream(&wire, Kind::Any), objects);
    }

    #[test]
    fn wire_stream_of_one_kind_round_trips(
        bs in prop::collection::vec(any_bulletin(), 1..4),
        ms in prop::collection::vec(any_message(), 1..4),
    ) {
        let bs: Vec<Object> = bs.into_iter().map(Object::Bulletin).collect();
        prop_assert_eq!(read_stream(&write_stream(&bs, Format::Wire), Kind::Bulletin), bs);
        let ms: Vec<Object> = ms.into_iter().map(Object::Message).collect();
        prop_assert_eq!(read_stream(&write_stream(&ms, Format::Wire), Kind::Message), ms);
    }

    #[test]
    fn packed_bytes_classify_as_what_they_are(b in good_bulletin(), m in any_message()) {
        prop_assert_eq!(Object::from_packed(&b.pack(), Kind::Any).unwrap(), Object::Bulletin(b));
        prop_assert_eq!(Object::from_packed(&m.pack(), Kind::Any).unwrap(), Object::Message(m));
    }

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        kind in prop::sample::select(vec![Kind::Any, Kind::Bulletin, Kind::Message]),
    ) {
        let items: Vec<_> = ObjectReader::new(&bytes[..], kind).take(1000).collect();
        prop_assert!(items.len() < 1000, "reader did not end");
        let _ = Object::from_packed(&bytes, kind);
    }

    #[test]
    fn truncating_a_wire_stream_keeps_the_whole_frames(
        bs in prop::collection::vec(good_bulletin(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let objects: Vec<Object> = bs.into_iter().map(Object::Bulletin).collect();
        let wire = write_stream(&objects, Format::Wire);
        let at = cut.index(wire.len());
        let items: Vec<_> = ObjectReader::new(&wire[..at], Kind::Bulletin).collect();
        let ok: Vec<Object> = items.iter().filter_map(|i| i.as_ref().ok().cloned()).collect();
        prop_assert_eq!(&ok[..], &objects[..ok.len()]);
        prop_assert!(items.iter().filter(|i| i.is_err()).count() <= 1);
        prop_assert!(items.len() <= objects.len());
    }

    #[test]
    fn mined_bulletins_meet_their_difficulty(
        mut b in good_bulletin(),
        difficulty in 0u32..=6,
        start in any::<u32>(),
    ) {
        b.nonce = mine_one(&b.work(), difficulty, start);
        prop_assert!(b.work().meets(difficulty));
        prop_assert!(b.work().bits() >= difficulty);
        // and the mined bulletin survives a round trip with its work
        let back = Bulletin::unpack(&b.pack()).unwrap();
        prop_assert!(back.work().meets(difficulty));
    }

    #[test]
    fn mined_messages_meet_their_difficulty(
        mut m in any_message(),
        difficulty in 0u32..=6,
        start in any::<u32>(),
    ) {
        m.nonce = mine_one(&m.work(), difficulty, start);
        prop_assert!(m.work().meets(difficulty));
        let back = RawMessage::unpack(&m.pack()).unwrap();
        prop_assert!(back.work().meets(difficulty));
    }
}
