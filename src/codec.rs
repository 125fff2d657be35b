//! Object streams: JSON Lines and length-prefixed wire frames.
//!
//! A reader detects the format from a stream's first byte: a byte that can
//! begin the length prefix of an object within [`MAX_OBJECT`] (0x00..=0x04)
//! starts wire frames (4-byte big-endian length, then the packed object);
//! any other byte starts JSON Lines, whose first line, like any line, is
//! skipped as malformed when it is not an object (so a stray "hello" typed
//! into a relay's input costs one line, not the stream). A JSON line longer
//! than [`MAX_JSON_LINE`] is dropped as it is read, never held whole. A wire frame carries no type;
//! a reader that takes both kinds classifies a frame as a bulletin when its
//! bytes 32..64 are SHA-256 of bytes 72.. (its content id matches), and as
//! a message otherwise. Lengths are checked against a cap before anything
//! is allocated.

use std::io::{self, BufRead, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::bulletin::{self, Bulletin};
use crate::error::DecodeError;
use crate::ids::content_id;
use crate::message::{self, RawMessage};

mod json;

/// The largest packed object a reader accepts, bytes (64 MiB): the one cap
/// on every object made, decoded or written.
pub const MAX_OBJECT: usize = message::MAX_MESSAGE;

pub use crate::bulletin::MAX_BULLETIN;

/// Refuses an object over its cap ([`MAX_BULLETIN`] or [`MAX_OBJECT`]).
pub fn check_size(obj: &Object) -> Result<(), DecodeError> {
    let (len, max) = match obj {
        Object::Bulletin(b) => (bulletin::HEADER_LEN + b.content.len(), MAX_BULLETIN),
        Object::Message(m) => (message::HEADER_LEN + m.body.len(), MAX_OBJECT),
    };
    if len > max {
        return Err(DecodeError::Oversized {
            len: len as u64,
            max: max as u64,
        });
    }
    Ok(())
}

/// The longest JSON line a reader accepts: a maximal object in base64 plus
/// room for the other fields.
pub const MAX_JSON_LINE: usize = json_line_cap(MAX_OBJECT);

/// The longest JSON line that can carry an object of `max` packed bytes.
pub(crate) const fn json_line_cap(max: usize) -> usize {
    max / 3 * 4 + 4096
}

/// A protocol object in a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A bulletin.
    Bulletin(Bulletin),
    /// A message.
    Message(RawMessage),
}

impl Object {
    /// "bulletin" or "message".
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Bulletin(_) => "bulletin",
            Object::Message(_) => "message",
        }
    }

    /// The packed protocol bytes.
    pub fn pack(&self) -> Vec<u8> {
        match self {
            Object::Bulletin(b) => b.pack(),
            Object::Message(m) => m.pack(),
        }
    }

    /// The JSON object of CLI.md.
    pub fn to_json(&self) -> Value {
        match self {
            Object::Bulletin(b) => json!({
                "type": "bulletin",
                "topic": hex::encode(b.topic),
                "content_id": hex::encode(b.content_id),
                "ts": b.ts,
                "nonce": b.nonce,
                "content": B64.encode(&b.content),
            }),
            Object::Message(m) => json!({
                "type": "message",
                "dst": m.dst.to_hex(),
                "src": m.src.to_hex(),
                "ts": m.ts,
                "nonce": m.nonce,
                "sig": hex::encode(m.sig),
                "body": B64.encode(&m.body),
            }),
        }
    }

    /// Reads one JSON object line; unknown fields are ignored, a known
    /// field given twice and uppercase hex are refused, and no JSON tree is
    /// built.
    pub fn from_json(line: &[u8]) -> Result<Self, DecodeError> {
        json::decode(line)
    }

    /// Classifies and unpacks one wire frame's bytes.
    pub fn from_packed(bytes: &[u8], kind: Kind) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_OBJECT {
            return Err(DecodeError::Oversized {
                len: bytes.len() as u64,
                max: MAX_OBJECT as u64,
            });
        }
        match kind {
            Kind::Bulletin => Bulletin::unpack(bytes).map(Object::Bulletin),
            Kind::Message => RawMessage::unpack(bytes).map(Object::Message),
            Kind::Any if looks_like_bulletin(bytes) || bytes.len() < message::HEADER_LEN => {
                Bulletin::unpack(bytes).map(Object::Bulletin)
            }
            Kind::Any => RawMessage::unpack(bytes).map(Object::Message),
        }
    }

    /// Checks the object against what the reader takes.
    pub fn expect(self, kind: Kind) -> Result<Self, DecodeError> {
        match (kind, &self) {
            (Kind::Any, _)
            | (Kind::Bulletin, Object::Bulletin(_))
            | (Kind::Message, Object::Message(_)) => Ok(self),
            _ => Err(DecodeError::WrongType {
                expected: kind.name(),
                found: self.type_name().into(),
            }),
        }
    }
}

