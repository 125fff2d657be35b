//! `gossip topic`: a topic id from a descriptor, hex bytes, the beacon, or an inbox.

use std::io::Write;
use std::process::ExitCode;

use gossip::ids::{DELIVERY_CODE_LEN, Id, beacon_topic, inbox_topic, topic_id};
use serde_json::json;

use super::args::TopicArgs;
use super::io::{CmdResult, Failure, parse_address, parse_hex, stdout, write_err};

/// The inbox topic named by `--inbox ADDRESS --delivery-code HEX`.
pub fn inbox_arg(inbox: &Option<String>, code: &Option<String>) -> Result<Id, Failure> {
    let addr = parse_address("address", inbox.as_deref().unwrap_or_default())?;
    let code_hex = code.as_deref().unwrap_or_default();
    let code = parse_hex::<DELIVERY_CODE_LEN>("--delivery-code", code_hex)?;
    Ok(inbox_topic(&code, &addr))
}

pub fn run(args: TopicArgs) -> CmdResult {
    let (id, descriptor) = if let Some(d) = &args.descriptor {
        (topic_id(d.as_bytes()), Some(hex::encode(d)))
    } else if let Some(h) = &args.hex {
        let bytes =
            hex::decode(h.trim()).map_err(|e| Failure::usage(format!("bad --hex '{h}'"), e))?;
        (topic_id(&bytes), Some(hex::encode(bytes)))
    } else if args.beacon {
        (
            beacon_topic(),
            Some(hex::encode(gossip::ids::BEACON_DESCRIPTOR)),
        )
    } else {
        (inbox_arg(&args.inbox, &args.delivery_code)?, None)
    };
    let mut out = stdout();
    let line = if args.json {
        json!({"type": "topic", "topic": hex::encode(id), "descriptor": descriptor}).to_string()
    } else {
        hex::encode(id)
    };
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
