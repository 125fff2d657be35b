//! The delivery output of `--deliver PATH`: a file or a fifo.
//!
//! A bulletin counts as delivered (and is confirmed to the store, so it is
//! no longer pending) only once its whole line has reached the output:
//! - a regular file is the library's [`DeliveryLog`]: one line per
//!   `write`, a failed write deferring the deliveries (held, retried every
//!   [`RETRY_EVERY`]; past [`BACKLOG_LIMIT`] the relay stops reading input
//!   until the file takes them), a torn last line cut on start. This
//!   module opens it (0600, never through a symbolic link) and says on
//!   stderr what the log reports. What is still held when the relay ends
//!   is reported (exit 4); with `--store` it stays pending there and is
//!   delivered on the next start.
//! - a fifo is a local output of the relay's network, like a `--peer
//!   ADDR=PATH` (carrying no message), so a fifo nobody reads (yet) never
//!   stalls the relay. Its writer reports the lines it wrote; what a full
//!   queue (`--send-queue`) drops stays pending in `--store`.

use std::collections::HashSet;
use std::path::Path;

use gossip::Bulletin;
use gossip::BulletinKey;
use gossip::delivery_log::{
    BACKLOG_LIMIT, DeliveryLog, LineKey, LogNotice, RETRY_EVERY, Repair, held_keys,
};

use gossip::codec::Format;
use gossip::net::{LocalOutput, Network};
use gossip::node::Node;
use gossip::session::{Carries, ConnId};
use tokio::runtime::Runtime;

use crate::cli::io::{Failure, open_append_no_follow};

pub use gossip::delivery_log::line_key;

/// Where delivered bulletins go.
pub enum Delivery {
    /// A regular file.
    File(DeliveryFile),
    /// A fifo: its output (the network tells the ids it wrote).
    Fifo(ConnId),
}

/// A delivery file: the log, and what the relay says of it.
pub struct DeliveryFile {
    name: String,
    log: DeliveryLog,
    /// Whether a `--store` keeps the deferred deliveries pending.
    store: bool,
}

/// What a delivery call did.
#[derive(Default)]
pub struct Delivered {
    /// Ids whose line reached the output.
    pub written: Vec<BulletinKey>,
    /// Bulletins that did not (dropped for a stalled fifo). With `--store`
    /// they stay pending.
    pub missed: u64,
}

