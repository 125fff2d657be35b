//! Where the relay writes: stdout, one output per `--peer ADDR=PATH`, and
//! the delivery output. Every message the node made for a peer is either
//! written or counted as unsent; none is lost without a count.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gossip::bulletin::Bulletin;
use gossip::codec::{Format, Object, write_object};
use gossip::ids::Key;
use gossip::keys::Address;
use gossip::node::{Event, Node};

use super::deliver::{Delivered, Delivery};
use super::net::{Network, Sent};
use super::tally::Tally;
use crate::cli::io::{Failure, open_append_no_follow};

/// A stream output (stdout, the delivery file), written in place.
pub struct Sink {
    name: String,
    out: Option<BufWriter<Box<dyn Write>>>,
}

impl Sink {
    pub fn new(name: String, w: Box<dyn Write>) -> Self {
        Self {
            name,
            out: Some(BufWriter::new(w)),
        }
    }

    /// Writes an object; a sink whose reader went away is closed and
    /// reported once, and the relay goes on. Returns false if closed.
    fn write(&mut self, obj: &Object, format: Format) -> bool {
        let Some(out) = &mut self.out else {
            return false;
        };
        if let Err(e) = write_object(out, obj, format) {
            self.close(e);
            return false;
        }
        true
    }

    /// Flushes; returns false when the sink is (now) closed.
    fn flush(&mut self) -> bool {
        if let Some(Err(e)) = self.out.as_mut().map(Write::flush) {
            self.close(e);
        }
        self.out.is_some()
    }

    fn close(&mut self, e: std::io::Error) {
        if self.name != "stdout" || e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("gossip: relay: {}: {e}; no more output there", self.name);
        }
        self.out = None;
    }
}

/// A peer's output file: appended to, never through a symbolic link, and
/// created 0600.
fn open_append(path: &Path) -> Result<File, Failure> {
    open_append_no_follow(path, 0o600, false)
}

/// How long a relay that is ending waits for a peer to take what is queued
/// for it (a peer that never reads cannot hold the relay for longer).
const PEER_PATIENCE: Duration = Duration::from_secs(10);

/// Most bytes a peer's writer thread writes in one call: a pipe's atomic
/// write size, so a write that blocks on a stalled reader holds back at
/// most this much of what is counted as written.
const WRITE_PIECE: usize = 4096;

/// Encoded messages for a peer's writer thread, with where each ends.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn push(&mut self, obj: &Object, format: Format) {
        // Writing to a Vec cannot fail.
        let _ = write_object(&mut self.bytes, obj, format);
        self.ends.push(self.bytes.len());
    }

    /// How many messages.
    fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    /// Writes the batch in pieces of [`WRITE_PIECE`] bytes, adding to
    /// `written` each message as soon as it went out whole, so a peer that
    /// stalls or fails part way leaves an exact count of what it was given,
    /// and taking each piece off `queued`.
    fn write_to(
        &self,
        out: &mut impl Write,
        written: &AtomicU64,
        queued: &AtomicU64,
    ) -> std::io::Result<()> {
        let (mut done, mut counted) = (0, 0);
        while done < self.bytes.len() {
            let piece = &self.bytes[done..self.bytes.len().min(done + WRITE_PIECE)];
            match out.write(piece) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    queued.fetch_sub(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let whole = self.ends.partition_point(|&end| end <= done);
            written.fetch_add((whole - counted) as u64, Ordering::Relaxed);
            counted = whole;
        }
        Ok(())
    }
}

/// A peer's output: written by a thread of its own through a queue bounded
/// in bytes (`--send-queue`, as a connection's), so a peer that stops
/// reading (or a fifo nobody opened yet) never stalls the relay. What does
/// not fit the queue is dropped for that peer only (it can catch up by
/// sync) and counted; the store and the other outputs go on. The outputs
/// are the command line's, so all of them hold at most their number times
/// that bound.
pub struct PeerOutput {
    name: String,
    /// What the output is, for messages ("peer", "delivery output").
    role: &'static str,
    /// Encoded messages not yet handed to the thread.
    pending: Batch,
    tx: Option<mpsc::Sender<Batch>>,
    /// Bytes handed to the thread and not yet written, and their bound (a
    /// batch is taken whole when the queue is empty, however long).
    queued: Arc<AtomicU64>,
    limit: u64,
    /// Messages handed to the thread, and (its count) written by it.
    handed: u64,
    written: Arc<AtomicU64>,
    dropping: bool,
    /// Closed, and the thread not yet waited for.
    closing: bool,
    /// Why the thread stopped writing, when it did.
    failed: Arc<std::sync::Mutex<Option<String>>>,
    /// Signalled when the thread has written everything and ended.
    done: mpsc::Receiver<()>,
}

