//! The node engine: one home for [`Node`] and everything it does.
//!
//! Inputs come in through methods ([`Node::receive`], [`Node::publish`],
//! [`Node::subscribe`], [`Node::rotate_delivery_code`], ...), each with an
//! explicit `now`; [`Node::run_until_idle_parallel`] (or one round at a time,
//! [`Node::process`]) works the queues; the caller drains [`Event`]s. The
//! engine never calls back into its owner: [`Hooks`] answer with verdicts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use rayon::prelude::*;

use super::answer_budget::AnswerBudget;
use super::prepare::prepare;
use super::queues::{Draft, Inbound, NewBulletin, Queues};
use super::replay::ReplaySet;
use super::seen::SeenSet;
use super::sync_asked::SyncAsked;
use super::{
    Action, Connection, Counters, DefaultHooks, DropReason, Event, Hooks, NodeConfig, NodeError,
    Notice, Outbound,
};
use crate::bulletin::Bulletin;
use crate::crypto::Identity;
use crate::error::KeyError;
use crate::ids::{DELIVERY_CODE_LEN, Id, Key, beacon_topic, inbox_topic};
use crate::keys::Address;
use crate::message::Message;
use crate::operation::{Op, PackedContent, Payload};
use crate::pow;
use crate::store::{BulletinStore, DeliveryCode, MemoryStore, StoreError, seen_until};
use crate::verify::{self, Policy, Verdict};

/// A gossip node: its state, its four queues and its events. See the
/// module docs; `H` is the application's [`Hooks`].
pub struct Node<H = DefaultHooks> {
    identity: Identity,
    config: NodeConfig,
    delivery_code: [u8; DELIVERY_CODE_LEN],
    topics: BTreeSet<Id>,
    seen: SeenSet,
    connections: BTreeMap<Address, Connection>,
    /// Bytes of forwards each neighbour's link can take now, for the
    /// neighbours whose caller bounds it; past it forwards are deferred,
    /// not prepared.
    send_credit: HashMap<Address, u64>,
    delivery_code_since: Option<u64>,
    peer_codes: BTreeMap<Address, [u8; DELIVERY_CODE_LEN]>,
    pending_sync: HashSet<(Address, Id)>,
    sync_asked: SyncAsked,
    queues: Queues,
    events: VecDeque<Event>,
    counters: Counters,
    replay: ReplaySet,
    answer_budget: AnswerBudget,
    store: Box<dyn BulletinStore>,
    hooks: H,
}

impl<H> fmt::Debug for Node<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.identity.address())
            .field("topics", &self.topics.len())
            .field("connections", &self.connections)
            .field("pending", &self.queues.len())
            .field("events", &self.events.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with an in-memory store and the default hooks.
    pub fn new(identity: Identity, config: NodeConfig) -> Self {
        let delivery_code = config.delivery_code.unwrap_or_else(rand::random);
        let address = identity.address();
        let topics = BTreeSet::from([beacon_topic(), inbox_topic(&delivery_code, &address)]);
        Self {
            identity,
            seen: SeenSet::new(config.seen_capacity),
            replay: ReplaySet::new(config.replay_capacity),
            answer_budget: AnswerBudget::new(
                config.answer_total_bytes,
                config.stranger_answer_bytes,
                config.answer_window,
                config.max_answered_strangers,
            ),
            config,
            delivery_code,
            topics,
            connections: BTreeMap::new(),
            send_credit: HashMap::new(),
            delivery_code_since: None,
            peer_codes: BTreeMap::new(),
            pending_sync: HashSet::new(),
            sync_asked: SyncAsked::default(),
            queues: Queues::default(),
            events: VecDeque::new(),
            counters: Counters::default(),
            store: Box::new(MemoryStore::new()),
            hooks: DefaultHooks,
        }
    }

    /// A node over `store`, its seen set loaded from the store's (entries
    /// still valid at `now`), so a restarted relay knows what it handled.
    /// Its delivery code is the one the store keeps for its address unless
    /// `config.delivery_code` gives another; a new code is written to the
    /// store. Peers' codes learned before are loaded too.
    pub fn with_store(
        identity: Identity,
        config: NodeConfig,
        store: Box<dyn BulletinStore>,
        now: u64,
    ) -> Result<Self, StoreError> {
        let mut node = Self::new(identity, config);
        for (id, expires) in store.seen(now)? {
            node.seen.insert(id, expires);
        }
        let address = node.address();
        for c in store.delivery_codes()? {
            if !c.own {
                node.peer_codes.insert(c.address, c.code);
            } else if c.address == address
                && node
                    .config
                    .delivery_code
                    .is_none_or(|given| given == c.code)
            {
                node.set_delivery_code(c.code);
                node.delivery_code_since = Some(c.since);
            }
        }
        node.store = store;
        if node.delivery_code_since.is_none() {
            node.store.put_delivery_code(&DeliveryCode {
                address,
                code: node.delivery_code,
                own: true,
                since: now,
            })?;
            node.delivery_code_since = Some(now);
        }
        Ok(node)
    }
}

