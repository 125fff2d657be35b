//! The node engine: a model of the original library's `Node`, without I/O.
//!
//! A [`Node`] holds its identity, delivery code, followed topics, seen set,
//! neighbours and four queues: outbound messages (each for a peer), inbound
//! messages (each tagged with the connection it came from), actions, and
//! new bulletins. [`Node::process`] takes one item off each queue in that
//! order and hands it to the matching handler: [`MessageSender`],
//! [`MessageHandler`], [`ActionHandler`], and the [`BulletinStore`]. The
//! caller feeds messages in with [`Node::receive`] and drains
//! [`Node::take_sent`] (messages for peers) and [`Node::take_delivered`]
//! (bulletins of followed topics). Time is always an explicit `now`.
//!
//! Payload conventions for every operation are in `docs/protocol-node.md`.

mod action;
mod answer_budget;
mod connection;
mod counters;
mod handler;
mod notice;
mod operations;
mod replay;
mod seen;
mod sync_asked;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;

use rayon::prelude::*;

pub use action::Action;
pub use answer_budget::{
    AnswerBudget, DEFAULT_ANSWER_WINDOW, DEFAULT_MAX_ANSWERED_STRANGERS,
    DEFAULT_STRANGER_ANSWER_BYTES,
};
pub use connection::Connection;
pub use counters::Counters;
pub use handler::{
    ActionHandler, DefaultActionHandler, MessageHandler, MessageSender, Outbox, VerifyingHandler,
};
pub use notice::{NOTICE_LEN, NOTICE_PREFIX, Notice};
pub use operations::prepare_message;
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplaySet};
pub use seen::{DEFAULT_SEEN_CAPACITY, SeenSet};
pub use sync_asked::{DEFAULT_SYNC_ASKED_PEERS, SyncAsked};

use crate::bulletin::Bulletin;
use crate::crypto::PeerKey;
use crate::crypto::{Cipher, Identity};
use crate::error::{CryptoError, KeyError};
use crate::ids::{DELIVERY_CODE_LEN, Id, Key, beacon_topic, inbox_topic};
use crate::keys::Address;
use crate::message::Message;
use crate::operation::Op;
use crate::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use crate::store::{BulletinStore, DeliveryCode, MemoryStore, StoreError};
use crate::verify::{self, DEFAULT_SKEW, Policy, Reason, Verdict};

/// Default cap on the content ids in one respond_sync_headers (32 KiB),
/// sent or taken.
pub const DEFAULT_MAX_SYNC_IDS: usize = 1024;

/// Default cap on received messages waiting in the inbound queue.
pub const DEFAULT_MAX_INBOUND: usize = 65_536;

/// Default cap on the delivery codes recorded for peers that are not
/// neighbours (neighbours' codes are always recorded).
pub const DEFAULT_MAX_PEER_INBOXES: usize = 4096;

/// A node's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Bulletin proof of work required of received bulletins and used to
    /// mine this node's notices (default 7).
    pub bulletin_difficulty: u32,
    /// Message difficulty for peers that are not neighbours (default 1).
    pub message_difficulty: u32,
    /// Allowed clock skew into the future, seconds (default 60).
    pub skew: u64,
    /// Most bulletin keys (topic id, content id) the seen set holds.
    pub seen_capacity: usize,
    /// Most content ids sent in one respond_sync_headers (the newest), and
    /// taken from one answer (the first; the rest count as `over_cap`).
    pub max_sync_ids: usize,
    /// Most received messages waiting in the inbound queue; more are
    /// dropped and counted as `over_cap`.
    pub max_inbound: usize,
    /// Most delivery codes recorded for peers that are not neighbours; a
    /// stranger's notice past it is counted as `over_cap`, not recorded.
    pub max_peer_inboxes: usize,
    /// Most accepted message signatures kept to catch exact replays
    /// within the message TTL.
    pub replay_capacity: usize,
    /// Bytes of answers (sync headers, content) one peer that is not a
    /// neighbour gets per `answer_window`; the excess counts as `over_cap`.
    pub stranger_answer_bytes: u64,
    /// The window of `stranger_answer_bytes`, seconds.
    pub answer_window: u64,
    /// Most strangers whose answer bytes are tracked in one window.
    pub max_answered_strangers: usize,
    /// The sealed-box cipher for outgoing messages.
    pub cipher: Cipher,
    /// The delivery code to start with; random when None.
    pub delivery_code: Option<[u8; DELIVERY_CODE_LEN]>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            bulletin_difficulty: DEFAULT_BULLETIN_DIFFICULTY,
            message_difficulty: DEFAULT_MESSAGE_DIFFICULTY,
            skew: DEFAULT_SKEW,
            seen_capacity: DEFAULT_SEEN_CAPACITY,
            max_sync_ids: DEFAULT_MAX_SYNC_IDS,
            max_inbound: DEFAULT_MAX_INBOUND,
            max_peer_inboxes: DEFAULT_MAX_PEER_INBOXES,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            stranger_answer_bytes: DEFAULT_STRANGER_ANSWER_BYTES,
            answer_window: DEFAULT_ANSWER_WINDOW,
            max_answered_strangers: DEFAULT_MAX_ANSWERED_STRANGERS,
            cipher: Cipher::default(),
            delivery_code: None,
        }
    }
}

