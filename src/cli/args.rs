//! The command line: the subcommands, each with the flags that sit beside
//! it (shared groups in [`super::flags`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::bulletin::BulletinCommand;
use super::content_id::ContentIdArgs;
use super::crypt::{DecryptArgs, EncryptArgs};
use super::flags::KeyArgs;
use super::hashcash::HashcashArgs;
use super::inspect::InspectArgs;
use super::keygen::KeygenArgs;
use super::message::MessageCommand;
use super::open::OpenArgs;
use super::pack::{PackArgs, UnpackArgs};
use super::relay::args::RelayArgs;
use super::sign::SignArgs;
use super::simulate::SimulateArgs;
use super::store::args::StoreCommand;
use super::sync::SyncArgs;
use super::tapehash::TapehashArgs;
use super::topic::TopicArgs;
use super::verify::VerifyArgs;

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
