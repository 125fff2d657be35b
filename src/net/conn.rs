//! One connection: messages in (wire frames, or JSON lines for a netcat
//! user, bounded by the max frame length and the endpoint's input budget),
//! wire frames out (from a queue the session bounds in bytes: each frame
//! written is reported back to it), and how it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::SinkExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Limits;
use super::transport::Io;
use crate::codec::{Kind, MAX_OBJECT, Object, ObjectReader, ReadError, json_line_cap};
use crate::session::{ConnId, Opening};

/// Bytes each connection may read ahead of the message it is charging to
/// the input budget.
const READ_BUFFER: usize = 8 << 10;

/// The wire framing: a 4-byte big-endian length, then that many bytes.
pub(crate) fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// Why a connection ended, as its own task saw it. (When the session
/// closed it, the session knows better why: [`crate::session::CloseReason`].)
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// The other side closed it.
    Eof,
    /// It sent something that is not a message: a length over the max
    /// frame, a frame or line cut short, a line that is not a message.
    Junk(String),
    /// The endpoint is shutting down.
    Stopped,
    /// This side closed it ([`Endpoint::close`](super::Endpoint::close),
    /// or the shutdown deadline).
    Closed,
    /// The socket failed.
    Error(String),
    /// An output's reader closed its end (a broken pipe: `head` read what
    /// it wanted, a fifo's reader left): the error's text. Only an output
    /// ([`Endpoint::attach_output`](super::Endpoint::attach_output)) ends
    /// so; a caller may take it quietly where the reader leaving is normal.
    ReaderGone(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Eof => f.write_str("closed by the peer"),
            Self::Junk(why) => write!(f, "not a message stream ({why})"),
            Self::Stopped => f.write_str("shut down"),
            Self::Closed => f.write_str("closed"),
            Self::Error(why) | Self::ReaderGone(why) => f.write_str(why),
        }
    }
}

/// One message read off a connection: its packed bytes, with their share
/// of the endpoint's input budget, given back when this is dropped (so
/// hold it until the engine has handled the message).
#[derive(Debug)]
pub struct Frame {
    bytes: BytesMut,
    _charge: Option<OwnedSemaphorePermit>,
}

impl std::ops::Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// An object's share of the endpoint's input budget
/// ([`Limits::in_flight`]), given back when this is dropped: hold it until
/// the object is handled.
#[derive(Debug)]
pub struct Charge {
    _permit: OwnedSemaphorePermit,
}

/// What connection tasks tell the endpoint.
pub(crate) enum NetEvent {
    /// A connection is up.
    Opened {
        conn: ConnId,
        opening: Opening,
        remote: String,
        link: Link,
    },
    /// A whole message came on `conn`.
    Frame { conn: ConnId, frame: Frame },
    /// An object read by an object reader, or why it could not be.
    Object {
        conn: ConnId,
        object: Result<Object, ReadError>,
        charge: Charge,
    },
    /// The peer of `conn` sent its last message (it may still read).
    ReadEnded { conn: ConnId },
    /// `conn` ended; `unwritten` frames queued on it never went out whole.
    Closed {
        conn: ConnId,
        ended: Ended,
        unwritten: u64,
    },
    /// A listener closed a connection at once: too many are open.
    Refused { remote: String },
    /// accept() failed (out of descriptors, say).
    AcceptFailed { why: String },
    /// A dial failed; it is tried again after a backoff.
    DialFailed {
        peer: crate::keys::Address,
        addr: super::NetAddr,
        why: String,
    },
}

/// What every connection task shares with the endpoint.
#[derive(Clone)]
pub(crate) struct Wiring {
    pub events: mpsc::Sender<NetEvent>,
    pub ids: Arc<AtomicU64>,
    pub limits: Arc<Limits>,
    /// Accepted connections kept at once: `limits.max_connections`, until
    /// [`Endpoint::set_max_connections`](super::Endpoint::set_max_connections)
    /// changes it.
    pub max_connections: Arc<AtomicUsize>,
    /// Bytes of messages being read or not yet handled.
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

impl Wiring {
    pub fn new(limits: Limits, events: mpsc::Sender<NetEvent>) -> (Self, DrainedRx) {
        let (drained, drained_rx) = mpsc::unbounded_channel();
        let wiring = Self {
            events,
            ids: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(Semaphore::new(limits.in_flight)),
            drained,
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
            tracker: TaskTracker::new(),
            max_connections: Arc::new(AtomicUsize::new(limits.max_connections)),
            limits: Arc::new(limits),
        };
        (wiring, drained_rx)
    }

