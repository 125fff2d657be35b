//! `gossip topic`: a topic id from a descriptor, hex bytes, the beacon, or an inbox.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use gossip::{beacon_topic, topic_id};
use serde_json::json;

use super::flags::{InboxArgs, TextOutputArgs};
use super::io::{CmdResult, stdout, write_err};
use super::value::{self, HexVec};

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

pub fn run(args: TopicArgs) -> CmdResult {
    let (id, descriptor) = if let Some(d) = &args.descriptor {
        (topic_id(d.as_bytes()), Some(hex::encode(d)))
    } else if let Some(bytes) = &args.hex {
        (topic_id(&bytes.0), Some(hex::encode(&bytes.0)))
    } else if args.beacon {
        (beacon_topic(), Some(hex::encode(gossip::BEACON_DESCRIPTOR)))
    } else if let Some(inbox) = args.inbox.topic() {
        (inbox, None)
    } else {
        unreachable!("clap requires a descriptor, --hex, --beacon or --inbox")
    };
    let mut out = stdout();
    let line = if args.output.json() {
        json!({"type": "topic", "topic": hex::encode(id), "descriptor": descriptor}).to_string()
    } else {
        hex::encode(id)
    };
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
