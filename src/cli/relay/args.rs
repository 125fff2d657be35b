//! `gossip relay`'s flags.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gossip::DELIVERY_CODE_LEN;
use gossip::crypto::Cipher;
use gossip::pow::DEFAULT_MESSAGE_DIFFICULTY;
use gossip::session::{
    DEFAULT_BIND_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SEND_QUEUE,
    DEFAULT_SEND_TOTAL,
};

use crate::cli::flags::{
    AcceptArgs, ConnectSpec, KeyArgs, ListenSpec, NowArgs, OutputArgs, cipher_parser,
};
use crate::cli::value::{self, HexBytes};

/// How the relay's log reads.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormatArg {
    /// A line a person reads: `gossip: relay: ...`.
    Text,
    /// One JSON object per event, with its fields.
    Json,
}

/// The least severe events the relay logs.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevelArg {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Args, Debug)]
pub struct RelayArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// A neighbour; its messages go to PATH (a file or fifo) or, without one, to stdout. Repeatable.
    #[arg(long = "peer", value_name = "ADDR[=PATH]", value_parser = peer_spec)]
    pub peers: Vec<PeerSpec>,
    /// Follow a topic by descriptor: its bulletins are delivered. Repeatable (--subscribe is an alias).
    #[arg(long = "topic", alias = "subscribe", value_name = "DESC")]
    pub subscribe: Vec<String>,
    /// Follow a topic by id (64 hex digits). Repeatable (--subscribe-id is an alias).
    #[arg(long = "topic-id", alias = "subscribe-id", value_name = "HEX",
          value_parser = value::parsed::<HexBytes<32>>("--topic-id"))]
    pub subscribe_ids: Vec<HexBytes<32>>,
    /// Keep bulletins and the seen set in this SQLite file across restarts.
    #[arg(long, value_name = "DB")]
    pub store: Option<std::path::PathBuf>,
    /// Write delivered bulletins as JSON lines to PATH ('-' is stdout, when no peer writes there).
    #[arg(long, value_name = "PATH")]
    pub deliver: Option<std::path::PathBuf>,
    /// Message difficulty asked of and used towards each peer.
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=32))]
    pub difficulty: u32,
    #[command(flatten)]
    pub accept: AcceptArgs,
    /// Do not ask peers for the content of followed topics at start.
    #[arg(long)]
    pub no_sync: bool,
    /// Sealed-box cipher for outgoing messages.
    #[arg(long, default_value_t = Cipher::XSalsa20Poly1305, value_parser = cipher_parser())]
    pub cipher: Cipher,
    /// Do not log each malformed input object (they are still counted).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// This relay's delivery code, 16 hex digits (default: the one --store keeps, else a random one).
    #[arg(long, value_name = "HEX",
          value_parser = value::parsed::<HexBytes<DELIVERY_CODE_LEN>>("--delivery-code"))]
    pub delivery_code: Option<HexBytes<DELIVERY_CODE_LEN>>,
    /// Send every peer the notice of the current delivery code at start, as a rotation does, and each TCP peer again whenever a connection to it comes up.
    #[arg(long)]
    pub announce_delivery_code: bool,
    /// Rotate the delivery code every EVERY: seconds, or a number with s, m, h or d.
    #[arg(long, value_name = "EVERY", value_parser = parse_every)]
    pub rotate_delivery_code: Option<u64>,
    /// Accept connections on HOST:PORT (TCP) or unix:PATH (a Unix socket), wire frames both ways; a peer is learned from the src of its first valid message. /BITS sets the message difficulty of peers accepted there (default -d). Repeatable.
    #[arg(long, value_name = "HOST:PORT[/BITS]", value_parser = value::parsed::<ListenSpec>("--listen"))]
    pub listen: Vec<ListenSpec>,
    /// Dial the peer ADDR at HOST:PORT (or unix:PATH) and keep the link up (redialed with backoff; followed topics synced on each connect). /BITS sets its message difficulty (default -d). Repeatable.
    #[arg(long, value_name = "ADDR@HOST:PORT[/BITS]", value_parser = value::parsed::<ConnectSpec>("--connect"))]
    pub connect: Vec<ConnectSpec>,
    /// Most accepted connections open at once; past it the oldest one that sent no valid message yet is closed (or the new one, when all are bound), counted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Close a connection that sends no whole message for SECS (since its last one).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Close an accepted connection that sends no valid message within SECS.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_BIND_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub bind_timeout: u64,
    /// Bytes one connection's send queue may hold (the frame being written included), and one --peer ADDR=PATH output's (or a --deliver fifo's) queue; a slow peer's excess is dropped for it alone and counted.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SEND_QUEUE)]
    pub send_queue: usize,
    /// Bytes all connections' send queues together may hold (at least 32 MiB, so the largest message fits); forwards past it are owed to their peer and sent when there is room.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SEND_TOTAL as u64,
          value_parser = clap::value_parser!(u64).range(32 << 20..))]
    pub send_total: u64,
    /// A peer that connects to --listen with this address is treated as configured: answered without the answer budget and sent messages at the listener's /BITS. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = value::parsed::<gossip::Address>("--trust"))]
    pub trust: Vec<gossip::Address>,
    /// Sync by full lists only: do not advertise set reconciliation (negentropy) in sync requests, and answer peers that advertise it with full lists. By default the relay reconciles with peers that advertise it and falls back to full lists after 10 s of silence.
    #[arg(long)]
    pub no_reconcile: bool,
    /// How new bulletins spread. plumtree (the default): advertise the dissemination extension (plumtree-v1); to peers that advertise it too, push new bulletins along a tree and announce their ids to the others in batches every 2 s, to be fetched (grafted) when the tree misses them; about half of flooding's messages and CPU on a mesh of 20 relays with 4 publishers. flood: every neighbour gets every new bulletin. Peers that do not advertise the extension are flooded either way.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = SpreadArg::Plumtree)]
    pub dissemination: SpreadArg,
    /// Rewrite FILE every few seconds with the counters, per peer too, in Prometheus text format.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Serve GET /metrics (the --metrics text, refreshed every second) and /healthz over HTTP on HOST:PORT (port 0: any free port; the one bound is printed at start). /healthz answers 200, or 503 with one line per reason: the store's directory takes no write (probed every 2 s), the relay's loop has not turned for --healthy-loop SECS, or fewer than --healthy-peers peers are connected. At most 16 connections, a request head of 8 KiB within 5 s.
    #[arg(long, value_name = "HOST:PORT", value_parser = value::parsed::<HttpAddr>("--http"))]
    pub http: Option<HttpAddr>,
    /// With --http: /healthz answers 503 while fewer than N peers (of --connect or --listen) are connected.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub healthy_peers: u64,
    /// With --http: /healthz answers 503 when the relay's loop has not turned for SECS.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub healthy_loop: u64,
    /// Print a JSON status line (counters, per peer too) on stderr every SECS.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub status_every: Option<u64>,
    /// How the log on stderr reads: text (`gossip: relay: ...` lines) or json (one object per event: timestamp, level, target, message and fields such as peer, remote, reason and counts). The status line is JSON in both.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,
    /// The least severe events logged (default: RUST_LOG's level or target=level directives, else info). warn keeps faults only.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevelArg>,
    #[command(flatten)]
    pub limits: Box<LimitsArgs>,
    #[command(flatten)]
    pub now: NowArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Read settings from a TOML file whose keys are these long flags (max-connections = 64, connect = ["ADDR@HOST:PORT"], no-sync = true). A flag given here, or GOSSIP_KEY or GOSSIP_NOW, overrides the file's; a list flag given here replaces the file's whole list. SIGHUP reads the file again and applies what can change while running (connect, max-connections, idle-timeout, bind-timeout, send-queue, send-total); it logs what changed and what needs a restart.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the settings in effect (the --config file, the environment and these flags over it, the defaults) as TOML on stdout, and exit without starting the relay.
    #[arg(long)]
    pub print_config: bool,
    /// The command line as given, to read --config again on SIGHUP.
    #[arg(skip)]
    pub command_line: Vec<std::ffi::OsString>,
}