    /// Tells the endpoint; false once it is gone.
    pub async fn tell(&self, event: NetEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Tells the endpoint `conn` ended, with the frames still `queued` on
    /// it. (Once the endpoint is gone nobody needs telling.)
    async fn closed(&self, conn: ConnId, ended: Ended, queued: &AtomicU64) {
        let unwritten = queued.load(Ordering::Acquire);
        let closed = NetEvent::Closed {
            conn,
            ended,
            unwritten,
        };
        let _ = self.tell(closed).await;
    }
}

pub(crate) type DrainedRx = mpsc::UnboundedReceiver<(ConnId, usize)>;

/// The endpoint's side of a connection: its send queue (the session keeps
/// it within its bounds) and the switch that closes it.
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Bytes>,
    /// Frames queued and not yet written whole.
    queued: Arc<AtomicU64>,
    close: CancellationToken,
}

impl Link {
    /// Queues a frame's payload (the codec writes its length prefix);
    /// false once the connection has ended.
    pub fn push(&self, payload: Bytes) -> bool {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(payload).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Closes the connection now; what is queued is not written.
    pub fn close(&self) {
        self.close.cancel();
    }

    /// Whether its connection still takes frames.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed() && !self.close.is_cancelled()
    }

    /// The switch that closes it, to keep once the link is dropped.
    pub fn closer(&self) -> CancellationToken {
        self.close.clone()
    }
}

/// A connection's send queue as its task sees it: what comes in, the count
/// of frames not yet written whole, and the switch that closes it.
pub(crate) struct Queue {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicU64>,
    close: CancellationToken,
}

impl Wiring {
    /// A new connection's id, and the two ends of its send queue.
    pub fn new_link(&self) -> (ConnId, Link, Queue) {
        self.new_link_under(&self.kill)
    }

    /// As [`Wiring::new_link`], for a connection that also closes when
    /// `parent` is cancelled (a dialer's, when its peer is let go); the
    /// parent must be the kill switch's child.
    pub fn new_link_under(&self, parent: &CancellationToken) -> (ConnId, Link, Queue) {
        let conn = ConnId(self.ids.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::unbounded_channel();
        let close = parent.child_token();
        let queued = Arc::new(AtomicU64::new(0));
        let link = Link {
            tx,
            queued: Arc::clone(&queued),
            close: close.clone(),
        };
        (conn, link, Queue { rx, queued, close })
    }
}

/// Runs a connection until it ends, then tells the endpoint.
pub(crate) async fn run(io: impl Io, opening: Opening, remote: String, w: &Wiring) {
    run_under(io, opening, remote, w, &w.kill).await;
}

/// [`run`], for a connection closed at once when `parent` (the kill
/// switch's child) is cancelled.
pub(crate) async fn run_under(
    io: impl Io,
    opening: Opening,
    remote: String,
    w: &Wiring,
    parent: &CancellationToken,
) {
    let (conn, link, Queue { rx, queued, close }) = w.new_link_under(parent);
    let (rd, wr) = tokio::io::split(io);
    let opened = NetEvent::Opened {
        conn,
        opening,
        remote,
        link,
    };
    if !w.tell(opened).await {
        return;
    }
    let mut reading = Box::pin(read_messages(conn, rd, w));
    let mut writing = Box::pin(write_frames(conn, wr, rx, &queued, &w.drained));
    let ended = tokio::select! {
        biased;
        () = close.cancelled() => Ended::Closed,
        ended = &mut reading => ended,
        written = &mut writing => match written {
            Ok(()) => Ended::Closed,
            Err(e) => Ended::Error(e.to_string()),
        },
    };
    // Shutting down: what is queued goes out, until the deadline. The peer
    // done sending (it may still read, as `nc -N` does): the caller hears
    // of it after the messages before it, and finishes the connection once
    // it has queued what they called for; that goes out, then it closes.
    let write_out = match ended {
        Ended::Stopped => true,
        Ended::Eof => w.tell(NetEvent::ReadEnded { conn }).await,
        _ => false,
    };
    if write_out {
        tokio::select! {
            biased;
            () = close.cancelled() => {}
            _ = &mut writing => {}
        }
    }
    drop(writing);
    w.closed(conn, ended, &queued).await;
}

/// Reads messages into the endpoint until the peer stops, sends junk, or
/// the endpoint stops. The first byte says the stream's form, as for any
/// object stream (`crate::codec`): a byte that can begin a length prefix
/// starts wire frames; anything else starts JSON lines.
///
/// Every byte of a message is charged to the endpoint's input budget
/// (`in_flight`, shared by all connections) before it is taken off the
/// read buffer: a frame's length prefix is read first, a length over the
/// max frame ends the connection, and the frame's bytes are taken from the
/// budget before its body is read; a line is charged as it comes. While
/// the budget is spent no connection reads on (backpressure), so what is
/// read and not yet handled is at most `in_flight` across all
/// connections, plus each connection's small read buffer.
async fn read_messages(conn: ConnId, rd: impl AsyncRead + Unpin, w: &Wiring) -> Ended {
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let first = tokio::select! {
        biased;
        () = w.stop.cancelled() => return Ended::Stopped,
        buf = rd.fill_buf() => match buf {
            Ok([]) => return Ended::Eof,
            Ok(buf) => buf[0],
            Err(e) => return Ended::Error(e.to_string()),
        },
    };
    if usize::from(first) <= MAX_OBJECT >> 24 {
        read_frames(conn, rd, w).await
    } else {
        read_lines(conn, rd, w).await
    }
}

/// Takes `n` bytes from the input budget, unless the endpoint stops first.
async fn charge(w: &Wiring, n: usize) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(n).ok()?;
    tokio::select! {
        biased;
        () = w.stop.cancelled() => None,
        permit = Arc::clone(&w.in_flight).acquire_many_owned(n) => permit.ok(),
    }
}

/// Hands a message to the endpoint; false when it stops first.
async fn hand_over(w: &Wiring, conn: ConnId, frame: Frame) -> bool {
    tokio::select! {
        biased;
        () = w.stop.cancelled() => false,
        told = w.tell(NetEvent::Frame { conn, frame }) => told,
    }
}

async fn read_frames(conn: ConnId, mut rd: impl AsyncRead + Unpin, w: &Wiring) -> Ended {
    loop {
        let mut prefix = [0u8; 4];
        let read = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Ended::Stopped,
            read = rd.read_exact(&mut prefix) => read,
        };
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ended::Eof,
            Err(e) => return Ended::Error(e.to_string()),
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > w.limits.max_frame {
            return Ended::Junk(format!(
                "a frame of {len} bytes, over the {}-byte limit",
                w.limits.max_frame
            ));
        }
        let Some(charge) = charge(w, len).await else {
            return Ended::Stopped;
        };
        let mut bytes = BytesMut::zeroed(len);
        let read = tokio::select! {
            biased;
            () = w.stop.cancelled() => return Ended::Stopped,
            read = rd.read_exact(&mut bytes) => read,
        };
        if read.is_err() {
            return Ended::Junk(format!("a frame of {len} bytes cut short"));
        }
        let frame = Frame {
            bytes,
            _charge: Some(charge),
        };
        if !hand_over(w, conn, frame).await {
            return Ended::Stopped;
        }
    }
}

