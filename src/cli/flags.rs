//! Flag groups and values more than one subcommand takes: key files, input
//! and output formats, `--now`, the checks' thresholds, a store, a peer's
//! address. Each subcommand's own flags sit beside it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gossip::Address;
use gossip::crypto::Cipher;
use gossip::net::NetAddr;
use gossip::pow::DEFAULT_BULLETIN_DIFFICULTY;
use gossip::verify::DEFAULT_SKEW;
use gossip::{DELIVERY_CODE_LEN, TopicId, inbox_topic};

use super::value::{self, HexBytes};

/// `--cipher`: its values listed in `--help` and completed by the shells.
pub fn cipher_parser() -> impl clap::builder::TypedValueParser<Value = Cipher> {
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

/// What a node asks of each bulletin it takes in (relay, sync, store
/// import, verify, open).
#[derive(Args, Debug, Clone)]
pub struct AcceptArgs {
    /// Proof of work required of each bulletin, leading zero bits.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub bulletin_difficulty: u32,
    /// Seconds a timestamp may be ahead of now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SKEW.as_secs())]
    pub skew: u64,
}

/// Thresholds shared by verify and open.
#[derive(Args, Debug, Clone)]
#[command(mut_arg("bulletin_difficulty", |a| a.help("Required proof of work of bulletins carried inside messages")))]
pub struct CheckArgs {
    /// Required proof of work of the objects read, leading zero bits (default: 1 for messages, 7 for bulletins).
    #[arg(short = 'd', long = "difficulty", value_name = "BITS",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: Option<u32>,
    /// Bulletins carried inside messages: their proof of work and timestamps.
    #[command(flatten)]
    pub accept: AcceptArgs,
    /// Message bodies are not encrypted (made with `sign --no-encrypt`).
    #[arg(long)]
    pub plaintext: bool,
    #[command(flatten)]
    pub now: NowArgs,
}

/// `--listen HOST:PORT[/BITS]` or `--listen unix:PATH[/BITS]`.
#[derive(Clone, Debug)]
pub struct ListenSpec {
    pub addr: NetAddr,
    pub difficulty: Option<u32>,
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
