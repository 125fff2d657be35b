//! Topic and content ids: SHA-256 of a descriptor or of content, as two
//! types that cannot be mixed up ([`TopicId`], [`ContentId`]), and a
//! bulletin's identity made of both ([`BulletinKey`]).
//!
//! Both ids are 32 bytes on the wire and in storage, and lowercase hex in
//! text (`Display`, `FromStr`, `Debug`, and the JSON codec). A function that
//! takes a topic id does not take a content id: the compiler keeps them
//! apart.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::keys::Address;

/// The descriptor of the topic every node follows.
pub const BEACON_DESCRIPTOR: &[u8] = b"node beacon channel";

/// Length of a delivery code, the secret half of an inbox topic.
pub const DELIVERY_CODE_LEN: usize = 8;

/// Length of a topic or content id in bytes.
pub const ID_LEN: usize = 32;

/// Hex text that is not a 32-byte id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseIdError {
    /// Not 64 characters long.
    Length {
        /// Characters given.
        got: usize,
    },
    /// A character that is not a hex digit.
    NotHex {
        /// Its position, counted in characters from 0.
        index: usize,
        /// The character.
        found: char,
    },
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { got } => {
                write!(f, "expected {} hex digits, got {got}", 2 * ID_LEN)
            }
            Self::NotHex { index, found } => {
                write!(f, "{found:?} at position {index} is not a hex digit")
            }
        }
    }
}

impl std::error::Error for ParseIdError {}

/// 64 hex digits (either case) to 32 bytes.
fn parse_hex(text: &str) -> Result<[u8; ID_LEN], ParseIdError> {
    let got = text.chars().count();
    if got != 2 * ID_LEN {
        return Err(ParseIdError::Length { got });
    }
    if let Some((index, found)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        return Err(ParseIdError::NotHex { index, found });
    }
    let mut out = [0u8; ID_LEN];
    // 64 ASCII hex digits: this cannot fail, but a failure is still an error.
    hex::decode_to_slice(text, &mut out).map_err(|_| ParseIdError::Length { got })?;
    Ok(out)
}

/// Defines a 32-byte id newtype with its conversions and hex text forms.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// The id with these bytes (as read from the wire or a store).
            pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The id's 32 bytes.
            pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// The id's 32 bytes, by value.
            pub const fn to_bytes(self) -> [u8; ID_LEN] {
                self.0
            }
        }

        impl From<[u8; ID_LEN]> for $name {
            fn from(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }
        }

        /// Exactly 32 bytes, e.g. a slice of a received frame.
        impl TryFrom<&[u8]> for $name {
            type Error = std::array::TryFromSliceError;

            fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
                <[u8; ID_LEN]>::try_from(bytes).map(Self)
            }
        }

        impl From<$name> for [u8; ID_LEN] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        /// 64 lowercase hex digits.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; 2 * ID_LEN];
                // The buffer is exactly twice the id's length.
                hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
                f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        /// 64 hex digits, either case; nothing else (no spaces, no `0x`).
        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, ParseIdError> {
                parse_hex(text).map(Self)
            }
        }
    };
}

id_type! {
    /// A topic id: SHA-256 of a topic descriptor ([`topic_id`]), or an
    /// inbox topic ([`inbox_topic`]).
    TopicId
}

id_type! {
    /// A content id: SHA-256 of a bulletin's content ([`content_id`]).
    ContentId
}

/// A bulletin's identity: its topic id and content id. The same content
/// under two topics is two bulletins; a re-stamped copy (same topic and
/// content, another ts or nonce) is the same one. Ordered by topic, then
/// content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BulletinKey {
    /// The topic id.
    pub topic: TopicId,
    /// The content id.
    pub content: ContentId,
}

impl BulletinKey {
    /// The key of content `content` under topic `topic`.
    pub const fn new(topic: TopicId, content: ContentId) -> Self {
        Self { topic, content }
    }
}

/// Topic id of a descriptor: SHA-256(descriptor).
pub fn topic_id(descriptor: &[u8]) -> TopicId {
    TopicId(Sha256::digest(descriptor).into())
}

/// Content id: SHA-256(content).
pub fn content_id(content: &[u8]) -> ContentId {
    ContentId(Sha256::digest(content).into())
}

