//! Dissemination: which neighbours get a new bulletin, and how, as one
//! component (PlumTree: eager push along a tree, lazy announcements to the
//! other links, graft and prune). The wire format is in `docs/protocol.md`
//! ("Dissemination").
//!
//! - **Who speaks it.** A neighbour is handled here once it has advertised
//!   `plumtree-v1` in a request_sync_headers, or sent one of the
//!   extension's messages (which proves it speaks it). Every other
//!   neighbour is flooded: it gets every new bulletin, as from the
//!   original, and none of the extension's messages.
//! - **Eager and lazy.** A peer that speaks it starts eager. A new
//!   bulletin is pushed (store_and_forward) to the eager peers and its
//!   (topic id, content id) is queued for the lazy ones; the queue goes out
//!   every `announce_every` seconds as `announce` messages of up to
//!   [`MAX_ANNOUNCE_IDS`] ids, so one seal, signature and proof of work
//!   covers them all. A bulletin pushed to this node a second time makes
//!   the peer that sent it lazy (`prune`, both ends): what is left of the
//!   eager links is a tree.
//! - **Kept links.** Bulletins from several sources cross: two of them
//!   going round one cycle from two sides each come a second time over the
//!   link the other came first over, and pruning both links cuts the cycle
//!   twice. Pruning every link a duplicate came over cut nodes, and whole
//!   branches, off the tree, and what they missed came only by
//!   announcement and graft, seconds later. So a duplicate of a bulletin
//!   prunes nothing over a link that brought this node first, within the
//!   last one to two `graft_timeout` windows, a bulletin with a smaller key
//!   (topic id, content id): of two such crossing bulletins only the
//!   smaller's duplicate prunes, the same one at every node. The prune
//!   names the duplicate, and the other end applies the same order: it
//!   refuses the prune (an empty graft) when the link brought *it* a
//!   smaller key first. No link that brought the smallest recent key
//!   first is then cut at either end, so those links (a tree reaching
//!   every node it reached) stay. A node never prunes, nor lets a prune
//!   take, its last eager link either.
//! - **Agreement.** The two ends of a link are kept in agreement: a lazy
//!   peer that brings a bulletin first is made eager again with an empty
//!   graft; one that still pushes duplicates is pruned again (once a
//!   `graft_timeout` at most); a graft that times out makes the peer lazy
//!   with a prune. A prune taken after this node's last word to the peer
//!   was a graft may have crossed it (the peer then turns eager on the
//!   graft while this end turns lazy, and nothing goes to it any more): it
//!   is answered with a prune, so both ends end lazy. A graft is answered
//!   with the ids asked for and with those queued to be announced to the
//!   peer (pushed while the link was lazy at this end).
//! - **Repair.** An announced id that has not come `graft_timeout` seconds
//!   later is asked of its announcer (`graft`, which also makes the link
//!   eager again); one that does not come within another `graft_timeout`
//!   is asked of the next announcer, and the one that let it time out is
//!   struck (after [`MAX_STRIKES`] its announcements are ignored until it
//!   pushes a bulletin again). When every announcer failed, the topic is
//!   synced with another neighbour (at most [`MAX_FALLBACKS`] a window).
//!
//! One tree serves every topic: relays store and forward every topic they
//! see, so per-topic trees would only multiply the announcements. Every
//! state is bounded (see the constants); the component never touches the
//! queues, the store or the counters: it returns [`DisOut`]s.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::DropReason;
use super::sync::Held;
use crate::ids::{BulletinKey, ContentId, TopicId, content_id};
use crate::keys::Address;
use crate::operation::{Op, Payload};
use crate::store::StoreError;

/// Bytes of one id in an announce or graft: topic id (32) ‖ content id (32).
pub const ENTRY_LEN: usize = 64;

/// Most ids in one announce (16 KiB of payload); a longer one is
/// malformed and dropped whole.
pub const MAX_ANNOUNCE_IDS: usize = 256;

/// Most ids in one graft (2 KiB of payload); a longer one is malformed.
pub const MAX_GRAFT_IDS: usize = 32;

/// Default seconds between two announcements to one lazy peer.
pub const DEFAULT_ANNOUNCE_EVERY: Duration = Duration::from_secs(2);

/// Default seconds an announced id may take to come before it is grafted
/// (and a graft to be answered before the next announcer is asked).
pub const DEFAULT_GRAFT_TIMEOUT: Duration = Duration::from_secs(3);

/// Most announced ids waiting to come, from all peers (about 200 bytes
/// each): past it, announcements are counted `over_cap` and not taken.
pub const MAX_MISSING: usize = 4096;

/// Most announced ids one peer's announcements may keep waiting at once.
pub const MAX_MISSING_PER_PEER: usize = 1024;

/// Most announcers remembered for one id (the first to announce it).
pub const MAX_ANNOUNCERS: usize = 4;

/// Most ids outstanding in grafts to one peer; more wait for a later tick.
pub const MAX_GRAFTS_PER_PEER: usize = 64;

/// Most ids outstanding in grafts in all.
pub const MAX_GRAFTS: usize = 1024;

/// Most bulletins served to one peer's grafts per [`SERVE_WINDOW`]; the
/// ids past it are counted `over_cap` and not served.
pub const MAX_SERVED_PER_WINDOW: u64 = 256;

