//! One connection: wire frames in (bounded by the max frame length and the
//! handle's input budget), wire frames out (from a queue the session
//! bounds in bytes: each frame written is reported back to it), and how
//! it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Limits;
use super::transport::Io;
use crate::codec::MAX_OBJECT;
use crate::keys::Address;
use crate::session::ConnId;

/// Bytes each connection may read ahead of the frame it is charging to the
/// input budget.
const READ_BUFFER: usize = 8 << 10;

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
    /// Bytes written, for the session's send-queue bounds (unbounded: at
    /// most one report per frame the session let into a queue).
    pub drained: mpsc::UnboundedSender<(ConnId, usize)>,
    /// Soft stop: no more reading, accepting or dialing; queues drain.
    pub stop: CancellationToken,
    /// Hard stop, at the shutdown deadline: sockets dropped as they are.
    pub kill: CancellationToken,
    pub tracker: TaskTracker,
}

/// The engine's side of a connection: its send queue (the session keeps
/// it within its bounds) and the switch that closes it.
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Bytes>,
    close: CancellationToken,
}

impl Link {
    /// Queues a frame's payload (the codec writes its length prefix).
    pub fn push(&self, payload: Bytes) {
        // Fails only once the connection has ended: the session hears of
        // that end and gives its queued bytes back.
        let _ = self.tx.send(payload);
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
    let conn = ConnId(w.ids.fetch_add(1, Ordering::Relaxed));
    let (rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::unbounded_channel();
    let close = w.kill.child_token();
    let link = Link {
        tx,
        close: close.clone(),
    };
    let opened = NetEvent::Opened { conn, dialed, link };
    if w.events.send(opened).await.is_err() {
        return;
    }
    let mut reading = Box::pin(read_frames(conn, rd, w));
    let mut writing = Box::pin(write_frames(conn, wr, rx, &w.drained));
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
    // Once the engine has stopped listening (shut down), nobody needs
    // telling and this fails at once.
    let _ = w.events.send(NetEvent::Closed { conn }).await;
}

/// Reads frames into the engine until the peer stops, the framing breaks,
/// or the handle stops. (The session closes a connection that sends no
/// whole message within its idle timeout.)
///
/// Every byte of a frame is charged to the handle's input budget
/// (`in_flight`, shared by all connections) before it is read: the length
/// prefix is read first, a length over the max frame ends the connection,
/// and the frame's bytes are taken from the budget before its body is read
/// and held until the engine has handled it. While the budget is spent no
/// connection reads a body (backpressure), so what is read and not yet
/// handled is at most `in_flight` across all connections, plus each
/// connection's small read buffer.
async fn read_frames(conn: ConnId, rd: impl AsyncRead + Unpin, w: &Wiring) -> Why {
    let mut rd = tokio::io::BufReader::with_capacity(READ_BUFFER, rd);
    loop {
        let mut prefix = [0u8; 4];
        let read = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            read = rd.read_exact(&mut prefix) => read,
        };
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Why::Eof,
            Err(_) => return Why::Junk,
        }
        let len = u32::from_be_bytes(prefix);
        if len as usize > w.limits.max_frame {
            return Why::Junk;
        }
        let permit = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            permit = Arc::clone(&w.in_flight).acquire_many_owned(len) => match permit {
                Ok(p) => p,
                Err(_) => return Why::Stopped,
            },
        };
        let mut frame = BytesMut::zeroed(len as usize);
        let read = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Why::Stopped,
            read = rd.read_exact(&mut frame) => read,
        };
        if read.is_err() {
            // Cut short: broken framing.
            return Why::Junk;
        }
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
/// the write side) or the socket fails; each frame written whole is
/// reported, prefix included, for the session's bounds.
async fn write_frames(
    conn: ConnId,
    wr: impl AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    drained: &mpsc::UnboundedSender<(ConnId, usize)>,
) -> std::io::Result<()> {
    let mut out = FramedWrite::new(wr, codec(MAX_OBJECT));
    while let Some(payload) = rx.recv().await {
        let len = payload.len() + 4;
        // Flushed at once: a frame counts against the bounds until its
        // last byte is out.
        out.send(payload).await?;
        let _ = drained.send((conn, len));
    }
    out.into_inner().shutdown().await
}
