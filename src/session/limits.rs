//! Limits per source: how many connections one IP address may hold, how
//! many messages and bytes a second one IP address or one peer key may
//! send (token buckets with a burst), an allow list and a deny list, and a
//! shadow mode that counts what it would refuse without refusing it.
//!
//! A [`Limiter`] is pure logic with an explicit `now`: the driver asks it
//! about each accepted connection ([`Limiter::connection`]) and each
//! message before the message is verified ([`Limiter::message`]), and
//! does what the [`Verdict`] says. What it refused is counted in totals
//! ([`Limiter::totals`]) and, per source, in reports the driver takes once
//! per [`LimitsConfig::report_every`] ([`Limiter::handle_timeout`]), so a
//! flood is logged once an interval, never once a message.
//!
//! Memory is bounded: the buckets tracked take at most
//! [`LimitsConfig::memory`] bytes (a bucket that has filled up again is
//! forgotten: it would start full anyway), and sources past that share one
//! bucket per kind (IP addresses, peers) until room is made.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::keys::Address;

/// How often what was refused is reported, by default.
pub const DEFAULT_REPORT_EVERY: Duration = Duration::from_secs(10);
/// Bytes the tracked buckets may take, by default.
pub const DEFAULT_LIMITS_MEMORY: usize = 1 << 20;
/// How often, at most, a full table is swept for buckets to forget.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A rate with a burst: `per_second` on average, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    per_second: u64,
    burst: u64,
}

impl Rate {
    /// `per_second` on average and as much at once; None when 0.
    pub fn new(per_second: u64) -> Option<Self> {
        (per_second > 0).then_some(Self {
            per_second,
            burst: per_second,
        })
    }

    /// The same average, up to `burst` at once; None when 0. (Two steps,
    /// so a rate and a burst, both counts, cannot be passed swapped.)
    pub fn with_burst(self, burst: u64) -> Option<Self> {
        (burst > 0).then_some(Self { burst, ..self })
    }

    /// The average, a second.
    pub fn per_second(&self) -> u64 {
        self.per_second
    }

    /// How much may come at once.
    pub fn burst(&self) -> u64 {
        self.burst
    }
}

/// A list of sources: IP addresses or ranges (`10.0.0.0/8`, `::1`) and
/// peer addresses (64 hex digits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessList {
    nets: Vec<IpNet>,
    peers: BTreeSet<Address>,
}

/// An entry of an [`AccessList`] that is neither an IP address, a range,
/// nor a peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEntry(pub String);

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an IP address, an address range (ADDR/BITS) or a peer address (64 hex digits)",
            self.0
        )
    }
}

impl std::error::Error for BadEntry {}

impl AccessList {
    /// Adds an IP address, a range or a peer address, as text.
    pub fn add(&mut self, entry: &str) -> Result<(), BadEntry> {
        let entry = entry.trim();
        if let Ok(net) = IpNet::from_str(entry) {
            self.nets.push(net.trunc());
        } else if let Ok(ip) = IpAddr::from_str(entry) {
            self.nets.push(IpNet::from(ip));
        } else if let Ok(peer) = Address::from_str(entry) {
            self.peers.insert(peer);
        } else {
            return Err(BadEntry(entry.to_string()));
        }
        Ok(())
    }

    /// Whether `ip` is on the list (an IPv4 address mapped into IPv6 is
    /// taken as the IPv4 address).
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether `peer` is on the list.
    pub fn has_peer(&self, peer: &Address) -> bool {
        self.peers.contains(peer)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.peers.is_empty()
    }
}

