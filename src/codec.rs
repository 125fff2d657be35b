//! Object streams: JSON Lines and length-prefixed wire frames.
//!
//! A reader detects the format from a stream's first byte: `{` (or
//! whitespace) starts JSON Lines; a byte that can begin the length prefix of
//! an object within [`MAX_OBJECT`] starts wire frames (4-byte big-endian
//! length, then the packed object); anything else is refused. A wire frame carries no type;
//! a reader that takes both kinds classifies a frame as a bulletin when its
//! bytes 32..64 are SHA-256 of bytes 72.. (its content id matches), and as
//! a message otherwise. Lengths are checked against a cap before anything
//! is allocated.

use std::io::{self, BufRead, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::bulletin::{self, Bulletin};
use crate::error::DecodeError;
use crate::ids::content_id;
use crate::keys::Address;
use crate::message::{self, Message};

/// The largest packed object a reader accepts, bytes (64 MiB).
pub const MAX_OBJECT: usize = 64 << 20;

/// The longest JSON line a reader accepts: a maximal object in base64 plus
/// room for the other fields.
pub const MAX_JSON_LINE: usize = MAX_OBJECT / 3 * 4 + 4096;

/// A protocol object in a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A bulletin.
    Bulletin(Bulletin),
    /// A message.
    Message(Message),
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

    /// Reads a JSON object; unknown fields are ignored.
    pub fn from_json(value: &Value) -> Result<Self, DecodeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| DecodeError::Json("not a JSON object".into()))?;
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| DecodeError::Json("missing string field 'type'".into()))?;
        match ty {
            "bulletin" => Ok(Object::Bulletin(Bulletin {
                topic: hex_field(obj, "topic")?,
                content_id: hex_field(obj, "content_id")?,
                ts: u32_field(obj, "ts")?,
                nonce: u32_field(obj, "nonce")?,
                content: b64_field(obj, "content")?,
            })),
            "message" => Ok(Object::Message(Message {
                dst: Address(hex_field(obj, "dst")?),
                src: Address(hex_field(obj, "src")?),
                ts: u32_field(obj, "ts")?,
                nonce: u32_field(obj, "nonce")?,
                sig: hex_field(obj, "sig")?,
                body: b64_field(obj, "body")?,
            })),
            other => Err(DecodeError::WrongType {
                expected: "bulletin or message",
                found: other.into(),
            }),
        }
    }

    /// Classifies and unpacks one wire frame's bytes.
    pub fn from_packed(bytes: &[u8], kind: Kind) -> Result<Self, DecodeError> {
        match kind {
            Kind::Bulletin => Bulletin::unpack(bytes).map(Object::Bulletin),
            Kind::Message => Message::unpack(bytes).map(Object::Message),
            Kind::Any if looks_like_bulletin(bytes) || bytes.len() < message::HEADER_LEN => {
                Bulletin::unpack(bytes).map(Object::Bulletin)
            }
            Kind::Any => Message::unpack(bytes).map(Object::Message),
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
        && bytes[32..64] == content_id(&bytes[bulletin::HEADER_LEN..])
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

/// Writes one object in `format`.
pub fn write_object(w: &mut impl Write, obj: &Object, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *w, &obj.to_json())?;
            w.write_all(b"\n")
        }
        Format::Wire => write_frame(w, &obj.pack()),
    }
}

/// Writes one wire frame.
pub fn write_frame(w: &mut impl Write, packed: &[u8]) -> io::Result<()> {
    let len = u32::try_from(packed.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "object larger than 4 GiB"))?;
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
    /// 1-based index of the object last read, for error messages.
    pub index: u64,
}

impl<R: BufRead> ObjectReader<R> {
    /// A reader that takes objects of `kind`.
    pub fn new(inner: R, kind: Kind) -> Self {
        Self {
            inner,
            kind,
            format: None,
            done: false,
            index: 0,
        }
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
        let format = if first == b'{' || first.is_ascii_whitespace() {
            Format::Json
        } else if usize::from(first) <= MAX_OBJECT >> 24 {
            Format::Wire
        } else {
            // Counted as the first object, so errors name object 1, not 0.
            self.index += 1;
            return Err(ReadError::Decode {
                error: DecodeError::UnknownFormat(first),
                fatal: true,
            });
        };
        self.format = Some(format);
        Ok(Some(format))
    }

    fn next_json(&mut self) -> Option<Result<Object, ReadError>> {
        loop {
            let mut line = Vec::new();
            let limit = MAX_JSON_LINE as u64 + 1;
            match (&mut self.inner).take(limit).read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(ReadError::Io(e))),
            }
            if line.len() as u64 >= limit && line.last() != Some(&b'\n') {
                let error = DecodeError::Oversized {
                    len: line.len() as u64,
                    max: MAX_JSON_LINE as u64,
                };
                return Some(Err(ReadError::Decode { error, fatal: true }));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.index += 1;
            let parsed = serde_json::from_slice::<Value>(&line)
                .map_err(|e| DecodeError::Json(e.to_string()))
                .and_then(|v| Object::from_json(&v))
                .and_then(|o| o.expect(self.kind));
            return Some(parsed.map_err(|error| ReadError::Decode {
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
        if len > MAX_OBJECT as u64 {
            return fatal(DecodeError::Oversized {
                len,
                max: MAX_OBJECT as u64,
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

fn field<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a Value, DecodeError> {
    obj.get(name).ok_or(DecodeError::Field {
        field: name,
        why: "missing".into(),
    })
}

fn hex_field<const N: usize>(
    obj: &Map<String, Value>,
    name: &'static str,
) -> Result<[u8; N], DecodeError> {
    let text = field(obj, name)?.as_str().ok_or(DecodeError::Field {
        field: name,
        why: "not a string".into(),
    })?;
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| DecodeError::Field {
        field: name,
        why: format!("expected {} hex digits", 2 * N),
    })?;
    Ok(out)
}

fn b64_field(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, DecodeError> {
    let text = field(obj, name)?.as_str().ok_or(DecodeError::Field {
        field: name,
        why: "not a string".into(),
    })?;
    B64.decode(text).map_err(|e| DecodeError::Field {
        field: name,
        why: format!("bad base64: {e}"),
    })
}

fn u32_field(obj: &Map<String, Value>, name: &'static str) -> Result<u32, DecodeError> {
    field(obj, name)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(DecodeError::Field {
            field: name,
            why: "not an integer in 0..=4294967295".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], kind: Kind) -> Vec<Result<Object, ReadError>> {
        ObjectReader::new(bytes, kind).collect()
    }

    #[test]
    fn wire_and_json_streams_round_trip_and_classify() {
        let b = Object::Bulletin(Bulletin::new([1; 32], b"hi".to_vec(), 5));
        let m = Object::Message(Message::new(
            Address([2; 32]),
            Address([3; 32]),
            6,
            vec![0; 10],
        ));
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
    fn text_that_is_not_json_is_refused() {
        let items = read_all(b"garbage\n{}", Kind::Any);
        assert_eq!(items.len(), 1);
        assert!(matches!(
            &items[0],
            Err(ReadError::Decode {
                error: DecodeError::UnknownFormat(b'g'),
                fatal: true
            })
        ));
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
        let b = Object::Bulletin(Bulletin::new([1; 32], b"hi".to_vec(), 5));
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
        let b = Object::Bulletin(Bulletin::new([1; 32], b"hi".to_vec(), 5));
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
