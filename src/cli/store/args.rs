//! `gossip store`'s subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::flags::{AcceptArgs, InputArgs, NowArgs, OutputArgs, StoreDbArgs, TextOutputArgs};
use crate::cli::value::{self, HexBytes, HexVec};

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
    #[command(flatten)]
    pub accept: AcceptArgs,
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