/// Why the node could not do something.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeError {
    /// The bulletin store failed.
    Store(StoreError),
    /// A peer address is not a valid Ed25519 key.
    Key(KeyError),
    /// No nonce meets the difficulty (the whole nonce space was tried).
    Unmineable {
        /// The difficulty asked for.
        difficulty: u32,
    },
    /// A bulletin offered for publishing fails verification.
    Rejected(Reason),
    /// A message could not be sealed to its peer (see [`CryptoError`]).
    Seal(CryptoError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::Key(e) => write!(f, "bad peer address: {e}"),
            Self::Unmineable { difficulty } => {
                write!(f, "no nonce reaches difficulty {difficulty}")
            }
            Self::Rejected(r) => write!(f, "bulletin rejected: {r}"),
            Self::Seal(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            Self::Key(e) => Some(e),
            Self::Seal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<CryptoError> for NodeError {
    fn from(e: CryptoError) -> Self {
        Self::Seal(e)
    }
}

impl From<KeyError> for NodeError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

/// A message for a peer, sealed, signed and mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The peer (also `message.dst`).
    pub peer: Address,
    /// The operation inside the sealed body.
    pub op: Op,
    /// The message, ready for the wire.
    pub message: Message,
}

/// A received message, tagged with the connection it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// The neighbour it arrived from; None when unknown.
    pub from: Option<Address>,
    /// The message as received.
    pub message: Message,
    /// Its verdict, when the caller verified it already (in parallel, with
    /// [`Node::inbound_policy`]); None to verify it in the handler.
    pub verdict: Option<Verdict>,
}

/// A message waiting to be sent: its plain body is sealed to the peer,
/// signed and mined when the sender takes it, so a caller can prepare many
/// at once on all cores ([`Node::send_outbound_parallel`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The peer, and the message's dst.
    pub peer: Address,
    /// The operation.
    pub op: Op,
    /// Operation byte ‖ payload, before sealing.
    pub plain: Vec<u8>,
    /// The message ts.
    pub ts: u32,
    /// The peer's message difficulty.
    pub difficulty: u32,
}

/// A bulletin accepted and not seen before, waiting for the store.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NewBulletin {
    bulletin: Bulletin,
    from: Option<Address>,
    forward: bool,
}

