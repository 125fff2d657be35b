//! `gossip sync`: one-shot reconciliation of a store with one peer over TCP.
//!
//! The node engine does the protocol: it asks about each topic (set
//! reconciliation when the peer accepts the advertisement, the full list
//! otherwise), fetches what it lacks and, with `--dir up`, pushes what the
//! peer lacks (`NodeConfig::sync_push`). This module dials the peer and
//! drives one connection on the library's network endpoint (the framing,
//! the byte bound on what is read), bounds what it queues for the peer,
//! watches the engine through
//! [`Hooks`], and decides when a topic is done:
//!
//! - **reconciled:** once the transfers a round found are over (every id
//!   fetched arrived, every push written), it asks again; a round that
//!   finds nothing left to move the way `--dir` says ends the topic in
//!   sync;
//! - **full list** (a peer without reconciliation, or after the fallback):
//!   once the pages stop coming, every offered id must be held and, up,
//!   what the peer did not offer is pushed.
//!
//! Whatever is not done by `--timeout` is a difference that remains.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use gossip::Address;
use gossip::Bulletin;
use gossip::RawMessage;
use gossip::net::{ConnEvent, Ended, Endpoint, NetAddr};
use gossip::node::{Acceptance, Action, Event, HookError, Hooks, Node, NodeConfig};
use gossip::pow::DEFAULT_MESSAGE_DIFFICULTY;
use gossip::session::ConnId;
use gossip::store::{SqliteStore, StoreError};
use gossip::{BulletinKey, ContentId, TopicId, topic_id};
use gossip::{Op, Payload};
use serde_json::json;
use tokio::runtime::Runtime;
use tokio_util::bytes::Bytes;

use super::flags::{AcceptArgs, ConnectSpec, KeyArgs, NowArgs, StoreDbArgs, TextOutputArgs};
use super::io::{
    CmdResult, Failure, config_failure, load_identity, now, regular_file, stdout, write_err,
};
use super::relay::net::{Settings, limits, runtime};
use super::value::{self, HexBytes};
use gossip::Timestamp;

/// Which way `gossip sync` moves bulletins.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncDir {
    /// Fetch what the local store lacks from the peer.
    Down,
    /// Push what the peer lacks to it.
    Up,
    /// Both.
    Both,
}

impl SyncDir {
    /// Whether bulletins are fetched from the peer.
    pub fn down(self) -> bool {
        self != Self::Up
    }

    /// Whether bulletins are pushed to the peer.
    pub fn up(self) -> bool {
        self != Self::Down
    }
}

/// One-shot reconciliation of a store with one peer, for cron, CI and bulk loading.
///
/// Dials the peer, syncs each topic (set reconciliation when the peer speaks
/// it, the full list of ids otherwise) and moves bulletins the way --dir says,
/// then checks the result with another round. Prints what moved, per topic.
/// Exit 0 when, for every topic, nothing is left to move the way --dir says
/// (down: the store holds every id the peer has; up: the peer holds every id
/// the store has; both: the same set); 1 when differences remain or --timeout
/// ran out; 4 when the peer cannot be reached or the store fails; 130 or 143
/// on SIGINT or SIGTERM (what moved so far is printed).
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("topics").required(true).multiple(true).args(["topic", "topic_id"]))]
pub struct SyncArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// The peer: its address, HOST:PORT (or unix:PATH), and /BITS its message difficulty (default -d).
    #[arg(long, value_name = "ADDR@HOST:PORT[/BITS]", value_parser = value::parsed::<ConnectSpec>("--connect"))]
    pub connect: ConnectSpec,
    /// A topic to sync, by descriptor. Repeatable.
    #[arg(long = "topic", value_name = "DESC")]
    pub topic: Vec<String>,
    /// A topic to sync, by id (64 hex digits). Repeatable.
    #[arg(long = "topic-id", value_name = "HEX",
          value_parser = value::parsed::<HexBytes<32>>("--topic-id"))]
    pub topic_id: Vec<HexBytes<32>>,
    /// Which way bulletins move: down fetches what the store lacks, up pushes what the peer lacks, both does both.
    #[arg(long, value_enum, default_value_t = SyncDir::Down)]
    pub dir: SyncDir,
    /// At the end, print the content ids still missing on either side (those known).
    #[arg(long)]
    pub print_missing: bool,
    /// Give up after SECS in all (exit 1), connecting included.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Message difficulty asked of and used towards the peer (its /BITS overrides).
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=32))]
    pub difficulty: u32,
    #[command(flatten)]
    pub accept: AcceptArgs,
    #[command(flatten)]
    pub now: NowArgs,
    /// text: a line per topic for people; json: one sync object per topic.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