async fn read_lines<R: AsyncRead + Unpin>(conn: ConnId, mut rd: BufReader<R>, w: &Wiring) -> Ended {
    let cap = json_line_cap(w.limits.max_frame);
    loop {
        let mut line = Vec::new();
        let mut charged: Option<OwnedSemaphorePermit> = None;
        loop {
            let (n, whole) = tokio::select! {
                biased;
                () = w.stop.cancelled() => return Ended::Stopped,
                buf = rd.fill_buf() => match buf {
                    Ok([]) if line.is_empty() => return Ended::Eof,
                    Ok([]) => return Ended::Junk("a line cut short".into()),
                    Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (buf.len(), false),
                    },
                    Err(e) => return Ended::Error(e.to_string()),
                },
            };
            if line.len() + n > cap + 1 {
                return Ended::Junk(format!("a line over {cap} bytes"));
            }
            let Some(more) = charge(w, n).await else {
                return Ended::Stopped;
            };
            match &mut charged {
                Some(c) => c.merge(more),
                None => charged = Some(more),
            }
            line.extend_from_slice(&rd.buffer()[..n]);
            rd.consume(n);
            if whole {
                break;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match Object::from_json(&line).and_then(|o| o.expect(Kind::Message)) {
            Ok(Object::Message(m)) => m,
            Ok(Object::Bulletin(_)) => return Ended::Junk("a bulletin, not a message".into()),
            Err(e) => return Ended::Junk(e.to_string()),
        };
        let frame = Frame {
            bytes: BytesMut::from(&message.pack()[..]),
            _charge: charged,
        };
        if !hand_over(w, conn, frame).await {
            return Ended::Stopped;
        }
    }
}

/// Runs an output ([`Endpoint::attach_output`](super::Endpoint::attach_output)):
/// opens it, then writes what is queued, as it is, until the queue is
/// closed and empty, the output fails or the connection is closed (the
/// endpoint's shutdown deadline among them); then tells the endpoint.
pub(crate) async fn run_output<W>(
    conn: ConnId,
    open: impl Future<Output = std::io::Result<W>>,
    queue: Queue,
    w: Wiring,
) where
    W: AsyncWrite + Unpin,
{
    let Queue { rx, queued, close } = queue;
    let written = async {
        let mut out = open.await?;
        write_raw(conn, &mut out, rx, &queued, &w.drained).await
    };
    let ended = tokio::select! {
        biased;
        () = close.cancelled() => Ended::Closed,
        written = written => match written {
            Ok(()) => Ended::Stopped,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Ended::ReaderGone(e.to_string())
            }
            Err(e) => Ended::Error(e.to_string()),
        },
    };
    w.closed(conn, ended, &queued).await;
}

