//! One output of the relay: stdout, a `--peer ADDR=PATH` output or a
//! delivery fifo; a connection of the outputs' endpoint, bounded in bytes,
//! counted exactly.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use gossip::codec::{Format, Object, write_object};
use gossip::net::{Ended, Endpoint};
use gossip::session::ConnId;
use gossip::{Bulletin, BulletinKey};
use tokio::runtime::Runtime;

use crate::cli::io::{Failure, open_failure};

/// Bytes stdout's queue holds before the relay takes no more input: what
/// a pipe holds (one round's output may pass it). Small, so a reader that
/// is slow holds the relay back soon, as a blocking write did, and a
/// netcat chain passes its backpressure along.
pub const STDOUT_QUEUE: usize = 64 << 10;

/// How long a relay that is ending waits for its outputs to take what is
/// queued for them (a peer that never reads cannot hold the relay for
/// longer).
pub const PEER_PATIENCE: Duration = Duration::from_secs(10);

/// What one payload queued on an output is: a message for a peer, or a
/// delivered bulletin (confirmed to the store once written whole; counted
/// among the node's deliveries this run, or a delivery again of what the
/// last run left).
enum Payload {
    Message,
    Delivery { key: BulletinKey, counted: bool },
}

/// An output of the relay's own endpoint ([`Endpoint::attach_output`]):
/// stdout, a `--peer ADDR=PATH` output or a delivery fifo, written by the
/// same bounded writer as a socket, so a reader that stops (or a fifo
/// nobody opened yet) never stalls the relay's loop. Its queue is bounded
/// in bytes (`--send-queue`, as a connection's; stdout's is
/// [`STDOUT_QUEUE`]). Past it a file or a fifo
/// drops (for that output only: a peer can catch up by sync, a delivery
/// stays pending in `--store`) and counts; stdout never drops: it is
/// [`Output::is_full`], and the relay takes no more input until it has
/// room. The outputs are the command line's, so all of them hold at most
/// their number times that bound (and one round's output each).
pub struct Output {
    pub(super) conn: ConnId,
    name: String,
    /// What the output is, for messages ("stdout", "peer", "delivery
    /// output").
    role: &'static str,
    /// Bytes queued and not yet written, and their bound (one message is
    /// taken when the queue is empty, however long).
    queued: usize,
    limit: usize,
    /// What is queued and not yet written whole, in order.
    waiting: VecDeque<Payload>,
    /// Deliveries written whole, not yet confirmed.
    written: Vec<BulletinKey>,
    dropping: bool,
    /// It ended (failed, or closed at the end).
    pub(super) ended: bool,
}

impl Output {
    /// Starts writing to `path` ([`Endpoint::attach_file`]): a regular
    /// file is opened at once (errors are the relay's); a fifo is opened
    /// by the output, which waits for its reader. Appended to, never
    /// through a symbolic link, and a new file is 0600.
    pub fn open(
        files: &mut Endpoint,
        runtime: &Runtime,
        path: &Path,
        role: &'static str,
        limit: usize,
    ) -> Result<Self, Failure> {
        let conn = {
            let _inside = runtime.enter();
            files.attach_file(path).map_err(|e| open_failure(path, e))?
        };
        Ok(Self::new(conn, path.display().to_string(), role, limit))
    }

