//! The crypto adapter: the one small interface the protocol's cryptography
//! goes through. Address from seed, sealed-box encryption to an address,
//! decryption with a seed, signing and strict verification.
//!
//! Encryption keys derive from signing keys as libsodium does: the
//! recipient's Ed25519 key mapped to X25519, and the seed's X25519 secret =
//! clamp(SHA-512(seed)[..32]). A sealed box is ephemeral pk (32) ‖ tag (16)
//! ‖ ciphertext, nonce = BLAKE2b-192(ephemeral pk ‖ recipient pk): with
//! XSalsa20-Poly1305 that is `crypto_box_seal`; with XChaCha20-Poly1305,
//! `crypto_box_curve25519xchacha20poly1305_seal`.

use std::fmt;
use std::str::FromStr;

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use crypto_box::aead::Aead;
use crypto_box::{ChaChaBox, PublicKey, SalsaBox, SecretKey};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::error::{CryptoError, KeyError};
use crate::keys::{Address, Seed};

/// Bytes a sealed box adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 32 + 16;

/// The authenticated cipher inside a sealed box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cipher {
    /// libsodium's `crypto_box_seal`: the original's, and the default.
    #[default]
    XSalsa20Poly1305,
    /// libsodium's `crypto_box_curve25519xchacha20poly1305_seal`.
    XChaCha20Poly1305,
}

impl Cipher {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::XSalsa20Poly1305 => "xsalsa20poly1305",
            Cipher::XChaCha20Poly1305 => "xchacha20poly1305",
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cipher {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305]
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown cipher '{s}' (xsalsa20poly1305 or xchacha20poly1305)"))
    }
}

/// The address (Ed25519 verifying key) of a seed.
pub fn address_of(seed: &Seed) -> Address {
    Address(
        SigningKey::from_bytes(seed.as_bytes())
            .verifying_key()
            .to_bytes(),
    )
}

/// A node's own keys, derived once from its seed: signing, and the X25519
/// pair that opens sealed boxes. Secrets are wiped on drop.
pub struct Identity {
    signing: SigningKey,
    box_secret: SecretKey,
    box_public: PublicKey,
    address: Address,
}

impl Identity {
    /// Derives every key from the seed.
    pub fn from_seed(seed: &Seed) -> Self {
        let signing = SigningKey::from_bytes(seed.as_bytes());
        let box_secret = SecretKey::from(clamp_integer(signing.to_scalar_bytes()));
        let box_public = box_secret.public_key();
        let address = Address(signing.verifying_key().to_bytes());
        Self {
            signing,
            box_secret,
            box_public,
            address,
        }
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// Opens a sealed box addressed to this identity, whichever suite sealed it.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(CryptoError::Undecryptable);
        }
        let epk_bytes: [u8; 32] = sealed[..32].try_into().expect("32 bytes");
        let epk = PublicKey::from(epk_bytes);
        let nonce = seal_nonce(&epk_bytes, self.box_public.as_bytes());
        let body = &sealed[32..];
        SalsaBox::new(&epk, &self.box_secret)
            .decrypt(&nonce.into(), body)
            .or_else(|_| ChaChaBox::new(&epk, &self.box_secret).decrypt(&nonce.into(), body))
            .map_err(|_| CryptoError::Undecryptable)
    }
}

/// A peer's public keys, decoded once: the verifying key and the X25519 key
/// that sealed boxes go to. Cache one per peer.
///
/// Small-order keys (the eight torsion points, in any encoding) are refused
/// outright: nothing signed by one verifies, and a box sealed to one has a
/// fixed shared secret anyone can open. A key with a torsion component
/// verifies (as in libsodium) but is no sealing target (libsodium's
/// `crypto_sign_ed25519_pk_to_curve25519` refuses it too).
#[derive(Clone)]
pub struct PeerKey {
    verifying: VerifyingKey,
    box_public: Option<PublicKey>,
}

