//! `gossip open`: verify, decrypt and unwrap messages to the bulletins they carry.

use gossip::codec::{Kind, Object};
use gossip::operation::Payload;

use super::args::OpenArgs;
use super::io::{
    CmdResult, EXIT_INVALID, Failure, ObjectWriter, describe, for_each_object, load_identity,
};
use super::verify::check;

pub fn run(args: OpenArgs) -> CmdResult {
    let id = load_identity(&args.key.key)?;
    let mut out = ObjectWriter::new(&args.output)?;
    let source = describe(args.input.input.as_deref());
    let mut failed = 0;
    let end = for_each_object(&args.input, Kind::Message, |index, obj| {
        let verdict = check(&obj, Some(&id), &args.check);
        let failures: Vec<&str> = verdict.failures().map(|r| r.name()).collect();
        if !failures.is_empty() {
            failed += 1;
            Failure::invalid(
                format!("{source} object {index}: rejected"),
                failures.join(", "),
            )
            .report();
            return Ok(());
        }
        match verdict.payload {
            Some(Payload::Bulletin(_, b)) => out.write(&Object::Bulletin(b)),
            other => {
                failed += 1;
                let carries = other.map_or("no payload", |p| p.op().name());
                Failure::invalid(
                    format!("{source} object {index}"),
                    format!("carries {carries}, not a bulletin"),
                )
                .report();
                Ok(())
            }
        }
    })?;
    out.finish()?;
    Ok(end.exit(if failed > 0 { EXIT_INVALID } else { 0 }))
}
