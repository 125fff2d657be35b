//! A whole network in one process: real nodes, real messages and crypto,
//! wired together in memory.
//!
//! The topology is the original's example: each node links to `degree`
//! random others (links are two-way). In the synchronous mode the network
//! moves in ticks: every node runs its queues to completion (nodes in
//! parallel), then every message sent is handed to its destination for the
//! next tick. In the threaded mode each node runs on its own thread and
//! messages travel over channels, as the original's asynchronous example.
//! Scenarios show the protocol's defences: flooding, a spammer without proof
//! of work, a node that joins late and catches up by sync, and a partition
//! that heals.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use crate::bulletin::Bulletin;
use crate::crypto::Identity;
use crate::ids::{Id, topic_id};
use crate::keys::{Address, Seed};
use crate::message::Message;
use crate::node::{Event, Node, NodeConfig, NodeError};
use crate::operation::{Op, Payload};
use crate::pow::{Mined, Progress, mine, search_start, ts_of};

/// The topic every simulated node follows.
pub const TOPIC: &[u8] = b"simulation";

/// What a simulation demonstrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Bulletins published at random nodes flood the network.
    Flood,
    /// A spammer sends bulletins without proof of work; its neighbours drop them.
    Spam,
    /// One node is offline while bulletins spread, then joins and syncs.
    LateJoin,
    /// The network is cut in two halves, each publishes, then the cut heals and sync runs.
    Partition,
}

/// A simulation's settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Random links each node makes to others.
    pub degree: usize,
    /// Bulletins published.
    pub bulletins: usize,
    /// Seed of the topology, identities and publishers.
    pub seed: u64,
    /// Message difficulty on every link.
    pub message_difficulty: u32,
    /// Bulletin difficulty required and mined.
    pub bulletin_difficulty: u32,
    /// What to show.
    pub scenario: Scenario,
    /// One thread per node, messages over channels (flood and spam only).
    pub threaded: bool,
    /// Give up after this many ticks.
    pub max_ticks: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 16,
            degree: 3,
            bulletins: 4,
            seed: 1,
            message_difficulty: 1,
            bulletin_difficulty: 7,
            scenario: Scenario::Flood,
            threaded: false,
            max_ticks: 1000,
        }
    }
}

/// What a simulation measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// Threaded (channels) or ticked.
    pub mode: &'static str,
    /// Nodes.
    pub nodes: usize,
    /// Links each node made.
    pub degree: usize,
    /// Distinct two-way links.
    pub links: usize,
    /// Bulletins published (spam included).
    pub bulletins: usize,
    /// For each bulletin, the share of nodes that received it.
    pub coverage: Vec<f64>,
    /// Mean of `coverage`.
    pub mean_coverage: f64,
    /// Ticks until no message was in flight (ticked mode).
    pub ticks: Option<usize>,
    /// Messages sent in all.
    pub messages: u64,
    /// Messages sent per bulletin.
    pub messages_per_bulletin: f64,
    /// Flooding bound: every link carries a bulletin at most once each way (2 × links).
    pub flooding_bound: u64,
    /// The rough bound, nodes × degree.
    pub nodes_times_degree: u64,
    /// Receipts of a bulletin a node had already seen.
    pub duplicates: u64,
    /// Messages dropped, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Wall time, milliseconds.
    pub wall_ms: u128,
    /// Scenario notes: what the defence showed.
    pub notes: Vec<String>,
}

