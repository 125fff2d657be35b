//! The session in memory: identification, routing and every bound, with
//! no socket and no clock.

use std::time::{Duration, Instant};

use super::*;
use crate::crypto::{Cipher, Identity, PeerKey};
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::keys::Seed;
use crate::message::Message;
use crate::node::{Acceptance, NodeConfig, prepare_message};
use crate::operation::{Op, Payload};
use crate::pow::Difficulty;

const UNIX: Timestamp = Timestamp::from_secs(1_764_000_000);

fn ident(n: u8) -> Identity {
    Identity::from_seed(&Seed::from_bytes([n; 32]))
}

fn node() -> Node {
    let config = NodeConfig::builder()
        .message_difficulty(0)
        .bulletin_difficulty(0)
        .build()
        .unwrap();
    Node::new(ident(1), config)
}

/// A fresh request_sync_headers from `from` to `to`, at difficulty 0 (a
/// new seal each time, so a new signature).
fn message(from: &Identity, to: Address) -> RawMessage {
    let plain = Payload::Sync(
        Op::RequestSyncHeaders,
        TopicId::from_bytes([7; 32]),
        Vec::new(),
    )
    .encode();
    let key = PeerKey::recipient(&to).unwrap();
    prepare_message(
        from,
        &key,
        to,
        &plain,
        UNIX.to_wire(),
        Difficulty::new(0),
        Cipher::default(),
    )
    .unwrap()
    .into()
}

fn accepted() -> Opening {
    Opening::Accepted { difficulty: 0 }
}

fn identified(s: &mut Session) -> Vec<(ConnId, Address)> {
    s.drain_events()
        .filter_map(|e| match e {
            SessionEvent::PeerIdentified { conn, peer } => Some((conn, peer)),
            _ => None,
        })
        .collect()
}

fn closes(s: &mut Session) -> Vec<(ConnId, CloseReason)> {
    s.drain_events()
        .filter_map(|e| match e {
            SessionEvent::Close { conn, reason } => Some((conn, reason)),
            _ => None,
        })
        .collect()
}

fn outbound(peer: Address, size: usize) -> Outbound {
    let m = Message::to(peer)
        .at(UNIX.to_wire())
        .body(vec![0; size])
        .sign(&ident(1))
        .hashcash(Difficulty::new(0))
        .unwrap();
    Outbound {
        peer,
        op: Op::StoreAndForward,
        bulletin: Some(BulletinKey::new(
            TopicId::from_bytes([1; 32]),
            ContentId::from_bytes([2; 32]),
        )),
        message: m,
    }
}

#[test]
fn a_valid_fresh_message_identifies_its_signer_as_a_learned_neighbour() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let alice = ident(2);
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    assert_eq!(s.peer_on(ConnId(1)), None);
    s.receive(ConnId(1), message(&alice, n.address()), &mut n, now, UNIX)
        .unwrap();
    assert_eq!(identified(&mut s), vec![(ConnId(1), alice.address())]);
    assert_eq!(s.route_to(&alice.address()), Some(ConnId(1)));
    assert!(n.connection(&alice.address()).unwrap().is_learned());
    n.run_until_idle(UNIX).unwrap();
    assert_eq!(n.counters().accepted, 1);
    // Gone with its last connection, leaving no trace.
    s.closed(ConnId(1), &mut n);
    assert_eq!(
        s.drain_events().collect::<Vec<_>>(),
        vec![SessionEvent::PeerGone {
            peer: alice.address()
        }]
    );
    assert!(n.connection(&alice.address()).is_none());
    assert!(s.peers().is_empty());
}

#[test]
fn a_forged_src_never_becomes_a_peer() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let (alice, mallory) = (ident(2), ident(3));
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    // Mallory's message, claiming to be Alice's.
    let mut forged = message(&mallory, n.address());
    forged.src = alice.address();
    s.receive(ConnId(1), forged, &mut n, now, UNIX).unwrap();
    assert!(identified(&mut s).is_empty());
    assert_eq!(s.peer_on(ConnId(1)), None);
    assert!(n.connection(&alice.address()).is_none());
    n.run_until_idle(UNIX).unwrap();
    assert_eq!(n.counters().accepted, 0, "the forged message is dropped");
}

