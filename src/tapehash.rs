//! tapehash1: the protocol's proof-of-work hash.
//!
//! A program (`code`, SHAKE256 of the preimage) runs over a 64-byte tape
//! (BLAKE2b-512 of the preimage); the digest is SHA-256 of the final tape.
//! Opcodes 10..=15 hash the tape rotated to the current position. The tape is
//! kept twice in one 128-byte buffer so every rotation is a 64-byte window
//! and nothing is allocated per hash.

use blake2::{Blake2b512, Blake2s256};
use md5::Md5;
use sha2::{Digest, Sha256};
use sha3::{Sha3_256, Sha3_512};
use shake::{ExtendableOutput, Shake128, Shake256, Update, XofReader};

/// The code size the protocol uses for bulletins and messages.
pub const DEFAULT_CODE_SIZE: usize = 64;

/// The largest code size the original implementation accepts.
pub const MAX_CODE_SIZE: usize = 65_536;

const TAPE: usize = 64;

/// Computes tapehash1 of `preimage` with a program of `code_size` bytes.
///
/// Any code size is well defined (0 runs no program); the original accepts
/// 1..=65,536, which is what the command line enforces.
pub fn tapehash1(preimage: &[u8], code_size: usize) -> [u8; 32] {
    let mut shake = Shake256::default();
    Update::update(&mut shake, preimage);
    let mut reader = shake.finalize_xof();

    let mut tape = [0u8; 2 * TAPE];
    tape[..TAPE].copy_from_slice(&Blake2b512::digest(preimage));
    tape.copy_within(..TAPE, TAPE);

    let mut chunk = [0u8; 136];
    let mut left = code_size;
    while left > 0 {
        let take = left.min(chunk.len());
        reader.read(&mut chunk[..take]);
        for &c in &chunk[..take] {
            let opcode = c >> 4;
            let p = usize::from(c & 0x0f);
            for offset in [0, 16, 32, 48] {
                let at = p + offset;
                let value = execute(opcode, at, &tape);
                tape[at] = value;
                tape[at + TAPE] = value;
            }
        }
        left -= take;
    }
    Sha256::digest(&tape[..TAPE]).into()
}

/// The new value of `tape[at]` after `opcode` runs there.
#[inline]
fn execute(opcode: u8, at: usize, tape: &[u8; 2 * TAPE]) -> u8 {
    let x = tape[at];
    match opcode {
        0 => x,
        1 => x.wrapping_add(1),
        2 => x.wrapping_sub(1),
        3 | 8 => x >> 1,
        4 | 6 => x << 1,
        5 => x ^ 0xff,
        7 => x.wrapping_mul(x),
        9 => x.rotate_left(4),
        _ => hash_op(opcode, &tape[at..at + TAPE]),
    }
}

/// Opcodes 10..=15: one byte of a hash of the rotated tape `d`.
#[inline]
fn hash_op(opcode: u8, d: &[u8]) -> u8 {
    let d0 = usize::from(d[0]);
    match opcode {
        10 => Sha256::digest(d)[d0 % 32],
        11 => Md5::digest(d)[d0 % 16],
        12 => {
            let mut shake = Shake128::default();
            Update::update(&mut shake, d);
            let mut out = [0u8; 256];
            shake.finalize_xof().read(&mut out[..=d0]);
            out[d0]
        }
        13 => Sha3_256::digest(d)[d0 % 32],
        14 => Sha3_512::digest(d)[d0 % 64],
        _ => Blake2s256::digest(d)[d0 % 32],
    }
}

/// One hash call tapehash1 makes: the opcode (10..=15) and the rotated
/// tape it hashes (for benchmarks; not part of the supported API).
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashCall {
    /// The opcode, 10..=15.
    pub opcode: u8,
    /// The 64-byte rotated tape hashed.
    pub input: [u8; TAPE],
}

/// The hash calls tapehash1 makes for `preimage`, in order, besides the
/// fixed SHAKE256, BLAKE2b-512 and final SHA-256. Benchmarks replay them to
/// measure the floor: the cost of the primitives alone. Not part of the
/// supported API.
#[doc(hidden)]
pub fn hash_calls(preimage: &[u8], code_size: usize) -> Vec<HashCall> {
    let mut shake = Shake256::default();
    Update::update(&mut shake, preimage);
    let mut code = vec![0u8; code_size];
    shake.finalize_xof().read(&mut code);
    let mut tape = [0u8; 2 * TAPE];
    tape[..TAPE].copy_from_slice(&Blake2b512::digest(preimage));
    tape.copy_within(..TAPE, TAPE);
    let mut calls = Vec::new();
    for c in code {
        let (opcode, p) = (c >> 4, usize::from(c & 0x0f));
        for at in [p, p + 16, p + 32, p + 48] {
            if opcode >= 10 {
                let input = tape[at..at + TAPE].try_into().expect("64-byte window");
                calls.push(HashCall { opcode, input });
            }
            let value = execute(opcode, at, &tape);
            tape[at] = value;
            tape[at + TAPE] = value;
        }
    }
    calls
}

/// Runs one opcode's hash on a rotated tape: the primitive cost of a
/// [`HashCall`], for benchmarks. Not part of the supported API.
#[doc(hidden)]
pub fn replay(call: &HashCall) -> u8 {
    hash_op(call.opcode, &call.input)
}

/// Number of leading zero bits of `digest` read as a big-endian number.
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for &b in digest {
        if b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0x00, 0x01]), 15);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
        assert_eq!(leading_zero_bits(&[]), 0);
    }

    #[test]
    fn hash_calls_replay_to_the_same_tape_values() {
        let calls = hash_calls(b"some preimage", DEFAULT_CODE_SIZE);
        assert!(!calls.is_empty());
        assert!(calls.iter().all(|c| (10..=15).contains(&c.opcode)));
    }

    #[test]
    fn code_size_zero_is_sha256_of_blake2b() {
        let expected: [u8; 32] = Sha256::digest(Blake2b512::digest(b"x")).into();
        assert_eq!(tapehash1(b"x", 0), expected);
    }
}
