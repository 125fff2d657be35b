//! Outputs an application writes to as a connection of its [`Endpoint`]
//! ([`Endpoint::attach_output`]): a file or a fifo by its path
//! ([`Endpoint::attach_file`]), and a blocking descriptor such as stdout
//! ([`Endpoint::attach_blocking`]). Each is written by the endpoint's one
//! bounded writer, and its count of what was written stays exact.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::Endpoint;
use crate::session::ConnId;

/// How often a fifo's output tries again to open it for its reader.
const FIFO_POLL: Duration = Duration::from_millis(100);

/// Bytes one write to a blocking descriptor takes at most: a pipe's atomic
/// write (POSIX's `PIPE_BUF`, 4,096 on Linux), all or nothing.
pub const BLOCKING_WRITE: usize = 4096;

impl Endpoint {
    /// An output appended to the file at `path`, never through a symbolic
    /// link (that is an error, `ELOOP`). A regular file is opened now
    /// (created 0600, whatever the umask, if it does not exist) and
    /// written in place: a write returns once its bytes are in the file,
    /// so the count of what was written is exact. A fifo is opened by the
    /// output once a reader has it open (what is sent meanwhile waits in
    /// the queue), non-blocking, so a reader that stops stalls only this
    /// output. Otherwise as [`Endpoint::attach_output`]. Call it inside
    /// the runtime.
    pub fn attach_file(&mut self, path: &Path) -> std::io::Result<ConnId> {
        use std::os::unix::fs::FileTypeExt;
        let is_fifo = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        if is_fifo {
            let path = path.to_path_buf();
            return Ok(self.attach_output(async move { open_fifo(&path).await }));
        }
        let file = open_append(path)?;
        Ok(self.attach_output(async move { Ok(InPlace(file)) }))
    }

    /// An output over a blocking descriptor the caller holds (stdout, or a
    /// duplicate of it: its open file may be shared with other processes,
    /// a terminal or a shell's pipe, so it is left blocking). It is
    /// written on tokio's blocking pool, so a reader that stops holds a
    /// thread of that pool, never the endpoint's workers; one write of at
    /// most [`BLOCKING_WRITE`] bytes at a time, each returning what reached
    /// the descriptor, so the count of what was written stays exact, also
    /// for a write to a stalled pipe cut off by the shutdown deadline (it
    /// took nothing). Otherwise as [`Endpoint::attach_output`]. Call it
    /// inside the runtime.
    pub fn attach_blocking(&mut self, file: File) -> ConnId {
        self.attach_output(async move {
            Ok(Blocking {
                file: Some(file),
                writing: None,
            })
        })
    }
}

/// Opens `path` to append to, never through a symbolic link; a new file
/// is 0600.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let existed = std::fs::symlink_metadata(path).is_ok();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !existed {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Opens a fifo for writing once a reader has it open (till then the open
/// fails with `ENXIO`, and is tried again every [`FIFO_POLL`]):
/// non-blocking, never through a symbolic link.
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

/// A regular file written in place: writes to a regular file do not wait
/// on a reader.
struct InPlace(File);

impl AsyncWrite for InPlace {
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

/// A blocking descriptor written on tokio's blocking pool
/// ([`Endpoint::attach_blocking`]).
struct Blocking {
    /// The descriptor, while no write is under way.
    file: Option<File>,
    writing: Option<JoinHandle<(File, std::io::Result<usize>)>>,
}

impl AsyncWrite for Blocking {
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
                return Poll::Ready(Err(std::io::Error::other(
                    "the output's descriptor is lost",
                )));
            };
            let chunk = buf[..buf.len().min(BLOCKING_WRITE)].to_vec();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{ConnEvent, Ended, Limits};
    use tokio_util::bytes::Bytes;

    async fn next_event(e: &mut Endpoint) -> ConnEvent {
        let next = tokio::time::timeout(Duration::from_secs(20), e.next()).await;
        next.expect("an event in time")
    }

    /// Writes `lines` to `conn`, finishes it and waits for its end.
    async fn write_all(e: &mut Endpoint, conn: ConnId, lines: &[&'static str]) -> (Ended, u64) {
        for line in lines {
            assert!(e.send(conn, Bytes::from_static(line.as_bytes())));
        }
        e.finish(conn);
        loop {
            if let ConnEvent::Closed {
                ended, unwritten, ..
            } = next_event(e).await
            {
                return (ended, unwritten);
            }
        }
    }

    #[tokio::test]
    async fn a_file_is_created_0600_and_appended_to() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(dir.path().join("keep"), b"").unwrap();
        let mut e = Endpoint::new(Limits::default()).unwrap();
        let conn = e.attach_file(&path).unwrap();
        assert_eq!(
            write_all(&mut e, conn, &["one\n"]).await,
            (Ended::Stopped, 0)
        );
        let conn = e.attach_file(&path).unwrap();
        assert_eq!(
            write_all(&mut e, conn, &["two\n"]).await,
            (Ended::Stopped, 0)
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_symbolic_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"mine\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut e = Endpoint::new(Limits::default()).unwrap();
        let refused = e.attach_file(&link).expect_err("wrote through a link");
        assert_eq!(refused.raw_os_error(), Some(libc::ELOOP));
        assert_eq!(std::fs::read(&target).unwrap(), b"mine\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fifo_waits_for_its_reader_then_takes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.unwrap().success());
        let mut e = Endpoint::new(Limits::default()).unwrap();
        let conn = e.attach_file(&path).unwrap();
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || std::fs::read(path).unwrap())
        };
        assert_eq!(
            write_all(&mut e, conn, &["one\n", "two\n"]).await,
            (Ended::Stopped, 0)
        );
        assert_eq!(reader.join().unwrap(), b"one\ntwo\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocking_pipe_takes_everything_sent_also_past_pipe_buf() {
        let (rx, tx) = std::io::pipe().unwrap();
        let tx = File::from(std::os::fd::OwnedFd::from(tx));
        let mut e = Endpoint::new(Limits::default()).unwrap();
        let conn = e.attach_blocking(tx);
        let big: &'static str = Box::leak("x".repeat(3 * BLOCKING_WRITE + 1).into_boxed_str());
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut rx = rx;
            std::io::Read::read_to_end(&mut rx, &mut all).unwrap();
            all
        });
        assert_eq!(
            write_all(&mut e, conn, &["one\n", big]).await,
            (Ended::Stopped, 0)
        );
        drop(e);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), 4 + big.len());
        assert!(all.starts_with(b"one\nxxx"));
    }
}
