//! One TCP connection: a reader that turns wire frames into inputs for the
//! relay's loop, and a writer thread fed through a queue bounded in bytes,
//! so a peer that stops reading holds back only its own messages.

use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gossip::codec::{Kind, Object, ObjectReader, ReadError};

use super::{ConnId, Input, NetEvent, Why, send_event};
use crate::cli::relay::in_flight::{self, InFlight};

/// Frames waiting for the writer thread, bounded in bytes.
struct Queue {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    closed: bool,
}

/// The sending side of a connection, held by the relay's loop.
pub struct ConnWriter {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    stream: TcpStream,
    limit: usize,
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl ConnWriter {
    /// Starts the writer thread for `stream`, its queue bounded at `limit`
    /// bytes.
    fn spawn(stream: &TcpStream, limit: usize) -> std::io::Result<Self> {
        let queue = Arc::new((
            Mutex::new(Queue {
                frames: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            Condvar::new(),
        ));
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let mut out = stream.try_clone()?;
        let (q, d) = (Arc::clone(&queue), Arc::clone(&done));
        std::thread::spawn(move || {
            while let Some(frame) = next_frame(&q) {
                if out.write_all(&frame).and_then(|()| out.flush()).is_err() {
                    let _ = out.shutdown(Shutdown::Both);
                    close_queue(&q);
                    break;
                }
            }
            let (lock, cv) = &*d;
            if let Ok(mut finished) = lock.lock() {
                *finished = true;
            }
            cv.notify_all();
        });
        Ok(Self {
            queue,
            stream: stream.try_clone()?,
            limit,
            done,
        })
    }

    /// Queues one frame; false when it does not fit the byte bound or the
    /// connection is closed (the frame is dropped for this peer only).
    pub fn push(&self, frame: Vec<u8>) -> bool {
        let (lock, cv) = &*self.queue;
        let Ok(mut q) = lock.lock() else { return false };
        if q.closed || (q.bytes > 0 && q.bytes + frame.len() > self.limit) {
            return false;
        }
        q.bytes += frame.len();
        q.frames.push_back(frame);
        cv.notify_one();
        true
    }

    /// Frames still queued.
    pub fn queued(&self) -> u64 {
        self.queue.0.lock().map_or(0, |q| q.frames.len() as u64)
    }

    /// Lets the writer finish what is queued (until `deadline`), then closes
    /// the socket both ways, which also ends the reader. Returns the frames
    /// never written.
    pub fn finish(&self, deadline: Instant) -> u64 {
        close_queue(&self.queue);
        let (lock, cv) = &*self.done;
        if let Ok(mut finished) = lock.lock() {
            while !*finished {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match cv.wait_timeout(finished, left) {
                    Ok((f, _)) => finished = f,
                    Err(_) => break,
                }
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.queued()
    }

    /// Closes the connection now.
    pub fn close(&self) {
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

/// The next frame for the writer; None once closed and empty.
fn next_frame(queue: &(Mutex<Queue>, Condvar)) -> Option<Vec<u8>> {
    let (lock, cv) = queue;
    let mut q = lock.lock().ok()?;
    loop {
        if let Some(frame) = q.frames.pop_front() {
            q.bytes -= frame.len();
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
    /// A connection with no input for this long is closed.
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
    let setup = stream
        .set_read_timeout(Some(shared.idle))
        .and_then(|()| stream.set_nodelay(true))
        .and_then(|()| ConnWriter::spawn(&stream, shared.send_queue));
    let writer = match setup {
        Ok(w) => w,
        Err(e) => {
            let _ = stream.shutdown(Shutdown::Both);
            return send_event(
                shared,
                NetEvent::Failed {
                    remote,
                    why: e.to_string(),
                },
            );
        }
    };
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
    let why = read_frames(conn, &stream, shared);
    let _ = stream.shutdown(Shutdown::Both);
    send_event(shared, NetEvent::Closed { conn, why })
}

/// Reads messages off the connection into the relay's loop until it ends.
fn read_frames(conn: ConnId, stream: &TcpStream, shared: &Shared) -> Why {
    let Ok(read_half) = stream.try_clone() else {
        return Why::Error("cannot read the socket".into());
    };
    let reader = BufReader::with_capacity(1 << 16, read_half);
    for item in ObjectReader::new(reader, Kind::Message) {
        let message = match item {
            Ok(Object::Message(m)) => m,
            Ok(Object::Bulletin(_)) => return Why::Junk("a bulletin, not a message".into()),
            Err(ReadError::Decode { error, .. }) => return Why::Junk(error.to_string()),
            Err(ReadError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Why::Idle;
            }
            Err(ReadError::Io(e)) => return Why::Error(e.to_string()),
        };
        let size = in_flight::message_size(&message);
        shared.in_flight.take(size);
        if !send_event(
            shared,
            NetEvent::Message {
                conn,
                message,
                size,
            },
        ) {
            return Why::Eof;
        }
    }
    Why::Eof
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
    fn a_peer_that_stops_reading_fills_only_its_own_queue_bounded_in_bytes() {
        const LIMIT: usize = 1 << 20;
        let frame = vec![7u8; 64 << 10];
        let (slow, _never_read) = pair();
        let slow_writer = ConnWriter::spawn(&slow, LIMIT).unwrap();
        let (fast, mut reader) = pair();
        let fast_writer = ConnWriter::spawn(&fast, LIMIT).unwrap();
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
        let queued = slow_writer.queued() as usize * frame.len();
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