/// Runs a simulation.
pub fn run(config: &SimConfig) -> Result<Report, NodeError> {
    let started = Instant::now();
    let mut net = Network::build(config);
    let now = 1_764_000_000u64;
    let mut notes = Vec::new();
    let mut published = Vec::new();
    let mut ticks = None;
    match config.scenario {
        Scenario::Flood | Scenario::Spam if config.threaded => {
            published = net.publish_all(config, now, None)?;
            if config.scenario == Scenario::Spam {
                published.extend(net.spam(config, now)?);
            }
            net.run_threaded(now)?;
        }
        Scenario::Flood | Scenario::Spam => {
            published = net.publish_all(config, now, None)?;
            if config.scenario == Scenario::Spam {
                published.extend(net.spam(config, now)?);
            }
            ticks = Some(net.run_ticks(now, config.max_ticks)?);
        }
        Scenario::LateJoin => {
            let late = net.nodes.len() - 1;
            let links = net.isolate(late);
            published = net.publish_all(config, now, Some(late))?;
            let mut t = net.run_ticks(now, config.max_ticks)?;
            let before = net.holders(&published, late);
            net.relink(late, &links);
            let peers: Vec<Address> = links.iter().map(|&i| net.nodes[i].address()).collect();
            for peer in peers {
                net.nodes[late].request_sync(peer, topic_id(TOPIC));
            }
            t += net.run_ticks(now + t as u64, config.max_ticks)?;
            ticks = Some(t);
            let after = net.holders(&published, late);
            notes.push(format!(
                "late joiner held {before} of {} bulletins before joining and {after} after sync",
                published.len()
            ));
        }
        Scenario::Partition => {
            let half = net.nodes.len() / 2;
            let cut = net.partition(half);
            let mut t = 0;
            for side in [0..half, half..net.nodes.len()] {
                published.extend(net.publish_in(config, now, side)?);
            }
            t += net.run_ticks(now, config.max_ticks)?;
            let during = coverage(&net, &published);
            net.heal(&cut);
            let topic = topic_id(TOPIC);
            for &(a, b) in &cut {
                let (pa, pb) = (net.nodes[a].address(), net.nodes[b].address());
                net.nodes[a].request_sync(pb, topic);
                net.nodes[b].request_sync(pa, topic);
            }
            t += net.run_ticks(now + t as u64, config.max_ticks)?;
            ticks = Some(t);
            let mean = |c: &[f64]| c.iter().sum::<f64>() / c.len().max(1) as f64;
            notes.push(format!(
                "{} links cut; mean coverage {:.3} during the partition, {:.3} after it healed",
                cut.len(),
                mean(&during),
                mean(&coverage(&net, &published))
            ));
        }
    }
    let coverage = coverage(&net, &published);
    if config.scenario == Scenario::Spam {
        let spam = &coverage[config.bulletins..];
        let reached = spam
            .iter()
            .map(|c| (c * net.nodes.len() as f64).round() as u64)
            .max()
            .unwrap_or(0);
        notes.push(format!("spam bulletins reached at most {reached} node(s) (the spammer itself never delivers them)"));
    }
    Ok(net.report(
        config,
        published.len(),
        coverage,
        ticks,
        started.elapsed(),
        notes,
    ))
}

/// Share of nodes that delivered each bulletin.
fn coverage(net: &Network, published: &[Id]) -> Vec<f64> {
    published
        .iter()
        .map(|id| net.delivered.get(id).map_or(0, BTreeSet::len) as f64 / net.nodes.len() as f64)
        .collect()
}

/// What a node thread is told in the threaded mode.
enum Cmd {
    /// Run the queues (what was published before the start).
    Kick,
    /// A message from another node.
    Message(Message),
    /// End the thread.
    Stop,
}

/// Nodes, their links, and who delivered what.
struct Network {
    nodes: Vec<Node>,
    index: HashMap<Address, usize>,
    links: BTreeSet<(usize, usize)>,
    delivered: HashMap<Id, BTreeSet<usize>>,
    rng: StdRng,
    message_difficulty: u32,
}

impl Network {
    fn build(config: &SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let node_config = NodeConfig {
            bulletin_difficulty: config.bulletin_difficulty,
            message_difficulty: config.message_difficulty,
            ..NodeConfig::default()
        };
        let mut nodes: Vec<Node> = (0..config.nodes)
            .map(|_| {
                let mut node = Node::new(
                    Identity::from_seed(&Seed::from_bytes(rng.r#gen())),
                    node_config.clone(),
                );
                node.subscribe(topic_id(TOPIC));
                node
            })
            .collect();
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.address(), i))
            .collect();
        let mut links = BTreeSet::new();
        let all: Vec<usize> = (0..config.nodes).collect();
        for i in 0..config.nodes {
            let others: Vec<usize> = all.iter().copied().filter(|&j| j != i).collect();
            for &j in others.choose_multiple(&mut rng, config.degree.min(others.len())) {
                links.insert((i.min(j), i.max(j)));
            }
        }
        let mut net = Self {
            nodes: Vec::new(),
            index,
            links: BTreeSet::new(),
            delivered: HashMap::new(),
            rng,
            message_difficulty: config.message_difficulty,
        };
        for &(a, b) in &links {
            let (pa, pb) = (nodes[a].address(), nodes[b].address());
            // Addresses come from real keys, so connecting cannot fail.
            let _ = nodes[a].add_neighbour(pb, config.message_difficulty);
            let _ = nodes[b].add_neighbour(pa, config.message_difficulty);
        }
        net.nodes = nodes;
        net.links = links;
        net
    }