impl PeerKey {
    /// Decodes an address; fails when it is not a valid Ed25519 point or is
    /// of small order.
    pub fn new(address: &Address) -> Result<Self, KeyError> {
        let verifying =
            VerifyingKey::from_bytes(address.as_bytes()).map_err(|_| KeyError::InvalidPoint)?;
        if verifying.is_weak() {
            return Err(KeyError::SmallOrder);
        }
        let box_public = verifying
            .to_edwards()
            .is_torsion_free()
            .then(|| PublicKey::from(verifying.to_montgomery().to_bytes()));
        Ok(Self {
            verifying,
            box_public,
        })
    }

    /// Decodes an address that boxes will be sealed to: [`PeerKey::new`],
    /// and the point must lie in the prime-order subgroup.
    pub fn recipient(address: &Address) -> Result<Self, KeyError> {
        let key = Self::new(address)?;
        match key.box_public {
            Some(_) => Ok(key),
            None => Err(KeyError::MixedOrder),
        }
    }

    /// Strict Ed25519 verification: rejects non-canonical signatures and
    /// small-order keys, as libsodium does.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        !self.verifying.is_weak()
            && self
                .verifying
                .verify_strict(msg, &Signature::from_bytes(sig))
                .is_ok()
    }

    /// Seals `plaintext` to this peer. Refuses a key outside the prime-order
    /// subgroup, and (as libsodium's `crypto_scalarmult` does) any
    /// ephemeral exchange whose X25519 shared secret is all zero.
    pub fn seal(&self, plaintext: &[u8], cipher: Cipher) -> Result<Vec<u8>, CryptoError> {
        let box_public = self
            .box_public
            .as_ref()
            .ok_or(CryptoError::Recipient(KeyError::MixedOrder))?;
        let esk = SecretKey::generate(&mut OsRng);
        if is_zero(&shared_secret(&esk, box_public)) {
            return Err(CryptoError::WeakSharedSecret);
        }
        let epk = esk.public_key();
        let nonce = seal_nonce(epk.as_bytes(), box_public.as_bytes()).into();
        let boxed = match cipher {
            Cipher::XSalsa20Poly1305 => SalsaBox::new(box_public, &esk).encrypt(&nonce, plaintext),
            Cipher::XChaCha20Poly1305 => {
                ChaChaBox::new(box_public, &esk).encrypt(&nonce, plaintext)
            }
        };
        let boxed = boxed.expect("encryption without associated data cannot fail");
        Ok([epk.as_bytes().as_slice(), &boxed].concat())
    }
}

/// X25519(secret, public), wiped on drop.
fn shared_secret(secret: &SecretKey, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    let secret = Zeroizing::new(secret.to_bytes());
    Zeroizing::new(
        MontgomeryPoint(public.to_bytes())
            .mul_clamped(*secret)
            .to_bytes(),
    )
}

/// Whether every byte is zero, without branching on the bytes (libsodium's
/// `sodium_is_zero`).
fn is_zero(bytes: &[u8; 32]) -> bool {
    bytes.iter().fold(0u8, |acc, b| acc | b) == 0
}

/// Seals `plaintext` to the holder of `to`'s seed.
pub fn seal(to: &Address, plaintext: &[u8], cipher: Cipher) -> Result<Vec<u8>, CryptoError> {
    PeerKey::recipient(to)
        .map_err(CryptoError::Recipient)?
        .seal(plaintext, cipher)
}

/// Opens a sealed box with `seed`.
pub fn open(seed: &Seed, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    Identity::from_seed(seed).open(sealed)
}

/// Signs `msg` with `seed`.
pub fn sign(seed: &Seed, msg: &[u8]) -> [u8; 64] {
    Identity::from_seed(seed).sign(msg)
}

/// Strictly verifies `sig` over `msg` by `address`.
pub fn verify(address: &Address, msg: &[u8], sig: &[u8; 64]) -> bool {
    PeerKey::new(address).is_ok_and(|k| k.verify(msg, sig))
}

