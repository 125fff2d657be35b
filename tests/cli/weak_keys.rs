//! Small-order (weak) destinations: every path that seals to an address
//! refuses the eight torsion points in every encoding, with exit 2 and a
//! line saying why. Sealing to one uses an all-zero X25519 shared secret, so
//! anyone could open the box: each test shows that on a box that gets out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use crypto_box::aead::Aead;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use ed25519_dalek::VerifyingKey;

use crate::util::{Env, bulletin_line, fixed_address};

/// Every encoding of a point of order 1, 2, 4 or 8 (libsodium's blocklist,
/// each with the sign bit clear and set; `ed…7f` and `ee…7f` are the
/// non-canonical y = p and y = p + 1).
pub fn small_order_addresses() -> Vec<String> {
    let ff = "ff".repeat(30);
    let canonical = [
        "00".repeat(32),
        format!("01{}", "00".repeat(31)),
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05".to_owned(),
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a".to_owned(),
        format!("ec{ff}7f"),
        format!("ed{ff}7f"),
        format!("ee{ff}7f"),
    ];
    let mut out = Vec::new();
    for hex in canonical {
        let mut bytes = hex::decode(&hex).unwrap();
        out.push(hex);
        bytes[31] ^= 0x80;
        out.push(hex::encode(&bytes));
    }
    out
}

/// Opens a box sealed to the small-order `address` with no key at all: the
/// X25519 of any secret with a small-order point is zero, as the sealer's was.
fn open_without_key(address: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let bytes: [u8; 32] = hex::decode(address).ok()?.try_into().ok()?;
    let u = VerifyingKey::from_bytes(&bytes)
        .ok()?
        .to_montgomery()
        .to_bytes();
    let epk: [u8; 32] = sealed.get(..32)?.try_into().ok()?;
    let mut nonce = [0u8; 24];
    let mut h = Blake2bVar::new(24).unwrap();
    h.update(&epk);
    h.update(&u);
    h.finalize_variable(&mut nonce).unwrap();
    let anyone = SecretKey::from([7u8; 32]);
    SalsaBox::new(&PublicKey::from(u), &anyone)
        .decrypt(&nonce.into(), &sealed[32..])
        .ok()
}

/// Asserts a refusal: exit 2, one `gossip:` line naming the small order,
/// nothing on stdout. A box that did come out is opened without a key.
fn assert_refused(env: &Env, args: &[&str], stdin: &str, address: &str) {
    let out = env.run(args, stdin);
    if out.code == 0 {
        for line in out.text().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let body = B64
                .decode(v["body"].as_str().unwrap_or(""))
                .unwrap_or_default();
            if let Some(plain) = open_without_key(address, &body) {
                panic!(
                    "gossip {args:?} sealed to {address}, and the box opens without any key: {:?}",
                    String::from_utf8_lossy(&plain)
                );
            }
        }
    }
    assert_eq!(out.code, 2, "gossip {args:?}: stderr:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "gossip {args:?} wrote output");
    assert!(
        out.stderr.contains("small-order"),
        "gossip {args:?}: stderr:\n{}",
        out.stderr
    );
    assert!(out.stderr.starts_with("gossip: "), "{}", out.stderr);
}

#[test]
fn sign_to_a_small_order_address_is_refused() {
    let env = Env::new();
    env.keygen("a.key");
    let line = bulletin_line(&env, "chat", "secret", 100);
    for addr in small_order_addresses() {
        let args = ["sign", "-k", "a.key", "--to", &addr, "--difficulty", "0"];
        assert_refused(&env, &args, &line, &addr);
    }
}

#[test]
fn encrypt_to_a_small_order_dst_is_refused_and_the_rest_go_out() {
    let env = Env::new();
    let a = fixed_address(&env, 1);
    let b = fixed_address(&env, 2);
    let line = bulletin_line(&env, "chat", "secret", 100);
    let good = env
        .ok(
            &["message", "new", "--to", &b, "--from", &a, "--ts", "200"],
            &line,
        )
        .text();
    for addr in small_order_addresses() {
        let weak = good.replace(&b, &addr);
        assert_refused(&env, &["encrypt"], &weak, &addr);
        // A good message beside it is still sealed and written.
        let out = env.run(&["encrypt"], format!("{good}{weak}"));
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(out.lines().len(), 1);
    }
}

#[test]
fn message_new_to_a_small_order_address_is_refused() {
    let env = Env::new();
    let a = fixed_address(&env, 1);
    let line = bulletin_line(&env, "chat", "secret", 100);
    for addr in small_order_addresses() {
        let args = ["message", "new", "--from", &a, "--to", &addr, "--ts", "200"];
        assert_refused(&env, &args, &line, &addr);
    }
}

#[test]
fn relay_peer_with_a_small_order_address_is_refused() {
    let env = Env::new();
    env.keygen("a.key");
    for addr in small_order_addresses() {
        let args = ["relay", "-k", "a.key", "--peer", &addr];
        assert_refused(&env, &args, "", &addr);
    }
}

#[test]
fn the_library_never_seals_to_a_small_order_address() {
    use gossip::Address;
    use gossip::crypto::{Cipher, PeerKey, seal};
    use gossip::{CryptoError, KeyError};
    for addr in small_order_addresses() {
        let a = Address::from_hex(&addr).unwrap();
        assert_eq!(
            seal(&a, b"secret", Cipher::default()).unwrap_err(),
            CryptoError::Recipient(KeyError::SmallOrder),
            "{addr}"
        );
        assert_eq!(PeerKey::new(&a).err(), Some(KeyError::SmallOrder), "{addr}");
    }
}