#[test]
fn a_replay_binds_nothing_and_counts_as_invalid() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let alice = ident(2);
    let m = message(&alice, n.address());
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    s.opened(ConnId(2), accepted(), &mut n, now, UNIX).unwrap();
    s.opened(ConnId(3), accepted(), &mut n, now, UNIX).unwrap();
    s.receive(ConnId(1), m.clone(), &mut n, now, UNIX).unwrap();
    // A copy in the same batch, before the engine has seen either.
    s.receive(ConnId(2), m.clone(), &mut n, now, UNIX).unwrap();
    n.run_until_idle(UNIX).unwrap();
    s.end_batch();
    // A copy once the node has taken it.
    s.receive(ConnId(3), m, &mut n, now, UNIX).unwrap();
    assert_eq!(identified(&mut s), vec![(ConnId(1), alice.address())]);
    assert_eq!(s.peer_on(ConnId(2)), None);
    assert_eq!(s.peer_on(ConnId(3)), None);
    assert_eq!(s.route_to(&alice.address()), Some(ConnId(1)));
}

#[test]
fn answers_to_a_stranger_go_back_on_the_connection_its_request_came_on() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let (alice, bob, stranger) = (ident(2), ident(3), ident(4));
    for (id, who) in [(1, &alice), (2, &bob)] {
        s.opened(ConnId(id), accepted(), &mut n, now, UNIX).unwrap();
        s.receive(ConnId(id), message(who, n.address()), &mut n, now, UNIX)
            .unwrap();
    }
    // The stranger's request comes on Bob's connection.
    s.receive(
        ConnId(2),
        message(&stranger, n.address()),
        &mut n,
        now,
        UNIX,
    )
    .unwrap();
    s.drain_events().for_each(drop);
    assert_eq!(s.send(&outbound(stranger.address(), 10), &n), Sent::Queued);
    let sent: Vec<ConnId> = s
        .drain_events()
        .filter_map(|e| match e {
            SessionEvent::Send { conn, .. } => Some(conn),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![ConnId(2)]);
    // Bob's connection ends: no way back to the stranger.
    s.closed(ConnId(2), &mut n);
    assert_eq!(
        s.send(&outbound(stranger.address(), 10), &n),
        Sent::Unreachable
    );
}

#[test]
fn nothing_goes_to_a_peer_the_session_has_no_way_to() {
    let (n, mut s) = (node(), Session::new(SessionConfig::default()));
    let (nobody, dialed, local) = (ident(5), ident(6), ident(7));
    s.expect(dialed.address());
    s.heard_elsewhere(local.address());
    assert_eq!(
        s.send(&outbound(nobody.address(), 10), &n),
        Sent::Unreachable
    );
    assert_eq!(s.send(&outbound(dialed.address(), 10), &n), Sent::Dropped);
    assert_eq!(s.send(&outbound(local.address(), 10), &n), Sent::Elsewhere);
    assert_eq!(s.drain_events().count(), 0);
    assert_eq!(s.peers()[&dialed.address()].dropped, 1);
}

#[test]
fn a_send_queue_is_bounded_in_bytes_as_the_driver_reports_them_written() {
    let config = SessionConfig {
        send_queue: 1000,
        ..SessionConfig::default()
    };
    let (mut n, mut s, now) = (node(), Session::new(config), Instant::now());
    let alice = ident(2);
    s.opened(
        ConnId(1),
        Opening::Dialed {
            peer: alice.address(),
            difficulty: 0,
        },
        &mut n,
        now,
        UNIX,
    )
    .unwrap();
    // A frame larger than the queue goes into an empty queue only.
    let big = outbound(alice.address(), 2000);
    assert_eq!(s.send(&big, &n), Sent::Queued);
    let frame_len = s.queued_bytes(ConnId(1));
    assert!(frame_len > 2000);
    // Not while it is queued: the bulletin is owed instead.
    assert_eq!(s.send(&outbound(alice.address(), 100), &n), Sent::Deferred);
    assert_eq!(s.owed(), 1);
    s.drained(ConnId(1), frame_len);
    assert_eq!(s.queued_bytes(ConnId(1)), 0);
    // Small frames up to the bound, then no more.
    let mut queued = 0;
    let mut small = outbound(alice.address(), 100);
    small.bulletin = None;
    while s.send(&small, &n) == Sent::Queued {
        queued += 1;
    }
    assert!(s.queued_bytes(ConnId(1)) <= 1000);
    assert_eq!(queued, 1000 / s.queued_bytes(ConnId(1)).div_ceil(queued));
    assert_eq!(s.peers()[&alice.address()].dropped, 1);
    // Its send credit is the room left.
    s.grant(&mut n);
    assert_eq!(s.queued_total(), s.queued_bytes(ConnId(1)));
}

