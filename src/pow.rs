//! Hashcash proof of work: a nonce that gives a tapehash1 digest enough
//! leading zero bits.
//!
//! Bulletins and messages both put the u32 nonce at bytes 68..72 of their
//! proof-of-work preimage, so one [`Work`] type mines either. Mining splits
//! the nonce space into chunks that rayon threads take in parallel; the
//! first thread to find a nonce stops the others.
//!
//! The original packs ts and nonce as signed 32-bit integers, so every ts
//! and nonce this project makes stays below 2^31 ([`fits_original`]): searches start
//! where the original's do ([`search_start`], 0..2^16) and go upward,
//! wrapping within the signed range (`nonce_at`). Any u32 is still read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::tapehash::{DEFAULT_CODE_SIZE, leading_zero_bits, tapehash1};
use crate::time::Timestamp;

/// Where the nonce sits in every proof-of-work preimage.
pub(crate) const NONCE_OFFSET: usize = 68;

/// Default difficulty for bulletins (leading zero bits).
pub const DEFAULT_BULLETIN_DIFFICULTY: u32 = 7;

/// Default difficulty for messages (leading zero bits).
pub const DEFAULT_MESSAGE_DIFFICULTY: u32 = 1;

/// The most leading zero bits a 256-bit digest can have.
pub const MAX_DIFFICULTY: u32 = 256;

/// The hardest difficulty a node is configured to mine at
/// ([`NodeConfig`](crate::node::NodeConfig) refuses more): a search of the
/// 2^31 nonces reaches 32 bits about two times in five (1 − e^−½), and
/// each bit past it halves that; `gossip relay -d` has always stopped here.
pub const MAX_MINEABLE_DIFFICULTY: u32 = 32;

/// Every ts and nonce this project makes is below this (2^31): the
/// original packs both as signed 32-bit integers and cannot read more.
pub(crate) const SIGNED_LIMIT: u32 = 1 << 31;

/// Whether the original can read `value` as a ts or nonce.
pub fn fits_original(value: u32) -> bool {
    value < SIGNED_LIMIT
}

/// A ts for `now` (seconds since the epoch) that the original can read:
/// saturates at 2^31 − 1 (reached in 2038), as [`Timestamp::to_wire`].
pub(crate) fn ts_of(now: u64) -> u32 {
    Timestamp::from_secs(now).to_wire()
}

/// Where a nonce search starts, as in the original: 0..2^16.
pub fn search_start(rng: &mut impl rand::Rng) -> u32 {
    u32::from(rng.r#gen::<u16>())
}

/// The nonce `step` places after `start`, wrapping within the signed range
/// (a `start` past it is taken modulo 2^31 first).
pub(crate) fn nonce_at(start: u32, step: u64) -> u32 {
    ((u64::from(start) + step) % u64::from(SIGNED_LIMIT)) as u32
}

/// Nonces one thread tries before it looks at the stop flag again.
const CHUNK: u64 = 1 << 10;

/// A proof-of-work target: leading zero bits of the tapehash1 digest
/// (0 is met by any nonce; above 256 by none). A type of its own so a
/// difficulty is not taken for a ts or a nonce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(u32);

impl Difficulty {
    /// `bits` leading zero bits.
    pub const fn new(bits: u32) -> Self {
        Self(bits)
    }

    /// The leading zero bits asked for.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Expected number of hashes to reach it.
    pub fn expected_tries(self) -> f64 {
        expected_tries(self.0)
    }
}

impl From<u32> for Difficulty {
    fn from(bits: u32) -> Self {
        Self(bits)
    }
}

impl std::fmt::Display for Difficulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bits", self.0)
    }
}

/// A proof-of-work preimage: bytes with a u32 nonce at byte 68.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    preimage: Vec<u8>,
}

impl Work {
    /// Wraps a preimage; it must be long enough to hold the nonce.
    pub fn new(preimage: Vec<u8>) -> Self {
        assert!(preimage.len() >= NONCE_OFFSET + 4, "preimage too short");
        Self { preimage }
    }

    /// The nonce currently in the preimage.
    pub fn nonce(&self) -> u32 {
        let mut n = [0u8; 4];
        n.copy_from_slice(&self.preimage[NONCE_OFFSET..NONCE_OFFSET + 4]);
        u32::from_be_bytes(n)
    }

