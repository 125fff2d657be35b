//! A delivery log: delivered bulletins appended to a file as JSON lines,
//! each counted as delivered only once its whole line is in the file.
//!
//! - Each line is written by one `write` call, unbuffered, so a line is in
//!   the file when the call returns ([`DeliveryLog::write`] returns the
//!   keys written, for the caller to confirm to its store).
//! - A write that fails (a full disk) defers the deliveries, as a mail
//!   server does: the lines not written are held in order (at most
//!   [`BACKLOG_LIMIT`] bytes; past it [`DeliveryLog::is_full`] says to
//!   stop taking input) and the file is tried again every [`RETRY_EVERY`].
//!   What part of a line went out is cut off again.
//! - On open, a torn last line (a `kill -9` in the middle of a write) is
//!   cut back to the last complete line; any other last line without a
//!   newline is kept and given one ([`Repair`]).
//! - [`held_keys`] reads a log back, bounded by one line in memory, to tell
//!   which bulletins a crash may have kept from being confirmed.
//!
//! The caller opens the file (for reading and appending: how, with what
//! mode and whether through links, is its choice) and says what to tell
//! its operator of the [`LogNotice`]s.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use crate::bulletin::Bulletin;
use crate::codec::{Format, MAX_JSON_LINE, Object, write_object};
use crate::ids::BulletinKey;

/// How often a log that failed a write is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Most bytes of deferred lines held in memory; past it the log is full.
pub const BACKLOG_LIMIT: usize = 32 << 20;

/// What opening a log did to its last line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// The file was empty or ended in a newline.
    None,
    /// A torn delivery line of this many bytes was cut.
    CutTorn(u64),
    /// A last line of this many bytes had no newline: kept, one added.
    AddedNewline(u64),
}

/// Something the caller may tell its operator.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogNotice {
    /// A write failed for the first time since the log last took
    /// everything: deliveries are deferred.
    Deferred {
        /// Why the write failed.
        why: io::Error,
        /// Lines held now.
        held: usize,
    },
    /// The deferred lines are all written, this long after the first
    /// failure.
    Recovered {
        /// Since the first failed write.
        after: Duration,
    },
    /// The held lines reached [`BACKLOG_LIMIT`]: take no more input until
    /// the log takes them.
    Full {
        /// Lines held now.
        held: usize,
    },
}

/// A delivery log on an open file. See the [module docs](self).
#[derive(Debug)]
pub struct DeliveryLog {
    file: File,
    /// The file's length after the last whole line.
    end: u64,
    /// Lines not written yet, in order.
    backlog: VecDeque<(BulletinKey, Vec<u8>)>,
    backlog_bytes: usize,
    /// Since when, and why, deliveries are deferred.
    deferred: Option<Deferred>,
    /// The backlog reached [`BACKLOG_LIMIT`] (said once until it drains).
    full: bool,
    notices: VecDeque<LogNotice>,
}

#[derive(Debug)]
struct Deferred {
    since: Instant,
    last_try: Instant,
    why: io::Error,
}

impl DeliveryLog {
    /// A log on `file` (open for reading and appending), its last line
    /// repaired first.
    pub fn open(mut file: File) -> io::Result<(Self, Repair)> {
        let (end, repair) = repair_last_line(&mut file)?;
        let log = Self {
            file,
            end,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            deferred: None,
            full: false,
            notices: VecDeque::new(),
        };
        Ok((log, repair))
    }

    /// Queues each bulletin's JSON line, in order; [`DeliveryLog::write`]
    /// writes them.
    pub fn push(&mut self, bulletins: Vec<Bulletin>) {
        for b in bulletins {
            let key = b.key();
            let mut line = Vec::new();
            // Writing to a Vec cannot fail.
            let _ = write_object(&mut line, &Object::Bulletin(b), Format::Json);
            self.backlog_bytes += line.len();
            self.backlog.push_back((key, line));
        }
    }

    /// Writes the queued lines in order, one `write` each, until one
    /// fails; returns the keys written. While deferred it tries only once
    /// [`RETRY_EVERY`] has passed since the last try, unless `force`.
    pub fn write(&mut self, force: bool) -> Vec<BulletinKey> {
        let mut written = Vec::new();
        let now = Instant::now();
        let wait = !force
            && self
                .deferred
                .as_ref()
                .is_some_and(|d| now.duration_since(d.last_try) < RETRY_EVERY);
        while let Some((key, line)) = self.backlog.front().filter(|_| !wait) {
            if let Err(why) = self.file.write_all(line) {
                // Cut what part of the line went out (best effort: the
                // next open cuts it anyway).
                let _ = self.file.set_len(self.end);
                self.defer(why, now);
                break;
            }
            self.end += line.len() as u64;
            self.backlog_bytes -= line.len();
            written.push(*key);
            self.backlog.pop_front();
        }
        if self.backlog.is_empty()
            && let Some(d) = self.deferred.take()
        {
            let after = d.since.elapsed();
            self.notices.push_back(LogNotice::Recovered { after });
        }
        if self.full && self.backlog_bytes < BACKLOG_LIMIT {
            self.full = false;
        } else if !self.full && self.backlog_bytes >= BACKLOG_LIMIT {
            self.full = true;
            let held = self.backlog.len();
            self.notices.push_back(LogNotice::Full { held });
        }
        written
    }

