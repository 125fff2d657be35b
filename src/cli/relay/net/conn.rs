//! One TCP connection: a reader that turns wire frames into inputs for the
//! relay's loop, and a writer thread fed through a queue bounded in bytes,
//! so a peer that stops reading holds back only its own messages.
//!
//! Both threads share the one socket (one descriptor per connection). The
//! reader counts every byte against the relay's input bound as it reads
//! it, and must finish a whole frame within the idle timeout of the last
//! one (progress, not bytes); the writer's queue counts the frame it is
//! writing until the last byte is out, against its own bound and the one
//! for all connections together ([`SendTotal`]).

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gossip::codec::{Kind, Object, ObjectReader, ReadError};

use super::{ConnId, Input, NetEvent, Why, send_event};
use crate::cli::relay::in_flight::{IN_FLIGHT, InFlight};

/// The largest message a connection takes, bytes: its JSON line (base64,
/// a third longer) still fits the input bound, so one connection can always
/// finish any message it may send. A frame that announces more is refused
/// from its length prefix.
pub const MAX_TCP_OBJECT: usize = (IN_FLIGHT - 4096) / 4 * 3;

/// Most bytes read from the socket in one call: what a reader may hold
/// past the bound while it waits for room.
const READ_CHUNK: usize = 64 << 10;

/// Bytes queued for sending on all connections together, bounded: a frame
/// is taken while the total stays within the limit, or when nothing is
/// queued anywhere (so any frame can go).
pub struct SendTotal {
    bytes: AtomicUsize,
    limit: usize,
}

impl SendTotal {
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            limit,
        }
    }

    fn try_take(&self, n: usize) -> bool {
        self.bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                (b == 0 || b + n <= self.limit).then_some(b + n)
            })
            .is_ok()
    }

    fn free(&self, n: usize) {
        let _ = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some(b.saturating_sub(n))
            });
    }

    /// Bytes queued now, on all connections.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    /// The bound, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Frames waiting for the writer thread. `bytes` counts them and the frame
/// being written, until it is out.
#[derive(Default)]
struct Queue {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    writing: bool,
    closed: bool,
    /// The writer ended; `unwritten` frames never went out whole.
    ended: bool,
    unwritten: u64,
}

type Shared2<T> = Arc<(Mutex<T>, Condvar)>;

/// The sending side of a connection, held by the relay's loop.
pub struct ConnWriter {
    queue: Shared2<Queue>,
    stream: Arc<TcpStream>,
    limit: usize,
    total: Arc<SendTotal>,
    /// Set when the connection is closed from this side: the reader stops
    /// waiting for room in the input bound.
    closing: Arc<AtomicBool>,
    /// Bytes written whole since [`ConnWriter::take_written`] last asked.
    written: Arc<AtomicUsize>,
}

impl ConnWriter {
    /// Starts the writer thread for `stream`, its queue bounded at `limit`
    /// bytes (and all queues together by `total`).
    fn spawn(stream: &Arc<TcpStream>, limit: usize, total: &Arc<SendTotal>) -> Self {
        let queue: Shared2<Queue> = Arc::default();
        let written = Arc::new(AtomicUsize::new(0));
        let (q, out, t) = (Arc::clone(&queue), Arc::clone(stream), Arc::clone(total));
        let w = Arc::clone(&written);
        std::thread::spawn(move || {
            let mut failed = false;
            while let Some(frame) = next_frame(&q) {
                let written = (&*out).write_all(&frame).and_then(|()| (&*out).flush());
                let (lock, _) = &*q;
                if let Ok(mut queue) = lock.lock() {
                    queue.writing = false;
                    if written.is_ok() {
                        queue.bytes -= frame.len();
                        t.free(frame.len());
                        w.fetch_add(frame.len(), Ordering::SeqCst);
                    }
                }
                if written.is_err() {
                    failed = true;
                    let _ = out.shutdown(Shutdown::Both);
                    break;
                }
            }
            let (lock, cv) = &*q;
            if let Ok(mut queue) = lock.lock() {
                queue.unwritten = queue.frames.len() as u64 + u64::from(failed);
                queue.frames.clear();
                t.free(queue.bytes);
                queue.bytes = 0;
                queue.closed = true;
                queue.ended = true;
            }
            cv.notify_all();
        });
        Self {
            queue,
            stream: Arc::clone(stream),
            limit,
            total: Arc::clone(total),
            closing: Arc::new(AtomicBool::new(false)),
            written,
        }
    }

    /// Bytes written whole since the last call: what a session driving
    /// this connection hears as drained.
    pub fn take_written(&self) -> usize {
        self.written.swap(0, Ordering::SeqCst)
    }

