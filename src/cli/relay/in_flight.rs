//! The relay's input bounds in bytes: stdin's reader may run ahead of the
//! main loop by at most [`IN_FLIGHT`] bytes, so a stream of large messages
//! cannot pile up in memory. It counts each object once decoded (always at
//! least one, so any object the codec takes gets through). The network's
//! connections share a bound of the same size of their own, in the
//! library's endpoint (`gossip::net::Limits::in_flight`), which charges a
//! message from its first byte.

use std::sync::{Condvar, Mutex};

use gossip::RawMessage;
use gossip::codec::{Object, ReadError};

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
pub fn message_size(m: &RawMessage) -> usize {
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

    /// Counts `n` bytes as handled.
    pub fn free(&self, n: usize) {
        if let Ok(mut bytes) = self.bytes.lock() {
            *bytes = bytes.saturating_sub(n);
            self.freed.notify_all();
        }
    }
}
