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
//! of work, a node that joins late and catches up by sync, a partition
//! that heals, and churn (a fifth of the nodes leave while bulletins
//! spread).
//!
//! Each run can be made with flooding, with the dissemination extension
//! (PlumTree), or with both on the same network, seed and publishers, side
//! by side ([`SimConfig::dissemination`]). For each it measures, over the
//! bulletins of the scenario: coverage, relative message redundancy
//! (bulletin-carrying messages received ÷ (nodes reached − 1) − 1), the
//! last delivery hop (in ticks from publication), messages, bytes and
//! crypto operations per delivered bulletin, and repairs. A PlumTree run
//! first lets every link advertise the extension (a sync request from each
//! end) and spreads one warm-up bulletin, so the tree is formed; neither is
//! counted in its figures.

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
use crate::ids::{BulletinKey, ContentId, topic_id};
use crate::keys::{Address, Seed};
use crate::message::HEADER_LEN;
use crate::message::Message;
use crate::node::{Event, Node, NodeConfig, NodeError, Outbound};
use crate::operation::{Op, Payload};
use crate::pow::{Difficulty, Mined, Progress, mine, search_start, ts_of};
use crate::time::Timestamp;

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
    /// A fifth of the nodes (never a publisher) leave while the bulletins
    /// spread: half after the first tick, half after the second.
    Churn,
}

/// How new bulletins spread in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dissemination {
    /// Every node forwards each new bulletin to every neighbour but the
    /// sender (the original's way).
    Flood,
    /// The dissemination extension: eager push along a tree, batched lazy
    /// announcements, graft and prune.
    Plumtree,
    /// Both, one after the other on the same network and publishers.
    Both,
}

impl Dissemination {
    /// The single modes this one runs, in order.
    fn modes(self) -> &'static [Dissemination] {
        match self {
            Self::Flood => &[Self::Flood],
            Self::Plumtree => &[Self::Plumtree],
            Self::Both => &[Self::Flood, Self::Plumtree],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Plumtree => "plumtree",
            Self::Both => "both",
        }
    }
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
    /// Flooding, the dissemination extension, or both side by side.
    pub dissemination: Dissemination,
    /// Seconds (ticks) between announcements to one lazy peer, in a
    /// PlumTree run.
    pub announce_every: u64,
    /// Seconds (ticks) a PlumTree node waits for an announced bulletin
    /// before it grafts.
    pub graft_timeout: u64,
    /// Links kept eager whatever the duplicates, per 65,536, in a
    /// PlumTree run ([`NodeConfig::eager_shortcuts`]).
    pub eager_shortcuts: u16,
    /// Share of the nodes that leave in the churn scenario.
    pub churn: f64,
    /// Publish every bulletin at node 0 (the node the warm-up bulletin
    /// starts from, so the tree is a shortest-path tree from it), not at
    /// random nodes (flood, churn and spam).
    pub one_publisher: bool,
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
            dissemination: Dissemination::Flood,
            announce_every: crate::node::DEFAULT_ANNOUNCE_EVERY.as_secs(),
            graft_timeout: crate::node::DEFAULT_GRAFT_TIMEOUT.as_secs(),
            eager_shortcuts: 0,
            churn: 0.2,
            one_publisher: false,
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
    /// The figures of each run (flooding and/or PlumTree), side by side;
    /// the fields above are the first run's.
    pub runs: Vec<RunReport>,
}