/// The window of [`MAX_SERVED_PER_WINDOW`], seconds.
pub const SERVE_WINDOW: u64 = 60;

/// Ids queued for one lazy peer at most; past it they are not announced
/// to it (counted `over_cap`; the peer's sync catches them).
pub const MAX_LAZY_QUEUE: usize = 8192;

/// Grafts a peer may let time out (without pushing a bulletin since)
/// before its announcements are ignored.
pub const MAX_STRIKES: u32 = 3;

/// Most sync fallbacks (every announcer of an id failed) per
/// [`FALLBACK_WINDOW`].
pub const MAX_FALLBACKS: u32 = 8;

/// The window of [`MAX_FALLBACKS`], seconds.
pub const FALLBACK_WINDOW: u64 = 30;

/// Most peers that speak it, tracked (about 100 bytes each, beside their
/// queues).
const MAX_PEERS: usize = 4096;

/// A count for the engine's [`super::Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tally {
    /// `announcements_sent`.
    AnnouncementSent,
    /// `announcements_received`.
    AnnouncementReceived,
    /// `grafts_sent`.
    GraftSent,
    /// `grafts_received`.
    GraftReceived,
    /// `prunes_sent`.
    PruneSent,
    /// `prunes_received`.
    PruneReceived,
    /// `repairs`: a bulletin that came in answer to a graft.
    Repair,
    /// `graft_timeouts`: a graft not answered in time.
    GraftTimeout,
    /// `graft_fallbacks`: every announcer failed; the topic is synced.
    Fallback,
}

/// One thing the dissemination component asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DisOut {
    /// Send `payload` (announce, graft or prune) to the peer.
    Send(Address, Payload),
    /// Forward the held bulletin with this key to the peer, as
    /// store_and_forward (an answer to its graft), if it is still held.
    Serve(Address, BulletinKey),
    /// Ask the peer about the topic (request_sync_headers): the backstop.
    Sync(Address, TopicId),
    /// Drop the received message for this reason.
    Dropped(DropReason),
    /// This many items passed a bound and were not taken (`over_cap`).
    OverCap(u64),
    /// Count this.
    Count(Tally),
}

/// What this node knows of one peer that speaks the extension.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Whether new bulletins are pushed to it (else announced).
    eager: bool,
    /// Ids waiting to be announced to it, in order; an id no longer in
    /// `queued` is skipped (the peer showed it holds it).
    queue: Vec<BulletinKey>,
    queued: HashSet<BulletinKey>,
    /// Missing ids whose announcers include it.
    waiting: usize,
    /// Ids outstanding in grafts to it.
    grafting: usize,
    /// Grafts it let time out since it last pushed a bulletin.
    strikes: u32,
    /// The start of its serve window and the ids served in it.
    served_since: u64,
    served: u64,
    /// When a prune was last sent to it.
    pruned_at: Option<u64>,
    /// Whether the last graft or prune sent to it was a graft: a prune
    /// from it may have crossed that graft (see [`Dissemination::take`]).
    grafted: bool,
    /// The smallest key of the bulletins it brought first in the window
    /// that began at `first_since` (`graft_timeout` seconds long), and in
    /// the window before it: a key is remembered one to two windows.
    first_min: Option<BulletinKey>,
    first_prev: Option<BulletinKey>,
    first_since: u64,
}

impl Peer {
    /// Starts a new window of `window` seconds if the current one is over
    /// at `now` (the current one's key moves to the previous window, or
    /// is forgotten when that window is over too).
    fn roll(&mut self, now: u64, window: u64) {
        if now < self.first_since.saturating_add(window) {
            return;
        }
        self.first_prev = if now < self.first_since.saturating_add(2 * window) {
            self.first_min
        } else {
            None
        };
        self.first_min = None;
        self.first_since = now;
    }

    /// Whether it brought this node first, in the last one to two windows
    /// of `window` seconds before `now`, a bulletin whose key is smaller
    /// than `key`.
    fn brought_below(&self, key: &BulletinKey, now: u64, window: u64) -> bool {
        let (cur, prev) = if now < self.first_since.saturating_add(window) {
            (self.first_min, self.first_prev)
        } else if now < self.first_since.saturating_add(2 * window) {
            (None, self.first_min)
        } else {
            (None, None)
        };
        [cur, prev].into_iter().flatten().any(|m| m < *key)
    }
}

/// An announced id this node does not hold yet.
#[derive(Clone, Debug)]
struct Missing {
    /// Its announcers, first first; those before `next` were asked.
    announcers: Vec<Address>,
    /// How many announcers were asked.
    next: usize,
    /// The peer its outstanding graft went to.
    asked: Option<Address>,
    /// When it is grafted (or, once grafted, given up on that peer).
    due: u64,
}

/// The dissemination component (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Dissemination {
    /// This node's address: with a peer's, it says whether their link is a
    /// shortcut.
    me: Address,
    /// Links kept eager whatever the duplicates, per 65,536.
    shortcuts: u16,
    enabled: bool,
    announce_every: u64,
    graft_timeout: u64,
    peers: HashMap<Address, Peer>,
    missing: HashMap<BulletinKey, Missing>,
    /// Ids outstanding in grafts, in all.
    grafting: usize,
    /// When the queued announcements go out; None when none is queued.
    next_announce: Option<u64>,
    /// The start of the fallback window and the fallbacks in it.
    fallback_since: u64,
    fallbacks: u32,
}