/// A packed bulletin's content id matches its content.
fn looks_like_bulletin(bytes: &[u8]) -> bool {
    bytes.len() >= bulletin::HEADER_LEN
        && bytes[32..64] == content_id(&bytes[bulletin::HEADER_LEN..]).as_bytes()[..]
}

/// The kind of object a reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only bulletins.
    Bulletin,
    /// Only messages.
    Message,
    /// Either.
    Any,
}

impl Kind {
    /// For error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bulletin => "bulletin",
            Kind::Message => "message",
            Kind::Any => "bulletin or message",
        }
    }
}

/// Output format of an object stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines.
    #[default]
    Json,
    /// 4-byte big-endian length, then packed bytes.
    Wire,
}

/// Writes one object in `format`; an object over its cap is refused
/// (`InvalidInput`), since no reader would take it.
pub fn write_object(w: &mut impl Write, obj: &Object, format: Format) -> io::Result<()> {
    check_size(obj).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *w, &obj.to_json())?;
            w.write_all(b"\n")
        }
        Format::Wire => write_frame(w, &obj.pack()),
    }
}

/// Writes one wire frame; a frame over [`MAX_OBJECT`] is refused.
pub fn write_frame(w: &mut impl Write, packed: &[u8]) -> io::Result<()> {
    if packed.len() > MAX_OBJECT {
        let why = DecodeError::Oversized {
            len: packed.len() as u64,
            max: MAX_OBJECT as u64,
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
    }
    let len = u32::try_from(packed.len()).expect("under MAX_OBJECT");
    w.write_all(&len.to_be_bytes())?;
    w.write_all(packed)
}

/// An error reading a stream: the source failed, or an object is bad.
#[derive(Debug)]
pub enum ReadError {
    /// The underlying reader failed.
    Io(io::Error),
    /// An object did not decode; `fatal` when the stream cannot go on
    /// (a wire frame whose length cannot be trusted).
    Decode {
        /// What is wrong.
        error: DecodeError,
        /// Whether the rest of the stream is lost.
        fatal: bool,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Decode { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads objects from a stream of either format.
pub struct ObjectReader<R> {
    inner: R,
    kind: Kind,
    format: Option<Format>,
    done: bool,
    /// The JSON line being read, kept between lines.
    line: Vec<u8>,
    /// 1-based index of the object last read, for error messages.
    pub index: u64,
    /// The largest packed object this reader takes (at most [`MAX_OBJECT`]).
    max: usize,
    /// Refuse a stream whose first line is binary, not text.
    refuse_binary: bool,
}

impl<R: BufRead> ObjectReader<R> {
    /// A reader that takes objects of `kind`.
    pub fn new(inner: R, kind: Kind) -> Self {
        Self {
            inner,
            kind,
            format: None,
            done: false,
            line: Vec::new(),
            index: 0,
            max: MAX_OBJECT,
            refuse_binary: false,
        }
    }

    /// Ends the stream with one [`DecodeError::UnknownFormat`] when it
    /// starts like neither wire frames nor text (a NUL or bytes that are
    /// not UTF-8 in its first line: bare packed bytes, say), instead of
    /// reading it as lines of bad JSON.
    pub fn refuse_binary(mut self) -> Self {
        self.refuse_binary = true;
        self
    }

    /// Lowers the cap on one object to `max` packed bytes (a JSON line to
    /// its base64 length plus room for the other fields): a frame that
    /// announces more is refused from its length prefix, before any of it
    /// is read, and a longer line is dropped as it is read.
    pub fn max_object(mut self, max: usize) -> Self {
        self.max = max.min(MAX_OBJECT);
        self
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The detected format, once the first byte was read.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    fn detect(&mut self) -> Result<Option<Format>, ReadError> {
        if let Some(f) = self.format {
            return Ok(Some(f));
        }
        let buf = self.inner.fill_buf().map_err(ReadError::Io)?;
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let format = if usize::from(first) <= MAX_OBJECT >> 24 {
            Format::Wire
        } else {
            Format::Json
        };
        self.format = Some(format);
        if format == Format::Json && self.refuse_binary && is_binary_line(buf) {
            self.index += 1;
            return Err(ReadError::Decode {
                error: DecodeError::UnknownFormat(first),
                fatal: true,
            });
        }
        Ok(Some(format))
    }

    fn next_json(&mut self) -> Option<Result<Object, ReadError>> {
        loop {
            let cap = json_line_cap(self.max);
            let got = read_line_capped(&mut self.inner, cap, &mut self.line);
            let error = match got {
                Ok(None) => return None,
                Err(e) => return Some(Err(ReadError::Io(e))),
                Ok(Some(Line::TooLong(len))) => DecodeError::Oversized {
                    len,
                    max: cap as u64,
                },
                Ok(Some(Line::Whole)) if self.line.iter().all(u8::is_ascii_whitespace) => {
                    continue;
                }
                Ok(Some(Line::Whole)) => {
                    self.index += 1;
                    let parsed = Object::from_json(&self.line).and_then(|o| o.expect(self.kind));
                    if self.line.capacity() > 1 << 20 {
                        // A huge line's buffer is not kept for the next one.
                        self.line = Vec::new();
                    }
                    return Some(parsed.map_err(|error| ReadError::Decode {
                        error,
                        fatal: false,
                    }));
                }
            };
            self.index += 1;
            return Some(Err(ReadError::Decode {
                error,
                fatal: false,
            }));
        }
    }

    fn next_wire(&mut self) -> Option<Result<Object, ReadError>> {
        let mut len = [0u8; 4];
        let got = match read_full(&mut self.inner, &mut len) {
            Ok(n) => n,
            Err(e) => return Some(Err(ReadError::Io(e))),
        };
        if got == 0 {
            return None;
        }
        self.index += 1;
        let fatal = |error| Some(Err(ReadError::Decode { error, fatal: true }));
        if got < 4 {
            return fatal(DecodeError::TruncatedFrame {
                need: 4,
                got: got as u64,
            });
        }
        let len = u64::from(u32::from_be_bytes(len));
        if len > self.max as u64 {
            return fatal(DecodeError::Oversized {
                len,
                max: self.max as u64,
            });
        }
        let mut packed = Vec::new();
        if let Err(e) = (&mut self.inner).take(len).read_to_end(&mut packed) {
            return Some(Err(ReadError::Io(e)));
        }
        if (packed.len() as u64) < len {
            return fatal(DecodeError::TruncatedFrame {
                need: len,
                got: packed.len() as u64,
            });
        }
        let obj = Object::from_packed(&packed, self.kind);
        Some(obj.map_err(|error| ReadError::Decode {
            error,
            fatal: false,
        }))
    }
}

impl<R: BufRead> Iterator for ObjectReader<R> {
    type Item = Result<Object, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.detect() {
            Ok(None) => None,
            Ok(Some(Format::Json)) => self.next_json(),
            Ok(Some(Format::Wire)) => self.next_wire(),
            Err(e) => Some(Err(e)),
        };
        if matches!(
            item,
            None | Some(Err(ReadError::Io(_) | ReadError::Decode { fatal: true, .. }))
        ) {
            self.done = true;
        }
        item
    }
}

/// Whether the start of a stream (what was read of it, at most 1 KiB) is
/// binary rather than JSON Lines: it holds a NUL or bytes that are not
/// UTF-8, which JSON text never does, and its first line is not a JSON
/// object (so a good first line followed by junk is still read line by line).
fn is_binary_line(buf: &[u8]) -> bool {
    let head = &buf[..buf.len().min(1024)];
    let binary =
        head.contains(&0) || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some());
    binary && {
        let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
        !matches!(serde_json::from_slice::<Value>(line), Ok(Value::Object(_)))
    }
}

/// Reads until `buf` is full or the input ends; returns bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// How [`read_line_capped`] found a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// The line is in the buffer (with its newline, if it had one).
    Whole,
    /// The line was longer than the cap: its bytes, this many in all with
    /// the newline, were read and dropped, and the buffer is empty.
    TooLong(u64),
}

/// Reads one line of at most `cap` bytes (newline not counted) into `line`,
/// or drops a longer one as it reads it, holding no more than `cap` bytes.
/// `None` at the end of the input.
pub fn read_line_capped(
    r: &mut impl BufRead,
    cap: usize,
    line: &mut Vec<u8>,
) -> io::Result<Option<Line>> {
    line.clear();
    if r.by_ref().take(cap as u64 + 1).read_until(b'\n', line)? == 0 {
        return Ok(None);
    }
    if line.len() <= cap || line.last() == Some(&b'\n') {
        return Ok(Some(Line::Whole));
    }
    let mut len = line.len() as u64;
    line.clear();
    loop {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let (n, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        r.consume(n);
        len += n as u64;
        if end {
            break;
        }
    }
    Ok(Some(Line::TooLong(len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TopicId;
    use crate::keys::Address;

    fn read_all(bytes: &[u8], kind: Kind) -> Vec<Result<Object, ReadError>> {
        ObjectReader::new(bytes, kind).collect()
    }

    #[test]
    fn bare_packed_bytes_are_binary_and_json_lines_are_not() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        // Random bytes the size of a small message: a newline among them
        // leaves a short first line that may be valid UTF-8, but never JSON.
        for _ in 0..20_000 {
            let len = rng.gen_range(136..400);
            let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            if usize::from(bytes[0]) <= MAX_OBJECT >> 24 {
                continue; // a wire frame's first byte
            }
            assert!(is_binary_line(&bytes), "{}", hex::encode(&bytes));
        }
        assert!(!is_binary_line(b"{\"type\":\"bulletin\"}\n\x00\xff junk\n"));
        assert!(!is_binary_line(b"hello there\n{}\n"));
        assert!(!is_binary_line("caf\u{e9} \u{7f}ELF\n".as_bytes()));
        assert!(is_binary_line(b"hello\n\x00\x01"));
        let mut refused = ObjectReader::new(&b"\xc0\x01\n\x00"[..], Kind::Any).refuse_binary();
        assert!(matches!(
            refused.next(),
            Some(Err(ReadError::Decode {
                error: DecodeError::UnknownFormat(0xc0),
                fatal: true
            }))
        ));
        assert!(refused.next().is_none());
    }

    #[test]
    fn wire_and_json_streams_round_trip_and_classify() {
        let b = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            b"hi".to_vec(),
            5,
        ));
        let m = Object::Message(RawMessage {
            src: Address([2; 32]),
            dst: Address([3; 32]),
            ts: 6,
            nonce: 0,
            sig: [0; 64],
            body: vec![0; 10],
        });
        for format in [Format::Json, Format::Wire] {
            let mut out = Vec::new();
            write_object(&mut out, &b, format).unwrap();
            write_object(&mut out, &m, format).unwrap();
            let back: Vec<Object> = read_all(&out, Kind::Any)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(back, vec![b.clone(), m.clone()]);
        }
    }

    #[test]
    fn a_stray_first_line_is_one_malformed_line_and_the_stream_goes_on() {
        let b = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            b"hi".to_vec(),
            5,
        ));
        let mut text = b"hello there\n\xff\xfe\n".to_vec();
        write_object(&mut text, &b, Format::Json).unwrap();
        let items = read_all(&text, Kind::Any);
        assert_eq!(items.len(), 3);
        for item in &items[..2] {
            assert!(matches!(item, Err(ReadError::Decode { fatal: false, .. })));
        }
        assert_eq!(items[2].as_ref().unwrap(), &b);
    }

    #[test]
    fn an_oversized_line_is_dropped_as_read_and_named_by_its_own_number() {
        let mut long = b"{\"x\":\"".to_vec();
        long.resize(MAX_JSON_LINE + 10, b'a');
        long.extend_from_slice(b"\"}\n{}\n");
        let mut reader = ObjectReader::new(&long[..], Kind::Any);
        let first = reader.next().unwrap();
        assert_eq!(reader.index, 1);
        assert!(matches!(
            first,
            Err(ReadError::Decode {
                error: DecodeError::Oversized { len, .. },
                fatal: false
            }) if len == MAX_JSON_LINE as u64 + 13
        ));
        assert!(reader.next().unwrap().is_err());
        assert_eq!(reader.index, 2);
        assert!(reader.next().is_none());
    }

    #[test]
    fn objects_over_the_cap_are_neither_written_nor_decoded() {
        let big = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            vec![0; MAX_BULLETIN - 71],
            5,
        ));
        assert!(write_object(&mut io::sink(), &big, Format::Wire).is_err());
        assert!(write_frame(&mut io::sink(), &vec![0; MAX_OBJECT + 1]).is_err());
        assert!(Object::from_packed(&big.pack(), Kind::Any).is_err());
        let fits = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            vec![0; MAX_BULLETIN - 72],
            5,
        ));
        assert!(write_object(&mut io::sink(), &fits, Format::Wire).is_ok());
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating() {
        let items = read_all(&[0x04, 0xff, 0xff, 0xff, 1, 2], Kind::Any);
        assert_eq!(items.len(), 1);
        assert!(matches!(
            &items[0],
            Err(ReadError::Decode {
                error: DecodeError::Oversized { .. },
                fatal: true
            })
        ));
    }

    #[test]
    fn truncated_frame_and_bad_json_line_keep_earlier_objects() {
        let b = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            b"hi".to_vec(),
            5,
        ));
        let mut out = Vec::new();
        write_object(&mut out, &b, Format::Wire).unwrap();
        out.extend_from_slice(&[0, 0, 0, 100, 1, 2, 3]);
        let items = read_all(&out, Kind::Bulletin);
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(
            &items[1],
            Err(ReadError::Decode {
                error: DecodeError::TruncatedFrame { .. },
                ..
            })
        ));

        let mut text = Vec::new();
        write_object(&mut text, &b, Format::Json).unwrap();
        text.extend_from_slice(b"{not json\n");
        write_object(&mut text, &b, Format::Json).unwrap();
        let items = read_all(&text, Kind::Bulletin);
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_err() && items[2].is_ok());
    }

    #[test]
    fn wrong_type_is_an_error_not_a_guess() {
        let b = Object::Bulletin(Bulletin::new(
            TopicId::from_bytes([1; 32]),
            b"hi".to_vec(),
            5,
        ));
        let mut text = Vec::new();
        write_object(&mut text, &b, Format::Json).unwrap();
        let items = read_all(&text, Kind::Message);
        assert!(matches!(
            &items[0],
            Err(ReadError::Decode {
                error: DecodeError::WrongType { .. },
                ..
            })
        ));
    }
}
