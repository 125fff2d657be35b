//! What the node does with each operation: verifying and dispatching
//! inbound messages, storing, delivering and forwarding bulletins, the
//! sync exchange and the delivery-code notice. Conventions are written in
//! `docs/protocol-node.md`.

use super::{Action, Draft, Inbound, NewBulletin, Node, NodeError, Notice};
use crate::bulletin::Bulletin;
use crate::crypto::{Cipher, Identity, PeerKey};
use crate::ids::{DELIVERY_CODE_LEN, Id};
use crate::keys::Address;
use crate::message::Message;
use crate::operation::{Op, PackedContent, Payload};
use crate::pow::{self, Mined, Progress, Work};
use crate::store::seen_until;
use crate::verify;

/// A nonce meeting `difficulty` for `work`, searched from a random start as
/// the original's (`pow::search_start`).
fn mine_nonce(work: &Work, difficulty: u32) -> Result<u32, NodeError> {
    let start = pow::search_start(&mut rand::thread_rng());
    match pow::mine(work, difficulty, start, &Progress::default()) {
        Mined::Found(nonce) => Ok(nonce),
        Mined::Exhausted | Mined::Stopped => Err(NodeError::Unmineable { difficulty }),
    }
}

/// Makes a message ready for the wire, in the protocol's sending order:
/// seal `plain` (operation byte ‖ payload) to `key`, sign src ‖ dst ‖ body
/// with `identity`, then mine to `difficulty`.
pub fn prepare_message(
    identity: &Identity,
    key: &PeerKey,
    dst: Address,
    plain: &[u8],
    ts: u32,
    difficulty: u32,
    cipher: Cipher,
) -> Result<Message, NodeError> {
    let mut m = Message::new(identity.address(), dst, ts, key.seal(plain, cipher)?);
    m.sig = identity.sign(&m.signed_bytes());
    m.nonce = mine_nonce(&m.work(), difficulty)?;
    Ok(m)
}

impl Node {
    /// Queues a message carrying `payload` for `peer` (at the peer's
    /// difficulty, ts = now); it is sealed, signed and mined when sent.
    pub fn send(&mut self, peer: Address, payload: &Payload, now: u64) -> Result<(), NodeError> {
        let difficulty = self.difficulty_for(&peer);
        self.outbound.push_back(Draft {
            peer,
            op: payload.op(),
            plain: payload.encode(),
            ts: pow::ts_of(now),
            difficulty,
        });
        Ok(())
    }

    /// The default message handling: verify (stop at the first failure,
    /// the connection's difficulty), count the drop by reason name, then
    /// turn the payload into an action. Routing operations are counted as
    /// unsupported; ragged sync answers and forged notices as malformed.
    pub fn handle_inbound(&mut self, item: Inbound, now: u64) -> Result<(), NodeError> {
        self.counters.received += 1;
        let Inbound {
            from,
            message,
            verdict,
        } = item;
        let verdict = verdict.unwrap_or_else(|| {
            let difficulty = self.difficulty_for(from.as_ref().unwrap_or(&message.src));
            let policy = self.policy(now, difficulty);
            let key = self.connections.get(&message.src).map(|c| c.key());
            verify::verify_message(&message, Some(&self.identity), key, &policy)
        });
        if let Some(reason) = verdict.first_failure() {
            self.counters.drop_for(reason);
            return Ok(());
        }
        let Some(payload) = verdict.payload else {
            self.counters.malformed += 1;
            return Ok(());
        };
        self.counters.accepted += 1;
        if !self.replay.first_time(&message, now) {
            self.counters.duplicates += 1;
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
            Payload::Bulletin(_, bulletin) => {
                self.queue_action(Action::StoreAndForward { bulletin, from })
            }
            Payload::Sync(Op::RequestSyncHeaders, topic, _) => {
                self.queue_action(Action::RespondSyncHeaders { peer: src, topic })
            }
            Payload::Sync(_, topic, ids) => {
                if ids.len() % 32 != 0 {
                    self.counters.malformed += 1;
                } else if !self.pending_sync.remove(&(src, topic)) {
                    self.counters.unsolicited += 1;
                } else {
                    let count = ids.len() / 32;
                    let taken = count.min(self.config.max_sync_ids);
                    self.counters.over_cap += (count - taken) as u64;
                    let ids = ids
                        .chunks_exact(32)
                        .take(taken)
                        .filter_map(|c| Id::try_from(c).ok())
                        .collect();
                    self.queue_action(Action::RequestContent {
                        peer: src,
                        topic,
                        ids,
                    });
                }
            }
            Payload::RequestContent(pc) => self.queue_action(Action::RespondContent {
                peer: src,
                content_id: pc.id,
            }),
            Payload::Routing(..) => self.counters.unsupported += 1,
        }
        Ok(())
    }