/// A gossip node: state, queues and handlers. See the module docs.
pub struct Node {
    identity: Identity,
    config: NodeConfig,
    delivery_code: [u8; DELIVERY_CODE_LEN],
    topics: BTreeSet<Id>,
    seen: SeenSet,
    connections: BTreeMap<Address, Connection>,
    delivery_code_since: Option<u64>,
    peer_codes: BTreeMap<Address, [u8; DELIVERY_CODE_LEN]>,
    pending_sync: HashSet<(Address, Id)>,
    sync_asked: SyncAsked,
    outbound: VecDeque<Draft>,
    inbound: VecDeque<Inbound>,
    actions: VecDeque<Action>,
    new_bulletins: VecDeque<NewBulletin>,
    sent: Vec<Outbound>,
    delivered: Vec<Bulletin>,
    counters: Counters,
    replay: ReplaySet,
    answer_budget: AnswerBudget,
    store: Box<dyn BulletinStore>,
    sender: Box<dyn MessageSender>,
    message_handler: Box<dyn MessageHandler>,
    action_handler: Box<dyn ActionHandler>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.address())
            .field("topics", &self.topics.len())
            .field("connections", &self.connections)
            .field("pending", &self.pending())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with an in-memory store.
    pub fn new(identity: Identity, config: NodeConfig) -> Self {
        let delivery_code = config.delivery_code.unwrap_or_else(rand::random);
        let address = identity.address();
        let topics = BTreeSet::from([beacon_topic(), inbox_topic(&delivery_code, &address)]);
        Self {
            identity,
            seen: SeenSet::new(config.seen_capacity),
            replay: ReplaySet::new(config.replay_capacity),
            answer_budget: AnswerBudget::new(
                config.stranger_answer_bytes,
                config.answer_window,
                config.max_answered_strangers,
            ),
            config,
            delivery_code,
            topics,
            connections: BTreeMap::new(),
            delivery_code_since: None,
            peer_codes: BTreeMap::new(),
            pending_sync: HashSet::new(),
            sync_asked: SyncAsked::default(),
            outbound: VecDeque::new(),
            inbound: VecDeque::new(),
            actions: VecDeque::new(),
            new_bulletins: VecDeque::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
            counters: Counters::default(),
            store: Box::new(MemoryStore::new()),
            sender: Box::new(Outbox),
            message_handler: Box::new(VerifyingHandler),
            action_handler: Box::new(DefaultActionHandler),
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

    /// Replaces the message sender.
    pub fn set_message_sender(&mut self, sender: Box<dyn MessageSender>) {
        self.sender = sender;
    }

    /// Replaces the message handler.
    pub fn set_message_handler(&mut self, handler: Box<dyn MessageHandler>) {
        self.message_handler = handler;
    }

    /// Replaces the action handler.
    pub fn set_action_handler(&mut self, handler: Box<dyn ActionHandler>) {
        self.action_handler = handler;
    }

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

    /// Adds (or updates) a neighbour with its message difficulty.
    pub fn connect(&mut self, peer: Address, difficulty: u32) -> Result<(), KeyError> {
        self.connections
            .insert(peer, Connection::new(peer, difficulty)?);
        Ok(())
    }

    /// Drops a neighbour; true when it was one.
    pub fn disconnect(&mut self, peer: &Address) -> bool {
        self.connections.remove(peer).is_some()
    }

    /// The neighbours.
    pub fn neighbours(&self) -> impl Iterator<Item = &Connection> {
        self.connections.values()
    }

    /// The connection to `peer`, if it is a neighbour.
    pub fn connection(&self, peer: &Address) -> Option<&Connection> {
        self.connections.get(peer)
    }

    /// The message difficulty for `peer`: its connection's, else the
    /// configured default.
    pub fn difficulty_for(&self, peer: &Address) -> u32 {
        self.connections
            .get(peer)
            .map_or(self.config.message_difficulty, Connection::difficulty)
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
    pub fn record_peer_code(
        &mut self,
        peer: Address,
        code: [u8; DELIVERY_CODE_LEN],
        now: u64,
    ) -> Result<bool, StoreError> {
        let known = self.connections.contains_key(&peer) || self.peer_codes.contains_key(&peer);
        if !known && self.recorded_strangers() >= self.config.max_peer_inboxes {
            self.counters.over_cap += 1;
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

    /// Queues a received message, tagged as coming from its src.
    pub fn receive(&mut self, message: Message) {
        let from = Some(message.src);
        self.push_inbound(Inbound {
            from,
            message,
            verdict: None,
        });
    }

    /// Queues a received message from a known connection.
    pub fn receive_from(&mut self, peer: Address, message: Message) {
        self.push_inbound(Inbound {
            from: Some(peer),
            message,
            verdict: None,
        });
    }

    /// Queues an inbound item, or drops it (counted as received and
    /// `over_cap`) when `max_inbound` items are already waiting.
    fn push_inbound(&mut self, item: Inbound) {
        if self.inbound.len() >= self.config.max_inbound {
            self.counters.received += 1;
            self.counters.over_cap += 1;
            return;
        }
        self.inbound.push_back(item);
    }

    /// Queues packed message bytes; bytes that are not a message are
    /// counted as received and malformed.
    pub fn receive_bytes(&mut self, bytes: &[u8]) {
        match Message::unpack(bytes) {
            Ok(m) => self.receive(m),
            Err(_) => {
                self.counters.received += 1;
                self.counters.malformed += 1;
            }
        }
    }

    /// Queues a received message with the verdict the caller computed for
    /// it under [`Node::inbound_policy`] (e.g. with
    /// [`verify::verify_messages`] over a batch).
    pub fn receive_verified(&mut self, message: Message, verdict: Verdict) {
        let from = Some(message.src);
        self.push_inbound(Inbound {
            from,
            message,
            verdict: Some(verdict),
        });
    }

    /// The policy the node verifies `message` under at `now`.
    pub fn inbound_policy(&self, message: &Message, now: u64) -> Policy {
        self.policy(now, self.difficulty_for(&message.src))
    }

    /// Tells the store the caller has written these deliveries out (see
    /// [`Node::pending_deliveries`]).
    pub fn confirm_delivered(&mut self, keys: &[Key]) -> Result<(), StoreError> {
        self.store.confirm_delivered(keys)
    }

    /// Deliveries the store recorded but the caller never confirmed: after
    /// a crash, the ones that may not have reached the output.
    pub fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.store.pending_deliveries()
    }

    /// Counts messages the caller took from [`Node::take_sent`] but could
    /// not hand to their peer (see [`Counters::unsent`]).
    pub fn count_unsent(&mut self, messages: u64) {
        self.counters.unsent += messages;
    }

    /// Takes back from the `delivered` count bulletins the caller could not
    /// write out: delivered means written to the delivery output.
    pub fn count_not_delivered(&mut self, bulletins: u64) {
        self.counters.delivered = self.counters.delivered.saturating_sub(bulletins);
    }

    /// Counts an input object the caller could not even decode.
    pub fn count_malformed(&mut self) {
        self.counters.received += 1;
        self.counters.malformed += 1;
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

    /// Queues an action for the action handler.
    pub fn queue_action(&mut self, action: Action) {
        self.actions.push_back(action);
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

    /// Records a bulletin key (topic id, content id) as seen until `expires`, in memory and store.
    pub fn mark_as_seen(&mut self, key: Key, expires: u64) -> Result<(), StoreError> {
        self.store.mark_seen(&key, expires)?;
        self.seen.insert(key, expires);
        Ok(())
    }

    /// Whether a bulletin key (topic id, content id) is in the seen set at `now`.
    pub fn has_seen(&self, key: &Key, now: u64) -> bool {
        self.seen.contains(key, now)
    }

    /// Forgets expired seen ids and removes expired bulletins from the
    /// store; returns how many bulletins went.
    pub fn delete_old_content(&mut self, now: u64) -> Result<usize, StoreError> {
        self.seen.purge(now);
        self.store.remove_expired(now)
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
        self.outbound.len() + self.inbound.len() + self.actions.len() + self.new_bulletins.len()
    }

    /// Takes the messages the sender parked for peers (default sender).
    pub fn take_sent(&mut self) -> Vec<Outbound> {
        std::mem::take(&mut self.sent)
    }

    /// Takes the bulletins delivered since the last call.
    pub fn take_delivered(&mut self) -> Vec<Bulletin> {
        std::mem::take(&mut self.delivered)
    }

    /// Parks a message for the caller (used by [`Outbox`]).
    pub fn park_sent(&mut self, item: Outbound) {
        self.sent.push(item);
    }

    /// One round: one item off each queue, in the order outbound (sender),
    /// inbound (message handler), actions (action handler), new bulletins
    /// (store, then delivery and forwarding). True when anything was done.
    pub fn process(&mut self, now: u64) -> Result<bool, NodeError> {
        self.seen.purge(now);
        let mut busy = false;
        if let Some(draft) = self.outbound.pop_front() {
            busy = true;
            let item = prepare(&self.identity, &self.connections, self.config.cipher, draft);
            self.hand_prepared(item)?;
        }
        if let Some(item) = self.inbound.pop_front() {
            busy = true;
            let mut handler =
                std::mem::replace(&mut self.message_handler, Box::new(VerifyingHandler));
            let result = handler.handle(self, item, now);
            self.message_handler = handler;
            result?;
        }
        if let Some(action) = self.actions.pop_front() {
            busy = true;
            let mut handler =
                std::mem::replace(&mut self.action_handler, Box::new(DefaultActionHandler));
            let result = handler.handle(self, action, now);
            self.action_handler = handler;
            result?;
        }
        if let Some(nb) = self.new_bulletins.pop_front() {
            busy = true;
            self.handle_new_bulletin(nb, now)?;
        }
        Ok(busy)
    }

    /// Like [`Node::process`] without the outbound step: one item off the
    /// inbound, action and new-bulletin queues. True when anything was done.
    pub fn process_inputs(&mut self, now: u64) -> Result<bool, NodeError> {
        let outbound = std::mem::take(&mut self.outbound);
        let result = self.process(now);
        let mut made = std::mem::replace(&mut self.outbound, outbound);
        self.outbound.append(&mut made);
        result
    }

    /// Prepares every queued draft on all cores (seal, sign, mine) and
    /// hands them to the sender in queue order. Returns how many were sent.
    pub fn send_outbound_parallel(&mut self) -> Result<usize, NodeError> {
        let drafts: Vec<Draft> = self.outbound.drain(..).collect();
        let (identity, connections, cipher) =
            (&self.identity, &self.connections, self.config.cipher);
        let prepared: Vec<Result<Outbound, NodeError>> = drafts
            .into_par_iter()
            .map(|d| prepare(identity, connections, cipher, d))
            .collect();
        let sent = prepared.len();
        for item in prepared {
            self.hand_prepared(item)?;
        }
        Ok(sent)
    }

    /// Runs the input queues to completion, preparing the messages they
    /// make in parallel batches; the same outcome as
    /// [`Node::run_until_idle`], faster on several cores.
    pub fn run_until_idle_parallel(&mut self, now: u64) -> Result<(), NodeError> {
        loop {
            while self.process_inputs(now)? {}
            if self.outbound.is_empty() {
                return Ok(());
            }
            self.send_outbound_parallel()?;
        }
    }

    /// Gives a prepared message to the sender; a stranger that cannot be
    /// sealed to (a key with a torsion component: it verifies, but libsodium
    /// will not seal to it) gets nothing, counted as `unsent`.
    fn hand_prepared(&mut self, item: Result<Outbound, NodeError>) -> Result<(), NodeError> {
        match item {
            Ok(item) => self.hand_to_sender(item),
            Err(NodeError::Key(_) | NodeError::Seal(_)) => {
                self.counters.unsent += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Gives a prepared message to the sender.
    fn hand_to_sender(&mut self, item: Outbound) -> Result<(), NodeError> {
        self.counters.sent += 1;
        let mut sender = std::mem::replace(&mut self.sender, Box::new(Outbox));
        let result = sender.send(self, item);
        self.sender = sender;
        result
    }

    /// Processes until every queue is empty; returns the rounds run.
    pub fn run_until_idle(&mut self, now: u64) -> Result<usize, NodeError> {
        let mut rounds = 0;
        while self.process(now)? {
            rounds += 1;
        }
        Ok(rounds)
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
}

/// Seals, signs and mines a draft, with the peer's cached key when it is a
/// neighbour.
fn prepare(
    identity: &Identity,
    connections: &BTreeMap<Address, Connection>,
    cipher: Cipher,
    d: Draft,
) -> Result<Outbound, NodeError> {
    let stranger;
    let key = match connections.get(&d.peer) {
        Some(c) => c.key(),
        None => {
            stranger = PeerKey::recipient(&d.peer)?;
            &stranger
        }
    };
    let message = prepare_message(identity, key, d.peer, &d.plain, d.ts, d.difficulty, cipher)?;
    Ok(Outbound {
        peer: d.peer,
        op: d.op,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PeerKey;
    use crate::keys::Seed;

    fn node() -> Node {
        Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig::default(),
        )
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
        n.connect(peer, 1).unwrap();
        n.request_sync(peer, [1; 32]);
        n.request_sync(peer, [2; 32]);
        assert_eq!(n.pending(), 2);
        assert!(n.process(0).unwrap());
        assert_eq!(n.pending(), 2, "one action done, one message queued");
        assert!(n.process(0).unwrap());
        assert_eq!(
            n.take_sent().len(),
            1,
            "the sender runs before the action handler"
        );
        assert_eq!(n.run_until_idle(0).unwrap(), 1);
        assert_eq!(n.take_sent().len(), 1);
        assert!(!n.process(0).unwrap());
        assert_eq!(n.counters().sent, 2);
    }

    #[test]
    fn an_action_handler_overrides_one_method() {
        struct NoSync;
        impl ActionHandler for NoSync {
            fn request_sync_headers(
                &mut self,
                _: &mut Node,
                _: Address,
                _: Id,
                _: u64,
            ) -> Result<(), NodeError> {
                Ok(())
            }
        }
        let mut n = node();
        n.set_action_handler(Box::new(NoSync));
        let peer = Identity::from_seed(&Seed::generate()).address();
        n.request_sync(peer, [1; 32]);
        n.run_until_idle(0).unwrap();
        assert!(n.take_sent().is_empty());
    }

    #[test]
    fn bad_peer_and_bad_bulletin_are_errors() {
        let mut n = node();
        let invalid = (0..=255u8)
            .map(|i| Address([i; 32]))
            .find(|a| PeerKey::new(a).is_err());
        assert!(
            n.connect(invalid.expect("some pattern is not a point"), 1)
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
    fn seen_ids_expire() {
        let mut n = node();
        n.mark_as_seen(([1; 32], [3; 32]), 50).unwrap();
        assert!(n.has_seen(&([1; 32], [3; 32]), 49));
        assert!(!n.has_seen(&([2; 32], [3; 32]), 49), "another topic");
        assert!(!n.has_seen(&([1; 32], [3; 32]), 50));
        assert_eq!(n.delete_old_content(50).unwrap(), 0);
    }
}