    /// tapehash1 of the preimage with `nonce` in place.
    pub fn digest_with(&mut self, nonce: u32) -> [u8; 32] {
        self.preimage[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&nonce.to_be_bytes());
        tapehash1(&self.preimage, DEFAULT_CODE_SIZE)
    }

    /// tapehash1 of the preimage as it is.
    pub fn digest(&self) -> [u8; 32] {
        tapehash1(&self.preimage, DEFAULT_CODE_SIZE)
    }

    /// Leading zero bits of [`Work::digest`].
    pub fn bits(&self) -> u32 {
        leading_zero_bits(&self.digest())
    }

    /// Whether the preimage as it is meets `difficulty` (0 is always met,
    /// without hashing).
    pub fn meets(&self, difficulty: u32) -> bool {
        difficulty == 0 || self.bits() >= difficulty
    }
}

/// What happened to a mining run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mined {
    /// A nonce that meets the difficulty.
    Found(u32),
    /// Every one of the 2^31 nonces was tried and none meets the difficulty.
    Exhausted,
    /// The caller raised the stop flag before a nonce was found.
    Stopped,
}

/// No nonce in the signed range (0..2^31) gives the difficulty asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmineable {
    /// The difficulty asked for.
    pub difficulty: u32,
}

impl std::fmt::Display for Unmineable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no nonce reaches difficulty {}", self.difficulty)
    }
}

impl std::error::Error for Unmineable {}

/// The one-call search: a nonce for `work` at `difficulty`, from a random
/// start as the original's ([`search_start`]), on the current rayon pool.
pub fn find_nonce(work: &Work, difficulty: Difficulty) -> Result<u32, Unmineable> {
    let start = search_start(&mut rand::thread_rng());
    match mine(work, difficulty, start, &Progress::default()) {
        Mined::Found(nonce) => Ok(nonce),
        Mined::Exhausted | Mined::Stopped => Err(Unmineable {
            difficulty: difficulty.bits(),
        }),
    }
}

/// Shared state a caller can watch (progress) or use to stop a run.
#[derive(Debug, Default)]
pub struct Progress {
    /// Hashes tried so far.
    pub tried: AtomicU64,
    /// Set to stop mining early.
    pub stop: AtomicBool,
    /// Stop after about this many hashes (0: no limit); benchmarks use it.
    pub limit: AtomicU64,
}

/// Searches the whole signed nonce space (0..2^31), from `start` upward and
/// wrapping within it (`nonce_at`), for a nonce that gives `difficulty`
/// leading zero bits.
///
/// Runs on the current rayon pool (install a smaller pool to cap threads).
/// Whatever thread finds a nonce first wins; the search order is free, as in
/// the original. Never loops forever: the space is finite.
pub fn mine(work: &Work, difficulty: Difficulty, start: u32, progress: &Progress) -> Mined {
    let difficulty = difficulty.bits();
    if difficulty == 0 {
        // Nothing to search: keep the nonce the object has, unless the
        // original could not read it.
        let nonce = work.nonce();
        return Mined::Found(if fits_original(nonce) {
            nonce
        } else {
            nonce_at(start, 0)
        });
    }
    // Easy targets (a message's 1 bit) are met in a few tries: search the
    // first chunk on this thread and spare the pool's hand-off. The parallel
    // search below covers the whole space again if this misses.
    if expected_tries(difficulty) <= (CHUNK / 16) as f64 {
        let mut local = work.clone();
        for i in 0..CHUNK {
            let nonce = nonce_at(start, i);
            if leading_zero_bits(&local.digest_with(nonce)) >= difficulty {
                progress.tried.fetch_add(i + 1, Ordering::Relaxed);
                return Mined::Found(nonce);
            }
        }
    }
    let chunk_len = chunk_for(difficulty);
    let limit = u64::from(SIGNED_LIMIT);
    // Windows of a few chunks per thread, searched in parallel one after
    // another, so the search still goes upward from `start`.
    let window = chunk_len * 4 * rayon::current_num_threads().max(1) as u64;
    let mut found = None;
    let mut base = 0;
    // Set by the thread that finds a nonce, so the others stop within a
    // step instead of finishing their chunks.
    let done = AtomicBool::new(false);
    while found.is_none() && base < limit {
        let end = (base + window).min(limit);
        found = (base / chunk_len..end.div_ceil(chunk_len))
            .into_par_iter()
            .find_map_any(|chunk| {
                if progress.stop.load(Ordering::Relaxed) {
                    return Some(None);
                }
                let mut local = work.clone();
                let first = chunk * chunk_len;
                let last = (first + chunk_len).min(end);
                // A few hundred nonces at a time, then the stop flag and the
                // limit: a hard search stops within milliseconds of either.
                let mut from = first;
                while from < last {
                    let to = (from + STEP).min(last);
                    for i in from..to {
                        let nonce = nonce_at(start, i);
                        if leading_zero_bits(&local.digest_with(nonce)) >= difficulty {
                            progress.tried.fetch_add(i - from + 1, Ordering::Relaxed);
                            done.store(true, Ordering::Relaxed);
                            return Some(Some(nonce));
                        }
                    }
                    let tried =
                        progress.tried.fetch_add(to - from, Ordering::Relaxed) + (to - from);
                    let cap = progress.limit.load(Ordering::Relaxed);
                    if cap != 0 && tried >= cap {
                        progress.stop.store(true, Ordering::Relaxed);
                    }
                    if progress.stop.load(Ordering::Relaxed) {
                        return Some(None);
                    }
                    if done.load(Ordering::Relaxed) {
                        return None;
                    }
                    from = to;
                }
                None
            });
        base = end;
    }
    match found {
        Some(Some(nonce)) => Mined::Found(nonce),
        Some(None) => Mined::Stopped,
        None => Mined::Exhausted,
    }
}