    /// Queues one frame; false when it does not fit this connection's
    /// bound (unless its queue is empty) or the bound on all connections,
    /// or the connection is closed (the frame is dropped for this peer only).
    pub fn push(&self, frame: Vec<u8>) -> bool {
        let (lock, cv) = &*self.queue;
        let Ok(mut q) = lock.lock() else { return false };
        if q.closed
            || (q.bytes > 0 && q.bytes + frame.len() > self.limit)
            || !self.total.try_take(frame.len())
        {
            return false;
        }
        q.bytes += frame.len();
        q.frames.push_back(frame);
        cv.notify_all();
        true
    }

    /// Bytes queued, the frame being written included.
    pub fn queued_bytes(&self) -> usize {
        self.queue.0.lock().map_or(0, |q| q.bytes)
    }

    /// Frames not yet written whole: queued, or being written.
    fn unwritten(&self) -> u64 {
        self.queue.0.lock().map_or(0, |q| {
            if q.ended {
                q.unwritten
            } else {
                q.frames.len() as u64 + u64::from(q.writing)
            }
        })
    }

    /// Waits until the writer ended, or `deadline`; true if it did.
    fn wait_ended(&self, deadline: Instant) -> bool {
        let (lock, cv) = &*self.queue;
        let Ok(mut q) = lock.lock() else { return false };
        while !q.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match cv.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }

    /// Lets the writer finish what is queued (until `deadline`), then closes
    /// the socket both ways, which also ends the reader. Returns the frames
    /// never written whole: a frame cut by the close is one of them.
    pub fn finish(&self, deadline: Instant) -> u64 {
        close_queue(&self.queue);
        self.wait_ended(deadline);
        self.close();
        // A write cut by the shutdown fails at once; the writer then says
        // what it did not write.
        self.wait_ended(Instant::now() + Duration::from_secs(1));
        self.unwritten()
    }

    /// Closes the connection now.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        close_queue(&self.queue);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn close_queue(queue: &(Mutex<Queue>, Condvar)) {
    let (lock, cv) = queue;
    if let Ok(mut q) = lock.lock() {
        q.closed = true;
    }
    cv.notify_all();
}

/// The next frame for the writer (marked as being written); None once
/// closed and empty.
fn next_frame(queue: &(Mutex<Queue>, Condvar)) -> Option<Vec<u8>> {
    let (lock, cv) = queue;
    let mut q = lock.lock().ok()?;
    loop {
        if let Some(frame) = q.frames.pop_front() {
            q.writing = true;
            return Some(frame);
        }
        if q.closed {
            return None;
        }
        q = cv.wait(q).ok()?;
    }
}

/// What a connection needs from the relay.
#[derive(Clone)]
pub struct Shared {
    pub tx: SyncSender<Input>,
    pub in_flight: Arc<InFlight>,
    /// Bytes a connection's send queue may hold.
    pub send_queue: usize,
    /// Bytes all send queues together may hold.
    pub send_total: Arc<SendTotal>,
    /// A connection must finish a frame within this long of its last one.
    pub idle: Duration,
}

/// Runs connection `conn` on this thread: announces it (with its writer),
/// reads frames until it ends, then announces why. `peer` is the address
/// dialed, or None for an accepted connection (learned from its first
/// valid message). Returns false when the relay's loop is gone.
pub fn run(
    conn: ConnId,
    stream: TcpStream,
    remote: SocketAddr,
    peer: Option<gossip::Address>,
    difficulty: u32,
    shared: &Shared,
) -> bool {
    if let Err(e) = stream.set_nodelay(true) {
        let _ = stream.shutdown(Shutdown::Both);
        return send_event(
            shared,
            NetEvent::Failed {
                remote,
                why: e.to_string(),
            },
        );
    }
    let stream = Arc::new(stream);
    let writer = ConnWriter::spawn(&stream, shared.send_queue, &shared.send_total);
    let closing = Arc::clone(&writer.closing);
    if !send_event(
        shared,
        NetEvent::Opened {
            conn,
            peer,
            remote,
            difficulty,
            writer,
        },
    ) {
        return false;
    }
    let why = read_frames(conn, &stream, closing, shared);
    let _ = stream.shutdown(Shutdown::Both);
    send_event(shared, NetEvent::Closed { conn, why })
}

/// The socket as the reader sees it: every byte read is counted against
/// the input bound before more is read, and reading must make progress by
/// `deadline`.
struct Charged {
    stream: Arc<TcpStream>,
    budget: Arc<InFlight>,
    closing: Arc<AtomicBool>,
    /// Bytes counted against the bound and not yet handed to the loop.
    held: usize,
    deadline: Instant,
}

impl Read for Charged {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.stream.set_read_timeout(Some(left))?;
        let chunk = buf.len().min(READ_CHUNK);
        let n = (&*self.stream).read(&mut buf[..chunk])?;
        if n > 0 {
            if !self.budget.take_until(n, self.deadline, &self.closing) {
                return Err(timed_out());
            }
            self.held += n;
        }
        Ok(n)
    }
}