/// A full-list answer is taken as whole once no page has come for this long.
const QUIET: Duration = Duration::from_secs(1);

/// Progress goes to stderr once a sync has run this long, and this often.
const PROGRESS_AFTER: Duration = Duration::from_secs(2);

/// Bytes queued for the peer at most; what does not fit waits here.
const SEND_QUEUE: usize = 16 << 20;

/// Ids read from the store at once when listing a topic.
const PAGE: usize = 16_384;

pub fn run(args: SyncArgs) -> CmdResult {
    let signal = watch_signals()?;
    let mut sync = Sync::build(&args)?;
    let outcome = sync.run(&args, &signal);
    sync.finish(outcome, &args)
}

/// What the engine showed the hooks, for the driver to read.
struct Watch {
    peer: Address,
    topics: HashSet<TopicId>,
    down: bool,
    up: bool,
    /// Ids the peer offered under each topic since the topic was last asked.
    offered: HashMap<TopicId, HashSet<ContentId>>,
    /// When a respond_sync_headers page for each topic last came.
    pages: HashMap<TopicId, Instant>,
    /// Bulletins new here that came from the peer, by topic.
    arrived: HashMap<TopicId, HashSet<ContentId>>,
}

impl Hooks for Watch {
    fn accept_message(
        &mut self,
        message: &RawMessage,
        payload: &Payload,
        _now: u64,
    ) -> Result<Acceptance, HookError> {
        if message.src == self.peer
            && let Payload::Sync(Op::RespondSyncHeaders, topic, _) = payload
        {
            self.pages.insert(*topic, Instant::now());
        }
        Ok(Acceptance::Accept)
    }

    /// Fetches only down and answers the peer's questions only up, and
    /// only about the topics asked for.
    fn before_action(&mut self, action: &Action, _now: u64) -> Result<Acceptance, HookError> {
        let wanted = match action {
            Action::RequestContent { peer, topic, ids } => {
                let ours = *peer == self.peer && self.topics.contains(topic);
                if ours {
                    self.offered.entry(*topic).or_default().extend(ids);
                }
                ours && self.down
            }
            Action::RespondSyncHeaders { topic, .. } => self.up && self.topics.contains(topic),
            Action::RespondContent { .. } => self.up,
            _ => true,
        };
        // Not the peer's fault: this side's own choice of direction.
        Ok(if wanted {
            Acceptance::Accept
        } else {
            Acceptance::Ignore
        })
    }

    fn accept_bulletin(
        &mut self,
        bulletin: &Bulletin,
        from: Option<&Address>,
        _now: u64,
    ) -> Result<Acceptance, HookError> {
        if from == Some(&self.peer) && self.topics.contains(&bulletin.topic) {
            self.arrived
                .entry(bulletin.topic)
                .or_default()
                .insert(bulletin.content_id);
        }
        Ok(Acceptance::Accept)
    }
}

/// How a topic was synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Reconcile,
    FullList,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Reconcile => "reconcile",
            Self::FullList => "full_list",
        }
    }
}

/// Where a topic stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Asked; waiting for the round's result.
    Asked,
    /// The round's transfers under way.
    Transfer,
    /// Finished: in sync or not.
    Done { in_sync: bool },
}

/// One topic's sync.
struct Topic {
    id: TopicId,
    /// The descriptor, when given by one.
    name: Option<String>,
    phase: Phase,
    method: Option<Method>,
    /// Requests made (the first and every check after it).
    asked: u32,
    /// Negentropy round trips, bytes of reconcile payloads each way, over
    /// every request.
    rounds: u32,
    bytes_sent: u64,
    bytes_received: u64,
    /// Ids the last round found missing here, not arrived yet.
    missing_here: HashSet<ContentId>,
    /// How many the last round found missing at the peer, and those known.
    missing_there: u64,
    missing_there_ids: HashSet<ContentId>,
    /// Ids pushed (distinct), and those pushed this round.
    pushed: HashSet<ContentId>,
    pushed_round: HashSet<ContentId>,
}