/// The figures of one run, over the scenario's bulletins (the spam
/// scenario's good ones; setup and warm-up not counted). Crypto operations: 3 for each message sent (seal,
/// sign, mine) and 3 for each received (proof of work check, signature
/// check, open), plus 1 for each bulletin a received message carries (its
/// proof of work check).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `flood` or `plumtree`.
    pub dissemination: &'static str,
    /// Mean share of the nodes (those still up) that delivered each bulletin.
    pub coverage: f64,
    /// The lowest share.
    pub min_coverage: f64,
    /// Relative message redundancy, the mean over bulletins of
    /// bulletin-carrying messages received ÷ (nodes reached − 1) − 1: 0 when
    /// each node got each bulletin once.
    pub redundancy: f64,
    /// The most ticks from a bulletin's publication to a delivery of it.
    pub last_hop: u64,
    /// The mean ticks from publication to delivery.
    pub mean_hop: f64,
    /// Deliveries (a node, a bulletin).
    pub deliveries: u64,
    /// Messages sent.
    pub messages: u64,
    /// Bytes of messages sent (header and body).
    pub bytes: u64,
    /// Crypto operations (see the type's docs).
    pub crypto_ops: u64,
    /// Messages sent per delivery.
    pub messages_per_delivery: f64,
    /// Bytes per delivery.
    pub bytes_per_delivery: f64,
    /// Crypto operations per delivery.
    pub crypto_per_delivery: f64,
    /// Messages that carried a bulletin.
    pub bulletin_messages: u64,
    /// Announcements sent.
    pub announcements: u64,
    /// Grafts sent.
    pub grafts: u64,
    /// Prunes sent.
    pub prunes: u64,
    /// Bulletins that came in answer to a graft.
    pub repairs: u64,
    /// Grafts not answered in time.
    pub graft_timeouts: u64,
    /// Messages of the setup (advertisements) and warm-up, not counted above.
    pub setup_messages: u64,
    /// Links pushed over (one per direction: a node pushes new bulletins
    /// to that neighbour at once) when the scenario began: 2 × links when
    /// flooding, 2 × (nodes − 1) when the warm-up left exactly a tree.
    pub eager_links: u64,
    /// Ticks the scenario ran.
    pub ticks: usize,
}

/// Runs a simulation: each run of [`SimConfig::dissemination`] on the same
/// network, seed and publishers. The report's top-level figures are the
/// first run's; [`Report::runs`] has each run's side by side.
pub fn run(config: &SimConfig) -> Result<Report, NodeError> {
    let modes = config.dissemination.modes();
    let mut runs = Vec::new();
    let mut first = None;
    for &mode in modes {
        let (report, figures) = run_one(config, mode)?;
        runs.push(figures);
        if first.is_none() {
            first = Some(report);
        }
    }
    let mut report = match first {
        Some(r) => r,
        None => run_one(config, Dissemination::Flood)?.0,
    };
    report.runs = runs;
    Ok(report)
}

