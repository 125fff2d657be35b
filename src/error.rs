//! Error types of the library. Reasons an object is *rejected* are not
//! errors but data: see [`crate::verify::Reason`].

use std::fmt;

/// Bytes or text that do not decode to a protocol object.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the fixed header of the object.
    Truncated {
        /// The object being decoded.
        what: &'static str,
        /// Bytes required at least.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// More bytes than the configured cap allows.
    Oversized {
        /// Bytes announced or present.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// A wire frame ended before its announced length.
    TruncatedFrame {
        /// Bytes the length prefix announced.
        need: u64,
        /// Bytes present.
        got: u64,
    },
    /// A JSON line that is not valid JSON or lacks a field.
    Json(String),
    /// A field that is not valid hex or base64, or has the wrong length.
    Field {
        /// The field name.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// An object of a type the reader does not take.
    WrongType {
        /// The type(s) expected.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// An operation byte outside the protocol's table.
    UnknownOperation(u8),
    /// A payload that does not fit its operation.
    Payload(String),
    /// A stream that starts like neither JSON Lines nor wire frames.
    UnknownFormat(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, need, got } => {
                write!(f, "truncated {what}: need at least {need} bytes, got {got}")
            }
            Self::Oversized { len, max } => {
                write!(f, "object of {len} bytes exceeds the {max}-byte limit")
            }
            Self::TruncatedFrame { need, got } => {
                write!(
                    f,
                    "truncated frame: length prefix says {need} bytes, got {got}"
                )
            }
            Self::Json(why) => write!(f, "bad JSON: {why}"),
            Self::Field { field, why } => write!(f, "bad field '{field}': {why}"),
            Self::WrongType { expected, found } => {
                write!(f, "wrong object type: expected {expected}, got {found}")
            }
            Self::UnknownOperation(b) => write!(f, "unknown operation byte 0x{b:02x}"),
            Self::Payload(why) => write!(f, "bad payload: {why}"),
            Self::UnknownFormat(b) => write!(
                f,
                "not an object stream: starts with byte 0x{b:02x}, expected JSON Lines ('{{') or wire frames (a length prefix)"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A key or key file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 64 hex digits of an address.
    BadAddress,
    /// Not 64 hex digits of a seed.
    BadSeed,
    /// Not a key file: it needs exactly one line of 64 hex digits.
    BadFile,
    /// The file's `# address:` comment does not belong to its seed.
    AddressMismatch,
    /// The address is not a usable Ed25519 point.
    InvalidPoint,
    /// The address is a point of small order (one of the eight torsion
    /// points, in any encoding): a weak key, as libsodium calls it.
    SmallOrder,
    /// The address has a torsion component, so boxes are not sealed to it.
    MixedOrder,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadAddress => "an address is 64 hex digits",
            Self::BadSeed => "a seed is 64 hex digits",
            Self::BadFile => "not a key file: expected one line of 64 hex digits (the seed)",
            Self::AddressMismatch => "the address comment does not match the seed",
            Self::InvalidPoint => "not a valid Ed25519 public key",
            Self::SmallOrder => {
                "a small-order (weak) key: anyone could open a box sealed to it, and nothing it signs verifies"
            }
            Self::MixedOrder => {
                "not in the prime-order subgroup (a torsion component): libsodium refuses to seal to it"
            }
        })
    }
}

impl std::error::Error for KeyError {}

/// A cryptographic operation that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The recipient address cannot be sealed to, and why.
    Recipient(KeyError),
    /// The X25519 shared secret came out all zero: sealing would use a key
    /// anyone knows.
    WeakSharedSecret,
    /// The ciphertext is not a sealed box for this key (either suite).
    Undecryptable,
    /// The signature does not verify.
    BadSignature,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Recipient(e) => write!(f, "cannot seal to this recipient: {e}"),
            Self::WeakSharedSecret => {
                f.write_str("the X25519 shared secret is all zero: refusing to seal")
            }
            Self::Undecryptable => f.write_str("body is not a sealed box for this key"),
            Self::BadSignature => f.write_str("signature does not verify"),
        }
    }
}

impl std::error::Error for CryptoError {}
