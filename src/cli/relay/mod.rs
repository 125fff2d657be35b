//! `gossip relay`: one node of the network, on stdin/stdout and on TCP.
//!
//! Objects are read on a thread (stdin) and by the library's network
//! endpoint (`--listen`, `--connect`, see [`net`]), and the main loop waits
//! on both, so it can also notice SIGTERM/SIGINT and purge expired content
//! while input is idle. Each batch is run through the node engine to
//! completion before the next: its deliveries and forwards are written and
//! flushed at once, so relays chained with netcat pass bulletins along
//! without delay.
//!
//! `gossip sync` drives one connection of its own on the same endpoint.

pub(super) mod args;
mod codes;
pub(super) mod config;
mod deliver;
mod http;
pub(super) mod in_flight;
mod log;
pub(super) mod net;
mod output;
mod outputs;
mod tally;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use args::{RelayArgs, SpreadArg};
use deliver::Delivery;
use gossip::Address;
use gossip::Bulletin;
use gossip::Counters;
use gossip::codec::{Format, Kind, Object, ObjectReader, ReadError};
use gossip::net::{Endpoint, Frame, Limits};
use gossip::node::{Node, NodeConfig, NodeError};
use gossip::session::LimitsConfig;
use gossip::store::SqliteStore;
use gossip::{TopicId, topic_id};
use in_flight::InFlight;
use net::{Input, Network, Settings, Target};
use output::Output;
use outputs::{Outputs, Sink};
use tally::Tally;

use super::flags::{FormatArg, NowArgs};
use super::io::{
    CmdResult, Failure, config_failure, load_identity, now, refuse_binary_on_terminal, regular_file,
};
use gossip::Timestamp;

/// Most input objects verified together in one batch.
const BATCH: usize = 256;

/// How often `--metrics` is rewritten.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// Delivers again what a crash may have kept from the delivery output: the
/// store's unconfirmed deliveries that a delivery file does not already
/// hold (a stream output cannot be checked, so those are all delivered).
fn recover_deliveries(
    node: &mut Node,
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
    outputs.deliver(node, missing, false)
}

/// Queues a batch of inputs on the node: messages received (the engine
/// verifies them together, in parallel), bulletins published, bad objects
/// counted, network events taken in. A wire stream on stdin whose framing
/// broke is kept in `broken`: stdin ends there, and the relay, once it has
/// handled what came before, exits 3. Returns the bytes to free from the
/// in-flight budget once the batch is handled (a connection's messages are
/// kept in `held` until then), and whether stdin ended.
fn take_batch(
    relay: &mut Relay,
    batch: Vec<Input>,
    t: u64,
    broken: &mut Option<Failure>,
    held: &mut Vec<Frame>,
) -> Result<(usize, bool), Failure> {
    let (mut bytes, mut ended) = (0, false);
    for input in batch {
        let item = match input {
            Input::Stdin(item) => item,
            Input::StdinEnd => {
                ended = true;
                continue;
            }
            Input::Net(event) => {
                relay.outputs.net.handle(event, &mut relay.node, t, held)?;
                continue;
            }
        };
        bytes += in_flight::size_of(&item);
        match item {
            Ok(Object::Message(m)) => {
                relay.outputs.net.heard_on_stdin(m.src);
                relay.node.receive(m)
            }
            Ok(Object::Bulletin(b)) => {
                if let Err(e) = relay.node.publish(b, Timestamp::from_secs(t)) {
                    tracing::warn!(reason = %e, "bulletin from stdin not published: {e}");
                }
            }
            Err(ReadError::Io(e)) => return Err(Failure::io("relay: reading stdin", e)),
            Err(ReadError::Decode { error, fatal: true }) => {
                relay.outputs.tally.malformed += 1;
                *broken = Some(
                    Failure::malformed("relay: stdin", error)
                        .hint("the rest of the input was not read: its framing cannot be trusted"),
                );
            }
            Err(ReadError::Decode { error, .. }) => {
                relay.outputs.tally.malformed += 1;
                if !relay.quiet {
                    tracing::warn!(reason = %error, "malformed input object: {error}");
                }
            }
        }
    }
    Ok((bytes, ended))
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
fn targets(args: &RelayArgs, difficulty: u32) -> Vec<Target> {
    args.connect
        .iter()
        .map(|spec| Target {
            peer: spec.peer,
            addr: spec.addr.clone(),
            difficulty: spec.difficulty.unwrap_or(difficulty),
        })
        .collect()
}

/// The network's settings from `args`, dialing `connect`.
fn settings(args: &RelayArgs, connect: Vec<Target>, limits: LimitsConfig) -> Settings {
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
        quiet: args.quiet,
        limits,
    }
}

