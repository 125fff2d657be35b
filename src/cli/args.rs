//! The command line's clap definitions, all in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gossip::Address;
use gossip::crypto::Cipher;
use gossip::net::NetAddr;
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use gossip::verify::DEFAULT_SKEW;
use gossip::{DELIVERY_CODE_LEN, TopicId, inbox_topic};

use super::value::{self, HexBytes, HexVec};

/// Make, mine, sign, check and relay gossip-protocol objects in shell pipelines.
///
/// Objects travel as JSON Lines (default) or length-prefixed wire frames;
/// every command that reads objects detects which from the first byte.
/// Exit codes: 0 success, 1 an object failed verification or a check,
/// 2 usage error, 3 malformed input, 4 I/O or key-file error.
#[derive(Parser, Debug)]
#[command(
    name = "gossip",
    version,
    about = "Make, mine, sign, check and relay gossip-protocol objects in shell pipelines.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate a new identity (Ed25519 seed); the file is created with mode 0600.
    Keygen(KeygenArgs),
    /// Print the address (public key) of a key file.
    Address(KeyArgs),
    /// Print a topic id: SHA-256 of a descriptor, the beacon topic, or an inbox topic.
    Topic(TopicArgs),
    /// Print the content id (SHA-256) of a file or stdin, streamed.
    ContentId(ContentIdArgs),
    /// Print the raw tapehash1 digest of a file or stdin and its leading zero bits.
    Tapehash(TapehashArgs),
    /// Build bulletins.
    #[command(subcommand)]
    Bulletin(BulletinCommand),
    /// Build messages.
    #[command(subcommand)]
    Message(MessageCommand),
    /// Mine each object's nonce to a difficulty, or check it with --check.
    Hashcash(HashcashArgs),
    /// Seal each message's body to its destination (sealed box).
    Encrypt(EncryptArgs),
    /// Open each message's sealed body with the destination's key.
    Decrypt(DecryptArgs),
    /// Sign messages; wrap, encrypt, sign and mine bulletins, ready to send.
    Sign(SignArgs),
    /// Check messages and bulletins, printing one verdict per object.
    Verify(VerifyArgs),
    /// Verify, decrypt and unwrap messages to the bulletins they carry (other payloads are refused).
    Open(OpenArgs),
    /// Show objects in human-readable form, with the checks that need no key.
    Inspect(InspectArgs),
    /// Convert JSON objects to their exact packed bytes.
    Pack(PackArgs),
    /// Convert packed bytes to JSON objects.
    Unpack(UnpackArgs),
    /// Run one node on stdin/stdout and TCP (--listen, --connect): verify, store, deliver and forward.
    Relay(Box<RelayArgs>),
    /// Reconcile a store with one peer over TCP, once: fetch what it lacks, push what the peer lacks.
    Sync(SyncArgs),
    /// Read and manage a relay's bulletin store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run a whole network of nodes in one process and report how bulletins spread.
    Simulate(SimulateArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff) of the tool or of a subcommand, or write them all to a directory.
    Man(ManArgs),
}

/// `--cipher`: its values listed in `--help` and completed by the shells.
fn cipher_parser() -> impl clap::builder::TypedValueParser<Value = Cipher> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new(Cipher::XSalsa20Poly1305.name())
            .help("libsodium's crypto_box_seal, as the original uses"),
        PossibleValue::new(Cipher::XChaCha20Poly1305.name())
            .help("libsodium's crypto_box_curve25519xchacha20poly1305_seal"),
    ])
    .try_map(|name| name.parse::<Cipher>())
}

/// Where to find a key file.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Key file (what keygen writes, or a bare 64-hex seed).
    #[arg(short = 'k', long = "key", env = "GOSSIP_KEY", value_name = "KEY")]
    pub key: PathBuf,
}

