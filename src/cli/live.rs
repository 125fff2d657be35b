//! Live output: stdout is buffered, and the buffer is written out before
//! every read of stdin (the only time a command can wait for input), so each
//! result reaches the next command in a pipeline as soon as no more input is
//! waiting, while a full stream still writes in large blocks.

use std::io::{self, BufWriter, Read, Stdin, Stdout, Write};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The process's one stdout buffer.
fn buffer() -> MutexGuard<'static, BufWriter<Stdout>> {
    static OUT: OnceLock<Mutex<BufWriter<Stdout>>> = OnceLock::new();
    OUT.get_or_init(|| Mutex::new(BufWriter::with_capacity(1 << 16, io::stdout())))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A handle on the shared stdout buffer; any number may exist.
#[derive(Debug, Default, Clone, Copy)]
pub struct Out;

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        buffer().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        buffer().write_all(buf)
    }

    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        buffer().write_fmt(args)
    }

    fn flush(&mut self) -> io::Result<()> {
        buffer().flush()
    }
}

/// Stdin that writes out the stdout buffer before each read. A closed
/// stdout ends the read with a broken-pipe error, so a command whose
/// reader has gone away stops instead of waiting for more input.
pub struct LiveStdin {
    inner: Stdin,
}

/// Stdin, flushing stdout before each read.
pub fn stdin() -> LiveStdin {
    LiveStdin { inner: io::stdin() }
}

impl Read for LiveStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Out.flush()?;
        self.inner.read(buf)
    }
}