    /// A peer's delivery-code notice: taken only from the node it names.
    fn take_notice(
        &mut self,
        src: Address,
        notice: Notice,
        b: &Bulletin,
        now: u64,
    ) -> Result<(), NodeError> {
        if notice.address != src {
            self.counters.malformed += 1;
        } else if self.seen.contains(&b.key(), now) {
            self.counters.duplicates += 1;
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

    /// store_and_forward: a bulletin not seen before goes to the store,
    /// then is delivered if its topic is followed and forwarded to every
    /// neighbour but `from`. A bulletin seen before counts as a duplicate.
    pub fn store_and_forward(
        &mut self,
        bulletin: Bulletin,
        from: Option<Address>,
        now: u64,
    ) -> Result<(), NodeError> {
        self.accept(bulletin, from, true, now);
        Ok(())
    }

    /// deliver_without_forward: like [`Node::store_and_forward`] but never
    /// forwarded.
    pub fn deliver_without_forward(
        &mut self,
        bulletin: Bulletin,
        from: Option<Address>,
        now: u64,
    ) -> Result<(), NodeError> {
        self.accept(bulletin, from, false, now);
        Ok(())
    }

    fn accept(&mut self, bulletin: Bulletin, from: Option<Address>, forward: bool, now: u64) {
        if self.seen.contains(&bulletin.key(), now) {
            self.counters.duplicates += 1;
            return;
        }
        self.seen.insert(bulletin.key(), seen_until(&bulletin));
        self.new_bulletins.push_back(NewBulletin {
            bulletin,
            from,
            forward,
        });
    }

    /// The bulletin step: write first (bulletin, seen mark and delivery
    /// mark in one store call), then deliver, then forward.
    pub(super) fn handle_new_bulletin(
        &mut self,
        nb: NewBulletin,
        now: u64,
    ) -> Result<(), NodeError> {
        let NewBulletin {
            bulletin,
            from,
            forward,
        } = nb;
        let follow = self.follows(&bulletin.topic);
        let stored = self.store.handle(&bulletin, follow)?;
        if !stored.new {
            self.counters.duplicates += 1;
            return Ok(());
        }
        if forward {
            let peers: Vec<Address> = self
                .connections
                .keys()
                .filter(|p| Some(**p) != from)
                .copied()
                .collect();
            let payload = Payload::Bulletin(Op::StoreAndForward, bulletin.clone());
            for peer in peers {
                self.send(peer, &payload, now)?;
                self.counters.forwarded += 1;
            }
        }
        if stored.deliver {
            self.counters.delivered += 1;
            self.delivered.push(bulletin);
        }
        Ok(())
    }

    /// request_sync_headers: asks `peer` for the ids it holds under
    /// `topic`, and remembers the question so the answer is taken.
    pub fn send_sync_request(
        &mut self,
        peer: Address,
        topic: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        self.send(
            peer,
            &Payload::Sync(Op::RequestSyncHeaders, topic, Vec::new()),
            now,
        )?;
        self.pending_sync.insert((peer, topic));
        Ok(())
    }

    /// respond_sync_headers: tells `peer` the content ids of the unexpired
    /// bulletins held under `topic` (the newest `max_sync_ids`), and
    /// remembers `topic` as the one `peer` last asked about (its
    /// request_content answers come from it, see [`Node::serve_content`]).
    pub fn answer_sync_request(
        &mut self,
        peer: Address,
        topic: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        self.sync_asked.remember(peer, topic);
        let ids = self
            .store
            .unexpired_ids(&topic, now, self.config.max_sync_ids)?
            .concat();
        self.answer(peer, Payload::Sync(Op::RespondSyncHeaders, topic, ids), now)
    }

    /// Sends an answer to a request: to a neighbour always, to a stranger
    /// within its [`super::AnswerBudget`] (the excess counts as `over_cap`).
    fn answer(&mut self, peer: Address, payload: Payload, now: u64) -> Result<(), NodeError> {
        let len = payload.encode().len() as u64;
        if !self.connections.contains_key(&peer) && !self.answer_budget.charge(peer, len, now) {
            self.counters.over_cap += 1;
            return Ok(());
        }
        self.send(peer, &payload, now)
    }

    /// request_content: for each id offered under `topic` that this node
    /// neither holds nor has seen under that topic, asks `peer` for it
    /// (packed content with empty content).
    pub fn request_missing(
        &mut self,
        peer: Address,
        topic: Id,
        ids: &[Id],
        now: u64,
    ) -> Result<(), NodeError> {
        for id in ids {
            let key = (topic, *id);
            if self.seen.contains(&key, now) || self.store.contains(&key)? {
                continue;
            }
            let pc = PackedContent {
                id: *id,
                content: Vec::new(),
            };
            self.send(peer, &Payload::RequestContent(pc), now)?;
        }
        Ok(())
    }

    /// respond_content: sends `peer` one bulletin with `content_id`, if one
    /// is held unexpired. request_content names no topic, so when the id is
    /// held under several topics the answer is the bulletin under the topic
    /// `peer` last asked this node to sync, if held, else the newest (by ts,
    /// then topic id). Never more than one answer per request: a content id
    /// held under many topics buys a requester no more than any other.
    pub fn serve_content(
        &mut self,
        peer: Address,
        content_id: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        let asked = match self.sync_asked.topic(&peer) {
            Some(topic) => self.store.retrieve(&(topic, content_id))?,
            None => None,
        };
        let held = match asked.filter(|b| !b.is_expired(now)) {
            Some(b) => Some(b),
            None => self.store.with_content_id(&content_id, 1)?.pop(),
        };
        match held {
            Some(b) if !b.is_expired(now) => {
                self.answer(peer, Payload::Bulletin(Op::RespondContent, b), now)
            }
            _ => Ok(()),
        }
    }

    /// notify_changed_delivery_code: mines a notice bulletin for the new
    /// code and sends it to every neighbour as deliver_without_forward.
    pub fn send_delivery_code_notice(
        &mut self,
        code: [u8; DELIVERY_CODE_LEN],
        now: u64,
    ) -> Result<(), NodeError> {
        let mut b = Notice {
            address: self.address(),
            code,
        }
        .bulletin(pow::ts_of(now));
        b.nonce = mine_nonce(&b.work(), self.config.bulletin_difficulty)?;
        self.mark_as_seen(b.key(), seen_until(&b))?;
        let peers: Vec<Address> = self.connections.keys().copied().collect();
        let payload = Payload::Bulletin(Op::DeliverWithoutForward, b);
        for peer in peers {
            self.send(peer, &payload, now)?;
        }
        Ok(())
    }
}
