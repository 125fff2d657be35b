//! The relay on the network: `--listen HOST:PORT|unix:PATH` accepts
//! connections, `--connect ADDR@HOST:PORT|ADDR@unix:PATH` dials a peer
//! and keeps the link up. The sockets are the library's
//! [`gossip::net::Endpoint`] (on tokio); which connection is which peer,
//! routes, and the bounds of each connection are its
//! [`gossip::session`]. This module carries events between the two and
//! the relay's loop, and counts and logs them.

mod limits;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gossip::codec::{Object, ReadError};
use gossip::net::{ConnEvent, Disconnect, Endpoint, Frame, Limits, NetAddr, Notice};
use gossip::node::{Event, Outbound};
use gossip::session::{self, Session};
use gossip::{Address, Node};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

pub use gossip::net::{NetCounters, prometheus, status_line};
pub use gossip::session::PeerStats;
pub use limits::limits_config;
pub use stats::write_metrics;

use super::in_flight::IN_FLIGHT;
use crate::cli::io::Failure;
use gossip::Timestamp;

/// The largest message a connection takes, bytes: its JSON line (base64,
/// a third longer) still fits the input bound, so one connection can always
/// finish any message it may send. A frame that announces more is refused
/// from its length prefix.
pub const MAX_TCP_OBJECT: usize = (IN_FLIGHT - 4096) / 4 * 3;

/// What the relay's loop takes in: objects from stdin, and the network.
pub enum Input {
    /// An object read from stdin (or why it could not be).
    Stdin(Result<Object, ReadError>),
    /// Stdin ended.
    StdinEnd,
    /// Something happened on a connection.
    Net(ConnEvent),
}

/// How often a repeated network fault is logged (with its count since).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How long a relay that is ending gives its connections to write what
/// they hold.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// What became of a message for a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued on the peer's connection.
    Queued,
    /// Dropped and counted: the peer's queue is full, a dialed peer is not
    /// connected now (it catches up by sync), or the network knows no way
    /// to the peer (a stranger's answer is never written to stdout).
    Dropped,
    /// The peer's link is full: the bulletin is owed to it and forwarded
    /// again when the link has room.
    Deferred,
    /// Not the network's: the relay's stdout or `--peer` outputs.
    NotOurs,
}

/// A peer to dial.
#[derive(Clone, Debug)]
pub struct Target {
    pub peer: Address,
    pub addr: NetAddr,
    pub difficulty: u32,
}

/// What [`Network::retarget`] did.
#[derive(Default)]
pub struct Retargeted {
    /// Peers dialed now.
    pub added: Vec<Target>,
    /// Peers let go.
    pub gone: Vec<Target>,
    /// Peers not dialed, and why.
    pub refused: Vec<String>,
}

/// How the network is set up.
pub struct Settings {
    pub listen: Vec<(NetAddr, u32)>,
    pub connect: Vec<Target>,
    pub max_connections: usize,
    /// An accepted connection must send a valid message within this long.
    pub bind_timeout: Duration,
    /// A connection must send a whole message within this long of its last.
    pub idle: Duration,
    /// Bytes a connection's send queue may hold, and all of them together.
    pub send_queue: usize,
    pub send_total: usize,
    /// Peers that are treated as configured when they connect: answered
    /// without the answer budget, sent at their connection's difficulty.
    pub trusted: BTreeSet<Address>,
    /// Send the delivery-code notice to each peer whenever a connection to
    /// it comes up.
    pub announce: bool,
    pub quiet: bool,
    /// Limits per source on accepted connections.
    pub limits: session::LimitsConfig,
}

/// The network side of the relay, owned by its loop: the library's
/// [`gossip::net::Network`] (the session over the endpoint) when it
/// listens or dials, the runtime its tasks run on, and what the relay
/// logs of it.
pub struct Network {
    /// Where the endpoints' tasks run (the outputs' too) and the loop
    /// waits for input. Shut down in the background when dropped: a
    /// writer blocked on a fifo nobody reads must not hold the relay.
    runtime: Option<Runtime>,
    net: Option<gossip::net::Network>,
    /// accept() failures not yet logged, and when one last was.
    accept_failures: (u64, Option<Instant>),
    /// A listener or a dialer runs (or ran, once finished).
    active: bool,
    /// The counters and the peers' when the network finished.
    ended: (NetCounters, BTreeMap<Address, PeerStats>),
    quiet: bool,
    /// The peers dialed now.
    targets: Vec<Target>,
}