/// An optional key file.
#[derive(Args, Debug, Clone)]
pub struct OptionalKeyArgs {
    /// Key file of the receiver; enables the destination, decryption and inner-bulletin checks.
    #[arg(short = 'k', long = "key", env = "GOSSIP_KEY", value_name = "KEY")]
    pub key: Option<PathBuf>,
}

/// How objects are written.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format of objects.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
    /// Same as --format json (the default).
    #[arg(long, hide = true, conflicts_with = "format")]
    pub json: bool,
}

/// How a command that prints for people writes: `--format text|json`
/// (`--json` is kept as a hidden alias of `--format json`).
#[derive(Args, Debug, Clone)]
pub struct TextOutputArgs {
    /// Output format: text for people, or json (one JSON object per line).
    #[arg(long, value_enum, default_value_t = TextFormatArg::Text)]
    pub format: TextFormatArg,
    /// Same as --format json.
    #[arg(long, hide = true, conflicts_with = "format")]
    pub json: bool,
}

impl TextOutputArgs {
    /// Whether JSON was asked for.
    pub fn json(&self) -> bool {
        self.json || self.format == TextFormatArg::Json
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormatArg {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    /// JSON Lines, one object per line.
    Json,
    /// 4-byte big-endian length, then the packed bytes.
    Wire,
}

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

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeArg {
    Bulletin,
    Message,
}

/// How many threads mine.
#[derive(Args, Debug, Clone)]
pub struct JobsArgs {
    /// Mining threads, 1 to 1024 (default: all cores).
    #[arg(short = 'j', long = "jobs", value_name = "THREADS",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
}

/// The time used for age and expiry checks.
#[derive(Args, Debug, Clone)]
pub struct NowArgs {
    /// Current time in seconds since the epoch (default: the system clock).
    #[arg(long, env = "GOSSIP_NOW", value_name = "TS")]
    pub now: Option<u64>,
}

/// Where objects come from.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Read objects from FILE instead of stdin ('-' is stdin).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the key to FILE (mode 0600) instead of stdout; the address goes to stderr.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["descriptor", "hex", "beacon", "inbox"]))]
pub struct TopicArgs {
    /// The topic descriptor (UTF-8 text).
    pub descriptor: Option<String>,
    /// The descriptor as hex bytes.
    #[arg(long, value_name = "HEX", value_parser = value::parsed::<HexVec>("--hex"))]
    pub hex: Option<HexVec>,
    /// The beacon topic every node follows.
    #[arg(long)]
    pub beacon: bool,
    #[command(flatten)]
    pub inbox: InboxArgs,
    /// text: bare hex; json: a topic object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

/// An inbox topic: a node's address and its delivery code, given together.
#[derive(Args, Debug)]
pub struct InboxArgs {
    /// The inbox topic of the node with this address (needs --delivery-code).
    #[arg(long, value_name = "ADDRESS", requires = "delivery_code",
          value_parser = value::address("address"))]
    pub inbox: Option<Address>,
    /// The inbox's delivery code, 16 hex digits (`gossip store peers` shows those learned).
    #[arg(long, value_name = "HEX", requires = "inbox",
          value_parser = value::parsed::<HexBytes<DELIVERY_CODE_LEN>>("--delivery-code"))]
    pub delivery_code: Option<HexBytes<DELIVERY_CODE_LEN>>,
}

impl InboxArgs {
    /// The inbox topic, when given.
    pub fn topic(&self) -> Option<TopicId> {
        Some(inbox_topic(&self.delivery_code?.0, &self.inbox?))
    }
}

