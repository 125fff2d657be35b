//! `--listen HOST:PORT`: a thread that accepts connections, each run on a
//! thread of its own. The relay's loop keeps at most `--max-connections`
//! accepted ones (closing the oldest unbound one past it); the listener
//! closes at once what comes past a little more than that, so a flood of
//! connections cannot run the relay out of descriptors before the loop
//! sees them.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::conn::{self, Shared};
use super::{ConnIds, NetEvent, send_event};

/// Connections accepted past `max` and handed to the loop, which closes
/// the oldest unbound ones to make room.
const SLACK: usize = 8;

/// How long the listener waits after accept() fails (out of descriptors,
/// say) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Starts accepting on `listener`; connections past `max` + [`SLACK`]
/// (counting those open now) are closed at once and reported as refused.
pub fn spawn(
    listener: TcpListener,
    difficulty: u32,
    max: usize,
    open: Arc<AtomicUsize>,
    shared: Shared,
    ids: Arc<ConnIds>,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    if !send_event(&shared, NetEvent::AcceptFailed { why: e.to_string() }) {
                        return;
                    }
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            let Ok(remote) = stream.peer_addr() else {
                continue;
            };
            if open.fetch_add(1, Ordering::SeqCst) >= max.saturating_add(SLACK) {
                open.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
                if !send_event(&shared, NetEvent::Refused { remote }) {
                    return;
                }
                continue;
            }
            let (shared, ids, open) = (shared.clone(), Arc::clone(&ids), Arc::clone(&open));
            std::thread::spawn(move || {
                conn::run(ids.next(), stream, remote, None, difficulty, &shared);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}
