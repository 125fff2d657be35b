//! `gossip relay`: one node of the network, on stdin/stdout and on TCP.
//!
//! The loop is the library's [`Driver`]; the relay is its [`Host`].
//! Stdin, stdout, the `--peer ADDR=PATH` outputs and a delivery fifo are
//! local links of the relay's network, beside its sockets (`--listen`,
//! `--connect`, see [`net`]): its session routes each message the node
//! makes to its peer's connection or output, or to stdout, and the
//! library's bounded writer writes them. The driver waits on the network
//! and on the timers, so the relay also notices signals and purges
//! expired content while input is idle. Each batch is run through the node
//! engine to completion before the next, its messages queued at once, so
//! relays chained with netcat pass bulletins along without delay. Stdout
//! never drops: while it holds more than 64 KiB the relay takes no input
//! (a slow reader holds the relay back rather than lose messages).
//!
//! `gossip sync` drives one connection of its own on the same endpoint.

pub(super) mod args;
mod codes;
pub(super) mod config;
mod deliver;
mod http;
mod log;
pub(super) mod net;
mod outputs;
mod tally;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gossip::codec::{Format, Kind, Object, ReadError};
use gossip::net::{Charge, ConnEvent, Dial, Driver, Flow, Host, NetCounters, Network, Step};
use gossip::node::{Event, Node, NodeConfig, NodeError};
use gossip::session::{Carries, ConnId, LimitsConfig, PeerStats};
use gossip::store::SqliteStore;
use gossip::{Address, Bulletin, Counters, Timestamp, TopicId, topic_id};

use args::{RelayArgs, SpreadArg};
use deliver::Delivery;
use net::Settings;
use outputs::Outputs;

use super::flags::{FormatArg, NowArgs};
use super::io::{
    CmdResult, Failure, config_failure, load_identity, now, refuse_binary_on_terminal, regular_file,
};

/// How often the relay looks at its signals, its periodic work and a
/// delivery file's backlog.
const TICK: Duration = Duration::from_millis(200);

/// How often `--metrics` is rewritten.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// Delivers again what a crash may have kept from the delivery output: the
/// store's unconfirmed deliveries that a delivery file does not already
/// hold (a stream output cannot be checked, so those are all delivered).
fn recover_deliveries(
    node: &mut Node,
    network: &mut Network,
    outputs: &mut Outputs,
    deliver: Option<&Path>,
) -> Result<(), Failure> {
    let pending = node
        .pending_deliveries()
        .map_err(|e| Failure::io("relay: store", e))?;
    if pending.is_empty() {
        return Ok(());
    }
    let held = match (deliver, &outputs.deliver) {
        (Some(p), Some(d)) if d.is_file() => {
            let wanted = pending.iter().map(deliver::line_key).collect();
            deliver::held_ids(p, &wanted).map_err(|e| {
                Failure::io(
                    format!("relay: cannot read delivery file {}", p.display()),
                    e,
                )
            })?
        }
        _ => HashSet::new(),
    };
    let (done, missing): (Vec<Bulletin>, Vec<Bulletin>) = pending
        .into_iter()
        .partition(|b| held.contains(&deliver::line_key(b)));
    let (written, now) = (done.len(), missing.len());
    tracing::info!(
        unconfirmed = written + now,
        written,
        delivered = now,
        "{} unconfirmed deliveries from the last run: {written} already written, {now} delivered now",
        written + now
    );
    let keys: Vec<_> = done.iter().map(Bulletin::key).collect();
    node.confirm_delivered(&keys)
        .map_err(|e| Failure::io("relay: store", e))?;
    outputs.deliver(node, network, missing, false)
}

/// Installs the relay's signal handlers and returns their flags: stop (the
/// first SIGTERM/SIGINT ends the relay in order, outputs written and peers
/// given their last messages, bounded; a second one while it ends exits at
/// once, with 128 + the signal number), rotate (SIGUSR1) and, with a
/// config file to read again, reload (SIGHUP; without one SIGHUP keeps
/// its default action and ends the relay).
fn install_signal_handlers(reload: bool) -> Result<Signals, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let status = 128 + signal;
        signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| Failure::io("cannot install signal handlers", e))?;
    }
    let rotate = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&rotate))
        .map_err(|e| Failure::io("cannot install signal handlers", e))?;
    let hup = Arc::new(AtomicBool::new(false));
    if reload {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
            .map_err(|e| Failure::io("cannot install signal handlers", e))?;
    }
    Ok(Signals { stop, rotate, hup })
}