/// Nonces tried between two looks at the stop flag and the limit.
const STEP: u64 = 256;

/// Nonces one parallel task tries: about a sixteenth of the expected search
/// (at least 16, at most `CHUNK` × 64), so even an easy target is split
/// over every thread, and a hard one does not look at the stop flag too often.
pub(crate) fn chunk_for(difficulty: u32) -> u64 {
    ((expected_tries(difficulty) / 16.0) as u64).clamp(16, CHUNK * 64)
}

/// Expected number of hashes to reach `difficulty` bits.
pub(crate) fn expected_tries(difficulty: u32) -> f64 {
    2f64.powi(difficulty.min(MAX_DIFFICULTY) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mined_nonce_meets_difficulty() {
        let work = Work::new(vec![7u8; 80]);
        let progress = Progress::default();
        let Mined::Found(nonce) = mine(&work, Difficulty::new(6), 12345, &progress) else {
            panic!("no nonce found");
        };
        let mut check = work.clone();
        assert!(leading_zero_bits(&check.digest_with(nonce)) >= 6);
        assert!(check.meets(6));
    }

    #[test]
    fn nonces_wrap_within_the_signed_range() {
        assert_eq!(nonce_at(5, 3), 8);
        assert_eq!(nonce_at(SIGNED_LIMIT - 1, 1), 0);
        assert_eq!(nonce_at(u32::MAX, 0), SIGNED_LIMIT - 1);
        assert_eq!(nonce_at(0, u64::from(SIGNED_LIMIT)), 0);
        let start = search_start(&mut rand::thread_rng());
        assert!(start < 1 << 16);
        assert_eq!(ts_of(1_700_000_000), 1_700_000_000);
        assert_eq!(ts_of(u64::from(SIGNED_LIMIT)), SIGNED_LIMIT - 1);
        assert_eq!(ts_of(u64::MAX), SIGNED_LIMIT - 1);
    }

    #[test]
    fn a_search_near_the_top_wraps_below_2_31() {
        let work = Work::new(vec![3u8; 80]);
        for start in [SIGNED_LIMIT - 2, u32::MAX] {
            let Mined::Found(nonce) = mine(&work, Difficulty::new(8), start, &Progress::default())
            else {
                panic!("no nonce found");
            };
            assert!(fits_original(nonce), "{nonce}");
        }
    }

    #[test]
    fn stop_flag_stops() {
        let work = Work::new(vec![1u8; 72]);
        let progress = Progress::default();
        progress.stop.store(true, Ordering::Relaxed);
        assert_eq!(
            mine(&work, Difficulty::new(200), 0, &progress),
            Mined::Stopped
        );
    }
}