impl<H: Hooks> Node<H> {
    /// The same node with `hooks` deciding at the engine's decision points.
    pub fn with_hooks<H2: Hooks>(self, hooks: H2) -> Node<H2> {
        Node {
            identity: self.identity,
            config: self.config,
            delivery_code: self.delivery_code,
            topics: self.topics,
            seen: self.seen,
            connections: self.connections,
            send_credit: self.send_credit,
            delivery_code_since: self.delivery_code_since,
            peer_codes: self.peer_codes,
            pending_sync: self.pending_sync,
            sync_asked: self.sync_asked,
            queues: self.queues,
            events: self.events,
            counters: self.counters,
            replay: self.replay,
            answer_budget: self.answer_budget,
            store: self.store,
            hooks,
        }
    }

    /// The hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The hooks, for changing their state.
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    // ---- Inputs ----

    /// A received message, from the connection named by its src.
    pub fn receive(&mut self, message: Message) {
        let from = Some(message.src);
        self.push_inbound(from, message);
    }

    /// A received message, on the connection to `peer`: its message
    /// difficulty applies, and bulletins it carries are not forwarded back
    /// to it.
    pub fn receive_from(&mut self, peer: Address, message: Message) {
        self.push_inbound(Some(peer), message);
    }

    /// A received message on a connection that names no peer yet (a
    /// network driver has not learned who is on it): verified as a
    /// stranger's, and its drops are reported with no peer, so a message
    /// that names a neighbour as its src cannot get that neighbour's
    /// connection blamed.
    pub fn receive_unattributed(&mut self, message: Message) {
        self.push_inbound(None, message);
    }

    /// Packed message bytes, as received; bytes that are not a message are
    /// counted as received and malformed.
    pub fn receive_bytes(&mut self, bytes: &[u8]) {
        match Message::unpack(bytes) {
            Ok(m) => self.receive(m),
            Err(_) => {
                self.counters.received += 1;
                self.dropped(None, DropReason::Malformed);
            }
        }
    }

    /// Queues a received message, or drops it (counted as received and
    /// `over_cap`) when `max_inbound` messages are already waiting.
    fn push_inbound(&mut self, from: Option<Address>, message: Message) {
        if self.queues.inbound.len() >= self.config.max_inbound {
            self.counters.received += 1;
            self.dropped(from, DropReason::OverCap);
            return;
        }
        self.queues.inbound.push_back(Inbound {
            from,
            message,
            verdict: None,
        });
    }

    /// The verdict this node would give `message` at `now` on a connection
    /// of message `difficulty`, without taking it in: how a network driver
    /// learns a connecting peer's address only from a valid message.
    pub fn verify(&self, message: &Message, difficulty: u32, now: u64) -> Verdict {
        let key = self.connections.get(&message.src).map(|c| c.key());
        verify::verify_message(
            message,
            Some(&self.identity),
            key,
            &self.policy(now, difficulty),
        )
    }

    /// Publishes a bulletin made here: verified (time, content id, proof of
    /// work at the configured difficulty), then stored, delivered if
    /// followed and forwarded to every neighbour.
    pub fn publish(&mut self, bulletin: Bulletin, now: u64) -> Result<(), NodeError> {
        let verdict = verify::verify_bulletin(&bulletin, &self.policy(now, 0));
        if let Some(reason) = verdict.first_failure() {
            return Err(NodeError::Rejected(reason));
        }
        self.queue_action(Action::StoreAndForward {
            bulletin,
            from: None,
        });
        Ok(())
    }

    /// Makes a bulletin of `content` on `topic` at `now`, mines it to the
    /// configured bulletin difficulty and publishes it: the one call for a
    /// node's own posts. Returns the bulletin as published.
    pub fn publish_new(
        &mut self,
        topic: Id,
        content: Vec<u8>,
        now: u64,
    ) -> Result<Bulletin, NodeError> {
        let mut b = Bulletin::at(topic, content, now);
        b.hashcash(self.config.bulletin_difficulty)?;
        self.publish(b.clone(), now)?;
        Ok(b)
    }