    /// A bulletin mined at the bulletin difficulty.
    fn bulletin(&mut self, config: &SimConfig, i: usize, now: u64) -> Bulletin {
        let mut b = Bulletin::new(
            topic_id(TOPIC),
            format!("bulletin {i} of seed {}", config.seed).into_bytes(),
            ts_of(now),
        );
        if let Mined::Found(n) = mine(
            &b.work(),
            config.bulletin_difficulty,
            search_start(&mut self.rng),
            &Progress::default(),
        ) {
            b.nonce = n;
        }
        b
    }

    /// Publishes the configured bulletins at random nodes (never `skip`).
    fn publish_all(
        &mut self,
        config: &SimConfig,
        now: u64,
        skip: Option<usize>,
    ) -> Result<Vec<Id>, NodeError> {
        let candidates: Vec<usize> = (0..self.nodes.len()).filter(|&i| Some(i) != skip).collect();
        self.publish_among(config, now, &candidates, 0)
    }

    /// Publishes the configured bulletins at random nodes of `side`.
    fn publish_in(
        &mut self,
        config: &SimConfig,
        now: u64,
        side: std::ops::Range<usize>,
    ) -> Result<Vec<Id>, NodeError> {
        let candidates: Vec<usize> = side.clone().collect();
        self.publish_among(config, now, &candidates, side.start)
    }

    fn publish_among(
        &mut self,
        config: &SimConfig,
        now: u64,
        candidates: &[usize],
        salt: usize,
    ) -> Result<Vec<Id>, NodeError> {
        let mut ids = Vec::new();
        for i in 0..config.bulletins {
            let b = self.bulletin(config, i + salt * 1_000_003, now);
            let at = *candidates.choose(&mut self.rng).unwrap_or(&0);
            ids.push(b.content_id);
            self.nodes[at].publish(b, now)?;
        }
        Ok(ids)
    }

    /// A spammer (node 0) sends its neighbours bulletins with too little
    /// proof of work, bypassing its own checks.
    fn spam(&mut self, config: &SimConfig, now: u64) -> Result<Vec<Id>, NodeError> {
        let peers: Vec<Address> = self.nodes[0].neighbours().map(|c| c.peer()).collect();
        let mut ids = Vec::new();
        for i in 0..config.bulletins {
            let mut b = Bulletin::new(
                topic_id(TOPIC),
                format!("spam {i}").into_bytes(),
                ts_of(now),
            );
            while b.work().meets(config.bulletin_difficulty.max(1)) {
                b.nonce += 1;
            }
            ids.push(b.content_id);
            let payload = Payload::Bulletin(Op::StoreAndForward, b);
            for &peer in &peers {
                self.nodes[0].send(peer, &payload, now)?;
            }
        }
        Ok(ids)
    }

    /// Removes node `i`'s links; returns the nodes it was linked to.
    fn isolate(&mut self, i: usize) -> Vec<usize> {
        let gone: Vec<(usize, usize)> = self
            .links
            .iter()
            .copied()
            .filter(|&(a, b)| a == i || b == i)
            .collect();
        self.cut(&gone);
        gone.into_iter()
            .map(|(a, b)| if a == i { b } else { a })
            .collect()
    }

    /// Links node `i` to `others` again.
    fn relink(&mut self, i: usize, others: &[usize]) {
        let links: Vec<(usize, usize)> = others.iter().map(|&j| (i.min(j), i.max(j))).collect();
        self.heal(&links);
    }

    /// Cuts every link between `..half` and `half..`; returns them.
    fn partition(&mut self, half: usize) -> Vec<(usize, usize)> {
        let cut: Vec<(usize, usize)> = self
            .links
            .iter()
            .copied()
            .filter(|&(a, b)| (a < half) != (b < half))
            .collect();
        self.cut(&cut);
        cut
    }

    fn cut(&mut self, links: &[(usize, usize)]) {
        for &(a, b) in links {
            let (pa, pb) = (self.nodes[a].address(), self.nodes[b].address());
            self.nodes[a].remove_neighbour(&pb);
            self.nodes[b].remove_neighbour(&pa);
            self.links.remove(&(a, b));
        }
    }

    fn heal(&mut self, links: &[(usize, usize)]) {
        for &(a, b) in links {
            let (pa, pb) = (self.nodes[a].address(), self.nodes[b].address());
            let _ = self.nodes[a].add_neighbour(pb, self.message_difficulty);
            let _ = self.nodes[b].add_neighbour(pa, self.message_difficulty);
            self.links.insert((a, b));
        }
    }

    /// How many of `ids` node `i` has delivered.
    fn holders(&self, ids: &[Id], i: usize) -> usize {
        ids.iter()
            .filter(|id| self.delivered.get(*id).is_some_and(|s| s.contains(&i)))
            .count()
    }

