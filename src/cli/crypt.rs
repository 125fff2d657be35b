//! `gossip encrypt` and `gossip decrypt`: seal each message's body to its
//! destination, or open it with the destination's key.

use gossip::crypto;
use gossip::{CryptoError, KeyError};

use super::args::{DecryptArgs, EncryptArgs};
use super::exit::Exit;
use super::io::{CmdResult, Failure, load_identity, map_messages};

/// Seals each body; a destination that cannot be sealed to (a small-order
/// or mixed-order key) is refused with exit 2, the other messages still go out.
pub fn encrypt(args: EncryptArgs) -> CmdResult {
    let mut refused = false;
    let code = map_messages(&args.input, &args.output, |mut m| {
        m.body = crypto::seal(&m.dst, &m.body, args.cipher).map_err(|e| {
            refused |= matches!(
                e,
                CryptoError::Recipient(KeyError::SmallOrder | KeyError::MixedOrder)
            );
            Failure::invalid("cannot encrypt", e)
        })?;
        Ok(m)
    })?;
    Ok(if refused { Exit::Usage.into() } else { code })
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
