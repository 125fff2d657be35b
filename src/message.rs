//! The message: dst, src, ts, nonce, sig (a 136-byte header) and body.
//!
//! The signature covers src ‖ dst ‖ body; the proof of work covers
//! src ‖ dst ‖ ts ‖ nonce ‖ body (src before dst, unlike the packed order).
//! ts and nonce are outside the signature.
//!
//! A message is made in the original's order, one type per state, so one
//! cannot be sent half-made:
//!
//! - [`UnsignedMessage`]: dst, ts and body, built and sealed
//!   ([`Message::to`], [`UnsignedMessage::encrypt`]);
//! - [`SignedMessage`]: signed by its src ([`UnsignedMessage::sign`]);
//! - [`Message`]: signed and mined ([`SignedMessage::hashcash`]), the only
//!   state the engine and the network send; its fields are read-only.
//!
//! [`RawMessage`] is a message as the wire and JSON carry it, in any state
//! (an unsigned one has 64 zero bytes of sig): what is received, verified,
//! inspected, and passed between the command line's pipeline steps.
//!
//! ```
//! use gossip::{Cipher, Difficulty, Identity, Message, Seed};
//!
//! let alice = Identity::from_seed(&Seed::generate());
//! let bob = Identity::from_seed(&Seed::generate());
//! let m: Message = Message::to(bob.address())
//!     .at(1_764_000_000)
//!     .body(b"\x01hello".to_vec())
//!     .encrypt(Cipher::default())?
//!     .sign(&alice)
//!     .hashcash(Difficulty::new(1))?;
//! assert_eq!(m.src(), alice.address());
//! assert!(m.work().meets(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A half-made message is not a [`Message`], so nothing that sends can
//! take one:
//!
//! ```compile_fail,E0308
//! fn send(_: gossip::Message) {}
//! fn half_made(m: gossip::SignedMessage) {
//!     send(m) // not mined
//! }
//! ```
//!
//! and a made one cannot be changed into one:
//!
//! ```compile_fail,E0616
//! fn unsign(m: &mut gossip::Message) {
//!     m.sig = [0; 64];
//! }
//! ```

use crate::crypto::{Cipher, Identity};
use crate::error::{CryptoError, DecodeError};
use crate::keys::Address;
use crate::pow::{Difficulty, Unmineable, Work};
use crate::time::Timestamp;

/// Length of the packed message header.
pub const HEADER_LEN: usize = 136;

/// The largest packed message, bytes (64 MiB): the outermost object, so
/// the cap on every object (`codec::MAX_OBJECT`).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// Seconds a message stays fresh after its ts (message TTL).
pub const MESSAGE_TTL: u32 = 300;

/// A message as the wire carries it, in any state: unsigned (64 zero bytes
/// of sig), signed, mined, or neither valid. What is received, verified
/// and inspected; the engine sends only a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawMessage {
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

impl RawMessage {
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

    /// Sets the signature: `identity` signs src ‖ dst ‖ body. The
    /// signature verifies only when src is the identity's address.
    pub fn sign(&mut self, identity: &Identity) {
        self.sig = identity.sign(&self.signed_bytes());
    }

    /// Mines this message: sets its nonce so its proof of work reaches
    /// `difficulty` (the original's `hashcash()`), searching on all cores
    /// from a random start below 2^16 as the original does.
    pub fn hashcash(&mut self, difficulty: Difficulty) -> Result<(), Unmineable> {
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
        let truncated = || DecodeError::Truncated {
            what: "message",
            need: HEADER_LEN,
            got: bytes.len(),
        };
        let (header, body) = bytes.split_at_checked(HEADER_LEN).ok_or_else(truncated)?;
        let (dst, rest) = header.split_first_chunk::<32>().ok_or_else(truncated)?;
        let (src, rest) = rest.split_first_chunk::<32>().ok_or_else(truncated)?;
        let (ts, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let (nonce, sig) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        Ok(Self {
            dst: Address(*dst),
            src: Address(*src),
            ts: u32::from_be_bytes(*ts),
            nonce: u32::from_be_bytes(*nonce),
            sig: sig.try_into().map_err(|_| truncated())?,
            body: body.to_vec(),
        })
    }

    /// Too old when `now > ts + 300`.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        now.as_secs() > u64::from(self.ts) + u64::from(MESSAGE_TTL)
    }
}