/// The beacon topic: SHA-256(b"node beacon channel").
pub fn beacon_topic() -> TopicId {
    topic_id(BEACON_DESCRIPTOR)
}

/// A node's inbox topic: SHA-256(delivery_code ‖ address).
pub fn inbox_topic(delivery_code: &[u8; DELIVERY_CODE_LEN], address: &Address) -> TopicId {
    let mut h = Sha256::new();
    h.update(delivery_code);
    h.update(address.as_bytes());
    TopicId(h.finalize().into())
}

/// Streams content through SHA-256 (for `content-id` on large files).
#[derive(Default)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    /// Feeds more content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The content id of everything fed.
    pub fn finish(self) -> ContentId {
        ContentId(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn display_is_lowercase_hex_and_round_trips() {
        let t = topic_id(b"test");
        assert_eq!(t.to_string(), CHAT);
        assert_eq!(CHAT.parse::<TopicId>(), Ok(t));
        assert_eq!(format!("{t:?}"), format!("TopicId({CHAT})"));
        let c = content_id(b"test");
        assert_eq!(c.to_string(), CHAT);
        assert_eq!(c.to_string().parse::<ContentId>(), Ok(c));
        assert_eq!(format!("{c:?}"), format!("ContentId({CHAT})"));
    }

    #[test]
    fn uppercase_is_read_and_written_back_lowercase() {
        let t: TopicId = CHAT.to_uppercase().parse().unwrap();
        assert_eq!(t.to_string(), CHAT);
    }

    #[test]
    fn wrong_length_is_refused_with_the_length() {
        for text in [
            "",
            "ab",
            &CHAT[1..],
            &format!("{CHAT}0"),
            &format!(" {CHAT}"),
        ] {
            let got = text.chars().count();
            assert_eq!(
                text.parse::<TopicId>(),
                Err(ParseIdError::Length { got }),
                "{text:?}"
            );
            assert_eq!(text.parse::<ContentId>(), Err(ParseIdError::Length { got }));
        }
        assert_eq!(
            "ab".parse::<ContentId>().unwrap_err().to_string(),
            "expected 64 hex digits, got 2"
        );
    }

    #[test]
    fn a_non_hex_character_is_refused_with_where() {
        let mut text = CHAT.to_string();
        text.replace_range(5..6, "g");
        let err = text.parse::<TopicId>().unwrap_err();
        assert_eq!(
            err,
            ParseIdError::NotHex {
                index: 5,
                found: 'g'
            }
        );
        assert_eq!(err.to_string(), "'g' at position 5 is not a hex digit");
        // A multi-byte character counts as one.
        let text = format!("é{}", &CHAT[1..]);
        assert_eq!(
            text.parse::<ContentId>(),
            Err(ParseIdError::NotHex {
                index: 0,
                found: 'é'
            })
        );
        let text = format!("0x{}", &CHAT[2..]);
        assert_eq!(
            text.parse::<ContentId>(),
            Err(ParseIdError::NotHex {
                index: 1,
                found: 'x'
            })
        );
    }

    #[test]
    fn bytes_convert_both_ways() {
        let bytes = [7u8; ID_LEN];
        let t = TopicId::from_bytes(bytes);
        assert_eq!(t.as_bytes(), &bytes);
        assert_eq!(t.to_bytes(), bytes);
        assert_eq!(<[u8; ID_LEN]>::from(ContentId::from(bytes)), bytes);
        assert_eq!(t.as_ref(), &bytes[..]);
    }

    #[test]
    fn keys_order_by_topic_then_content_as_byte_tuples_do() {
        let ids = [[0u8; 32], [1; 32], [0xff; 32]];
        let mut keys = Vec::new();
        let mut tuples = Vec::new();
        for t in ids {
            for c in ids.iter().rev() {
                keys.push(BulletinKey::new(t.into(), (*c).into()));
                tuples.push((t, *c));
            }
        }
        keys.sort();
        tuples.sort();
        let back: Vec<_> = keys
            .iter()
            .map(|k| (k.topic.to_bytes(), k.content.to_bytes()))
            .collect();
        assert_eq!(back, tuples);
    }
}
