//! The delivery output of `--deliver PATH`: a file or a fifo.
//!
//! A bulletin counts as delivered (and is confirmed to the store, so it is
//! no longer pending) only once its whole line has reached the output:
//! - a regular file is written one line per `write` call, unbuffered, so a
//!   line is in the file when the call returns. A write that fails (a full
//!   disk) defers the deliveries, as a mail server does: the relay goes on
//!   relaying and storing, holds the lines not written in order (at most
//!   [`BACKLOG_LIMIT`] bytes; past it the relay stops reading input until
//!   the file takes them), retries the file every [`RETRY_EVERY`], and
//!   says once when deferring starts and once when it recovers. What is
//!   still held when the relay ends is reported (exit 4); with `--store` it
//!   stays pending there and is delivered on the next start. On start, a
//!   torn last line (a `kill -9` in the middle of a write) is cut back to
//!   the last complete line first; any other last line without a newline
//!   is kept ([`repair_last_line`]).
//! - a fifo is written by a thread of its own, like a `--peer` output, so a
//!   fifo nobody reads (yet) never stalls the relay. The thread reports how
//!   many lines it wrote; what a full queue drops stays pending in `--store`.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use gossip::bulletin::Bulletin;
use gossip::codec::{Format, MAX_JSON_LINE, Object, write_object};
use gossip::ids::Key;

use super::outputs::PeerOutput;
use crate::cli::io::{Failure, open_append_no_follow};

/// How often a delivery file that failed a write is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Most bytes of deferred delivery lines held in memory; past it the relay
/// stops reading input until the file takes them.
pub const BACKLOG_LIMIT: usize = 32 << 20;

/// Where delivered bulletins go.
pub enum Delivery {
    /// A regular file.
    File(DeliveryFile),
    /// A fifo: its writer thread, and the ids handed to it not yet known
    /// to be written, in order.
    Fifo {
        out: PeerOutput,
        handed: VecDeque<Key>,
        confirmed: u64,
    },
}

/// A delivery file, and the lines it could not take yet.
pub struct DeliveryFile {
    name: String,
    file: File,
    /// The file's length after the last whole line.
    end: u64,
    /// Lines not written yet (the file failed a write), in order.
    backlog: VecDeque<(Key, Vec<u8>)>,
    backlog_bytes: usize,
    /// Since when, and why, deliveries are deferred.
    deferred: Option<Deferred>,
    /// Whether a `--store` keeps the deferred deliveries pending.
    store: bool,
    /// The backlog reached [`BACKLOG_LIMIT`] (said once until it drains).
    full: bool,
}

struct Deferred {
    since: Instant,
    last_try: Instant,
    why: std::io::Error,
}

/// What a delivery call did.
#[derive(Default)]
pub struct Delivered {
    /// Ids whose line reached the output.
    pub written: Vec<Key>,
    /// Bulletins that did not (dropped for a stalled fifo). With `--store`
    /// they stay pending.
    pub missed: u64,
}

