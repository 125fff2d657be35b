//! The engine's task: it owns the [`Node`] and the peer table, takes the
//! handle's commands and the connections' frames, runs the node, carries
//! out its events (send on a link, deliver to subscribers), and wakes for
//! the node's timers. At shutdown it closes every send queue, gives the
//! connections until the deadline to write them out, then drops them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::bytes::Bytes;

use super::NetError;
use super::conn::{ConnId, Link, NetEvent, Wiring};
use super::peers::Peers;
use crate::bulletin::Bulletin;
use crate::ids::{Id, Key};
use crate::keys::Address;
use crate::message::Message;
use crate::node::{DropReason, Event, Node, NodeError};
use crate::unix_now;

/// Frames taken off the channel before the node runs: verified together.
const BATCH: usize = 256;

/// How often expired content and seen keys are purged. The only timer the
/// driver keeps itself, until the engine's `poll_timeout` covers purging
/// too (issue 21, part 1).
const PURGE_EVERY: Duration = Duration::from_secs(30);

/// The shortest wait for a timer the node says is due: a deadline in
/// whole seconds that has just passed is not polled in a busy loop.
const MIN_WAKE: Duration = Duration::from_millis(50);

/// What the handle asks of the engine.
pub(crate) enum Command {
    Publish {
        topic: Id,
        content: Vec<u8>,
        reply: oneshot::Sender<Result<Bulletin, NetError>>,
    },
    Subscribe {
        topic: Id,
        capacity: usize,
        reply: oneshot::Sender<mpsc::Receiver<Bulletin>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<Address>>,
    },
}

pub(crate) struct Driver {
    pub node: Node,
    pub peers: Peers,
    pub links: HashMap<ConnId, Link>,
    /// Each followed topic's subscribers.
    pub subscribers: HashMap<Id, Vec<mpsc::Sender<Bulletin>>>,
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::Receiver<NetEvent>,
    pub wiring: Wiring,
    pub deadline: Duration,
}

impl Driver {
    /// Serves until the handle stops (or every handle is dropped, or the
    /// node fails), then shuts the connections down.
    pub async fn run(mut self) -> Result<(), NetError> {
        let served = self.serve().await;
        self.finish().await;
        served
    }

    async fn serve(&mut self) -> Result<(), NetError> {
        let mut next_purge = Instant::now() + PURGE_EVERY;
        let mut permits: Vec<OwnedSemaphorePermit> = Vec::new();
        loop {
            let wake = self.next_wake(next_purge);
            tokio::select! {
                biased;
                () = self.wiring.stop.cancelled() => return Ok(()),
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command)?,
                    None => return Ok(()),
                },
                Some(event) = self.events.recv() => {
                    self.net_event(event, &mut permits);
                    while permits.len() < BATCH {
                        let Ok(event) = self.events.try_recv() else { break };
                        self.net_event(event, &mut permits);
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = unix_now();
                    if self.node.poll_timeout().is_some_and(|t| t <= now) {
                        self.node.handle_timeout(now).map_err(NodeError::from)?;
                    }
                    if Instant::now() >= next_purge {
                        self.node.delete_old_content(now).map_err(NodeError::from)?;
                        next_purge = Instant::now() + PURGE_EVERY;
                    }
                    for conn in self.peers.sweep(Instant::now().into_std()) {
                        self.close(conn);
                    }
                }
            }
            self.run_node()?;
            // The frames are handled: their bytes leave the input budget.
            permits.clear();
        }
    }

    /// The soonest of the node's timer, the purge and the bind sweep.
    fn next_wake(&self, next_purge: Instant) -> Instant {
        let now = Instant::now();
        let mut wake = next_purge;
        if let Some(at) = self.node.poll_timeout() {
            let secs = at.saturating_sub(unix_now());
            wake = wake.min(now + Duration::from_secs(secs).max(MIN_WAKE));
        }
        if let Some(at) = self.peers.next_sweep() {
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
                    .publish_new(topic, content, unix_now())
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
                    for peer in self.peers.peers() {
                        self.node.request_sync(peer, topic);
                    }
                }
                let _ = reply.send(rx);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.peers());
            }
        }
        Ok(())
    }

    /// Sync asks a peer about every topic followed (the beacon and this
    /// node's inbox included), so a dialer always has something to say
    /// and the listener learns it from that first verified message.
    pub fn set_sync_topics(&mut self) {
        let topics: Vec<Id> = self.node.topics().copied().collect();
        self.node.set_sync_topics(topics);
    }

    fn net_event(&mut self, event: NetEvent, permits: &mut Vec<OwnedSemaphorePermit>) {
        match event {
            NetEvent::Opened { conn, dialed, link } => {
                self.links.insert(conn, link);
                let now = Instant::now().into_std();
                for closed in self.peers.opened(conn, dialed, &mut self.node, now) {
                    self.close(closed);
                }
            }
            NetEvent::Frame {
                conn,
                frame,
                permit,
            } => {
                permits.push(permit);
                let close = match Message::unpack(&frame) {
                    Ok(message) => self
                        .peers
                        .received(conn, message, &mut self.node, unix_now()),
                    Err(_) => self.peers.malformed(conn),
                };
                if let Some(conn) = close {
                    self.close(conn);
                }
            }
            NetEvent::Closed { conn } => {
                self.links.remove(&conn);
                self.peers.closed(conn, &mut self.node);
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(link) = self.links.remove(&conn) {
            link.close();
        }
    }

    /// Runs the node to idle and carries out its events.
    fn run_node(&mut self) -> Result<(), NetError> {
        let now = unix_now();
        self.node.run_until_idle_parallel(now)?;
        self.peers.end_batch();
        let events: Vec<Event> = self.node.drain_events().collect();
        let mut delivered: Vec<Key> = Vec::new();
        for event in events {
            match event {
                Event::Send(out) => {
                    // No link to the peer (a dialed peer not connected now
                    // catches up by sync when it is): nothing is sent.
                    if let Some(link) = self.peers.route(&out.peer).and_then(|c| self.links.get(&c))
                    {
                        link.push(Bytes::from(out.message.pack()));
                    }
                }
                Event::Deliver(bulletin) => {
                    delivered.push(bulletin.key());
                    self.deliver(bulletin);
                }
                Event::Dropped {
                    from: Some(peer),
                    reason: DropReason::Invalid(_) | DropReason::Malformed,
                } => {
                    if let Some(conn) = self.peers.invalid_from(&peer) {
                        self.close(conn);
                    }
                }
                _ => {}
            }
        }
        if !delivered.is_empty() {
            self.node
                .confirm_delivered(&delivered)
                .map_err(NodeError::from)?;
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

    /// Closes every send queue (what is in them is still written), stops
    /// reading, accepting and dialing, and waits for the connections until
    /// the deadline; past it, they are dropped as they are.
    async fn finish(&mut self) {
        self.wiring.stop.cancel();
        self.links.clear();
        // Connections that end from now on have nobody to tell.
        self.events.close();
        while self.events.try_recv().is_ok() {}
        self.wiring.tracker.close();
        let wait = tokio::time::timeout(self.deadline, self.wiring.tracker.wait());
        if wait.await.is_err() {
            self.wiring.kill.cancel();
            self.wiring.tracker.wait().await;
        }
    }
}
