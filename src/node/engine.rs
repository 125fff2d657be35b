//! The node engine: one home for [`Node`] and everything it does.
//!
//! Inputs come in through methods ([`Node::receive`], [`Node::publish`],
//! [`Node::subscribe`], [`Node::rotate_delivery_code`], ...), each with an
//! explicit `now`; [`Node::run_until_idle_parallel`] (or one round at a time,
//! [`Node::process`]) works the queues; the caller drains [`Event`]s. The
//! engine never calls back into its owner: [`Hooks`] answer with verdicts.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::answer_budget::AnswerBudget;
use super::dissemination::{DisOut, Dissemination, Tally};
use super::prepare::prepare;
use super::queues::{Draft, Inbound, Queues};
use super::replay::ReplaySet;
use super::seen::SeenSet;
use super::sync::{Held, Reconcile, SyncAlgorithm, SyncOut, SyncStatus};
use super::timers::Timers;
use super::{
    Acceptance, Action, Connection, Counters, DefaultHooks, DropReason, Event, HookError, Hooks,
    NodeConfig, NodeError, Outbound, Verified,
};
use crate::bulletin::Bulletin;
use crate::crypto::Identity;
use crate::error::KeyError;
use crate::ids::{BulletinKey, DELIVERY_CODE_LEN, TopicId, beacon_topic, inbox_topic};
use crate::keys::Address;
use crate::message::RawMessage;
use crate::operation::{Op, Payload};
use crate::pow::{self, Difficulty};
use crate::store::{BulletinStore, DeliveryCode, MemoryStore, StoreError};
use crate::time::Timestamp;
use crate::verify::{self, Policy, Verdict};