/// What a [`Limiter`] enforces. The default limits nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Accepted connections one IP address may hold at once.
    pub connections_per_ip: Option<u32>,
    /// Messages a second from one IP address.
    pub messages_per_ip: Option<Rate>,
    /// Message bytes a second from one IP address.
    pub bytes_per_ip: Option<Rate>,
    /// Messages a second from one peer (the key its connection is bound to).
    pub messages_per_peer: Option<Rate>,
    /// Message bytes a second from one peer.
    pub bytes_per_peer: Option<Rate>,
    /// Sources no limit applies to; the allow list wins over the deny list.
    pub allow: AccessList,
    /// Sources refused: an IP address at accept, a peer's messages (by
    /// their signer or the connection's peer) before they are verified.
    pub deny: AccessList,
    /// Count what would be refused, refuse nothing.
    pub shadow: bool,
    /// How often what was refused is reported, per source.
    pub report_every: Duration,
    /// Bytes the tracked buckets may take.
    pub memory: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            connections_per_ip: None,
            messages_per_ip: None,
            bytes_per_ip: None,
            messages_per_peer: None,
            bytes_per_peer: None,
            allow: AccessList::default(),
            deny: AccessList::default(),
            shadow: false,
            report_every: DEFAULT_REPORT_EVERY,
            memory: DEFAULT_LIMITS_MEMORY,
        }
    }
}

impl LimitsConfig {
    /// Whether anything is limited or listed.
    pub fn is_active(&self) -> bool {
        self.connections_per_ip.is_some()
            || self.messages_per_ip.is_some()
            || self.bytes_per_ip.is_some()
            || self.messages_per_peer.is_some()
            || self.bytes_per_peer.is_some()
            || !self.deny.is_empty()
    }
}

/// Where something came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Source {
    /// An IP address.
    Ip(IpAddr),
    /// A peer, by its key.
    Peer(Address),
    /// IP addresses past the memory bound, together.
    OtherIps,
    /// Peers past the memory bound, together.
    OtherPeers,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Peer(peer) => write!(f, "{peer}"),
            Self::OtherIps => f.write_str("other IP addresses"),
            Self::OtherPeers => f.write_str("other peers"),
        }
    }
}

/// Why something is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The source is on the deny list.
    Denied(Source),
    /// The IP address holds as many connections as it may.
    Connections(Source),
    /// The source sent more messages or bytes than its rate.
    Rate(Source),
}

/// A [`Limiter`]'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Pass,
    /// Refuse it.
    Refuse(Refusal),
    /// It would be refused, but the limiter is in shadow mode: take it.
    Shadow(Refusal),
}

impl Verdict {
    /// Whether to refuse it.
    pub fn refuses(&self) -> bool {
        matches!(self, Self::Refuse(_))
    }
}

/// What was refused (or, in shadow mode, would have been).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// Connections refused by the per-IP cap.
    pub connections: u64,
    /// Connections refused by the deny list.
    pub denied_connections: u64,
    /// Messages refused by a rate.
    pub messages: u64,
    /// The bytes of those messages.
    pub bytes: u64,
    /// Messages refused by the deny list.
    pub denied_messages: u64,
}

impl Refused {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// What one source had refused since the last report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The source.
    pub source: Source,
    /// What it had refused.
    pub refused: Refused,
    /// Counted in shadow mode: nothing was refused.
    pub shadow: bool,
}

/// A token bucket: `tokens` at `last`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst as f64,
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let burst = rate.burst as f64;
        self.tokens = (self.tokens + elapsed * rate.per_second as f64).min(burst);
        self.last = self.last.max(now);
    }

    /// Whether `cost` can be taken: it fits, or the bucket is full (so a
    /// message larger than the burst still goes, and the bucket owes it).
    fn fits(&self, rate: Rate, cost: f64) -> bool {
        self.tokens >= cost || self.tokens >= rate.burst as f64
    }

    fn is_full(&self, rate: Rate) -> bool {
        self.tokens >= rate.burst as f64
    }
}

/// One source's buckets and what it had refused since the last report.
#[derive(Clone, Debug, Default)]
struct Entry {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
    refused: Refused,
}

/// The limits per source of one node: connections per IP address,
/// messages and bytes a second per IP address and per peer with a burst,
/// an allow list and a deny list, a shadow mode. Ask it about each
/// accepted connection ([`Limiter::connection`]) and each message before
/// it is verified ([`Limiter::message`]); take its reports once an
/// interval ([`Limiter::poll_timeout`], [`Limiter::handle_timeout`]).
/// What it tracks is bounded by [`LimitsConfig::memory`].
#[derive(Debug)]
pub struct Limiter {
    config: LimitsConfig,
    entries: HashMap<Source, Entry>,
    /// Entries kept, at most (from the memory bound).
    max_entries: usize,
    /// Accepted connections open, per IP address.
    open: HashMap<IpAddr, u32>,
    totals: Refused,
    last_report: Option<Instant>,
    /// When the first refusal not yet reported was counted.
    first_pending: Option<Instant>,
    last_sweep: Option<Instant>,
}