impl PeerOutput {
    /// Starts the writer thread. A regular file is opened at once (errors
    /// are the relay's); a fifo is opened by the thread, which waits for
    /// its reader.
    pub fn spawn(path: &Path, role: &'static str, limit: usize) -> Result<Self, Failure> {
        use std::os::unix::fs::FileTypeExt;
        let is_fifo = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        let file = if is_fifo {
            None
        } else {
            Some(open_append(path)?)
        };
        let (tx, rx) = mpsc::channel::<Batch>();
        let failed = Arc::new(std::sync::Mutex::new(None));
        let written = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicU64::new(0));
        let (done_tx, done) = mpsc::channel();
        let (thread_failed, thread_written, thread_queued, thread_path) = (
            Arc::clone(&failed),
            Arc::clone(&written),
            Arc::clone(&queued),
            path.to_path_buf(),
        );
        std::thread::spawn(move || {
            let result = file
                .map_or_else(|| open_append(&thread_path).map_err(|f| f.why), Ok)
                .and_then(|mut f| {
                    rx.iter()
                        .try_for_each(|batch| {
                            batch.write_to(&mut f, &thread_written, &thread_queued)
                        })
                        .map_err(|e| e.to_string())
                });
            if let (Err(why), Ok(mut slot)) = (result, thread_failed.lock()) {
                *slot = Some(why);
            }
            let _ = done_tx.send(());
        });
        Ok(Self {
            name: path.display().to_string(),
            role,
            pending: Batch::default(),
            tx: Some(tx),
            queued,
            limit: limit as u64,
            handed: 0,
            written,
            dropping: false,
            closing: false,
            failed,
            done,
        })
    }

    /// Encodes a message for the thread; false when the output is closed.
    pub(super) fn write(&mut self, obj: &Object, format: Format) -> bool {
        if self.tx.is_none() {
            return false;
        }
        self.pending.push(obj, format);
        true
    }

    /// Hands what was written to the thread; returns how many messages
    /// were dropped instead (the queue was full, or the thread ended).
    pub(super) fn flush(&mut self) -> u64 {
        let batch = std::mem::take(&mut self.pending);
        let count = batch.len();
        let Some(tx) = &self.tx else { return count };
        if count == 0 {
            return 0;
        }
        let len = batch.bytes.len() as u64;
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued + len > self.limit {
            if !self.dropping {
                eprintln!(
                    "gossip: relay: {}: {} is not reading; dropping {} until it does",
                    self.name,
                    self.role,
                    if self.role == "peer" {
                        "its messages (counted as unsent)"
                    } else {
                        "deliveries (they stay pending in --store)"
                    }
                );
            }
            self.dropping = true;
            return count;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        if tx.send(batch).is_err() {
            self.tx = None;
            self.report_failure();
            return count;
        }
        self.handed += count;
        self.dropping = false;
        0
    }

    /// Closes the queue: the thread writes what it holds, then ends.
    fn close(&mut self) {
        if self.tx.take().is_some() {
            self.closing = true;
        }
    }

    /// How many messages the thread has written.
    pub(super) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Closes the queue and waits until `deadline` for the thread to write
    /// it; returns how many messages handed to it were never written.
    fn finish(&mut self, deadline: Instant) -> u64 {
        self.close();
        if std::mem::take(&mut self.closing) {
            let patience = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(patience).is_err() {
                eprintln!(
                    "gossip: relay: {}: {} did not take its last messages in time",
                    self.name, self.role
                );
            } else {
                self.report_failure();
            }
        }
        self.handed - self.written().min(self.handed)
    }

    fn report_failure(&self) {
        if let Some(why) = self.failed.lock().ok().and_then(|f| f.clone()) {
            eprintln!("gossip: relay: {}: {why}; no more output there", self.name);
        }
    }
}

impl Drop for PeerOutput {
    /// A relay that ends on an error still gives each peer its last
    /// messages (bounded by [`PEER_PATIENCE`]).
    fn drop(&mut self) {
        self.finish(Instant::now() + PEER_PATIENCE);
    }
}

/// The relay's outputs: stdout, per-peer outputs, and the delivery output.
pub struct Outputs {
    pub stdout: Sink,
    pub peers: BTreeMap<Address, PeerOutput>,
    pub deliver: Option<Delivery>,
    pub deliver_to_stdout: bool,
    pub format: Format,
    /// What the outputs did not take, and bad input; added to the node's
    /// counters when the relay prints them.
    pub tally: Tally,
    /// The TCP connections (`--listen`, `--connect`): a peer connected
    /// there gets its messages there.
    pub net: Network,
}