impl Dissemination {
    /// With the settings of `config`.
    pub fn new(config: &super::NodeConfig, me: Address) -> Self {
        Self {
            me,
            shortcuts: config.eager_shortcuts,
            enabled: config.dissemination,
            announce_every: config.announce_every.as_secs(),
            graft_timeout: config.graft_timeout.as_secs().max(1),
            peers: HashMap::new(),
            missing: HashMap::new(),
            grafting: 0,
            next_announce: None,
            fallback_since: 0,
            fallbacks: 0,
        }
    }

    /// Whether `peer` speaks it (as far as this node knows).
    pub fn speaks(&self, peer: &Address) -> bool {
        self.peers.contains_key(peer)
    }

    /// Whether `peer` is an eager peer that speaks it.
    pub fn is_eager(&self, peer: &Address) -> bool {
        self.peers.get(peer).is_some_and(|p| p.eager)
    }

    /// `peer`'s request_sync_headers said whether it speaks the extension:
    /// a peer that does starts eager; one that stopped is forgotten.
    pub fn advertised(&mut self, peer: Address, speaks: bool) {
        if !self.enabled {
            return;
        }
        if speaks {
            self.learn(peer);
        } else {
            self.forget_peer(&peer);
        }
    }

    /// Records that `peer` speaks it (eager to begin with); false when
    /// the peer table is full.
    fn learn(&mut self, peer: Address) -> bool {
        if self.peers.contains_key(&peer) {
            return true;
        }
        if self.peers.len() >= MAX_PEERS {
            return false;
        }
        self.peers.insert(
            peer,
            Peer {
                eager: true,
                ..Peer::default()
            },
        );
        true
    }

    /// Whether the link to `peer` is a shortcut, kept eager: SHA-256 of
    /// the two addresses (the lower first) says so for `shortcuts` links in
    /// 65,536, so both ends agree without a word: random links beside the
    /// tree, for shorter delivery paths at the cost of duplicates.
    fn is_shortcut(&self, peer: &Address) -> bool {
        if self.shortcuts == 0 {
            return false;
        }
        let (a, b) = if self.me.0 <= peer.0 {
            (&self.me.0, &peer.0)
        } else {
            (&peer.0, &self.me.0)
        };
        let h = content_id(&[&a[..], &b[..]].concat());
        u16::from_be_bytes([h.as_bytes()[0], h.as_bytes()[1]]) < self.shortcuts
    }

    /// Forgets `peer`: its queue, and its place among the announcers (an id
    /// grafted from it is grafted from the next announcer at once).
    pub fn forget_peer(&mut self, peer: &Address) {
        if self.peers.remove(peer).is_none() {
            return;
        }
        for m in self.missing.values_mut() {
            if let Some(i) = m.announcers.iter().position(|a| a == peer) {
                m.announcers.remove(i);
                if i < m.next {
                    m.next -= 1;
                }
            }
            if m.asked == Some(*peer) {
                m.asked = None;
                self.grafting = self.grafting.saturating_sub(1);
                m.due = 0;
            }
        }
        self.missing
            .retain(|_, m| m.asked.is_some() || m.next < m.announcers.len());
    }

    /// Whether announcements or grafts wait on time.
    pub fn pending(&self) -> bool {
        self.next_timeout().is_some()
    }

    /// When this component next needs [`Dissemination::tick`].
    pub fn next_timeout(&self) -> Option<u64> {
        let graft = self.missing.values().map(|m| m.due).min();
        [self.next_announce, graft].into_iter().flatten().min()
    }

    /// A new bulletin with `key`, from `from` (None: published here), to
    /// go on to `neighbours` (every neighbour but `from`): the ones it is
    /// pushed to now. The others that speak the extension get it
    /// announced. A push from a peer clears its strikes (the engine told
    /// [`Dissemination::brought`] already); a bulletin grafted from it is a
    /// repair.
    pub fn spread(
        &mut self,
        key: BulletinKey,
        from: Option<Address>,
        neighbours: &[Address],
        now: u64,
        out: &mut Vec<DisOut>,
    ) -> Vec<Address> {
        if !self.enabled {
            return neighbours.to_vec();
        }
        let mut known: Vec<Address> = Vec::new();
        if let Some(m) = self.missing.remove(&key) {
            self.release(&m);
            if m.asked.is_some() && m.asked == from {
                out.push(DisOut::Count(Tally::Repair));
            }
            known = m.announcers;
        }
        if let Some(p) = from.and_then(|f| self.peers.get_mut(&f)) {
            p.strikes = 0;
        }
        let mut eager = Vec::new();
        for &n in neighbours {
            match self.peers.get_mut(&n) {
                None => eager.push(n),
                Some(p) if p.eager => eager.push(n),
                Some(p) => {
                    if known.contains(&n) || p.queued.contains(&key) {
                        continue;
                    }
                    if p.queued.len() >= MAX_LAZY_QUEUE {
                        out.push(DisOut::OverCap(1));
                        continue;
                    }
                    p.queue.push(key);
                    p.queued.insert(key);
                    if self.next_announce.is_none() {
                        self.next_announce = Some(now.saturating_add(self.announce_every));
                    }
                }
            }
        }
        eager
    }

