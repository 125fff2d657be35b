//! The loop that runs a [`Node`] on the network: [`Driver`]. It owns the
//! node and its [`Network`] (the session over the endpoint: which
//! connection is which peer, routes, per-connection bounds) and an
//! application's [`Host`]: it takes the connections' frames and the host's
//! own inputs, runs the node, carries out the node's events through the
//! network (a send on a link) or the host (a delivery, a send the network
//! does not carry), and wakes for the node's, the session's and the host's
//! timers. The [`Gossip`](super::Gossip) handle's engine is one host (its
//! subscribers); `gossip relay` is another (stdin, stdout, files).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::network::Network;
use super::{ConnEvent, Frame};
use crate::Timestamp;
use crate::bulletin::Bulletin;
use crate::node::{Event, Node, NodeError, Outbound};
use crate::session::Sent;

/// Inputs taken off the endpoint (and off the host) before the node runs:
/// verified together.
const BATCH: usize = 256;

/// The shortest wait for a timer that is due: a deadline in whole seconds
/// that has just passed is not polled in a busy loop.
const MIN_WAKE: Duration = Duration::from_millis(50);

/// How soon a link that is owed bulletins is looked at again when nothing
/// else wakes the driver.
const REPAIR_EVERY: Duration = Duration::from_millis(20);

/// The longest the driver sleeps without a timer due.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Whether the driver goes on after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop once this round is done ([`Driver::serve`] returns).
    Stop,
}

impl Flow {
    fn and(self, other: Flow) -> Flow {
        if self == Flow::Stop { self } else { other }
    }
}

/// Where the node failed, for the host to say so ([`Host::failed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Its timers ([`Node::handle_timeout`]): purges, rotation, sync.
    Timers,
    /// Taking in a connection's event (a delivery-code notice for a new
    /// peer).
    Network,
    /// Running to idle, or confirming deliveries.
    Run,
    /// Forwarding again what full links were owed.
    Repair,
}

/// What the [`Driver`] asks of the application it runs a node for: its
/// own inputs, where deliveries go, where the sends the network does not
/// carry go, and its own timer. Every method but [`Host::input`],
/// [`Host::take`], [`Host::deliver`] and [`Host::failed`] has a default
/// that does nothing.
pub trait Host {
    /// One input of the host's own (a command, an object read elsewhere).
    type Input;
    /// What [`Driver::serve`] fails with.
    type Error;

    /// The host's next input; pending while there is none (it is raced
    /// against the network's events and the timers, and dropped when
    /// they win: it must be cancel-safe, as a channel's `recv` is).
    fn input(&mut self) -> impl Future<Output = Self::Input>;

    /// An input already waiting, to join the batch.
    fn try_input(&mut self) -> Option<Self::Input> {
        None
    }