impl Topic {
    fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| hex::encode(self.id))
    }
}

/// How the loop ended.
enum Outcome {
    /// Every topic is done.
    Done,
    /// `--timeout` ran out.
    TimedOut,
    /// The connection ended first.
    Lost(Ended),
    /// SIGINT or SIGTERM.
    Signal(i32),
}

/// One sync: the node, the connection, the topics.
struct Sync {
    node: Node<Watch>,
    peer: Address,
    addr: NetAddr,
    difficulty: u32,
    topics: Vec<Topic>,
    started: Instant,
    deadline: Instant,
    /// Packed messages that did not fit the send queue yet, in order.
    backlog: VecDeque<Bytes>,
    /// The connection, once up, and the bytes queued on it.
    net: Option<(Runtime, Endpoint)>,
    conn: Option<ConnId>,
    queued: usize,
    printed: usize,
}

/// Starts a thread that records the first SIGINT or SIGTERM; a second one
/// ends the process at once.
fn watch_signals() -> Result<Arc<AtomicI32>, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::io("cannot install signal handlers", e))?;
    let seen = Arc::new(AtomicI32::new(0));
    let flag = Arc::clone(&seen);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if flag.swap(signal, Ordering::SeqCst) != 0 {
                std::process::exit(128 + signal);
            }
        }
    });
    Ok(seen)
}

fn store_failure(e: StoreError) -> Failure {
    Failure::io("sync: store", e)
}

impl Sync {
    /// Opens the store and sets the node up.
    fn build(args: &SyncArgs) -> Result<Self, Failure> {
        let identity = load_identity(&args.key.key)?;
        let config = NodeConfig::builder()
            .bulletin_difficulty(args.accept.bulletin_difficulty)
            .message_difficulty(args.difficulty)
            .skew(Duration::from_secs(args.accept.skew))
            .sync_push(args.dir.up())
            // A peer that never answers the advertisement leaves time for
            // the full list within --timeout.
            .reconcile_timeout(Duration::from_secs(args.timeout / 3).clamp(
                Duration::from_secs(1),
                gossip::node::DEFAULT_RECONCILE_TIMEOUT,
            ))
            .build()
            .map_err(config_failure)?;
        let path = args.db.path();
        if path.exists() {
            regular_file(path, &format!("sync: cannot open store {}", path.display()))?;
        }
        let store =
            SqliteStore::open(path).map_err(|e| super::store::open_failure("sync", path, &e))?;
        let peer = args.connect.peer;
        let difficulty = args.connect.difficulty.unwrap_or(args.difficulty);
        let mut topics: Vec<Topic> = Vec::new();
        let named = args
            .topic
            .iter()
            .map(|d| (topic_id(d.as_bytes()), Some(d.clone())));
        let by_id = args
            .topic_id
            .iter()
            .map(|h| (TopicId::from_bytes(h.0), None));
        for (id, name) in named.chain(by_id) {
            if topics.iter().all(|t| t.id != id) {
                topics.push(Topic {
                    id,
                    name,
                    phase: Phase::Asked,
                    method: None,
                    asked: 0,
                    rounds: 0,
                    bytes_sent: 0,
                    bytes_received: 0,
                    missing_here: HashSet::new(),
                    missing_there: 0,
                    missing_there_ids: HashSet::new(),
                    pushed: HashSet::new(),
                    pushed_round: HashSet::new(),
                });
            }
        }
        let watch = Watch {
            peer,
            topics: topics.iter().map(|t| t.id).collect(),
            down: args.dir.down(),
            up: args.dir.up(),
            offered: HashMap::new(),
            pages: HashMap::new(),
            arrived: HashMap::new(),
        };
        let node = Node::with_store(identity, config, Box::new(store), now(&args.now))
            .map_err(|e| Failure::io(format!("cannot read store {}", path.display()), e))?
            .with_hooks(watch);
        let mut node = node;
        node.add_neighbour(peer, difficulty)
            .map_err(|e| Failure::usage(format!("bad --connect address {peer}"), e))?;
        let started = Instant::now();
        Ok(Self {
            node,
            peer,
            addr: args.connect.addr.clone(),
            difficulty,
            topics,
            started,
            deadline: started + Duration::from_secs(args.timeout),
            backlog: Default::default(),
            net: None,
            conn: None,
            queued: 0,
            printed: 0,
        })
    }

