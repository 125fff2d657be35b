//! `gossip encrypt` and `gossip decrypt`: seal each message's body to its
//! destination, or open it with the destination's key.

use gossip::crypto;

use super::args::{DecryptArgs, EncryptArgs};
use super::io::{CmdResult, Failure, load_identity, map_messages};

pub fn encrypt(args: EncryptArgs) -> CmdResult {
    map_messages(&args.input, &args.output, |mut m| {
        m.body = crypto::seal(&m.dst, &m.body, args.cipher)
            .map_err(|e| Failure::invalid("cannot encrypt", e))?;
        Ok(m)
    })
}

pub fn decrypt(args: DecryptArgs) -> CmdResult {
    let id = load_identity(&args.key.key)?;
    map_messages(&args.input, &args.output, |mut m| {
        if m.dst != id.address() {
            let why = format!("message is for {}, not this key ({})", m.dst, id.address());
            return Err(Failure::invalid("cannot decrypt", why));
        }
        m.body = id
            .open(&m.body)
            .map_err(|e| Failure::invalid("cannot decrypt", e))?;
        Ok(m)
    })
}
