//! What an operator sees of the network: per-peer counters and the
//! relay's connection counters, as a Prometheus text file (for
//! node_exporter's textfile collector) and as a JSON status line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use gossip::{Address, Counters};
use serde_json::json;

pub use gossip::session::PeerStats;

/// The relay's connection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// A listener or a dialer runs.
    pub active: bool,
    /// Connections opened (accepted or dialed).
    pub opened: u64,
    /// Accepted connections closed at once (too many open).
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
}

impl NetCounters {
    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("connections_opened", self.opened),
            ("connections_refused", self.refused),
            ("connections_junk", self.junk),
            ("connections_idle", self.idle),
            ("connections_unbound", self.unbound),
            ("connections_evicted", self.evicted),
            ("connections_invalid", self.invalid),
            ("dial_failures", self.dial_failures),
        ]
    }
}

impl std::fmt::Display for NetCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .fields()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// The Prometheus text exposition of the relay's counters.
pub fn prometheus(
    relay: &Counters,
    net: &NetCounters,
    peers: &BTreeMap<Address, PeerStats>,
) -> String {
    let mut out = String::new();
    for (name, value) in relay.fields() {
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
        ("gossip_peer_last_seen_seconds", "gauge", |s| s.last_seen),
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

/// Writes the Prometheus file whole, mode 0644 (metrics are not secret, and
/// the collector may run as another user): to a new temporary file beside
/// it, then renamed over it, so the collector never reads half a file. The
/// temporary has a name no one can guess and is created exclusively
/// (`O_EXCL`, `O_NOFOLLOW`), so a file or link planted beside FILE is never
/// written through; the rename replaces FILE itself, even a link.
pub fn write_metrics(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// One JSON status line: the relay's counters, the network's and each
/// peer's.
pub fn status_line(
    now: u64,
    relay: &Counters,
    net: &NetCounters,
    peers: &BTreeMap<Address, PeerStats>,
) -> String {
    let counters: serde_json::Map<String, serde_json::Value> = relay
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
                "last_seen": s.last_seen,
            })
        })
        .collect();
    json!({"type": "relay_status", "now": now, "counters": counters, "peers": peers}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_a_type_line_per_family_and_a_sample_per_peer() {
        let mut relay = Counters {
            received: 3,
            ..Counters::default()
        };
        relay.drop_for(gossip::Reason::TooOld);
        let peers = BTreeMap::from([(
            Address([7; 32]),
            PeerStats {
                connected: 1,
                sent: 2,
                last_seen: Some(5),
                ..PeerStats::default()
            },
        )]);
        let text = prometheus(&relay, &NetCounters::default(), &peers);
        assert!(text.contains(
            "# TYPE gossip_relay_received_total counter\ngossip_relay_received_total 3\n"
        ));
        assert!(text.contains("gossip_relay_drop_too_old_total 1\n"));
        let peer = Address([7; 32]).to_string();
        assert!(text.contains(&format!("gossip_peer_sent_total{{peer=\"{peer}\"}} 2\n")));
        assert!(text.contains(&format!(
            "gossip_peer_last_seen_seconds{{peer=\"{peer}\"}} 5\n"
        )));
        let line = status_line(9, &relay, &NetCounters::default(), &peers);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["counters"]["received"], 3);
        assert_eq!(v["peers"][0]["sent"], 2);
    }
}