/// The endpoint's bounds, from the relay's flags.
pub fn limits(settings: &Settings) -> Limits {
    let mut limits = Limits::default();
    limits.max_frame = MAX_TCP_OBJECT;
    limits.in_flight = IN_FLIGHT;
    limits.max_connections = settings.max_connections.max(1);
    limits.bind_timeout = settings.bind_timeout;
    limits.idle_timeout = settings.idle;
    limits.send_queue = settings.send_queue.max(1);
    limits.send_total = settings.send_total.max(limits.send_queue);
    limits.shutdown_deadline = SHUTDOWN_DEADLINE;
    limits
}

/// The session's bounds, from the relay's flags.
fn session_config(settings: &Settings) -> gossip::session::SessionConfig {
    let mut config = limits(settings).session_config();
    config.max_connections = settings.max_connections;
    config.announce = settings.announce;
    config
}

/// A runtime for the endpoint's tasks: they run on two worker threads
/// while the relay's loop runs the node on its own.
pub fn runtime(what: &str) -> Result<Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gossip-net")
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("{what}: cannot start the network"), e))
}

impl Network {
    /// No listener and no dialer yet (the plain stdin relay stays so):
    /// the runtime, for the outputs and to wait for stdin.
    pub fn new() -> Result<Self, Failure> {
        Ok(Self {
            runtime: Some(runtime("relay")?),
            net: None,
            accept_failures: (0, None),
            active: false,
            ended: Default::default(),
            quiet: true,
            targets: Vec::new(),
        })
    }

    /// The runtime the network and the outputs run on.
    pub fn runtime(&self) -> &Runtime {
        // Taken only when the network is dropped.
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the network")
    }

    /// Opens the listeners and starts the dialers.
    pub fn start(&mut self, settings: Settings) -> Result<(), Failure> {
        let runtime = self.runtime();
        let limits = limits(&settings);
        let session_config = session_config(&settings);
        let mut endpoint =
            Endpoint::new(limits).map_err(|e| Failure::usage("relay: network limits", e))?;
        for (addr, difficulty) in &settings.listen {
            let bound = runtime
                .block_on(endpoint.listen(addr, *difficulty))
                .map_err(|e| Failure::io("relay", e))?;
            tracing::info!(listen = %bound, "listening on {bound}");
        }
        {
            let _inside = runtime.enter();
            for t in &settings.connect {
                endpoint.connect(t.peer, t.addr.clone(), t.difficulty);
            }
        }
        let mut session = Session::new(session_config);
        settings.connect.iter().for_each(|t| session.expect(t.peer));
        settings.trusted.iter().for_each(|p| session.trust(*p));
        let mut net = gossip::net::Network::new(endpoint, session);
        if settings.limits.shadow && settings.limits.is_active() {
            tracing::info!(
                "limits in shadow mode: what they would refuse is counted and logged, nothing is refused"
            );
        }
        net.limit(settings.limits);
        self.net = Some(net);
        self.active = true;
        self.quiet = settings.quiet;
        self.targets = settings.connect;
        Ok(())
    }

    /// Dials `targets` from now on: a peer no longer among them is let go
    /// (its dialed connections closed), a new one dialed; a peer whose
    /// address or difficulty changed is both. Connections to the others
    /// stay as they are. A peer whose address is no public key is not
    /// dialed: its error is in what is returned.
    pub fn retarget(&mut self, targets: &[Target], node: &mut Node) -> Retargeted {
        let mut done = Retargeted::default();
        let Some(net) = &mut self.net else {
            return done;
        };
        let same = |a: &Target, b: &Target| {
            a.peer == b.peer && a.addr == b.addr && a.difficulty == b.difficulty
        };
        let (kept, gone): (Vec<Target>, Vec<Target>) = std::mem::take(&mut self.targets)
            .into_iter()
            .partition(|t| targets.iter().any(|n| same(t, n)));
        for t in &gone {
            net.disconnect(&t.peer, node);
        }
        let _inside = self.runtime.as_ref().map(Runtime::enter);
        for t in targets.iter().filter(|n| !kept.iter().any(|t| same(t, n))) {
            match net.connect(t.peer, t.addr.clone(), t.difficulty, node) {
                Ok(()) => done.added.push(t.clone()),
                Err(e) => done.refused.push(format!("{}: {e}", t.peer)),
            }
        }
        self.targets = kept;
        self.targets.extend(done.added.iter().cloned());
        done.gone = gone;
        done
    }