#[test]
fn the_bound_on_all_queues_holds_across_connections() {
    let config = SessionConfig {
        send_total: 2000,
        ..SessionConfig::default()
    };
    let (mut n, mut s, now) = (node(), Session::new(config), Instant::now());
    let mut taken = 0;
    for i in 0..8u8 {
        let peer = ident(10 + i).address();
        s.opened(
            ConnId(u64::from(i)),
            Opening::Dialed {
                peer,
                difficulty: 0,
            },
            &mut n,
            now,
            UNIX,
        )
        .unwrap();
        for _ in 0..4 {
            let mut o = outbound(peer, 300);
            o.bulletin = None;
            taken += usize::from(s.send(&o, &n) == Sent::Queued);
        }
    }
    assert!(
        s.queued_total() <= 2000,
        "{} bytes queued",
        s.queued_total()
    );
    assert!(taken < 32 && taken > 0);
    // A connection's end gives its bytes back.
    s.closed(ConnId(0), &mut n);
    assert!(s.queued_total() < 2000);
}

#[test]
fn an_accepted_connection_that_names_nobody_is_closed_at_the_bind_timeout() {
    let (mut n, mut s, t0) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    s.opened(ConnId(1), accepted(), &mut n, t0, UNIX).unwrap();
    s.opened(ConnId(2), accepted(), &mut n, t0, UNIX).unwrap();
    s.receive(ConnId(2), message(&ident(2), n.address()), &mut n, t0, UNIX)
        .unwrap();
    s.drain_events().for_each(drop);
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, t0 + DEFAULT_BIND_TIMEOUT);
    s.handle_timeout(due - Duration::from_millis(1));
    assert!(closes(&mut s).is_empty());
    s.handle_timeout(due);
    assert_eq!(closes(&mut s), vec![(ConnId(1), CloseReason::Unbound)]);
    assert_eq!(s.closed(ConnId(1), &mut n), Some(CloseReason::Unbound));
    // The bound one is left to the idle timeout.
    assert_eq!(s.poll_timeout(), Some(t0 + DEFAULT_IDLE_TIMEOUT));
    s.handle_timeout(t0 + DEFAULT_IDLE_TIMEOUT);
    assert_eq!(closes(&mut s), vec![(ConnId(2), CloseReason::Idle)]);
}

#[test]
fn past_max_connections_the_oldest_unbound_one_is_evicted() {
    let config = SessionConfig {
        max_connections: 2,
        ..SessionConfig::default()
    };
    let (mut n, mut s, t0) = (node(), Session::new(config), Instant::now());
    let at = |ms| t0 + Duration::from_millis(ms);
    s.opened(ConnId(1), accepted(), &mut n, at(0), UNIX)
        .unwrap();
    s.opened(ConnId(2), accepted(), &mut n, at(1), UNIX)
        .unwrap();
    // Dialed connections do not count.
    let dialed = Opening::Dialed {
        peer: ident(9).address(),
        difficulty: 0,
    };
    s.opened(ConnId(9), dialed, &mut n, at(1), UNIX).unwrap();
    s.drain_events().for_each(drop);
    s.opened(ConnId(3), accepted(), &mut n, at(2), UNIX)
        .unwrap();
    assert_eq!(closes(&mut s), vec![(ConnId(1), CloseReason::Evicted)]);
    s.closed(ConnId(1), &mut n);
    // 2 and 3 both bound: the new one goes.
    for (id, who) in [(2, 2), (3, 3)] {
        s.receive(
            ConnId(id),
            message(&ident(who), n.address()),
            &mut n,
            at(3),
            UNIX,
        )
        .unwrap();
    }
    s.drain_events().for_each(drop);
    s.opened(ConnId(4), accepted(), &mut n, at(4), UNIX)
        .unwrap();
    assert_eq!(closes(&mut s), vec![(ConnId(4), CloseReason::Evicted)]);
}

