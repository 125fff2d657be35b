//! The network's notices in the log ([`tracing`]): what the relay prints
//! and what an application on the [`Gossip`](super::Gossip) handle sees
//! when it installs a subscriber.

use std::time::{Duration, Instant};

use super::Ended;
use super::network::{Disconnect, Network, Notice};
use crate::session::Report;

/// How often a repeated accept() failure is logged (with its count since).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Logs a [`Network`]'s notices: connections up and closed, refusals,
/// failed dials and accepts, and the limits' reports.
#[derive(Debug)]
pub struct NoticeLog {
    /// accept() failures not yet logged, and when one last was.
    accept_failures: (u64, Option<Instant>),
    quiet: bool,
}

impl NoticeLog {
    /// A log of every notice; `quiet` keeps only the warnings an operator
    /// must see (junk, invalid messages, unsealable signers, accept
    /// failures, the limits' reports).
    pub fn new(quiet: bool) -> Self {
        Self {
            accept_failures: (0, None),
            quiet,
        }
    }

    /// Logs what `net` has to say; a repeated accept() failure at most
    /// every 10 s, with its count since.
    pub fn log(&mut self, net: &mut Network) {
        while let Some(notice) = net.poll_notice() {
            self.one(notice, net.config().max_invalid);
        }
    }

    fn one(&mut self, notice: Notice, max_invalid: u32) {
        let quiet = self.quiet;
        match notice {
            Notice::Connected { remote, peer } if !quiet => {
                tracing::info!(%remote, %peer, "{remote}: connected to {peer}");
            }
            Notice::Unsealable { remote, error } => {
                tracing::warn!(%remote, reason = %error, "{remote}: {error}; closing");
            }
            Notice::Closed { remote, why } => closed(&remote, &why, max_invalid, quiet),
            Notice::Refused { remote } if !quiet => {
                tracing::warn!(%remote, reason = "too many connections", "{remote}: refused, too many connections");
            }
            Notice::AcceptFailed { why } => {
                let failures = &mut self.accept_failures;
                failures.0 += 1;
                if failures.1.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    let refused = failures.0;
                    tracing::error!(reason = %why, refused, "cannot accept connections: {why} ({refused} refused since the last report)");
                    *failures = (0, Some(Instant::now()));
                }
            }
            Notice::Limited(report) => limited(&report),
            Notice::DialFailed { peer, addr, why } if !quiet => {
                tracing::warn!(%peer, remote = %addr, reason = %why, "cannot reach {peer} at {addr}: {why}; retrying");
            }
            Notice::OutputDropping { name, role } => {
                let what = match role {
                    "peer" => "its messages (counted as unsent)",
                    _ => "deliveries (they stay pending in --store)",
                };
                tracing::warn!(output = %name, role, "{name}: {role} is not reading; dropping {what} until it does");
            }
            Notice::OutputEnded {
                name,
                role,
                holds,
                ended,
                unwritten,
            } => output_ended(&name, role, holds, &ended, unwritten),
            _ => {}
        }
    }
}

/// A local output ended: said unless it ended as asked, or it holds and
/// its reader went away.
fn output_ended(name: &str, role: &str, holds: bool, ended: &Ended, unwritten: u64) {
    match ended {
        Ended::ReaderGone(_) if holds => {}
        Ended::Error(why) | Ended::ReaderGone(why) => {
            tracing::warn!(output = %name, reason = %why, unwritten, "{name}: {why}; no more output there");
        }
        Ended::Closed if holds => {
            tracing::warn!(output = %name, unwritten, "{name}: its reader did not take the last {unwritten} messages in time");
        }
        Ended::Closed => {
            tracing::warn!(output = %name, role, unwritten, "{name}: {role} did not take its last messages in time");
        }
        _ => {}
    }
}

/// A connection closed: a warning for a peer that misbehaved or a socket
/// error, else (unless `quiet`) information.
fn closed(remote: &str, why: &Disconnect, max_invalid: u32, quiet: bool) {
    let warn = matches!(
        why,
        Disconnect::Junk(_) | Disconnect::Invalid | Disconnect::Error(_)
    );
    if quiet && !matches!(why, Disconnect::Junk(_) | Disconnect::Invalid) {
        return;
    }
    let what = match why {
        Disconnect::Junk(e) => format!("closed: not a message stream ({e})"),
        Disconnect::Idle => "closed: no whole message within the idle timeout".to_string(),
        Disconnect::Unbound => "closed: no valid message within the bind timeout".to_string(),
        Disconnect::Evicted => "closed: unbound, to make room for a newer connection".to_string(),
        Disconnect::Invalid => format!("closed: {max_invalid} invalid messages"),
        Disconnect::Error(e) => format!("closed: {e}"),
        _ => "closed".to_string(),
    };
    if warn {
        tracing::warn!(%remote, reason = %what, "{remote}: {what}");
    } else {
        tracing::info!(%remote, reason = %what, "{remote}: {what}");
    }
}

/// What one source had refused since its last report.
fn limited(report: &Report) {
    let (source, r) = (report.source, report.refused);
    let mut what = Vec::new();
    let mut say = |n: u64, text: &str| {
        if n > 0 {
            what.push(format!("{n} {text}"));
        }
    };
    say(r.connections, "connections (too many from one IP address)");
    say(r.denied_connections, "connections (denied)");
    say(
        r.messages,
        &format!("messages of {} bytes (over its rate)", r.bytes),
    );
    say(r.denied_messages, "messages (denied)");
    let verb = if report.shadow {
        "would have refused"
    } else {
        "refused"
    };
    let what = what.join(", ");
    tracing::warn!(
        source = %source,
        shadow = report.shadow,
        connections = r.connections,
        denied_connections = r.denied_connections,
        messages = r.messages,
        bytes = r.bytes,
        denied_messages = r.denied_messages,
        "{source}: limits {verb} {what} since the last report"
    );
}
