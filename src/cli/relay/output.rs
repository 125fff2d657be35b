//! One `--peer ADDR=PATH` output or a delivery fifo: a connection of the
//! outputs' endpoint, bounded in bytes, counted exactly.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use gossip::codec::{Format, Object, write_object};
use gossip::net::{Ended, Endpoint};
use gossip::session::ConnId;
use tokio::io::AsyncWrite;
use tokio::net::unix::pipe;
use tokio::runtime::Runtime;

use crate::cli::io::{Failure, open_append_no_follow};

/// A peer's output file or a delivery fifo: appended to, never through a
/// symbolic link, and created 0600.
fn open_append(path: &Path) -> Result<File, Failure> {
    open_append_no_follow(path, 0o600, false)
}

/// How often an output waits again for a fifo's reader.
const FIFO_POLL: Duration = Duration::from_millis(100);

/// Opens a fifo for writing once a reader has it open (till then the open
/// fails with ENXIO, and is tried again every [`FIFO_POLL`]): non-blocking,
/// so a reader that stops stalls only this output; never through a
/// symbolic link.
async fn open_fifo(path: &Path) -> std::io::Result<pipe::Sender> {
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path);
        match opened {
            Ok(file) => return pipe::Sender::from_file(file),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => tokio::time::sleep(FIFO_POLL).await,
            Err(e) => return Err(e),
        }
    }
}

/// A regular file written in place: a write returns once the bytes are in
/// the file (the page cache), so the output's count of what was written is
/// exact. Writes to a regular file do not wait on a reader.
struct SyncFile(File);

impl AsyncWrite for SyncFile {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                written => return Poll::Ready(written),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How long a relay that is ending waits for its outputs to take what is
/// queued for them (a peer that never reads cannot hold the relay for
/// longer).
pub const PEER_PATIENCE: Duration = Duration::from_secs(10);

/// A `--peer ADDR=PATH` output or a delivery fifo: a connection of the
/// outputs' own endpoint ([`Endpoint::attach_output`]), so it is written by
/// the same bounded writer as a socket, and a peer that stops reading (or
/// a fifo nobody opened yet) never stalls the relay. Its queue is bounded
/// in bytes (`--send-queue`, as a connection's): what does not fit is
/// dropped for that output only (a peer can catch up by sync, a delivery
/// stays pending in `--store`) and counted; the store and the other outputs
/// go on. The outputs are the command line's, so all of them hold at most
/// their number times that bound.
pub struct Output {
    pub(super) conn: ConnId,
    name: String,
    /// What the output is, for messages ("peer", "delivery output").
    role: &'static str,
    /// Bytes queued and not yet written, and their bound (one message is
    /// taken when the queue is empty, however long).
    queued: usize,
    limit: usize,
    /// Messages queued, and (of them) written whole.
    handed: u64,
    written: u64,
    dropping: bool,
    /// It ended (failed, or closed at the end).
    pub(super) ended: bool,
}

impl Output {
    /// Starts writing to `path`. A regular file is opened at once (errors
    /// are the relay's); a fifo is opened by the output's task, which waits
    /// for its reader. Appended to, never through a symbolic link, and a
    /// new file is 0600.
    pub fn open(
        files: &mut Endpoint,
        runtime: &Runtime,
        path: &Path,
        role: &'static str,
        limit: usize,
    ) -> Result<Self, Failure> {
        use std::os::unix::fs::FileTypeExt;
        let is_fifo = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        let file = if is_fifo {
            None
        } else {
            Some(open_append(path)?)
        };
        let fifo = path.to_path_buf();
        let open = async move {
            let out: Box<dyn AsyncWrite + Send + Unpin> = match file {
                Some(file) => Box::new(SyncFile(file)),
                None => Box::new(open_fifo(&fifo).await?),
            };
            Ok(out)
        };
        let conn = {
            let _inside = runtime.enter();
            files.attach_output(open)
        };
        Ok(Self {
            conn,
            name: path.display().to_string(),
            role,
            queued: 0,
            limit,
            handed: 0,
            written: 0,
            dropping: false,
            ended: false,
        })
    }

    /// Queues an object, encoded as `format` says; false when it was
    /// dropped (the queue is full, or the output has ended).
    pub(super) fn write(&mut self, files: &Endpoint, obj: &Object, format: Format) -> bool {
        if self.ended {
            return false;
        }
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = write_object(&mut bytes, obj, format);
        if self.queued > 0 && self.queued + bytes.len() > self.limit {
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
        self.handed += 1;
        self.dropping = false;
        true
    }

    /// How many messages it has written whole.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Its writer took `bytes` (one message).
    pub(super) fn took(&mut self, bytes: usize) {
        self.queued = self.queued.saturating_sub(bytes);
        self.written += 1;
    }

    /// It ended, as `ended` says, with `unwritten` of the messages queued
    /// never written whole. Reported once.
    pub(super) fn ended(&mut self, ended: &Ended, unwritten: u64) {
        self.ended = true;
        self.written = self.handed.saturating_sub(unwritten);
        match ended {
            Ended::Error(why) => {
                let name = &self.name;
                tracing::warn!(output = %name, reason = %why, unwritten, "{name}: {why}; no more output there");
            }
            Ended::Closed => {
                let (name, role) = (&self.name, self.role);
                tracing::warn!(output = %name, role, unwritten, "{name}: {role} did not take its last messages in time");
            }
            _ => {}
        }
    }
}