    /// Ticks until quiet: all nodes run (in parallel), then messages move.
    fn run_ticks(&mut self, start: u64, max_ticks: usize) -> Result<usize, NodeError> {
        for tick in 0..max_ticks {
            let now = start + tick as u64;
            self.nodes
                .par_iter_mut()
                .try_for_each(|n| n.run_until_idle(now).map(drop))?;
            let mut moved = 0;
            for i in 0..self.nodes.len() {
                let events: Vec<Event> = self.nodes[i].drain_events().collect();
                for event in events {
                    match event {
                        Event::Deliver(b) => {
                            self.delivered.entry(b.content_id).or_default().insert(i);
                        }
                        Event::Send(out) => {
                            if let Some(&j) = self.index.get(&out.peer) {
                                self.nodes[j].receive(out.message);
                                moved += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if moved == 0 {
                return Ok(tick + 1);
            }
        }
        Ok(max_ticks)
    }

    /// One thread per node; messages over channels; ends when nothing is
    /// in flight (every message sent is counted before it is sent and
    /// uncounted after its receiver has run its queues).
    fn run_threaded(&mut self, now: u64) -> Result<(), NodeError> {
        let n = self.nodes.len();
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Cmd>()).unzip();
        let in_flight = Arc::new(AtomicI64::new(n as i64));
        let index = Arc::new(self.index.clone());
        let (done_tx, done_rx) = mpsc::channel();
        for (i, (mut node, rx)) in std::mem::take(&mut self.nodes)
            .into_iter()
            .zip(receivers)
            .enumerate()
        {
            let (senders, in_flight, index, done) = (
                senders.clone(),
                Arc::clone(&in_flight),
                Arc::clone(&index),
                done_tx.clone(),
            );
            std::thread::spawn(move || {
                let mut delivered = Vec::new();
                let mut error = None;
                for cmd in rx {
                    match cmd {
                        Cmd::Stop => break,
                        Cmd::Kick => {}
                        Cmd::Message(m) => node.receive(m),
                    }
                    match node.run_until_idle(now) {
                        Ok(_) => {
                            for event in node.drain_events() {
                                match event {
                                    Event::Deliver(b) => delivered.push(b.content_id),
                                    Event::Send(out) => {
                                        if let Some(&j) = index.get(&out.peer) {
                                            in_flight.fetch_add(1, Ordering::SeqCst);
                                            let _ = senders[j].send(Cmd::Message(out.message));
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        Err(e) => error = Some(e),
                    }
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }
                let _ = done.send((i, node, delivered, error));
            });
        }
        drop(done_tx);
        senders.iter().for_each(|s| drop(s.send(Cmd::Kick)));
        while in_flight.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        senders.iter().for_each(|s| drop(s.send(Cmd::Stop)));
        let mut back: Vec<Option<Node>> = (0..n).map(|_| None).collect();
        let mut first_error = None;
        for (i, node, delivered, error) in done_rx {
            for id in delivered {
                self.delivered.entry(id).or_default().insert(i);
            }
            back[i] = Some(node);
            first_error = first_error.or(error);
        }
        self.nodes = back.into_iter().flatten().collect();
        first_error.map_or(Ok(()), Err)
    }

    fn report(
        &self,
        config: &SimConfig,
        bulletins: usize,
        coverage: Vec<f64>,
        ticks: Option<usize>,
        wall: Duration,
        notes: Vec<String>,
    ) -> Report {
        let mut messages = 0;
        let mut duplicates = 0;
        let mut drops = BTreeMap::new();
        for n in &self.nodes {
            let c = n.counters();
            messages += c.sent;
            duplicates += c.duplicates;
            for (k, v) in &c.drops {
                *drops.entry((*k).to_string()).or_default() += v;
            }
        }
        let mean_coverage = coverage.iter().sum::<f64>() / coverage.len().max(1) as f64;
        Report {
            scenario: config.scenario,
            mode: if config.threaded { "threaded" } else { "ticks" },
            nodes: config.nodes,
            degree: config.degree,
            links: self.links.len(),
            bulletins,
            coverage,
            mean_coverage,
            ticks,
            messages,
            messages_per_bulletin: messages as f64 / bulletins.max(1) as f64,
            flooding_bound: 2 * self.links.len() as u64,
            nodes_times_degree: (config.nodes * config.degree) as u64,
            duplicates,
            drops,
            wall_ms: wall.as_millis(),
            notes,
        }
    }
}
