//! The message: dst, src, ts, nonce, sig (a 136-byte header) and body.
//!
//! The signature covers src ‖ dst ‖ body; the proof of work covers
//! src ‖ dst ‖ ts ‖ nonce ‖ body (src before dst, unlike the packed order).
//! ts and nonce are outside the signature.

use crate::error::DecodeError;
use crate::keys::Address;
use crate::pow::Work;

/// Length of the packed message header.
pub const HEADER_LEN: usize = 136;

/// The largest packed message, bytes (64 MiB): the outermost object, so
/// the cap on every object (`codec::MAX_OBJECT`).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// Seconds a message stays fresh after its ts (message TTL).
pub const MESSAGE_TTL: u32 = 300;

/// A message between two nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    /// Recipient address.
    pub dst: Address,
    /// Sender address.
    pub src: Address,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Proof-of-work nonce.
    pub nonce: u32,
    /// Ed25519 signature by src; all zeros when unsigned.
    pub sig: [u8; 64],
    /// The body: an operation byte and payload, usually sealed to dst.
    pub body: Vec<u8>,
}

impl Message {
    /// A new unsigned, unmined message.
    pub fn new(src: Address, dst: Address, ts: u32, body: Vec<u8>) -> Self {
        Self {
            dst,
            src,
            ts,
            nonce: 0,
            sig: [0; 64],
            body,
        }
    }

    /// Whether the signature is the all-zero placeholder.
    pub fn is_unsigned(&self) -> bool {
        self.sig.iter().all(|&b| b == 0)
    }

    /// The bytes src signs: src ‖ dst ‖ body.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(self.src.as_bytes());
        out.extend_from_slice(self.dst.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Mines this message: sets its nonce so its proof of work reaches
    /// `difficulty` (the original's `hashcash()`), searching on all cores
    /// from a random start below 2^16 as the original does.
    pub fn hashcash(&mut self, difficulty: u32) -> Result<(), crate::pow::Unmineable> {
        self.nonce = crate::pow::find_nonce(&self.work(), difficulty)?;
        Ok(())
    }

    /// The proof-of-work preimage: src ‖ dst ‖ ts ‖ nonce ‖ body.
    pub fn work(&self) -> Work {
        let mut out = Vec::with_capacity(72 + self.body.len());
        out.extend_from_slice(self.src.as_bytes());
        out.extend_from_slice(self.dst.as_bytes());
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.body);
        Work::new(out)
    }

    /// dst ‖ src ‖ ts ‖ nonce ‖ sig ‖ body, as the original's `pack()`.
    pub fn pack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(self.dst.as_bytes());
        out.extend_from_slice(self.src.as_bytes());
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.sig);
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads packed bytes; everything after the header is the body.
    pub fn unpack(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "message",
                need: HEADER_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self {
            dst: Address(bytes[..32].try_into().expect("32 bytes")),
            src: Address(bytes[32..64].try_into().expect("32 bytes")),
            ts: u32::from_be_bytes(bytes[64..68].try_into().expect("4 bytes")),
            nonce: u32::from_be_bytes(bytes[68..72].try_into().expect("4 bytes")),
            sig: bytes[72..136].try_into().expect("64 bytes"),
            body: bytes[HEADER_LEN..].to_vec(),
        })
    }

    /// Too old when `now > ts + 300`.
    pub fn is_stale(&self, now: u64) -> bool {
        now > u64::from(self.ts) + u64::from(MESSAGE_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_puts_dst_first_and_work_puts_src_first() {
        let m = Message::new(Address([1; 32]), Address([2; 32]), 5, vec![9]);
        let packed = m.pack();
        assert_eq!(packed[0], 2);
        assert_eq!(packed[32], 1);
        assert_eq!(Message::unpack(&packed).unwrap(), m);
        let mut work = m.work();
        assert_eq!(work.nonce(), 0);
        let _ = work.digest_with(3);
        assert_eq!(work.nonce(), 3);
    }

    #[test]
    fn stale_boundary() {
        let m = Message::new(Address([1; 32]), Address([2; 32]), 1000, vec![]);
        assert!(!m.is_stale(1300));
        assert!(m.is_stale(1301));
    }
}
