//! Store queries: exact, prefix and suffix matches on a bulletin's topic
//! id, content id and content.

use crate::bulletin::Bulletin;

/// How a field must match a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The field equals the bytes.
    Exact(Vec<u8>),
    /// The field starts with the bytes.
    Prefix(Vec<u8>),
    /// The field ends with the bytes.
    Suffix(Vec<u8>),
}

impl Match {
    /// Whether `field` matches.
    pub fn matches(&self, field: &[u8]) -> bool {
        match self {
            Match::Exact(p) => field == p.as_slice(),
            Match::Prefix(p) => field.starts_with(p),
            Match::Suffix(p) => field.ends_with(p),
        }
    }

    /// The pattern bytes.
    pub fn pattern(&self) -> &[u8] {
        match self {
            Match::Exact(p) | Match::Prefix(p) | Match::Suffix(p) => p,
        }
    }
}

/// A query: every condition given must hold; an empty query matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Condition on the topic id.
    pub topic: Option<Match>,
    /// Condition on the content id.
    pub content_id: Option<Match>,
    /// Condition on the content.
    pub content: Option<Match>,
}

impl Query {
    /// Whether `b` satisfies every condition.
    pub fn matches(&self, b: &Bulletin) -> bool {
        self.topic
            .as_ref()
            .is_none_or(|m| m.matches(b.topic.as_bytes()))
            && self
                .content_id
                .as_ref()
                .is_none_or(|m| m.matches(b.content_id.as_bytes()))
            && self.content.as_ref().is_none_or(|m| m.matches(&b.content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TopicId;

    #[test]
    fn matches_each_kind() {
        let b = Bulletin::new(TopicId::from_bytes([7; 32]), b"hello world".to_vec(), 1);
        assert!(Query::default().matches(&b));
        let q = |content| Query {
            content: Some(content),
            ..Query::default()
        };
        assert!(q(Match::Exact(b"hello world".to_vec())).matches(&b));
        assert!(!q(Match::Exact(b"hello".to_vec())).matches(&b));
        assert!(q(Match::Prefix(b"hello".to_vec())).matches(&b));
        assert!(q(Match::Suffix(b"world".to_vec())).matches(&b));
        assert!(!q(Match::Suffix(b"hello".to_vec())).matches(&b));
        let t = Query {
            topic: Some(Match::Prefix(vec![7, 7])),
            ..Query::default()
        };
        assert!(t.matches(&b));
        let t = Query {
            topic: Some(Match::Prefix(vec![8])),
            ..Query::default()
        };
        assert!(!t.matches(&b));
    }
}