/// A message being made: its dst, ts and body, not yet signed. Its src is
/// whoever signs it ([`UnsignedMessage::sign`]), so a signed message's src
/// is always its signer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnsignedMessage {
    dst: Address,
    ts: u32,
    body: Vec<u8>,
}

impl UnsignedMessage {
    /// Sets the ts: seconds since the epoch, below 2^31 for the original
    /// to read it ([`Timestamp::to_wire`](crate::Timestamp::to_wire) makes one
    /// from a `now`).
    #[must_use]
    pub fn at(mut self, ts: u32) -> Self {
        self.ts = ts;
        self
    }

    /// Sets the body: an operation byte and payload ([`Payload::encode`](crate::Payload::encode)).
    #[must_use]
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Seals the body to dst with `cipher` (the original's `encrypt()`).
    pub fn encrypt(mut self, cipher: Cipher) -> Result<Self, CryptoError> {
        self.body = crate::crypto::seal(&self.dst, &self.body, cipher)?;
        Ok(self)
    }

    /// Signs src ‖ dst ‖ body with `identity`, whose address becomes src
    /// (the original's `sign()`).
    pub fn sign(self, identity: &Identity) -> SignedMessage {
        let mut raw = RawMessage {
            dst: self.dst,
            src: identity.address(),
            ts: self.ts,
            nonce: 0,
            sig: [0; 64],
            body: self.body,
        };
        raw.sign(identity);
        SignedMessage { raw }
    }

    /// The recipient.
    pub fn dst(&self) -> Address {
        self.dst
    }

    /// The ts.
    pub fn ts(&self) -> u32 {
        self.ts
    }

    /// The body as it is now (sealed once [`encrypt`](Self::encrypt)ed).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }
}

/// A message signed by its src, not yet mined.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignedMessage {
    raw: RawMessage,
}

impl SignedMessage {
    /// Mines the nonce to `difficulty` (the original's `hashcash()`),
    /// searching on all cores from a random start below 2^16 as the
    /// original does: the message is then ready to send.
    pub fn hashcash(self, difficulty: Difficulty) -> Result<Message, Unmineable> {
        let mut raw = self.raw;
        raw.hashcash(difficulty)?;
        Ok(Message { raw })
    }

    /// The message as it is, for the wire or a pipeline step that mines it
    /// elsewhere.
    pub fn as_raw(&self) -> &RawMessage {
        &self.raw
    }
}

impl From<SignedMessage> for RawMessage {
    fn from(m: SignedMessage) -> Self {
        m.raw
    }
}

/// A message signed by its src and mined: the only state the engine, the
/// session and the network send. Made by [`Message::to`] …
/// [`SignedMessage::hashcash`] (or [`prepare_message`](crate::prepare_message));
/// its fields are read-only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    raw: RawMessage,
}

impl Message {
    /// Starts a message to `dst`: ts 0 and an empty body until
    /// [`at`](UnsignedMessage::at) and [`body`](UnsignedMessage::body) set
    /// them.
    pub fn to(dst: Address) -> UnsignedMessage {
        UnsignedMessage {
            dst,
            ts: 0,
            body: Vec::new(),
        }
    }

    /// Recipient address.
    pub fn dst(&self) -> Address {
        self.raw.dst
    }

    /// Sender address: the signer's.
    pub fn src(&self) -> Address {
        self.raw.src
    }

    /// Seconds since the epoch.
    pub fn ts(&self) -> u32 {
        self.raw.ts
    }

    /// The mined nonce.
    pub fn nonce(&self) -> u32 {
        self.raw.nonce
    }

    /// The Ed25519 signature by src.
    pub fn sig(&self) -> &[u8; 64] {
        &self.raw.sig
    }

    /// The body: an operation byte and payload, usually sealed to dst.
    pub fn body(&self) -> &[u8] {
        &self.raw.body
    }

