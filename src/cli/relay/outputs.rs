//! Where the relay writes: stdout, one output per `--peer ADDR=PATH`, and
//! the delivery output. Every message the node made for a peer is either
//! written or counted as unsent; none is lost without a count.

use std::collections::BTreeMap;

use gossip::Address;
use gossip::Bulletin;
use gossip::codec::{Format, Object};
use gossip::net::{ConnEvent, Ended, Endpoint};
use gossip::node::{Node, Outbound};
use gossip::session::ConnId;
use tokio::runtime::Runtime;

use super::deliver::{Delivered, Delivery};
use super::output::{Output, PEER_PATIENCE};
use super::tally::Tally;
use crate::cli::io::Failure;

/// The relay's outputs: stdout, per-peer outputs, and the delivery output.
pub struct Outputs {
    /// Stdout: messages for peers the network does not carry, and with
    /// `--deliver -` the deliveries. It never drops: while it holds more
    /// than its bound the relay takes no input ([`Outputs::is_full`]).
    pub stdout: Output,
    pub peers: BTreeMap<Address, Output>,
    /// What stdout, the `--peer ADDR=PATH` outputs and a delivery fifo are
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
            self.handle(event);
        }
    }

    /// Takes in one event of the outputs' endpoint; true when an output
    /// ended.
    pub fn handle(&mut self, event: ConnEvent) -> bool {
        match event {
            ConnEvent::Written { conn, bytes } => {
                self.output(conn).into_iter().for_each(|o| o.took(bytes));
                false
            }
            ConnEvent::Closed {
                conn,
                ended,
                unwritten,
            } => {
                self.ended(conn, &ended, unwritten);
                true
            }
            _ => false,
        }
    }

    fn output(&mut self, conn: ConnId) -> Option<&mut Output> {
        let fifo = self.deliver.as_mut().and_then(Delivery::output);
        std::iter::once(&mut self.stdout)
            .chain(fifo)
            .chain(self.peers.values_mut())
            .find(|o| o.conn == conn)
    }

    /// An output ended: the messages it never wrote are unsent, and the
    /// deliveries stdout never wrote are not delivered (a delivery fifo's
    /// stay pending, counted when the relay ends).
    fn ended(&mut self, conn: ConnId, ended: &Ended, unwritten: u64) {
        let fifo = self.deliver.as_mut().and_then(Delivery::output);
        if let Some(o) = fifo.filter(|o| o.conn == conn) {
            return o.ended(ended, unwritten);
        }
        if let Some(o) = self.output(conn) {
            o.ended(ended, unwritten);
            let (messages, deliveries) = o.unwritten();
            self.tally.unsent += messages;
            self.tally.undelivered += deliveries;
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
            (None, Some(files)) => self.stdout.write(files, &obj, self.format),
            (None, None) => false,
        }
    }

    /// False once stdout is closed and nothing else is open.
    pub fn open(&self) -> bool {
        !self.stdout.ended || self.peers.values().any(|p| !p.ended)
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
            let mut done = Delivered::default();
            for b in bulletins {
                let files = self.files.as_ref();
                if !files.is_some_and(|files| self.stdout.deliver(files, b, counted)) {
                    done.missed += 1;
                }
            }
            done.written = self.stdout.taken();
            done
        } else if let Some(d) = &mut self.deliver {
            d.deliver(self.files.as_ref(), bulletins, counted)
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
        self.confirm_stdout(node)?;
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

    /// The deliveries stdout or a delivery fifo has written since the
    /// last call, and those a delivery file that was deferred took on its
    /// retry (every 2 s), confirmed to the store.
    pub fn confirm_taken(&mut self, node: &mut Node) -> Result<(), Failure> {
        self.confirm_stdout(node)?;
        if let Some(d) = &mut self.deliver {
            let written = d.taken();
            self.tally.deferred = d.held_back();
            node.confirm_delivered(&written)
                .map_err(|e| Failure::io("relay: store", e))?;
        }
        Ok(())
    }

    /// The deliveries stdout has written since the last call, confirmed
    /// to the store.
    fn confirm_stdout(&mut self, node: &mut Node) -> Result<(), Failure> {
        let written = self.stdout.taken();
        node.confirm_delivered(&written)
            .map_err(|e| Failure::io("relay: store", e))
    }

    /// Whether stdout holds more than its bound, or the delivery file
    /// holds back so much (its [`super::deliver::BACKLOG_LIMIT`]), that no
    /// more input is to be read until it takes some.
    pub fn is_full(&self) -> bool {
        self.stdout.is_full() || self.deliver.as_ref().is_some_and(Delivery::is_full)
    }
}