/// Most bytes an output takes from its queue for one write.
const OUTPUT_BATCH: usize = 64 << 10;

/// Writes an output's queue as it is: what has come (up to
/// [`OUTPUT_BATCH`]) in one write, then a flush; each payload is reported
/// (by its length) and taken off `queued` once the writes that returned
/// cover it whole, so the count of what was written is exact when the
/// output fails or stalls part way (give it a writer that does not buffer,
/// or whose flush waits for the bytes to be out).
async fn write_raw(
    conn: ConnId,
    out: &mut (impl AsyncWrite + Unpin),
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    queued: &AtomicU64,
    drained: &mpsc::UnboundedSender<(ConnId, usize)>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    // The lengths of the payloads in `buf`, and how much of the first is
    // written.
    let mut lens = std::collections::VecDeque::new();
    let mut head = 0;
    loop {
        if buf.is_empty() {
            let Some(payload) = rx.recv().await else {
                break;
            };
            buf.extend_from_slice(&payload);
            lens.push_back(payload.len());
        }
        while buf.len() < OUTPUT_BATCH {
            let Ok(payload) = rx.try_recv() else { break };
            buf.extend_from_slice(&payload);
            lens.push_back(payload.len());
        }
        let n = match buf.is_empty() {
            true => 0, // empty payloads only: nothing to write
            false => out.write(&buf).await?,
        };
        if n == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        out.flush().await?;
        buf.drain(..n);
        head += n;
        while let Some(&len) = lens.front().filter(|&&len| len <= head) {
            head -= len;
            lens.pop_front();
            queued.fetch_sub(1, Ordering::AcqRel);
            let _ = drained.send((conn, len));
        }
    }
    out.shutdown().await
}

/// Writes queued frames until the queue is closed and empty (then closes
/// the write side) or the socket fails; each frame written whole is
/// reported, prefix included, for the session's bounds, and leaves the
/// count of frames `queued`.
async fn write_frames(
    conn: ConnId,
    wr: impl AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    queued: &AtomicU64,
    drained: &mpsc::UnboundedSender<(ConnId, usize)>,
) -> std::io::Result<()> {
    let mut out = FramedWrite::new(wr, codec(MAX_OBJECT));
    while let Some(payload) = rx.recv().await {
        let len = payload.len() + 4;
        // Flushed at once: a frame counts against the bounds until its
        // last byte is out.
        out.send(payload).await?;
        queued.fetch_sub(1, Ordering::AcqRel);
        let _ = drained.send((conn, len));
    }
    out.into_inner().shutdown().await
}

/// What an object holds in memory besides its body or content.
const OBJECT_FIXED: usize = 256;

/// About how many bytes an object read holds in memory.
fn object_size(item: &Result<Object, ReadError>) -> usize {
    OBJECT_FIXED
        + match item {
            Ok(Object::Message(m)) => m.body.len(),
            Ok(Object::Bulletin(b)) => b.content.len(),
            Err(_) => 0,
        }
}

/// Runs an object reader
/// ([`Endpoint::attach_objects`](super::Endpoint::attach_objects)) on a
/// thread of tokio's blocking pool: each object the codec's
/// [`ObjectReader`] reads is charged to the input budget (what it holds in
/// memory, at most the whole budget, so any object gets through), waiting
/// while the budget is spent, then handed over; the stream's end, a read
/// error or broken framing (after its error is handed over) ends it. Not
/// tracked: a blocking read cannot be cut short, so shutdown does not wait
/// for it; it ends when the endpoint is gone or stops.
pub(crate) fn read_objects(
    conn: ConnId,
    reader: impl std::io::Read,
    kind: Kind,
    w: &Wiring,
    runtime: &tokio::runtime::Handle,
) {
    let input = std::io::BufReader::with_capacity(1 << 16, reader);
    let mut ended = Ended::Eof;
    for item in ObjectReader::new(input, kind) {
        let n = object_size(&item).min(w.limits.in_flight);
        let Some(charge) = runtime.block_on(charge(w, n)) else {
            return;
        };
        ended = match &item {
            Err(ReadError::Io(e)) => Ended::Error(e.to_string()),
            Err(ReadError::Decode { error, fatal: true }) => Ended::Junk(error.to_string()),
            _ => Ended::Eof,
        };
        let object = NetEvent::Object {
            conn,
            object: item,
            charge: Charge { _permit: charge },
        };
        if w.events.blocking_send(object).is_err() {
            return;
        }
    }
    let closed = NetEvent::Closed {
        conn,
        ended,
        unwritten: 0,
    };
    let _ = w.events.blocking_send(closed);
}
