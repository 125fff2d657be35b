//! `gossip verify`: one verdict per object, every check named; exit 0 only
//! when every object is valid.

use std::io::Write;

use clap::Args;
use gossip::CONTENT_TTL;
use gossip::MESSAGE_TTL;
use gossip::codec::{Kind, Object};
use gossip::crypto::Identity;
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use gossip::verify::{
    Policy, Reason, Status, Verdict, verify_bulletin, verify_message, verify_plain_message,
};
use serde_json::json;

use super::flags::{CheckArgs, InputArgs, OptionalKeyArgs, TextOutputArgs, TypeArg};
use super::io::{
    CmdResult, Failure, describe, for_each_object, kind, load_identity, now, stdout, write_err,
};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub key: OptionalKeyArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    /// text: one verdict line per object; json: verdict objects with every check's result.
    #[command(flatten)]
    pub output: TextOutputArgs,
    /// Count a skipped check as a failure (a message verified without a key skips its destination, decryption and carried bulletin).
    #[arg(long)]
    pub no_skip: bool,
    /// Exit 0 on an input with no objects (by default nothing verified is a failure, exit 1).
    #[arg(long)]
    pub allow_empty: bool,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// The verification policy the flags ask for, for an object of this type.
pub fn policy(args: &CheckArgs, obj: &Object) -> Policy {
    let mut p = Policy::new(now(&args.now));
    p.skew = std::time::Duration::from_secs(args.accept.skew);
    p.bulletin_difficulty = args.accept.bulletin_difficulty;
    match obj {
        Object::Message(_) => {
            p.message_difficulty = args.difficulty.unwrap_or(DEFAULT_MESSAGE_DIFFICULTY)
        }
        Object::Bulletin(_) => {
            p.bulletin_difficulty = args.difficulty.unwrap_or(DEFAULT_BULLETIN_DIFFICULTY)
        }
    }
    p
}

/// A stale or future object's age checks: a message is valid for 300 s
/// after its ts and a bulletin for 3600 s, so a pipeline run again later
/// fails them; the hint says how to check as of another time.
pub fn clock_hint(verdict: &Verdict, obj: &Object) -> Option<String> {
    let timely = |r: Reason| {
        matches!(
            r,
            Reason::TooOld | Reason::Expired | Reason::FromFuture | Reason::BulletinFromFuture
        )
    };
    if !verdict.failures().any(timely) {
        return None;
    }
    let ts = match obj {
        Object::Message(m) => m.ts,
        Object::Bulletin(b) => b.ts,
    };
    Some(format!(
        "a message is valid for {MESSAGE_TTL} s after its ts and a bulletin for {CONTENT_TTL} s, \
         against the clock or --now TS: to check this one as of its making, pass --now {ts}"
    ))
}

/// Runs every check on an object.
pub fn check(obj: &Object, id: Option<&Identity>, args: &CheckArgs) -> Verdict {
    let policy = policy(args, obj);
    match obj {
        Object::Bulletin(b) => verify_bulletin(b, &policy),
        Object::Message(m) if args.plaintext => {
            let mut v = verify_plain_message(m, None, &policy);
            // The library skips the destination check without an identity; with a key it applies.
            if let Some(id) = id {
                let status = if m.dst == id.address() {
                    Status::Passed
                } else {
                    Status::Failed
                };
                for (reason, s) in &mut v.checks {
                    if *reason == Reason::WrongDestination {
                        *s = status;
                    }
                }
            }
            v
        }
        Object::Message(m) => verify_message(m, id, None, &policy),
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

/// The names of the checks a verdict skipped, each once.
fn skipped(verdict: &Verdict) -> Vec<&'static str> {
    let mut names: Vec<&str> = Vec::new();
    for (reason, status) in &verdict.checks {
        if *status == Status::Skipped && !names.contains(&reason.check_name()) {
            names.push(reason.check_name());
        }
    }
    names
}

pub fn run(args: VerifyArgs) -> CmdResult {
    let id = args.key.key.as_deref().map(load_identity).transpose()?;
    let mut out = stdout();
    let mut invalid = 0u64;
    let mut stale: Option<(String, String, String)> = None;
    let source = describe(args.input.input.as_deref());
    let end = for_each_object(&args.input, kind(Kind::Any, args.kind), |index, obj| {
        let verdict = check(&obj, id.as_ref(), &args.check);
        if stale.is_none() {
            stale = clock_hint(&verdict, &obj).map(|hint| {
                let clock = now(&args.check.now);
                let names: Vec<&str> = verdict.failures().map(|r| r.name()).collect();
                let why = format!("fails against the clock ({clock}): {}", names.join(", "));
                (format!("{source} object {index}"), why, hint)
            });
        }
        let failures: Vec<&str> = verdict.failures().map(|r| r.name()).collect();
        let skipped = skipped(&verdict);
        let valid = failures.is_empty() && (skipped.is_empty() || !args.no_skip);
        if !valid {
            invalid += 1;
        }
        let line = if args.output.json() {
            let checks: Vec<_> = verdict
                .checks
                .iter()
                .map(|(r, s)| json!({"check": r.name(), "status": status_name(*s)}))
                .collect();
            let mut v = json!({
                "type": "verdict",
                "index": index,
                "object": obj.type_name(),
                "valid": valid,
                "failures": failures,
                "skipped": skipped,
                "checks": checks,
            });
            if let Some(p) = &verdict.payload {
                v["op"] = json!(p.op().name());
            }
            v.to_string()
        } else {
            let mut line = format!("{index} {}: ", obj.type_name());
            line += if valid { "valid" } else { "invalid" };
            if !failures.is_empty() {
                line += &format!(": {}", failures.join(", "));
            }
            // After a failure, skipped checks are its consequence: not named.
            if failures.is_empty() && !skipped.is_empty() {
                let without = if id.is_none() { " without a key" } else { "" };
                let note = format!("skipped{without}: {}", skipped.join(", "));
                if valid {
                    line += &format!(" ({note})");
                } else {
                    line += &format!("; {note}");
                }
            }
            line
        };
        writeln!(out, "{line}").map_err(write_err)
    })?;
    out.flush().map_err(write_err)?;
    if let Some((what, why, hint)) = stale {
        // Said once, for the first such object: the verdicts name the rest.
        Failure::invalid(what, why).hint(hint).report();
    }
    if end.objects == 0 && end.malformed == 0 && !args.allow_empty {
        return Err(Failure::invalid("verify", "no objects to verify")
            .hint("pass --allow-empty if an empty input is fine"));
    }
    Ok(end.exit(invalid))
}
