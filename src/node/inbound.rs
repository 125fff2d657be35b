//! Inbound: a received message verified (one at a time, or waiting ones as
//! a batch on all cores), checked for replays, shown to the hooks, and its
//! payload routed to the component it belongs to: bulletins to the action
//! queue, sync operations to the sync component, announce / graft / prune
//! to the dissemination component, notices to the delivery code's.

use super::engine::Node;
use super::extensions;
use super::queues::Inbound;
use super::sync::{Held, ROLE_REQUESTER, SyncAlgorithm};
use super::{Action, DropReason, Hooks, NodeError, Notice};
use crate::keys::Address;
use crate::message::RawMessage;
use crate::operation::{Op, Payload};
use crate::verify::{self, Policy, Verdict};

/// A received message with the verdict the node gave it
/// ([`Node::verify_received`]), at the difficulty of the connection it came
/// on. [`Node::receive_verified`] takes it without verifying it again, so a
/// message a driver had to judge (to learn who is on a connection) costs
/// one verification, not two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub(super) message: RawMessage,
    pub(super) verdict: Verdict,
}

impl Verified {
    /// The message.
    pub fn message(&self) -> &RawMessage {
        &self.message
    }

    /// The verdict it got.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Its signer, when it passed every check: the only src a driver may
    /// take as the peer on the connection it came on.
    pub fn valid_src(&self) -> Option<Address> {
        self.verdict.is_valid().then_some(self.message.src)
    }
}

impl<H: Hooks> Node<H> {
    /// Verifies every waiting received message not verified yet, as one
    /// batch on all cores.
    pub(super) fn verify_inbound(&mut self, now: u64) {
        let (indexes, items): (Vec<usize>, Vec<(&RawMessage, Policy)>) = self
            .queues
            .unverified()
            .map(|(i, item)| (i, (&item.message, self.inbound_policy(item, now))))
            .unzip();
        if items.is_empty() {
            return;
        }
        let verdicts = verify::verify_messages(&items, Some(&self.identity));
        for (i, v) in indexes.into_iter().zip(verdicts) {
            self.queues.set_verdict(i, v);
        }
    }

    /// The policy a received message is verified under at `now`: the
    /// message difficulty of the connection it came on, as it was when the
    /// message came.
    pub(super) fn inbound_policy(&self, item: &Inbound, now: u64) -> Policy {
        let peer = item.from.as_ref().unwrap_or(&item.message.src);
        let difficulty = item
            .difficulty
            .unwrap_or_else(|| self.required_difficulty(peer));
        self.policy(now, difficulty)
    }

    /// A received message: verify it (unless verified in a batch
    /// already), count a drop by its reason, let the hooks see it, then
    /// turn the payload into an action. Routing operations are counted as
    /// unsupported; ragged sync answers and forged notices as malformed.
    pub(super) fn handle_inbound(&mut self, item: Inbound, now: u64) -> Result<(), NodeError> {
        self.counters.received += 1;
        let verdict = match item.verdict {
            Some(v) => v,
            None => {
                let policy = self.inbound_policy(&item, now);
                let key = self.connections.get(&item.message.src).map(|c| c.key());
                verify::verify_message(&item.message, Some(&self.identity), key, &policy)
            }
        };
        let Inbound { from, message, .. } = item;
        if let Some(reason) = verdict.first_failure() {
            self.dropped(from, DropReason::Invalid(reason));
            return Ok(());
        }
        let Some(payload) = verdict.payload else {
            self.dropped(from, DropReason::Malformed);
            return Ok(());
        };
        self.counters.accepted += 1;
        if !self.replay.first_time(&message, now) {
            self.dropped(from, DropReason::Duplicate);
            return Ok(());
        }
        let verdict = self.hooks.accept_message(&message, &payload, now);
        if !self.accepted(verdict, from)? {
            return Ok(());
        }
        let src = message.src;
        match payload {
            Payload::Bulletin(Op::DeliverWithoutForward, bulletin) => {
                match Notice::parse(&bulletin) {
                    Some(notice) => self.take_notice(src, notice, &bulletin, now)?,
                    None => self.queue_action(Action::DeliverWithoutForward { bulletin, from }),
                }
            }
            Payload::Bulletin(op, bulletin) => {
                if op == Op::StoreAndForward
                    && let Some(peer) = from
                    && self.seen.contains(&bulletin.key(), now)
                {
                    // Pushed again: the link is not needed for pushes.
                    let mut out = Vec::new();
                    self.dissemination
                        .duplicate(peer, bulletin.key(), now, &mut out);
                    self.route_dissemination(None, out, now)?;
                }
                if op == Op::RespondContent {
                    let held = Held {
                        store: self.store.as_ref(),
                        seen: &self.seen,
                    };
                    let out = self
                        .sync
                        .content_came(src, bulletin.content_id, &held, now)?;
                    self.route_sync(from, out, now);
                }
                self.queue_action(Action::StoreAndForward { bulletin, from })
            }
            Payload::Sync(Op::RequestSyncHeaders, topic, rest) => {
                if extensions::advertises(&rest, extensions::RECONCILE_V1) {
                    self.sync.advertised(src, topic, now);
                }
                if self.connections.contains_key(&src) && extensions::is_advert(&rest) {
                    let speaks = extensions::advertises(&rest, extensions::PLUMTREE_V1);
                    self.dissemination.advertised(src, speaks);
                }
                self.queue_action(Action::RespondSyncHeaders { peer: src, topic })
            }
            Payload::Sync(Op::Reconcile, topic, body) => {
                if body.first() == Some(&ROLE_REQUESTER) && !self.may_work_for(&src, now) {
                    // A stranger past its answer budget: no list is built.
                    self.dropped(from, DropReason::OverCap);
                    return Ok(());
                }
                let held = Held {
                    store: self.store.as_ref(),
                    seen: &self.seen,
                };
                let out = self.sync.take_reconcile(src, topic, &body, &held, now)?;
                self.route_sync(from, out, now);
            }
            Payload::Sync(_, topic, ids) => {
                let out = self.sync.take_answer(src, topic, &ids, now);
                self.route_sync(from, out, now);
            }
            Payload::RequestContent(pc) => self.queue_action(Action::RespondContent {
                peer: src,
                content_id: pc.id,
            }),
            Payload::Routing(..) => self.dropped(from, DropReason::Unsupported),
            Payload::Tree(op, body) => {
                let held = Held {
                    store: self.store.as_ref(),
                    seen: &self.seen,
                };
                let neighbour = self.connections.contains_key(&src);
                let out = self
                    .dissemination
                    .take(src, neighbour, op, &body, &held, now)?;
                self.route_dissemination(from, out, now)?;
            }
        }
        Ok(())
    }
}
