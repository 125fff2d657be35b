//! `--listen HOST:PORT`: a thread that accepts connections, each run on a
//! thread of its own, up to the relay's maximum number of connections.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::conn::{self, Shared};
use super::{ConnIds, NetEvent, send_event};

/// Starts accepting on `listener`; connections past `max` (counting those
/// open now) are closed at once and reported as refused.
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
            let Ok(stream) = stream else { continue };
            let Ok(remote) = stream.peer_addr() else {
                continue;
            };
            if open.fetch_add(1, Ordering::SeqCst) >= max {
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