impl Outputs {
    /// Writes what the node sent and delivered since the last call, then
    /// confirms to the store the deliveries that reached their output.
    /// Messages a peer's output did not take are counted as unsent.
    /// Returns false once stdout is closed and nothing else is open; an
    /// error when the delivery file failed.
    pub fn drain(&mut self, node: &mut Node) -> Result<bool, Failure> {
        let mut unsent = 0;
        let mut delivered = Vec::new();
        let events: Vec<Event> = node.drain_events().collect();
        for event in events {
            match event {
                Event::Send(item) => {
                    let taken = match self.net.send(&item, node) {
                        Sent::Queued | Sent::Deferred => true,
                        Sent::Dropped => false,
                        Sent::NotOurs => {
                            let obj = Object::Message(item.message);
                            match self.peers.get_mut(&item.peer) {
                                Some(peer) => peer.write(&obj, self.format),
                                None => self.stdout.write(&obj, self.format),
                            }
                        }
                    };
                    unsent += u64::from(!taken);
                }
                Event::Deliver(b) => delivered.push(b),
                Event::DeliveryCodeRotated { .. } => {
                    super::codes::rotated(node, "--rotate-delivery-code")
                }
                other => unsent += u64::from(!self.net.note(&other)),
            }
        }
        let result = self.deliver(node, delivered, true);
        self.stdout.flush();
        unsent += self.peers.values_mut().map(PeerOutput::flush).sum::<u64>();
        self.tally.unsent += unsent;
        result?;
        Ok(self.stdout.out.is_some() || self.peers.values().any(|p| p.tx.is_some()))
    }

    /// Writes bulletins to the delivery output and confirms to the store
    /// the ones that reached it (all of them when there is no delivery
    /// output). Those a fifo did not take are counted as not delivered when
    /// `counted` (they stay pending with `--store`); those a file could not
    /// take yet are held and retried (counted as deferred). An error only
    /// from the store.
    pub fn deliver(
        &mut self,
        node: &mut Node,
        bulletins: Vec<Bulletin>,
        counted: bool,
    ) -> Result<(), Failure> {
        let done = if self.deliver_to_stdout {
            let ids: Vec<Key> = bulletins.iter().map(Bulletin::key).collect();
            let n = ids.len() as u64;
            let all = bulletins
                .into_iter()
                .all(|b| self.stdout.write(&Object::Bulletin(b), Format::Json));
            if self.stdout.flush() && all {
                Delivered {
                    written: ids,
                    ..Delivered::default()
                }
            } else {
                Delivered {
                    missed: n,
                    ..Delivered::default()
                }
            }
        } else if let Some(d) = &mut self.deliver {
            d.deliver(bulletins)
        } else {
            Delivered {
                written: bulletins.iter().map(Bulletin::key).collect(),
                ..Delivered::default()
            }
        };
        if counted {
            self.tally.undelivered += done.missed;
        }
        self.tally.deferred = self.deliver.as_ref().map_or(0, Delivery::held_back);
        node.confirm_delivered(&done.written)
            .map_err(|e| Failure::io("relay: store", e))
    }

    /// Waits (bounded, for all outputs together) for every peer and a
    /// delivery fifo to take what is queued for it; counts what no peer
    /// took as unsent, and confirms the deliveries the fifo took. A
    /// delivery file is tried once more for what it holds back; an error
    /// (exit 4) when it still cannot take them.
    pub fn finish(&mut self, node: &mut Node) -> Result<(), Failure> {
        let deadline = Instant::now() + PEER_PATIENCE;
        self.peers.values_mut().for_each(PeerOutput::close);
        let delivery = self.deliver.as_mut();
        if let Some(out) = delivery.and_then(Delivery::peer_output) {
            out.close();
            out.finish(deadline);
        }
        let lost: u64 = self.peers.values_mut().map(|p| p.finish(deadline)).sum();
        self.tally.unsent += lost + self.net.finish();
        if let Some(d) = &mut self.deliver {
            let mut written = d.taken();
            let (last, failed) = d.close();
            written.extend(last);
            self.tally.undelivered += d.unwritten();
            self.tally.deferred = d.held_back();
            node.confirm_delivered(&written)
                .map_err(|e| Failure::io("relay: store", e))?;
            if let Some(failure) = failed {
                return Err(failure);
            }
        }
        Ok(())
    }

    /// The deliveries a delivery fifo has written since the last call, and
    /// those a delivery file that was deferred took on its retry (every
    /// 2 s), confirmed to the store.
    pub fn confirm_taken(&mut self, node: &mut Node) -> Result<(), Failure> {
        if let Some(d) = &mut self.deliver {
            let written = d.taken();
            self.tally.deferred = d.held_back();
            node.confirm_delivered(&written)
                .map_err(|e| Failure::io("relay: store", e))?;
        }
        Ok(())
    }

    /// Whether the delivery file holds back so much that no more input is
    /// to be read until it takes some ([`super::deliver::BACKLOG_LIMIT`]).
    pub fn delivery_is_full(&self) -> bool {
        self.deliver.as_ref().is_some_and(Delivery::is_full)
    }
}
