//! What an operator sees of a networked node: its engine's counters, the
//! endpoint's connection counters and each peer's, as Prometheus text
//! (for node_exporter's textfile collector) and as a JSON status line.
//! Rendering only: where the text goes is the caller's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::keys::Address;
use crate::node::Counters;
use crate::session::{PeerStats, Refused};
use crate::time::Timestamp;

/// What happened to a node's connections, counted from the endpoint's
/// [`ConnEvent`](super::ConnEvent)s and the session's reasons for closing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetCounters {
    /// Connections opened (accepted or dialed).
    pub opened: u64,
    /// Accepted connections closed at once (too many open), and accept()
    /// failures.
    pub refused: u64,
    /// Connections closed for junk or broken framing.
    pub junk: u64,
    /// Connections closed for making no progress: no whole frame within
    /// the idle timeout of the last one.
    pub idle: u64,
    /// Accepted connections closed for sending no valid message within
    /// the bind timeout.
    pub unbound: u64,
    /// Unbound connections closed to make room when the table was full.
    pub evicted: u64,
    /// Connections closed after too many invalid messages.
    pub invalid: u64,
    /// Dials that failed (each retried).
    pub dial_failures: u64,
    /// Accepted connections closed as they opened: their IP address held
    /// as many as the limits allow. (In shadow mode, here and below: what
    /// would have been refused, and was not.)
    pub limited_connections: u64,
    /// Accepted connections closed as they opened: their IP address is
    /// denied.
    pub denied_connections: u64,
    /// Messages dropped before verification: over their IP address's or
    /// their peer's rate.
    pub limited_messages: u64,
    /// The bytes of those messages.
    pub limited_bytes: u64,
    /// Messages dropped before verification: their signer (or their
    /// connection's peer) is denied.
    pub denied_messages: u64,
}

impl NetCounters {
    /// The limits' totals ([`Limiter::totals`](crate::session::Limiter::totals)).
    pub fn limited(&mut self, refused: Refused) {
        self.limited_connections = refused.connections;
        self.denied_connections = refused.denied_connections;
        self.limited_messages = refused.messages;
        self.limited_bytes = refused.bytes;
        self.denied_messages = refused.denied_messages;
    }

    /// Each counter with its name, in a fixed order.
    pub fn fields(&self) -> [(&'static str, u64); 13] {
        [
            ("connections_opened", self.opened),
            ("connections_refused", self.refused),
            ("connections_junk", self.junk),
            ("connections_idle", self.idle),
            ("connections_unbound", self.unbound),
            ("connections_evicted", self.evicted),
            ("connections_invalid", self.invalid),
            ("dial_failures", self.dial_failures),
            ("limited_connections", self.limited_connections),
            ("denied_connections", self.denied_connections),
            ("limited_messages", self.limited_messages),
            ("limited_bytes", self.limited_bytes),
            ("denied_messages", self.denied_messages),
        ]
    }
}

impl std::fmt::Display for NetCounters {
    /// `name=value` pairs, space-separated.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .fields()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// The Prometheus text exposition of a node's counters (families
/// `gossip_relay_*_total`), its connection counters, and one sample per
/// peer in each `gossip_peer_*` family.
pub fn prometheus(
    node: &Counters,
    net: &NetCounters,
    peers: &BTreeMap<Address, PeerStats>,
) -> String {
    let mut out = String::new();
    for (name, value) in node.fields() {
        let metric = format!("gossip_relay_{}_total", name.replace('.', "_"));
        let _ = writeln!(out, "# TYPE {metric} counter\n{metric} {value}");
    }
    for (name, value) in net.fields() {
        let metric = format!("gossip_relay_{name}_total");
        let _ = writeln!(out, "# TYPE {metric} counter\n{metric} {value}");
    }
    type Value = fn(&PeerStats) -> Option<u64>;
    let families: [(&str, &str, Value); 5] = [
        ("gossip_peer_connected", "gauge", |s| Some(s.connected)),
        ("gossip_peer_sent_total", "counter", |s| Some(s.sent)),
        ("gossip_peer_received_total", "counter", |s| {
            Some(s.received)
        }),
        ("gossip_peer_dropped_total", "counter", |s| Some(s.dropped)),
        ("gossip_peer_last_seen_seconds", "gauge", |s| {
            s.last_seen.map(Timestamp::as_secs)
        }),
    ];
    for (metric, kind, value) in families {
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        for (peer, stats) in peers {
            if let Some(v) = value(stats) {
                let _ = writeln!(out, "{metric}{{peer=\"{peer}\"}} {v}");
            }
        }
    }
    out
}

/// One JSON status line (`"type":"relay_status"`) at `now` (seconds since
/// the epoch): the node's counters, the connection counters and each
/// peer's.
pub fn status_line(
    now: Timestamp,
    node: &Counters,
    net: &NetCounters,
    peers: &BTreeMap<Address, PeerStats>,
) -> String {
    let counters: serde_json::Map<String, serde_json::Value> = node
        .fields()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .chain(net.fields().iter().map(|(k, v)| (k.to_string(), json!(v))))
        .collect();
    let peers: Vec<serde_json::Value> = peers
        .iter()
        .map(|(peer, s)| {
            json!({
                "peer": peer.to_string(),
                "connected": s.connected,
                "sent": s.sent,
                "received": s.received,
                "dropped": s.dropped,
                "last_seen": s.last_seen.map(Timestamp::as_secs),
            })
        })
        .collect();
    json!({"type": "relay_status", "now": now.as_secs(), "counters": counters, "peers": peers})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_a_type_line_per_family_and_a_sample_per_peer() {
        let mut node = Counters {
            received: 3,
            ..Counters::default()
        };
        node.drop_for(crate::Reason::TooOld);
        let peers = BTreeMap::from([(
            Address([7; 32]),
            PeerStats {
                connected: 1,
                sent: 2,
                last_seen: Some(Timestamp::from_secs(5)),
                ..PeerStats::default()
            },
        )]);
        let net = NetCounters {
            limited_messages: 4,
            ..NetCounters::default()
        };
        let text = prometheus(&node, &net, &peers);
        assert!(text.contains(
            "# TYPE gossip_relay_limited_messages_total counter\ngossip_relay_limited_messages_total 4\n"
        ));
        assert!(text.contains(
            "# TYPE gossip_relay_received_total counter\ngossip_relay_received_total 3\n"
        ));
        assert!(text.contains("gossip_relay_drop_too_old_total 1\n"));
        let peer = Address([7; 32]).to_string();
        assert!(text.contains(&format!("gossip_peer_sent_total{{peer=\"{peer}\"}} 2\n")));
        assert!(text.contains(&format!(
            "gossip_peer_last_seen_seconds{{peer=\"{peer}\"}} 5\n"
        )));
        let line = status_line(Timestamp::from_secs(9), &node, &net, &peers);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["counters"]["received"], 3);
        assert_eq!(v["counters"]["limited_messages"], 4);
        assert_eq!(v["peers"][0]["sent"], 2);
    }
}
