//! Delivery codes: this node's own (rotated, announced to neighbours with a
//! notice) and its peers' (taken from their notices, recorded in the store,
//! bounded for strangers). The notice's format is in [`super::Notice`].

use rand::Rng;

use super::engine::Node;
use super::{Action, DropReason, Hooks, NodeError, Notice};
use crate::bulletin::Bulletin;
use crate::ids::{DELIVERY_CODE_LEN, TopicId, inbox_topic};
use crate::keys::Address;
use crate::operation::{Op, Payload};
use crate::pow::{self, Difficulty};
use crate::store::{DeliveryCode, StoreError, seen_until};
use crate::time::Timestamp;

impl<H: Hooks> Node<H> {
    /// Makes a new delivery code, writes it to the store (set at `now`),
    /// moves the inbox subscription to it and queues the notice to
    /// neighbours. Returns the new code.
    pub fn rotate_delivery_code(
        &mut self,
        now: Timestamp,
    ) -> Result<[u8; DELIVERY_CODE_LEN], StoreError> {
        let old_code = self.delivery_code;
        let mut new_code: [u8; DELIVERY_CODE_LEN] = self.rng.r#gen();
        while new_code == old_code {
            new_code = self.rng.r#gen();
        }
        self.store.put_delivery_code(&DeliveryCode {
            address: self.address(),
            code: new_code,
            own: true,
            since: now,
        })?;
        self.set_delivery_code(new_code);
        self.delivery_code_since = Some(now);
        self.queue_action(Action::NotifyChangedDeliveryCode { old_code, new_code });
        Ok(new_code)
    }

    /// Queues the notice of the current delivery code to every neighbour,
    /// as a rotation does, without changing the code: how a relay tells its
    /// neighbours its inbox at start.
    pub fn announce_delivery_code(&mut self) {
        let code = self.delivery_code;
        self.queue_action(Action::NotifyChangedDeliveryCode {
            old_code: code,
            new_code: code,
        });
    }

    /// Sends the notice of the current delivery code to one neighbour: how
    /// a relay tells a peer its inbox each time a connection to it comes
    /// up, so a rotation made while the peer was away reaches it.
    pub fn announce_delivery_code_to(
        &mut self,
        peer: Address,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let now = now.as_secs();
        self.send_delivery_code_notice(self.delivery_code, vec![peer], now)
    }

    /// Follows the inbox of `code` instead of the current one.
    pub(super) fn set_delivery_code(&mut self, code: [u8; DELIVERY_CODE_LEN]) {
        self.topics.remove(&self.inbox_topic());
        self.delivery_code = code;
        self.topics.insert(self.inbox_topic());
    }

    /// The inbox topic `peer` last announced with a delivery-code notice.
    pub fn peer_inbox(&self, peer: &Address) -> Option<TopicId> {
        self.peer_codes
            .get(peer)
            .map(|code| inbox_topic(code, peer))
    }

    /// The delivery code `peer` last announced with a notice.
    pub fn peer_code(&self, peer: &Address) -> Option<[u8; DELIVERY_CODE_LEN]> {
        self.peer_codes.get(peer).copied()
    }

    /// How many peers' delivery codes are recorded.
    pub fn peer_codes_len(&self) -> usize {
        self.peer_codes.len()
    }

    /// Records a peer's new delivery code (its inbox topic), in the store
    /// too, learned at `now`. A neighbour's, or a peer's already recorded,
    /// always is; a stranger's only while fewer than `max_peer_inboxes`
    /// strangers are recorded, else it is counted as `over_cap`. True when
    /// recorded.
    pub(crate) fn record_peer_code(
        &mut self,
        peer: Address,
        code: [u8; DELIVERY_CODE_LEN],
        now: u64,
    ) -> Result<bool, StoreError> {
        let known = self.connections.contains_key(&peer) || self.peer_codes.contains_key(&peer);
        if !known && self.recorded_strangers() >= self.config.max_peer_inboxes {
            self.dropped(Some(peer), DropReason::OverCap);
            return Ok(false);
        }
        if self.peer_codes.get(&peer) != Some(&code) {
            self.store.put_delivery_code(&DeliveryCode {
                address: peer,
                code,
                own: false,
                since: Timestamp::from_secs(now),
            })?;
            self.peer_codes.insert(peer, code);
        }
        Ok(true)
    }

    /// How many recorded delivery codes belong to peers that are not
    /// neighbours.
    pub(super) fn recorded_strangers(&self) -> usize {
        self.peer_codes
            .keys()
            .filter(|p| !self.connections.contains_key(*p))
            .count()
    }

    /// A peer's delivery-code notice: taken only from the node it names.
    pub(super) fn take_notice(
        &mut self,
        src: Address,
        notice: Notice,
        b: &Bulletin,
        now: u64,
    ) -> Result<(), NodeError> {
        if notice.address != src {
            self.dropped(Some(src), DropReason::Malformed);
        } else if self.seen.contains(&b.key(), now) {
            self.dropped(Some(src), DropReason::Duplicate);
        } else {
            self.mark_as_seen(b.key(), seen_until(b))?;
            self.counters.notices += 1;
            self.queue_action(Action::ChangedDeliveryCode {
                peer: src,
                code: notice.code,
            });
        }
        Ok(())
    }

    /// notify_changed_delivery_code: mines a notice bulletin for the new
    /// code and sends it to `peers` as deliver_without_forward.
    pub(super) fn send_delivery_code_notice(
        &mut self,
        code: [u8; DELIVERY_CODE_LEN],
        peers: Vec<Address>,
        now: u64,
    ) -> Result<(), NodeError> {
        let mut b = Notice {
            address: self.address(),
            code,
        }
        .bulletin(pow::ts_of(now));
        b.hashcash(Difficulty::new(self.config.bulletin_difficulty))?;
        self.mark_as_seen(b.key(), seen_until(&b))?;
        let payload = Payload::Bulletin(Op::DeliverWithoutForward, b);
        for peer in peers {
            self.send(peer, &payload, Timestamp::from_secs(now))?;
        }
        Ok(())
    }
}
