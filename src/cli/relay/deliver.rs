//! The delivery output of `--deliver PATH`: a file or a fifo.
//!
//! A bulletin counts as delivered (and is confirmed to the store, so it is
//! no longer pending) only once its whole line has reached the output:
//! - a regular file is written one line per `write` call, unbuffered, so a
//!   line is in the file when the call returns. A write that fails (a full
//!   disk) ends the relay with exit 4; what was not written stays pending
//!   in `--store` and is delivered on the next start. On start, a torn last
//!   line (a `kill -9` in the middle of a write) is cut back to the last
//!   complete line first; any other last line without a newline is kept
//!   ([`repair_last_line`]).
//! - a fifo is written by a thread of its own, like a `--peer` output, so a
//!   fifo nobody reads (yet) never stalls the relay. The thread reports how
//!   many lines it wrote; what a full queue drops stays pending in `--store`.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use gossip::bulletin::Bulletin;
use gossip::codec::{Format, MAX_JSON_LINE, Object, write_object};
use gossip::ids::Key;

use super::outputs::PeerOutput;
use crate::cli::io::{Failure, open_append_no_follow};

/// Where delivered bulletins go.
pub enum Delivery {
    /// A regular file, and its length after the last whole line.
    File { name: String, file: File, end: u64 },
    /// A fifo: its writer thread, and the ids handed to it not yet known
    /// to be written, in order.
    Fifo {
        out: PeerOutput,
        handed: VecDeque<Key>,
        confirmed: u64,
    },
}

/// What a delivery call did.
#[derive(Default)]
pub struct Delivered {
    /// Ids whose line reached the output.
    pub written: Vec<Key>,
    /// Bulletins that did not (dropped for a stalled fifo; for a file,
    /// those after a failed write). With `--store` they stay pending.
    pub missed: u64,
    /// A write to the delivery file failed: the relay must end.
    pub failed: Option<Failure>,
}

impl Delivery {
    /// Opens the delivery output: a fifo gets a writer thread; a file is
    /// opened for appending, its torn last line cut first.
    pub fn open(path: &Path) -> Result<Self, Failure> {
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
        Ok(Self::File { name, file, end })
    }

    /// Whether already written lines can be read back (a file, not a fifo).
    pub fn is_file(&self) -> bool {
        matches!(self, Self::File { .. })
    }

    /// Writes each bulletin as one JSON line.
    pub fn deliver(&mut self, bulletins: Vec<Bulletin>) -> Delivered {
        let mut done = Delivered::default();
        match self {
            Self::File { name, file, end } => {
                let total = bulletins.len() as u64;
                for b in bulletins {
                    let id = b.key();
                    let mut line = Vec::new();
                    // Writing to a Vec cannot fail.
                    let _ = write_object(&mut line, &Object::Bulletin(b), Format::Json);
                    if let Err(e) = file.write_all(&line) {
                        // Cut what part of the line went out (best effort:
                        // the next start cuts it anyway).
                        let _ = file.set_len(*end);
                        done.failed = Some(
                            Failure::io(format!("relay: cannot write delivery file {name}"), e)
                                .hint("make room and start the relay again: with --store, the bulletins not written are delivered then"),
                        );
                        break;
                    }
                    *end += line.len() as u64;
                    done.written.push(id);
                }
                done.missed = total - done.written.len() as u64;
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

    /// For a fifo, the ids its thread has written since the last call.
    pub fn taken(&mut self) -> Vec<Key> {
        let Self::Fifo {
            out,
            handed,
            confirmed,
        } = self
        else {
            return Vec::new();
        };
        let n = out.written().saturating_sub(*confirmed);
        *confirmed += n;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(handed.len());
        handed.drain(..n).collect()
    }

    /// For a fifo, how many bulletins were handed but never written.
    pub fn unwritten(&self) -> u64 {
        match self {
            Self::Fifo { handed, .. } => handed.len() as u64,
            Self::File { .. } => 0,
        }
    }

    pub fn peer_output(&mut self) -> Option<&mut PeerOutput> {
        match self {
            Self::Fifo { out, .. } => Some(out),
            Self::File { .. } => None,
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