#[derive(Args, Debug)]
pub struct ContentIdArgs {
    /// File to hash ('-' or nothing: stdin).
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TapehashArgs {
    /// Program length in bytes (1..=65536); the protocol uses 64.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub code_size: u32,
    /// File to hash ('-' or nothing: stdin).
    pub file: Option<PathBuf>,
    /// text: "HEX BITS"; json: a tapehash object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

#[derive(Subcommand, Debug)]
pub enum BulletinCommand {
    /// Build an unmined bulletin (nonce 0); pipe it to `gossip hashcash`.
    New(BulletinNewArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("topic_src").required(true).args(["topic", "topic_id", "inbox"]))]
#[command(group = clap::ArgGroup::new("content_src").args(["text", "file"]))]
pub struct BulletinNewArgs {
    /// Topic descriptor; its SHA-256 is the topic id.
    #[arg(long, value_name = "DESC")]
    pub topic: Option<String>,
    /// Topic id as 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = value::parsed::<HexBytes<32>>("--topic-id"))]
    pub topic_id: Option<HexBytes<32>>,
    #[command(flatten)]
    pub inbox: InboxArgs,
    /// Timestamp (default: --now, else the system clock).
    #[arg(long, value_name = "N")]
    pub ts: Option<u32>,
    #[command(flatten)]
    pub now: NowArgs,
    /// Nonce (default 0).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub nonce: u32,
    /// The content as text (default: read stdin).
    pub text: Option<String>,
    /// Read the content from FILE.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Subcommand, Debug)]
pub enum MessageCommand {
    /// Wrap each bulletin from stdin (or --body-file) behind an operation byte in an unsigned message.
    New(MessageNewArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("sender").required(true).args(["key", "from"]))]
pub struct MessageNewArgs {
    /// Destination address.
    #[arg(long, value_name = "ADDR", value_parser = value::address("--to address"))]
    pub to: Address,
    /// Sender key file (its address is src).
    #[arg(short = 'k', long = "key", env = "GOSSIP_KEY", value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// Sender address.
    #[arg(long, value_name = "ADDR", value_parser = value::address("--from address"))]
    pub from: Option<Address>,
    /// Operation name, e.g. store_and_forward, deliver_without_forward, request_sync_headers.
    #[arg(long, value_name = "NAME", default_value = "store_and_forward")]
    pub op: String,
    /// Use FILE's bytes as the payload after the operation byte instead of reading bulletins.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Timestamp (default: --now, else the system clock).
    #[arg(long, value_name = "N")]
    pub ts: Option<u32>,
    #[command(flatten)]
    pub now: NowArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct HashcashArgs {
    /// Leading zero bits to reach (default: 7 for bulletins, 1 for messages).
    #[arg(short = 'd', long = "difficulty", value_name = "BITS",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: Option<u32>,
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Only check: pass through objects that meet the difficulty, report those that do not, exit 1 if any fail.
    #[arg(long)]
    pub check: bool,
    /// When no nonce works for a timestamp, move the timestamp forward a second and go on.
    #[arg(long)]
    pub bump_ts: bool,
    /// Give up mining after SECS seconds in all (exit 1); what was mined by then is written.
    #[arg(long, value_name = "SECS", value_parser = positive_secs, conflicts_with = "check")]
    pub max_time: Option<f64>,
    /// Choose the difficulty whose expected search takes about SECS from the measured hash rate, and print it.
    #[arg(long, value_name = "SECS", value_parser = positive_secs, conflicts_with_all = ["difficulty", "check"])]
    pub target_time: Option<f64>,
    /// Mine even when the expected search outlasts the object's lifetime (3,600 s for a bulletin, 300 s for a message); without it such a search is refused unless --max-time bounds it.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A number of seconds above zero, fractions allowed.
fn positive_secs(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .ok_or_else(|| format!("'{text}' is not a number of seconds above 0"))
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// Sealed-box cipher.
    #[arg(long, default_value_t = Cipher::XSalsa20Poly1305, value_parser = cipher_parser())]
    pub cipher: Cipher,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Destination for wrapped bulletins; a bulletin needs this or --to-self (messages keep their dst).
    #[arg(long, value_name = "ADDR", value_parser = value::address("--to address"))]
    pub to: Option<Address>,
    /// Address wrapped bulletins to the key's own address.
    #[arg(long, conflicts_with = "to")]
    pub to_self: bool,
    /// Do not encrypt wrapped bulletins.
    #[arg(long)]
    pub no_encrypt: bool,
    /// Message difficulty for wrapped bulletins.
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: u32,
    /// Sealed-box cipher for wrapped bulletins.
    #[arg(long, default_value_t = Cipher::XSalsa20Poly1305, value_parser = cipher_parser())]
    pub cipher: Cipher,
    #[command(flatten)]
    pub jobs: JobsArgs,
    #[command(flatten)]
    pub now: NowArgs,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Thresholds shared by verify and open.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Required proof of work of the objects read, leading zero bits (default: 1 for messages, 7 for bulletins).
    #[arg(short = 'd', long = "difficulty", value_name = "BITS",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: Option<u32>,
    /// Required proof of work of bulletins carried inside messages.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub bulletin_difficulty: u32,
    /// Seconds a timestamp may be ahead of now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SKEW)]
    pub skew: u64,
    /// Message bodies are not encrypted (made with `sign --no-encrypt`).
    #[arg(long)]
    pub plaintext: bool,
    #[command(flatten)]
    pub now: NowArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub key: OptionalKeyArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    /// text: one verdict line per object; json: verdict objects with every check's result.
    #[command(flatten)]
    pub output: TextOutputArgs,
    /// Count a skipped check as a failure (a message verified without a key skips its destination, decryption and carried bulletin).
    #[arg(long)]
    pub no_skip: bool,
    /// Exit 0 on an input with no objects (by default nothing verified is a failure, exit 1).
    #[arg(long)]
    pub allow_empty: bool,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug)]
pub struct OpenArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub now: NowArgs,
    /// text: a view for people; json: one inspection object per object.
    #[command(flatten)]
    pub output: TextOutputArgs,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Text encodings of bare packed bytes.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("encoding").args(["raw", "hex", "base64"]))]
pub struct PackedEncoding {
    /// Bare packed bytes of one object, no length prefix (as the original's pack()).
    #[arg(long)]
    pub raw: bool,
    /// Packed bytes as hex, one object per line.
    #[arg(long)]
    pub hex: bool,
    /// Packed bytes as base64, one object per line.
    #[arg(long)]
    pub base64: bool,
}

#[derive(Args, Debug)]
pub struct PackArgs {
    #[command(flatten)]
    pub encoding: PackedEncoding,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// What the packed bytes are.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: TypeArg,
    #[command(flatten)]
    pub encoding: PackedEncoding,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The subcommand whose page to print, e.g. `sign` or `store list` (default: the tool's page).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Vec<String>,
    /// Write every page to DIR as gossip.1, gossip-sign.1, gossip-store-list.1, … (for packagers).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
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
    /// Bulletin difficulty required of bulletins.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub bulletin_difficulty: u32,
    /// Seconds a timestamp may be ahead of now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SKEW)]
    pub skew: u64,
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
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// Close a connection that sends no whole message for SECS (since its last one).
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Close an accepted connection that sends no valid message within SECS.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub bind_timeout: u64,
    /// Bytes one connection's send queue may hold (the frame being written included), and one --peer ADDR=PATH output's (or a --deliver fifo's) queue; a slow peer's excess is dropped for it alone and counted.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub send_queue: usize,
    /// Bytes all connections' send queues together may hold (at least 32 MiB, so the largest message fits); forwards past it are owed to their peer and sent when there is room.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20,
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
    /// Bulletin difficulty required of bulletins fetched.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub bulletin_difficulty: u32,
    /// Seconds a timestamp may be ahead of now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SKEW)]
    pub skew: u64,
    #[command(flatten)]
    pub now: NowArgs,
    /// text: a line per topic for people; json: one sync object per topic.
    #[command(flatten)]
    pub output: TextOutputArgs,
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

/// `--listen HOST:PORT[/BITS]` or `--listen unix:PATH[/BITS]`.
#[derive(Clone, Debug)]
pub struct ListenSpec {
    pub addr: NetAddr,
    pub difficulty: Option<u32>,
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

/// `--connect ADDR@HOST:PORT[/BITS]` or `--connect ADDR@unix:PATH[/BITS]`.
#[derive(Clone, Debug)]
pub struct ConnectSpec {
    pub peer: gossip::Address,
    pub addr: NetAddr,
    pub difficulty: Option<u32>,
}

/// Splits an optional `/BITS` (digits only, so a socket path keeps its
/// slashes) off the end, and reads the address before it.
fn split_difficulty(text: &str) -> Result<(NetAddr, Option<u32>), String> {
    let (addr, difficulty) = match text.rsplit_once('/') {
        Some((addr, bits)) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            let d: u32 = bits
                .parse()
                .ok()
                .filter(|d| *d <= 32)
                .ok_or_else(|| format!("'{bits}' is not a difficulty from 0 to 32"))?;
            (addr, Some(d))
        }
        _ if !text.starts_with("unix:") && text.contains('/') => {
            let bits = text.rsplit_once('/').map_or("", |(_, b)| b);
            return Err(format!("'{bits}' is not a difficulty from 0 to 32"));
        }
        _ => (text, None),
    };
    let addr = addr
        .parse::<NetAddr>()
        .map_err(|_| format!("'{addr}' is not HOST:PORT or unix:PATH"))?;
    Ok((addr, difficulty))
}

impl std::str::FromStr for ListenSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, difficulty) = split_difficulty(text)?;
        Ok(Self { addr, difficulty })
    }
}

impl std::str::FromStr for ConnectSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, rest) = text
            .split_once('@')
            .ok_or_else(|| format!("'{text}' is not ADDR@HOST:PORT or ADDR@unix:PATH"))?;
        let peer =
            gossip::Address::from_hex(addr).map_err(|e| format!("bad address '{addr}': {e}"))?;
        let (addr, difficulty) = split_difficulty(rest)?;
        Ok(Self {
            peer,
            addr,
            difficulty,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Print every bulletin in the store.
    List(StoreListArgs),
    /// Print the bulletins with a content id (one per topic it is held under); exit 1 when there is none.
    Get(StoreGetArgs),
    /// Print the bulletins that match every condition given.
    Query(StoreQueryArgs),
    /// Remove expired bulletins and seen entries.
    Purge(StorePurgeArgs),
    /// Print the relay's own address, delivery code and inbox topic.
    Code(StoreCodesArgs),
    /// Print the peers' delivery codes learned from their notices.
    Peers(StoreCodesArgs),
    /// Ask the relay on this store to rotate its delivery code (a running one within a second, else at its next start).
    Rotate(StorePurgeArgs),
    /// Print the store's unexpired bulletins as a stream (JSON lines by default), oldest first, from one snapshot; works beside a running relay.
    ///
    /// Each bulletin as the codec writes it, the same objects `store list`
    /// prints: `gossip verify` checks them, `gossip store import` stores them
    /// in another store, and a relay takes them on stdin as bulletins to
    /// publish. Expired bulletins (which all of those refuse) are left out
    /// unless --include-expired.
    Export(StoreExportArgs),
    /// Verify bulletins (an export) and store each one not held yet; refused while a relay holds the store.
    ///
    /// Reads bulletins (JSON lines or wire frames, as `store export` writes
    /// them) and checks each as a relay does: not expired, not from the future
    /// (--skew), content id, proof of work (--bulletin-difficulty). Each valid
    /// one not held yet is stored and marked seen (not delivered); one held
    /// already (same topic and content id) is counted and left. A refused or
    /// malformed object is reported and the rest go on; what was stored stays.
    /// The store is created when missing. Prints one summary (imported, already
    /// held, refused by reason, malformed). Exit 0 when nothing was refused or
    /// malformed, 1 when some bulletin was refused, 3 when some object was
    /// malformed, 4 when the store cannot be opened or written: while a relay
    /// holds it, give the bulletins to that relay instead.
    Import(StoreImportArgs),
    /// Write a consistent, compacted copy of the store to a new file; works beside a running relay.
    ///
    /// The copy is one snapshot of the store (SQLite's VACUUM INTO, read-only,
    /// so a relay goes on writing meanwhile), compacted, mode 0600, checked
    /// before it is given its name. FILE must not exist, and is never written
    /// through a symbolic link. Exit 4 when FILE exists or the copy fails.
    Backup(StoreBackupArgs),
    /// Remove expired bulletins, seen entries and delivery marks, give the space back and say what went; refused while a relay holds the store.
    ///
    /// Removes bulletins expired at --now (ts + 3600 ≤ now), seen entries and
    /// delivery marks whose expiry has passed, then rewrites the file (VACUUM)
    /// so the space goes back to the file system, and prints what went and the
    /// bytes on disk before and after. It needs the store to itself: while a
    /// relay holds it, it exits 4 (the relay removes expired rows itself every
    /// 30 s; the space comes back when it is stopped and the store pruned).
    Prune(StorePruneArgs),
}

/// The arguments of `store export`.
#[derive(Args, Debug)]
pub struct StoreExportArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// Only this topic, by descriptor. Repeatable (with --topic-id too); default: every topic.
    #[arg(long = "topic", value_name = "DESC")]
    pub topic: Vec<String>,
    /// Only this topic, by id (64 hex digits). Repeatable.
    #[arg(long = "topic-id", value_name = "HEX",
          value_parser = value::parsed::<HexBytes<32>>("--topic-id"))]
    pub topic_id: Vec<HexBytes<32>>,
    /// Only bulletins with a timestamp of at least TS (seconds since the epoch).
    #[arg(long, value_name = "TS")]
    pub since: Option<u32>,
    /// Print expired bulletins too (a bulletin expires 3600 s after its ts).
    #[arg(long)]
    pub include_expired: bool,
    #[command(flatten)]
    pub now: NowArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The arguments of `store import`.