/// Verifies many (address, message, signature) triples at once with
/// Ed25519 batch verification; true only when all are valid. On false,
/// verify one by one to find the culprit.
pub fn verify_batch(items: &[(Address, &[u8], [u8; 64])]) -> bool {
    let mut keys = Vec::with_capacity(items.len());
    for (addr, _, _) in items {
        match VerifyingKey::from_bytes(addr.as_bytes()) {
            Ok(k) if !k.is_weak() => keys.push(k),
            _ => return false,
        }
    }
    let msgs: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
    let sigs: Vec<Signature> = items
        .iter()
        .map(|(_, _, s)| Signature::from_bytes(s))
        .collect();
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

/// BLAKE2b-192(ephemeral pk ‖ recipient pk), the sealed-box nonce.
fn seal_nonce(epk: &[u8; 32], rpk: &[u8; 32]) -> [u8; 24] {
    let mut h = Blake2bVar::new(24).expect("24 is a valid BLAKE2b output size");
    h.update(epk);
    h.update(rpk);
    let mut out = [0u8; 24];
    h.finalize_variable(&mut out).expect("buffer is 24 bytes");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_both_suites_and_crate_interop() {
        let seed = Seed::generate();
        let id = Identity::from_seed(&seed);
        for cipher in [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305] {
            let sealed = seal(&id.address(), b"hello", cipher).unwrap();
            assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
            assert_eq!(id.open(&sealed).unwrap(), b"hello");
        }
        // crypto_box's own crypto_box_seal opens ours and we open its.
        let pk = PublicKey::from(
            PeerKey::new(&id.address())
                .unwrap()
                .box_public
                .unwrap()
                .to_bytes(),
        );
        let theirs = pk.seal(&mut OsRng, b"x").unwrap();
        assert_eq!(id.open(&theirs).unwrap(), b"x");
        let ours = seal(&id.address(), b"y", Cipher::XSalsa20Poly1305).unwrap();
        assert_eq!(id.box_secret.unseal(&ours).unwrap(), b"y");
    }

    #[test]
    fn wrong_key_and_short_input_do_not_open() {
        let a = Identity::from_seed(&Seed::generate());
        let b = Identity::from_seed(&Seed::generate());
        let sealed = seal(&a.address(), b"secret", Cipher::default()).unwrap();
        assert_eq!(b.open(&sealed), Err(CryptoError::Undecryptable));
        assert_eq!(a.open(&sealed[..40]), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn an_all_zero_shared_secret_is_never_used() {
        // Bypass the constructor's small-order check: seal's own check stops it.
        let id = Identity::from_seed(&Seed::generate());
        let mut key = PeerKey::new(&id.address()).unwrap();
        key.box_public = Some(PublicKey::from([0u8; 32]));
        for cipher in [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305] {
            assert_eq!(key.seal(b"x", cipher), Err(CryptoError::WeakSharedSecret));
        }
    }

    #[test]
    fn a_key_with_a_torsion_component_verifies_but_is_not_sealed_to() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let order4 = CompressedEdwardsY([0; 32]).decompress().unwrap();
        let mixed = Address((ED25519_BASEPOINT_POINT + order4).compress().to_bytes());
        assert!(PeerKey::new(&mixed).is_ok());
        assert_eq!(PeerKey::recipient(&mixed).err(), Some(KeyError::MixedOrder));
        assert_eq!(
            seal(&mixed, b"x", Cipher::default()),
            Err(CryptoError::Recipient(KeyError::MixedOrder))
        );
    }

    #[test]
    fn batch_verification_agrees_with_single() {
        let id = Identity::from_seed(&Seed::generate());
        let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10]).collect();
        let mut items: Vec<(Address, &[u8], [u8; 64])> = msgs
            .iter()
            .map(|m| (id.address(), m.as_slice(), id.sign(m)))
            .collect();
        assert!(verify_batch(&items));
        assert!(items.iter().all(|(a, m, s)| verify(a, m, s)));
        items[2].2[0] ^= 1;
        assert!(!verify_batch(&items));
    }
}