    /// Takes a missing id's books off its peers.
    fn release(&mut self, m: &Missing) {
        for a in &m.announcers {
            if let Some(p) = self.peers.get_mut(a) {
                p.waiting = p.waiting.saturating_sub(1);
            }
        }
        if let Some(a) = m.asked {
            self.grafting = self.grafting.saturating_sub(1);
            if let Some(p) = self.peers.get_mut(&a) {
                p.grafting = p.grafting.saturating_sub(1);
            }
        }
    }

    /// A bulletin new to this node, with `key`, came first from `peer`: the
    /// link remembers the smallest key it brought first in a
    /// `graft_timeout` window (see the module docs). A peer that was lazy
    /// here (a prune of ours crossed its push) is made eager again at both
    /// ends: an empty graft tells it.
    pub fn brought(&mut self, peer: Address, key: BulletinKey, now: u64, out: &mut Vec<DisOut>) {
        if !self.enabled {
            return;
        }
        let window = self.graft_timeout;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.roll(now, window);
        p.first_min = Some(p.first_min.map_or(key, |m| m.min(key)));
        if !p.eager {
            p.eager = true;
            p.grafted = true;
            out.push(DisOut::Send(peer, Payload::Tree(Op::Graft, Vec::new())));
            out.push(DisOut::Count(Tally::GraftSent));
        }
    }

    /// Whether the link to `peer` stays eager whatever the duplicates and
    /// prunes: it is this node's last eager link.
    fn kept(&self, peer: &Address) -> bool {
        self.peers.get(peer).is_some_and(|p| p.eager)
            && !self.peers.iter().any(|(a, p)| a != peer && p.eager)
    }

    /// A bulletin this node had already seen, with `key`, came pushed from
    /// `peer` again: the link is not needed for pushes, and is pruned (both
    /// ends) when the peer speaks the extension, unless it is kept or it
    /// brought a bulletin with a smaller key first in the window. A peer
    /// already lazy here that still pushes (it crossed or missed the last
    /// prune) is pruned again, once a `graft_timeout` at most (its pushes
    /// sent before the prune came are not answered one by one).
    pub fn duplicate(&mut self, peer: Address, key: BulletinKey, now: u64, out: &mut Vec<DisOut>) {
        if !self.enabled || self.is_shortcut(&peer) || self.kept(&peer) {
            return;
        }
        let again = self.graft_timeout;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.brought_below(&key, now, again) {
            // It brought a bulletin with a smaller key first: this prune
            // would be the second cut of a cycle two bulletins crossed.
            return;
        }
        if p.eager || p.pruned_at.is_none_or(|t| now >= t.saturating_add(again)) {
            p.eager = false;
            p.grafted = false;
            p.pruned_at = Some(now);
            // It names the duplicate, so the other end can check the
            // key order too.
            out.push(DisOut::Send(peer, Payload::Tree(Op::Prune, encode(&[key]))));
            out.push(DisOut::Count(Tally::PruneSent));
        }
    }

