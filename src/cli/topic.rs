//! `gossip topic`: a topic id from a descriptor, hex bytes, the beacon, or an inbox.

use std::io::Write;
use std::process::ExitCode;

use gossip::{beacon_topic, topic_id};
use serde_json::json;

use super::args::TopicArgs;
use super::io::{CmdResult, stdout, write_err};

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
