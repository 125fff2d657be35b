//! `gossip sign`: sign messages as they are; turn bulletins into messages
//! ready to send (the original's prepare_for_send: wrap in store_and_forward,
//! encrypt to the destination, sign, mine).

use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use gossip::Address;
use gossip::RawMessage;
use gossip::codec::{Kind, Object};
use gossip::crypto::{Cipher, PeerKey};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use gossip::{Op, Payload};

use super::batch::map_objects_par;
use super::exit::Exit;
use super::flags::{InputArgs, JobsArgs, KeyArgs, NowArgs, OutputArgs, TypeArg, cipher_parser};
use super::io::{CmdResult, Failure, describe, kind, load_identity, now_ts};
use super::mine::Miner;
use super::value;

#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Destination for wrapped bulletins; a bulletin needs this or --to-self (messages keep their dst).
    #[arg(long, value_name = "ADDR", value_parser = value::address("--to address"))]
    pub to: Option<Address>,
    /// Address wrapped bulletins to the key's own address.
    #[arg(long, conflicts_with = "to")]
    pub to_self: bool,
    /// Do not encrypt wrapped bulletins.
    #[arg(long)]
    pub no_encrypt: bool,
    /// Message difficulty for wrapped bulletins.
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: u32,
    /// Sealed-box cipher for wrapped bulletins.
    #[arg(long, default_value_t = Cipher::XSalsa20Poly1305, value_parser = cipher_parser())]
    pub cipher: Cipher,
    #[command(flatten)]
    pub jobs: JobsArgs,
    #[command(flatten)]
    pub now: NowArgs,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: SignArgs) -> CmdResult {
    let id = load_identity(&args.key.key)?;
    // A bulletin needs a destination said out loud: defaulting to the signer
    // shows up only as wrong_destination at the receiver.
    let to = args.to.or_else(|| args.to_self.then(|| id.address()));
    let no_destination = AtomicBool::new(false);
    let dst = to.unwrap_or_else(|| id.address());
    let peer = PeerKey::recipient(&dst)
        .map_err(|e| Failure::usage(format!("bad --to address {dst}"), e))?;
    let ts = now_ts(&args.now)?;
    let miner = Miner::new(args.jobs.jobs)?;
    let source = describe(args.input.input.as_deref());
    let code = map_objects_par(
        "sign",
        &args.input,
        &args.output,
        kind(Kind::Any, args.kind),
        miner.pool(),
        |index, obj| {
            let mut m = match obj {
                Object::Message(m) if m.src != id.address() => {
                    let why = format!(
                        "its src {} is not this key's address {}",
                        m.src,
                        id.address()
                    );
                    return Err(Failure::invalid("cannot sign", why));
                }
                Object::Message(mut m) => {
                    m.sig = id.sign(&m.signed_bytes());
                    return Ok(Object::Message(m));
                }
                Object::Bulletin(_) if to.is_none() => {
                    no_destination.store(true, Ordering::Relaxed);
                    return Err(Failure::usage(
                        "no destination",
                        "a bulletin is wrapped in a message to --to ADDR, and none was given",
                    )
                    .hint(format!(
                        "pass --to ADDR (the receiver's `gossip address`), or --to-self for {}",
                        id.address()
                    ))
                    .ends_input());
                }
                Object::Bulletin(b) => {
                    let bits = b.work().bits();
                    if bits < DEFAULT_BULLETIN_DIFFICULTY {
                        eprintln!(
                            "gossip: warning: {source} object {index}: bulletin proof of work has {bits} bits; receivers require {DEFAULT_BULLETIN_DIFFICULTY} (pipe it through `gossip hashcash` first)"
                        );
                    }
                    let body = Payload::Bulletin(Op::StoreAndForward, b).encode();
                    let body = if args.no_encrypt {
                        body
                    } else {
                        peer.seal(&body, args.cipher)
                            .map_err(|e| Failure::invalid("cannot encrypt", e))?
                    };
                    RawMessage {
                        dst,
                        src: id.address(),
                        ts,
                        nonce: 0,
                        sig: [0; 64],
                        body,
                    }
                }
            };
            m.sig = id.sign(&m.signed_bytes());
            let mut obj = Object::Message(m);
            miner
                .mine_object(&mut obj, args.difficulty, true)
                .map(|()| obj)
        },
    )?;
    // The stream stopped at a bulletin with no destination: a usage error.
    if no_destination.load(Ordering::Relaxed) {
        return Ok(Exit::Usage.into());
    }
    Ok(code)
}
