//! One connection: wire frames in (bounded by the max frame length and the
//! handle's input budget), wire frames out (from a queue bounded in bytes,
//! per connection and across all of them), and how it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Limits;
use super::transport::Io;
use crate::codec::MAX_OBJECT;
use crate::keys::Address;

/// A connection's id, unique for the handle's run.
pub(crate) type ConnId = u64;

/// The wire framing: a 4-byte big-endian length, then that many bytes; a
/// length over `max` is refused from the prefix alone, before anything is
/// reserved for the frame, and ends the connection.
pub(crate) fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// Why a connection's reading or writing ended.
#[derive(Debug)]
pub(crate) enum Why {
    /// The other side closed it.
    Eof,
    /// Broken framing: a length over the max frame, or a frame cut short.
    Junk,
    /// No whole frame came within the idle timeout.
    Idle,
    /// The handle is shutting down.
    Stopped,
    /// This side closed it (the engine's decision, or the deadline).
    Closed,
    /// The socket failed.
    Error,
}

/// What connection tasks tell the engine.
pub(crate) enum NetEvent {
    /// A connection is up: dialed to `dialed`, or accepted.
    Opened {
        conn: ConnId,
        dialed: Option<Address>,
        link: Link,
    },
    /// A whole frame came on `conn`; `permit` holds its bytes against the
    /// input budget until the engine has handled it.
    Frame {
        conn: ConnId,
        frame: BytesMut,
        permit: OwnedSemaphorePermit,
    },
    /// `conn` ended.
    Closed { conn: ConnId },
}

/// What every connection task shares with the engine.
#[derive(Clone)]
pub(crate) struct Wiring {
    pub events: mpsc::Sender<NetEvent>,
    pub ids: Arc<AtomicU64>,
    pub limits: Arc<Limits>,
    /// Bytes of whole frames read and not yet handled by the engine.
    pub in_flight: Arc<Semaphore>,
    /// Bytes queued to send, on all connections together.
    pub send_total: Arc<AtomicUsize>,
    /// Soft stop: no more reading, accepting or dialing; queues drain.
    pub stop: CancellationToken,
    /// Hard stop, at the shutdown deadline: sockets dropped as they are.
    pub kill: CancellationToken,
    pub tracker: TaskTracker,
}

/// The engine's side of a connection: its send queue, bounded in bytes,
/// and the switch that closes it.
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    limits: Arc<Limits>,
    close: CancellationToken,
}

impl Link {
    /// Queues a frame's payload; false (nothing queued) when it does not
    /// fit: the connection's queue holds `send_queue` bytes (a larger frame
    /// goes only into an empty queue), all queues together `send_total`
    /// (a larger frame only when they are all empty). A frame is counted
    /// until its last byte is written.
    pub fn push(&self, frame: Bytes) -> bool {
        let len = frame.len() + 4;
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued + len > self.limits.send_queue {
            return false;
        }
        let total_limit = self.limits.send_total;
        let took = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t == 0 || t + len <= total_limit).then_some(t + len)
            });
        if took.is_err() {
            return false;
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        if self.tx.send(frame).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.total.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Closes the connection now; what is queued is not written.
    pub fn close(&self) {
        self.close.cancel();
    }
}

/// Runs a connection until it ends, then tells the engine. `dialed` names
/// the peer this side dialed; an accepted connection names none until the
/// engine learns it from a verified message.
pub(crate) async fn run(io: impl Io, dialed: Option<Address>, w: &Wiring) {
    let conn = w.ids.fetch_add(1, Ordering::Relaxed);
    let (rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let close = w.kill.child_token();
    let link = Link {
        tx,
        queued: Arc::clone(&queued),
        total: Arc::clone(&w.send_total),
        limits: Arc::clone(&w.limits),
        close: close.clone(),
    };
    let opened = NetEvent::Opened { conn, dialed, link };
    if w.events.send(opened).await.is_err() {
        return;
    }
    let mut reading = Box::pin(read_frames(conn, rd, w));
    let mut writing = Box::pin(write_frames(wr, rx, &queued, &w.send_total));
    let why = tokio::select! {
        biased;
        () = close.cancelled() => Why::Closed,
        why = &mut reading => why,
        written = &mut writing => if written.is_ok() { Why::Closed } else { Why::Error },
    };
    if matches!(why, Why::Stopped) {
        // Shutting down: what is queued goes out, until the deadline.
        tokio::select! {
            biased;
            () = close.cancelled() => {}
            _ = &mut writing => {}
        }
    }
    // The queue is gone with the writer (a later push fails), and what it
    // never wrote leaves the bound on all queues.
    drop(writing);
    drop(reading);
    w.send_total
        .fetch_sub(queued.swap(0, Ordering::AcqRel), Ordering::AcqRel);
    // Once the engine has stopped listening (shut down), nobody needs
    // telling and this fails at once.
    let _ = w.events.send(NetEvent::Closed { conn }).await;
}

/// Reads frames into the engine until the peer stops, the framing breaks,
/// no whole frame comes within the idle timeout, or the handle stops.
async fn read_frames(conn: ConnId, rd: impl AsyncRead + Unpin, w: &Wiring) -> Why {
    let mut frames = FramedRead::new(rd, codec(w.limits.max_frame));
    loop {
        let next = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            next = tokio::time::timeout(w.limits.idle_timeout, frames.next()) => next,
        };
        let frame = match next {
            Err(_) => return Why::Idle,
            Ok(None) => return Why::Eof,
            Ok(Some(Err(_))) => return Why::Junk,
            Ok(Some(Ok(frame))) => frame,
        };
        // Held until the engine has handled the frame: while the budget
        // is spent, this connection reads no more (backpressure).
        let size = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let permit = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            permit = Arc::clone(&w.in_flight).acquire_many_owned(size) => match permit {
                Ok(p) => p,
                Err(_) => return Why::Stopped,
            },
        };
        let event = NetEvent::Frame {
            conn,
            frame,
            permit,
        };
        tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            sent = w.events.send(event) => if sent.is_err() { return Why::Stopped },
        }
    }
}

/// Writes queued frames until the queue is closed and empty (then closes
/// the write side) or the socket fails.
async fn write_frames(
    wr: impl AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    queued: &AtomicUsize,
    total: &AtomicUsize,
) -> std::io::Result<()> {
    let mut out = FramedWrite::new(wr, codec(MAX_OBJECT));
    while let Some(frame) = rx.recv().await {
        let len = frame.len() + 4;
        // Flushed at once: a frame counts against the bounds until its
        // last byte is out.
        let written = out.send(frame).await;
        queued.fetch_sub(len, Ordering::AcqRel);
        total.fetch_sub(len, Ordering::AcqRel);
        written?;
    }
    out.into_inner().shutdown().await
}

/// The idle timeout's default: a connection with no whole frame for this
/// long is closed (a trickle of bytes does not keep it open).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
