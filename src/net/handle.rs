//! The application's handle: [`Gossip`], built with [`Builder`]; and the
//! stream of a topic's bulletins, [`Subscription`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::driver::{Driver, Flow, Host, Step};
use super::network::Network;
use super::{Endpoint, Limits, NetAddr, NetError, NoticeLog};
use crate::Timestamp;
use crate::bulletin::Bulletin;
use crate::crypto::Identity;
use crate::ids::{BulletinKey, TopicId};
use crate::keys::Address;
use crate::node::{Node, NodeConfig, NodeError};
use crate::session::Session;
use crate::store::BulletinStore;

/// Largest frame read from a peer, by default: 24 MiB, the relay's
/// largest TCP object. A longer length prefix closes the connection
/// before anything is reserved for it.
pub const DEFAULT_MAX_FRAME: usize = 24 << 20;
/// Bytes queued to send on one connection, by default (8 MiB).
pub const DEFAULT_SEND_QUEUE: usize = 8 << 20;
/// Bytes queued to send on all connections together, by default (64 MiB).
pub const DEFAULT_SEND_TOTAL: usize = 64 << 20;
/// Bytes of whole frames read and not yet handled, all connections
/// together, by default (32 MiB).
pub const DEFAULT_IN_FLIGHT: usize = 32 << 20;
/// Accepted connections kept at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// How long an accepted connection may go without a verified message
/// before it is closed, by default.
pub const DEFAULT_BIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may go without a whole message, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long shutdown waits for queued frames to be written, by default.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// Bulletins a subscription holds that its reader has not taken, by
/// default; past it, the subscription misses new ones.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;

/// Builds a [`Gossip`] handle: an identity, a store, where to listen and
/// whom to dial, and the bounds. [`Builder::spawn`] checks the settings,
/// binds the listeners and starts the engine on the current tokio runtime.
#[must_use]
pub struct Builder {
    identity: Identity,
    config: NodeConfig,
    store: Option<Box<dyn BulletinStore>>,
    listen: Vec<NetAddr>,
    connect: Vec<(Address, NetAddr)>,
    limits: Limits,
    subscription_capacity: usize,
}

