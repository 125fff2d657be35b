//! `gossip message new`: wrap bulletins (or a payload file) in unsigned messages.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use gossip::Address;
use gossip::KeyError;
use gossip::Op;
use gossip::RawMessage;
use gossip::codec::{Kind, MAX_OBJECT, Object};
use gossip::crypto::PeerKey;

use super::flags::{InputArgs, NowArgs, OutputArgs};
use super::io::{
    CmdResult, Failure, ObjectWriter, for_each_object, load_identity, read_capped, ts_or_now,
};
use super::value;

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

pub fn run(args: MessageNewArgs) -> CmdResult {
    let dst = args.to;
    // A weak destination is refused here already; one that is no point at
    // all is left to `encrypt`/`sign` to report.
    if let Err(e @ (KeyError::SmallOrder | KeyError::MixedOrder)) = PeerKey::recipient(&dst) {
        return Err(Failure::usage(format!("bad --to address {dst}"), e));
    }
    let src = match (&args.key, args.from) {
        (Some(key), _) => load_identity(key)?.address(),
        (None, Some(from)) => from,
        (None, None) => unreachable!("clap requires -k or --from"),
    };
    let op = Op::from_name(&args.op).ok_or_else(|| {
        let names: Vec<_> = Op::ALL.iter().map(|o| o.name()).collect();
        Failure::usage(
            format!("unknown operation '{}'", args.op),
            format!("expected one of {}", names.join(", ")),
        )
    })?;
    let ts = ts_or_now(args.ts, &args.now)?;
    let mut out = ObjectWriter::new(&args.output)?;
    let wrap = |payload: &[u8]| {
        let body = [&[op as u8][..], payload].concat();
        Object::Message(RawMessage {
            dst,
            src,
            ts,
            nonce: 0,
            sig: [0; 64],
            body,
        })
    };
    if let Some(file) = &args.body_file {
        // Room for the header and the operation byte: the message fits the cap.
        let max = MAX_OBJECT - gossip::MESSAGE_HEADER_LEN - 1;
        out.write(&wrap(&read_capped(Some(file), max)?))?;
        out.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    let end = for_each_object(&args.input, Kind::Bulletin, |_, obj| match obj {
        Object::Bulletin(b) => out.write(&wrap(&b.pack())),
        Object::Message(_) => unreachable!("reader takes bulletins only"),
    })?;
    out.finish()?;
    Ok(end.exit(0))
}
