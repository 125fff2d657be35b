//! Identities: the 32-byte Ed25519 seed (secret) and the address (its
//! verifying key), and the key file format `keygen` writes.
//!
//! A key file is text: `#` comment lines (keygen writes the address in one)
//! and one line of 64 hex digits, the seed. A file holding only the bare
//! hex seed is accepted too.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::KeyError;

/// A node's address: its 32-byte Ed25519 verifying key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| KeyError::BadAddress)?;
        Ok(Self(out))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// 64 hex digits, as [`Address::from_hex`].
impl FromStr for Address {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_hex(text)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_hex())
    }
}

/// A node's secret: the 32-byte Ed25519 seed, wiped from memory on drop and
/// never printed by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 32]);

impl Seed {
    /// Wraps seed bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random seed from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The raw bytes; keep copies short-lived.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| KeyError::BadSeed)?;
        Ok(Self(out))
    }

    /// Lowercase hex, in a buffer that is wiped on drop.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

/// The text of a key file for `seed`, whose address is `address`.
pub fn key_file_text(seed: &Seed, address: &Address) -> Zeroizing<String> {
    let hex = seed.to_hex();
    Zeroizing::new(format!(
        "# gossip secret key: keep this file private (mode 0600)\n# address: {address}\n{}\n",
        hex.as_str()
    ))
}

/// Parses a key file: comments, blank lines and exactly one 64-hex seed line.
///
/// When an `# address:` comment is present it must match `derive(seed)`, so
/// a hand-edited file that no longer fits its address is caught.
pub fn parse_key_file(text: &str, derive: impl Fn(&Seed) -> Address) -> Result<Seed, KeyError> {
    let mut seed = None;
    let mut claimed = None;
    for line in text.lines().map(str::trim) {
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(addr) = comment.trim().strip_prefix("address:") {
                claimed = Some(Address::from_hex(addr).map_err(|_| KeyError::BadFile)?);
            }
        } else if !line.is_empty() {
            if seed.is_some() {
                return Err(KeyError::BadFile);
            }
            seed = Some(Seed::from_hex(line).map_err(|_| KeyError::BadFile)?);
        }
    }
    let seed = seed.ok_or(KeyError::BadFile)?;
    if claimed.is_some_and(|claimed| claimed != derive(&seed)) {
        return Err(KeyError::AddressMismatch);
    }
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::address_of;

    #[test]
    fn address_parses_from_its_display() {
        let address = address_of(&Seed::generate());
        assert_eq!(address.to_string().parse::<Address>(), Ok(address));
        assert_eq!("xyz".parse::<Address>(), Err(KeyError::BadAddress));
    }

    #[test]
    fn key_file_round_trips() {
        let seed = Seed::generate();
        let text = key_file_text(&seed, &address_of(&seed));
        let back = parse_key_file(&text, address_of).unwrap();
        assert_eq!(back.as_bytes(), seed.as_bytes());
    }

    #[test]
    fn bare_hex_is_accepted_and_junk_is_not() {
        let hex = "11".repeat(32);
        assert!(parse_key_file(&format!("{hex}\n"), address_of).is_ok());
        assert_eq!(
            parse_key_file("", address_of).unwrap_err(),
            KeyError::BadFile
        );
        assert_eq!(
            parse_key_file("abc", address_of).unwrap_err(),
            KeyError::BadFile
        );
        let two = format!("{hex}\n{hex}\n");
        assert_eq!(
            parse_key_file(&two, address_of).unwrap_err(),
            KeyError::BadFile
        );
    }

    #[test]
    fn mismatched_address_comment_is_caught() {
        let text = format!("# address: {}\n{}\n", "00".repeat(32), "11".repeat(32));
        assert_eq!(
            parse_key_file(&text, address_of).unwrap_err(),
            KeyError::AddressMismatch
        );
    }

    #[test]
    fn debug_hides_the_seed() {
        assert_eq!(format!("{:?}", Seed::from_bytes([9; 32])), "Seed(<secret>)");
    }
}