#[test]
fn a_connection_is_closed_at_its_invalid_message_limit() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    let mut bad = message(&ident(2), n.address());
    bad.sig = [1; 64];
    for i in 1..=DEFAULT_MAX_INVALID {
        assert!(closes(&mut s).is_empty(), "open after {} invalid", i - 1);
        s.receive(ConnId(1), bad.clone(), &mut n, now, UNIX)
            .unwrap();
    }
    assert_eq!(closes(&mut s), vec![(ConnId(1), CloseReason::Invalid)]);
    // What it sends from then on is not looked at.
    s.receive_bytes(ConnId(1), b"junk", &mut n, now, UNIX)
        .unwrap();
    assert!(s.drain_events().next().is_none());
    // On a bound connection, the engine's verdicts count.
    s.opened(ConnId(2), accepted(), &mut n, now, UNIX).unwrap();
    s.receive(
        ConnId(2),
        message(&ident(3), n.address()),
        &mut n,
        now,
        UNIX,
    )
    .unwrap();
    let mut bad = message(&ident(3), n.address());
    bad.sig = [1; 64];
    for _ in 0..DEFAULT_MAX_INVALID {
        s.receive(ConnId(2), bad.clone(), &mut n, now, UNIX)
            .unwrap();
    }
    n.run_until_idle(UNIX).unwrap();
    s.drain_events().for_each(drop);
    let events: Vec<Event> = n.drain_events().collect();
    events.iter().for_each(|e| {
        s.note(e);
    });
    assert_eq!(closes(&mut s), vec![(ConnId(2), CloseReason::Invalid)]);
}

#[test]
fn reply_routes_are_bounded() {
    let config = SessionConfig {
        max_reply_routes: 3,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config);
    for i in 0..10 {
        s.heard_elsewhere(ident(20 + i).address());
    }
    assert_eq!(s.reply_routes(), 3);
}

#[test]
fn a_message_on_a_bound_connection_is_verified_at_the_connections_difficulty() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let alice = ident(2);
    // A configured neighbour at difficulty 0, on a connection that asks 30
    // bits of work: a message mined at 0 is refused there.
    n.add_neighbour(alice.address(), 0).unwrap();
    let trusted = Opening::Trusted {
        peer: alice.address(),
        difficulty: 30,
    };
    s.opened(ConnId(1), trusted, &mut n, now, UNIX).unwrap();
    s.receive(ConnId(1), message(&alice, n.address()), &mut n, now, UNIX)
        .unwrap();
    n.run_until_idle(UNIX).unwrap();
    assert_eq!(n.counters().accepted, 0);
}

#[test]
fn a_first_message_is_verified_once_and_not_again_by_the_engine() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let alice = ident(2);
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    s.receive(ConnId(1), message(&alice, n.address()), &mut n, now, UNIX)
        .unwrap();
    assert_eq!(identified(&mut s), vec![(ConnId(1), alice.address())]);
    // The engine runs past the message's TTL: verified again there, it
    // would be too old. It keeps the verdict the session got.
    n.run_until_idle(UNIX + Duration::from_secs(400)).unwrap();
    assert_eq!(n.counters().accepted, 1);
    assert_eq!(n.counters().drops_of("too_old"), 0);
}

/// A hook that answers every sync request with one verdict.
struct Verdict(Acceptance);
impl crate::node::Hooks for Verdict {
    fn accept_message(
        &mut self,
        _: &RawMessage,
        _: &Payload,
        _: u64,
    ) -> Result<Acceptance, crate::node::HookError> {
        Ok(self.0)
    }
}