    /// Dials the peer, asks about every topic and runs until every topic
    /// is done, the time runs out, the connection ends or a signal comes.
    fn run(&mut self, args: &SyncArgs, signal: &AtomicI32) -> Result<Outcome, Failure> {
        let (peer, difficulty) = (self.peer, self.difficulty);
        let runtime = runtime("sync")?;
        // The connection gives up on a peer that sends nothing whole as
        // long as the sync may last.
        let mut limits = limits(&Settings {
            listen: Vec::new(),
            connect: Vec::new(),
            max_connections: 1,
            bind_timeout: Duration::ZERO,
            idle: self.deadline.saturating_duration_since(Instant::now()) + QUIET,
            send_queue: SEND_QUEUE,
            send_total: SEND_QUEUE,
            trusted: Default::default(),
            announce: false,
            limits: Default::default(),
        });
        limits.shutdown_deadline = Duration::from_secs(2);
        let endpoint = Endpoint::new(limits).map_err(|e| Failure::io("sync", e))?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        let dialed = runtime.block_on(async {
            tokio::time::timeout(left, endpoint.connect_once(peer, &self.addr, difficulty)).await
        });
        let failed = |why: String| {
            Failure::io(format!("sync: cannot connect to {}", self.addr), why)
                .hint("is the peer's relay running with --listen on that address?")
        };
        match dialed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_) => return Err(failed("no answer before --timeout".into())),
        }
        let mut endpoint = endpoint;
        let outcome = self.drive(&runtime, &mut endpoint, args, signal);
        self.net = Some((runtime, endpoint));
        outcome
    }

    /// Asks about every topic, then runs the loop on the connection.
    fn drive(
        &mut self,
        runtime: &Runtime,
        endpoint: &mut Endpoint,
        args: &SyncArgs,
        signal: &AtomicI32,
    ) -> Result<Outcome, Failure> {
        let peer = self.peer;
        for t in &mut self.topics {
            self.node.request_sync(peer, t.id);
            t.asked = 1;
        }
        let mut last_progress = self.started;
        loop {
            let sig = signal.load(Ordering::SeqCst);
            if sig != 0 {
                return Ok(Outcome::Signal(sig));
            }
            self.print_done(args)?;
            if self
                .topics
                .iter()
                .all(|t| matches!(t.phase, Phase::Done { .. }))
            {
                return Ok(Outcome::Done);
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Outcome::TimedOut);
            }
            // Each message's bytes stay charged to the input bound until
            // the node has run.
            let mut held = Vec::new();
            let wait = left.min(Duration::from_millis(50));
            let first =
                runtime.block_on(async { tokio::time::timeout(wait, endpoint.next()).await.ok() });
            let more = std::iter::from_fn(|| endpoint.try_next()).take(255);
            for event in first.into_iter().chain(more.collect::<Vec<_>>()) {
                match event {
                    ConnEvent::Opened { conn, .. } => self.conn = Some(conn),
                    ConnEvent::Message { frame, .. } => {
                        match RawMessage::unpack(&frame) {
                            Ok(message) => self.node.receive_from(peer, message),
                            Err(e) => return Ok(Outcome::Lost(Ended::Junk(e.to_string()))),
                        }
                        held.push(frame);
                    }
                    ConnEvent::Written { bytes, .. } => {
                        self.queued = self.queued.saturating_sub(bytes);
                    }
                    ConnEvent::Closed { ended, .. } => return Ok(Outcome::Lost(ended)),
                    _ => {}
                }
            }
            let t = now(&args.now);
            if self.node.poll_timeout().is_some_and(|at| at <= t) {
                self.node.handle_timeout(t).map_err(store_failure)?;
            }
            self.node
                .run_until_idle_parallel(t)
                .map_err(|e| Failure::io("sync", e))?;
            drop(held);
            self.send_events(endpoint);
            self.advance(t.as_secs(), endpoint)?;
            if self.started.elapsed() >= PROGRESS_AFTER && last_progress.elapsed() >= PROGRESS_AFTER
            {
                last_progress = Instant::now();
                self.progress();
            }
        }
    }

    /// Queues the engine's messages for the peer; counts pushes.
    fn send_events(&mut self, endpoint: &Endpoint) {
        if self.conn.is_none() {
            return;
        }
        let events: Vec<Event> = self.node.drain_events().collect();
        for event in events {
            let Event::Send(out) = event else { continue };
            if out.op == Op::RespondContent
                && let Some(BulletinKey { topic, content: id }) = out.bulletin
                && let Some(t) = self.topics.iter_mut().find(|t| t.id == topic)
            {
                t.pushed.insert(id);
                t.pushed_round.insert(id);
            }
            self.backlog.push_back(Bytes::from(out.message.pack()));
        }
        self.flush_backlog(endpoint);
    }

    /// Queues what fits of the backlog: up to [`SEND_QUEUE`] bytes (any
    /// one message when nothing is queued).
    fn flush_backlog(&mut self, endpoint: &Endpoint) {
        let Some(conn) = self.conn else { return };
        while let Some(payload) = self.backlog.front() {
            let n = payload.len() + 4;
            if self.queued > 0 && self.queued + n > SEND_QUEUE {
                return;
            }
            if let Some(payload) = self.backlog.pop_front()
                && endpoint.send(conn, payload)
            {
                self.queued += n;
            }
        }
    }

    /// Whether every message for the peer is out on the socket.
    fn all_written(&self) -> bool {
        self.conn.is_some() && self.backlog.is_empty() && self.queued == 0
    }

    /// Moves each topic on when its step is over.
    fn advance(&mut self, now: u64, endpoint: &Endpoint) -> Result<(), Failure> {
        self.flush_backlog(endpoint);
        let written = self.all_written();
        let (down, up) = (self.node.hooks().down, self.node.hooks().up);
        for i in 0..self.topics.len() {
            let id = self.topics[i].id;
            match self.topics[i].phase {
                Phase::Done { .. } => {}
                Phase::Asked => {
                    let Some(status) = self.node.sync_status(&self.peer, &id) else {
                        continue;
                    };
                    if status.is_running() {
                        continue;
                    }
                    let reconciled = status.state == gossip::node::SyncState::Reconciled;
                    if !reconciled {
                        // A full list: whole once its pages stop.
                        let quiet = self.node.hooks().pages.get(&id);
                        if quiet.is_none_or(|at| at.elapsed() < QUIET) {
                            continue;
                        }
                    }
                    let t = &mut self.topics[i];
                    t.rounds += status.rounds;
                    t.bytes_sent += status.bytes_sent;
                    t.bytes_received += status.bytes_received;
                    t.method = Some(if reconciled {
                        Method::Reconcile
                    } else {
                        Method::FullList
                    });
                    let offered = self
                        .node
                        .hooks()
                        .offered
                        .get(&id)
                        .cloned()
                        .unwrap_or_default();
                    let mut missing_here = HashSet::new();
                    for cid in &offered {
                        if !self
                            .node
                            .store()
                            .contains(&BulletinKey::new(id, *cid))
                            .map_err(store_failure)?
                        {
                            missing_here.insert(*cid);
                        }
                    }
                    let t = &mut self.topics[i];
                    t.missing_here = missing_here;
                    if reconciled {
                        t.missing_there = status.have;
                        // Pushed this round: what the peer lacked (or asked
                        // for itself), known only while it lacks any.
                        let pushed = std::mem::take(&mut t.pushed_round);
                        t.missing_there_ids = if status.have > 0 {
                            pushed
                        } else {
                            HashSet::new()
                        };
                        let agreed = (!down || status.need == 0) && (!up || status.have == 0);
                        t.phase = if agreed && (!down || t.missing_here.is_empty()) {
                            Phase::Done { in_sync: true }
                        } else {
                            Phase::Transfer
                        };
                    } else {
                        let lacking = self.lacking_there(id, &offered, now)?;
                        let t = &mut self.topics[i];
                        t.missing_there = lacking.len() as u64;
                        if up {
                            for b in &lacking {
                                let payload = Payload::Bulletin(Op::RespondContent, b.clone());
                                self.node
                                    .send(self.peer, &payload, Timestamp::from_secs(now))
                                    .map_err(|e| Failure::io("sync", e))?;
                            }
                        }
                        let t = &mut self.topics[i];
                        t.missing_there_ids = lacking.iter().map(|b| b.content_id).collect();
                        t.phase = Phase::Transfer;
                    }
                }
                Phase::Transfer => {
                    let arrived = self.node.hooks().arrived.get(&id);
                    let t = &mut self.topics[i];
                    if let Some(arrived) = arrived {
                        t.missing_here.retain(|cid| !arrived.contains(cid));
                    }
                    let fetched = !down || t.missing_here.is_empty();
                    let pushed = !up || written;
                    if !(fetched && pushed) {
                        continue;
                    }
                    if t.method == Some(Method::FullList) {
                        // What the peer offered is held and what it lacked
                        // is written: nothing more can be checked.
                        if up {
                            t.missing_there = 0;
                            t.missing_there_ids.clear();
                        }
                        t.phase = Phase::Done { in_sync: true };
                        continue;
                    }
                    // Check with another round.
                    t.phase = Phase::Asked;
                    t.asked += 1;
                    t.pushed_round.clear();
                    let hooks = self.node.hooks_mut();
                    hooks.offered.remove(&id);
                    hooks.pages.remove(&id);
                    self.node.request_sync(self.peer, id);
                }
            }
        }
        if self.node.pending() > 0 {
            self.node
                .run_until_idle_parallel(Timestamp::from_secs(now))
                .map_err(|e| Failure::io("sync", e))?;
            self.send_events(endpoint);
        }
        Ok(())
    }

    /// The bulletins of `topic` held here, unexpired, that the peer did
    /// not offer (a full-list peer's lack).
    fn lacking_there(
        &self,
        topic: TopicId,
        offered: &HashSet<ContentId>,
        now: u64,
    ) -> Result<Vec<Bulletin>, Failure> {
        let store = self.node.store();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .range_ids(&topic, Timestamp::from_secs(now), after, PAGE)
                .map_err(store_failure)?;
            for (_, cid) in &page {
                if !offered.contains(cid)
                    && let Some(b) = store
                        .retrieve(&BulletinKey::new(topic, *cid))
                        .map_err(store_failure)?
                {
                    out.push(b);
                }
            }
            if page.len() < PAGE {
                return Ok(out);
            }
            after = page.last().copied();
        }
    }

    /// One progress line per topic not done, on stderr.
    fn progress(&self) {
        let secs = self.started.elapsed().as_secs();
        for t in &self.topics {
            if matches!(t.phase, Phase::Done { .. }) {
                continue;
            }
            let down = self.arrived(t);
            let what = match t.phase {
                Phase::Asked if t.asked > 1 => "checking",
                Phase::Asked => "asking",
                _ => "moving",
            };
            eprintln!(
                "gossip: sync: {}: {what} after {secs} s: {down} down, {} up, {} still missing here",
                t.label(),
                t.pushed.len(),
                t.missing_here.len()
            );
        }
    }

    fn arrived(&self, t: &Topic) -> u64 {
        self.node
            .hooks()
            .arrived
            .get(&t.id)
            .map_or(0, |a| a.len() as u64)
    }

    /// Prints the topics done since the last call, in order.
    fn print_done(&mut self, args: &SyncArgs) -> Result<(), Failure> {
        while let Some(t) = self.topics.get(self.printed) {
            let Phase::Done { in_sync } = t.phase else {
                return Ok(());
            };
            self.print(t, in_sync, None, args)?;
            self.printed += 1;
        }
        Ok(())
    }

    /// Prints one topic's result (and its missing ids with
    /// --print-missing); `unfinished` says why a topic not done stopped.
    fn print(
        &self,
        t: &Topic,
        in_sync: bool,
        unfinished: Option<&str>,
        args: &SyncArgs,
    ) -> Result<(), Failure> {
        let (down, up) = (self.arrived(t), t.pushed.len() as u64);
        let (missing_here, missing_there) = (t.missing_here.len() as u64, t.missing_there);
        let mut out = stdout();
        let written = if args.output.json() {
            let line = json!({
                "type": "sync",
                "topic": hex::encode(t.id),
                "descriptor": t.name,
                "down": down,
                "up": up,
                "in_sync": in_sync,
                "stopped": unfinished,
                "method": t.method.map(Method::name),
                "requests": t.asked,
                "rounds": t.rounds,
                "bytes_sent": t.bytes_sent,
                "bytes_received": t.bytes_received,
                "missing_here": missing_here,
                "missing_there": missing_there,
            });
            writeln!(out, "{line}")
        } else {
            let mut state = match (in_sync, unfinished) {
                (true, _) => "in sync".to_string(),
                (false, Some(why)) => format!(
                    "not in sync ({why}): {missing_here} missing here, {missing_there} missing there"
                ),
                (false, None) => {
                    format!(
                        "not in sync: {missing_here} missing here, {missing_there} missing there"
                    )
                }
            };
            if in_sync && missing_here > 0 {
                state += &format!(", {missing_here} missing here not fetched (--dir up)");
            }
            if in_sync && missing_there > 0 {
                state += &format!(", {missing_there} missing there not pushed (--dir down)");
            }
            let how = match t.method {
                Some(Method::Reconcile) => format!(
                    "; reconciled in {} round{}, {} B sent, {} B received",
                    t.rounds,
                    if t.rounds == 1 { "" } else { "s" },
                    t.bytes_sent,
                    t.bytes_received
                ),
                Some(Method::FullList) => "; full list".to_string(),
                None => String::new(),
            };
            writeln!(
                out,
                "{}: {} moved ({down} down, {up} up); {state}{how}",
                t.label(),
                down + up
            )
        };
        written.map_err(write_err)?;
        if args.print_missing {
            let mut here: Vec<&ContentId> = t.missing_here.iter().collect();
            here.sort();
            let mut there: Vec<&ContentId> = t.missing_there_ids.iter().collect();
            there.sort();
            let sides = [("here", here), ("there", there)];
            for (side, ids) in sides {
                for id in ids {
                    let line = if args.output.json() {
                        json!({"type": "missing", "topic": hex::encode(t.id), "side": side, "content_id": hex::encode(id)})
                            .to_string()
                    } else {
                        format!("{}: missing {side}: {}", t.label(), hex::encode(id))
                    };
                    writeln!(out, "{line}").map_err(write_err)?;
                }
            }
        }
        out.flush().map_err(write_err)
    }

    /// Lets the writer finish, prints the topics not printed yet and says
    /// how the sync ended.
    fn finish(mut self, outcome: Result<Outcome, Failure>, args: &SyncArgs) -> CmdResult {
        let outcome = outcome?;
        if let Some((runtime, endpoint)) = self.net.take() {
            let deadline = endpoint.limits().shutdown_deadline;
            runtime.block_on(endpoint.shutdown(deadline));
        }
        let why = match &outcome {
            Outcome::Done => None,
            Outcome::TimedOut => Some(format!("timed out after {} s", args.timeout)),
            Outcome::Lost(why) => Some(format!("connection lost: {why}")),
            Outcome::Signal(s) => Some(signal_name(*s).to_string()),
        };
        self.print_done(args)?;
        let rest: Vec<usize> = (self.printed..self.topics.len()).collect();
        for i in rest {
            let in_sync = matches!(self.topics[i].phase, Phase::Done { in_sync: true });
            self.print(&self.topics[i], in_sync, why.as_deref(), args)?;
        }
        let differ = self
            .topics
            .iter()
            .filter(|t| !matches!(t.phase, Phase::Done { in_sync: true }))
            .count();
        let host = &self.addr;
        match outcome {
            Outcome::Signal(s) => {
                eprintln!(
                    "gossip: sync: {}: stopped; what moved so far is printed",
                    signal_name(s)
                );
                Ok(ExitCode::from((128 + s) as u8))
            }
            Outcome::Lost(Ended::Error(e)) if differ > 0 => {
                Err(Failure::io(format!("sync: {host}"), e))
            }
            _ if differ == 0 => Ok(ExitCode::SUCCESS),
            outcome => {
                let total = self.topics.len();
                let why = why.unwrap_or_else(|| "differences remain".into());
                let f = Failure::invalid(
                    format!("sync: {host}"),
                    format!("{differ} of {total} topics not in sync: {why}"),
                );
                Err(match outcome {
                    Outcome::TimedOut => f.hint(
                        "a longer --timeout may do; a peer that never answers falls back to a full list after a third of it",
                    ),
                    _ => f,
                })
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    if signal == signal_hook::consts::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}