impl Delivery {
    /// Opens the delivery output: a fifo gets a writer thread; a file is
    /// opened for appending, its torn last line cut first.
    /// `store`: a `--store` keeps deliveries pending until confirmed.
    pub fn open(path: &Path, store: bool) -> Result<Self, Failure> {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            return Ok(Self::Fifo {
                out: PeerOutput::spawn(path, "delivery output")?,
                handed: VecDeque::new(),
                confirmed: 0,
            });
        }
        let name = path.display().to_string();
        // Delivered bulletins are the operator's mail: a new file is 0600.
        let mut file = open_append_no_follow(path, 0o600, true)?;
        let end = repair_last_line(&mut file)
            .map_err(|e| Failure::io(format!("relay: cannot repair {name}"), e))?;
        Ok(Self::File(DeliveryFile {
            name,
            file,
            end,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            deferred: None,
            store,
            full: false,
        }))
    }

    /// Whether already written lines can be read back (a file, not a fifo).
    pub fn is_file(&self) -> bool {
        matches!(self, Self::File(_))
    }

    /// Writes each bulletin as one JSON line (to a file that cannot take
    /// them now, they are held and retried).
    pub fn deliver(&mut self, bulletins: Vec<Bulletin>) -> Delivered {
        let mut done = Delivered::default();
        match self {
            Self::File(f) => {
                for b in bulletins {
                    let id = b.key();
                    let mut line = Vec::new();
                    // Writing to a Vec cannot fail.
                    let _ = write_object(&mut line, &Object::Bulletin(b), Format::Json);
                    f.backlog_bytes += line.len();
                    f.backlog.push_back((id, line));
                }
            }
            Self::Fifo { out, handed, .. } => {
                let ids: Vec<Key> = bulletins.iter().map(Bulletin::key).collect();
                for b in bulletins {
                    out.write(&Object::Bulletin(b), Format::Json);
                }
                done.missed = out.flush();
                if done.missed == 0 {
                    handed.extend(ids);
                }
            }
        }
        done.written.extend(self.taken());
        done
    }

    /// The ids written since the last call: for a fifo, those its thread
    /// wrote; for a file, the held lines it took now (tried at once unless
    /// deferred, then every [`RETRY_EVERY`]).
    pub fn taken(&mut self) -> Vec<Key> {
        let (out, handed, confirmed) = match self {
            Self::File(f) => return f.write_backlog(false),
            Self::Fifo {
                out,
                handed,
                confirmed,
            } => (out, handed, confirmed),
        };
        let n = out.written().saturating_sub(*confirmed);
        *confirmed += n;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(handed.len());
        handed.drain(..n).collect()
    }

    /// Deliveries held for a file that cannot take them now.
    pub fn held_back(&self) -> u64 {
        match self {
            Self::File(f) => f.backlog.len() as u64,
            Self::Fifo { .. } => 0,
        }
    }

    /// Whether the held deliveries reached [`BACKLOG_LIMIT`]: the relay
    /// reads no more input until the file takes them.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::File(f) if f.full)
    }

    /// At the end: one last try of a file's held lines; the ids written,
    /// and the failure to end with when some are still held.
    pub fn close(&mut self) -> (Vec<Key>, Option<Failure>) {
        let Self::File(f) = self else {
            return (Vec::new(), None);
        };
        let written = f.write_backlog(true);
        let Some(d) = f.deferred.as_ref().filter(|_| !f.backlog.is_empty()) else {
            return (written, None);
        };
        let n = f.backlog.len();
        let hint = if f.store {
            format!(
                "{n} deliveries stay pending in --store: make room and start the relay again, and they are delivered then"
            )
        } else {
            format!(
                "{n} deliveries were not written and nothing keeps them (no --store): make room, and run the relay with --store to keep deliveries across a full disk"
            )
        };
        let failure = Failure::io(
            format!("relay: cannot write delivery file {}", f.name),
            &d.why,
        )
        .hint(hint);
        (written, Some(failure))
    }

    /// For a fifo, how many bulletins were handed but never written.
    pub fn unwritten(&self) -> u64 {
        match self {
            Self::Fifo { handed, .. } => handed.len() as u64,
            Self::File(_) => 0,
        }
    }

    pub fn peer_output(&mut self) -> Option<&mut PeerOutput> {
        match self {
            Self::Fifo { out, .. } => Some(out),
            Self::File(_) => None,
        }
    }
}

impl DeliveryFile {
    /// Writes the held lines in order, one `write` each, until one fails;
    /// returns the ids written. When deferred, tries only once
    /// [`RETRY_EVERY`] has passed since the last try, unless `force`.
    fn write_backlog(&mut self, force: bool) -> Vec<Key> {
        let mut written = Vec::new();
        let now = Instant::now();
        let wait = !force
            && self
                .deferred
                .as_ref()
                .is_some_and(|d| now.duration_since(d.last_try) < RETRY_EVERY);
        while let Some((id, line)) = self.backlog.front().filter(|_| !wait) {
            if let Err(why) = self.file.write_all(line) {
                // Cut what part of the line went out (best effort: the
                // next start cuts it anyway).
                let _ = self.file.set_len(self.end);
                self.defer(why, now);
                break;
            }
            self.end += line.len() as u64;
            self.backlog_bytes -= line.len();
            written.push(*id);
            self.backlog.pop_front();
        }
        if self.backlog.is_empty()
            && let Some(d) = self.deferred.take()
        {
            eprintln!(
                "gossip: relay: delivery file {} takes lines again: the deferred deliveries are written, {:.0} s after the first failed",
                self.name,
                d.since.elapsed().as_secs_f64()
            );
        }
        if self.full && self.backlog_bytes < BACKLOG_LIMIT {
            self.full = false;
        } else if !self.full && self.backlog_bytes >= BACKLOG_LIMIT {
            self.full = true;
            eprintln!(
                "gossip: relay: {} deliveries ({} MiB) held for {}: reading no more input until it takes them",
                self.backlog.len(),
                BACKLOG_LIMIT >> 20,
                self.name
            );
        }
        written
    }

