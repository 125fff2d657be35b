//! `gossip hashcash`: mine each object's nonce, or `--check` it.

use clap::Args;
use gossip::CONTENT_TTL;
use gossip::MESSAGE_TTL;
use gossip::codec::{Kind, Object};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY, Difficulty, Work};

use super::batch::map_objects_par;
use super::flags::{InputArgs, JobsArgs, OutputArgs, TypeArg};
use super::io::{CmdResult, Failure, kind, map_objects};
use super::mine::{Miner, difficulty_for_time, human_time};

#[derive(Args, Debug)]
pub struct HashcashArgs {
    /// Leading zero bits to reach (default: 7 for bulletins, 1 for messages).
    #[arg(short = 'd', long = "difficulty", value_name = "BITS",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: Option<u32>,
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Only check: pass through objects that meet the difficulty, report those that do not, exit 1 if any fail.
    #[arg(long)]
    pub check: bool,
    /// When no nonce works for a timestamp, move the timestamp forward a second and go on.
    #[arg(long)]
    pub bump_ts: bool,
    /// Give up mining after SECS seconds in all (exit 1); what was mined by then is written.
    #[arg(long, value_name = "SECS", value_parser = positive_secs, conflicts_with = "check")]
    pub max_time: Option<f64>,
    /// Choose the difficulty whose expected search takes about SECS from the measured hash rate, and print it.
    #[arg(long, value_name = "SECS", value_parser = positive_secs, conflicts_with_all = ["difficulty", "check"])]
    pub target_time: Option<f64>,
    /// Mine even when the expected search outlasts the object's lifetime (3,600 s for a bulletin, 300 s for a message); without it such a search is refused unless --max-time bounds it.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A number of seconds above zero, fractions allowed.
fn positive_secs(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .ok_or_else(|| format!("'{text}' is not a number of seconds above 0"))
}

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
    let miner = Miner::new(args.jobs.jobs)?.with_max_time(args.max_time);
    let chosen = args.target_time.map(|secs| {
        // A bulletin header's work: the rate hardly depends on the preimage.
        let rate = miner.hash_rate(&Work::new(vec![0; 72]));
        let d = difficulty_for_time(rate, secs);
        eprintln!(
            "gossip: hashcash: --target-time {secs} s: difficulty {d} (about {} expected at {rate:.0} hashes/s, measured)",
            human_time(Difficulty::new(d).expected_tries() / rate)
        );
        d
    });
    let flag = chosen.or(args.difficulty);
    // A search that would outlast the object is refused before it starts,
    // unless forced or bounded by --max-time (the rate is measured only
    // when the difficulty is worth it).
    let rate = match flag {
        Some(d)
            if !args.force
                && args.max_time.is_none()
                && Difficulty::new(d).expected_tries() >= LONG_SEARCH =>
        {
            Some(miner.hash_rate(&Work::new(vec![0; 72])))
        }
        _ => None,
    };
    map_objects_par(
        "hashcash",
        &args.input,
        &args.output,
        kind,
        miner.pool(),
        |_, mut obj| {
            let difficulty = difficulty_for(&obj, flag);
            if let Some(rate) = rate {
                refuse_beyond_lifetime(&obj, difficulty, rate)?;
            }
            miner
                .mine_object(&mut obj, difficulty, args.bump_ts)
                .map(|()| obj)
        },
    )
}

/// Expected tries past which a search may outlast an object: 2^20 take
/// about 10 s on one core, far under any lifetime.
const LONG_SEARCH: f64 = (1u64 << 20) as f64;

/// Refuses (exit 1, no more objects read) a search expected to take longer
/// than the object stays valid: mined, it would be refused as expired.
fn refuse_beyond_lifetime(obj: &Object, difficulty: u32, rate: f64) -> Result<(), Failure> {
    let lifetime = match obj {
        Object::Bulletin(_) => CONTENT_TTL,
        Object::Message(_) => MESSAGE_TTL,
    };
    let secs = Difficulty::new(difficulty).expected_tries() / rate;
    if secs <= f64::from(lifetime) {
        return Ok(());
    }
    Err(Failure::invalid(
        "refused",
        format!(
            "difficulty {difficulty} takes about {} per object at {rate:.0} hashes/s (measured), longer than a {}'s {lifetime} s lifetime",
            human_time(secs),
            obj.type_name()
        ),
    )
    .hint("lower -d (--target-time SECS picks one from the measured rate), or pass --force to mine anyway (--max-time SECS bounds it)")
    .ends_input())
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