    /// Queues a message carrying `payload` for `peer` (at the peer's
    /// difficulty, ts = now); it is sealed, signed and mined when the
    /// queues run, and comes out as an [`Event::Send`].
    pub fn send(&mut self, peer: Address, payload: &Payload, now: u64) -> Result<(), NodeError> {
        let difficulty = self.difficulty_for(&peer);
        let bulletin = match payload {
            Payload::Bulletin(_, b) => Some(b.key()),
            _ => None,
        };
        self.queues.outbound.push_back(Draft {
            peer,
            op: payload.op(),
            plain: payload.encode(),
            ts: pow::ts_of(now),
            difficulty,
            bulletin,
        });
        Ok(())
    }

    /// Asks `peer` for the content ids it holds under `topic`; what this
    /// node lacks is then requested and stored as it arrives.
    pub fn request_sync(&mut self, peer: Address, topic: Id) {
        self.queue_action(Action::RequestSyncHeaders { peer, topic });
    }

    /// Makes a new delivery code, writes it to the store (set at `now`),
    /// moves the inbox subscription to it and queues the notice to
    /// neighbours. Returns the new code.
    pub fn rotate_delivery_code(
        &mut self,
        now: u64,
    ) -> Result<[u8; DELIVERY_CODE_LEN], StoreError> {
        let old_code = self.delivery_code;
        let mut new_code: [u8; DELIVERY_CODE_LEN] = rand::random();
        while new_code == old_code {
            new_code = rand::random();
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
    pub fn announce_delivery_code_to(&mut self, peer: Address, now: u64) -> Result<(), NodeError> {
        self.send_delivery_code_notice(self.delivery_code, vec![peer], now)
    }

    /// Time passing: forgets expired seen keys and removes expired
    /// bulletins from the store (the original's `delete_old_content`);
    /// returns how many bulletins went.
    pub fn delete_old_content(&mut self, now: u64) -> Result<usize, StoreError> {
        self.seen.purge(now);
        self.store.remove_expired(now)
    }

    /// Tells the store the caller has written these deliveries out (the
    /// keys of [`Event::Deliver`] bulletins): until then, a store keeps
    /// them as pending, and [`Node::pending_deliveries`] gives them back
    /// after a crash.
    pub fn confirm_delivered(&mut self, keys: &[Key]) -> Result<(), StoreError> {
        self.store.confirm_delivered(keys)
    }

    /// Deliveries the store recorded but the caller never confirmed: after
    /// a crash, the ones that may not have reached the output.
    pub fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.store.pending_deliveries()
    }

    // ---- Running the queues ----

    /// One round, as the original's `process()`: one item off each queue,
    /// in the order outbound (prepared, then an [`Event::Send`]), inbound
    /// (verified, then turned into an action), actions, new bulletins
    /// (stored, then delivered and forwarded). True when anything was done.
    pub fn process(&mut self, now: u64) -> Result<bool, NodeError> {
        self.round(now, true)
    }

    /// Processes until every queue is empty, one round at a time on this
    /// thread; returns the rounds run.
    pub fn run_until_idle(&mut self, now: u64) -> Result<usize, NodeError> {
        let mut rounds = 0;
        while self.process(now)? {
            rounds += 1;
        }
        Ok(rounds)
    }

    /// Runs the queues to completion on all cores: the received messages
    /// are verified as a batch (in parallel, with Ed25519 batch
    /// verification), and the messages made are prepared in parallel
    /// batches. The same outcome as [`Node::run_until_idle`], faster.
    pub fn run_until_idle_parallel(&mut self, now: u64) -> Result<(), NodeError> {
        loop {
            self.verify_inbound(now);
            while self.round(now, false)? {}
            if self.queues.outbound.is_empty() {
                return Ok(());
            }
            self.prepare_outbound_parallel()?;
        }
    }

    /// One round; the outbound step only when `outbound`.
    fn round(&mut self, now: u64, outbound: bool) -> Result<bool, NodeError> {
        self.seen.purge(now);
        let mut busy = false;
        if outbound && let Some(draft) = self.queues.outbound.pop_front() {
            busy = true;
            let item = prepare(&self.identity, &self.connections, self.config.cipher, draft);
            self.emit_prepared(item)?;
        }
        if let Some(item) = self.queues.inbound.pop_front() {
            busy = true;
            self.handle_inbound(item, now)?;
        }
        if let Some(action) = self.queues.actions.pop_front() {
            busy = true;
            self.carry_out(action, now)?;
        }
        if let Some(nb) = self.queues.new_bulletins.pop_front() {
            busy = true;
            self.handle_new_bulletin(nb, now)?;
        }
        Ok(busy)
    }

    /// Verifies every waiting received message not verified yet, as one
    /// batch on all cores.
    fn verify_inbound(&mut self, now: u64) {
        let (indexes, items): (Vec<usize>, Vec<(&Message, Policy)>) = self
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

    /// Prepares every queued draft on all cores (seal, sign, mine), as
    /// [`Event::Send`]s in queue order.
    fn prepare_outbound_parallel(&mut self) -> Result<(), NodeError> {
        let drafts: Vec<Draft> = self.queues.outbound.drain(..).collect();
        let (identity, connections, cipher) =
            (&self.identity, &self.connections, self.config.cipher);
        let prepared: Vec<Result<Outbound, NodeError>> = drafts
            .into_par_iter()
            .map(|d| prepare(identity, connections, cipher, d))
            .collect();
        for item in prepared {
            self.emit_prepared(item)?;
        }
        Ok(())
    }

    /// A prepared message becomes an [`Event::Send`]; a stranger that
    /// cannot be sealed to (a key with a torsion component: it verifies,
    /// but libsodium will not seal to it) gets nothing, counted as
    /// `unsent`.
    fn emit_prepared(&mut self, item: Result<Outbound, NodeError>) -> Result<(), NodeError> {
        match item {
            Ok(item) => {
                self.counters.sent += 1;
                self.events.push_back(Event::Send(item));
                Ok(())
            }
            Err(NodeError::Key(_) | NodeError::Seal(_)) => {
                self.counters.unsent += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    // ---- Events ----

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes every event so far, oldest first. Drain after each run: events
    /// wait here until taken.
    pub fn drain_events(&mut self) -> std::collections::vec_deque::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Counts a dropped message and tells the caller.
    fn dropped(&mut self, from: Option<Address>, reason: DropReason) {
        self.counters.count_drop(reason);
        self.events.push_back(Event::Dropped { from, reason });
    }

    // ---- State ----

    /// This node's address.
    pub fn address(&self) -> Address {
        self.identity.address()
    }

    /// This node's identity (for signing and opening).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The current delivery code.
    pub fn delivery_code(&self) -> [u8; DELIVERY_CODE_LEN] {
        self.delivery_code
    }

    /// When the current delivery code was set (seconds since the epoch), as
    /// the store records it; None for a node without a store.
    pub fn delivery_code_since(&self) -> Option<u64> {
        self.delivery_code_since
    }

    /// Follows the inbox of `code` instead of the current one.
    fn set_delivery_code(&mut self, code: [u8; DELIVERY_CODE_LEN]) {
        self.topics.remove(&self.inbox_topic());
        self.delivery_code = code;
        self.topics.insert(self.inbox_topic());
    }

    /// The current inbox topic: SHA-256(delivery code ‖ address).
    pub fn inbox_topic(&self) -> Id {
        inbox_topic(&self.delivery_code, &self.address())
    }

    /// Follows a topic: its bulletins are delivered from now on.
    pub fn subscribe(&mut self, topic: Id) {
        self.topics.insert(topic);
    }

    /// Stops following a topic (its bulletins are still stored and relayed).
    pub fn unsubscribe(&mut self, topic: &Id) {
        self.topics.remove(topic);
    }

    /// Whether this node follows `topic`.
    pub fn follows(&self, topic: &Id) -> bool {
        self.topics.contains(topic)
    }

    /// The topics followed.
    pub fn topics(&self) -> impl Iterator<Item = &Id> {
        self.topics.iter()
    }

    /// Adds (or updates) a configured neighbour with its message
    /// difficulty, asked of it and used towards it. It opens nothing: the
    /// caller carries the node's messages for the neighbour
    /// ([`Event::Send`]) and gives it what the neighbour sends.
    pub fn add_neighbour(&mut self, peer: Address, difficulty: u32) -> Result<(), KeyError> {
        self.connections
            .insert(peer, Connection::new(peer, difficulty)?);
        Ok(())
    }

    /// Adds a neighbour learned from a connection it made: its messages
    /// must carry `difficulty`, but messages to it are mined at no more
    /// than the configured default (so a listener's admission difficulty
    /// does not make every forward to every learned peer cost that much),
    /// and its requests are answered within the answer budget, as a
    /// stranger's. A configured neighbour stays as it is.
    pub fn add_learned_neighbour(
        &mut self,
        peer: Address,
        difficulty: u32,
    ) -> Result<(), KeyError> {
        if self.connections.get(&peer).is_some_and(|c| !c.is_learned()) {
            return Ok(());
        }
        let send = difficulty.min(self.config.message_difficulty);
        self.connections
            .insert(peer, Connection::learned(peer, difficulty, send)?);
        Ok(())
    }

    /// Drops a neighbour; true when it was one.
    pub fn remove_neighbour(&mut self, peer: &Address) -> bool {
        self.send_credit.remove(peer);
        self.connections.remove(peer).is_some()
    }

    /// The old name of [`Node::add_neighbour`].
    #[deprecated(note = "renamed add_neighbour: it opens no connection")]
    pub fn connect(&mut self, peer: Address, difficulty: u32) -> Result<(), KeyError> {
        self.add_neighbour(peer, difficulty)
    }

    /// The old name of [`Node::remove_neighbour`].
    #[deprecated(note = "renamed remove_neighbour: it closes no connection")]
    pub fn disconnect(&mut self, peer: &Address) -> bool {
        self.remove_neighbour(peer)
    }

    /// Bounds the bytes of forwards `peer`'s link can take now (None: no
    /// bound, the default). Each forward to it takes its message's size
    /// off the credit; one that does not fit is not forwarded but is an
    /// [`Event::Deferred`] instead, and nothing is sealed, signed or mined
    /// for it. A network driver sets it from the room in the peer's send
    /// queue before each run, so memory and work follow what the links
    /// take, not the number of neighbours.
    pub fn set_send_credit(&mut self, peer: Address, credit: Option<u64>) {
        match credit {
            Some(c) => {
                self.send_credit.insert(peer, c);
            }
            None => {
                self.send_credit.remove(&peer);
            }
        }
    }

    /// Takes `len` bytes off `peer`'s send credit; false when they do not
    /// fit (nothing taken).
    fn take_credit(&mut self, peer: &Address, len: u64) -> bool {
        match self.send_credit.get_mut(peer) {
            None => true,
            Some(c) if *c >= len => {
                *c -= len;
                true
            }
            Some(_) => false,
        }
    }

    /// Forwards to `peer` the stored, unexpired bulletins with these keys,
    /// in order (store_and_forward, as when they first came), while its
    /// send credit lasts: how a caller repairs what a full link missed
    /// ([`Event::Deferred`], or an [`Outbound`] it could not send).
    /// Returns (keys used up from the front, bulletins forwarded): a key
    /// whose bulletin is gone or expired is used up without a forward;
    /// the keys past the first that did not fit are left to the caller.
    pub fn forward_stored(
        &mut self,
        peer: Address,
        keys: &[Key],
        now: u64,
    ) -> Result<(usize, usize), NodeError> {
        let mut forwarded = 0;
        for (used, key) in keys.iter().enumerate() {
            let Some(b) = self.store.retrieve(key)? else {
                continue;
            };
            if b.is_expired(now) {
                continue;
            }
            if !self.take_credit(&peer, forward_size(&b)) {
                return Ok((used, forwarded));
            }
            self.send(peer, &Payload::Bulletin(Op::StoreAndForward, b), now)?;
            self.counters.forwarded += 1;
            forwarded += 1;
        }
        Ok((keys.len(), forwarded))
    }

    /// The neighbours.
    pub fn neighbours(&self) -> impl Iterator<Item = &Connection> {
        self.connections.values()
    }

    /// The connection to `peer`, if it is a neighbour.
    pub fn connection(&self, peer: &Address) -> Option<&Connection> {
        self.connections.get(peer)
    }

    /// The message difficulty used towards `peer`: its connection's, else
    /// the configured default.
    pub fn difficulty_for(&self, peer: &Address) -> u32 {
        self.connections
            .get(peer)
            .map_or(self.config.message_difficulty, Connection::send_difficulty)
    }

    /// The message difficulty asked of `peer`: its connection's, else the
    /// configured default.
    fn required_difficulty(&self, peer: &Address) -> u32 {
        self.connections
            .get(peer)
            .map_or(self.config.message_difficulty, Connection::difficulty)
    }

    /// Whether `message` is an exact replay of one this node already took
    /// (within the message TTL), without recording it: a network driver
    /// must not let a replayed message bind a connection to its signer.
    pub fn is_replay(&self, message: &Message, now: u64) -> bool {
        self.replay.contains(message, now)
    }

    /// The inbox topic `peer` last announced with a delivery-code notice.
    pub fn peer_inbox(&self, peer: &Address) -> Option<Id> {
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
                since: now,
            })?;
            self.peer_codes.insert(peer, code);
        }
        Ok(true)
    }

    /// How many recorded delivery codes belong to peers that are not
    /// neighbours.
    fn recorded_strangers(&self) -> usize {
        self.peer_codes
            .keys()
            .filter(|p| !self.connections.contains_key(*p))
            .count()
    }

    /// Records a bulletin key (topic id, content id) as seen until
    /// `expires`, in memory and store.
    pub(crate) fn mark_as_seen(&mut self, key: Key, expires: u64) -> Result<(), StoreError> {
        self.store.mark_seen(&key, expires)?;
        self.seen.insert(key, expires);
        Ok(())
    }

    /// Whether a bulletin key (topic id, content id) is in the seen set at `now`.
    pub fn has_seen(&self, key: &Key, now: u64) -> bool {
        self.seen.contains(key, now)
    }

    /// The bulletin store.
    pub fn store(&self) -> &dyn BulletinStore {
        self.store.as_ref()
    }

    /// The bulletin store, for writing.
    pub fn store_mut(&mut self) -> &mut dyn BulletinStore {
        self.store.as_mut()
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Items waiting in the four queues.
    pub fn pending(&self) -> usize {
        self.queues.len()
    }

    /// Queues an action.
    fn queue_action(&mut self, action: Action) {
        self.queues.actions.push_back(action);
    }

    /// The policy a received message is verified under at `now`: the
    /// message difficulty of the connection it came on.
    fn inbound_policy(&self, item: &Inbound, now: u64) -> Policy {
        let peer = item.from.as_ref().unwrap_or(&item.message.src);
        self.policy(now, self.required_difficulty(peer))
    }

    /// The verification policy at `now` for a message at `difficulty`.
    fn policy(&self, now: u64, message_difficulty: u32) -> Policy {
        Policy {
            now,
            skew: self.config.skew,
            message_difficulty,
            bulletin_difficulty: self.config.bulletin_difficulty,
            stop_at_first: true,
        }
    }

    // ---- Operations: what the node does with each ----

    /// A received message: verify it (unless verified in a batch
    /// already), count a drop by its reason, let the hooks see it, then
    /// turn the payload into an action. Routing operations are counted as
    /// unsupported; ragged sync answers and forged notices as malformed.
    fn handle_inbound(&mut self, item: Inbound, now: u64) -> Result<(), NodeError> {
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
        if !self
            .hooks
            .accept_message(&message, &payload, now)
            .map_err(NodeError::Hook)?
        {
            self.dropped(from, DropReason::Refused);
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
                    self.dropped(from, DropReason::Malformed);
                } else if !self.pending_sync.remove(&(src, topic)) {
                    self.dropped(from, DropReason::Unsolicited);
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
            Payload::Routing(..) => self.dropped(from, DropReason::Unsupported),
        }
        Ok(())
    }

    /// Carries out an action, unless the hooks skip it.
    fn carry_out(&mut self, action: Action, now: u64) -> Result<(), NodeError> {
        if !self
            .hooks
            .before_action(&action, now)
            .map_err(NodeError::Hook)?
        {
            return Ok(());
        }
        match action {
            Action::StoreAndForward { bulletin, from } => self.accept(bulletin, from, true, now),
            Action::DeliverWithoutForward { bulletin, from } => {
                self.accept(bulletin, from, false, now)
            }
            Action::RequestSyncHeaders { peer, topic } => {
                self.send_sync_request(peer, topic, now)?
            }
            Action::RespondSyncHeaders { peer, topic } => {
                self.answer_sync_request(peer, topic, now)?
            }
            Action::RequestContent { peer, topic, ids } => {
                self.request_missing(peer, topic, &ids, now)?
            }
            Action::RespondContent { peer, content_id } => {
                self.serve_content(peer, content_id, now)?
            }
            Action::NotifyChangedDeliveryCode { new_code, .. } => {
                let peers = self.connections.keys().copied().collect();
                self.send_delivery_code_notice(new_code, peers, now)?
            }
            Action::ChangedDeliveryCode { peer, code } => {
                self.record_peer_code(peer, code, now)?;
            }
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

    /// store_and_forward and deliver_without_forward: a bulletin not seen
    /// before goes to the new-bulletin queue (then the store, delivered if
    /// its topic is followed, forwarded to every neighbour but `from` when
    /// `forward`); one seen before counts as a duplicate.
    fn accept(&mut self, bulletin: Bulletin, from: Option<Address>, forward: bool, now: u64) {
        if self.seen.contains(&bulletin.key(), now) {
            self.dropped(from, DropReason::Duplicate);
            return;
        }
        self.seen.insert(bulletin.key(), seen_until(&bulletin));
        self.queues.new_bulletins.push_back(NewBulletin {
            bulletin,
            from,
            forward,
        });
    }

    /// The bulletin step: the hooks first, then write (bulletin, seen mark
    /// and delivery mark in one store call), then deliver, then forward.
    fn handle_new_bulletin(&mut self, nb: NewBulletin, now: u64) -> Result<(), NodeError> {
        let NewBulletin {
            bulletin,
            from,
            forward,
        } = nb;
        if !self
            .hooks
            .accept_bulletin(&bulletin, from.as_ref(), now)
            .map_err(NodeError::Hook)?
        {
            self.dropped(from, DropReason::Refused);
            return Ok(());
        }
        let follow = self.follows(&bulletin.topic);
        let stored = self.store.handle(&bulletin, follow)?;
        if !stored.new {
            self.dropped(from, DropReason::Duplicate);
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
            let size = forward_size(&bulletin);
            for peer in peers {
                if !self.take_credit(&peer, size) {
                    self.events.push_back(Event::Deferred {
                        peer,
                        key: bulletin.key(),
                    });
                    continue;
                }
                self.send(peer, &payload, now)?;
                self.counters.forwarded += 1;
            }
        }
        if stored.deliver {
            self.counters.delivered += 1;
            self.events.push_back(Event::Deliver(bulletin));
        }
        Ok(())
    }

    /// request_sync_headers: asks `peer` for the ids it holds under
    /// `topic`, and remembers the question so the answer is taken.
    fn send_sync_request(&mut self, peer: Address, topic: Id, now: u64) -> Result<(), NodeError> {
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
    /// request_content answers come from it, see `serve_content`).
    fn answer_sync_request(&mut self, peer: Address, topic: Id, now: u64) -> Result<(), NodeError> {
        self.sync_asked.remember(peer, topic);
        let ids = self
            .store
            .unexpired_ids(&topic, now, self.config.max_sync_ids)?
            .concat();
        self.answer(peer, Payload::Sync(Op::RespondSyncHeaders, topic, ids), now)
    }

    /// Sends an answer to a request: to a configured neighbour always, to a
    /// learned one or a stranger within the answer budget (the excess
    /// counts as `over_cap`).
    fn answer(&mut self, peer: Address, payload: Payload, now: u64) -> Result<(), NodeError> {
        let len = payload.encode().len() as u64;
        let budgeted = self
            .connections
            .get(&peer)
            .is_none_or(Connection::is_learned);
        if budgeted && !self.answer_budget.charge(peer, len, now) {
            self.dropped(Some(peer), DropReason::OverCap);
            return Ok(());
        }
        self.send(peer, &payload, now)
    }

    /// request_content: for each id offered under `topic` that this node
    /// neither holds nor has seen under that topic, asks `peer` for it
    /// (packed content with empty content).
    fn request_missing(
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
    fn serve_content(&mut self, peer: Address, content_id: Id, now: u64) -> Result<(), NodeError> {
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
    /// code and sends it to `peers` as deliver_without_forward.
    fn send_delivery_code_notice(
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
        b.hashcash(self.config.bulletin_difficulty)?;
        self.mark_as_seen(b.key(), seen_until(&b))?;
        let payload = Payload::Bulletin(Op::DeliverWithoutForward, b);
        for peer in peers {
            self.send(peer, &payload, now)?;
        }
        Ok(())
    }
}

/// The bytes a store_and_forward message carrying `b` takes on the wire:
/// its frame's length prefix, the message header, the sealed box and the
/// operation byte.
fn forward_size(b: &Bulletin) -> u64 {
    (4 + crate::message::HEADER_LEN
        + crate::crypto::SEAL_OVERHEAD
        + 1
        + crate::bulletin::HEADER_LEN
        + b.content.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PeerKey;
    use crate::keys::Seed;
    use crate::node::HookError;
    use crate::verify::Reason;

    fn node() -> Node {
        Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig::default(),
        )
    }

    fn sent(n: &mut Node<impl Hooks>) -> Vec<Outbound> {
        n.drain_events()
            .filter_map(|e| match e {
                Event::Send(out) => Some(out),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn follows_beacon_and_inbox_by_default() {
        let mut n = node();
        assert!(n.follows(&beacon_topic()));
        assert!(n.follows(&inbox_topic(&n.delivery_code(), &n.address())));
        n.unsubscribe(&beacon_topic());
        assert!(!n.follows(&beacon_topic()));
        n.subscribe([1; 32]);
        assert_eq!(n.topics().count(), 2);
    }

    #[test]
    fn process_takes_one_item_off_each_queue() {
        let mut n = node();
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.add_neighbour(peer, 1).unwrap();
        n.request_sync(peer, [1; 32]);
        n.request_sync(peer, [2; 32]);
        assert_eq!(n.pending(), 2);
        assert!(n.process(0).unwrap());
        assert_eq!(n.pending(), 2, "one action done, one message queued");
        assert!(n.process(0).unwrap());
        assert_eq!(
            sent(&mut n).len(),
            1,
            "the outbound step runs before the action step"
        );
        assert_eq!(n.run_until_idle(0).unwrap(), 1);
        assert_eq!(sent(&mut n).len(), 1);
        assert!(!n.process(0).unwrap());
        assert_eq!(n.counters().sent, 2);
    }

    #[test]
    fn a_hook_skips_one_action() {
        struct NoSync;
        impl Hooks for NoSync {
            fn before_action(&mut self, action: &Action, _: u64) -> Result<bool, HookError> {
                Ok(!matches!(action, Action::RequestSyncHeaders { .. }))
            }
        }
        let mut n = node().with_hooks(NoSync);
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.request_sync(peer, [1; 32]);
        n.run_until_idle(0).unwrap();
        assert!(sent(&mut n).is_empty());
    }

    #[test]
    fn a_failing_hook_is_a_hook_error_and_its_state_is_the_callers() {
        struct Fails(u32);
        impl Hooks for Fails {
            fn before_action(&mut self, _: &Action, _: u64) -> Result<bool, HookError> {
                self.0 += 1;
                Err("the application said no".into())
            }
        }
        let mut n = node().with_hooks(Fails(0));
        n.request_sync(Address([1; 32]), [1; 32]);
        let err = n.run_until_idle(0).unwrap_err();
        assert!(matches!(err, NodeError::Hook(_)));
        assert_eq!(err.to_string(), "hook failed: the application said no");
        assert_eq!(n.hooks().0, 1);
    }

    #[test]
    fn bad_peer_and_bad_bulletin_are_errors() {
        let mut n = node();
        let invalid = (0..=255u8)
            .map(|i| Address([i; 32]))
            .find(|a| PeerKey::new(a).is_err());
        assert!(
            n.add_neighbour(invalid.expect("some pattern is not a point"), 1)
                .is_err()
        );
        let b = Bulletin::new([1; 32], b"x".to_vec(), 100);
        assert!(matches!(
            n.publish(b, 100 + 3600),
            Err(NodeError::Rejected(Reason::Expired))
        ));
    }

    #[test]
    fn inbound_queue_is_capped_and_counts_what_it_drops() {
        let mut n = Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig {
                max_inbound: 2,
                ..NodeConfig::default()
            },
        );
        let m = Message::new(Address([1; 32]), n.address(), 0, vec![]);
        for _ in 0..5 {
            n.receive(m.clone());
        }
        assert_eq!(n.pending(), 2);
        assert_eq!(n.counters().over_cap, 3);
        assert_eq!(n.counters().received, 3);
        n.run_until_idle(0).unwrap();
        assert_eq!(n.counters().received, 5, "every message is counted once");
    }

    #[test]
    fn every_drop_is_an_event_with_its_reason() {
        let mut n = Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig {
                max_inbound: 1,
                ..NodeConfig::default()
            },
        );
        let m = Message::new(Address([1; 32]), n.address(), 0, vec![]);
        n.receive(m.clone());
        n.receive(m);
        n.receive_bytes(b"not a message");
        n.run_until_idle_parallel(0).unwrap();
        let drops: Vec<DropReason> = n
            .drain_events()
            .filter_map(|e| match e {
                Event::Dropped { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(drops.len(), 3);
        assert_eq!(drops[0], DropReason::OverCap);
        assert_eq!(drops[1], DropReason::Malformed);
        assert!(matches!(drops[2], DropReason::Invalid(_)));
        let c = n.counters();
        assert_eq!((c.received, c.over_cap, c.malformed), (3, 1, 1));
        assert_eq!(c.drops.values().sum::<u64>(), 1);
    }

    #[test]
    fn verify_judges_a_message_without_taking_it_in() {
        let n = node();
        let sender = Identity::from_seed(&Seed::generate());
        let plain = Payload::Sync(Op::RequestSyncHeaders, [1; 32], Vec::new()).encode();
        let key = PeerKey::recipient(&n.address()).unwrap();
        let good = crate::node::prepare_message(
            &sender,
            &key,
            n.address(),
            &plain,
            1000,
            4,
            crate::crypto::Cipher::default(),
        )
        .unwrap();
        assert!(n.verify(&good, 4, 1000).is_valid());
        assert!(
            !n.verify(&good, 24, 1000).is_valid() || good.work().meets(24),
            "the connection's difficulty applies"
        );
        let bad = Message::new(sender.address(), n.address(), 1000, vec![]);
        assert!(!n.verify(&bad, 0, 1000).is_valid());
        assert_eq!((n.pending(), n.counters().received), (0, 0));
    }

    #[test]
    fn seen_ids_expire() {
        let mut n = node();
        n.mark_as_seen(([1; 32], [3; 32]), 50).unwrap();
        assert!(n.has_seen(&([1; 32], [3; 32]), 49));
        assert!(!n.has_seen(&([2; 32], [3; 32]), 49), "another topic");
        assert!(!n.has_seen(&([1; 32], [3; 32]), 50));
        assert_eq!(n.delete_old_content(50).unwrap(), 0);
    }
}
