//! One output of the relay: stdout, a `--peer ADDR=PATH` output or a
//! delivery fifo; a connection of the outputs' endpoint, bounded in bytes,
//! counted exactly.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use gossip::codec::{Format, Object, write_object};
use gossip::net::{Ended, Endpoint};
use gossip::session::ConnId;
use gossip::{Bulletin, BulletinKey};
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

/// Bytes stdout's queue holds before the relay takes no more input: what
/// a pipe holds (one round's output may pass it). Small, so a reader that
/// is slow holds the relay back soon, as a blocking write did, and a
/// netcat chain passes its backpressure along.
pub const STDOUT_QUEUE: usize = 64 << 10;

/// Bytes one write to stdout takes at most: a pipe's atomic write
/// (POSIX's `PIPE_BUF`, 4,096 on Linux), all or nothing.
const STDOUT_WRITE: usize = 4096;

/// Stdout, written on tokio's blocking pool (so a reader that stops holds
/// a thread of that pool, never the relay's loop or the endpoint's
/// workers), one `write` at a time of at most [`STDOUT_WRITE`] bytes: each
/// returns what reached the pipe, so the count of what was written stays
/// exact even when a stalled reader's write is cut off at the end (to a
/// pipe, such a write took nothing). Stdout itself stays blocking: its
/// open file may be shared (a terminal, a shell's pipe).
struct Stdout {
    /// Stdout's descriptor (a duplicate), while no write is under way.
    file: Option<File>,
    writing: Option<tokio::task::JoinHandle<(File, std::io::Result<usize>)>>,
}

impl Stdout {
    fn open() -> std::io::Result<Self> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Self {
            file: Some(File::from(fd)),
            writing: None,
        })
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            if let Some(writing) = &mut self.writing {
                let done = std::task::ready!(Pin::new(writing).poll(cx));
                self.writing = None;
                let (file, written) = done.map_err(std::io::Error::other)?;
                self.file = Some(file);
                return Poll::Ready(written);
            }
            let Some(mut file) = self.file.take() else {
                return Poll::Ready(Err(std::io::Error::other("stdout lost")));
            };
            let chunk = buf[..buf.len().min(STDOUT_WRITE)].to_vec();
            self.writing = Some(tokio::task::spawn_blocking(move || {
                loop {
                    match file.write(&chunk) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        written => return (file, written),
                    }
                }
            }));
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
        Ok(Self::new(conn, path.display().to_string(), role, limit))
    }

    /// Stdout ([`Stdout`]), held back past [`STDOUT_QUEUE`].
    pub fn stdout(files: &mut Endpoint, runtime: &Runtime) -> Self {
        let open = async { Stdout::open() };
        let conn = {
            let _inside = runtime.enter();
            files.attach_output(open)
        };
        Self::new(conn, "stdout".into(), "stdout", STDOUT_QUEUE)
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
