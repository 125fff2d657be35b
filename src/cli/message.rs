//! `gossip message new`: wrap bulletins (or a payload file) in unsigned messages.

use std::process::ExitCode;

use gossip::KeyError;
use gossip::Op;
use gossip::RawMessage;
use gossip::codec::{Kind, MAX_OBJECT, Object};
use gossip::crypto::PeerKey;

use super::args::MessageNewArgs;
use super::io::{
    CmdResult, Failure, ObjectWriter, for_each_object, load_identity, read_capped, ts_or_now,
};

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
