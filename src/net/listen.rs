//! Listening: accept connections until the handle stops, refusing at once
//! what comes past the connection bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::conn::{self, NetEvent, Wiring};
use super::{NetAddr, Transport};
use crate::session::Opening;

/// Accepted connections let in past `max_connections` at once, for the
/// engine to choose whom to close (the oldest that named no peer);
/// past that a listener closes new ones itself, so a flood cannot take
/// the descriptors first.
pub(crate) const SLACK: usize = 8;

/// The wait after accept() fails (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts on `listener` until the endpoint stops; a Unix socket's file is
/// removed then. Each connection is opened as `opening` says (its message
/// difficulty).
pub(crate) async fn accept_loop<T: Transport>(
    transport: T,
    mut listener: T::Listener,
    bound: NetAddr,
    opening: Opening,
    open: Arc<AtomicUsize>,
    w: Wiring,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = w.stop.cancelled() => break,
            accepted = transport.accept(&mut listener) => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if !w.tell(NetEvent::AcceptFailed { why: e.to_string() }).await {
                    break;
                }
                tokio::select! {
                    biased;
                    () = w.stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        if open.load(Ordering::Acquire)
            >= w.max_connections
                .load(Ordering::Relaxed)
                .saturating_add(SLACK)
        {
            drop(stream);
            if !w.tell(NetEvent::Refused { remote }).await {
                break;
            }
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (open, w2) = (Arc::clone(&open), w.clone());
        w.tracker.spawn(async move {
            conn::run(stream, opening, remote, &w2).await;
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    if let NetAddr::Unix(path) = &bound {
        let _ = std::fs::remove_file(path);
    }
}
