//! `gossip encrypt` and `gossip decrypt`: seal each message's body to its
//! destination, or open it with the destination's key.

use gossip::codec::{Kind, Object};
use gossip::crypto;

use super::args::{DecryptArgs, EncryptArgs};
use super::io::{
    CmdResult, EXIT_INVALID, Failure, ObjectWriter, describe, for_each_object, load_identity,
};

pub fn encrypt(args: EncryptArgs) -> CmdResult {
    let mut out = ObjectWriter::new(&args.output)?;
    let source = describe(args.input.input.as_deref());
    let mut failed = 0;
    let end = for_each_object(&args.input, Kind::Message, |index, obj| {
        let Object::Message(mut m) = obj else {
            unreachable!("reader takes messages only")
        };
        match crypto::seal(&m.dst, &m.body, args.cipher) {
            Ok(sealed) => {
                m.body = sealed;
                out.write(&Object::Message(m))
            }
            Err(e) => {
                failed += 1;
                Failure::invalid(format!("{source} object {index}: cannot encrypt"), e).report();
                Ok(())
            }
        }
    })?;
    out.finish()?;
    Ok(end.exit(if failed > 0 { EXIT_INVALID } else { 0 }))
}

pub fn decrypt(args: DecryptArgs) -> CmdResult {
    let id = load_identity(&args.key.key)?;
    let mut out = ObjectWriter::new(&args.output)?;
    let source = describe(args.input.input.as_deref());
    let mut failed = 0;
    let end = for_each_object(&args.input, Kind::Message, |index, obj| {
        let Object::Message(mut m) = obj else {
            unreachable!("reader takes messages only")
        };
        let what = format!("{source} object {index}: cannot decrypt");
        if m.dst != id.address() {
            failed += 1;
            Failure::invalid(
                what,
                format!("message is for {}, not this key ({})", m.dst, id.address()),
            )
            .report();
            return Ok(());
        }
        match id.open(&m.body) {
            Ok(plain) => {
                m.body = plain;
                out.write(&Object::Message(m))
            }
            Err(e) => {
                failed += 1;
                Failure::invalid(what, e).report();
                Ok(())
            }
        }
    })?;
    out.finish()?;
    Ok(end.exit(if failed > 0 { EXIT_INVALID } else { 0 }))
}