    /// Notes a failed write: the first one says so on stderr.
    fn defer(&mut self, why: std::io::Error, now: Instant) {
        match &mut self.deferred {
            Some(d) => {
                d.last_try = now;
                d.why = why;
            }
            None => {
                eprintln!(
                    "gossip: relay: cannot write delivery file {}: {why}; deliveries deferred ({} so far{}), the file retried every {} s",
                    self.name,
                    self.backlog.len(),
                    if self.store {
                        ", pending in --store"
                    } else {
                        ", held in memory"
                    },
                    RETRY_EVERY.as_secs()
                );
                self.deferred = Some(Deferred {
                    since: now,
                    last_try: now,
                    why,
                });
            }
        }
    }
}

/// How every line the relay delivers begins (a bulletin's JSON, its fields
/// in order); a torn line is a prefix of such a line.
const LINE_START: &[u8] = br#"{"content":""#;

/// Makes the file end in a newline, so the next line starts whole, and
/// returns its new length. What follows the last newline is either
/// - a line the relay tore (a `kill -9` in the middle of its one `write`):
///   a prefix of a delivery line (it starts as one does, [`LINE_START`],
///   is printable ASCII like all of it, and lacks the closing `}` only
///   the end of a line has). It is cut: with `--store` its bulletin is
///   still pending and delivered again, and without it no reader could
///   take half a line anyway;
/// - anything else (a whole line whose newline was not written, or a line
///   some other program wrote): kept, and a newline added.
fn repair_last_line(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 1 << 16];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&c| c == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end == len {
        return Ok(len);
    }
    if is_torn_delivery(file, end, len)? {
        file.set_len(end)?;
        eprintln!(
            "gossip: relay: cut a torn last line ({} bytes) that an interrupted write left in the delivery file",
            len - end
        );
        return Ok(end);
    }
    file.write_all(b"\n")?;
    eprintln!(
        "gossip: relay: the delivery file's last line ({} bytes) had no newline; kept it and added one",
        len - end
    );
    Ok(len + 1)
}

/// Whether the bytes from `start` to `len` are a delivery line the relay
/// began and never finished (see [`repair_last_line`]).
fn is_torn_delivery(file: &mut File, start: u64, len: u64) -> std::io::Result<bool> {
    if len - start > MAX_JSON_LINE as u64 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(start))?;
    let mut tail = BufReader::with_capacity(1 << 16, &mut *file).take(len - start);
    let (mut at, mut last) = (0usize, 0u8);
    loop {
        let buf = tail.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        for &c in buf {
            let fits = match LINE_START.get(at) {
                Some(&want) => c == want,
                None => (0x20..0x7f).contains(&c),
            };
            if !fits {
                return Ok(false);
            }
            at += 1;
            last = c;
        }
        let n = buf.len();
        tail.consume(n);
    }
    Ok(last != b'}')
}

/// The bulletin a delivery line names, if it is a JSON object naming one.
#[derive(serde::Deserialize)]
struct Line {
    topic: String,
    content_id: String,
}

/// A bulletin's key as a delivery line writes it: (hex topic id, hex
/// content id).
pub fn line_key(b: &Bulletin) -> (String, String) {
    (hex::encode(b.topic), hex::encode(b.content_id))
}

/// Which of `wanted` (hex keys, [`line_key`]) the delivery file at `path`
/// holds.
/// The file is read as a stream of byte lines: bad lines, non-UTF-8 bytes
/// and lines over the JSON line cap are skipped, and memory stays bounded
/// by one line, whatever the file's size.
pub fn held_ids(
    path: &Path,
    wanted: &HashSet<(String, String)>,
) -> std::io::Result<HashSet<(String, String)>> {
    let mut found = HashSet::new();
    let mut input = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_JSON_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(found);
        }
        if line.last() != Some(&b'\n') && n > MAX_JSON_LINE {
            // Too long to be a line the relay wrote: skip to its end.
            skip_line(&mut input)?;
            continue;
        }
        if let Ok(l) = serde_json::from_slice::<Line>(&line) {
            let key = (l.topic, l.content_id);
            if wanted.contains(&key) {
                found.insert(key);
            }
        }
    }
}

/// Reads up to and including the next newline, keeping nothing.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&c| c == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_delivery_line_starts_as_line_start_says() {
        let b = Bulletin::new([1; 32], b"hi".to_vec(), 5);
        let mut line = Vec::new();
        write_object(&mut line, &Object::Bulletin(b), Format::Json).unwrap();
        assert!(line.starts_with(LINE_START));
        assert!(line.ends_with(b"}\n"));
        assert!(
            line[..line.len() - 1]
                .iter()
                .all(|c| (0x20..0x7f).contains(c))
        );
    }
}