    /// Takes an input in: into the node (a message to receive, a bulletin
    /// to publish) or the network. The node runs once the batch is taken.
    fn take(
        &mut self,
        input: Self::Input,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<Flow, Self::Error>;

    /// Bulletins the node delivered, in order. Confirm to the node
    /// ([`Node::confirm_delivered`]) those that reached their reader; the
    /// others stay pending in its store. (On a local output of the
    /// network: [`Network::deliver_on`].)
    fn deliver(
        &mut self,
        bulletins: Vec<Bulletin>,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<(), Self::Error>;

    /// An event of a local input of the network
    /// ([`Network::attach_input`]): an object it read
    /// ([`ConnEvent::Object`]: take a message in with
    /// [`Network::receive`], publish a bulletin; its bytes stay charged to
    /// the input bound until its charge is dropped), or its end
    /// ([`ConnEvent::Closed`]). By default they are dropped.
    fn input_event(
        &mut self,
        event: ConnEvent,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<Flow, Self::Error> {
        let _ = (event, node, network);
        Ok(Flow::Continue)
    }

    /// A message neither a connection nor a local output of the network
    /// carries ([`Network::attach_output`]): `sent` is [`Sent::Elsewhere`]
    /// (a configured neighbour with no connection, or a peer heard outside
    /// the network) or [`Sent::Unreachable`]. True when the host took it;
    /// false counts it unsent ([`Host::unsent`]).
    fn elsewhere(&mut self, message: Outbound, sent: Sent, node: &Node) -> bool {
        let _ = (message, sent, node);
        false
    }

    /// The node's other events (after the network has seen them).
    fn event(&mut self, event: &Event, node: &mut Node) {
        let _ = (event, node);
    }

    /// `n` messages for peers were never queued: dropped by the network,
    /// refused by [`Host::elsewhere`], or owed to a full link and given up.
    fn unsent(&mut self, n: u64) {
        let _ = n;
    }

    /// After each round (inputs taken, the node run, its events carried
    /// out): flush what the host wrote, read the network's notices, say
    /// whether to stop.
    fn ran(&mut self, node: &mut Node, network: &mut Network) -> Result<Flow, Self::Error> {
        let _ = (node, network);
        Ok(Flow::Continue)
    }

    /// When the host next wants [`Host::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The host's own periodic work, once [`Host::poll_timeout`] is due.
    /// The node runs after it, so what it queued in the node goes out.
    fn handle_timeout(
        &mut self,
        node: &mut Node,
        network: &mut Network,
    ) -> Result<Flow, Self::Error> {
        let _ = (node, network);
        Ok(Flow::Continue)
    }

    /// While true, no input is taken (neither the host's nor the
    /// network's): backpressure from an output that cannot keep up (a
    /// local output that holds, past its bound: see
    /// [`Network::queued_bytes`]). Only the timers run, what connections'
    /// writers wrote is taken in ([`Network::written`]), and
    /// [`Host::unpaused`].
    fn paused(&self, network: &Network) -> bool {
        let _ = network;
        false
    }

    /// Raced against the timers while [`Host::paused`]: completes once
    /// the host may have room again (its output took some of its queue),
    /// and the driver asks [`Host::paused`] again at once rather than at
    /// its next timer. It must be cancel-safe, as [`Host::input`]. By
    /// default it never completes (only the timers wake a paused driver).
    fn unpaused(&mut self) -> impl Future<Output = ()> {
        std::future::pending()
    }

    /// The clock the node runs on.
    fn unix_now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// The error for the node's failure at `step`.
    fn failed(&mut self, step: Step, error: NodeError) -> Self::Error;
}

/// Runs a [`Node`] on a [`Network`] for a [`Host`]: build it, then
/// [`Driver::serve`] (the loop) and shut down ([`Driver::run`] does both,
/// or take the parts back with [`Driver::into_parts`]). The node's
/// events are carried out as they come: a send on its peer's connection,
/// or by the host; deliveries by the host. Each peer's send credit comes
/// from the room in its connection's queue; what a full link missed is
/// forwarded again when it has room.
#[derive(Debug)]
pub struct Driver<H: Host> {
    node: Node,
    network: Network,
    host: H,
}

impl<H: Host> Driver<H> {
    /// `node` on `network`, for `host`.
    pub fn new(node: Node, network: Network, host: H) -> Self {
        Self {
            node,
            network,
            host,
        }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node, to change (subscribe, publish: run it then with
    /// [`Driver::run_node`]).
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host, to change.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// The node, the network and the host.
    pub fn into_parts(self) -> (Node, Network, H) {
        (self.node, self.network, self.host)
    }

    /// Serves until the host says stop (or the node fails), then shuts the
    /// network down, writing what is queued until `deadline`.
    pub async fn run(mut self, deadline: Duration) -> Result<(), H::Error> {
        let served = self.serve().await;
        self.network.shutdown(deadline).await;
        served
    }

    /// The loop: takes a batch of inputs (the network's events and the
    /// host's), runs the node on them and carries out its events, runs
    /// the timers that are due; until the host says stop. The network is
    /// left open.
    pub async fn serve(&mut self) -> Result<(), H::Error> {
        // Messages handled in this round: their bytes leave the input
        // budget once the node has run.
        let mut frames: Vec<Frame> = Vec::new();
        loop {
            let wake = self.next_wake();
            let paused = self.host.paused(&self.network);
            let mut flow = Flow::Continue;
            let host = &mut self.host;
            let host = async move {
                if paused {
                    host.unpaused().await;
                    None
                } else {
                    Some(host.input().await)
                }
            };
            // Paused, only what the writers wrote is taken in (an output
            // with room again unpauses).
            let network = &mut self.network;
            let network = async move {
                if paused {
                    network.written().await;
                    None
                } else {
                    Some(network.next().await)
                }
            };
            tokio::select! {
                biased;
                input = host => if let Some(input) = input {
                    flow = self.take(input)?;
                    flow = flow.and(self.batch(&mut frames)?);
                },
                event = network => if let Some(event) = event {
                    flow = self.conn_event(event, &mut frames)?;
                    flow = flow.and(self.batch(&mut frames)?);
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            // Timers are looked at every round: a busy network never
            // starves them.
            flow = flow.and(self.timers()?);
            self.run_node()?;
            frames.clear();
            // What their last messages called for is queued: those
            // connections finish.
            self.network.finish_ended();
            flow = flow.and(self.host.ran(&mut self.node, &mut self.network)?);
            if flow == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// What else has already arrived joins the batch (up to [`BATCH`] of
    /// each), so a busy node verifies on all cores.
    fn batch(&mut self, frames: &mut Vec<Frame>) -> Result<Flow, H::Error> {
        let mut flow = Flow::Continue;
        for _ in 0..BATCH {
            let Some(event) = self.network.try_next() else {
                break;
            };
            flow = flow.and(self.conn_event(event, frames)?);
        }
        for _ in 0..BATCH {
            let Some(input) = self.host.try_input() else {
                break;
            };
            flow = flow.and(self.take(input)?);
        }
        Ok(flow)
    }

    fn take(&mut self, input: H::Input) -> Result<Flow, H::Error> {
        self.host.take(input, &mut self.node, &mut self.network)
    }

    fn conn_event(&mut self, event: ConnEvent, frames: &mut Vec<Frame>) -> Result<Flow, H::Error> {
        let now = Instant::now().into_std();
        let unix = self.host.unix_now();
        let handled = self
            .network
            .handle(event, &mut self.node, now, unix, frames);
        match handled.map_err(|e| self.host.failed(Step::Network, e))? {
            Some(input) => self
                .host
                .input_event(input, &mut self.node, &mut self.network),
            None => Ok(Flow::Continue),
        }
    }

    /// Runs the node's, the session's and the host's timers that are due.
    fn timers(&mut self) -> Result<Flow, H::Error> {
        let unix = self.host.unix_now();
        if self.node.poll_timeout().is_some_and(|t| t <= unix) {
            let handled = self.node.handle_timeout(unix).map_err(NodeError::from);
            handled.map_err(|e| self.host.failed(Step::Timers, e))?;
        }
        let now = Instant::now();
        if self
            .network
            .poll_timeout()
            .is_some_and(|t| t <= now.into_std())
        {
            self.network.handle_timeout(now.into_std());
        }
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            return self.host.handle_timeout(&mut self.node, &mut self.network);
        }
        Ok(Flow::Continue)
    }

    /// The soonest of the node's timers (purges, scheduled rotation, sync
    /// timeouts), the session's and the host's; at most a minute away.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + MAX_WAIT;
        if let Some(at) = self.node.poll_timeout() {
            let due = at.saturating_duration_since(self.host.unix_now());
            wake = wake.min(now + due.max(MIN_WAKE));
        }
        if let Some(at) = self.network.poll_timeout() {
            wake = wake.min(Instant::from_std(at).max(now + MIN_WAKE));
        }
        if let Some(at) = self.host.poll_timeout() {
            wake = wake.min(at);
        }
        if self.network.owes() {
            wake = wake.min(now + REPAIR_EVERY);
        }
        wake
    }

    /// Runs the node to idle within the links' send credit and carries out
    /// its events through the network and the host; then forwards again,
    /// once, what full links are owed and have room for now, and runs the
    /// node on that. (Once a round: a link that takes nothing more is
    /// looked at again 20 ms later, never in a busy loop.)
    pub fn run_node(&mut self) -> Result<(), H::Error> {
        let unix = self.host.unix_now();
        self.run_once(unix)?;
        if !self.network.owes() {
            return Ok(());
        }
        self.network.grant(&mut self.node);
        let repaired = self.network.repair(&mut self.node, unix);
        let repaired = repaired.map_err(|e| self.host.failed(Step::Repair, e))?;
        if repaired.lost > 0 {
            self.host.unsent(repaired.lost);
        }
        if repaired.queued {
            self.run_once(unix)?;
        }
        Ok(())
    }

    fn run_once(&mut self, unix: Timestamp) -> Result<(), H::Error> {
        self.network.grant(&mut self.node);
        let ran = self.node.run_until_idle_parallel(unix);
        ran.map_err(|e| self.host.failed(Step::Run, e))?;
        self.network.end_batch();
        let events: Vec<Event> = self.node.drain_events().collect();
        let mut delivered: Vec<Bulletin> = Vec::new();
        let mut unsent = 0;
        for event in events {
            match event {
                Event::Send(out) => match self.network.send(&out, &self.node) {
                    Sent::Queued | Sent::Deferred => {}
                    sent @ (Sent::Elsewhere | Sent::Unreachable) => {
                        unsent += u64::from(!self.host.elsewhere(out, sent, &self.node));
                    }
                    _ => unsent += 1,
                },
                Event::Deliver(bulletin) => delivered.push(bulletin),
                other => {
                    unsent += u64::from(!self.network.note(&other));
                    self.host.event(&other, &mut self.node);
                }
            }
        }
        if unsent > 0 {
            self.host.unsent(unsent);
        }
        if !delivered.is_empty() {
            self.host
                .deliver(delivered, &mut self.node, &mut self.network)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;
    use crate::keys::Seed;
    use crate::net::{Endpoint, Limits};
    use crate::node::NodeConfig;
    use crate::session::Session;
    use tokio::sync::{mpsc, watch};

    /// A host paused while its switch says so, counting its inputs.
    struct Gate {
        paused: watch::Receiver<bool>,
        inputs: mpsc::Receiver<()>,
        taken: usize,
    }

    impl Host for Gate {
        type Input = ();
        type Error = NodeError;

        async fn input(&mut self) {
            if self.inputs.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }

        fn take(&mut self, (): (), _: &mut Node, _: &mut Network) -> Result<Flow, NodeError> {
            self.taken += 1;
            Ok(Flow::Stop)
        }

        fn deliver(
            &mut self,
            _: Vec<Bulletin>,
            _: &mut Node,
            _: &mut Network,
        ) -> Result<(), NodeError> {
            Ok(())
        }

        fn paused(&self, _: &Network) -> bool {
            *self.paused.borrow()
        }

        async fn unpaused(&mut self) {
            let _ = self.paused.changed().await;
        }

        fn failed(&mut self, _: Step, error: NodeError) -> NodeError {
            error
        }
    }

    #[tokio::test]
    async fn a_paused_host_takes_its_input_as_soon_as_it_has_room() {
        let (pause, paused) = watch::channel(true);
        let (tx, inputs) = mpsc::channel(1);
        tx.send(()).await.unwrap();
        let node = Node::new(
            Identity::from_seed(&Seed::from_bytes([1; 32])),
            NodeConfig::default(),
        );
        let limits = Limits::default();
        let session = Session::new(limits.session_config());
        let network = Network::new(Endpoint::new(limits).unwrap(), session);
        let gate = Gate {
            paused,
            inputs,
            taken: 0,
        };
        let mut driver = Driver::new(node, network, gate);
        // Paused: the input waits.
        let served = tokio::time::timeout(Duration::from_millis(100), driver.serve()).await;
        assert!(served.is_err(), "a paused driver stopped");
        assert_eq!(driver.host().taken, 0, "input taken while paused");
        // Room again: the input is taken now, not at the driver's next
        // timer (the node's purge, half a minute away).
        let (served, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(10), driver.serve()),
            async { pause.send(false).unwrap() },
        );
        assert!(matches!(served, Ok(Ok(()))), "not woken when unpaused");
        assert_eq!(driver.host().taken, 1);
    }
}
