//! Verification: every check the protocol makes on a message or bulletin,
//! run cheapest first, each outcome recorded so a relay can count reasons
//! and `verify` can print them.

use std::fmt;
use std::time::Duration;

use crate::bulletin::Bulletin;
use rayon::prelude::*;

use crate::crypto::{self, Identity, PeerKey};
use crate::keys::Address;
use crate::message::RawMessage;
use crate::operation::Payload;
use crate::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use crate::time::Timestamp;

/// Seconds a timestamp may lie ahead of `now` before it is "from the future".
pub const DEFAULT_SKEW: Duration = Duration::from_secs(60);

/// A check, named after the reason it fails with. Order is check order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The message is for another address.
    WrongDestination,
    /// The message is older than the message TTL (now > ts + 300).
    TooOld,
    /// The message's ts is beyond now + skew.
    FromFuture,
    /// The message's proof of work is below the required difficulty.
    WeakProofOfWork,
    /// The signature is all zeros.
    Unsigned,
    /// The signature does not verify (or src is not a valid key).
    BadSignature,
    /// The body is not a sealed box for the receiver.
    Undecryptable,
    /// The decrypted body is not an operation byte with a valid payload.
    BadPayload,
    /// The bulletin has expired (now ≥ ts + 3600).
    Expired,
    /// The bulletin's ts is beyond now + skew.
    BulletinFromFuture,
    /// The bulletin's content id is not SHA-256 of its content.
    ContentIdMismatch,
    /// The bulletin's proof of work is below the required difficulty.
    WeakBulletinProofOfWork,
}

impl Reason {
    /// Every reason, in check order.
    pub const ALL: [Reason; 12] = [
        Reason::WrongDestination,
        Reason::TooOld,
        Reason::FromFuture,
        Reason::WeakProofOfWork,
        Reason::Unsigned,
        Reason::BadSignature,
        Reason::Undecryptable,
        Reason::BadPayload,
        Reason::Expired,
        Reason::BulletinFromFuture,
        Reason::ContentIdMismatch,
        Reason::WeakBulletinProofOfWork,
    ];

    /// The stable snake_case name used in counters and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Reason::WrongDestination => "wrong_destination",
            Reason::TooOld => "too_old",
            Reason::FromFuture => "from_future",
            Reason::WeakProofOfWork => "weak_proof_of_work",
            Reason::Unsigned => "unsigned",
            Reason::BadSignature => "bad_signature",
            Reason::Undecryptable => "undecryptable",
            Reason::BadPayload => "bad_payload",
            Reason::Expired => "expired",
            Reason::BulletinFromFuture => "bulletin_from_future",
            Reason::ContentIdMismatch => "content_id_mismatch",
            Reason::WeakBulletinProofOfWork => "weak_bulletin_proof_of_work",
        }
    }

    /// The check's name (what passing it means), for human output.
    pub fn check_name(self) -> &'static str {
        match self {
            Reason::WrongDestination => "destination",
            Reason::TooOld => "age",
            Reason::FromFuture | Reason::BulletinFromFuture => "clock skew",
            Reason::WeakProofOfWork | Reason::WeakBulletinProofOfWork => "proof of work",
            Reason::Unsigned => "signed",
            Reason::BadSignature => "signature",
            Reason::Undecryptable => "decryption",
            Reason::BadPayload => "payload",
            Reason::Expired => "expiry",
            Reason::ContentIdMismatch => "content id",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The check passed.
    Passed,
    /// The check failed: the object is rejected for this reason.
    Failed,
    /// The check could not run (no key given, or an earlier step failed).
    Skipped,
}

/// What verification requires; time is explicit.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The time checks run at.
    pub now: Timestamp,
    /// Allowed clock skew into the future.
    pub skew: Duration,
    /// Required message proof of work, leading zero bits.
    pub message_difficulty: u32,
    /// Required bulletin proof of work, leading zero bits.
    pub bulletin_difficulty: u32,
    /// Stop at the first failure (a relay) instead of running every check.
    pub stop_at_first: bool,
}

impl Policy {
    /// The original's defaults at time `now`, running every check.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            skew: DEFAULT_SKEW,
            message_difficulty: DEFAULT_MESSAGE_DIFFICULTY,
            bulletin_difficulty: DEFAULT_BULLETIN_DIFFICULTY,
            stop_at_first: false,
        }
    }
}

/// Every check's outcome, and the payload when the body was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// (check, outcome) in check order.
    pub checks: Vec<(Reason, Status)>,
    /// The decrypted, decoded body, when a key was given and it opened.
    pub payload: Option<Payload>,
}

impl Verdict {
    /// True when no check failed.
    pub fn is_valid(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The reasons the object is rejected, in check order.
    pub fn failures(&self) -> impl Iterator<Item = Reason> + '_ {
        self.checks
            .iter()
            .filter(|(_, s)| *s == Status::Failed)
            .map(|(r, _)| *r)
    }

    /// The first reason the object is rejected, if any.
    pub fn first_failure(&self) -> Option<Reason> {
        self.failures().next()
    }