fn node_failure(e: NodeError) -> Failure {
    Failure::io("relay", e)
}

/// A relay built from its arguments, ready to run.
struct Relay {
    node: Node,
    outputs: Outputs,
    rotation: codes::Rotation,
    stop: Arc<AtomicBool>,
    deliver: Option<PathBuf>,
    now: NowArgs,
    quiet: bool,
    /// The network's settings, when it listens or dials; it starts with
    /// the loop.
    settings: Option<Settings>,
    metrics: Option<PathBuf>,
    /// Where `--http` reads what the loop publishes.
    http: Option<http::Board>,
    status_every: Option<Duration>,
    /// With --config: how SIGHUP reloads it.
    reload: Option<Reload>,
}

pub fn run(args: RelayArgs) -> CmdResult {
    if args.print_config {
        print!("{}", config::effective(&args.command_line)?.text);
        return Ok(ExitCode::SUCCESS);
    }
    Relay::build(args)?.run()
}

impl Relay {
    /// Installs the signal handlers, opens the store, sets the node up
    /// (topics, peers, sync requests, the delivery-code notice) and opens
    /// the outputs.
    fn build(args: RelayArgs) -> Result<Self, Failure> {
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
        let net = Network::new()?;
        let mut files = Endpoint::new(Limits::default())
            .map_err(|e| Failure::io("relay: cannot start the outputs", e))?;
        let mut peers = BTreeMap::new();
        for (addr, path) in &peer_paths {
            if let Some(path) = path {
                let out = Output::open(&mut files, net.runtime(), path, "peer", args.send_queue)?;
                peers.insert(*addr, out);
            }
        }
        let deliver = match &args.deliver {
            Some(p) if p != Path::new("-") => Some(Delivery::open(
                p,
                args.store.is_some(),
                args.send_queue,
                &mut files,
                net.runtime(),
            )?),
            _ => None,
        };
        let outputs = Outputs {
            stdout: Sink::new("stdout".into(), Box::new(std::io::stdout())),
            peers,
            files: Some(files),
            deliver,
            deliver_to_stdout,
            format,
            tally: Tally::default(),
            net,
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
        let limits = net::limits_config(&args.limits)?;
        let network = (!args.listen.is_empty() || !connect.is_empty())
            .then(|| settings(&args, connect, limits));
        Ok(Self {
            node,
            outputs,
            rotation,
            stop,
            deliver: args.deliver,
            now: args.now,
            quiet: args.quiet,
            settings: network,
            metrics: args.metrics,
            http,
            status_every: args.status_every.map(Duration::from_secs),
            reload,
        })
    }

    /// Delivers what the last run left pending, then runs the loop until
    /// input ends, a signal, or an error; prints the counters.
    fn run(mut self) -> CmdResult {
        let started = now(&self.now);
        let (node, outputs) = (&mut self.node, &mut self.outputs);
        let recovered = recover_deliveries(node, outputs, self.deliver.as_deref())
            .and_then(|()| node.run_until_idle_parallel(started).map_err(node_failure))
            .and_then(|()| outputs.drain(node));
        if let Err(failure) = recovered {
            // The outputs still get what was queued for them (bounded).
            let _ = outputs.finish(node);
            return Err(failure);
        }

        // The relay keeps a sender too: the channel stays open after
        // stdin ends (StdinEnd says so).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(1024);
        let in_flight = Arc::new(InFlight::default());
        let reader_budget = Arc::clone(&in_flight);
        let stdin_tx = tx.clone();
        std::thread::spawn(move || {
            let input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
            for item in ObjectReader::new(input, Kind::Any) {
                reader_budget.take(in_flight::size_of(&item));
                if stdin_tx.blocking_send(Input::Stdin(item)).is_err() {
                    return;
                }
            }
            let _ = stdin_tx.blocking_send(Input::StdinEnd);
        });
        if let Some(settings) = self.settings.take() {
            self.outputs.net.start(settings)?;
        }

        let mut broken = None;
        let mut result = self.serve(&mut rx, &in_flight, &mut broken);
        drop(tx);
        let node = &mut self.node;
        if result.is_ok() {
            result = node
                .run_until_idle_parallel(now(&self.now))
                .map_err(node_failure)
                .and_then(|()| self.outputs.drain(node).map(drop));
        }
        let finished = self.outputs.finish(node);
        if result.is_ok() {
            result = finished;
        }
        let counters = self.outputs.tally.applied(node.counters());
        self.report(&counters, true);
        match self.outputs.tally.deferred {
            0 => tracing::info!("{counters}"),
            n => tracing::info!(deliveries_pending = n, "{counters} deliveries_pending={n}"),
        }
        if self.outputs.net.is_active() {
            let net = self.outputs.net.counters();
            tracing::info!(network = %net, "network: {net}");
        }
        result.and_then(|()| broken.map_or(Ok(ExitCode::SUCCESS), Err))
    }

    /// The loop: rotations, purges and reports when due, then each batch of
    /// input through the engine and out. Ok when input ended (stdin, when
    /// there is no network), a signal came or the outputs are gone.
    fn serve(
        &mut self,
        rx: &mut tokio::sync::mpsc::Receiver<Input>,
        in_flight: &InFlight,
        broken: &mut Option<Failure>,
    ) -> Result<(), Failure> {
        let mut last_metrics: Option<Instant> = None;
        let mut last_published: Option<Instant> = None;
        let mut last_status = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if self
                .reload
                .as_ref()
                .is_some_and(|r| r.hup.swap(false, Ordering::Relaxed))
            {
                self.reload();
            }
            let t = now(&self.now);
            if self.rotation.rotate_if_due(&mut self.node, t.as_secs())?
                && !self.outputs.drain(&mut self.node)?
            {
                return Ok(());
            }
            if self.node.poll_timeout().is_some_and(|due| due <= t) {
                // The engine's timers: purges, a scheduled rotation, sync
                // timeouts.
                self.node
                    .handle_timeout(t)
                    .map_err(|e| Failure::io("relay: purging the store", e))?;
                self.node.run_until_idle_parallel(t).map_err(node_failure)?;
                if !self.outputs.drain(&mut self.node)? {
                    return Ok(());
                }
            }
            if self.metrics.is_some() && last_metrics.is_none_or(|m| m.elapsed() >= METRICS_EVERY) {
                last_metrics = Some(Instant::now());
                let counters = self.outputs.tally.applied(self.node.counters());
                self.report(&counters, false);
            }
            if let Some(board) = &self.http {
                if last_published.is_none_or(|p| p.elapsed() >= http::PUBLISH_EVERY) {
                    last_published = Some(Instant::now());
                    let counters = self.outputs.tally.applied(self.node.counters());
                    let peers = self.outputs.net.peers().values();
                    let up = peers.filter(|p| p.connected > 0).count();
                    board.publish(self.metrics_text(&counters), up as u64);
                } else {
                    board.beat();
                }
            }
            if let Some(every) = self.status_every
                && last_status.elapsed() >= every
            {
                last_status = Instant::now();
                let counters = self.outputs.tally.applied(self.node.counters());
                let net = &self.outputs.net;
                let line = net::status_line(t.as_secs(), &counters, net.counters(), net.peers());
                tracing::info!(target: log::STATUS, "{line}");
            }
            if self.outputs.delivery_is_full() {
                // Backpressure: the delivery file holds back its limit, so
                // no more input is read (the retry is in confirm_taken).
                std::thread::sleep(Duration::from_millis(200));
                self.outputs.confirm_taken(&mut self.node)?;
                continue;
            }
            self.outputs.net.sweep();
            self.outputs.net.grant(&mut self.node);
            let (repaired, lost) = self.outputs.net.repair(&mut self.node, t.as_secs())?;
            self.outputs.tally.unsent += lost;
            if repaired {
                self.node.run_until_idle_parallel(t).map_err(node_failure)?;
                self.outputs.drain(&mut self.node)?;
            }
            // A link that is owed bulletins is looked at again soon.
            let wait = if self.outputs.net.owes() { 20 } else { 200 };
            // Whatever else has already arrived joins this batch, so a busy
            // relay verifies and prepares on all cores; a quiet one still
            // handles each message the moment it comes.
            let Some(batch) = self
                .outputs
                .net
                .wait(rx, Duration::from_millis(wait), BATCH)
            else {
                return Ok(());
            };
            if batch.is_empty() {
                self.outputs.confirm_taken(&mut self.node)?;
                continue;
            }
            let t = now(&self.now);
            let mut held = Vec::new();
            let (bytes, stdin_ended) = take_batch(self, batch, t.as_secs(), broken, &mut held)?;
            self.outputs.net.grant(&mut self.node);
            self.node.run_until_idle_parallel(t).map_err(node_failure)?;
            self.outputs.net.end_batch();
            in_flight.free(bytes);
            drop(held);
            // With a network, stdout closing ends nothing: a remote party
            // can never make the relay end through it.
            if !self.outputs.drain(&mut self.node)? && !self.outputs.net.is_active() {
                return Ok(());
            }
            if (stdin_ended || broken.is_some()) && !self.outputs.net.is_active() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// SIGHUP: reads the config file again (the command line's flags still
    /// over it) and applies what can change while running: the peers to
    /// dial and the network's bounds. Logs one line: what changed, and what
    /// needs a restart (kept as it runs). A file that no longer reads or
    /// checks is logged and changes nothing.
    fn reload(&mut self) {
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
        let network = self.outputs.net.is_active();
        let (mut changed, mut restart, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in &new.settings {
            let old = reload.running.get(key).cloned().flatten();
            if old == *value {
                continue;
            }
            if !(network && RELOADABLE.contains(&key.as_str())) {
                restart.push(key.clone());
                continue;
            }
            if key != "connect" {
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".into());
                changed.push(format!("{key} {} -> {}", shown(&old), shown(value)));
            }
            reload.running.insert(key.clone(), value.clone());
        }
        if network {
            let targets = targets(&new.args, reload.difficulty);
            let done = self.outputs.net.retarget(&targets, &mut self.node);
            let peer = |t: &Target| format!("{}@{}/{}", t.peer, t.addr, t.difficulty);
            let mut dial: Vec<String> =
                done.added.iter().map(|t| format!("+{}", peer(t))).collect();
            dial.extend(done.gone.iter().map(|t| format!("-{}", peer(t))));
            if !dial.is_empty() {
                changed.insert(0, format!("connect {}", dial.join(" ")));
            }
            refused = done.refused;
            match net::limits_config(&new.args.limits) {
                Ok(limits) => self
                    .outputs
                    .net
                    .set_limits(&settings(&new.args, targets, limits)),
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
        let Some(path) = &self.metrics else { return };
        let text = self.metrics_text(counters);
        if let Err(e) = net::write_metrics(path, &text) {
            let path = path.display();
            tracing::warn!(%path, reason = %e, "cannot write metrics to {path}: {e}");
        } else if last && !self.quiet {
            let path = path.display();
            tracing::info!(%path, "final counters in {path}");
        }
    }

    /// The Prometheus text of `--metrics` and `--http`'s /metrics.
    fn metrics_text(&self, counters: &Counters) -> String {
        let net = &self.outputs.net;
        let mut text = net::prometheus(counters, net.counters(), net.peers());
        text.push_str(&format!(
            "# TYPE gossip_relay_deliveries_pending gauge\ngossip_relay_deliveries_pending {}\n",
            self.outputs.tally.deferred
        ));
        text
    }
}