    /// The bounds of `settings` from now on (connections, timeouts, send
    /// queues); the rest of `settings` is taken at start only.
    pub fn set_limits(&mut self, settings: &Settings) {
        if let Some(net) = &mut self.net {
            let mut config = session_config(settings);
            config.announce = net.config().announce;
            net.reconfigure(config);
            net.limit(settings.limits.clone());
        }
    }

    /// Waits up to `wait` for input from stdin or the network; returns
    /// what came, at most `max` (empty when nothing did; None once stdin's
    /// channel is closed).
    pub fn wait(
        &mut self,
        stdin: &mut mpsc::Receiver<Input>,
        wait: Duration,
        max: usize,
    ) -> Option<Vec<Input>> {
        self.log();
        let mut batch = Vec::new();
        // (The runtime is taken only when the network is dropped.)
        let (runtime, net) = (self.runtime.as_ref()?, &mut self.net);
        // The last batch is handled and its messages queued.
        if let Some(n) = net.as_mut() {
            n.finish_ended();
        }
        let first = runtime.block_on(async {
            let event = async {
                match net.as_mut() {
                    Some(n) => Input::Net(n.next().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = event => Ok(Some(input)),
                input = stdin.recv() => match input {
                    Some(input) => Ok(Some(input)),
                    None => Err(()),
                },
                () = tokio::time::sleep(wait) => Ok(None),
            }
        });
        // The caller keeps a sender: the channel closes only when it is
        // done with it.
        batch.extend(first.ok()?);
        if let Some(n) = net {
            while batch.len() < max {
                let Some(event) = n.try_next() else { break };
                batch.push(Input::Net(event));
            }
        }
        while batch.len() < max {
            let Ok(input) = stdin.try_recv() else { break };
            batch.push(input);
        }
        Some(batch)
    }

    /// Takes a network event into the session and the node. A message's
    /// frame is kept in `held` (its bytes stay charged to the input bound
    /// until the node has handled it).
    pub fn handle(
        &mut self,
        event: ConnEvent,
        node: &mut Node,
        now: u64,
        held: &mut Vec<Frame>,
    ) -> Result<(), Failure> {
        let Some(net) = &mut self.net else {
            return Ok(());
        };
        net.handle(event, node, Instant::now(), Timestamp::from_secs(now), held)
            .map_err(|e| Failure::io("relay: delivery-code notice", e))
    }

    /// Logs what the network has to say; a repeated accept() failure at
    /// most every [`LOG_EVERY`], with its count since.
    fn log(&mut self) {
        let Some(net) = &mut self.net else { return };
        let quiet = self.quiet;
        while let Some(notice) = net.poll_notice() {
            match notice {
                Notice::Connected { remote, peer } if !quiet => {
                    tracing::info!(%remote, %peer, "{remote}: connected to {peer}");
                }
                Notice::Unsealable { remote, error } => {
                    tracing::warn!(%remote, reason = %error, "{remote}: {error}; closing");
                }
                Notice::Closed { remote, why } => {
                    if quiet && !matches!(why, Disconnect::Junk(_) | Disconnect::Invalid) {
                        continue;
                    }
                    let what = match &why {
                        Disconnect::Junk(e) => format!("closed: not a message stream ({e})"),
                        Disconnect::Idle => {
                            "closed: no whole message within the idle timeout".to_string()
                        }
                        Disconnect::Unbound => {
                            "closed: no valid message within the bind timeout".to_string()
                        }
                        Disconnect::Evicted => {
                            "closed: unbound, to make room for a newer connection".to_string()
                        }
                        Disconnect::Invalid => {
                            format!("closed: {} invalid messages", net.config().max_invalid)
                        }
                        Disconnect::Error(e) => format!("closed: {e}"),
                        _ => "closed".to_string(),
                    };
                    if matches!(
                        why,
                        Disconnect::Junk(_) | Disconnect::Invalid | Disconnect::Error(_)
                    ) {
                        tracing::warn!(%remote, reason = %what, "{remote}: {what}");
                    } else {
                        tracing::info!(%remote, reason = %what, "{remote}: {what}");
                    }
                }
                Notice::Refused { remote } if !quiet => {
                    tracing::warn!(%remote, reason = "too many connections", "{remote}: refused, too many connections");
                }
                Notice::AcceptFailed { why } => {
                    let failures = &mut self.accept_failures;
                    failures.0 += 1;
                    if failures.1.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                        let refused = failures.0;
                        tracing::error!(reason = %why, refused, "cannot accept connections: {why} ({refused} refused since the last report)");
                        *failures = (0, Some(Instant::now()));
                    }
                }
                Notice::Limited(report) => limits::log(&report),
                Notice::DialFailed { peer, addr, why } if !quiet => {
                    tracing::warn!(%peer, remote = %addr, reason = %why, "cannot reach {peer} at {addr}: {why}; retrying");
                }
                _ => {}
            }
        }
    }

    /// A message from `src` came on stdin: answers to it go to stdout.
    pub fn heard_on_stdin(&mut self, src: Address) {
        if let Some(net) = &mut self.net {
            net.heard_elsewhere(src);
        }
    }

    /// The engine's other events: a connection that carries too many
    /// invalid messages is closed; a bulletin deferred for a peer without
    /// send credit is owed to it. False when a deferred bulletin could not be
    /// kept (it is then unsent).
    pub fn note(&mut self, event: &Event) -> bool {
        self.net.as_mut().is_none_or(|n| n.note(event))
    }

    /// Before each run of the node: each neighbour's send credit, from the
    /// room in its queue and under `--send-total` ([`Session::grant`]).
    pub fn grant(&mut self, node: &mut Node) {
        if let Some(net) = &mut self.net {
            net.grant(node);
        }
    }

    /// Forwards again, within each peer's send credit, the bulletins it is
    /// owed ([`Session::repair`]). Returns (whether anything was queued in
    /// the node, how many owed bulletins were dropped).
    pub fn repair(&mut self, node: &mut Node, now: u64) -> Result<(bool, u64), Failure> {
        let Some(net) = &mut self.net else {
            return Ok((false, 0));
        };
        let done = net
            .repair(node, Timestamp::from_secs(now))
            .map_err(|e| Failure::io("relay: forwarding again", e))?;
        Ok((done.queued, done.lost))
    }

    /// Ends the batch: replays are told from the node's own set again.
    pub fn end_batch(&mut self) {
        if let Some(net) = &mut self.net {
            net.end_batch();
        }
    }

    /// The session's timers: closes the accepted connections that sent no
    /// valid message within the bind timeout, and those idle too long.
    pub fn sweep(&mut self) {
        if let Some(net) = &mut self.net {
            net.handle_timeout(Instant::now());
        }
    }

    /// Sends a message to `peer` if this network carries its messages.
    /// With a network, a peer it has no way to (a stranger not heard on
    /// stdin, nor a `--peer`) is never written to stdout: a remote party
    /// cannot make the relay block on, or end with, its stdout.
    pub fn send(&mut self, item: &Outbound, node: &Node) -> Sent {
        let Some(net) = &mut self.net else {
            return Sent::NotOurs;
        };
        match net.send(item, node) {
            session::Sent::Queued => Sent::Queued,
            session::Sent::Deferred => Sent::Deferred,
            session::Sent::Elsewhere => Sent::NotOurs,
            _ => Sent::Dropped,
        }
    }

    /// Whether any peer is owed bulletins its full link missed.
    pub fn owes(&self) -> bool {
        self.net.as_ref().is_some_and(gossip::net::Network::owes)
    }

    /// Whether any listener or dialer runs.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The connection counters.
    pub fn counters(&self) -> &NetCounters {
        self.net.as_ref().map_or(&self.ended.0, |n| n.counters())
    }

    /// Counters for each peer dialed or connected.
    pub fn peers(&self) -> &BTreeMap<Address, PeerStats> {
        self.net.as_ref().map_or(&self.ended.1, |n| n.peers())
    }

    /// Gives every connection until the shutdown deadline to write what it
    /// holds, then closes them all; returns the messages never written
    /// whole (what full links were still owed among them).
    pub fn finish(&mut self) -> u64 {
        if let Some(net) = &mut self.net {
            net.flush_limits();
        }
        self.log();
        let Some(net) = self.net.take() else {
            return 0;
        };
        self.ended = (*net.counters(), net.peers().clone());
        self.runtime().block_on(net.shutdown(SHUTDOWN_DEADLINE))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
