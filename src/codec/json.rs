//! Decoding one JSON line straight into a protocol object.
//!
//! No `serde_json::Value` tree is built: the known fields are read as
//! strings (borrowed from the line when they hold no escapes) or integers,
//! and everything else is skipped as it is parsed. So a line costs its own
//! bytes plus the decoded object, whatever it holds. A known field given
//! twice is refused (no "last one wins"), and hex fields must be lowercase:
//! an object has one text form.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{MAX_BULLETIN, Object, check_size};
use crate::bulletin::Bulletin;
use crate::error::DecodeError;
use crate::keys::Address;
use crate::message::RawMessage;

/// One JSON line as an object; unknown fields are ignored.
pub fn decode(line: &[u8]) -> Result<Object, DecodeError> {
    let fields: Fields =
        serde_json::from_slice(line).map_err(|e| DecodeError::Json(e.to_string()))?;
    fields.into_object()
}

/// A field value, kept only as far as an object field can use it.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// A non-negative integer that fits u64.
    Int(u64),
    /// Anything else (read and dropped).
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// The fields an object can have, each read at most once.
#[derive(Default)]
struct Fields<'a> {
    ty: Option<Scalar<'a>>,
    topic: Option<Scalar<'a>>,
    content_id: Option<Scalar<'a>>,
    ts: Option<Scalar<'a>>,
    nonce: Option<Scalar<'a>>,
    content: Option<Scalar<'a>>,
    dst: Option<Scalar<'a>>,
    src: Option<Scalar<'a>>,
    sig: Option<Scalar<'a>>,
    body: Option<Scalar<'a>>,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Fields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "type" => &mut out.ty,
                "topic" => &mut out.topic,
                "content_id" => &mut out.content_id,
                "ts" => &mut out.ts,
                "nonce" => &mut out.nonce,
                "content" => &mut out.content,
                "dst" => &mut out.dst,
                "src" => &mut out.src,
                "sig" => &mut out.sig,
                "body" => &mut out.body,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate field '{key}'")));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(out)
    }
}

impl Fields<'_> {
    fn into_object(self) -> Result<Object, DecodeError> {
        let ty = match &self.ty {
            Some(Scalar::Str(s)) => s.as_ref(),
            _ => return Err(DecodeError::Json("missing string field 'type'".into())),
        };
        let obj = match ty {
            "bulletin" => Object::Bulletin(Bulletin {
                topic: hex_field(self.topic, "topic")?.into(),
                content_id: hex_field(self.content_id, "content_id")?.into(),
                ts: u32_field(self.ts, "ts")?,
                nonce: u32_field(self.nonce, "nonce")?,
                content: b64_field(self.content, "content", MAX_BULLETIN)?,
            }),
            "message" => Object::Message(RawMessage {
                dst: Address(hex_field(self.dst, "dst")?),
                src: Address(hex_field(self.src, "src")?),
                ts: u32_field(self.ts, "ts")?,
                nonce: u32_field(self.nonce, "nonce")?,
                sig: hex_field(self.sig, "sig")?,
                body: b64_field(self.body, "body", super::MAX_OBJECT)?,
            }),
            other => {
                return Err(DecodeError::WrongType {
                    expected: "bulletin or message",
                    found: other.into(),
                });
            }
        };
        check_size(&obj)?;
        Ok(obj)
    }
}

fn string<'a>(value: Option<Scalar<'a>>, field: &'static str) -> Result<Cow<'a, str>, DecodeError> {
    match value {
        Some(Scalar::Str(s)) => Ok(s),
        Some(_) => Err(DecodeError::Field {
            field,
            why: "not a string".into(),
        }),
        None => Err(DecodeError::Field {
            field,
            why: "missing".into(),
        }),
    }
}

fn hex_field<const N: usize>(
    value: Option<Scalar<'_>>,
    field: &'static str,
) -> Result<[u8; N], DecodeError> {
    let text = string(value, field)?;
    let mut out = [0u8; N];
    let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower || hex::decode_to_slice(text.as_bytes(), &mut out).is_err() {
        return Err(DecodeError::Field {
            field,
            why: format!("expected {} lowercase hex digits", 2 * N),
        });
    }
    Ok(out)
}

/// Base64 decoded only when its decoded size fits under `max` bytes.
fn b64_field(
    value: Option<Scalar<'_>>,
    field: &'static str,
    max: usize,
) -> Result<Vec<u8>, DecodeError> {
    let text = string(value, field)?;
    let len = text.len() / 4 * 3;
    if len > max + 3 {
        return Err(DecodeError::Oversized {
            len: len as u64,
            max: max as u64,
        });
    }
    B64.decode(text.as_bytes()).map_err(|e| DecodeError::Field {
        field,
        why: format!("bad base64: {e}"),
    })
}

fn u32_field(value: Option<Scalar<'_>>, field: &'static str) -> Result<u32, DecodeError> {
    match value {
        Some(Scalar::Int(n)) => u32::try_from(n).ok(),
        Some(_) => None,
        None => {
            return Err(DecodeError::Field {
                field,
                why: "missing".into(),
            });
        }
    }
    .ok_or(DecodeError::Field {
        field,
        why: "not an integer in 0..=4294967295".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn bulletin_line(extra: &str, topic: &str) -> String {
        format!(
            "{{\"type\":\"bulletin\",\"topic\":\"{topic}\",\"content_id\":\"{Z}\",\"ts\":1,\"nonce\":0,\"content\":\"aGk=\"{extra}}}"
        )
    }

    #[test]
    fn unknown_fields_of_any_shape_are_skipped() {
        let line = bulletin_line(
            ",\"x\":[1,[2,{\"a\":null}],\"s\\u0041\"],\"y\":{\"z\":-1.5}",
            Z,
        );
        let Object::Bulletin(b) = decode(line.as_bytes()).unwrap() else {
            panic!("not a bulletin")
        };
        assert_eq!(b.content, b"hi");
    }

    #[test]
    fn duplicate_known_fields_are_refused() {
        let line = bulletin_line(",\"ts\":2", Z);
        let err = decode(line.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("duplicate field 'ts'"), "{err}");
    }

    #[test]
    fn uppercase_hex_is_refused() {
        let upper = format!("AB{}", &Z[2..]);
        let err = decode(bulletin_line("", &upper).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("lowercase hex"), "{err}");
    }

    #[test]
    fn escaped_strings_decode() {
        let line = bulletin_line("", Z).replace("aGk=", "aG\\u0073=");
        assert!(decode(line.as_bytes()).is_ok());
    }
}
