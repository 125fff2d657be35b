//! The relay's input bound in bytes, shared by stdin and every connection:
//! readers may run ahead of the main loop by at most [`IN_FLIGHT`] bytes,
//! whatever their count, so a stream of large messages cannot pile up in
//! memory. Stdin counts each object once decoded (always at least one, so
//! any object the codec takes gets through); a connection counts every
//! byte as it reads it, so a frame or a line that is still arriving holds
//! its share of the bound from its first byte (see `net::conn`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use gossip::codec::{Object, ReadError};
use gossip::message::Message;

/// Most bytes of input objects read but not yet handled.
pub const IN_FLIGHT: usize = 32 << 20;

/// The bytes the reader has handed over and the main loop not yet handled.
#[derive(Default)]
pub struct InFlight {
    bytes: Mutex<usize>,
    freed: Condvar,
}

/// What an object holds in memory besides its body or content.
const FIXED: usize = 256;

/// About how many bytes an input object holds in memory.
pub fn size_of(item: &Result<Object, ReadError>) -> usize {
    match item {
        Ok(Object::Message(m)) => message_size(m),
        Ok(Object::Bulletin(b)) => FIXED + b.content.len(),
        Err(_) => FIXED,
    }
}

/// About how many bytes a message holds in memory.
pub fn message_size(m: &Message) -> usize {
    FIXED + m.body.len()
}

impl InFlight {
    /// Waits until `n` more bytes fit (or nothing is in flight), then
    /// counts them.
    pub fn take(&self, n: usize) {
        let Ok(mut bytes) = self.bytes.lock() else {
            return;
        };
        while *bytes > 0 && *bytes + n > IN_FLIGHT {
            bytes = match self.freed.wait(bytes) {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        *bytes += n;
    }

    /// Counts `n` more bytes once they fit (or nothing is in flight),
    /// waiting at most until `deadline` and no longer than `closed` stays
    /// false; false (nothing counted) when it gave up.
    pub fn take_until(&self, n: usize, deadline: Instant, closed: &AtomicBool) -> bool {
        let Ok(mut bytes) = self.bytes.lock() else {
            return false;
        };
        while *bytes > 0 && *bytes + n > IN_FLIGHT {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || closed.load(Ordering::Relaxed) {
                return false;
            }
            // Woken by a free, or every 100 ms to look at `closed`.
            bytes = match self
                .freed
                .wait_timeout(bytes, left.min(Duration::from_millis(100)))
            {
                Ok((b, _)) => b,
                Err(_) => return false,
            };
        }
        *bytes += n;
        true
    }

    /// Counts `n` bytes as handled.
    pub fn free(&self, n: usize) {
        if let Ok(mut bytes) = self.bytes.lock() {
            *bytes = bytes.saturating_sub(n);
            self.freed.notify_all();
        }
    }
}
