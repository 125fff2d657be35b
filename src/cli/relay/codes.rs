//! The relay's delivery code: shown at start, rotated on SIGUSR1, on a
//! `gossip store rotate` request read from the store, and on the
//! `--rotate-delivery-code` schedule.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gossip::node::Node;

use super::node_failure;
use crate::cli::io::Failure;
use crate::cli::rotation_requests::RotationRequests;
use gossip::Timestamp;

/// How often a running relay looks in its store for a rotation request.
const POLL_STORE: Duration = Duration::from_secs(1);

/// Prints the node's address, delivery code and inbox topic on stderr.
pub fn show(node: &Node) {
    let (address, code, inbox) = (
        node.address(),
        hex::encode(node.delivery_code()),
        hex::encode(node.inbox_topic()),
    );
    tracing::info!(%address, delivery_code = %code, %inbox, "address {address} delivery code {code} inbox {inbox}");
}

/// Says that the delivery code was rotated, and why.
pub fn rotated(node: &Node, why: &str) {
    tracing::info!(
        reason = why,
        "delivery code rotated ({why}); the old inbox is no longer delivered"
    );
    show(node);
}

/// Prints how many peers' delivery codes the node knows (loaded from its
/// store), when it knows any.
pub fn show_peers(node: &Node) {
    let n = node.peer_codes_len();
    if n > 0 {
        tracing::info!(
            peers = n,
            "{n} peers' delivery codes known (`gossip store peers`)"
        );
    }
}

/// What asks for a rotation: the signal, the store, the schedule.
pub struct Rotation {
    signal: Arc<AtomicBool>,
    requests: Option<RotationRequests>,
    last_poll: Option<Instant>,
}

impl Rotation {
    /// `signal` is raised by the SIGUSR1 handler (installed when the relay
    /// starts). `store` is the node's store file, whose rotation requests
    /// are polled. The `--rotate-delivery-code` schedule is the engine's
    /// (`NodeConfig::rotate_every`, from `Node::handle_timeout`).
    pub fn new(signal: Arc<AtomicBool>, store: Option<&Path>) -> Result<Self, Failure> {
        let requests = store
            .map(|path| {
                RotationRequests::open(path)
                    .map_err(|e| super::super::store::open_failure("relay", path, &e))
            })
            .transpose()?;
        Ok(Self {
            signal,
            requests,
            last_poll: None,
        })
    }

    /// Why the code is to rotate at `now`, if it is.
    fn due(&mut self) -> Result<Option<&'static str>, Failure> {
        if self.signal.swap(false, Ordering::Relaxed) {
            return Ok(Some("SIGUSR1"));
        }
        if let Some(requests) = &self.requests
            && self.last_poll.is_none_or(|t| t.elapsed() >= POLL_STORE)
        {
            self.last_poll = Some(Instant::now());
            let asked = requests
                .take()
                .map_err(|e| Failure::io("relay: store", e))?;
            if asked {
                return Ok(Some("gossip store rotate"));
            }
        }
        Ok(None)
    }

    /// Rotates the code if asked: the new code is persisted, the old inbox
    /// no longer followed, and the notice to every neighbour made (the
    /// caller writes it out). True when it rotated.
    pub fn rotate_if_due(&mut self, node: &mut Node, now: Timestamp) -> Result<bool, Failure> {
        let Some(why) = self.due()? else {
            return Ok(false);
        };
        node.rotate_delivery_code(now)
            .map_err(|e| Failure::io("relay: store", e))?;
        rotated(node, why);
        node.run_until_idle_parallel(now).map_err(node_failure)?;
        Ok(true)
    }
}
