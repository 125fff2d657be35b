//! `gossip hashcash`: mine each object's nonce, or `--check` it.

use gossip::codec::{Kind, Object};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};

use super::args::HashcashArgs;
use super::batch::map_objects_par;
use super::io::{CmdResult, Failure, kind, map_objects};
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
    let kind = kind(Kind::Any, args.kind);
    if args.check {
        return map_objects(&args.input, &args.output, kind, |_, obj| {
            check(obj, args.difficulty)
        });
    }
    let miner = Miner::new(args.jobs.jobs)?;
    map_objects_par(
        &args.input,
        &args.output,
        kind,
        miner.pool(),
        |_, mut obj| {
            let difficulty = difficulty_for(&obj, args.difficulty);
            miner
                .mine_object(&mut obj, difficulty, args.bump_ts)
                .map(|()| obj)
        },
    )
}

/// `--check`: the object as it is, or why its proof of work falls short.
fn check(obj: Object, flag: Option<u32>) -> Result<Object, Failure> {
    let difficulty = difficulty_for(&obj, flag);
    let bits = bits_of(&obj);
    if bits >= difficulty {
        Ok(obj)
    } else {
        Err(Failure::invalid(
            "",
            format!(
                "{} proof of work has {bits} leading zero bits, needs {difficulty}",
                obj.type_name()
            ),
        ))
    }
}