    /// Stdout, held back past [`STDOUT_QUEUE`]: a duplicate of its
    /// descriptor, written on tokio's blocking pool
    /// ([`Endpoint::attach_blocking`]), so a reader that stops holds a
    /// thread of that pool, never the relay's loop, and the count of what
    /// was written stays exact. It stays blocking: its open file may be
    /// shared (a terminal, a shell's pipe).
    pub fn stdout(files: &mut Endpoint, runtime: &Runtime) -> Result<Self, Failure> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned();
        let fd = fd.map_err(|e| Failure::io("relay: stdout", e))?;
        let conn = {
            let _inside = runtime.enter();
            files.attach_blocking(File::from(fd))
        };
        Ok(Self::new(conn, "stdout".into(), "stdout", STDOUT_QUEUE))
    }

    fn new(conn: ConnId, name: String, role: &'static str, limit: usize) -> Self {
        Self {
            conn,
            name,
            role,
            queued: 0,
            limit,
            waiting: VecDeque::new(),
            written: Vec::new(),
            dropping: false,
            ended: false,
        }
    }

    /// Whether it is stdout, which never drops.
    fn blocks(&self) -> bool {
        self.role == "stdout"
    }

    /// Queues a message, encoded as `format` says; false when it was
    /// dropped (the queue is full, or the output has ended).
    pub(super) fn write(&mut self, files: &Endpoint, obj: &Object, format: Format) -> bool {
        self.queue(files, obj, format, Payload::Message)
    }

    /// Queues a delivered bulletin as a JSON line; false when it was
    /// dropped. Its key comes back from [`Output::taken`] once written;
    /// `counted`: it is among the node's deliveries this run (if never
    /// written, [`Output::unwritten`] counts it).
    pub(super) fn deliver(&mut self, files: &Endpoint, bulletin: Bulletin, counted: bool) -> bool {
        let key = bulletin.key();
        let obj = Object::Bulletin(bulletin);
        self.queue(
            files,
            &obj,
            Format::Json,
            Payload::Delivery { key, counted },
        )
    }

    fn queue(&mut self, files: &Endpoint, obj: &Object, format: Format, what: Payload) -> bool {
        if self.ended {
            return false;
        }
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = write_object(&mut bytes, obj, format);
        if !self.blocks() && self.queued > 0 && self.queued + bytes.len() > self.limit {
            if !self.dropping {
                let (name, role) = (&self.name, self.role);
                let what = if role == "peer" {
                    "its messages (counted as unsent)"
                } else {
                    "deliveries (they stay pending in --store)"
                };
                tracing::warn!(output = %name, role, queued = self.queued, "{name}: {role} is not reading; dropping {what} until it does");
            }
            self.dropping = true;
            return false;
        }
        let len = bytes.len();
        if !files.send(self.conn, bytes.into()) {
            return false;
        }
        self.queued += len;
        self.waiting.push_back(what);
        self.dropping = false;
        true
    }

    /// Whether stdout holds more than its bound: the relay takes no more
    /// input until its reader takes some.
    pub(super) fn is_full(&self) -> bool {
        self.blocks() && !self.ended && self.queued > self.limit
    }

    /// Whether it is open and holds what it has not written yet.
    pub(super) fn holds(&self) -> bool {
        !self.ended && !self.waiting.is_empty()
    }

    /// The deliveries written whole since the last call.
    pub(super) fn taken(&mut self) -> Vec<BulletinKey> {
        std::mem::take(&mut self.written)
    }

    /// Its writer took `bytes` (one payload, the oldest).
    pub(super) fn took(&mut self, bytes: usize) {
        self.queued = self.queued.saturating_sub(bytes);
        if let Some(Payload::Delivery { key, .. }) = self.waiting.pop_front() {
            self.written.push(key);
        }
    }

    /// What was queued and never written whole, once it has ended:
    /// (messages, deliveries counted this run).
    pub(super) fn unwritten(&self) -> (u64, u64) {
        let (mut messages, mut deliveries) = (0, 0);
        for p in &self.waiting {
            match p {
                Payload::Message => messages += 1,
                Payload::Delivery { counted, .. } => deliveries += u64::from(*counted),
            }
        }
        (messages, deliveries)
    }

    /// It ended, as `ended` says, with the last `unwritten` of what waits
    /// never written whole (the others were: their reports may not have
    /// come when it ended as the endpoint shut down). Reported once; a
    /// reader of stdout that went away is quiet.
    pub(super) fn ended(&mut self, ended: &Ended, unwritten: u64) {
        self.ended = true;
        let unwritten = usize::try_from(unwritten).unwrap_or(usize::MAX);
        for _ in unwritten..self.waiting.len() {
            self.took(0);
        }
        let name = &self.name;
        match ended {
            Ended::ReaderGone(_) if self.blocks() => {}
            Ended::Error(why) | Ended::ReaderGone(why) => {
                tracing::warn!(output = %name, reason = %why, unwritten, "{name}: {why}; no more output there");
            }
            Ended::Closed if self.blocks() => {
                tracing::warn!(output = %name, unwritten, "{name}: its reader did not take the last {unwritten} messages in time");
            }
            Ended::Closed => {
                let role = self.role;
                tracing::warn!(output = %name, role, unwritten, "{name}: {role} did not take its last messages in time");
            }
            _ => {}
        }
    }
}