    /// An announce, graft or prune (`op`, with `body` after the operation
    /// byte) from `peer`, a neighbour (`neighbour`); what to do.
    pub fn take(
        &mut self,
        peer: Address,
        neighbour: bool,
        op: Op,
        body: &[u8],
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<DisOut>, StoreError> {
        let mut out = Vec::new();
        let drop = if !self.enabled {
            Some(DropReason::Unsupported)
        } else if !neighbour {
            Some(DropReason::Unsolicited)
        } else {
            None
        };
        if let Some(reason) = drop {
            out.push(DisOut::Dropped(reason));
            return Ok(out);
        }
        let Some(keys) = parse(op, body) else {
            out.push(DisOut::Dropped(DropReason::Malformed));
            return Ok(out);
        };
        if !self.learn(peer) {
            out.push(DisOut::Dropped(DropReason::OverCap));
            return Ok(out);
        }
        match op {
            Op::Announce => {
                out.push(DisOut::Count(Tally::AnnouncementReceived));
                self.take_announce(peer, keys, held, now, &mut out)?;
            }
            Op::Graft => {
                out.push(DisOut::Count(Tally::GraftReceived));
                self.take_graft(peer, keys, now, &mut out);
            }
            _ => {
                out.push(DisOut::Count(Tally::PruneReceived));
                let window = self.graft_timeout;
                let kept = self.kept(&peer);
                if let Some(p) = self.peers.get_mut(&peer) {
                    // A prune answering a duplicate with a key above one
                    // the peer brought this node first: the same cut the
                    // pruning end would not make (the module docs).
                    let below = keys
                        .first()
                        .is_some_and(|k| p.brought_below(k, now, window));
                    if kept || below {
                        // A kept link: refused, both ends stay eager.
                        p.eager = true;
                        p.grafted = true;
                        out.push(DisOut::Send(peer, Payload::Tree(Op::Graft, Vec::new())));
                        out.push(DisOut::Count(Tally::GraftSent));
                    } else {
                        p.eager = false;
                        if p.grafted {
                            // It may have sent this before our graft came,
                            // which makes it eager again there: a prune
                            // after the graft keeps the two ends agreeing.
                            p.grafted = false;
                            p.pruned_at = Some(now);
                            out.push(DisOut::Send(peer, Payload::Tree(Op::Prune, encode(&keys))));
                            out.push(DisOut::Count(Tally::PruneSent));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// An announcement: each id not held is remembered with its announcer
    /// (within the bounds) and grafted if it has not come in time.
    fn take_announce(
        &mut self,
        peer: Address,
        keys: Vec<BulletinKey>,
        held: &Held<'_>,
        now: u64,
        out: &mut Vec<DisOut>,
    ) -> Result<(), StoreError> {
        let mut over = 0;
        for key in keys {
            if held.has(&key, now)? {
                // It holds it: no need to announce it to it.
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.queued.remove(&key);
                }
                continue;
            }
            let Some(p) = self.peers.get(&peer) else {
                break;
            };
            if p.strikes >= MAX_STRIKES || p.waiting >= MAX_MISSING_PER_PEER {
                over += 1;
                continue;
            }
            let timeout = self.graft_timeout;
            match self.missing.get_mut(&key) {
                Some(m) => {
                    if m.announcers.contains(&peer) || m.announcers.len() >= MAX_ANNOUNCERS {
                        continue;
                    }
                    m.announcers.push(peer);
                }
                None => {
                    if self.missing.len() >= MAX_MISSING {
                        over += 1;
                        continue;
                    }
                    self.missing.insert(
                        key,
                        Missing {
                            announcers: vec![peer],
                            next: 0,
                            asked: None,
                            due: now.saturating_add(timeout),
                        },
                    );
                }
            }
            if let Some(p) = self.peers.get_mut(&peer) {
                p.waiting += 1;
            }
        }
        if over > 0 {
            out.push(DisOut::OverCap(over));
        }
        Ok(())
    }

    /// A graft: the link becomes eager, the ids asked for are
    /// served (those held; at most [`MAX_SERVED_PER_WINDOW`] a window), and
    /// so are the ids queued to be announced to the peer: pushed while the
    /// link was lazy here, they are pushed now.
    fn take_graft(
        &mut self,
        peer: Address,
        keys: Vec<BulletinKey>,
        now: u64,
        out: &mut Vec<DisOut>,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.eager = true;
        p.queued.retain(|k| !keys.contains(k));
        let queue = std::mem::take(&mut p.queue);
        for key in queue.into_iter().filter(|k| p.queued.remove(k)) {
            out.push(DisOut::Serve(peer, key));
        }
        p.queued.clear();
        if now >= p.served_since.saturating_add(SERVE_WINDOW) {
            p.served_since = now;
            p.served = 0;
        }
        let mut over = 0;
        for key in keys {
            if p.served >= MAX_SERVED_PER_WINDOW {
                over += 1;
                continue;
            }
            p.served += 1;
            out.push(DisOut::Serve(peer, key));
        }
        if over > 0 {
            out.push(DisOut::OverCap(over));
        }
    }

    /// Time passing: announcements due go out; ids not come in time are
    /// grafted from their next announcer; ids every announcer failed are
    /// given up and their topic synced.
    pub fn tick(&mut self, neighbours: &[Address], now: u64, out: &mut Vec<DisOut>) {
        if !self.enabled {
            return;
        }
        if self.next_announce.is_some_and(|t| now >= t) {
            self.announce(out);
        }
        let due: Vec<BulletinKey> = self
            .missing
            .iter()
            .filter(|(_, m)| m.due <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut grafts: HashMap<Address, Vec<BulletinKey>> = HashMap::new();
        let mut given_up: Vec<(BulletinKey, Vec<Address>)> = Vec::new();
        for key in due {
            let Some(mut m) = self.missing.remove(&key) else {
                continue;
            };
            let mut failed = Vec::new();
            if let Some(a) = m.asked.take() {
                // The graft went unanswered: strike the peer.
                out.push(DisOut::Count(Tally::GraftTimeout));
                self.grafting = self.grafting.saturating_sub(1);
                let kept = self.kept(&a);
                if let Some(p) = self.peers.get_mut(&a) {
                    p.grafting = p.grafting.saturating_sub(1);
                    p.strikes = p.strikes.saturating_add(1);
                    if p.eager && !kept {
                        // Lazy at both ends, as after a duplicate.
                        p.eager = false;
                        p.grafted = false;
                        p.pruned_at = Some(now);
                        out.push(DisOut::Send(a, Payload::Tree(Op::Prune, Vec::new())));
                        out.push(DisOut::Count(Tally::PruneSent));
                    }
                }
                failed.push(a);
            }
            let usable = |p: &Peer| p.strikes < MAX_STRIKES;
            let untried = m.announcers.get(m.next..).unwrap_or_default();
            let pick = untried.iter().position(|a| {
                self.peers
                    .get(a)
                    .is_some_and(|p| usable(p) && p.grafting < MAX_GRAFTS_PER_PEER)
            });
            match pick {
                Some(i) if self.grafting < MAX_GRAFTS => {
                    m.announcers.swap(m.next, m.next + i);
                    let a = m.announcers[m.next];
                    m.next += 1;
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.grafting += 1;
                        p.eager = true;
                        p.grafted = true;
                    }
                    self.grafting += 1;
                    m.asked = Some(a);
                    m.due = now.saturating_add(self.graft_timeout);
                    grafts.entry(a).or_default().push(key);
                    self.missing.insert(key, m);
                }
                _ if untried
                    .iter()
                    .any(|a| self.peers.get(a).is_some_and(usable)) =>
                {
                    // Its announcers are busy: try again in a second.
                    m.due = now.saturating_add(1);
                    self.missing.insert(key, m);
                }
                _ => {
                    self.release(&m);
                    failed.extend(m.announcers.iter().copied());
                    given_up.push((key, failed));
                }
            }
        }
        let mut peers: Vec<Address> = grafts.keys().copied().collect();
        peers.sort();
        for peer in peers {
            let Some(keys) = grafts.remove(&peer) else {
                continue;
            };
            for chunk in keys.chunks(MAX_GRAFT_IDS) {
                out.push(DisOut::Send(peer, Payload::Tree(Op::Graft, encode(chunk))));
                out.push(DisOut::Count(Tally::GraftSent));
            }
        }
        self.fall_back(given_up, neighbours, now, out);
    }

    /// Ids every announcer failed to serve: their topics are synced with a
    /// neighbour that did not fail them, within [`MAX_FALLBACKS`] a window.
    fn fall_back(
        &mut self,
        given_up: Vec<(BulletinKey, Vec<Address>)>,
        neighbours: &[Address],
        now: u64,
        out: &mut Vec<DisOut>,
    ) {
        if now >= self.fallback_since.saturating_add(FALLBACK_WINDOW) {
            self.fallback_since = now;
            self.fallbacks = 0;
        }
        let mut asked: HashSet<TopicId> = HashSet::new();
        for (BulletinKey { topic, .. }, failed) in given_up {
            out.push(DisOut::Count(Tally::Fallback));
            if asked.contains(&topic) || self.fallbacks >= MAX_FALLBACKS {
                continue;
            }
            let Some(&peer) = neighbours.iter().find(|n| {
                !failed.contains(n) && self.peers.get(n).is_none_or(|p| p.strikes < MAX_STRIKES)
            }) else {
                continue;
            };
            self.fallbacks += 1;
            asked.insert(topic);
            out.push(DisOut::Sync(peer, topic));
        }
    }

    /// Sends every lazy peer the ids queued for it, up to
    /// [`MAX_ANNOUNCE_IDS`] a message.
    fn announce(&mut self, out: &mut Vec<DisOut>) {
        self.next_announce = None;
        let mut peers: Vec<Address> = self.peers.keys().copied().collect();
        peers.sort();
        for peer in peers {
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            let queue = std::mem::take(&mut p.queue);
            let keys: Vec<BulletinKey> = queue.into_iter().filter(|k| p.queued.remove(k)).collect();
            p.queued.clear();
            for chunk in keys.chunks(MAX_ANNOUNCE_IDS) {
                out.push(DisOut::Send(
                    peer,
                    Payload::Tree(Op::Announce, encode(chunk)),
                ));
                out.push(DisOut::Count(Tally::AnnouncementSent));
            }
        }
    }
}

/// The ids of an announce, graft or prune, or None when the payload breaks
/// the format: not a whole number of entries, none in an announce, more
/// than the operation's cap (one for a prune: the duplicate it answers).
pub(crate) fn parse(op: Op, body: &[u8]) -> Option<Vec<BulletinKey>> {
    let (min, max) = match op {
        Op::Announce => (1, MAX_ANNOUNCE_IDS),
        Op::Graft => (0, MAX_GRAFT_IDS),
        Op::Prune => (0, 1),
        _ => return None,
    };
    if !body.len().is_multiple_of(ENTRY_LEN) {
        return None;
    }
    let n = body.len() / ENTRY_LEN;
    if n < min || n > max {
        return None;
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|e| {
            let topic: TopicId = e[..32].try_into().ok()?;
            let id: ContentId = e[32..].try_into().ok()?;
            Some(BulletinKey::new(topic, id))
        })
        .collect()
}

/// The entries of `keys`, topic id ‖ content id each.
pub(crate) fn encode(keys: &[BulletinKey]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * ENTRY_LEN);
    for key in keys {
        out.extend_from_slice(key.topic.as_bytes());
        out.extend_from_slice(key.content.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeConfig;
    use crate::node::seen::SeenSet;
    use crate::store::MemoryStore;

    fn on() -> Dissemination {
        Dissemination::new(
            &NodeConfig::builder()
                .dissemination(true)
                .eager_shortcuts(0)
                .build()
                .unwrap(),
            Address([0; 32]),
        )
    }

    fn peer(i: u8) -> Address {
        Address([i; 32])
    }

    fn key(i: u8) -> BulletinKey {
        BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([i; 32]))
    }

    fn announce(
        d: &mut Dissemination,
        from: Address,
        keys: &[BulletinKey],
        now: u64,
    ) -> Vec<DisOut> {
        let (store, seen) = (MemoryStore::new(), SeenSet::new(16));
        let held = Held {
            store: &store,
            seen: &seen,
        };
        d.take(from, true, Op::Announce, &encode(keys), &held, now)
            .unwrap()
    }

    fn grafts(out: &[DisOut]) -> Vec<(Address, Vec<BulletinKey>)> {
        out.iter()
            .filter_map(|o| match o {
                DisOut::Send(p, Payload::Tree(Op::Graft, body)) => {
                    Some((*p, parse(Op::Graft, body).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_formats_are_bounded_and_exact() {
        let keys: Vec<BulletinKey> = (0..3).map(key).collect();
        assert_eq!(parse(Op::Announce, &encode(&keys)), Some(keys.clone()));
        assert_eq!(parse(Op::Announce, &[]), None, "an empty announce");
        assert_eq!(parse(Op::Announce, &[0; 65]), None, "ragged");
        let many: Vec<BulletinKey> = (0..=MAX_GRAFT_IDS as u8).map(key).collect();
        assert_eq!(parse(Op::Graft, &encode(&many)), None);
        assert_eq!(parse(Op::Graft, &[]), Some(vec![]));
        assert_eq!(parse(Op::Prune, &[]), Some(vec![]));
        assert_eq!(parse(Op::Prune, &[0]), None);
        let all: Vec<BulletinKey> = (0..=255u8).map(key).collect();
        assert!(parse(Op::Announce, &encode(&all)).is_some());
        let over = [encode(&all), encode(&[key(0)])].concat();
        assert_eq!(parse(Op::Announce, &over), None);
    }

    #[test]
    fn an_id_not_come_in_time_is_grafted_then_asked_of_the_next_announcer() {
        let mut d = on();
        announce(&mut d, peer(1), &[key(9)], 100);
        announce(&mut d, peer(2), &[key(9)], 100);
        let t = DEFAULT_GRAFT_TIMEOUT.as_secs();
        assert_eq!(d.next_timeout(), Some(100 + t));
        let mut out = Vec::new();
        d.tick(&[], 100 + t - 1, &mut out);
        assert!(grafts(&out).is_empty(), "not yet");
        d.tick(&[], 100 + t, &mut out);
        assert_eq!(grafts(&out), vec![(peer(1), vec![key(9)])]);
        assert!(d.is_eager(&peer(1)), "a graft makes the link eager");
        let mut out = Vec::new();
        d.tick(&[], 100 + 2 * t, &mut out);
        assert_eq!(grafts(&out), vec![(peer(2), vec![key(9)])]);
        assert!(out.contains(&DisOut::Count(Tally::GraftTimeout)));
        assert!(!d.is_eager(&peer(1)), "the peer that failed is lazy again");
        let mut out = Vec::new();
        let eager = d.spread(
            key(9),
            Some(peer(2)),
            &[peer(1), peer(3)],
            101 + 2 * t,
            &mut out,
        );
        assert_eq!(
            eager,
            vec![peer(3)],
            "a peer that never spoke it is flooded"
        );
        assert!(out.contains(&DisOut::Count(Tally::Repair)));
        assert!(!d.pending(), "nothing waits");
    }

    #[test]
    fn every_announcer_failing_falls_back_to_sync_with_another_neighbour() {
        let mut d = on();
        announce(&mut d, peer(1), &[key(9)], 100);
        let mut out = Vec::new();
        let t = DEFAULT_GRAFT_TIMEOUT.as_secs();
        d.tick(&[peer(1), peer(5)], 100 + t, &mut out);
        d.tick(&[peer(1), peer(5)], 100 + 2 * t, &mut out);
        assert!(
            out.contains(&DisOut::Sync(peer(5), TopicId::from_bytes([1; 32]))),
            "{out:?}"
        );
        assert!(!d.pending());
    }

    fn take(d: &mut Dissemination, from: Address, op: Op, body: &[u8], now: u64) -> Vec<DisOut> {
        let (store, seen) = (MemoryStore::new(), SeenSet::new(16));
        let held = Held {
            store: &store,
            seen: &seen,
        };
        d.take(from, true, op, body, &held, now).unwrap()
    }

    fn sent(out: &[DisOut], to: Address) -> Vec<(Op, Vec<BulletinKey>)> {
        out.iter()
            .filter_map(|o| match o {
                DisOut::Send(p, Payload::Tree(op, body)) if *p == to => {
                    Some((*op, parse(*op, body).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_key_order_holds_at_both_ends_and_the_last_link_is_kept() {
        let mut d = on();
        for i in 1..=3 {
            d.advertised(peer(i), true);
        }
        let mut out = Vec::new();
        d.brought(peer(1), key(1), 100, &mut out);
        assert!(out.is_empty(), "an eager peer needs no graft");
        // A duplicate with a key above one it brought first prunes nothing;
        // one below does, and the prune names it.
        d.duplicate(peer(1), key(9), 100, &mut out);
        assert!(out.is_empty() && d.is_eager(&peer(1)), "it brought key 1");
        d.duplicate(peer(1), key(0), 100, &mut out);
        assert!(!d.is_eager(&peer(1)));
        assert_eq!(sent(&out, peer(1)), vec![(Op::Prune, vec![key(0)])]);
        // The other end's order: peer 2 brought key 1 first, so its prune
        // of a duplicate with key 5 is refused, and one with key 0 taken.
        d.brought(peer(2), key(1), 100, &mut out);
        let out = take(&mut d, peer(2), Op::Prune, &encode(&[key(5)]), 100);
        assert_eq!(sent(&out, peer(2)), vec![(Op::Graft, vec![])], "refused");
        assert!(d.is_eager(&peer(2)));
        let out = take(&mut d, peer(2), Op::Prune, &encode(&[key(0)]), 100);
        assert!(!d.is_eager(&peer(2)));
        assert_eq!(
            sent(&out, peer(2)),
            vec![(Op::Prune, vec![key(0)])],
            "taken, and answered: it may have crossed the refusal's graft"
        );
        // A key is remembered for one to two windows.
        d.brought(peer(2), key(1), 100, &mut Vec::new());
        let t = DEFAULT_GRAFT_TIMEOUT.as_secs();
        let out = take(&mut d, peer(2), Op::Prune, &encode(&[key(5)]), 100 + t);
        assert_eq!(sent(&out, peer(2)), vec![(Op::Graft, vec![])]);
        let out = take(&mut d, peer(2), Op::Prune, &encode(&[key(5)]), 100 + 2 * t);
        assert!(!d.is_eager(&peer(2)), "forgotten: taken");
        assert!(!sent(&out, peer(2)).contains(&(Op::Graft, vec![])));
        // Peer 3 is the last eager link: neither pruned nor prunable.
        let mut out = Vec::new();
        d.duplicate(peer(3), key(0), 100, &mut out);
        assert!(out.is_empty() && d.is_eager(&peer(3)));
        let out = take(&mut d, peer(3), Op::Prune, &[], 100);
        assert_eq!(sent(&out, peer(3)), vec![(Op::Graft, vec![])]);
        assert!(d.is_eager(&peer(3)));
    }

    #[test]
    fn the_two_ends_are_kept_in_agreement() {
        let mut d = on();
        for i in 1..=2 {
            d.advertised(peer(i), true);
        }
        let mut out = Vec::new();
        d.duplicate(peer(1), key(0), 100, &mut out);
        assert_eq!(out.len(), 2, "one prune: {out:?}");
        // It still pushes (the prune crossed its pushes): pruned again
        // once a graft_timeout at most.
        let mut out = Vec::new();
        d.duplicate(peer(1), key(0), 101, &mut out);
        assert!(out.is_empty());
        d.duplicate(
            peer(1),
            key(0),
            100 + DEFAULT_GRAFT_TIMEOUT.as_secs(),
            &mut out,
        );
        assert_eq!(out.len(), 2, "pruned again: {out:?}");
        // A bulletin it brings first makes it eager at both ends.
        let mut out = Vec::new();
        d.brought(peer(1), key(1), 200, &mut out);
        assert!(d.is_eager(&peer(1)));
        assert_eq!(sent(&out, peer(1)), vec![(Op::Graft, vec![])]);
        // Its prune of key 0 (below key 1) crossed that graft: the graft
        // makes it eager there, so this end answers with a prune, once.
        let out = take(&mut d, peer(1), Op::Prune, &encode(&[key(0)]), 200);
        assert!(!d.is_eager(&peer(1)));
        assert_eq!(sent(&out, peer(1)), vec![(Op::Prune, vec![key(0)])]);
        let out = take(&mut d, peer(1), Op::Prune, &encode(&[key(0)]), 200);
        assert!(sent(&out, peer(1)).is_empty(), "no echo of an echo");
    }

    #[test]
    fn announcements_are_batched_and_skip_what_the_peer_announced() {
        let mut d = on();
        for i in 1..=3 {
            d.advertised(peer(i), true);
        }
        let mut out = Vec::new();
        d.duplicate(peer(1), key(9), 100, &mut out);
        d.duplicate(peer(2), key(9), 100, &mut out);
        d.duplicate(peer(3), key(9), 100, &mut out);
        assert!(!d.is_eager(&peer(1)) && !d.is_eager(&peer(2)));
        assert!(d.is_eager(&peer(3)), "the last eager link is kept");
        announce(&mut d, peer(2), &[key(7)], 100);
        let mut out = Vec::new();
        for i in 0..3 {
            assert_eq!(
                d.spread(key(i), None, &[peer(1), peer(2), peer(3)], 100, &mut out),
                vec![peer(3)]
            );
        }
        d.spread(key(7), Some(peer(1)), &[peer(2)], 100, &mut out);
        let mut out = Vec::new();
        d.tick(&[], 100 + DEFAULT_ANNOUNCE_EVERY.as_secs() - 1, &mut out);
        assert!(out.is_empty(), "the batch waits");
        d.tick(&[], 100 + DEFAULT_ANNOUNCE_EVERY.as_secs(), &mut out);
        let sent: Vec<(Address, usize)> = out
            .iter()
            .filter_map(|o| match o {
                DisOut::Send(p, Payload::Tree(Op::Announce, b)) => Some((*p, b.len() / 64)),
                _ => None,
            })
            .collect();
        assert_eq!(sent, vec![(peer(1), 3), (peer(2), 3)], "one message each");
    }
}
