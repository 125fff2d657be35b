//! The engine's task: it owns the [`Node`] and its [`Network`] (the
//! session over the endpoint: which connection is which peer, routes,
//! per-connection bounds), takes the handle's commands and the
//! connections' frames, runs the node, carries out the node's events
//! through the network (send on a link) or itself (deliver to
//! subscribers), and wakes for both timers. At shutdown it closes every send queue, gives the connections
//! until the deadline to write them out, then drops them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::network::Network;
use super::{ConnEvent, Frame, NetError};
use crate::Timestamp;
use crate::bulletin::Bulletin;
use crate::ids::{BulletinKey, TopicId};
use crate::keys::Address;
use crate::node::{Event, Node, NodeError};

/// Messages taken off the endpoint before the node runs: verified
/// together.
const BATCH: usize = 256;

/// The shortest wait for a timer the node says is due: a deadline in
/// whole seconds that has just passed is not polled in a busy loop.
const MIN_WAKE: Duration = Duration::from_millis(50);

/// What the handle asks of the engine.
pub(crate) enum Command {
    Publish {
        topic: TopicId,
        content: Vec<u8>,
        reply: oneshot::Sender<Result<Bulletin, NetError>>,
    },
    Subscribe {
        topic: TopicId,
        capacity: usize,
        reply: oneshot::Sender<mpsc::Receiver<Bulletin>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<Address>>,
    },
}

pub(crate) struct Driver {
    pub node: Node,
    pub network: Network,
    /// Each followed topic's subscribers.
    pub subscribers: HashMap<TopicId, Vec<mpsc::Sender<Bulletin>>>,
    pub commands: mpsc::Receiver<Command>,
    /// Cancelled by [`super::Gossip::shutdown`].
    pub stop: CancellationToken,
    pub deadline: Duration,
}

impl Driver {
    /// Serves until the handle stops (or every handle is dropped, or the
    /// node fails), then shuts the endpoint down.
    pub async fn run(mut self) -> Result<(), NetError> {
        let served = self.serve().await;
        self.network.shutdown(self.deadline).await;
        served
    }

    async fn serve(&mut self) -> Result<(), NetError> {
        // Messages handled in this batch: their bytes leave the input
        // budget once the node has run.
        let mut frames: Vec<Frame> = Vec::new();
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Ok(()),
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command)?,
                    None => return Ok(()),
                },
                event = self.network.next() => {
                    self.conn_event(event, &mut frames)?;
                    while frames.len() < BATCH {
                        let Some(event) = self.network.try_next() else { break };
                        self.conn_event(event, &mut frames)?;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Timestamp::now();
                    if self.node.poll_timeout().is_some_and(|t| t <= now) {
                        self.node.handle_timeout(now).map_err(NodeError::from)?;
                    }
                    self.network.handle_timeout(Instant::now().into_std());
                }
            }
            self.run_node()?;
            frames.clear();
            // What their last messages called for is queued: those
            // connections finish.
            self.network.finish_ended();
            // A handle has no operator to tell.
            while self.network.poll_notice().is_some() {}
        }
    }

    fn conn_event(&mut self, event: ConnEvent, frames: &mut Vec<Frame>) -> Result<(), NetError> {
        let now = Instant::now().into_std();
        let node = &mut self.node;
        Ok(self
            .network
            .handle(event, node, now, Timestamp::now(), frames)?)
    }

    /// The soonest of the node's timers (purges, scheduled rotation, sync
    /// timeouts) and the session's; at most a minute away.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(60);
        if let Some(at) = self.node.poll_timeout() {
            let due = at.saturating_duration_since(Timestamp::now());
            wake = wake.min(now + due.max(MIN_WAKE));
        }
        if let Some(at) = self.network.poll_timeout() {
            wake = wake.min(Instant::from_std(at).max(now + MIN_WAKE));
        }
        wake
    }

    fn command(&mut self, command: Command) -> Result<(), NetError> {
        match command {
            Command::Publish {
                topic,
                content,
                reply,
            } => {
                let published = self
                    .node
                    .publish_new(topic, content, Timestamp::now())
                    .map_err(NetError::from);
                let _ = reply.send(published);
            }
            Command::Subscribe {
                topic,
                capacity,
                reply,
            } => {
                let (tx, rx) = mpsc::channel(capacity);
                self.subscribers.entry(topic).or_default().push(tx);
                if !self.node.follows(&topic) {
                    self.node.subscribe(topic);
                    self.set_sync_topics();
                    // What the peers already hold on it comes by sync.
                    for peer in self.network.connected() {
                        self.node.request_sync(peer, topic);
                    }
                }
                let _ = reply.send(rx);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.network.connected());
            }
        }
        Ok(())
    }

    /// Sync asks a peer about every topic followed (the beacon and this
    /// node's inbox included), so a dialer always has something to say
    /// and the listener learns it from that first verified message.
    pub fn set_sync_topics(&mut self) {
        let topics: Vec<TopicId> = self.node.topics().copied().collect();
        self.node.set_sync_topics(topics);
    }

    /// Runs the node to idle within the links' send credit, carries out
    /// its events through the network, and forwards again what full links
    /// were owed once they have room.
    fn run_node(&mut self) -> Result<(), NetError> {
        let unix = Timestamp::now();
        loop {
            self.network.grant(&mut self.node);
            self.node.run_until_idle_parallel(unix)?;
            self.network.end_batch();
            let events: Vec<Event> = self.node.drain_events().collect();
            let mut delivered: Vec<BulletinKey> = Vec::new();
            for event in events {
                match event {
                    // A peer the session has no way to (a dialed peer not
                    // connected now catches up by sync) gets nothing.
                    Event::Send(out) => {
                        self.network.send(&out, &self.node);
                    }
                    Event::Deliver(bulletin) => {
                        delivered.push(bulletin.key());
                        self.deliver(bulletin);
                    }
                    other => {
                        self.network.note(&other);
                    }
                }
            }
            if !delivered.is_empty() {
                self.node
                    .confirm_delivered(&delivered)
                    .map_err(NodeError::from)?;
            }
            if !self.network.owes() || !self.network.repair(&mut self.node, unix)?.queued {
                break;
            }
        }
        Ok(())
    }

    /// Hands a bulletin to its topic's subscribers. A subscriber whose
    /// queue is full misses it; one that is gone is forgotten, and a topic
    /// nobody subscribes to any more is left.
    fn deliver(&mut self, bulletin: Bulletin) {
        let Some(subs) = self.subscribers.get_mut(&bulletin.topic) else {
            return;
        };
        subs.retain(|tx| !tx.is_closed());
        for tx in subs.iter() {
            let _ = tx.try_send(bulletin.clone());
        }
        if subs.is_empty() {
            self.subscribers.remove(&bulletin.topic);
            self.node.unsubscribe(&bulletin.topic);
            self.set_sync_topics();
        }
    }
}