/// The flags the relay's signal handlers raise.
struct Signals {
    stop: Arc<AtomicBool>,
    rotate: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

/// What SIGHUP needs to read the config file again and apply it.
struct Reload {
    /// Raised by SIGHUP.
    hup: Arc<AtomicBool>,
    /// The command line as given (its flags still override the file).
    command_line: Vec<std::ffi::OsString>,
    file: PathBuf,
    /// The settings running, as `--print-config` prints them.
    running: BTreeMap<String, Option<String>>,
    /// The message difficulty the relay started with (a --connect without
    /// /BITS uses it).
    difficulty: u32,
}

/// The settings SIGHUP applies while running; the others need a restart.
const RELOADABLE: [&str; 17] = [
    "connect",
    "max-connections",
    "idle-timeout",
    "bind-timeout",
    "send-queue",
    "send-total",
    "max-connections-per-ip",
    "rate-per-ip",
    "bytes-per-ip",
    "rate-per-peer",
    "bytes-per-peer",
    "burst",
    "byte-burst",
    "allow",
    "deny",
    "limits-shadow",
    "limits-log-every",
];

/// The peers `args` dials; a --connect without /BITS at `difficulty`.
fn targets(args: &RelayArgs, difficulty: u32) -> Vec<Dial> {
    args.connect
        .iter()
        .map(|spec| Dial {
            peer: spec.peer,
            addr: spec.addr.clone(),
            difficulty: spec.difficulty.unwrap_or(difficulty),
        })
        .collect()
}

/// The network's settings from `args`, dialing `connect`.
fn settings(args: &RelayArgs, connect: Vec<Dial>, limits: LimitsConfig) -> Settings {
    Settings {
        listen: args
            .listen
            .iter()
            .map(|l| (l.addr.clone(), l.difficulty.unwrap_or(args.difficulty)))
            .collect(),
        connect,
        max_connections: args.max_connections,
        idle: Duration::from_secs(args.idle_timeout),
        bind_timeout: Duration::from_secs(args.bind_timeout),
        send_queue: args.send_queue,
        send_total: usize::try_from(args.send_total).unwrap_or(usize::MAX),
        trusted: args.trust.iter().copied().collect(),
        announce: args.announce_delivery_code || args.rotate_delivery_code.is_some(),
        limits,
    }
}

fn node_failure(e: NodeError) -> Failure {
    Failure::io("relay", e)
}

/// The relay's side of the library's [`Driver`]: it takes stdin's objects
/// in, writes deliveries, and its ticks do the operator's periodic work
/// (signals, `--metrics`, `--http`, the status line, a delivery file's
/// retries).
struct Relay {
    outputs: Outputs,
    rotation: codes::Rotation,
    stop: Arc<AtomicBool>,
    deliver: Option<PathBuf>,
    now: NowArgs,
    quiet: bool,
    /// The network's settings, when it listens or dials; it starts once
    /// what the last run left is delivered.
    settings: Option<Settings>,
    /// A listener or a dialer runs (or will): then neither stdin ending
    /// nor stdout closing ends the relay, and a message to a peer the
    /// network has no way to is dropped, never written to stdout.
    active: bool,
    notices: gossip::net::NoticeLog,
    metrics: Option<PathBuf>,
    /// Where `--http` reads what the loop publishes.
    http: Option<http::Board>,
    status_every: Option<Duration>,
    /// With --config: how SIGHUP reloads it.
    reload: Option<Reload>,
    /// Stdin's object reader, a local input of the network, once it reads.
    stdin: Option<ConnId>,
    /// The input budget of the objects taken this round (given back once
    /// the node has run).
    charges: Vec<Charge>,
    stdin_ended: bool,
    /// Why stdin's framing broke: the relay exits 3 once it has handled
    /// what came before.
    broken: Option<Failure>,
    ticks: Ticks,
    /// The network's counters and peers when it finished.
    ended: (NetCounters, BTreeMap<Address, PeerStats>),
}

/// When the relay's periodic work was last done.
struct Ticks {
    next: tokio::time::Instant,
    metrics: Option<Instant>,
    published: Option<Instant>,
    status: Instant,
}

pub fn run(args: RelayArgs) -> CmdResult {
    if args.print_config {
        print!("{}", config::effective(&args.command_line)?.text);
        return Ok(ExitCode::SUCCESS);
    }
    let (relay, node, network, runtime) = Relay::build(args)?;
    relay.run(node, network, &runtime)
}

impl Relay {
    /// Installs the signal handlers, opens the store, sets the node up
    /// (topics, peers, sync requests, the delivery-code notice) and opens
    /// the outputs.
    fn build(args: RelayArgs) -> Result<(Self, Node, Network, net::Background), Failure> {
        // Before anything that takes time (the store, the delivery file): a
        // signal that comes while the relay starts is then handled, never
        // the default action (SIGUSR1's ends the process).
        let Signals { stop, rotate, hup } = install_signal_handlers(args.config.is_some())?;
        log::init(args.log_format, args.log_level)?;
        let reload = match &args.config {
            Some(file) => Some(Reload {
                hup,
                command_line: args.command_line.clone(),
                file: file.clone(),
                running: config::effective(&args.command_line)?.settings,
                difficulty: args.difficulty,
            }),
            None => None,
        };
        let identity = load_identity(&args.key.key)?;
        let format = match args.output.format {
            FormatArg::Json => Format::Json,
            FormatArg::Wire => Format::Wire,
        };
        let config = NodeConfig::builder()
            .bulletin_difficulty(args.accept.bulletin_difficulty)
            .message_difficulty(args.difficulty)
            .skew(Duration::from_secs(args.accept.skew))
            .cipher(args.cipher)
            .delivery_code(args.delivery_code.map(|h| h.0))
            .rotate_every(args.rotate_delivery_code.map(Duration::from_secs))
            .reconcile(!args.no_reconcile)
            .dissemination(args.dissemination == SpreadArg::Plumtree)
            .build()
            .map_err(config_failure)?;
        let started = now(&args.now);
        let mut node = match &args.store {
            Some(path) => {
                if path.exists() {
                    regular_file(
                        path,
                        &format!("relay: cannot open store {}", path.display()),
                    )?;
                }
                let store = SqliteStore::open(path)
                    .map_err(|e| super::store::open_failure("relay", path, &e))?;
                Node::with_store(identity, config, Box::new(store), started)
                    .map_err(|e| Failure::io(format!("cannot read store {}", path.display()), e))?
            }
            None => Node::new(identity, config),
        };

        let mut topics = Vec::new();
        for desc in &args.subscribe {
            topics.push(topic_id(desc.as_bytes()));
        }
        topics.extend(args.subscribe_ids.iter().map(|h| TopicId::from_bytes(h.0)));
        topics.iter().for_each(|t| node.subscribe(*t));

        let mut peer_paths: Vec<(Address, Option<PathBuf>)> = Vec::new();
        for spec in &args.peers {
            let addr = spec.peer;
            node.add_neighbour(addr, args.difficulty)
                .map_err(|e| Failure::usage(format!("bad --peer address {addr}"), e))?;
            peer_paths.push((addr, spec.path.clone()));
        }
        let connect = targets(&args, args.difficulty);
        for t in &connect {
            node.add_neighbour(t.peer, t.difficulty)
                .map_err(|e| Failure::usage(format!("bad --connect address {}", t.peer), e))?;
        }
        let stdout_peers = peer_paths.iter().any(|(_, p)| p.is_none());
        let deliver_to_stdout = args.deliver.as_deref() == Some(Path::new("-"));
        if deliver_to_stdout && stdout_peers {
            return Err(Failure::usage(
                "--deliver -",
                "stdout already carries messages for a peer without =PATH",
            )
            .hint("give that peer a file with --peer ADDR=PATH, or deliver to a file"));
        }
        refuse_binary_on_terminal(format == Format::Wire && stdout_peers)?;
        let runtime = net::Background::new(net::runtime("relay")?);
        let limits = net::limits_config(&args.limits)?;
        let settings = (!args.listen.is_empty() || !connect.is_empty())
            .then(|| settings(&args, connect, limits));
        let active = settings.is_some();
        let mut network = net::network(settings.as_ref(), args.send_queue)?;
        // Stdout carries what no connection does: with a network, only
        // what is for a peer heard on stdin or given without =PATH.
        let carries = if active {
            Carries::Elsewhere
        } else {
            Carries::All
        };
        let files: Vec<(Address, &Path)> = peer_paths
            .iter()
            .filter_map(|(addr, path)| Some((*addr, path.as_deref()?)))
            .collect();
        let mut outputs =
            Outputs::open(&mut network, &runtime, &mut node, format, carries, &files)?;
        outputs.deliver_to_stdout = deliver_to_stdout;
        outputs.deliver = match &args.deliver {
            Some(p) if p != Path::new("-") => Some(Delivery::open(
                p,
                args.store.is_some(),
                &mut network,
                &runtime,
                &mut node,
            )?),
            _ => None,
        };

        let http = match &args.http {
            Some(addr) => {
                let health = http::Health {
                    store: args.store.clone(),
                    peers: args.healthy_peers,
                    stall: Duration::from_secs(args.healthy_loop),
                };
                let (board, bound) = http::start(addr, health)?;
                tracing::info!(http = %bound, "http on {bound} (/metrics, /healthz)");
                Some(board)
            }
            None => {
                if args.healthy_peers > 0 {
                    let n = args.healthy_peers;
                    tracing::warn!(
                        healthy_peers = n,
                        "--healthy-peers {n} has no effect without --http"
                    );
                }
                None
            }
        };
        let rotation = codes::Rotation::new(rotate, args.store.as_deref())?;
        codes::show(&node);
        codes::show_peers(&node);
        if args.announce_delivery_code {
            node.announce_delivery_code();
        }
        if !args.no_sync {
            let mut sync = topics.clone();
            sync.push(gossip::beacon_topic());
            node.set_sync_topics(sync);
            for (peer, _) in &peer_paths {
                node.sync_with(*peer);
            }
        }
        let relay = Self {
            outputs,
            rotation,
            stop,
            deliver: args.deliver,
            now: args.now,
            quiet: args.quiet,
            settings,
            active,
            notices: gossip::net::NoticeLog::new(args.quiet),
            metrics: args.metrics,
            http,
            status_every: args.status_every.map(Duration::from_secs),
            reload,
            stdin: None,
            charges: Vec::new(),
            stdin_ended: false,
            broken: None,
            ticks: Ticks {
                next: tokio::time::Instant::now(),
                metrics: None,
                published: None,
                status: Instant::now(),
            },
            ended: Default::default(),
        };
        Ok((relay, node, network, runtime))
    }

