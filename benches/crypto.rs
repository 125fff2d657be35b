//! The crypto adapter's costs: sign, verify, batch verify, seal, open, and a
//! whole verify-and-open of one message, as `gossip verify`/`open` do it.
//!
//! `cargo bench --bench crypto`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gossip::Bulletin;
use gossip::RawMessage;
use gossip::Timestamp;
use gossip::TopicId;
use gossip::crypto::{Cipher, Identity, PeerKey, verify_batch};
use gossip::pow::{Mined, Progress, mine};
use gossip::verify::{Policy, verify_message};
use gossip::{Address, Seed};
use gossip::{Op, Payload};

fn bench_crypto(c: &mut Criterion) {
    let alice = Identity::from_seed(&Seed::from_bytes([1; 32]));
    let bob = Identity::from_seed(&Seed::from_bytes([2; 32]));
    let bob_key = PeerKey::new(&bob.address()).expect("valid");
    let alice_key = PeerKey::new(&alice.address()).expect("valid");
    let msg200 = vec![5u8; 200];
    let sig = alice.sign(&msg200);
    let kib = vec![6u8; 1024];
    let sealed = bob_key.seal(&kib, Cipher::XSalsa20Poly1305).unwrap();

    let mut g = c.benchmark_group("crypto");
    g.bench_function("sign 200 B", |b| b.iter(|| alice.sign(black_box(&msg200))));
    g.bench_function("verify 200 B", |b| {
        b.iter(|| alice_key.verify(black_box(&msg200), &sig))
    });
    g.bench_function("seal 1 KiB", |b| {
        b.iter(|| {
            bob_key
                .seal(black_box(&kib), Cipher::XSalsa20Poly1305)
                .unwrap()
        })
    });
    g.bench_function("open 1 KiB", |b| {
        b.iter(|| bob.open(black_box(&sealed)).expect("opens"))
    });
    g.bench_function("address to X25519 key (PeerKey::new)", |b| {
        b.iter(|| PeerKey::new(black_box(&bob.address())).expect("valid"))
    });
    g.finish();

    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 200]).collect();
    let items: Vec<(Address, &[u8], [u8; 64])> = msgs
        .iter()
        .map(|m| (alice.address(), m.as_slice(), alice.sign(m)))
        .collect();
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify_batch of 64", |b| {
        b.iter(|| assert!(verify_batch(black_box(&items))))
    });
    g.finish();

    // One message as the original's prepare_for_send makes it.
    let mut bulletin = Bulletin::new(TopicId::from_bytes([3; 32]), vec![7u8; 100], 1_764_000_000);
    let Mined::Found(n) = mine(
        &bulletin.work(),
        gossip::Difficulty::new(7),
        0,
        &Progress::default(),
    ) else {
        panic!("mined")
    };
    bulletin.nonce = n;
    let body = Payload::Bulletin(Op::StoreAndForward, bulletin).encode();
    let mut m = RawMessage {
        src: alice.address(),
        dst: bob.address(),
        ts: 1_764_000_010,
        nonce: 0,
        sig: [0; 64],
        body: bob_key.seal(&body, Cipher::default()).unwrap(),
    };
    m.sig = alice.sign(&m.signed_bytes());
    let Mined::Found(n) = mine(
        &m.work(),
        gossip::Difficulty::new(1),
        0,
        &Progress::default(),
    ) else {
        panic!("mined")
    };
    m.nonce = n;
    let policy = Policy {
        stop_at_first: true,
        ..Policy::new(Timestamp::from_secs(1_764_000_060))
    };
    assert!(verify_message(&m, Some(&bob), None, &policy).is_valid());
    let mut g = c.benchmark_group("message");
    g.bench_function("verify + open (all checks, src key decoded)", |b| {
        b.iter(|| verify_message(black_box(&m), Some(&bob), None, &policy))
    });
    g.bench_function("verify + open (src key cached)", |b| {
        b.iter(|| verify_message(black_box(&m), Some(&bob), Some(&alice_key), &policy))
    });
    g.finish();
}

criterion_group!(benches, bench_crypto);
criterion_main!(benches);