impl Limiter {
    /// A limiter enforcing `config`.
    pub fn new(config: LimitsConfig) -> Self {
        let per_entry = 2 * std::mem::size_of::<(Source, Entry)>();
        Self {
            max_entries: (config.memory / per_entry).max(1),
            config,
            entries: HashMap::new(),
            open: HashMap::new(),
            totals: Refused::default(),
            last_report: None,
            first_pending: None,
            last_sweep: None,
        }
    }

    /// Enforces `config` from now on (a reload): the connections open per
    /// IP address, the refusals counted and those not yet reported stay;
    /// the buckets start again, full.
    pub fn reconfigure(&mut self, config: LimitsConfig) {
        let per_entry = 2 * std::mem::size_of::<(Source, Entry)>();
        self.max_entries = (config.memory / per_entry).max(1);
        self.config = config;
        self.entries.clear();
    }

    /// What it enforces.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Whether it limits or lists anything at all.
    pub fn is_active(&self) -> bool {
        self.config.is_active()
    }

    /// A listener accepted a connection from `ip`. Unless the verdict
    /// refuses it, the connection counts against `ip` until
    /// [`Limiter::disconnected`].
    pub fn connection(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let ip = ip.to_canonical();
        if self.config.allow.has_ip(ip) {
            *self.open.entry(ip).or_default() += 1;
            return Verdict::Pass;
        }
        let verdict = if self.config.deny.has_ip(ip) {
            let source = self.count(Source::Ip(ip), now, |r| r.denied_connections += 1);
            self.verdict(Refusal::Denied(source))
        } else if self
            .config
            .connections_per_ip
            .is_some_and(|cap| self.open.get(&ip).copied().unwrap_or(0) >= cap)
        {
            let source = self.count(Source::Ip(ip), now, |r| r.connections += 1);
            self.verdict(Refusal::Connections(source))
        } else {
            Verdict::Pass
        };
        if !verdict.refuses() {
            *self.open.entry(ip).or_default() += 1;
        }
        verdict
    }