impl Delivery {
    /// Opens the delivery output: a fifo is a local output of `network`;
    /// a file is opened for appending, its torn last line cut first.
    /// `store`: a `--store` keeps deliveries pending until confirmed.
    pub fn open(
        path: &Path,
        store: bool,
        network: &mut Network,
        runtime: &Runtime,
        node: &mut Node,
    ) -> Result<Self, Failure> {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            let output = LocalOutput {
                name: path.display().to_string(),
                role: "delivery output",
                format: Format::Json,
                carries: Carries::Nothing,
                holds: false,
            };
            let conn = super::outputs::attach_file(network, runtime, path, output, node)?;
            return Ok(Self::Fifo(conn));
        }
        let name = path.display().to_string();
        // Delivered bulletins are the operator's mail: a new file is 0600.
        let file = open_append_no_follow(path, 0o600, true)?;
        let (log, repair) = DeliveryLog::open(file)
            .map_err(|e| Failure::io(format!("relay: cannot repair {name}"), e))?;
        match repair {
            Repair::CutTorn(n) => tracing::warn!(
                file = %name,
                bytes = n,
                "cut a torn last line ({n} bytes) that an interrupted write left in the delivery file"
            ),
            Repair::AddedNewline(n) => tracing::warn!(
                file = %name,
                bytes = n,
                "the delivery file's last line ({n} bytes) had no newline; kept it and added one"
            ),
            _ => {}
        }
        Ok(Self::File(DeliveryFile { name, log, store }))
    }

    /// Whether already written lines can be read back (a file, not a fifo).
    pub fn is_file(&self) -> bool {
        matches!(self, Self::File(_))
    }

    /// Writes each bulletin as one JSON line (to a file that cannot take
    /// them now, they are held and retried).
    pub fn deliver(
        &mut self,
        network: &mut Network,
        bulletins: Vec<Bulletin>,
        counted: bool,
    ) -> Delivered {
        let mut done = Delivered::default();
        match self {
            Self::File(f) => f.log.push(bulletins),
            Self::Fifo(conn) => {
                for b in bulletins {
                    if !network.deliver_on(*conn, b, counted) {
                        done.missed += 1;
                    }
                }
            }
        }
        done.written.extend(self.taken());
        done
    }

    /// The ids written since the last call to a file: the held lines it
    /// took now (tried at once unless deferred, then every
    /// [`RETRY_EVERY`]). (A fifo's come from the network.)
    pub fn taken(&mut self) -> Vec<BulletinKey> {
        match self {
            Self::File(f) => f.write_backlog(false),
            Self::Fifo(_) => Vec::new(),
        }
    }

    /// Deliveries held for a file that cannot take them now.
    pub fn held_back(&self) -> u64 {
        match self {
            Self::File(f) => f.log.held() as u64,
            Self::Fifo(_) => 0,
        }
    }

    /// Whether the held deliveries reached [`BACKLOG_LIMIT`]: the relay
    /// reads no more input until the file takes them.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::File(f) if f.log.is_full())
    }

    /// At the end: one last try of a file's held lines; the ids written,
    /// and the failure to end with when some are still held.
    pub fn close(&mut self) -> (Vec<BulletinKey>, Option<Failure>) {
        let Self::File(f) = self else {
            return (Vec::new(), None);
        };
        let written = f.write_backlog(true);
        let Some(why) = f.log.failure() else {
            return (written, None);
        };
        let n = f.log.held();
        let hint = if f.store {
            format!(
                "{n} deliveries stay pending in --store: make room and start the relay again, and they are delivered then"
            )
        } else {
            format!(
                "{n} deliveries were not written and nothing keeps them (no --store): make room, and run the relay with --store to keep deliveries across a full disk"
            )
        };
        let failure =
            Failure::io(format!("relay: cannot write delivery file {}", f.name), why).hint(hint);
        (written, Some(failure))
    }
}

impl DeliveryFile {
    /// Writes the held lines ([`DeliveryLog::write`]) and says on stderr
    /// what the log reports; returns the ids written.
    fn write_backlog(&mut self, force: bool) -> Vec<BulletinKey> {
        let written = self.log.write(force);
        while let Some(notice) = self.log.poll_notice() {
            match notice {
                LogNotice::Deferred { why, held } => tracing::error!(
                    file = %self.name,
                    reason = %why,
                    held,
                    "cannot write delivery file {}: {why}; deliveries deferred ({held} so far{}), the file retried every {} s",
                    self.name,
                    if self.store {
                        ", pending in --store"
                    } else {
                        ", held in memory"
                    },
                    RETRY_EVERY.as_secs()
                ),
                LogNotice::Recovered { after } => tracing::info!(
                    file = %self.name,
                    after_secs = after.as_secs_f64(),
                    "delivery file {} takes lines again: the deferred deliveries are written, {:.0} s after the first failed",
                    self.name,
                    after.as_secs_f64()
                ),
                LogNotice::Full { held } => tracing::warn!(
                    file = %self.name,
                    held,
                    "{held} deliveries ({} MiB) held for {}: reading no more input until it takes them",
                    BACKLOG_LIMIT >> 20,
                    self.name
                ),
                _ => {}
            }
        }
        written
    }
}

/// Which of `wanted` ([`line_key`]) the delivery file at `path` holds.
pub fn held_ids(path: &Path, wanted: &HashSet<LineKey>) -> std::io::Result<HashSet<LineKey>> {
    held_keys(std::fs::File::open(path)?, wanted)
}