#[derive(Args, Debug)]
pub struct StoreImportArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Proof of work required of each bulletin, leading zero bits (use the relay's --bulletin-difficulty).
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub bulletin_difficulty: u32,
    /// Seconds a timestamp may be ahead of now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SKEW)]
    pub skew: u64,
    #[command(flatten)]
    pub now: NowArgs,
    /// text: one summary line; json: one import object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

/// The arguments of `store backup`.
#[derive(Args, Debug)]
pub struct StoreBackupArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// The new file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// text: one summary line; json: one backup object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

/// The arguments of `store prune`.
#[derive(Args, Debug)]
pub struct StorePruneArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    #[command(flatten)]
    pub now: NowArgs,
    /// text: one summary line; json: one prune object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

#[derive(Args, Debug)]
pub struct StoreCodesArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// text: `ADDRESS CODE INBOX` lines; json: JSON lines.
    #[command(flatten)]
    pub output: TextOutputArgs,
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

/// The store, as `--store DB` or as the first argument.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct StoreDbArgs {
    /// The relay's SQLite store (or give it as the first argument).
    #[arg(long = "store", value_name = "DB")]
    pub flag: Option<std::path::PathBuf>,
    /// The relay's SQLite store (or --store DB).
    #[arg(value_name = "DB")]
    pub positional: Option<std::path::PathBuf>,
}