    /// Delivers what the last run left pending, starts the network and
    /// runs the library's driver until input ends, a signal, or an error;
    /// prints the counters.
    fn run(self, node: Node, network: Network, runtime: &net::Background) -> CmdResult {
        let (mut relay, mut node, mut network) = (self, node, network);
        let settings = relay.settings.take();
        // What the last run left, and the node's first run, before the
        // network listens or dials: their messages go to stdout and the
        // outputs.
        let recovered = recover_deliveries(
            &mut node,
            &mut network,
            &mut relay.outputs,
            relay.deliver.as_deref(),
        );
        let mut driver = Driver::new(node, network, relay);
        let recovered = recovered.and_then(|()| driver.run_node());
        let (mut node, mut network, mut relay) = driver.into_parts();
        if let Err(failure) = recovered {
            // The outputs still get what was queued for them (bounded).
            let _ = relay.finish(&mut node, network, runtime);
            return Err(failure);
        }
        // Stdin: objects in JSON lines or wire frames, bulletins and
        // messages, read by the library within the network's input budget
        // (32 MiB), a local input of its session.
        {
            let _inside = runtime.enter();
            let stdin = network
                .endpoint_mut()
                .attach_objects(std::io::stdin(), Kind::Any);
            network
                .attach_input(stdin, &mut node)
                .map_err(node_failure)?;
            relay.stdin = Some(stdin);
        }
        if let Some(settings) = settings {
            net::start(runtime, &mut network, settings)?;
        }

        let mut driver = Driver::new(node, network, relay);
        let mut result = runtime.block_on(driver.serve());
        if result.is_ok() {
            result = driver.run_node();
        }
        let (mut node, network, mut relay) = driver.into_parts();
        let finished = relay.finish(&mut node, network, runtime);
        if result.is_ok() {
            result = finished;
        }
        let counters = relay.outputs.tally.applied(node.counters());
        relay.report(&counters, true);
        match relay.outputs.tally.deferred {
            0 => tracing::info!("{counters}"),
            n => tracing::info!(deliveries_pending = n, "{counters} deliveries_pending={n}"),
        }
        if relay.active {
            let net = &relay.ended.0;
            tracing::info!(network = %net, "network: {net}");
        }
        result.and_then(|()| relay.broken.map_or(Ok(ExitCode::SUCCESS), Err))
    }

