//! What a node counts: messages in and out, deliveries, duplicates, and
//! every drop by its reason's name.

use std::collections::BTreeMap;
use std::fmt;

use super::DropReason;
use crate::verify::Reason;

/// Running totals kept by a node; the relay prints them at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages taken in (including ones that were malformed).
    pub received: u64,
    /// Messages that passed verification.
    pub accepted: u64,
    /// Bulletins delivered (subscribed topic, first time).
    pub delivered: u64,
    /// store_and_forward messages made for peers.
    pub forwarded: u64,
    /// Messages made for peers ([`super::Event::Send`]).
    pub sent: u64,
    /// Bulletins (or notices) already seen, neither forwarded nor delivered.
    pub duplicates: u64,
    /// Messages dropped by verification, by [`Reason::name`].
    pub drops: BTreeMap<&'static str, u64>,
    /// Routing-overlay operations (0x06..0x0a): parsed, not supported.
    pub unsupported: u64,
    /// Input that is not a message, or a payload that breaks its
    /// operation's convention (ragged sync ids, a forged notice).
    pub malformed: u64,
    /// respond_sync_headers that answer no request of ours.
    pub unsolicited: u64,
    /// Delivery-code notices recorded from peers.
    pub notices: u64,
    /// Items dropped because a bound was reached: received messages past
    /// the inbound queue cap, content ids past `max_sync_request_ids` in
    /// the answers to one sync request (or in one answer made), answers
    /// past a peer's answer budget, strangers' delivery codes past
    /// `max_peer_inboxes`.
    pub over_cap: u64,
    /// Content ids offered by a sync answer that waited for a free
    /// request_content slot (`max_content_requests` per peer) instead of
    /// being asked for at once; each is asked for as an answer frees one.
    pub sync_deferred: u64,
    /// Content requests of a sync (or ids waiting for one) given up: no
    /// answer within the message TTL.
    pub sync_unanswered: u64,
    /// Reconciliations (this node's, as requester) that fell back to a
    /// full list: the peer timed out, sent something malformed or ran past
    /// the round cap.
    pub sync_fallbacks: u64,
    /// Messages for a peer that could not be made: a stranger whose key
    /// no box can be sealed to. (A caller that writes messages out keeps its
    /// own count of those its outputs did not take; the relay adds it here
    /// when it prints.)
    pub unsent: u64,
    /// Announcements (`announce`, many ids each) sent to lazy peers.
    pub announcements_sent: u64,
    /// Announcements received.
    pub announcements_received: u64,
    /// Grafts sent: announced ids that had not come in time, asked for.
    pub grafts_sent: u64,
    /// Grafts received (each makes the link eager and is served within
    /// its bounds).
    pub grafts_received: u64,
    /// Prunes sent: an eager peer pushed a bulletin already seen.
    pub prunes_sent: u64,
    /// Prunes received.
    pub prunes_received: u64,
    /// Bulletins that came in answer to a graft of this node's.
    pub repairs: u64,
    /// Grafts not answered in time: the id was asked of the next
    /// announcer, and the peer struck.
    pub graft_timeouts: u64,
    /// Announced ids every announcer failed to serve, given up (their
    /// topic synced with another neighbour, within a bound).
    pub graft_fallbacks: u64,
}

impl Counters {
    /// Counts a drop for `reason`.
    pub fn drop_for(&mut self, reason: Reason) {
        *self.drops.entry(reason.name()).or_default() += 1;
    }

    /// Counts a dropped message under the counter its reason belongs to: a
    /// failed check and a hook's refusal as `drop.<name>`, the rest in
    /// their own field.
    pub fn count_drop(&mut self, reason: DropReason) {
        match reason {
            DropReason::Invalid(r) => self.drop_for(r),
            DropReason::Malformed => self.malformed += 1,
            DropReason::Duplicate => self.duplicates += 1,
            DropReason::Unsolicited => self.unsolicited += 1,
            DropReason::Unsupported => self.unsupported += 1,
            DropReason::OverCap => self.over_cap += 1,
            DropReason::Refused(_) | DropReason::Ignored => {
                *self.drops.entry(reason.name()).or_default() += 1
            }
        }
    }

    /// Drops counted under a reason name (0 when none).
    pub fn drops_of(&self, name: &str) -> u64 {
        self.drops.get(name).copied().unwrap_or(0)
    }

    /// Every counter as (name, value), drops as `drop.<reason>`; stable
    /// order, for printing.
    pub fn fields(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = [
            ("received", self.received),
            ("accepted", self.accepted),
            ("delivered", self.delivered),
            ("forwarded", self.forwarded),
            ("sent", self.sent),
            ("duplicates", self.duplicates),
            ("unsupported", self.unsupported),
            ("malformed", self.malformed),
            ("unsolicited", self.unsolicited),
            ("notices", self.notices),
            ("over_cap", self.over_cap),
            ("sync_deferred", self.sync_deferred),
            ("sync_unanswered", self.sync_unanswered),
            ("sync_fallbacks", self.sync_fallbacks),
            ("unsent", self.unsent),
            ("announcements_sent", self.announcements_sent),
            ("announcements_received", self.announcements_received),
            ("grafts_sent", self.grafts_sent),
            ("grafts_received", self.grafts_received),
            ("prunes_sent", self.prunes_sent),
            ("prunes_received", self.prunes_received),
            ("repairs", self.repairs),
            ("graft_timeouts", self.graft_timeouts),
            ("graft_fallbacks", self.graft_fallbacks),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        out.extend(self.drops.iter().map(|(k, v)| (format!("drop.{k}"), *v)));
        out
    }
}

impl fmt::Display for Counters {
    /// One `name=value` pair per field, space separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .fields()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_named() {
        let mut c = Counters::default();
        c.drop_for(Reason::TooOld);
        c.drop_for(Reason::TooOld);
        assert_eq!(c.drops_of("too_old"), 2);
        assert_eq!(c.drops_of("expired"), 0);
        assert!(c.to_string().contains("drop.too_old=2"));
    }
}