/// `--peer ADDR[=PATH]`.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    pub peer: gossip::Address,
    pub path: Option<PathBuf>,
}

/// Parses `--peer ADDR[=PATH]`; a bad address is named as `--peer address`.
fn peer_spec(text: &str) -> Result<PeerSpec, value::BadValue> {
    let (addr, path) = match text.split_once('=') {
        Some((a, p)) => (a, Some(PathBuf::from(p))),
        None => (text, None),
    };
    Ok(PeerSpec {
        peer: value::address("--peer address")(addr)?,
        path,
    })
}

/// `--http HOST:PORT`, checked for its shape; resolved when bound.
#[derive(Clone, Debug)]
pub struct HttpAddr(pub String);

impl std::str::FromStr for HttpAddr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or("not HOST:PORT (port 0 takes any free port)")?;
        if host.is_empty() {
            return Err("no host before the port".into());
        }
        port.parse::<u16>()
            .map_err(|_| format!("'{port}' is not a port from 0 to 65535"))?;
        Ok(Self(text.to_string()))
    }
}

/// Parses a period: seconds, or a number with s, m, h or d; at least 1 s.
fn parse_every(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit '{unit}' (use s, m, h or d)")),
    };
    match digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(secs) if secs > 0 => Ok(secs),
        _ => Err("expected a whole number of at least 1 before the unit".into()),
    }
}