/// Reads messages off the connection into the relay's loop until it ends.
fn read_frames(
    conn: ConnId,
    stream: &Arc<TcpStream>,
    closing: Arc<AtomicBool>,
    shared: &Shared,
) -> Why {
    let charged = Charged {
        stream: Arc::clone(stream),
        budget: Arc::clone(&shared.in_flight),
        closing,
        held: 0,
        deadline: Instant::now() + shared.idle,
    };
    let mut reader =
        ObjectReader::new(BufReader::with_capacity(READ_CHUNK, charged), Kind::Message)
            .max_object(MAX_TCP_OBJECT);
    let why = loop {
        let message = match reader.next() {
            None => break Why::Eof,
            Some(Ok(Object::Message(m))) => m,
            Some(Ok(Object::Bulletin(_))) => break Why::Junk("a bulletin, not a message".into()),
            Some(Err(ReadError::Decode { error, .. })) => break Why::Junk(error.to_string()),
            Some(Err(ReadError::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break Why::Idle;
            }
            Some(Err(ReadError::Io(e))) => break Why::Error(e.to_string()),
        };
        // Everything read so far but what is buffered for the next frame
        // was this message: the loop frees it once handled.
        let buffered = reader.get_ref().buffer().len();
        let charged = reader.get_mut().get_mut();
        let size = charged.held.saturating_sub(buffered);
        charged.held -= size;
        charged.deadline = Instant::now() + shared.idle;
        if !send_event(
            shared,
            NetEvent::Message {
                conn,
                message,
                size,
            },
        ) {
            break Why::Eof;
        }
    };
    shared.in_flight.free(reader.get_ref().get_ref().held);
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A connected pair on loopback: (our end, the far end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    #[test]
    fn a_frame_cut_by_the_close_is_counted_as_unwritten() {
        // Frames far larger than the socket buffers: the far end reads part
        // of the first and stops, so the close cuts it mid-write.
        let frame = vec![1u8; 16 << 20];
        let total = Arc::new(SendTotal::new(64 << 20));
        let (ours, mut theirs) = pair();
        let writer = ConnWriter::spawn(&Arc::new(ours), 64 << 20, &total);
        assert!(writer.push(frame.clone()));
        assert!(writer.push(frame.clone()));
        let mut buf = vec![0u8; 1 << 20];
        theirs.read_exact(&mut buf).unwrap();
        let unwritten = writer.finish(Instant::now() + Duration::from_millis(200));
        assert_eq!(
            unwritten, 2,
            "the frame being written when the connection closed is unsent"
        );
        assert_eq!(total.bytes(), 0, "the bound on all queues is given back");
    }

    #[test]
    fn the_bound_on_all_queues_holds_across_connections() {
        const FRAME: usize = 256 << 10;
        let total = Arc::new(SendTotal::new(4 * FRAME));
        let mut writers = Vec::new();
        let mut ends = Vec::new();
        let mut taken = 0;
        for _ in 0..16 {
            let (ours, theirs) = pair();
            let w = ConnWriter::spawn(&Arc::new(ours), 64 << 20, &total);
            // Nobody reads: what the kernel takes is out of the queue, the
            // rest is held, within the total.
            for _ in 0..64 {
                taken += usize::from(w.push(vec![0u8; FRAME]));
            }
            writers.push(w);
            ends.push(theirs);
        }
        assert!(total.bytes() <= 4 * FRAME, "{} bytes queued", total.bytes());
        let queued: usize = writers.iter().map(ConnWriter::queued_bytes).sum();
        assert_eq!(queued, total.bytes());
        assert!(taken < 16 * 64, "frames past the total are refused");
    }

    #[test]
    fn a_peer_that_stops_reading_fills_only_its_own_queue_bounded_in_bytes() {
        const LIMIT: usize = 1 << 20;
        let frame = vec![7u8; 64 << 10];
        let total = Arc::new(SendTotal::new(4 * LIMIT));
        let (slow, _never_read) = pair();
        let slow_writer = ConnWriter::spawn(&Arc::new(slow), LIMIT, &total);
        let (fast, mut reader) = pair();
        let fast_writer = ConnWriter::spawn(&Arc::new(fast), LIMIT, &total);
        let reading = std::thread::spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
            got
        });
        // Until the kernel's buffers and then the queue are full, frames
        // are taken; after that each one is refused, for this peer only.
        let mut taken = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while slow_writer.push(frame.clone()) {
            taken += 1;
            assert!(Instant::now() < deadline, "the slow queue never filled");
            if taken % 16 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let queued = slow_writer.queued_bytes();
        assert!(
            queued <= LIMIT,
            "{queued} bytes queued past the {LIMIT}-byte bound"
        );
        assert!(
            !slow_writer.push(frame.clone()),
            "a full queue keeps refusing"
        );
        for _ in 0..64 {
            assert!(
                fast_writer.push(frame.clone()),
                "the other peer is not held back"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            fast_writer.finish(Instant::now() + Duration::from_secs(10)),
            0
        );
        assert_eq!(reading.join().unwrap(), 64 * frame.len());
        assert!(
            slow_writer.finish(Instant::now()) > 0,
            "what it could not take is counted"
        );
    }
}