/// A gossip node: its state, its four queues and its events. See the
/// module docs; `H` is the application's [`Hooks`].
pub struct Node<H = DefaultHooks> {
    pub(super) identity: Identity,
    pub(super) config: NodeConfig,
    pub(super) delivery_code: [u8; DELIVERY_CODE_LEN],
    pub(super) topics: BTreeSet<TopicId>,
    pub(super) seen: SeenSet,
    pub(super) connections: BTreeMap<Address, Connection>,
    /// Bytes of forwards each neighbour's link can take now, for the
    /// neighbours whose caller bounds it; past it forwards are deferred,
    /// not prepared.
    pub(super) send_credit: HashMap<Address, u64>,
    pub(super) delivery_code_since: Option<Timestamp>,
    pub(super) peer_codes: BTreeMap<Address, [u8; DELIVERY_CODE_LEN]>,
    /// Sync: its requests, answers and content requests (one component).
    pub(super) sync: Reconcile,
    /// Dissemination: eager and lazy peers, announcements and grafts (one
    /// component).
    pub(super) dissemination: Dissemination,
    pub(super) queues: Queues,
    pub(super) events: VecDeque<Event>,
    pub(super) counters: Counters,
    pub(super) replay: ReplaySet,
    pub(super) answer_budget: AnswerBudget,
    pub(super) store: Box<dyn BulletinStore>,
    pub(super) hooks: H,
    /// When purges and scheduled rotations come due.
    pub(super) timers: Timers,
    /// The engine's own random draws (delivery codes); seeded from
    /// `NodeConfig::rng_seed` for tests.
    pub(super) rng: StdRng,
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
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let delivery_code = config.delivery_code.unwrap_or_else(|| rng.r#gen());
        let address = identity.address();
        let topics = BTreeSet::from([beacon_topic(), inbox_topic(&delivery_code, &address)]);
        Self {
            sync: Reconcile::new(&config),
            dissemination: Dissemination::new(&config, address),
            identity,
            seen: SeenSet::new(config.seen_capacity),
            replay: ReplaySet::new(config.replay_capacity),
            answer_budget: AnswerBudget::new(
                config.answer_total_bytes,
                config.stranger_answer_bytes,
                config.answer_window.as_secs(),
                config.max_answered_strangers,
            ),
            config,
            delivery_code,
            topics,
            connections: BTreeMap::new(),
            send_credit: HashMap::new(),
            delivery_code_since: None,
            peer_codes: BTreeMap::new(),
            queues: Queues::default(),
            events: VecDeque::new(),
            counters: Counters::default(),
            store: Box::new(MemoryStore::new()),
            hooks: DefaultHooks,
            timers: Timers::default(),
            rng,
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
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let mut node = Self::new(identity, config);
        for (id, expires) in store.seen(now)? {
            node.seen.insert(id, expires.as_secs());
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
            sync: self.sync,
            dissemination: self.dissemination,
            queues: self.queues,
            events: self.events,
            counters: self.counters,
            replay: self.replay,
            answer_budget: self.answer_budget,
            store: self.store,
            hooks,
            timers: self.timers,
            rng: self.rng,
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

    /// A received message (as read off the wire, in any state: verifying
    /// it is the engine's job), from the connection named by its src.
    pub fn receive(&mut self, message: impl Into<RawMessage>) {
        let message = message.into();
        let from = Some(message.src);
        self.push_inbound(from, message);
    }

    /// A received message, on the connection to `peer`: its message
    /// difficulty applies, and bulletins it carries are not forwarded back
    /// to it.
    pub fn receive_from(&mut self, peer: Address, message: impl Into<RawMessage>) {
        self.push_inbound(Some(peer), message.into());
    }

    /// A received message on a connection that names no peer yet (a
    /// network driver has not learned who is on it): verified as a
    /// stranger's, and its drops are reported with no peer, so a message
    /// that names a neighbour as its src cannot get that neighbour's
    /// connection blamed.
    pub fn receive_unattributed(&mut self, message: impl Into<RawMessage>) {
        self.push_inbound(None, message.into());
    }

    /// Packed message bytes, as received; bytes that are not a message are
    /// counted as received and malformed.
    pub fn receive_bytes(&mut self, bytes: &[u8]) {
        match RawMessage::unpack(bytes) {
            Ok(m) => self.receive(m),
            Err(_) => {
                self.counters.received += 1;
                self.dropped(None, DropReason::Malformed);
            }
        }
    }

    /// Queues a received message, or drops it (counted as received and
    /// `over_cap`) when `max_inbound` messages are already waiting.
    pub(super) fn push_inbound(&mut self, from: Option<Address>, message: RawMessage) {
        let difficulty = self.required_difficulty(from.as_ref().unwrap_or(&message.src));
        self.push_item(Inbound {
            from,
            message,
            difficulty: Some(difficulty),
            verdict: None,
        });
    }

    /// Queues an inbound item, or drops it (counted as received and
    /// `over_cap`) when `max_inbound` messages are already waiting.
    pub(super) fn push_item(&mut self, item: Inbound) {
        if self.queues.inbound.len() >= self.config.max_inbound {
            self.counters.received += 1;
            self.dropped(item.from, DropReason::OverCap);
            return;
        }
        self.queues.inbound.push_back(item);
    }

    /// A received message on a connection bound to `peer` whose message
    /// difficulty is `difficulty`: verified once, at that difficulty (in
    /// the next batch), whatever the neighbour's own difficulty is.
    pub fn receive_on(&mut self, peer: Address, difficulty: u32, message: impl Into<RawMessage>) {
        self.push_item(Inbound {
            from: Some(peer),
            message: message.into(),
            difficulty: Some(difficulty),
            verdict: None,
        });
    }

    /// Verifies a received message at a connection's message `difficulty`
    /// and `now`, without taking it in. The result carries the verdict, so
    /// [`Node::receive_verified`] takes it without verifying it again:
    /// how a driver learns who is on a connection from its first valid
    /// message at the cost of one verification.
    pub fn verify_received(
        &self,
        message: impl Into<RawMessage>,
        difficulty: u32,
        now: Timestamp,
    ) -> Verified {
        let message = message.into();
        let verdict = self.verify(&message, difficulty, now);
        Verified { message, verdict }
    }

    /// A message already verified by [`Node::verify_received`], from the
    /// connection to `from` (None: a connection that names no peer, whose
    /// drops blame no neighbour). Its verdict stands: it is not verified
    /// again. It is still checked for replays, shown to the hooks and
    /// handled as any received message.
    pub fn receive_verified(&mut self, from: Option<Address>, verified: Verified) {
        let Verified { message, verdict } = verified;
        self.push_item(Inbound {
            from,
            message,
            difficulty: None,
            verdict: Some(verdict),
        });
    }

    /// The verdict this node would give `message` at `now` on a connection
    /// of message `difficulty`, without taking it in: how a network driver
    /// learns a connecting peer's address only from a valid message.
    pub fn verify(&self, message: &RawMessage, difficulty: u32, now: Timestamp) -> Verdict {
        let now = now.as_secs();
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
    pub fn publish(&mut self, bulletin: Bulletin, now: Timestamp) -> Result<(), NodeError> {
        let now = now.as_secs();
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
        topic: TopicId,
        content: Vec<u8>,
        now: Timestamp,
    ) -> Result<Bulletin, NodeError> {
        let mut b = Bulletin::at(topic, content, now);
        b.hashcash(Difficulty::new(self.config.bulletin_difficulty))?;
        self.publish(b.clone(), now)?;
        Ok(b)
    }

    /// Queues a message carrying `payload` for `peer` (at the peer's
    /// difficulty, ts = now); it is sealed, signed and mined when the
    /// queues run, and comes out as an [`Event::Send`].
    pub fn send(
        &mut self,
        peer: Address,
        payload: &Payload,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let now = now.as_secs();
        self.push_draft(peer, payload, now);
        Ok(())
    }

    /// Queues a message carrying `payload` for `peer`, as [`Node::send`].
    pub(super) fn push_draft(&mut self, peer: Address, payload: &Payload, now: u64) {
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
    }

    /// Asks `peer` for the content ids it holds under `topic`; what this
    /// node lacks is then requested and stored as it arrives.
    pub fn request_sync(&mut self, peer: Address, topic: TopicId) {
        self.queue_action(Action::RequestSyncHeaders { peer, topic });
    }

    /// Sets the topics [`Node::sync_with`] asks a peer about (none by
    /// default): a relay's followed topics and the beacon.
    pub fn set_sync_topics(&mut self, topics: impl IntoIterator<Item = TopicId>) {
        self.sync.set_topics(topics.into_iter().collect());
    }

    /// Asks `peer` about each topic set with [`Node::set_sync_topics`], as
    /// [`Node::request_sync`] does for one: how a network driver has a
    /// peer that comes up (configured at start, connected, reconnected)
    /// catch up, and is caught up on.
    pub fn sync_with(&mut self, peer: Address) {
        let topics = self.sync.topics().to_vec();
        for topic in topics {
            self.queue_action(Action::RequestSyncHeaders { peer, topic });
        }
    }

    /// How the sync this node asked `peer` for about `topic` went: whether
    /// the peer reconciled or sent a full list, the rounds, the
    /// differences found each way, and the bytes. `None` when no such
    /// sync was asked within the message TTL.
    pub fn sync_status(&self, peer: &Address, topic: &TopicId) -> Option<SyncStatus> {
        self.sync.status(peer, topic)
    }

    /// Time passing: forgets expired seen keys and removes expired
    /// bulletins from the store (the original's `delete_old_content`);
    /// returns how many bulletins went.
    pub fn delete_old_content(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let secs = now.as_secs();
        self.seen.purge(secs);
        let held = Held {
            store: self.store.as_ref(),
            seen: &self.seen,
        };
        let out = self.sync.tick(&held, secs)?;
        self.route_sync(None, out, secs);
        self.store.remove_expired(now)
    }

    /// Tells the store the caller has written these deliveries out (the
    /// keys of [`Event::Deliver`] bulletins): until then, a store keeps
    /// them as pending, and [`Node::pending_deliveries`] gives them back
    /// after a crash.
    pub fn confirm_delivered(&mut self, keys: &[BulletinKey]) -> Result<(), StoreError> {
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
    pub fn process(&mut self, now: Timestamp) -> Result<bool, NodeError> {
        let now = now.as_secs();
        self.round(now, true)
    }

    /// Processes until every queue is empty, one round at a time on this
    /// thread; returns the rounds run.
    pub fn run_until_idle(&mut self, now: Timestamp) -> Result<usize, NodeError> {
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
    pub fn run_until_idle_parallel(&mut self, now: Timestamp) -> Result<(), NodeError> {
        let now = now.as_secs();
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
    pub(super) fn round(&mut self, now: u64, outbound: bool) -> Result<bool, NodeError> {
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

    /// Prepares every queued draft on all cores (seal, sign, mine), as
    /// [`Event::Send`]s in queue order.
    pub(super) fn prepare_outbound_parallel(&mut self) -> Result<(), NodeError> {
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
    pub(super) fn emit_prepared(
        &mut self,
        item: Result<Outbound, NodeError>,
    ) -> Result<(), NodeError> {
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
    pub(super) fn dropped(&mut self, from: Option<Address>, reason: DropReason) {
        self.counters.count_drop(reason);
        self.events.push_back(Event::Dropped { from, reason });
    }

    /// A hook's verdict on what came from `from`: true to go on; else the
    /// drop is counted and said ([`DropReason::Ignored`] or
    /// [`DropReason::Refused`]).
    pub(super) fn accepted(
        &mut self,
        verdict: Result<Acceptance, HookError>,
        from: Option<Address>,
    ) -> Result<bool, NodeError> {
        match verdict.map_err(NodeError::Hook)? {
            Acceptance::Accept => Ok(true),
            Acceptance::Ignore => {
                self.dropped(from, DropReason::Ignored);
                Ok(false)
            }
            Acceptance::Reject(why) => {
                self.dropped(from, DropReason::Refused(why));
                Ok(false)
            }
        }
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
    pub fn delivery_code_since(&self) -> Option<Timestamp> {
        self.delivery_code_since
    }

    /// The current inbox topic: SHA-256(delivery code ‖ address).
    pub fn inbox_topic(&self) -> TopicId {
        inbox_topic(&self.delivery_code, &self.address())
    }

    /// Follows a topic: its bulletins are delivered from now on.
    pub fn subscribe(&mut self, topic: TopicId) {
        self.topics.insert(topic);
    }

    /// Stops following a topic (its bulletins are still stored and relayed).
    pub fn unsubscribe(&mut self, topic: &TopicId) {
        self.topics.remove(topic);
    }

    /// Whether this node follows `topic`.
    pub fn follows(&self, topic: &TopicId) -> bool {
        self.topics.contains(topic)
    }

    /// The topics followed.
    pub fn topics(&self) -> impl Iterator<Item = &TopicId> {
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

    /// Says that `peer` has no connection left: its reconciliations are
    /// forgotten both ways (none falls back to a full list it could not be
    /// sent, none is answered), and its next connection syncs afresh; so is
    /// whether it speaks the dissemination extension (its next connection
    /// advertises again), and ids it announced are asked of others. A
    /// configured neighbour stays one.
    pub fn peer_disconnected(&mut self, peer: &Address) {
        self.sync.forget_peer(peer);
        self.dissemination.forget_peer(peer);
    }

    /// Drops a neighbour (its reconciliations and its place in the
    /// dissemination tree too); true when it was one.
    pub fn remove_neighbour(&mut self, peer: &Address) -> bool {
        self.send_credit.remove(peer);
        self.sync.forget_peer(peer);
        self.dissemination.forget_peer(peer);
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
    pub(super) fn required_difficulty(&self, peer: &Address) -> u32 {
        self.connections
            .get(peer)
            .map_or(self.config.message_difficulty, Connection::difficulty)
    }

    /// Whether `message` is an exact replay of one this node already took
    /// (within the message TTL), without recording it: a network driver
    /// must not let a replayed message bind a connection to its signer.
    pub fn is_replay(&self, message: &RawMessage, now: Timestamp) -> bool {
        let now = now.as_secs();
        self.replay.contains(message, now)
    }

    /// Records a bulletin key (topic id, content id) as seen until
    /// `expires`, in memory and store.
    pub(crate) fn mark_as_seen(
        &mut self,
        key: BulletinKey,
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.mark_seen(&key, expires)?;
        self.seen.insert(key, expires.as_secs());
        Ok(())
    }

    /// Whether a bulletin key (topic id, content id) is in the seen set at `now`.
    pub fn has_seen(&self, key: &BulletinKey, now: Timestamp) -> bool {
        let now = now.as_secs();
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
    pub(super) fn queue_action(&mut self, action: Action) {
        self.queues.actions.push_back(action);
    }

    /// The verification policy at `now` for a message at `difficulty`.
    pub(super) fn policy(&self, now: u64, message_difficulty: u32) -> Policy {
        Policy {
            now: Timestamp::from_secs(now),
            skew: self.config.skew,
            message_difficulty,
            bulletin_difficulty: self.config.bulletin_difficulty,
            stop_at_first: true,
        }
    }

    // ---- Operations: what the node does with each ----

    /// Carries out an action, unless the hooks skip it.
    pub(super) fn carry_out(&mut self, action: Action, now: u64) -> Result<(), NodeError> {
        let verdict = self.hooks.before_action(&action, now);
        if !self.accepted(verdict, action.origin())? {
            return Ok(());
        }
        match action {
            Action::StoreAndForward { bulletin, from } => self.accept(bulletin, from, true, now)?,
            Action::DeliverWithoutForward { bulletin, from } => {
                self.accept(bulletin, from, false, now)?
            }
            Action::RequestSyncHeaders { peer, topic } => {
                let out = self.sync.request(peer, topic, now);
                self.route_sync(None, out, now)
            }
            Action::RespondSyncHeaders { peer, topic } => {
                if !self.may_work_for(&peer, now) {
                    self.dropped(Some(peer), DropReason::OverCap);
                    return Ok(());
                }
                let held = Held {
                    store: self.store.as_ref(),
                    seen: &self.seen,
                };
                let out = self.sync.answer(peer, topic, &held, now)?;
                self.route_sync(None, out, now)
            }
            Action::RequestContent { peer, topic, ids } => {
                let held = Held {
                    store: self.store.as_ref(),
                    seen: &self.seen,
                };
                let out = self.sync.want(peer, topic, ids, &held, now)?;
                self.route_sync(None, out, now)
            }
            Action::RespondContent { peer, content_id } => {
                let held = Held {
                    store: self.store.as_ref(),
                    seen: &self.seen,
                };
                let out = self.sync.serve(peer, content_id, &held, now)?;
                self.route_sync(None, out, now)
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

    /// Carries out what the sync component decided: sends, answers (within
    /// the answer budget), drops of the message that came on `from`, ids
    /// offered (queued as a request_content action), counts.
    pub(super) fn route_sync(&mut self, from: Option<Address>, out: Vec<SyncOut>, now: u64) {
        for item in out {
            match item {
                SyncOut::Send(peer, payload) => self.push_draft(peer, &payload, now),
                SyncOut::Answer(peer, payload) => self.answer(peer, payload, now),
                SyncOut::Dropped(reason) => self.dropped(from, reason),
                SyncOut::Offered { peer, topic, ids } => {
                    self.queue_action(Action::RequestContent { peer, topic, ids })
                }
                SyncOut::OverCap(n) => self.counters.over_cap += n,
                SyncOut::Deferred(n) => self.counters.sync_deferred += n,
                SyncOut::Unanswered(n) => self.counters.sync_unanswered += n,
                SyncOut::FellBack => self.counters.sync_fallbacks += 1,
                SyncOut::Work { peer, bytes } => {
                    if self.budgeted(&peer) {
                        self.answer_budget.charge_work(peer, bytes, now);
                    }
                }
            }
        }
    }

    /// Carries out what the dissemination component decided: sends
    /// (announce, graft, prune), grafted bulletins served from the store
    /// (within the peer's send credit), sync fallbacks, drops of the
    /// message that came on `from`, counts.
    pub(super) fn route_dissemination(
        &mut self,
        from: Option<Address>,
        out: Vec<DisOut>,
        now: u64,
    ) -> Result<(), StoreError> {
        for item in out {
            match item {
                DisOut::Send(peer, payload) => self.push_draft(peer, &payload, now),
                DisOut::Serve(peer, key) => {
                    let Some(b) = self.store.retrieve(&key)? else {
                        continue;
                    };
                    if b.is_expired(Timestamp::from_secs(now)) {
                        continue;
                    }
                    if !self.take_credit(&peer, super::forward::forward_size(&b)) {
                        self.events.push_back(Event::Deferred { peer, key });
                        continue;
                    }
                    self.push_draft(peer, &Payload::Bulletin(Op::StoreAndForward, b), now);
                    self.counters.forwarded += 1;
                }
                DisOut::Sync(peer, topic) => {
                    self.queue_action(Action::RequestSyncHeaders { peer, topic })
                }
                DisOut::Dropped(reason) => self.dropped(from, reason),
                DisOut::OverCap(n) => self.counters.over_cap += n,
                DisOut::Count(t) => {
                    let c = &mut self.counters;
                    *match t {
                        Tally::AnnouncementSent => &mut c.announcements_sent,
                        Tally::AnnouncementReceived => &mut c.announcements_received,
                        Tally::GraftSent => &mut c.grafts_sent,
                        Tally::GraftReceived => &mut c.grafts_received,
                        Tally::PruneSent => &mut c.prunes_sent,
                        Tally::PruneReceived => &mut c.prunes_received,
                        Tally::Repair => &mut c.repairs,
                        Tally::GraftTimeout => &mut c.graft_timeouts,
                        Tally::Fallback => &mut c.graft_fallbacks,
                    } += 1;
                }
            }
        }
        Ok(())
    }

    /// Whether the dissemination component has announcements or grafts
    /// waiting on time ([`Node::handle_timeout`]): a simulation runs until
    /// none is.
    pub fn dissemination_pending(&self) -> bool {
        self.dissemination.pending()
    }

    /// Whether this node pushes new bulletins to `peer` at once: a
    /// neighbour that does not speak the dissemination extension always;
    /// one that does while its link is eager (not pruned). False for a
    /// peer that is not a neighbour.
    pub fn pushes_to(&self, peer: &Address) -> bool {
        self.connections.contains_key(peer)
            && (!self.dissemination.speaks(peer) || self.dissemination.is_eager(peer))
    }

    /// Whether answers to `peer` come out of the answer budget: it is not a
    /// configured neighbour (a stranger, or a learned one).
    pub(super) fn budgeted(&self, peer: &Address) -> bool {
        self.connections
            .get(peer)
            .is_none_or(Connection::is_learned)
    }

    /// Whether work for `peer`'s request may be done at `now`: always for a
    /// configured neighbour, for another peer while it has answer budget
    /// left (otherwise the request is dropped as `over_cap` before any work).
    pub(super) fn may_work_for(&self, peer: &Address, now: u64) -> bool {
        !self.budgeted(peer) || self.answer_budget.has_room(peer, now)
    }

    /// Sends an answer to a request: to a configured neighbour always, to a
    /// learned one or a stranger within the answer budget (the excess
    /// counts as `over_cap`).
    pub(super) fn answer(&mut self, peer: Address, payload: Payload, now: u64) {
        let len = payload.encode().len() as u64;
        if self.budgeted(&peer) && !self.answer_budget.charge(peer, len, now) {
            self.dropped(Some(peer), DropReason::OverCap);
            return;
        }
        self.push_draft(peer, &payload, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PeerKey;
    use crate::ids::ContentId;
    use crate::keys::Seed;
    use crate::node::HookError;
    use crate::operation::Op;
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
        n.subscribe(TopicId::from_bytes([1; 32]));
        assert_eq!(n.topics().count(), 2);
    }

    #[test]
    fn process_takes_one_item_off_each_queue() {
        let mut n = node();
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.add_neighbour(peer, 1).unwrap();
        n.request_sync(peer, TopicId::from_bytes([1; 32]));
        n.request_sync(peer, TopicId::from_bytes([2; 32]));
        assert_eq!(n.pending(), 2);
        assert!(n.process(Timestamp::from_secs(0)).unwrap());
        assert_eq!(n.pending(), 2, "one action done, one message queued");
        assert!(n.process(Timestamp::from_secs(0)).unwrap());
        assert_eq!(
            sent(&mut n).len(),
            1,
            "the outbound step runs before the action step"
        );
        assert_eq!(n.run_until_idle(Timestamp::from_secs(0)).unwrap(), 1);
        assert_eq!(sent(&mut n).len(), 1);
        assert!(!n.process(Timestamp::from_secs(0)).unwrap());
        assert_eq!(n.counters().sent, 2);
    }

    #[test]
    fn sync_with_asks_a_peer_about_each_sync_topic() {
        let mut n = node();
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.sync_with(peer);
        assert_eq!(n.pending(), 0, "no sync topics by default");
        n.set_sync_topics([[1; 32], [2; 32]].map(TopicId::from_bytes));
        n.sync_with(peer);
        n.run_until_idle(Timestamp::from_secs(0)).unwrap();
        let ops: Vec<Op> = sent(&mut n).iter().map(|o| o.op).collect();
        assert_eq!(ops, vec![Op::RequestSyncHeaders; 2]);
    }

    #[test]
    fn a_hook_skips_one_action() {
        struct NoSync;
        impl Hooks for NoSync {
            fn before_action(&mut self, action: &Action, _: u64) -> Result<Acceptance, HookError> {
                Ok(match action {
                    Action::RequestSyncHeaders { .. } => Acceptance::Ignore,
                    _ => Acceptance::Accept,
                })
            }
        }
        let mut n = node().with_hooks(NoSync);
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.request_sync(peer, TopicId::from_bytes([1; 32]));
        n.run_until_idle(Timestamp::from_secs(0)).unwrap();
        assert!(sent(&mut n).is_empty());
    }

    #[test]
    fn a_failing_hook_is_a_hook_error_and_its_state_is_the_callers() {
        struct Fails(u32);
        impl Hooks for Fails {
            fn before_action(&mut self, _: &Action, _: u64) -> Result<Acceptance, HookError> {
                self.0 += 1;
                Err("the application said no".into())
            }
        }
        let mut n = node().with_hooks(Fails(0));
        n.request_sync(Address([1; 32]), TopicId::from_bytes([1; 32]));
        let err = n.run_until_idle(Timestamp::from_secs(0)).unwrap_err();
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
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), b"x".to_vec(), 100);
        assert!(matches!(
            n.publish(b, Timestamp::from_secs(100 + 3600)),
            Err(NodeError::Rejected(Reason::Expired))
        ));
    }

    /// An unsigned, unmined, empty message to `dst` from a made-up src.
    fn unsigned_to(dst: Address) -> RawMessage {
        RawMessage {
            src: Address([1; 32]),
            dst,
            ts: 0,
            nonce: 0,
            sig: [0; 64],
            body: vec![],
        }
    }

    #[test]
    fn inbound_queue_is_capped_and_counts_what_it_drops() {
        let mut n = Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig::builder().max_inbound(2).build().unwrap(),
        );
        let m = unsigned_to(n.address());
        for _ in 0..5 {
            n.receive(m.clone());
        }
        assert_eq!(n.pending(), 2);
        assert_eq!(n.counters().over_cap, 3);
        assert_eq!(n.counters().received, 3);
        n.run_until_idle(Timestamp::from_secs(0)).unwrap();
        assert_eq!(n.counters().received, 5, "every message is counted once");
    }

    #[test]
    fn every_drop_is_an_event_with_its_reason() {
        let mut n = Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig::builder().max_inbound(1).build().unwrap(),
        );
        let m = unsigned_to(n.address());
        n.receive(m.clone());
        n.receive(m);
        n.receive_bytes(b"not a message");
        n.run_until_idle_parallel(Timestamp::from_secs(0)).unwrap();
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
        let plain = Payload::Sync(
            Op::RequestSyncHeaders,
            TopicId::from_bytes([1; 32]),
            Vec::new(),
        )
        .encode();
        let key = PeerKey::recipient(&n.address()).unwrap();
        let good = crate::node::prepare_message(
            &sender,
            &key,
            n.address(),
            &plain,
            1000,
            Difficulty::new(4),
            crate::crypto::Cipher::default(),
        )
        .unwrap();
        assert!(
            n.verify(good.as_raw(), 4, Timestamp::from_secs(1000))
                .is_valid()
        );
        assert!(
            !n.verify(good.as_raw(), 24, Timestamp::from_secs(1000))
                .is_valid()
                || good.work().meets(24),
            "the connection's difficulty applies"
        );
        let bad = RawMessage {
            src: sender.address(),
            dst: n.address(),
            ts: 1000,
            nonce: 0,
            sig: [0; 64],
            body: vec![],
        };
        assert!(!n.verify(&bad, 0, Timestamp::from_secs(1000)).is_valid());
        assert_eq!((n.pending(), n.counters().received), (0, 0));
    }

    #[test]
    fn seen_ids_expire() {
        let mut n = node();
        n.mark_as_seen(
            BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([3; 32])),
            Timestamp::from_secs(50),
        )
        .unwrap();
        assert!(n.has_seen(
            &BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([3; 32])),
            Timestamp::from_secs(49)
        ));
        assert!(
            !n.has_seen(
                &BulletinKey::new(TopicId::from_bytes([2; 32]), ContentId::from_bytes([3; 32])),
                Timestamp::from_secs(49)
            ),
            "another topic"
        );
        assert!(!n.has_seen(
            &BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([3; 32])),
            Timestamp::from_secs(50)
        ));
        assert_eq!(n.delete_old_content(Timestamp::from_secs(50)).unwrap(), 0);
    }
}