/// A hook's rejection is held against the connection, as a message that
/// fails verification is; an ignored message is not the sender's fault.
#[test]
fn a_hook_rejection_counts_against_the_connection_and_an_ignore_does_not() {
    for (verdict, closed) in [
        (Acceptance::Reject("not wanted"), true),
        (Acceptance::Ignore, false),
    ] {
        let (mut n, mut s, now) = (
            node().with_hooks(Verdict(verdict)),
            Session::new(SessionConfig::default()),
            Instant::now(),
        );
        s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
        for _ in 0..DEFAULT_MAX_INVALID {
            s.receive(
                ConnId(1),
                message(&ident(3), n.address()),
                &mut n,
                now,
                UNIX,
            )
            .unwrap();
        }
        n.run_until_idle(UNIX).unwrap();
        let events: Vec<Event> = n.drain_events().collect();
        let reason = match verdict {
            Acceptance::Reject(why) => DropReason::Refused(why),
            _ => DropReason::Ignored,
        };
        let dropped = events
            .iter()
            .filter(|e| matches!(e, Event::Dropped { reason: r, .. } if *r == reason))
            .count();
        assert_eq!(dropped as u32, DEFAULT_MAX_INVALID, "{verdict:?}");
        assert_eq!(
            n.counters().drops_of(reason.name()),
            u64::from(DEFAULT_MAX_INVALID)
        );
        events.iter().for_each(|e| {
            s.note(e);
        });
        let expect = if closed {
            vec![(ConnId(1), CloseReason::Invalid)]
        } else {
            vec![]
        };
        assert_eq!(closes(&mut s), expect, "{verdict:?}");
    }
}

#[test]
fn a_forgotten_dialed_peer_leaves_the_node_and_is_gone_when_its_connection_closes() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let bob = ident(3).address();
    n.add_neighbour(bob, 0).unwrap();
    s.expect(bob);
    let dialed = Opening::Dialed {
        peer: bob,
        difficulty: 0,
    };
    s.opened(ConnId(1), dialed, &mut n, now, UNIX).unwrap();
    assert_eq!(identified(&mut s), vec![(ConnId(1), bob)]);
    s.forget(&bob, &mut n);
    assert!(n.connection(&bob).is_none(), "still the node's neighbour");
    s.closed(ConnId(1), &mut n);
    assert!(s.route_to(&bob).is_none());
    assert!(!s.peers().contains_key(&bob));
    // Forgetting a peer that is not dialed changes nothing.
    let carol = ident(4).address();
    n.add_neighbour(carol, 0).unwrap();
    s.forget(&carol, &mut n);
    assert!(n.connection(&carol).is_some());
}

#[test]
fn a_forgotten_dialed_peer_connected_to_a_listener_stays_as_a_learned_one() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let bob = ident(3);
    n.add_neighbour(bob.address(), 0).unwrap();
    s.expect(bob.address());
    s.opened(ConnId(1), accepted(), &mut n, now, UNIX).unwrap();
    s.receive(ConnId(1), message(&bob, n.address()), &mut n, now, UNIX)
        .unwrap();
    assert_eq!(identified(&mut s), vec![(ConnId(1), bob.address())]);
    assert!(!s.is_learned(&bob.address()));
    s.forget(&bob.address(), &mut n);
    assert!(s.is_learned(&bob.address()));
    assert!(n.connection(&bob.address()).is_some_and(|c| c.is_learned()));
    assert_eq!(s.route_to(&bob.address()), Some(ConnId(1)));
}

#[test]
fn a_lower_connection_bound_from_now_on_evicts_the_oldest_unbound() {
    let (mut n, mut s, t0) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let at = |ms| t0 + Duration::from_millis(ms);
    for id in 1..=3 {
        s.opened(ConnId(id), accepted(), &mut n, at(id), UNIX)
            .unwrap();
    }
    assert_eq!(closes(&mut s), vec![]);
    let lower = SessionConfig {
        max_connections: 1,
        idle_timeout: Some(Duration::from_secs(5)),
        ..SessionConfig::default()
    };
    s.reconfigure(lower);
    assert_eq!(
        closes(&mut s),
        vec![
            (ConnId(1), CloseReason::Evicted),
            (ConnId(2), CloseReason::Evicted)
        ]
    );
    assert_eq!(s.config().idle_timeout, Some(Duration::from_secs(5)));
}

// ---- Local links: stdout, files, stdin ----

/// Opens connection `id` as `how` says.
fn open(s: &mut Session, n: &mut Node, id: u64, how: Opening, now: Instant) {
    s.opened(ConnId(id), how, n, now, UNIX).unwrap();
}

fn output(carries: Carries, holds: bool) -> Opening {
    Opening::Output { carries, holds }
}

