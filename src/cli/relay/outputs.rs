//! Where the relay writes: stdout, one output per `--peer ADDR=PATH`, and
//! the delivery output. Every message the node made for a peer is either
//! written or counted as unsent; none is lost without a count.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use gossip::Address;
use gossip::Bulletin;
use gossip::BulletinKey;
use gossip::codec::{Format, Object, write_object};
use gossip::net::{ConnEvent, Ended, Endpoint};
use gossip::node::{Node, Outbound};
use gossip::session::ConnId;
use tokio::runtime::Runtime;

use super::deliver::{Delivered, Delivery};
use super::output::{Output, PEER_PATIENCE};
use super::tally::Tally;
use crate::cli::io::Failure;

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
            let name = &self.name;
            tracing::warn!(output = %name, reason = %e, "{name}: {e}; no more output there");
        }
        self.out = None;
    }
}

/// The relay's outputs: stdout, per-peer outputs, and the delivery output.
pub struct Outputs {
    pub stdout: Sink,
    pub peers: BTreeMap<Address, Output>,
    /// What the `--peer ADDR=PATH` outputs and a delivery fifo are
    /// connections of (until the relay ends).
    pub files: Option<Endpoint>,
    pub deliver: Option<Delivery>,
    pub deliver_to_stdout: bool,
    pub format: Format,
    /// What the outputs did not take, and bad input; added to the node's
    /// counters when the relay prints them.
    pub tally: Tally,
}

impl Outputs {
    /// Takes in what the outputs' writers did: messages written, outputs
    /// that ended.
    pub fn poll(&mut self) {
        while let Some(event) = self.files.as_mut().and_then(Endpoint::try_next) {
            match event {
                ConnEvent::Written { conn, bytes } => {
                    self.output(conn).into_iter().for_each(|o| o.took(bytes))
                }
                ConnEvent::Closed {
                    conn,
                    ended,
                    unwritten,
                } => self.ended(conn, &ended, unwritten),
                _ => {}
            }
        }
    }

    fn output(&mut self, conn: ConnId) -> Option<&mut Output> {
        let fifo = self.deliver.as_mut().and_then(Delivery::output);
        fifo.into_iter()
            .chain(self.peers.values_mut())
            .find(|o| o.conn == conn)
    }

    /// An output ended: what it never wrote is unsent (for a peer; for a
    /// delivery fifo it stays pending, counted when the relay ends).
    fn ended(&mut self, conn: ConnId, ended: &Ended, unwritten: u64) {
        let is_peer = self.peers.values().any(|o| o.conn == conn);
        if let Some(o) = self.output(conn) {
            o.ended(ended, unwritten);
            if is_peer {
                self.tally.unsent += unwritten;
            }
        }
    }

    /// Writes a message the network does not carry to its peer's output,
    /// or to stdout; false when it was not taken (counted unsent by the
    /// caller).
    pub fn write(&mut self, item: Outbound) -> bool {
        let obj = Object::Message(item.message.into());
        match (self.peers.get_mut(&item.peer), &self.files) {
            (Some(peer), Some(files)) => peer.write(files, &obj, self.format),
            (Some(_), None) => false,
            (None, _) => self.stdout.write(&obj, self.format),
        }
    }

    /// Flushes stdout once a round. False once stdout is closed and
    /// nothing else is open.
    pub fn flush(&mut self) -> bool {
        self.stdout.flush();
        self.stdout.out.is_some() || self.peers.values().any(|p| !p.ended)
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
            let ids: Vec<BulletinKey> = bulletins.iter().map(Bulletin::key).collect();
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
            d.deliver(self.files.as_ref(), bulletins)
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
    /// took as unsent.
    pub fn finish_files(&mut self, runtime: &Runtime) {
        self.poll();
        if let Some(files) = self.files.take() {
            let closed = runtime.block_on(files.shutdown_each(PEER_PATIENCE));
            for c in closed {
                self.ended(c.conn, &c.ended, c.unwritten);
            }
        }
    }

    /// Confirms the deliveries a delivery fifo took. A delivery file is
    /// tried once more for what it holds back; an error (exit 4) when it
    /// still cannot take them.
    pub fn finish_delivery(&mut self, node: &mut Node) -> Result<(), Failure> {
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
