//! tapehash1 against its floor (the same hash calls, replayed bare), and
//! mining on one thread against two (hashes a second, and one object at a
//! time at -d 8, 10 and 16). `TAPEHASH_RATIOS_ONLY=1` prints only the
//! ratios, without criterion's groups.
//!
//! `cargo bench --bench tapehash`; the ratio lines printed at the end are the
//! figures `docs/performance.md` quotes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use blake2::Blake2b512;
use criterion::{Criterion, Throughput, criterion_group};
use gossip::Bulletin;
use gossip::TopicId;
use gossip::pow::{Progress, mine};
use gossip::tapehash::{DEFAULT_CODE_SIZE, HashCall, hash_calls, replay, tapehash1};
use sha2::{Digest, Sha256};
use shake::{ExtendableOutput, Shake256, Update, XofReader};

/// 64 bulletin headers differing in their nonce: a representative opcode mix.
fn headers() -> Vec<[u8; 72]> {
    let b = Bulletin::new(
        TopicId::from_bytes([7; 32]),
        b"benchmark content".to_vec(),
        1_764_000_000,
    );
    (0..64u32)
        .map(|n| {
            let mut h = b.header();
            h[68..72].copy_from_slice(&n.to_be_bytes());
            h
        })
        .collect()
}

/// The floor for one preimage: every primitive call tapehash1 makes, bare.
fn floor(preimage: &[u8], calls: &[HashCall]) -> u8 {
    let mut shake = Shake256::default();
    Update::update(&mut shake, preimage);
    let mut code = [0u8; DEFAULT_CODE_SIZE];
    shake.finalize_xof().read(&mut code);
    let tape = Blake2b512::digest(preimage);
    let mut acc = code[0] ^ tape[0];
    for call in calls {
        acc ^= replay(call);
    }
    acc ^ Sha256::digest(&tape[..])[0]
}

fn bench_tapehash(c: &mut Criterion) {
    let headers = headers();
    let calls: Vec<Vec<HashCall>> = headers
        .iter()
        .map(|h| hash_calls(h, DEFAULT_CODE_SIZE))
        .collect();
    let mut g = c.benchmark_group("tapehash1");
    g.throughput(Throughput::Elements(headers.len() as u64));
    g.bench_function("full, 72-byte header", |b| {
        b.iter(|| {
            headers
                .iter()
                .map(|h| tapehash1(black_box(h), DEFAULT_CODE_SIZE)[0])
                .fold(0, |a, x| a ^ x)
        })
    });
    g.bench_function("floor: its hash calls replayed", |b| {
        b.iter(|| {
            headers
                .iter()
                .zip(&calls)
                .map(|(h, c)| floor(black_box(h), c))
                .fold(0, |a, x| a ^ x)
        })
    });
    g.finish();
}

/// Time per hash of `mine` on `threads` threads, over `hashes` hashes.
fn mining_rate(threads: usize, hashes: u64) -> Duration {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let work = Bulletin::new(
        TopicId::from_bytes([1; 32]),
        b"mining".to_vec(),
        1_764_000_000,
    )
    .work();
    let progress = Progress::default();
    progress
        .limit
        .store(hashes, std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    pool.install(|| mine(&work, gossip::Difficulty::new(256), 0, &progress));
    let tried = progress
        .tried
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(1);
    start.elapsed() / tried as u32
}

fn bench_mining(c: &mut Criterion) {
    let mut g = c.benchmark_group("mining");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2] {
        g.bench_function(format!("{threads} thread(s), per hash"), |b| {
            b.iter_custom(|iters| {
                let per_hash = mining_rate(threads, iters.max(4096));
                per_hash * iters as u32
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_tapehash, bench_mining);

/// Prints the ratios the targets are stated in, from one interleaved run.
fn ratios() {
    let headers = headers();
    let calls: Vec<Vec<HashCall>> = headers
        .iter()
        .map(|h| hash_calls(h, DEFAULT_CODE_SIZE))
        .collect();
    let rounds = 200;
    let (mut full, mut bare) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(
            headers
                .iter()
                .map(|h| tapehash1(black_box(h), DEFAULT_CODE_SIZE)[0])
                .fold(0, |a, x| a ^ x),
        );
        full += t.elapsed();
        let t = Instant::now();
        black_box(
            headers
                .iter()
                .zip(&calls)
                .map(|(h, c)| floor(black_box(h), c))
                .fold(0, |a, x| a ^ x),
        );
        bare += t.elapsed();
    }
    let n = (rounds * headers.len()) as f64;
    let full_us = full.as_secs_f64() * 1e6 / n;
    let bare_us = bare.as_secs_f64() * 1e6 / n;
    println!(
        "tapehash1 one thread: {full_us:.2} µs/hash ({:.0} hashes/s); floor {bare_us:.2} µs; {:.1}% of the floor",
        1e6 / full_us,
        100.0 * bare_us / full_us
    );
    let hashes = 200_000;
    let one = mining_rate(1, hashes);
    let two = mining_rate(2, hashes);
    println!(
        "mining: 1 thread {:.0} hashes/s, 2 threads {:.0} hashes/s, speed-up {:.2}x",
        1.0 / one.as_secs_f64(),
        1.0 / two.as_secs_f64(),
        one.as_secs_f64() / two.as_secs_f64()
    );
}

/// One object at a time, on one thread against two: the same objects and
/// the same start nonces for both, so both search the same nonces (the
/// parallel search goes upward from the start too) and the ratio is the
/// scale, not luck.
fn one_object_scale() {
    for (difficulty, count) in [(8u32, 400u32), (10, 200), (16, 8)] {
        let works: Vec<_> = (0..count)
            .map(|i| {
                Bulletin::new(
                    TopicId::from_bytes([2; 32]),
                    format!("object {i}").into_bytes(),
                    1_764_000_000,
                )
                .work()
            })
            .collect();
        let time = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let t = Instant::now();
            pool.install(|| {
                for (i, w) in works.iter().enumerate() {
                    black_box(mine(
                        w,
                        gossip::Difficulty::new(difficulty),
                        (i as u32 * 7919) % 65_536,
                        &Progress::default(),
                    ));
                }
            });
            t.elapsed()
        };
        let (one, two) = (time(1), time(2));
        println!(
            "mining one object at a time at -d {difficulty} ({count} objects): 1 thread {:.2} s, 2 threads {:.2} s, speed-up {:.2}x",
            one.as_secs_f64(),
            two.as_secs_f64(),
            one.as_secs_f64() / two.as_secs_f64()
        );
    }
}

fn main() {
    if std::env::var_os("TAPEHASH_RATIOS_ONLY").is_some() {
        ratios();
        one_object_scale();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
    one_object_scale();
}