/// The connections the session queued frames on, in order.
fn sends(s: &mut Session) -> Vec<ConnId> {
    s.drain_events()
        .filter_map(|e| match e {
            SessionEvent::Send { conn, .. } => Some(conn),
            _ => None,
        })
        .collect()
}

#[test]
fn a_local_input_takes_any_signers_messages_and_names_nobody() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let (alice, bob) = (ident(2), ident(3));
    open(&mut s, &mut n, 1, Opening::Input, now);
    for from in [&alice, &bob] {
        s.receive(ConnId(1), message(from, n.address()), &mut n, now, UNIX)
            .unwrap();
    }
    // Nobody is identified or learned: anyone can write to stdin.
    assert_eq!(identified(&mut s), vec![]);
    assert_eq!(s.peer_on(ConnId(1)), None);
    assert!(n.connection(&alice.address()).is_none());
    n.run_until_idle(UNIX).unwrap();
    assert_eq!(n.counters().accepted, 2, "both verified by the engine");
    // Their answers take the local way: Elsewhere without an output that
    // carries it, queued on it once there is one.
    let answer = outbound(alice.address(), 10);
    assert_eq!(s.send(&answer, &n), Sent::Elsewhere);
    open(&mut s, &mut n, 2, output(Carries::Elsewhere, true), now);
    assert_eq!(s.send(&answer, &n), Sent::Queued);
    assert_eq!(sends(&mut s), vec![ConnId(2)]);
}

#[test]
fn a_local_link_is_never_closed_for_what_it_sends_nor_timed_out() {
    let config = SessionConfig {
        max_invalid: 2,
        ..SessionConfig::default()
    };
    let (mut n, mut s, now) = (node(), Session::new(config), Instant::now());
    open(&mut s, &mut n, 1, Opening::Input, now);
    open(&mut s, &mut n, 2, output(Carries::All, true), now);
    for _ in 0..10 {
        s.receive_bytes(ConnId(1), b"junk", &mut n, now, UNIX)
            .unwrap();
    }
    // A forged src (a real signature over another key) is dropped by the
    // engine, blaming no connection of the session's.
    let mut forged = message(&ident(2), n.address());
    forged.src = ident(3).address();
    for _ in 0..10 {
        s.receive(ConnId(1), forged.clone(), &mut n, now, UNIX)
            .unwrap();
    }
    n.run_until_idle(UNIX).unwrap();
    for e in n.drain_events().collect::<Vec<_>>() {
        s.note(&e);
    }
    assert_eq!(s.poll_timeout(), None, "no timer for a local link");
    s.handle_timeout(now + Duration::from_secs(86_400));
    assert_eq!(closes(&mut s), vec![]);
    assert_eq!(s.connections(), 2);
}

#[test]
fn local_outputs_carry_what_they_say() {
    let (mut n, mut s, now) = (
        node(),
        Session::new(SessionConfig::default()),
        Instant::now(),
    );
    let (file_peer, configured, stranger) = (ident(2), ident(3), ident(4));
    n.add_neighbour(file_peer.address(), 0).unwrap();
    n.add_neighbour(configured.address(), 0).unwrap();
    let peer = Carries::Peer(file_peer.address());
    open(&mut s, &mut n, 1, output(peer, false), now);
    open(&mut s, &mut n, 2, output(Carries::Nothing, false), now);
    let to = |p: &Identity| outbound(p.address(), 10);
    // One peer's output takes its messages; nothing else carries the
    // others yet.
    assert_eq!(s.send(&to(&file_peer), &n), Sent::Queued);
    assert_eq!(s.send(&to(&configured), &n), Sent::Elsewhere);
    assert_eq!(s.send(&to(&stranger), &n), Sent::Unreachable);
    assert_eq!(sends(&mut s), vec![ConnId(1)]);
    // An output that carries Elsewhere takes the configured neighbour's,
    // not a stranger's; one that carries All takes both.
    open(&mut s, &mut n, 3, output(Carries::Elsewhere, true), now);
    assert_eq!(s.send(&to(&configured), &n), Sent::Queued);
    assert_eq!(s.send(&to(&stranger), &n), Sent::Unreachable);
    assert_eq!(sends(&mut s), vec![ConnId(3)]);
    s.closed(ConnId(3), &mut n);
    open(&mut s, &mut n, 4, output(Carries::All, true), now);
    assert_eq!(s.send(&to(&stranger), &n), Sent::Queued);
    assert_eq!(s.send(&to(&configured), &n), Sent::Queued);
    assert_eq!(sends(&mut s), vec![ConnId(4), ConnId(4)]);
    // A connection bound to the peer comes first.
    open(
        &mut s,
        &mut n,
        5,
        Opening::Dialed {
            peer: file_peer.address(),
            difficulty: 0,
        },
        now,
    );
    s.drain_events().for_each(drop);
    assert_eq!(s.send(&to(&file_peer), &n), Sent::Queued);
    assert_eq!(sends(&mut s), vec![ConnId(5)]);
    // A closed output carries nothing.
    s.closed(ConnId(5), &mut n);
    s.closed(ConnId(1), &mut n);
    s.drain_events().for_each(drop);
    assert_eq!(s.output_for(&file_peer.address(), &n), Some(ConnId(4)));
    s.closed(ConnId(4), &mut n);
    assert_eq!(s.send(&to(&file_peer), &n), Sent::Elsewhere);
    assert_eq!(s.output_for(&file_peer.address(), &n), None);
}