    /// The proof-of-work preimage: src ‖ dst ‖ ts ‖ nonce ‖ body.
    pub fn work(&self) -> Work {
        self.raw.work()
    }

    /// dst ‖ src ‖ ts ‖ nonce ‖ sig ‖ body, as the original's `pack()`.
    pub fn pack(&self) -> Vec<u8> {
        self.raw.pack()
    }

    /// Too old when `now > ts + 300`.
    pub fn is_stale(&self, now: u64) -> bool {
        self.raw.is_stale(crate::Timestamp::from_secs(now))
    }

    /// The message as the wire carries it.
    pub fn as_raw(&self) -> &RawMessage {
        &self.raw
    }

    /// The message as the wire carries it, by value (to change a field,
    /// as a test of a receiver does).
    pub fn into_raw(self) -> RawMessage {
        self.raw
    }
}

impl From<Message> for RawMessage {
    fn from(m: Message) -> Self {
        m.raw
    }
}

impl AsRef<RawMessage> for Message {
    fn as_ref(&self) -> &RawMessage {
        &self.raw
    }
}

impl AsRef<RawMessage> for RawMessage {
    fn as_ref(&self) -> &RawMessage {
        self
    }
}

impl PartialEq<RawMessage> for Message {
    fn eq(&self, other: &RawMessage) -> bool {
        self.raw == *other
    }
}

impl PartialEq<Message> for RawMessage {
    fn eq(&self, other: &Message) -> bool {
        *self == other.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Seed;

    fn raw(ts: u32) -> RawMessage {
        RawMessage {
            dst: Address([2; 32]),
            src: Address([1; 32]),
            ts,
            nonce: 0,
            sig: [0; 64],
            body: vec![9],
        }
    }

    #[test]
    fn pack_puts_dst_first_and_work_puts_src_first() {
        let m = raw(5);
        let packed = m.pack();
        assert_eq!(packed[0], 2);
        assert_eq!(packed[32], 1);
        assert_eq!(RawMessage::unpack(&packed).unwrap(), m);
        assert!(RawMessage::unpack(&packed[..HEADER_LEN - 1]).is_err());
        let mut work = m.work();
        assert_eq!(work.nonce(), 0);
        let _ = work.digest_with(3);
        assert_eq!(work.nonce(), 3);
    }

    #[test]
    fn stale_boundary() {
        let m = raw(1000);
        assert!(!m.is_stale(Timestamp::from_secs(1300)));
        assert!(m.is_stale(Timestamp::from_secs(1301)));
    }

    #[test]
    fn made_in_order_it_is_signed_by_src_and_mined() {
        let alice = Identity::from_seed(&Seed::from_bytes([1; 32]));
        let bob = Identity::from_seed(&Seed::from_bytes([2; 32]));
        let plain = crate::operation::Payload::Sync(
            crate::operation::Op::RequestSyncHeaders,
            crate::ids::TopicId::from_bytes([5; 32]),
            Vec::new(),
        )
        .encode();
        let m = Message::to(bob.address())
            .at(7)
            .body(plain.clone())
            .encrypt(Cipher::default())
            .unwrap()
            .sign(&alice)
            .hashcash(Difficulty::new(4))
            .unwrap();
        assert_eq!(
            (m.dst(), m.src(), m.ts()),
            (bob.address(), alice.address(), 7)
        );
        assert!(crate::crypto::verify(
            &m.src(),
            &m.as_raw().signed_bytes(),
            m.sig()
        ));
        assert!(m.work().meets(4));
        assert_ne!(m.body(), plain);
        assert_eq!(RawMessage::unpack(&m.pack()).unwrap(), m);
        // The receiver's every check: signature, work, age, sealed to it.
        let policy = crate::verify::Policy {
            message_difficulty: 4,
            ..crate::verify::Policy::new(crate::Timestamp::from_secs(7))
        };
        let verdict = crate::verify::verify_message(m.as_raw(), Some(&bob), None, &policy);
        assert!(verdict.is_valid(), "{verdict:?}");
        assert_eq!(bob.open(m.body()).unwrap(), plain);
    }
}