impl Builder {
    /// The engine's settings (difficulties, caps); the default otherwise.
    pub fn node_config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// The store the node keeps bulletins in (any [`BulletinStore`]; an
    /// in-memory one otherwise).
    pub fn store(mut self, store: impl BulletinStore + 'static) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Listens at `addr` (`HOST:PORT`, port 0 for any; or `unix:PATH`).
    /// Peers that connect here are learned from their first verified
    /// message.
    pub fn listen(mut self, addr: NetAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Dials `peer` at `addr` and keeps the link up (redialing with
    /// backoff). The peer's address is needed up front: messages to it
    /// are sealed to it.
    pub fn connect(mut self, peer: Address, addr: NetAddr) -> Self {
        self.connect.push((peer, addr));
        self
    }

    /// Largest frame taken from a peer, in bytes (at most the input budget
    /// and 64 MiB); a longer length prefix closes the connection.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.limits.max_frame = bytes;
        self
    }

    /// Bytes queued to send on one connection; more is not sent to it.
    pub fn send_queue(mut self, bytes: usize) -> Self {
        self.limits.send_queue = bytes;
        self
    }

    /// Bytes queued to send on all connections together.
    pub fn send_total(mut self, bytes: usize) -> Self {
        self.limits.send_total = bytes;
        self
    }

    /// Bytes of frames read and not yet handled, all connections together;
    /// past it, connections are read no further until the engine catches
    /// up.
    pub fn in_flight(mut self, bytes: usize) -> Self {
        self.limits.in_flight = bytes;
        self
    }

    /// Accepted connections kept at once.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// How long an accepted connection may go without a verified message.
    pub fn bind_timeout(mut self, timeout: Duration) -> Self {
        self.limits.bind_timeout = timeout;
        self
    }

    /// How long a connection may go without a whole frame.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How long [`Gossip::shutdown`] waits for queued frames to go out.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.limits.shutdown_deadline = deadline;
        self
    }

    /// Bulletins a subscription holds before it misses new ones.
    pub fn subscription_capacity(mut self, bulletins: usize) -> Self {
        self.subscription_capacity = bulletins;
        self
    }

    /// Checks the settings, binds every listener and starts dialing and
    /// the engine, on the current tokio runtime. Fails when a setting is
    /// out of range, a listener cannot be bound, a dialed peer's address
    /// is not a key, or the store fails.
    pub async fn spawn(self) -> Result<Gossip, NetError> {
        if self.subscription_capacity == 0 {
            return Err(NetError::Config(
                "subscription_capacity must be at least 1".into(),
            ));
        }
        let mut endpoint = Endpoint::new(self.limits.clone())?;
        let mut node = match self.store {
            Some(store) => Node::with_store(self.identity, self.config, store, Timestamp::now())?,
            None => Node::new(self.identity, self.config),
        };
        let difficulty = node.config().message_difficulty;
        let mut session = Session::new(self.limits.session_config());
        for (peer, _) in &self.connect {
            node.add_neighbour(*peer, difficulty)?;
            session.expect(*peer);
        }
        for addr in &self.listen {
            if let Err(e) = endpoint.listen(addr, difficulty).await {
                endpoint.shutdown(Duration::ZERO).await;
                return Err(e);
            }
        }
        for (peer, addr) in self.connect {
            endpoint.connect(peer, addr, difficulty);
        }
        let address = node.address();
        let local = endpoint.local_addrs().to_vec();
        let (commands_tx, commands) = mpsc::channel(64);
        let stop = CancellationToken::new();
        set_sync_topics(&mut node);
        let engine = Engine {
            subscribers: HashMap::new(),
            commands,
            stop: stop.clone(),
            notices: NoticeLog::new(false),
        };
        let driver = Driver::new(node, Network::new(endpoint, session), engine);
        let engine = tokio::spawn(driver.run(self.limits.shutdown_deadline));
        Ok(Gossip {
            inner: Arc::new(Inner {
                address,
                local,
                commands: commands_tx,
                stop,
                engine: Mutex::new(Some(engine)),
                subscription_capacity: self.subscription_capacity,
            }),
        })
    }
}

/// What the handle asks of its engine.
enum Command {
    Publish {
        topic: TopicId,
        content: Vec<u8>,
        reply: oneshot::Sender<Result<Bulletin, NetError>>,
    },
    Subscribe {
        topic: TopicId,
        capacity: usize,
        reply: oneshot::Sender<mpsc::Receiver<Bulletin>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<Address>>,
    },
}

/// The handle's side of the [`Driver`]: its commands are the inputs, its
/// subscribers where deliveries go. It stops when the handle shuts down
/// or every handle is dropped.
struct Engine {
    /// Each followed topic's subscribers.
    subscribers: HashMap<TopicId, Vec<mpsc::Sender<Bulletin>>>,
    commands: mpsc::Receiver<Command>,
    /// Cancelled by [`Gossip::shutdown`].
    stop: CancellationToken,
    /// The network's notices, in the application's log if it keeps one.
    notices: NoticeLog,
}

/// Sync asks a peer about every topic followed (the beacon and this
/// node's inbox included), so a dialer always has something to say and
/// the listener learns it from that first verified message.
fn set_sync_topics(node: &mut Node) {
    let topics: Vec<TopicId> = node.topics().copied().collect();
    node.set_sync_topics(topics);
}

impl Host for Engine {
    /// A command; None once the handle stops.
    type Input = Option<Command>;
    type Error = NetError;

    async fn input(&mut self) -> Option<Command> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            command = self.commands.recv() => command,
        }
    }

    fn take(
        &mut self,
        command: Option<Command>,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<Flow, NetError> {
        match command {
            None => return Ok(Flow::Stop),
            Some(Command::Publish {
                topic,
                content,
                reply,
            }) => {
                let published = node
                    .publish_new(topic, content, Timestamp::now())
                    .map_err(NetError::from);
                let _ = reply.send(published);
            }
            Some(Command::Subscribe {
                topic,
                capacity,
                reply,
            }) => {
                let (tx, rx) = mpsc::channel(capacity);
                self.subscribers.entry(topic).or_default().push(tx);
                if !node.follows(&topic) {
                    node.subscribe(topic);
                    set_sync_topics(node);
                    // What the peers already hold on it comes by sync.
                    for peer in network.connected() {
                        node.request_sync(peer, topic);
                    }
                }
                let _ = reply.send(rx);
            }
            Some(Command::Peers { reply }) => {
                let _ = reply.send(network.connected());
            }
        }
        Ok(Flow::Continue)
    }

    /// Hands each bulletin to its topic's subscribers. A subscriber whose
    /// queue is full misses it; one that is gone is forgotten, and a topic
    /// nobody subscribes to any more is left.
    fn deliver(
        &mut self,
        bulletins: Vec<Bulletin>,
        node: &mut Node,
        _: &mut Network,
    ) -> Result<(), NetError> {
        let keys: Vec<BulletinKey> = bulletins.iter().map(Bulletin::key).collect();
        for bulletin in bulletins {
            let Some(subs) = self.subscribers.get_mut(&bulletin.topic) else {
                continue;
            };
            subs.retain(|tx| !tx.is_closed());
            for tx in subs.iter() {
                let _ = tx.try_send(bulletin.clone());
            }
            if subs.is_empty() {
                self.subscribers.remove(&bulletin.topic);
                node.unsubscribe(&bulletin.topic);
                set_sync_topics(node);
            }
        }
        node.confirm_delivered(&keys).map_err(NodeError::from)?;
        Ok(())
    }

    /// The network's notices go to the log ([`tracing`]): an application
    /// sees them once it installs a subscriber.
    fn ran(&mut self, _: &mut Node, network: &mut Network) -> Result<Flow, NetError> {
        self.notices.log(network);
        Ok(Flow::Continue)
    }

    fn failed(&mut self, _: Step, error: NodeError) -> NetError {
        NetError::Node(error)
    }
}