#[test]
fn an_output_that_holds_never_drops_and_one_that_does_not_keeps_its_send_queue() {
    let config = SessionConfig {
        send_queue: 1_000,
        send_total: 1_000,
        ..SessionConfig::default()
    };
    let (mut n, mut s, now) = (node(), Session::new(config), Instant::now());
    let (a, b) = (ident(2), ident(3));
    n.add_neighbour(a.address(), 0).unwrap();
    n.add_neighbour(b.address(), 0).unwrap();
    open(&mut s, &mut n, 1, output(Carries::Elsewhere, true), now);
    open(
        &mut s,
        &mut n,
        2,
        output(Carries::Peer(b.address()), false),
        now,
    );
    // Stdout takes far past the bound: the driver holds its input back.
    for _ in 0..20 {
        assert_eq!(s.send(&outbound(a.address(), 400), &n), Sent::Queued);
    }
    assert!(s.queued_bytes(ConnId(1)) > 10_000);
    // A file takes one message into its empty queue, then drops (counted
    // by the driver, no bulletin owed to it), until some is written.
    assert_eq!(s.send(&outbound(b.address(), 1_200), &n), Sent::Queued);
    let first = s.queued_bytes(ConnId(2));
    assert!(
        first > 1_000,
        "one frame past the bound, into an empty queue"
    );
    assert_eq!(s.send(&outbound(b.address(), 10), &n), Sent::Dropped);
    assert!(!s.owes());
    s.drained(ConnId(2), first);
    assert_eq!(s.send(&outbound(b.address(), 400), &n), Sent::Queued);
    assert_eq!(s.send(&outbound(b.address(), 400), &n), Sent::Dropped);
    // The driver's own payloads share the queue.
    assert!(s.queue_local(ConnId(1), 1 << 20));
    assert!(!s.queue_local(ConnId(2), 1 << 20));
    // Neither counts against the bound on all queues, nor gives its peer
    // send credit: a remote connection still gets its whole queue.
    assert_eq!(s.queued_total(), 0);
    let remote = ident(5);
    let dialed = Opening::Dialed {
        peer: remote.address(),
        difficulty: 0,
    };
    open(&mut s, &mut n, 3, dialed, now);
    assert_eq!(s.send(&outbound(remote.address(), 400), &n), Sent::Queued);
}

#[test]
fn local_links_do_not_count_against_max_connections() {
    let config = SessionConfig {
        max_connections: 1,
        ..SessionConfig::default()
    };
    let (mut n, mut s, now) = (node(), Session::new(config), Instant::now());
    open(&mut s, &mut n, 1, Opening::Input, now);
    open(&mut s, &mut n, 2, output(Carries::All, true), now);
    open(&mut s, &mut n, 3, output(Carries::Nothing, false), now);
    open(&mut s, &mut n, 4, accepted(), now);
    assert_eq!(closes(&mut s), vec![]);
    open(&mut s, &mut n, 5, accepted(), now);
    assert_eq!(closes(&mut s), vec![(ConnId(4), CloseReason::Evicted)]);
}