/// One run of the scenario with `mode` (flood or plumtree).
fn run_one(config: &SimConfig, mode: Dissemination) -> Result<(Report, RunReport), NodeError> {
    let started = Instant::now();
    let mut net = Network::build(config, mode)?;
    let threaded = config.threaded && mode == Dissemination::Flood;
    if mode == Dissemination::Plumtree {
        net.negotiate_and_warm_up(config)?;
    }
    net.eager_links = net.count_eager_links();
    let mut notes = Vec::new();
    let mut published = Vec::new();
    let mut ticks = None;
    match config.scenario {
        Scenario::Flood | Scenario::Spam if threaded => {
            published = net.publish_all(config, None)?;
            if config.scenario == Scenario::Spam {
                published.extend(net.spam(config)?);
            }
            net.run_threaded()?;
        }
        Scenario::Flood | Scenario::Spam => {
            published = net.publish_all(config, None)?;
            if config.scenario == Scenario::Spam {
                published.extend(net.spam(config)?);
            }
            ticks = Some(net.run_ticks(config.max_ticks)?);
        }
        Scenario::LateJoin => {
            let late = net.nodes.len() - 1;
            let links = net.isolate(late);
            published = net.publish_all(config, Some(late))?;
            let mut t = net.run_ticks(config.max_ticks)?;
            let before = net.holders(&published, late);
            net.relink(late, &links);
            let peers: Vec<Address> = links.iter().map(|&i| net.nodes[i].address()).collect();
            for peer in peers {
                net.nodes[late].request_sync(peer, topic_id(TOPIC));
            }
            t += net.run_ticks(config.max_ticks)?;
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
                published.extend(net.publish_in(config, side)?);
            }
            t += net.run_ticks(config.max_ticks)?;
            let during = coverage(&net, &published);
            net.heal(&cut);
            let topic = topic_id(TOPIC);
            for &(a, b) in &cut {
                let (pa, pb) = (net.nodes[a].address(), net.nodes[b].address());
                net.nodes[a].request_sync(pb, topic);
                net.nodes[b].request_sync(pa, topic);
            }
            t += net.run_ticks(config.max_ticks)?;
            ticks = Some(t);
            let mean = |c: &[f64]| c.iter().sum::<f64>() / c.len().max(1) as f64;
            notes.push(format!(
                "{} links cut; mean coverage {:.3} during the partition, {:.3} after it healed",
                cut.len(),
                mean(&during),
                mean(&coverage(&net, &published))
            ));
        }
        Scenario::Churn => {
            published = net.publish_all(config, None)?;
            let mut stay: Vec<usize> = (0..net.nodes.len())
                .filter(|i| !net.publishers.contains(i))
                .collect();
            stay.shuffle(&mut net.rng);
            let leave = ((config.churn.clamp(0.0, 1.0) * net.nodes.len() as f64).round() as usize)
                .min(stay.len());
            let (first, second) = stay[..leave].split_at(leave / 2);
            let (first, second) = (first.to_vec(), second.to_vec());
            let mut t = net.run_ticks(1)?;
            net.leave(&first);
            t += net.run_ticks(1)?;
            net.leave(&second);
            t += net.run_ticks(config.max_ticks)?;
            ticks = Some(t);
            let up = net.nodes.len() - net.down.len();
            let full = (0..net.nodes.len())
                .filter(|i| !net.down.contains(i))
                .filter(|&i| net.holders(&published, i) == published.len())
                .count();
            notes.push(format!(
                "{leave} of {} nodes left while the bulletins spread; {full} of the {up} left hold every bulletin",
                net.nodes.len()
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
    // The figures are over the bulletins meant to spread (not the spam).
    let good = if config.scenario == Scenario::Spam {
        config.bulletins.min(published.len())
    } else {
        published.len()
    };
    let figures = net.figures(
        mode,
        &published[..good],
        &coverage[..good],
        ticks.unwrap_or(0),
    );
    let report = net.report(
        config,
        published.len(),
        coverage,
        ticks,
        started.elapsed(),
        notes,
    );
    Ok((report, figures))
}

/// Share of the nodes still up that delivered each bulletin.
fn coverage(net: &Network, published: &[ContentId]) -> Vec<f64> {
    let up = (net.nodes.len() - net.down.len()).max(1);
    published
        .iter()
        .map(|id| {
            net.delivered
                .get(id)
                .map_or(0, |s| s.iter().filter(|i| !net.down.contains(i)).count())
                as f64
                / up as f64
        })
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

/// Messages moved and what they cost, counted as they move.
#[derive(Clone, Debug, Default)]
struct Tally {
    messages: u64,
    bytes: u64,
    crypto: u64,
    bulletin_messages: u64,
    /// Bulletin-carrying messages received, by content id.
    receipts: HashMap<ContentId, u64>,
}

impl Tally {
    /// A message sent; `received` when it reached a node that is up.
    fn count(&mut self, out: &Outbound, received: bool) {
        self.messages += 1;
        self.bytes += (HEADER_LEN + out.message.body().len()) as u64;
        self.crypto += 3;
        if received {
            self.crypto += 3;
            if let Some(BulletinKey { content: id, .. }) = out.bulletin {
                self.crypto += 1;
                self.bulletin_messages += 1;
                *self.receipts.entry(id).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.crypto += other.crypto;
        self.bulletin_messages += other.bulletin_messages;
        for (id, n) in other.receipts {
            *self.receipts.entry(id).or_default() += n;
        }
    }
}

/// Nodes, their links, and who delivered what.
struct Network {
    nodes: Vec<Node>,
    index: HashMap<Address, usize>,
    links: BTreeSet<(usize, usize)>,
    delivered: HashMap<ContentId, BTreeSet<usize>>,
    rng: StdRng,
    message_difficulty: u32,
    /// The clock: one second a tick.
    now: u64,
    /// Nodes that left (churn): they neither run nor receive.
    down: BTreeSet<usize>,
    /// The nodes that published.
    publishers: BTreeSet<usize>,
    /// When each bulletin of the scenario was published.
    published_at: HashMap<ContentId, u64>,
    /// The most ticks from publication to a delivery.
    last_hop: u64,
    /// The sum of ticks from publication to delivery.
    hops: u64,
    /// Deliveries of the scenario's bulletins.
    deliveries: u64,
    tally: Tally,
    /// Messages of the setup and warm-up.
    setup_messages: u64,
    /// Links pushed over, one per direction, when the scenario began.
    eager_links: u64,
    /// Each node's counters when the scenario began.
    baseline: Vec<crate::node::Counters>,
}

impl Network {
    fn build(config: &SimConfig, mode: Dissemination) -> Result<Self, NodeError> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let node_config = NodeConfig::builder()
            .bulletin_difficulty(config.bulletin_difficulty)
            .message_difficulty(config.message_difficulty)
            .dissemination(mode == Dissemination::Plumtree)
            .announce_every(Duration::from_secs(config.announce_every))
            .graft_timeout(Duration::from_secs(config.graft_timeout))
            .eager_shortcuts(config.eager_shortcuts)
            .build()?;
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
        for &(a, b) in &links {
            let (pa, pb) = (nodes[a].address(), nodes[b].address());
            // Addresses come from real keys, so connecting cannot fail.
            let _ = nodes[a].add_neighbour(pb, config.message_difficulty);
            let _ = nodes[b].add_neighbour(pa, config.message_difficulty);
        }
        let baseline = vec![crate::node::Counters::default(); nodes.len()];
        Ok(Self {
            nodes,
            index,
            links,
            delivered: HashMap::new(),
            rng,
            message_difficulty: config.message_difficulty,
            now: 1_764_000_000,
            down: BTreeSet::new(),
            publishers: BTreeSet::new(),
            published_at: HashMap::new(),
            last_hop: 0,
            hops: 0,
            deliveries: 0,
            tally: Tally::default(),
            setup_messages: 0,
            eager_links: 0,
            baseline,
        })
    }

    /// The PlumTree setup: both ends of every link ask the other about the
    /// topic (a request_sync_headers that advertises the extension), as
    /// relays do when a peer comes up, then one warm-up bulletin spreads
    /// and its duplicates prune the links to a tree. None of it is counted
    /// in the figures.
    ///
    /// With one end asking, the other end only learned the extension from
    /// the prune or announcement it later got, and a node that knew a
    /// single neighbour spoke it kept that link eager as its "last eager
    /// link" although it pushed to the others too: about 235 links beside
    /// the tree stayed eager at 1,000 nodes (redundancy 0.47).
    fn negotiate_and_warm_up(&mut self, config: &SimConfig) -> Result<(), NodeError> {
        let topic = topic_id(TOPIC);
        let links: Vec<(usize, usize)> = self.links.iter().copied().collect();
        for (a, b) in links {
            let (pa, pb) = (self.nodes[a].address(), self.nodes[b].address());
            self.nodes[a].request_sync(pb, topic);
            self.nodes[b].request_sync(pa, topic);
        }
        self.run_ticks(config.max_ticks)?;
        let mut warm = Bulletin::new(
            topic,
            format!("warm-up of seed {}", config.seed).into_bytes(),
            ts_of(self.now),
        );
        let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5741_524d);
        if let Mined::Found(n) = mine(
            &warm.work(),
            Difficulty::new(config.bulletin_difficulty),
            search_start(&mut rng),
            &Progress::default(),
        ) {
            warm.nonce = n;
        }
        self.nodes[0].publish(warm, Timestamp::from_secs(self.now))?;
        self.run_ticks(config.max_ticks)?;
        self.setup_messages = self.tally.messages;
        self.tally = Tally::default();
        self.baseline = self.nodes.iter().map(|n| n.counters().clone()).collect();
        Ok(())
    }

    /// Links pushed over, one per direction: a node and a neighbour it
    /// pushes new bulletins to at once.
    fn count_eager_links(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.neighbours().filter(|c| n.pushes_to(&c.peer())).count() as u64)
            .sum()
    }

    /// A bulletin mined at the bulletin difficulty.
    fn bulletin(&mut self, config: &SimConfig, i: usize) -> Bulletin {
        let mut b = Bulletin::new(
            topic_id(TOPIC),
            format!("bulletin {i} of seed {}", config.seed).into_bytes(),
            ts_of(self.now),
        );
        if let Mined::Found(n) = mine(
            &b.work(),
            Difficulty::new(config.bulletin_difficulty),
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
        skip: Option<usize>,
    ) -> Result<Vec<ContentId>, NodeError> {
        let candidates: Vec<usize> = if config.one_publisher && skip != Some(0) {
            vec![0]
        } else {
            (0..self.nodes.len()).filter(|&i| Some(i) != skip).collect()
        };
        self.publish_among(config, &candidates, 0)
    }

    /// Publishes the configured bulletins at random nodes of `side`.
    fn publish_in(
        &mut self,
        config: &SimConfig,
        side: std::ops::Range<usize>,
    ) -> Result<Vec<ContentId>, NodeError> {
        let candidates: Vec<usize> = side.clone().collect();
        self.publish_among(config, &candidates, side.start)
    }

    fn publish_among(
        &mut self,
        config: &SimConfig,
        candidates: &[usize],
        salt: usize,
    ) -> Result<Vec<ContentId>, NodeError> {
        let mut ids = Vec::new();
        for i in 0..config.bulletins {
            let b = self.bulletin(config, i + salt * 1_000_003);
            let at = *candidates.choose(&mut self.rng).unwrap_or(&0);
            ids.push(b.content_id);
            self.published_at.insert(b.content_id, self.now);
            self.publishers.insert(at);
            self.nodes[at].publish(b, Timestamp::from_secs(self.now))?;
        }
        Ok(ids)
    }

    /// A spammer (node 0) sends its neighbours bulletins with too little
    /// proof of work, bypassing its own checks.
    fn spam(&mut self, config: &SimConfig) -> Result<Vec<ContentId>, NodeError> {
        let peers: Vec<Address> = self.nodes[0].neighbours().map(|c| c.peer()).collect();
        let mut ids = Vec::new();
        for i in 0..config.bulletins {
            let mut b = Bulletin::new(
                topic_id(TOPIC),
                format!("spam {i}").into_bytes(),
                ts_of(self.now),
            );
            while b.work().meets(config.bulletin_difficulty.max(1)) {
                b.nonce += 1;
            }
            ids.push(b.content_id);
            let payload = Payload::Bulletin(Op::StoreAndForward, b);
            for &peer in &peers {
                self.nodes[0].send(peer, &payload, Timestamp::from_secs(self.now))?;
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

    /// These nodes leave: their links are cut, and they neither run nor
    /// receive from now on.
    fn leave(&mut self, nodes: &[usize]) {
        for &i in nodes {
            self.isolate(i);
            self.down.insert(i);
        }
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
    fn holders(&self, ids: &[ContentId], i: usize) -> usize {
        ids.iter()
            .filter(|id| self.delivered.get(*id).is_some_and(|s| s.contains(&i)))
            .count()
    }

    /// A delivery of `id` at node `i`, now.
    fn delivered(&mut self, id: ContentId, i: usize) {
        self.delivered.entry(id).or_default().insert(i);
        if let Some(&at) = self.published_at.get(&id) {
            self.deliveries += 1;
            self.last_hop = self.last_hop.max(self.now - at);
            self.hops += self.now - at;
        }
    }

    /// Ticks until quiet (no message moved, no announcement or graft
    /// waiting), at most `max_ticks`: every node that is up runs its queues
    /// and its timers (nodes in parallel), then messages move, and the
    /// clock moves one second.
    fn run_ticks(&mut self, max_ticks: usize) -> Result<usize, NodeError> {
        for tick in 0..max_ticks {
            let now = self.now;
            let down = &self.down;
            self.nodes
                .par_iter_mut()
                .enumerate()
                .filter(|(i, _)| !down.contains(i))
                .try_for_each(|(_, n)| -> Result<(), NodeError> {
                    n.run_until_idle(Timestamp::from_secs(now))?;
                    n.handle_timeout(Timestamp::from_secs(now))?;
                    n.run_until_idle(Timestamp::from_secs(now))?;
                    Ok(())
                })?;
            let mut moved = 0;
            for i in 0..self.nodes.len() {
                if self.down.contains(&i) {
                    continue;
                }
                let events: Vec<Event> = self.nodes[i].drain_events().collect();
                for event in events {
                    match event {
                        Event::Deliver(b) => self.delivered(b.content_id, i),
                        Event::Send(out) => {
                            let to = self.index.get(&out.peer).copied();
                            let up = to.filter(|j| !self.down.contains(j));
                            self.tally.count(&out, up.is_some());
                            if let Some(j) = up {
                                self.nodes[j].receive(out.message);
                                moved += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.now += 1;
            let waiting = moved > 0
                || self
                    .nodes
                    .iter()
                    .enumerate()
                    .any(|(i, n)| !self.down.contains(&i) && n.dissemination_pending());
            if !waiting {
                return Ok(tick + 1);
            }
        }
        Ok(max_ticks)
    }

    /// One thread per node; messages over channels; ends when nothing is
    /// in flight (every message sent is counted before it is sent and
    /// uncounted after its receiver has run its queues). Flooding only: no
    /// timers run.
    fn run_threaded(&mut self) -> Result<(), NodeError> {
        let now = self.now;
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
                let mut tally = Tally::default();
                let mut error = None;
                for cmd in rx {
                    match cmd {
                        Cmd::Stop => break,
                        Cmd::Kick => {}
                        Cmd::Message(m) => node.receive(m),
                    }
                    match node.run_until_idle(Timestamp::from_secs(now)) {
                        Ok(_) => {
                            for event in node.drain_events() {
                                match event {
                                    Event::Deliver(b) => delivered.push(b.content_id),
                                    Event::Send(out) => {
                                        let to = index.get(&out.peer).copied();
                                        tally.count(&out, to.is_some());
                                        if let Some(j) = to {
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
                let _ = done.send((i, node, delivered, tally, error));
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
        for (i, node, delivered, tally, error) in done_rx {
            for id in delivered {
                self.delivered(id, i);
            }
            self.tally.merge(tally);
            back[i] = Some(node);
            first_error = first_error.or(error);
        }
        self.nodes = back.into_iter().flatten().collect();
        first_error.map_or(Ok(()), Err)
    }

    /// The figures of this run (see [`RunReport`]).
    fn figures(
        &self,
        mode: Dissemination,
        published: &[ContentId],
        coverage: &[f64],
        ticks: usize,
    ) -> RunReport {
        let mut redundancy = Vec::new();
        for id in published {
            let reached = self.delivered.get(id).map_or(0, BTreeSet::len);
            if reached >= 2 {
                let got = self.tally.receipts.get(id).copied().unwrap_or(0);
                redundancy.push(got as f64 / (reached - 1) as f64 - 1.0);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let mut c = crate::node::Counters::default();
        for (n, base) in self.nodes.iter().zip(&self.baseline) {
            let now = n.counters();
            c.announcements_sent += now.announcements_sent - base.announcements_sent;
            c.grafts_sent += now.grafts_sent - base.grafts_sent;
            c.prunes_sent += now.prunes_sent - base.prunes_sent;
            c.repairs += now.repairs - base.repairs;
            c.graft_timeouts += now.graft_timeouts - base.graft_timeouts;
        }
        let per = |x: u64| x as f64 / self.deliveries.max(1) as f64;
        RunReport {
            dissemination: mode.name(),
            coverage: mean(coverage),
            min_coverage: coverage.iter().copied().fold(1.0, f64::min),
            redundancy: mean(&redundancy),
            last_hop: self.last_hop,
            mean_hop: self.hops as f64 / self.deliveries.max(1) as f64,
            deliveries: self.deliveries,
            messages: self.tally.messages,
            bytes: self.tally.bytes,
            crypto_ops: self.tally.crypto,
            messages_per_delivery: per(self.tally.messages),
            bytes_per_delivery: per(self.tally.bytes),
            crypto_per_delivery: per(self.tally.crypto),
            bulletin_messages: self.tally.bulletin_messages,
            announcements: c.announcements_sent,
            grafts: c.grafts_sent,
            prunes: c.prunes_sent,
            repairs: c.repairs,
            graft_timeouts: c.graft_timeouts,
            setup_messages: self.setup_messages,
            eager_links: self.eager_links,
            ticks,
        }
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
            runs: Vec::new(),
        }
    }
}
