//! Where the relay writes: stdout, one output per `--peer ADDR=PATH`, and
//! the delivery output. Stdout, the `--peer` outputs and a delivery fifo
//! are local outputs of the relay's network ([`LocalOutput`]): its session
//! routes each message to its peer's output, or to stdout (a configured
//! neighbour with no connection, a signer heard on stdin; every message
//! no connection carries when there is no network), and the library's
//! bounded writer writes them. Every message the node made for a peer is
//! either written or counted as unsent; none is lost without a count.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use gossip::Bulletin;
use gossip::codec::Format;
use gossip::net::{LocalOutput, Network};
use gossip::node::Node;
use gossip::session::{Carries, ConnId};
use tokio::runtime::Runtime;

use super::deliver::{Delivered, Delivery};
use super::tally::Tally;
use crate::cli::io::{Failure, open_failure};

/// Bytes stdout's queue holds before the relay takes no more input: what
/// a pipe holds (one round's output may pass it). Small, so a reader that
/// is slow holds the relay back soon, as a blocking write did, and a
/// netcat chain passes its backpressure along.
pub const STDOUT_QUEUE: usize = 64 << 10;

/// How long a relay that is ending waits for its outputs to take what is
/// queued for them (a peer that never reads cannot hold the relay for
/// longer).
pub const PEER_PATIENCE: Duration = Duration::from_secs(10);

/// The relay's outputs: stdout, per-peer outputs, and the delivery output.
pub struct Outputs {
    /// Stdout: messages for peers the network does not carry, and with
    /// `--deliver -` the deliveries. It never drops: while it holds more
    /// than [`STDOUT_QUEUE`] the relay takes no input
    /// ([`Outputs::is_full`]).
    pub stdout: ConnId,
    /// The `--peer ADDR=PATH` outputs: past `--send-queue` they drop, for
    /// that output only (a peer can catch up by sync), and count.
    pub peers: Vec<ConnId>,
    pub deliver: Option<Delivery>,
    pub deliver_to_stdout: bool,
    /// What the outputs did not take, and bad input; added to the node's
    /// counters when the relay prints them.
    pub tally: Tally,
}

/// Starts writing to `path` ([`gossip::net::Endpoint::attach_file`]) as a
/// local output of `network`: a regular file is opened at once (errors
/// are the relay's); a fifo is opened by the output, which waits for its
/// reader. Appended to, never through a symbolic link, and a new file is
/// 0600.
pub fn attach_file(
    network: &mut Network,
    runtime: &Runtime,
    path: &Path,
    output: LocalOutput,
    node: &mut Node,
) -> Result<ConnId, Failure> {
    let conn = {
        let _inside = runtime.enter();
        let endpoint = network.endpoint_mut();
        endpoint
            .attach_file(path)
            .map_err(|e| open_failure(path, e))?
    };
    attach(network, conn, output, node)?;
    Ok(conn)
}

fn attach(
    network: &mut Network,
    conn: ConnId,
    output: LocalOutput,
    node: &mut Node,
) -> Result<(), Failure> {
    network
        .attach_output(conn, output, node)
        .map_err(|e| Failure::io("relay: outputs", e))
}