/// How a relay spreads new bulletins (`--dissemination`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadArg {
    /// Every neighbour gets every new bulletin.
    Flood,
    /// The dissemination extension with the peers that advertise it.
    Plumtree,
}

/// `gossip relay`'s limits per source: on connections its listeners accept
/// (peers it dials and stdin are not limited). Every default limits
/// nothing.
#[derive(Args, Debug, Clone)]
pub struct LimitsArgs {
    /// Accepted connections one IP address may hold at once; a connection past it is closed as it opens, counted (limited_connections). Default: no limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: Option<u32>,
    /// Messages a second one IP address may send, with --burst; past it they are dropped before verification, counted (limited_messages) and logged once per --limits-log-every per source. Default: no limit.
    #[arg(long, value_name = "MSGS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_per_ip: Option<u64>,
    /// Message bytes a second one IP address may send, with --byte-burst. Default: no limit.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub bytes_per_ip: Option<u64>,
    /// Messages a second one peer key may send, over all its connections, with --burst (a connection's peer is its key once a valid message named it). Default: no limit.
    #[arg(long, value_name = "MSGS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_per_peer: Option<u64>,
    /// Message bytes a second one peer key may send, with --byte-burst. Default: no limit.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub bytes_per_peer: Option<u64>,
    /// Messages a source may send at once beyond its rate (--rate-per-ip, --rate-per-peer). Default: one second's worth of the rate.
    #[arg(long, value_name = "MSGS", value_parser = clap::value_parser!(u64).range(1..))]
    pub burst: Option<u64>,
    /// Bytes a source may send at once beyond its byte rate (--bytes-per-ip, --bytes-per-peer); a message larger than this still goes when the source has sent nothing for a while. Default: one second's worth of the rate.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub byte_burst: Option<u64>,
    /// Never limit this IP address, range (ADDR/BITS) or peer address; wins over --deny. Repeatable.
    #[arg(long, value_name = "IP|CIDR|ADDR", value_parser = access_entry)]
    pub allow: Vec<String>,
    /// Refuse this IP address or range (ADDR/BITS) at accept, or this peer address's messages before verification; counted (denied_connections, denied_messages). Repeatable.
    #[arg(long, value_name = "IP|CIDR|ADDR", value_parser = access_entry)]
    pub deny: Vec<String>,
    /// Count and log what the limits and --deny would refuse, refusing nothing.
    #[arg(long)]
    pub limits_shadow: bool,
    /// Log what each source had refused at most once every SECS (the first refusal at once), with the counts since.
    #[arg(long, value_name = "SECS", default_value_t = gossip::session::DEFAULT_REPORT_EVERY.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limits_log_every: u64,
}

/// An --allow or --deny entry: an IP address, a range or a peer address.
fn access_entry(text: &str) -> Result<String, String> {
    let mut list = gossip::session::AccessList::default();
    list.add(text).map_err(|e| e.to_string())?;
    Ok(text.trim().to_string())
}
