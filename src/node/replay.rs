//! The message replay set: signatures of the messages a node accepted,
//! each kept until the message goes stale (ts + message TTL), bounded in
//! entries. A message whose signature is in it is a replay, answered or
//! acted on once only, whatever its operation. ts and nonce are outside the
//! signature, so a re-stamped copy is the same signature: it is caught too,
//! and it keeps the entry alive until its own ts goes stale.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use crate::message::{MESSAGE_TTL, RawMessage};

/// Default number of message signatures the replay set holds.
pub const DEFAULT_REPLAY_CAPACITY: usize = 262_144;

/// A signature's key in the set: SHA-256 of the 64 signature bytes.
type SigKey = [u8; 32];

/// Accepted messages' signatures, by expiry. When full, the signature that
/// goes stale soonest makes room.
#[derive(Clone, Debug)]
pub(crate) struct ReplaySet {
    until: HashMap<SigKey, u64>,
    by_expiry: BTreeSet<(u64, SigKey)>,
    capacity: usize,
}

impl ReplaySet {
    /// An empty set holding at most `capacity` signatures (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            until: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records an accepted message; false when it was already there (a
    /// replay within the message TTL).
    pub fn first_time(&mut self, message: &RawMessage, now: u64) -> bool {
        self.forget_stale(now);
        let key: SigKey = Sha256::digest(message.sig).into();
        // Stale once now > ts + TTL, as verification has it.
        let expires = u64::from(message.ts) + u64::from(MESSAGE_TTL) + 1;
        if let Some(old) = self.until.get_mut(&key) {
            if *old < expires {
                self.by_expiry.remove(&(*old, key));
                self.by_expiry.insert((expires, key));
                *old = expires;
            }
            return false;
        }
        if self.until.len() >= self.capacity
            && let Some(gone) = self.by_expiry.pop_first()
        {
            self.until.remove(&gone.1);
        }
        self.until.insert(key, expires);
        self.by_expiry.insert((expires, key));
        true
    }

    /// Whether `message`'s signature is held and not stale at `now`.
    pub fn contains(&self, message: &RawMessage, now: u64) -> bool {
        let key: SigKey = Sha256::digest(message.sig).into();
        self.until.get(&key).is_some_and(|&expires| expires > now)
    }

    /// Forgets every signature stale at `now`.
    fn forget_stale(&mut self, now: u64) {
        while let Some(&(expires, key)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.by_expiry.pop_first();
            self.until.remove(&key);
        }
    }

    /// How many signatures are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Address;

    fn msg(ts: u32, sig: u8) -> RawMessage {
        let mut m = RawMessage {
            src: Address([1; 32]),
            dst: Address([2; 32]),
            ts,
            nonce: 0,
            sig: [0; 64],
            body: vec![],
        };
        m.sig = [sig; 64];
        m
    }

    #[test]
    fn a_replay_within_the_ttl_is_caught_and_the_set_stays_bounded() {
        let mut r = ReplaySet::new(2);
        assert!(r.first_time(&msg(100, 1), 100));
        assert!(!r.first_time(&msg(100, 1), 400), "replayed at ts + TTL");
        assert!(
            r.first_time(&msg(100, 1), 401),
            "stale: verification drops it"
        );
        assert!(r.first_time(&msg(200, 2), 200));
        assert!(r.first_time(&msg(300, 3), 300));
        assert_eq!(r.len(), 2, "bounded");
        assert!(!r.first_time(&msg(300, 3), 300));
    }
}
