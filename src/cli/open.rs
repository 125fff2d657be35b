//! `gossip open`: verify, decrypt and unwrap messages to the bulletins they carry.

use clap::Args;
use gossip::Payload;
use gossip::codec::{Kind, Object};

use super::flags::{CheckArgs, InputArgs, KeyArgs, OutputArgs};
use super::io::{CmdResult, Failure, load_identity, map_objects};
use super::verify::{check, clock_hint};

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

pub fn run(args: OpenArgs) -> CmdResult {
    let id = load_identity(&args.key.key)?;
    map_objects(&args.input, &args.output, Kind::Message, |_, obj| {
        let verdict = check(&obj, Some(&id), &args.check);
        let failures: Vec<&str> = verdict.failures().map(|r| r.name()).collect();
        if !failures.is_empty() {
            let failure = Failure::invalid("rejected", failures.join(", "));
            return Err(match clock_hint(&verdict, &obj) {
                Some(hint) => failure.hint(hint),
                None => failure,
            });
        }
        match verdict.payload {
            Some(Payload::Bulletin(_, b)) => Ok(Object::Bulletin(b)),
            other => {
                let carries = other.map_or("no payload", |p| p.op().name());
                Err(Failure::invalid(
                    "",
                    format!("carries {carries}, not a bulletin"),
                ))
            }
        }
    })
}
