//! The relay on the network: `--listen HOST:PORT|unix:PATH` accepts
//! connections, `--connect ADDR@HOST:PORT|ADDR@unix:PATH` dials a peer
//! and keeps the link up. The sockets are the library's
//! [`gossip::net::Endpoint`] (on tokio); which connection is which peer,
//! routes, and the bounds of each connection are its
//! [`gossip::session`]. This module carries events between the two and
//! the relay's loop, and counts and logs them.

mod limits;
mod stats;

use std::collections::BTreeSet;
use std::time::Duration;

use gossip::Address;
use gossip::net::{Dial, Endpoint, Limits, NetAddr, Network};

/// The input budget, bytes: of stdin and the network's connections
/// together.
const IN_FLIGHT: usize = gossip::net::DEFAULT_IN_FLIGHT;
use gossip::session::{self, Session};
use tokio::runtime::Runtime;

pub use gossip::net::{prometheus, status_line};
pub use limits::limits_config;
pub use stats::write_metrics;

use crate::cli::io::Failure;

/// The largest message a connection takes, bytes: its JSON line (base64,
/// a third longer) still fits the input bound, so one connection can always
/// finish any message it may send. A frame that announces more is refused
/// from its length prefix.
pub const MAX_TCP_OBJECT: usize = (IN_FLIGHT - 4096) / 4 * 3;

/// How long a relay that is ending gives its connections to write what
/// they hold.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// How the network is set up.
pub struct Settings {
    pub listen: Vec<(NetAddr, u32)>,
    pub connect: Vec<Dial>,
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
    /// Limits per source on accepted connections.
    pub limits: session::LimitsConfig,
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

/// The relay's runtime: the endpoints' tasks (the outputs' too) run on
/// it and the driver on the main thread. Shut down in the background when
/// dropped: a writer blocked on a fifo nobody reads must not hold the
/// relay.
pub struct Background(Option<Runtime>);

impl Background {
    pub fn new(runtime: Runtime) -> Self {
        Self(Some(runtime))
    }
}

impl std::ops::Deref for Background {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        // Taken only when dropped.
        self.0.as_ref().expect("the runtime lives until dropped")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The relay's network, bounded as `settings` say (without them, its
/// outputs' queues by `send_queue`), neither listening nor
/// dialing yet ([`start`] does that once what the last run left is
/// delivered): without settings, the plain stdin relay's, which never
/// does. Its session already knows the peers the relay will dial, so what
/// the first run makes for them waits for their connection (sent when it
/// comes up) and is never written to stdout.
pub fn network(settings: Option<&Settings>, send_queue: usize) -> Result<Network, Failure> {
    let (limits, session) = match settings {
        Some(s) => (limits(s), session(s)),
        None => {
            // The outputs' queues are bounded as a connection's would be.
            let mut limits = Limits::default();
            limits.send_queue = send_queue.max(1);
            limits.send_total = limits.send_total.max(limits.send_queue);
            let session = Session::new(limits.session_config());
            (limits, session)
        }
    };
    let endpoint = Endpoint::new(limits).map_err(|e| Failure::usage("relay: network limits", e))?;
    Ok(Network::new(endpoint, session))
}

/// The session `settings` ask for: its bounds, the peers dialed and the
/// peers trusted.
fn session(settings: &Settings) -> Session {
    let mut session = Session::new(session_config(settings));
    settings.connect.iter().for_each(|t| session.expect(t.peer));
    settings.trusted.iter().for_each(|p| session.trust(*p));
    session
}

/// Opens the listeners and starts the dialers on `net`.
pub fn start(runtime: &Runtime, net: &mut Network, settings: Settings) -> Result<(), Failure> {
    for (addr, difficulty) in &settings.listen {
        let bound = runtime
            .block_on(net.endpoint_mut().listen(addr, *difficulty))
            .map_err(|e| Failure::io("relay", e))?;
        tracing::info!(listen = %bound, "listening on {bound}");
    }
    {
        let _inside = runtime.enter();
        for t in &settings.connect {
            net.endpoint_mut()
                .connect(t.peer, t.addr.clone(), t.difficulty);
        }
    }
    if settings.limits.shadow && settings.limits.is_active() {
        tracing::info!(
            "limits in shadow mode: what they would refuse is counted and logged, nothing is refused"
        );
    }
    net.limit(settings.limits);
    Ok(())
}

/// The bounds of `settings` from now on (connections, timeouts, send
/// queues, limits per source); the rest of `settings` is taken at start
/// only.
pub fn set_limits(net: &mut Network, settings: &Settings) {
    let mut config = session_config(settings);
    config.announce = net.config().announce;
    net.reconfigure(config);
    net.limit(settings.limits.clone());
}
