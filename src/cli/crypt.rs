//! `gossip encrypt` and `gossip decrypt`: seal each message's body to its
//! destination, or open it with the destination's key.

use clap::Args;
use gossip::crypto::{self, Cipher};
use gossip::{CryptoError, KeyError};

use super::exit::Exit;
use super::flags::{InputArgs, KeyArgs, OutputArgs, cipher_parser};
use super::io::{CmdResult, Failure, load_identity, map_messages};

#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// Sealed-box cipher.
    #[arg(long, default_value_t = Cipher::XSalsa20Poly1305, value_parser = cipher_parser())]
    pub cipher: Cipher,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

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