/// A running gossip node on the network: cheap to clone (every clone is
/// the same node). Publish, subscribe, see the peers, shut down. When the
/// last clone is dropped the node shuts down as [`Gossip::shutdown`] does,
/// unwaited.
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

struct Inner {
    address: Address,
    local: Vec<NetAddr>,
    commands: mpsc::Sender<Command>,
    stop: CancellationToken,
    engine: Mutex<Option<JoinHandle<Result<(), NetError>>>>,
    subscription_capacity: usize,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("address", &self.inner.address)
            .field("listening", &self.inner.local)
            .finish_non_exhaustive()
    }
}

impl Gossip {
    /// A builder for a node with `identity`.
    pub fn builder(identity: Identity) -> Builder {
        Builder {
            identity,
            config: NodeConfig::default(),
            store: None,
            listen: Vec::new(),
            connect: Vec::new(),
            limits: Limits::default(),
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
        }
    }

    /// This node's address: what a peer passes to [`Builder::connect`].
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// The addresses listened on, as bound (a TCP port 0 replaced by the
    /// port the system gave).
    pub fn local_addrs(&self) -> &[NetAddr] {
        &self.inner.local
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(make(reply))
            .await
            .map_err(|_| NetError::Closed)?;
        answer.await.map_err(|_| NetError::Closed)
    }

    /// Publishes `content` on `topic`: a bulletin made now, mined to the
    /// node's bulletin difficulty, stored, delivered to this node's own
    /// subscribers of the topic and forwarded to every connected peer.
    /// Returns the bulletin as published.
    pub async fn publish(
        &self,
        topic: TopicId,
        content: impl Into<Vec<u8>>,
    ) -> Result<Bulletin, NetError> {
        let content = content.into();
        self.ask(|reply| Command::Publish {
            topic,
            content,
            reply,
        })
        .await?
    }

    /// Follows `topic`: the bulletins delivered on it from now on, each
    /// once, as a [`Stream`]. Connected peers are asked for what they hold
    /// on it. Dropping every subscription of a topic stops following it.
    pub async fn subscribe(&self, topic: TopicId) -> Result<Subscription, NetError> {
        let capacity = self.inner.subscription_capacity;
        let rx = self
            .ask(|reply| Command::Subscribe {
                topic,
                capacity,
                reply,
            })
            .await?;
        Ok(Subscription { topic, rx })
    }

    /// The peers with a connection up: dialed ones once connected, and
    /// those that connected here once a message of theirs verified.
    pub async fn peers(&self) -> Result<Vec<Address>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Shuts down: no more reading, accepting or dialing; what is queued
    /// for peers is written until the shutdown deadline, then every
    /// connection is dropped and Unix socket files are removed. Returns
    /// the engine's error if it had stopped on one; a second call (or one
    /// on another clone) returns at once.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.inner.stop.cancel();
        let engine = self.inner.engine.lock().ok().and_then(|mut e| e.take());
        match engine {
            Some(engine) => engine.await.unwrap_or(Err(NetError::Closed)),
            None => Ok(()),
        }
    }
}

/// The bulletins delivered on one topic, in order, each once: a
/// [`Stream`], or [`Subscription::recv`]. If its reader falls behind by
/// the subscription capacity, it misses bulletins rather than hold more.
#[derive(Debug)]
pub struct Subscription {
    topic: TopicId,
    rx: mpsc::Receiver<Bulletin>,
}

impl Subscription {
    /// The topic.
    pub fn topic(&self) -> TopicId {
        self.topic
    }

    /// The next bulletin; `None` once the handle has shut down.
    pub async fn recv(&mut self) -> Option<Bulletin> {
        self.rx.recv().await
    }
}

impl Stream for Subscription {
    type Item = Bulletin;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bulletin>> {
        self.rx.poll_recv(cx)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            send_queue: DEFAULT_SEND_QUEUE,
            send_total: DEFAULT_SEND_TOTAL,
            in_flight: DEFAULT_IN_FLIGHT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            bind_timeout: DEFAULT_BIND_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
        }
    }
}