    /// Records a check; returns false when verification should stop here.
    fn record(&mut self, reason: Reason, passed: bool, policy: &Policy) -> bool {
        self.checks.push((
            reason,
            if passed {
                Status::Passed
            } else {
                Status::Failed
            },
        ));
        passed || !policy.stop_at_first
    }

    fn skip(&mut self, reasons: &[Reason]) {
        self.checks
            .extend(reasons.iter().map(|r| (*r, Status::Skipped)));
    }
}

/// Verifies a bulletin on its own: time, content id, proof of work.
pub fn verify_bulletin(b: &Bulletin, policy: &Policy) -> Verdict {
    let mut v = Verdict::default();
    check_bulletin(&mut v, b, policy);
    v
}

fn check_bulletin(v: &mut Verdict, b: &Bulletin, policy: &Policy) {
    let _ = v.record(Reason::Expired, !b.is_expired(policy.now), policy)
        && v.record(Reason::BulletinFromFuture, !is_future(b.ts, policy), policy)
        && v.record(Reason::ContentIdMismatch, b.content_id_matches(), policy)
        && v.record(
            Reason::WeakBulletinProofOfWork,
            b.work().meets(policy.bulletin_difficulty),
            policy,
        );
}

fn is_future(ts: u32, policy: &Policy) -> bool {
    Timestamp::from_wire(ts) > policy.now + policy.skew
}

/// Verifies a message: header checks always, and with the receiver's
/// `identity` decryption and the carried bulletin too. `src_key` may hold a
/// cached decoding of `msg.src`.
pub fn verify_message(
    msg: &RawMessage,
    identity: Option<&Identity>,
    src_key: Option<&PeerKey>,
    policy: &Policy,
) -> Verdict {
    let mut v = Verdict::default();
    let go = check_header(&mut v, msg, identity, policy) && {
        let signed = !msg.is_unsigned() && signature_ok(msg, src_key);
        v.record(Reason::BadSignature, signed, policy)
    };
    check_body(&mut v, msg, identity, go, policy);
    v
}

/// Verifies many messages on all cores, with Ed25519 batch verification of
/// their signatures; gives the same verdicts as [`verify_message`] on each.
pub fn verify_messages(
    items: &[(&RawMessage, Policy)],
    identity: Option<&Identity>,
) -> Vec<Verdict> {
    let mut staged: Vec<(Verdict, bool)> = items
        .par_iter()
        .map(|(msg, policy)| {
            let mut v = Verdict::default();
            let go = check_header(&mut v, msg, identity, policy);
            (v, go)
        })
        .collect();
    let to_check: Vec<usize> = (0..items.len()).filter(|&i| staged[i].1).collect();
    let signed: Vec<Vec<u8>> = to_check
        .par_iter()
        .map(|&i| items[i].0.signed_bytes())
        .collect();
    let batch: Vec<(Address, &[u8], [u8; 64])> = to_check
        .iter()
        .zip(&signed)
        .map(|(&i, bytes)| (items[i].0.src, bytes.as_slice(), items[i].0.sig))
        .collect();
    let all_good = batch.iter().all(|(_, _, sig)| sig.iter().any(|&b| b != 0))
        && batch.par_chunks(64).all(crypto::verify_batch);
    let outcomes: Vec<bool> = if all_good {
        vec![true; to_check.len()]
    } else {
        to_check
            .par_iter()
            .map(|&i| !items[i].0.is_unsigned() && signature_ok(items[i].0, None))
            .collect()
    };
    for (&i, ok) in to_check.iter().zip(outcomes) {
        let (v, go) = &mut staged[i];
        *go = v.record(Reason::BadSignature, ok, &items[i].1);
    }
    staged
        .into_par_iter()
        .zip(items.par_iter())
        .map(|((mut v, go), (msg, policy))| {
            check_body(&mut v, msg, identity, go, policy);
            v
        })
        .collect()
}

/// The header checks, through `unsigned`; false when verification stops.
fn check_header(
    v: &mut Verdict,
    msg: &RawMessage,
    identity: Option<&Identity>,
    policy: &Policy,
) -> bool {
    (match identity {
        Some(id) => v.record(Reason::WrongDestination, msg.dst == id.address(), policy),
        None => {
            v.skip(&[Reason::WrongDestination]);
            true
        }
    }) && v.record(Reason::TooOld, !msg.is_stale(policy.now), policy)
        && v.record(Reason::FromFuture, !is_future(msg.ts, policy), policy)
        && v.record(
            Reason::WeakProofOfWork,
            msg.work().meets(policy.message_difficulty),
            policy,
        )
        && v.record(Reason::Unsigned, !msg.is_unsigned(), policy)
}

/// Decryption and the payload checks, when a key is given, verification
/// goes on (`go`) and the message is for this key.
fn check_body(
    v: &mut Verdict,
    msg: &RawMessage,
    identity: Option<&Identity>,
    go: bool,
    policy: &Policy,
) {
    let wrong_dst = v.first_failure() == Some(Reason::WrongDestination);
    match identity {
        Some(id) if go && !wrong_dst => match id.open(&msg.body) {
            Ok(plain) => {
                v.record(Reason::Undecryptable, true, policy);
                check_payload(v, &plain, policy);
            }
            Err(_) => {
                v.record(Reason::Undecryptable, false, policy);
                v.skip(&[Reason::BadPayload]);
            }
        },
        _ => v.skip(&[Reason::Undecryptable, Reason::BadPayload]),
    }
}