    fn defer(&mut self, why: io::Error, now: Instant) {
        match &mut self.deferred {
            Some(d) => {
                d.last_try = now;
                d.why = why;
            }
            None => {
                let held = self.backlog.len();
                let copy = io::Error::new(why.kind(), why.to_string());
                self.notices
                    .push_back(LogNotice::Deferred { why: copy, held });
                self.deferred = Some(Deferred {
                    since: now,
                    last_try: now,
                    why,
                });
            }
        }
    }

    /// The next notice for the operator.
    pub fn poll_notice(&mut self) -> Option<LogNotice> {
        self.notices.pop_front()
    }

    /// Lines queued and not written yet.
    pub fn held(&self) -> usize {
        self.backlog.len()
    }

    /// Whether the held lines reached [`BACKLOG_LIMIT`].
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Why the last write failed, while lines are still held after it.
    pub fn failure(&self) -> Option<&io::Error> {
        let d = self.deferred.as_ref()?;
        (!self.backlog.is_empty()).then_some(&d.why)
    }
}

/// How every line a log writes begins (a bulletin's JSON, its fields in
/// order); a torn line is a prefix of such a line.
const LINE_START: &[u8] = br#"{"content":""#;

/// Makes the file end in a newline, so the next line starts whole, and
/// returns its new length. What follows the last newline is either
/// - a line a log tore (a `kill -9` in the middle of its one `write`):
///   a prefix of a delivery line (it starts as one does, [`LINE_START`],
///   is printable ASCII like all of it, and lacks the closing `}` only
///   the end of a line has). It is cut: a store that kept its bulletin
///   pending delivers it again, and no reader could take half a line
///   anyway;
/// - anything else (a whole line whose newline was not written, or a line
///   some other program wrote): kept, and a newline added.
fn repair_last_line(file: &mut File) -> io::Result<(u64, Repair)> {
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
        return Ok((len, Repair::None));
    }
    if is_torn_delivery(file, end, len)? {
        file.set_len(end)?;
        return Ok((end, Repair::CutTorn(len - end)));
    }
    file.write_all(b"\n")?;
    Ok((len + 1, Repair::AddedNewline(len - end)))
}

/// Whether the bytes from `start` to `len` are a delivery line a log began
/// and never finished (see [`repair_last_line`]).
fn is_torn_delivery(file: &mut File, start: u64, len: u64) -> io::Result<bool> {
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

/// A bulletin's key as a log line writes it: (hex topic id, hex content
/// id).
pub type LineKey = (String, String);

/// The bulletin a delivery line names, if it is a JSON object naming one.
#[derive(serde::Deserialize)]
struct Line {
    topic: String,
    content_id: String,
}

/// A bulletin's [`LineKey`].
pub fn line_key(b: &Bulletin) -> LineKey {
    (hex::encode(b.topic), hex::encode(b.content_id))
}

/// Which of `wanted` the log read from `input` holds. It is read as a
/// stream of byte lines: bad lines, non-UTF-8 bytes and lines over the
/// JSON line cap are skipped, and memory stays bounded by one line,
/// whatever the log's size.
pub fn held_keys(input: impl Read, wanted: &HashSet<LineKey>) -> io::Result<HashSet<LineKey>> {
    let mut found = HashSet::new();
    let mut input = BufReader::with_capacity(1 << 16, input);
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
            // Too long to be a line a log wrote: skip to its end.
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
fn skip_line(input: &mut impl BufRead) -> io::Result<()> {
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
    use crate::ids::TopicId;

    #[test]
    fn every_delivery_line_starts_as_line_start_says() {
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), b"hi".to_vec(), 5);
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

    fn log_with(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.out");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn open(path: &std::path::Path) -> (DeliveryLog, Repair) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .unwrap();
        DeliveryLog::open(file).unwrap()
    }

    #[test]
    fn a_torn_line_is_cut_and_a_foreign_one_kept() {
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), b"hi".to_vec(), 5);
        let mut line = Vec::new();
        write_object(&mut line, &Object::Bulletin(b.clone()), Format::Json).unwrap();
        let mut text = line.clone();
        text.extend_from_slice(&line[..line.len() / 2]);
        let (_dir, path) = log_with(&text);
        let (mut log, repair) = open(&path);
        assert_eq!(repair, Repair::CutTorn((line.len() / 2) as u64));
        log.push(vec![b.clone()]);
        assert_eq!(log.write(false), vec![b.key()]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [&line[..], &line[..]].concat()
        );
        let wanted = HashSet::from([line_key(&b)]);
        let held = held_keys(File::open(&path).unwrap(), &wanted).unwrap();
        assert_eq!(held, wanted);

        let (_dir, path) = log_with(b"not a delivery");
        assert_eq!(open(&path).1, Repair::AddedNewline(14));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a delivery\n");
    }
}
