//! `gossip hashcash`: mine each object's nonce, or `--check` it.

use gossip::codec::{Kind, Object};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};

use super::args::HashcashArgs;
use super::io::{CmdResult, EXIT_INVALID, Failure, ObjectWriter, describe, for_each_object, kind};
use super::mine::Miner;

/// The difficulty for an object: the flag, else the protocol default for its type.
pub fn difficulty_for(obj: &Object, flag: Option<u32>) -> u32 {
    flag.unwrap_or(match obj {
        Object::Bulletin(_) => DEFAULT_BULLETIN_DIFFICULTY,
        Object::Message(_) => DEFAULT_MESSAGE_DIFFICULTY,
    })
}

/// Leading zero bits of an object's proof of work.
pub fn bits_of(obj: &Object) -> u32 {
    match obj {
        Object::Bulletin(b) => b.work().bits(),
        Object::Message(m) => m.work().bits(),
    }
}

pub fn run(args: HashcashArgs) -> CmdResult {
    let mut out = ObjectWriter::new(&args.output)?;
    let miner = if args.check {
        None
    } else {
        Some(Miner::new(args.jobs)?)
    };
    let mut failed = 0u64;
    let source = describe(args.input.input.as_deref());
    let end = for_each_object(&args.input, kind(Kind::Any, args.kind), |index, mut obj| {
        let difficulty = difficulty_for(&obj, args.difficulty);
        match &miner {
            Some(miner) => match miner.mine_object(&mut obj, difficulty, args.bump_ts) {
                Ok(()) => out.write(&obj),
                Err(f) => {
                    failed += 1;
                    Failure {
                        what: format!("{source} object {index}: {}", f.what),
                        ..f
                    }
                    .report();
                    Ok(())
                }
            },
            None => {
                let bits = bits_of(&obj);
                if bits >= difficulty {
                    out.write(&obj)
                } else {
                    failed += 1;
                    Failure::invalid(
                        format!("{source} object {index} ({})", obj.type_name()),
                        format!("proof of work has {bits} leading zero bits, needs {difficulty}"),
                    )
                    .report();
                    Ok(())
                }
            }
        }
    })?;
    out.finish()?;
    Ok(end.exit(if failed > 0 { EXIT_INVALID } else { 0 }))
}