impl StoreDbArgs {
    /// The store's path, however given.
    pub fn path(&self) -> &std::path::Path {
        self.flag
            .as_deref()
            .or(self.positional.as_deref())
            .expect("clap requires --store DB or DB")
    }
}

#[derive(Args, Debug)]
pub struct StoreListArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
#[command(allow_missing_positional = true)]
pub struct StoreGetArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// Content id, 64 hex digits.
    #[arg(value_parser = value::parsed::<HexBytes<32>>("content id"))]
    pub content_id: HexBytes<32>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchArg {
    Exact,
    Prefix,
    Suffix,
}

#[derive(Args, Debug)]
pub struct StoreQueryArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    /// Topic id (hex, whole or part per --match).
    #[arg(long, value_name = "HEX", value_parser = value::parsed::<HexVec>("--topic-id"))]
    pub topic_id: Option<HexVec>,
    /// Topic descriptor (its id must match exactly).
    #[arg(long, value_name = "DESC", conflicts_with = "topic_id")]
    pub topic: Option<String>,
    /// Content id (hex, whole or part per --match).
    #[arg(long, value_name = "HEX", value_parser = value::parsed::<HexVec>("--content-id"))]
    pub content_id: Option<HexVec>,
    /// Content (text, whole or part per --match).
    #[arg(long, value_name = "TEXT")]
    pub content: Option<String>,
    /// How --topic-id, --content-id and --content match.
    #[arg(long = "match", value_enum, default_value_t = MatchArg::Exact)]
    pub mode: MatchArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct StorePurgeArgs {
    #[command(flatten)]
    pub db: StoreDbArgs,
    #[command(flatten)]
    pub now: NowArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioArg {
    /// Bulletins published at random nodes flood the network.
    Flood,
    /// A spammer sends bulletins without proof of work; its neighbours drop them.
    Spam,
    /// One node is offline while bulletins spread, then joins and catches up by sync.
    LateJoin,
    /// The network is cut in two halves that each publish, then the cut heals and sync runs.
    Partition,
    /// A fifth of the nodes leave while the bulletins spread; the rest must still get them all.
    Churn,
}

/// How a relay spreads new bulletins (`--dissemination`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadArg {
    /// Every neighbour gets every new bulletin.
    Flood,
    /// The dissemination extension with the peers that advertise it.
    Plumtree,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisseminationArg {
    /// Every node forwards each new bulletin to every neighbour but the sender.
    Flood,
    /// The dissemination extension: eager push along a tree, batched announcements, graft and prune.
    Plumtree,
    /// Both on the same network and publishers, side by side.
    Both,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub nodes: u32,
    /// Random links each node makes to others (links are two-way).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub degree: u32,
    /// Bulletins to publish.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub bulletins: u32,
    /// Seed of the topology, identities and publishers (same seed, same network).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Message difficulty on every link.
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=24))]
    pub difficulty: u32,
    /// Bulletin difficulty required and mined.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=24))]
    pub bulletin_difficulty: u32,
    /// What to show.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Flood)]
    pub scenario: ScenarioArg,
    /// Run each node on its own thread, messages over channels (flood and spam, flooding only).
    #[arg(long)]
    pub threaded: bool,
    /// How bulletins spread: flooding, the dissemination extension, or both side by side.
    #[arg(long, value_enum, default_value_t = DisseminationArg::Flood)]
    pub dissemination: DisseminationArg,
    /// Seconds (ticks) between announcements to one lazy peer (plumtree).
    #[arg(long, value_name = "SECONDS", default_value_t = gossip::node::DEFAULT_ANNOUNCE_EVERY,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub announce_every: u64,
    /// Seconds (ticks) a node waits for an announced bulletin before it grafts (plumtree).
    #[arg(long, value_name = "SECONDS", default_value_t = gossip::node::DEFAULT_GRAFT_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub graft_timeout: u64,
    /// Links kept eager whatever the duplicates, per 65,536 (plumtree).
    #[arg(long, value_name = "PER_65536", default_value_t = 0)]
    pub eager_shortcuts: u16,
    /// Publish every bulletin at one node (the warm-up's), not at random nodes.
    #[arg(long)]
    pub one_publisher: bool,
    /// text: a report for people; json: the report as one JSON object.
    #[command(flatten)]
    pub output: TextOutputArgs,
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
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limits_log_every: u64,
}

/// An --allow or --deny entry: an IP address, a range or a peer address.
fn access_entry(text: &str) -> Result<String, String> {
    let mut list = gossip::session::AccessList::default();
    list.add(text).map_err(|e| e.to_string())?;
    Ok(text.trim().to_string())
}