/// Verifies a message whose body is not encrypted (`--plaintext`).
pub fn verify_plain_message(
    msg: &RawMessage,
    src_key: Option<&PeerKey>,
    policy: &Policy,
) -> Verdict {
    let mut v = verify_message(msg, None, src_key, policy);
    if v.is_valid() || !policy.stop_at_first {
        v.checks
            .retain(|(r, _)| *r != Reason::Undecryptable && *r != Reason::BadPayload);
        check_payload(&mut v, &msg.body, policy);
    }
    v
}

fn check_payload(v: &mut Verdict, plain: &[u8], policy: &Policy) {
    match Payload::decode(plain) {
        Ok(payload) => {
            v.record(Reason::BadPayload, true, policy);
            if let Payload::Bulletin(_, b) = &payload {
                check_bulletin(v, b, policy);
            }
            v.payload = Some(payload);
        }
        Err(_) => {
            v.record(Reason::BadPayload, false, policy);
        }
    }
}

fn signature_ok(msg: &RawMessage, src_key: Option<&PeerKey>) -> bool {
    let signed = msg.signed_bytes();
    match src_key {
        Some(k) => k.verify(&signed, &msg.sig),
        None => PeerKey::new(&msg.src).is_ok_and(|k| k.verify(&signed, &msg.sig)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TopicId;

    #[test]
    fn batch_verdicts_equal_single_verdicts() {
        use crate::crypto::Cipher;
        use crate::keys::Seed;
        let alice = Identity::from_seed(&Seed::from_bytes([1; 32]));
        let bob = Identity::from_seed(&Seed::from_bytes([2; 32]));
        let bob_key = PeerKey::new(&bob.address()).unwrap();
        let mut b = Bulletin::new(TopicId::from_bytes([0; 32]), b"x".to_vec(), 1000);
        b.nonce = (0..)
            .find(|&n| {
                b.nonce = n;
                b.work().meets(7)
            })
            .unwrap();
        let body = Payload::Bulletin(crate::operation::Op::StoreAndForward, b).encode();
        let make = |i: u8| {
            let mut m = RawMessage {
                src: alice.address(),
                dst: bob.address(),
                ts: 1000,
                nonce: 0,
                sig: [0; 64],
                body: bob_key.seal(&body, Cipher::default()).unwrap(),
            };
            m.sig = alice.sign(&m.signed_bytes());
            match i % 4 {
                1 => m.sig[5] ^= 1,
                2 => m.sig = [0; 64],
                3 => m.ts = 1,
                _ => {}
            }
            m.nonce = (0..)
                .find(|&n| {
                    m.nonce = n;
                    m.work().meets(1)
                })
                .unwrap();
            m
        };
        let msgs: Vec<RawMessage> = (0..12).map(make).collect();
        for stop_at_first in [true, false] {
            let policy = Policy {
                stop_at_first,
                ..Policy::new(Timestamp::from_secs(1010))
            };
            let items: Vec<(&RawMessage, Policy)> = msgs.iter().map(|m| (m, policy)).collect();
            let batch = verify_messages(&items, Some(&bob));
            for (m, v) in msgs.iter().zip(&batch) {
                let single = verify_message(m, Some(&bob), None, &policy);
                assert_eq!(v.checks, single.checks);
                assert_eq!(v.payload, single.payload);
            }
            assert!(batch[0].is_valid());
            assert_eq!(batch[1].first_failure(), Some(Reason::BadSignature));
            assert_eq!(batch[2].first_failure(), Some(Reason::Unsigned));
            assert_eq!(batch[3].first_failure(), Some(Reason::TooOld));
        }
        let all_valid: Vec<(&RawMessage, Policy)> = msgs
            .iter()
            .step_by(4)
            .map(|m| (m, Policy::new(Timestamp::from_secs(1010))))
            .collect();
        assert!(
            verify_messages(&all_valid, Some(&bob))
                .iter()
                .all(Verdict::is_valid)
        );
    }

    #[test]
    fn reasons_have_unique_names() {
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }

    #[test]
    fn stale_future_and_bad_content_id_bulletin() {
        let mut b = Bulletin::new(TopicId::from_bytes([0; 32]), b"x".to_vec(), 1000);
        let mut raw = b.content_id.to_bytes();
        raw[0] ^= 1;
        b.content_id = raw.into();
        let v = verify_bulletin(&b, &Policy::new(Timestamp::from_secs(1000 + 3600)));
        let failures: Vec<_> = v.failures().collect();
        assert!(failures.contains(&Reason::Expired));
        assert!(failures.contains(&Reason::ContentIdMismatch));
        let v = verify_bulletin(&b, &Policy::new(Timestamp::from_secs(1000 - 61)));
        assert!(v.failures().any(|r| r == Reason::BulletinFromFuture));
    }
}
