//! ObjectReader over arbitrary bytes, taking Kind::Any, Bulletin or Message
//! (chosen by the first byte), read straight from the slice and through a
//! tiny BufReader: never panics, stops after a fatal error, every object it
//! yields has the kind asked for, and no single allocation exceeds what
//! the input can justify (a lying length prefix must not allocate).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufReader;
use std::sync::atomic::{AtomicUsize, Ordering};

use gossip::codec::{Kind, MAX_JSON_LINE, Object, ObjectReader, ReadError};
use libfuzzer_sys::fuzz_target;

/// Tracks the largest single allocation since the last reset.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

fn check(items: impl Iterator<Item = Result<Object, ReadError>>, kind: Kind) {
    let mut ended = false;
    for item in items {
        assert!(!ended, "an item after a fatal error");
        match item {
            Ok(obj) => {
                let back = obj.clone().expect(kind).expect("reader honours its kind");
                assert_eq!(back, obj);
            }
            Err(ReadError::Decode { fatal, .. }) => ended = fatal,
            Err(ReadError::Io(e)) => panic!("I/O error from a slice: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let kind = match selector % 3 {
        0 => Kind::Any,
        1 => Kind::Bulletin,
        _ => Kind::Message,
    };
    LARGEST.store(0, Ordering::Relaxed);
    check(ObjectReader::new(stream, kind), kind);
    let small = BufReader::with_capacity(1 + usize::from(selector % 7), stream);
    check(ObjectReader::new(small, kind), kind);
    // Decoding may copy and expand the input a few times (base64, JSON
    // values, Vec doubling), never by a length the input only claims.
    let bound = 64 * stream.len() + (64 << 10);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= bound.min(MAX_JSON_LINE * 2),
        "allocated {largest} bytes for a {}-byte input",
        stream.len()
    );
});