    /// A connection from `ip` that [`Limiter::connection`] let in ended.
    pub fn disconnected(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(n) = self.open.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.open.remove(&ip);
            }
        }
    }

    /// Connections open from `ip`, as counted here.
    pub fn connections_from(&self, ip: IpAddr) -> u32 {
        self.open.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// A message of `bytes` came, before it is verified: over a connection
    /// from `ip` (None for a socket without one), bound to `peer` (None
    /// while the connection names nobody), signed by `src` as it claims.
    /// A message whose claimed signer or peer is denied is refused (its
    /// signer is denied, or it is forged); else the IP address's rates,
    /// then the peer's, each taken only when both its buckets have room.
    pub fn message(
        &mut self,
        ip: Option<IpAddr>,
        peer: Option<Address>,
        src: Address,
        bytes: usize,
        now: Instant,
    ) -> Verdict {
        let ip = ip.map(|ip| ip.to_canonical());
        let allowed_ip = ip.is_some_and(|ip| self.config.allow.has_ip(ip));
        let allowed = |p: &Address| self.config.allow.has_peer(p);
        if allowed_ip || peer.as_ref().is_some_and(allowed) {
            return Verdict::Pass;
        }
        let denied = [Some(src), peer]
            .into_iter()
            .flatten()
            .find(|p| !allowed(p) && self.config.deny.has_peer(p));
        if let Some(denied) = denied {
            let source = self.count(Source::Peer(denied), now, |r| r.denied_messages += 1);
            return self.verdict(Refusal::Denied(source));
        }
        let (ip_rates, peer_rates) = (
            (self.config.messages_per_ip, self.config.bytes_per_ip),
            (self.config.messages_per_peer, self.config.bytes_per_peer),
        );
        let sources = [
            ip.map(|ip| (Source::Ip(ip), ip_rates)),
            peer.map(|p| (Source::Peer(p), peer_rates)),
        ];
        for (source, (messages, byte_rate)) in sources.into_iter().flatten() {
            if messages.is_none() && byte_rate.is_none() {
                continue;
            }
            let source = self.slot(source, now);
            let Some(entry) = self.entries.get_mut(&source) else {
                continue;
            };
            let cost = bytes as f64;
            let room = take(&mut entry.messages, messages, 1.0, now, false)
                && take(&mut entry.bytes, byte_rate, cost, now, false);
            if room {
                take(&mut entry.messages, messages, 1.0, now, true);
                take(&mut entry.bytes, byte_rate, cost, now, true);
            } else {
                let bytes = bytes as u64;
                let source = self.count(source, now, |r| {
                    r.messages += 1;
                    r.bytes += bytes;
                });
                return self.verdict(Refusal::Rate(source));
            }
        }
        Verdict::Pass
    }

    /// Everything refused so far (or, in shadow mode, that would have
    /// been).
    pub fn totals(&self) -> Refused {
        self.totals
    }

    /// When [`Limiter::handle_timeout`] next has a report to give.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = self.first_pending?;
        match self.last_report {
            Some(at) => at
                .checked_add(self.config.report_every)
                .map(|t| t.max(first)),
            // The first refusal is reported at once.
            None => self.first_pending,
        }
    }

    /// Once every [`LimitsConfig::report_every`]: what each source had
    /// refused since the last report, and buckets that filled up again are
    /// forgotten.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Report> {
        let due = self
            .last_report
            .is_none_or(|at| now.saturating_duration_since(at) >= self.config.report_every);
        if !due {
            return Vec::new();
        }
        let reports = self.flush();
        if !reports.is_empty() {
            self.last_report = Some(now);
        }
        let every = self.config.report_every;
        if self
            .last_sweep
            .is_none_or(|at| now.saturating_duration_since(at) >= every)
        {
            self.sweep(now);
        }
        reports
    }

    /// What each source had refused since the last report, now (when the
    /// node stops, say).
    pub fn flush(&mut self) -> Vec<Report> {
        let shadow = self.config.shadow;
        let mut reports: Vec<Report> = self
            .entries
            .iter_mut()
            .filter(|(_, e)| !e.refused.is_zero())
            .map(|(source, e)| Report {
                source: *source,
                refused: std::mem::take(&mut e.refused),
                shadow,
            })
            .collect();
        reports.sort_by_key(|r| r.source);
        self.first_pending = None;
        reports
    }

    /// Sources tracked (their buckets, or what they had refused).
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    // ---- Internals ----

    fn verdict(&self, why: Refusal) -> Verdict {
        if self.config.shadow {
            Verdict::Shadow(why)
        } else {
            Verdict::Refuse(why)
        }
    }

    /// Counts a refusal against `source` (or the shared source it is kept
    /// under) and in the totals; returns the source counted.
    fn count(&mut self, source: Source, now: Instant, add: impl Fn(&mut Refused)) -> Source {
        add(&mut self.totals);
        self.first_pending.get_or_insert(now);
        let source = self.slot(source, now);
        if let Some(entry) = self.entries.get_mut(&source) {
            add(&mut entry.refused);
        }
        source
    }

    /// The source `source` is kept under: its own entry, made if there is
    /// room, else the shared one of its kind.
    fn slot(&mut self, source: Source, now: Instant) -> Source {
        if self.entries.contains_key(&source) {
            return source;
        }
        if self.entries.len() >= self.max_entries
            && self
                .last_sweep
                .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY)
        {
            self.sweep(now);
        }
        let shared = match source {
            Source::Ip(_) | Source::OtherIps => Source::OtherIps,
            Source::Peer(_) | Source::OtherPeers => Source::OtherPeers,
        };
        // Past the bound a source shares its kind's entry (the two shared
        // entries are the only ones made past it).
        let source = if self.entries.len() >= self.max_entries {
            shared
        } else {
            source
        };
        self.entries.entry(source).or_default();
        source
    }

    /// Forgets the entries with nothing to report whose buckets are full
    /// again: a new one would start the same.
    fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        let c = &self.config;
        self.entries.retain(|source, e| {
            let (messages, bytes) = match source {
                Source::Ip(_) | Source::OtherIps => (c.messages_per_ip, c.bytes_per_ip),
                Source::Peer(_) | Source::OtherPeers => (c.messages_per_peer, c.bytes_per_peer),
            };
            let idle = |b: &mut Option<Bucket>, rate: Option<Rate>| match (b.as_mut(), rate) {
                (Some(b), Some(rate)) => {
                    b.refill(rate, now);
                    b.is_full(rate)
                }
                _ => true,
            };
            let forget =
                e.refused.is_zero() && idle(&mut e.messages, messages) && idle(&mut e.bytes, bytes);
            !forget
        });
    }
}