impl Outputs {
    /// Stdout, carrying what `carries` says, and an output for each
    /// `--peer ADDR=PATH`, in `format`.
    ///
    /// Stdout is a duplicate of its descriptor, written on tokio's
    /// blocking pool ([`gossip::net::Endpoint::attach_blocking`]), so a
    /// reader that stops holds a thread of that pool, never the relay's
    /// loop, and the count of what was written stays exact. It stays
    /// blocking: its open file may be shared (a terminal, a shell's pipe).
    pub fn open(
        network: &mut Network,
        runtime: &Runtime,
        node: &mut Node,
        format: Format,
        carries: Carries,
        peers: &[(gossip::Address, &Path)],
    ) -> Result<Self, Failure> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned();
        let fd = fd.map_err(|e| Failure::io("relay: stdout", e))?;
        let stdout = {
            let _inside = runtime.enter();
            network.endpoint_mut().attach_blocking(File::from(fd))
        };
        let output = |name: String, role, carries, holds| LocalOutput {
            name,
            role,
            format,
            carries,
            holds,
        };
        attach(
            network,
            stdout,
            output("stdout".into(), "stdout", carries, true),
            node,
        )?;
        let mut conns = Vec::new();
        for (peer, path) in peers {
            let out = output(
                path.display().to_string(),
                "peer",
                Carries::Peer(*peer),
                false,
            );
            conns.push(attach_file(network, runtime, path, out, node)?);
        }
        Ok(Self {
            stdout,
            peers: conns,
            deliver: None,
            deliver_to_stdout: false,
            tally: Tally::default(),
        })
    }

    /// Takes in what outputs that ended never wrote: messages unsent,
    /// deliveries not delivered.
    pub fn take_unwritten(&mut self, network: &mut Network) {
        let lost = network.take_unwritten();
        self.tally.unsent += lost.messages;
        self.tally.undelivered += lost.deliveries;
    }

    /// False once stdout is closed and nothing else is open.
    pub fn any_open(&self, network: &Network) -> bool {
        std::iter::once(&self.stdout)
            .chain(&self.peers)
            .any(|c| network.is_writable(*c))
    }

    /// Writes bulletins to the delivery output and confirms to the store
    /// the ones that reached it (all of them when there is no delivery
    /// output). Those stdout or a fifo did not take are counted as not
    /// delivered when `counted` (they stay pending with `--store`); those
    /// a file could not take yet are held and retried (counted as
    /// deferred). An error only from the store.
    pub fn deliver(
        &mut self,
        node: &mut Node,
        network: &mut Network,
        bulletins: Vec<Bulletin>,
        counted: bool,
    ) -> Result<(), Failure> {
        let mut done = if self.deliver_to_stdout {
            let mut done = Delivered::default();
            for b in bulletins {
                if !network.deliver_on(self.stdout, b, counted) {
                    done.missed += 1;
                }
            }
            done
        } else if let Some(d) = &mut self.deliver {
            d.deliver(network, bulletins, counted)
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
        done.written.extend(network.take_delivered());
        confirm(node, &done.written)
    }

    /// Confirms the deliveries stdout or a fifo wrote. A delivery file is
    /// tried once more for what it holds back; an error (exit 4) when it
    /// still cannot take them.
    pub fn finish_delivery(
        &mut self,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<(), Failure> {
        confirm(node, &network.take_delivered())?;
        if let Some(d) = &mut self.deliver {
            let mut written = d.taken();
            let (last, failed) = d.close();
            written.extend(last);
            self.tally.deferred = d.held_back();
            confirm(node, &written)?;
            if let Some(failure) = failed {
                return Err(failure);
            }
        }
        Ok(())
    }

    /// The deliveries stdout or a delivery fifo has written since the
    /// last call, and those a delivery file that was deferred took on its
    /// retry (every 2 s), confirmed to the store.
    pub fn confirm_taken(&mut self, node: &mut Node, network: &mut Network) -> Result<(), Failure> {
        let mut written = network.take_delivered();
        if let Some(d) = &mut self.deliver {
            written.extend(d.taken());
            self.tally.deferred = d.held_back();
        }
        confirm(node, &written)
    }

    /// Whether stdout holds more than its bound (and its reader is still
    /// there): the relay takes no more input until it takes some.
    pub fn stdout_full(&self, network: &Network) -> bool {
        network.queued_bytes(self.stdout) > STDOUT_QUEUE && network.is_writable(self.stdout)
    }

    /// Whether stdout holds more than its bound, or the delivery file
    /// holds back so much (its [`super::deliver::BACKLOG_LIMIT`]), that no
    /// more input is to be read until it takes some.
    pub fn is_full(&self, network: &Network) -> bool {
        self.stdout_full(network) || self.deliver.as_ref().is_some_and(Delivery::is_full)
    }
}

fn confirm(node: &mut Node, written: &[gossip::BulletinKey]) -> Result<(), Failure> {
    node.confirm_delivered(written)
        .map_err(|e| Failure::io("relay: store", e))
}
