//! `gossip sign`: sign messages as they are; turn bulletins into messages
//! ready to send (the original's prepare_for_send: wrap in store_and_forward,
//! encrypt to the destination, sign, mine).

use std::sync::atomic::{AtomicBool, Ordering};

use gossip::RawMessage;
use gossip::codec::{Kind, Object};
use gossip::crypto::PeerKey;
use gossip::pow::DEFAULT_BULLETIN_DIFFICULTY;
use gossip::{Op, Payload};

use super::args::SignArgs;
use super::batch::map_objects_par;
use super::exit::Exit;
use super::io::{CmdResult, Failure, describe, kind, load_identity, now_ts};
use super::mine::Miner;

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