/// Whether `cost` fits the bucket (made full on first use) at `rate`;
/// takes it when `commit`. No rate: always fits.
fn take(
    bucket: &mut Option<Bucket>,
    rate: Option<Rate>,
    cost: f64,
    now: Instant,
    commit: bool,
) -> bool {
    let Some(rate) = rate else { return true };
    let b = bucket.get_or_insert_with(|| Bucket::full(rate, now));
    b.refill(rate, now);
    if !b.fits(rate, cost) {
        return false;
    }
    if commit {
        b.tokens -= cost;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_rate_is_its_average_and_a_burst_of_as_much_unless_told() {
        let r = Rate::new(10).unwrap();
        assert_eq!((r.per_second(), r.burst()), (10, 10));
        let r = r.with_burst(25).unwrap();
        assert_eq!((r.per_second(), r.burst()), (10, 25));
        assert_eq!(Rate::new(0), None);
        assert_eq!(Rate::new(1).and_then(|r| r.with_burst(0)), None);
    }

    fn rated(config: impl FnOnce(&mut LimitsConfig)) -> Limiter {
        let mut c = LimitsConfig::default();
        config(&mut c);
        Limiter::new(c)
    }

    /// Messages of `bytes` from `from` at `now`, `n` of them: how many pass.
    fn passed(l: &mut Limiter, from: IpAddr, peer: Option<Address>, n: u32, now: Instant) -> u32 {
        (0..n)
            .filter(|_| {
                !l.message(Some(from), peer, Address([9; 32]), 100, now)
                    .refuses()
            })
            .count() as u32
    }

    #[test]
    fn a_flood_from_one_ip_is_cut_to_its_burst_then_its_rate_and_another_ip_is_untouched() {
        let mut l = rated(|c| c.messages_per_ip = Rate::new(10).and_then(|r| r.with_burst(20)));
        let t = Instant::now();
        assert_eq!(passed(&mut l, ip("10.0.0.1"), None, 1000, t), 20);
        assert_eq!(passed(&mut l, ip("10.0.0.2"), None, 15, t), 15);
        // Half a second later, five more; three seconds later, the burst.
        assert_eq!(passed(&mut l, ip("10.0.0.1"), None, 1000, t + SEC / 2), 5);
        assert_eq!(passed(&mut l, ip("10.0.0.1"), None, 1000, t + 4 * SEC), 20);
        let totals = l.totals();
        assert_eq!(totals.messages, 3 * 1000 - 45);
        assert_eq!(totals.bytes, (3 * 1000 - 45) * 100);
    }

    #[test]
    fn a_peer_key_is_limited_wherever_it_connects_from() {
        let mut l = rated(|c| c.messages_per_peer = Rate::new(5));
        let (t, flood, calm) = (Instant::now(), Address([1; 32]), Address([2; 32]));
        assert_eq!(passed(&mut l, ip("10.0.0.1"), Some(flood), 50, t), 5);
        assert_eq!(passed(&mut l, ip("10.0.0.2"), Some(flood), 50, t), 0);
        assert_eq!(passed(&mut l, ip("10.0.0.1"), Some(calm), 5, t), 5);
        // Unbound (no peer yet): no per-peer limit applies.
        assert_eq!(passed(&mut l, ip("10.0.0.1"), None, 50, t), 50);
        assert_eq!(l.totals().messages, 95);
    }

    #[test]
    fn bytes_are_limited_and_a_message_larger_than_the_burst_goes_when_the_bucket_is_full() {
        let mut l = rated(|c| c.bytes_per_ip = Rate::new(1000));
        let (t, a, src) = (Instant::now(), Some(ip("10.0.0.1")), Address([9; 32]));
        assert!(!l.message(a, None, src, 600, t).refuses());
        assert!(l.message(a, None, src, 600, t).refuses());
        // Full again after a second: a 5,000-byte message goes, and the
        // bucket owes it for five seconds.
        assert!(!l.message(a, None, src, 5000, t + SEC).refuses());
        assert!(l.message(a, None, src, 1, t + 5 * SEC).refuses());
        assert!(!l.message(a, None, src, 1, t + 6 * SEC).refuses());
        assert_eq!(l.totals().bytes, 601);
    }

    #[test]
    fn the_nth_plus_one_connection_from_an_ip_is_refused_until_one_closes() {
        let mut l = rated(|c| c.connections_per_ip = Some(3));
        let t = Instant::now();
        let verdicts: Vec<_> = (0..4).map(|_| l.connection(ip("10.0.0.1"), t)).collect();
        assert_eq!(&verdicts[..3], &[Verdict::Pass; 3]);
        assert_eq!(
            verdicts[3],
            Verdict::Refuse(Refusal::Connections(Source::Ip(ip("10.0.0.1"))))
        );
        assert_eq!(l.connection(ip("10.0.0.2"), t), Verdict::Pass);
        l.disconnected(ip("10.0.0.1"));
        assert_eq!(l.connection(ip("10.0.0.1"), t), Verdict::Pass);
        // An IPv4 address mapped into IPv6 is the same source.
        assert!(l.connection(ip("::ffff:10.0.0.1"), t).refuses());
        assert_eq!(l.totals().connections, 2);
    }

    #[test]
    fn a_reload_keeps_the_connections_open_and_applies_the_new_limits() {
        let mut l = rated(|c| c.connections_per_ip = Some(2));
        let t = Instant::now();
        assert_eq!(l.connection(ip("10.0.0.1"), t), Verdict::Pass);
        assert_eq!(l.connection(ip("10.0.0.1"), t), Verdict::Pass);
        // Down to one a source, and a denied range: the two still open
        // count, so a third is refused; the range is refused at once.
        let reloaded = rated(|c| {
            c.connections_per_ip = Some(1);
            c.deny.add("10.9.0.0/16").unwrap();
        });
        l.reconfigure(reloaded.config().clone());
        assert_eq!(l.connections_from(ip("10.0.0.1")), 2);
        assert!(l.connection(ip("10.0.0.1"), t).refuses());
        assert!(matches!(
            l.connection(ip("10.9.0.1"), t),
            Verdict::Refuse(Refusal::Denied(_))
        ));
        l.disconnected(ip("10.0.0.1"));
        l.disconnected(ip("10.0.0.1"));
        assert_eq!(l.connection(ip("10.0.0.1"), t), Verdict::Pass);
        assert_eq!(l.totals().connections, 1);
    }

    #[test]
    fn deny_refuses_ips_and_keys_allow_wins_and_exempts_from_limits() {
        let mut l = rated(|c| {
            c.connections_per_ip = Some(1);
            c.messages_per_ip = Rate::new(1);
            c.deny.add("10.0.0.0/8").unwrap();
            c.deny.add(&Address([6; 32]).to_string()).unwrap();
            c.allow.add("10.1.2.3").unwrap();
        });
        let t = Instant::now();
        assert!(matches!(
            l.connection(ip("10.9.9.9"), t),
            Verdict::Refuse(Refusal::Denied(_))
        ));
        assert!(l.connection(ip("192.168.0.1"), t) == Verdict::Pass);
        for _ in 0..3 {
            assert_eq!(l.connection(ip("10.1.2.3"), t), Verdict::Pass);
        }
        assert_eq!(passed(&mut l, ip("10.1.2.3"), None, 50, t), 50);
        let denied = l.message(Some(ip("192.168.0.1")), None, Address([6; 32]), 10, t);
        assert_eq!(
            denied,
            Verdict::Refuse(Refusal::Denied(Source::Peer(Address([6; 32]))))
        );
        let totals = l.totals();
        assert_eq!((totals.denied_connections, totals.denied_messages), (1, 1));
        assert_eq!(totals.messages, 0);
    }

    #[test]
    fn access_lists_take_ips_ranges_and_peers_and_refuse_anything_else() {
        let mut list = AccessList::default();
        for good in [
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            "fd00::/8",
            &Address([3; 32]).to_string(),
        ] {
            list.add(good).unwrap();
        }
        assert!(list.has_ip(ip("10.200.0.1")) && list.has_ip(ip("fd12::1")));
        assert!(!list.has_ip(ip("11.0.0.1")));
        assert!(list.has_peer(&Address([3; 32])));
        for bad in ["", "10.0.0.0/33", "localhost", "abcd"] {
            assert!(list.add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shadow_mode_counts_what_it_would_refuse_and_refuses_nothing() {
        let mut l = rated(|c| {
            c.shadow = true;
            c.connections_per_ip = Some(1);
            c.messages_per_ip = Rate::new(10);
        });
        let t = Instant::now();
        assert_eq!(passed(&mut l, ip("10.0.0.1"), None, 100, t), 100);
        assert!(matches!(l.connection(ip("10.0.0.1"), t), Verdict::Pass));
        assert!(matches!(
            l.connection(ip("10.0.0.1"), t),
            Verdict::Shadow(_)
        ));
        assert_eq!((l.totals().messages, l.totals().connections), (90, 1));
        let reports = l.handle_timeout(t);
        assert!(reports.iter().all(|r| r.shadow));
    }

    #[test]
    fn refusals_are_reported_at_once_then_once_an_interval_per_source() {
        let mut l = rated(|c| {
            c.messages_per_ip = Rate::new(1);
            c.report_every = 10 * SEC;
        });
        let t = Instant::now();
        assert_eq!(l.poll_timeout(), None);
        passed(&mut l, ip("10.0.0.1"), None, 5, t);
        passed(&mut l, ip("10.0.0.2"), None, 3, t);
        assert_eq!(l.poll_timeout(), Some(t));
        let first = l.handle_timeout(t);
        let counts: Vec<_> = first
            .iter()
            .map(|r| (r.source, r.refused.messages))
            .collect();
        assert_eq!(
            counts,
            [
                (Source::Ip(ip("10.0.0.1")), 4),
                (Source::Ip(ip("10.0.0.2")), 2)
            ]
        );
        // A thousand more within the interval: one report, at its end.
        for i in 0..1000 {
            passed(&mut l, ip("10.0.0.1"), None, 1, t + SEC + i * (SEC / 1000));
        }
        assert_eq!(l.poll_timeout(), Some(t + 10 * SEC));
        assert!(l.handle_timeout(t + 5 * SEC).is_empty());
        let second = l.handle_timeout(t + 10 * SEC);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].refused.messages, 1000 - 1);
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn memory_is_bounded_sources_past_it_share_and_full_buckets_are_forgotten() {
        let mut l = rated(|c| {
            c.messages_per_ip = Rate::new(1);
            c.memory = 64 * 2 * std::mem::size_of::<(Source, Entry)>();
        });
        let t = Instant::now();
        let many = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..10_000 {
            passed(&mut l, many(i), None, 1, t);
        }
        assert!(l.tracked() <= 64 + 2, "{}", l.tracked());
        // Past the bound they share one bucket: most are refused.
        assert!(l.totals().messages > 9_000);
        // A second later every bucket is full again, and is forgotten.
        l.handle_timeout(t + 2 * SEC);
        l.handle_timeout(t + 20 * SEC);
        assert_eq!(l.tracked(), 0);
    }
}