    /// Waits (bounded) for the outputs and the connections to take what
    /// is queued for them, then closes them; counts what they did not.
    fn finish(
        &mut self,
        node: &mut Node,
        mut network: Network,
        runtime: &net::Background,
    ) -> Result<(), Failure> {
        runtime.block_on(self.drain_stdout(&mut network, node));
        runtime.block_on(network.finish_outputs(outputs::PEER_PATIENCE, node));
        self.outputs.take_unwritten(&mut network);
        network.flush_limits();
        self.notices.log(&mut network);
        self.ended = (*network.counters(), network.peers().clone());
        let delivered = self.outputs.finish_delivery(node, &mut network);
        self.outputs.tally.unsent += runtime.block_on(network.shutdown(net::SHUTDOWN_DEADLINE));
        delivered
    }

    /// Waits, for as long as it takes, until stdout has written what is
    /// queued for it: a relay that ends with its input (not for a signal)
    /// never drops for a slow reader, as a blocking write did not. A
    /// signal (or stdout ending) stops the wait; then the outputs get
    /// [`outputs::PEER_PATIENCE`] more.
    async fn drain_stdout(&mut self, network: &mut Network, node: &mut Node) {
        while network.holds(self.outputs.stdout) && !self.stop.load(Ordering::Relaxed) {
            tokio::select! {
                event = network.next() => network.settle(event, node),
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// The relay's periodic work, every [`TICK`]: SIGHUP's reload, a
    /// rotation asked for, `--metrics`, `--http`, the status line, and
    /// the deliveries a delivery output took meanwhile.
    fn tick(&mut self, node: &mut Node, network: &mut Network) -> Result<(), Failure> {
        self.ticks.next = tokio::time::Instant::now() + TICK;
        if self
            .reload
            .as_ref()
            .is_some_and(|r| r.hup.swap(false, Ordering::Relaxed))
        {
            self.reload(node, network);
        }
        let t = now(&self.now);
        self.rotation.rotate_if_due(node, t)?;
        let ticks = &mut self.ticks;
        if self.metrics.is_some() && ticks.metrics.is_none_or(|m| m.elapsed() >= METRICS_EVERY) {
            ticks.metrics = Some(Instant::now());
            let counters = self.outputs.tally.applied(node.counters());
            self.report_with(&counters, network.counters(), network.peers(), false);
        }
        if let Some(board) = &self.http {
            // A loop that stdout holds back (its reader is not reading) is
            // not turning, for /healthz, though its timers run.
            let turned = !self.outputs.stdout_full(network);
            if self
                .ticks
                .published
                .is_none_or(|p| p.elapsed() >= http::PUBLISH_EVERY)
            {
                self.ticks.published = Some(Instant::now());
                let counters = self.outputs.tally.applied(node.counters());
                let up = network.connected().len();
                let text = self.metrics_text(&counters, network.counters(), network.peers());
                board.publish(text, up as u64, turned);
            } else if turned {
                board.beat();
            }
        }
        if let Some(every) = self.status_every
            && self.ticks.status.elapsed() >= every
        {
            self.ticks.status = Instant::now();
            let counters = self.outputs.tally.applied(node.counters());
            let line = net::status_line(t, &counters, network.counters(), network.peers());
            tracing::info!(target: log::STATUS, "{line}");
        }
        self.outputs.confirm_taken(node, network)
    }

    /// Stdin ended or broke: without a network that ends the relay.
    fn stdin_flow(&self) -> Flow {
        if (self.stdin_ended || self.broken.is_some()) && !self.active {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// SIGHUP: reads the config file again (the command line's flags still
    /// over it) and applies what can change while running: the peers to
    /// dial and the network's bounds. Logs one line: what changed, and what
    /// needs a restart (kept as it runs). A file that no longer reads or
    /// checks is logged and changes nothing.
    fn reload(&mut self, node: &mut Node, network: &mut Network) {
        let Some(reload) = &mut self.reload else {
            return;
        };
        let file = reload.file.display().to_string();
        let new = match config::effective(&reload.command_line) {
            Ok(new) => new,
            Err(f) => {
                let hint = f.hint.map(|h| format!(" (hint: {h})")).unwrap_or_default();
                let (what, why) = (f.what, f.why);
                tracing::warn!(%file, reason = %why, "reload {file}: {what}: {why}{hint}; nothing changed");
                return;
            }
        };
        let active = self.active;
        let (mut changed, mut restart, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in &new.settings {
            let old = reload.running.get(key).cloned().flatten();
            if old == *value {
                continue;
            }
            if !(active && RELOADABLE.contains(&key.as_str())) {
                restart.push(key.clone());
                continue;
            }
            if key != "connect" {
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".into());
                changed.push(format!("{key} {} -> {}", shown(&old), shown(value)));
            }
            reload.running.insert(key.clone(), value.clone());
        }
        if active {
            let targets = targets(&new.args, reload.difficulty);
            let done = network.retarget(&targets, node);
            let peer = |t: &Dial| format!("{}@{}/{}", t.peer, t.addr, t.difficulty);
            let mut dial: Vec<String> =
                done.added.iter().map(|t| format!("+{}", peer(t))).collect();
            dial.extend(done.gone.iter().map(|t| format!("-{}", peer(t))));
            if !dial.is_empty() {
                changed.insert(0, format!("connect {}", dial.join(" ")));
            }
            refused = done
                .refused
                .iter()
                .map(|(d, e)| format!("{}: {e}", d.peer))
                .collect();
            match net::limits_config(&new.args.limits) {
                Ok(limits) => net::set_limits(network, &settings(&new.args, targets, limits)),
                Err(f) => {
                    let (what, why) = (f.what, f.why);
                    tracing::warn!(%file, reason = %why, "reload {file}: {what}: {why}; the bounds and limits are kept as running");
                }
            }
        }
        let mut line = format!("reloaded {file}: ");
        line.push_str(&match changed.is_empty() {
            true => "nothing to change".to_string(),
            false => format!("changed {}", changed.join(", ")),
        });
        if !restart.is_empty() {
            line.push_str(&format!(
                "; needs a restart, kept as running: {}",
                restart.join(", ")
            ));
        }
        if !refused.is_empty() {
            line.push_str(&format!("; not dialed: {}", refused.join(", ")));
        }
        tracing::info!(%file, changed = changed.len(), restart = restart.len(), "{line}");
    }

    /// Rewrites the `--metrics` file; a failure is reported, never fatal
    /// (`last` says the relay is ending, so say where the file is).
    fn report(&self, counters: &Counters, last: bool) {
        let (net, peers) = &self.ended;
        self.report_with(counters, net, peers, last);
    }

    fn report_with(
        &self,
        counters: &Counters,
        net: &NetCounters,
        peers: &BTreeMap<Address, PeerStats>,
        last: bool,
    ) {
        let Some(path) = &self.metrics else { return };
        let text = self.metrics_text(counters, net, peers);
        if let Err(e) = net::write_metrics(path, &text) {
            let path = path.display();
            tracing::warn!(%path, reason = %e, "cannot write metrics to {path}: {e}");
        } else if last && !self.quiet {
            let path = path.display();
            tracing::info!(%path, "final counters in {path}");
        }
    }

    /// The Prometheus text of `--metrics` and `--http`'s /metrics.
    fn metrics_text(
        &self,
        counters: &Counters,
        net: &NetCounters,
        peers: &BTreeMap<Address, PeerStats>,
    ) -> String {
        let mut text = net::prometheus(counters, net, peers);
        text.push_str(&format!(
            "# TYPE gossip_relay_deliveries_pending gauge\ngossip_relay_deliveries_pending {}\n",
            self.outputs.tally.deferred
        ));
        text
    }
}

impl Host for Relay {
    /// The relay has no input of its own: stdin is the network's.
    type Input = std::convert::Infallible;
    type Error = Failure;

    async fn input(&mut self) -> Self::Input {
        std::future::pending().await
    }

    fn take(&mut self, input: Self::Input, _: &mut Node, _: &mut Network) -> Result<Flow, Failure> {
        match input {}
    }

    /// Takes an object from stdin in: a message received (the engine
    /// verifies the batch together, in parallel; answers to its signer go
    /// to stdout), a bulletin published, a bad object counted. A wire
    /// stream whose framing broke ends stdin there.
    fn input_event(
        &mut self,
        event: ConnEvent,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<Flow, Failure> {
        let (conn, item) = match event {
            ConnEvent::Object {
                conn,
                object,
                charge,
            } => {
                self.charges.push(charge);
                (conn, object)
            }
            ConnEvent::Closed { .. } => {
                self.stdin_ended = true;
                return Ok(self.stdin_flow());
            }
            _ => return Ok(Flow::Continue),
        };
        match item {
            Ok(Object::Message(m)) => network
                .receive(conn, m, node, now(&self.now))
                .map_err(node_failure)?,
            Ok(Object::Bulletin(b)) => {
                if let Err(e) = node.publish(b, now(&self.now)) {
                    tracing::warn!(reason = %e, "bulletin from stdin not published: {e}");
                }
            }
            Err(ReadError::Io(e)) => return Err(Failure::io("relay: reading stdin", e)),
            Err(ReadError::Decode { error, fatal: true }) => {
                self.outputs.tally.malformed += 1;
                self.broken = Some(
                    Failure::malformed("relay: stdin", error)
                        .hint("the rest of the input was not read: its framing cannot be trusted"),
                );
                return Ok(self.stdin_flow());
            }
            Err(ReadError::Decode { error, .. }) => {
                self.outputs.tally.malformed += 1;
                if !self.quiet {
                    tracing::warn!(reason = %error, "malformed input object: {error}");
                }
            }
        }
        Ok(Flow::Continue)
    }

    fn deliver(
        &mut self,
        bulletins: Vec<Bulletin>,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<(), Failure> {
        self.outputs.deliver(node, network, bulletins, true)
    }

    fn event(&mut self, event: &Event, node: &mut Node) {
        if let Event::DeliveryCodeRotated { .. } = event {
            codes::rotated(node, "--rotate-delivery-code");
        }
    }

    fn unsent(&mut self, n: u64) {
        self.outputs.tally.unsent += n;
    }

    /// Frees the round's stdin bytes, logs the network's notices, counts
    /// what outputs that ended never wrote; stops on a signal, or when
    /// stdout and the outputs are gone and there is no network.
    fn ran(&mut self, _: &mut Node, network: &mut Network) -> Result<Flow, Failure> {
        self.charges.clear();
        self.notices.log(network);
        self.outputs.take_unwritten(network);
        let open = self.outputs.any_open(network);
        let stop = self.stop.load(Ordering::Relaxed) || (!open && !self.active);
        Ok(if stop { Flow::Stop } else { Flow::Continue })
    }

    fn poll_timeout(&self) -> Option<tokio::time::Instant> {
        Some(self.ticks.next)
    }

    fn handle_timeout(&mut self, node: &mut Node, network: &mut Network) -> Result<Flow, Failure> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Flow::Stop);
        }
        self.tick(node, network)?;
        Ok(Flow::Continue)
    }

    /// Backpressure: stdout holding more than its bound, or a delivery
    /// file that holds back its limit, stops the input until it takes
    /// some (the file's retry is in the tick).
    fn paused(&self, network: &Network) -> bool {
        self.outputs.is_full(network)
    }

    fn unix_now(&self) -> Timestamp {
        now(&self.now)
    }

    fn failed(&mut self, step: Step, error: NodeError) -> Failure {
        match step {
            Step::Timers => Failure::io("relay: purging the store", error),
            Step::Network => Failure::io("relay: delivery-code notice", error),
            Step::Repair => Failure::io("relay: forwarding again", error),
            _ => node_failure(error),
        }
    }
}
