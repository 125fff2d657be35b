//! Extension advertisements: how a node tells a peer which of this
//! project's protocol extensions it speaks, in a message the original
//! already knows and ignores.
//!
//! The advertisement rides in the optional packed content of
//! request_sync_headers (topic id ‖ packed content), which the original
//! parses as a `Content` and never reads:
//!
//! ```text
//! content id (32) = SHA-256(content)
//! content         = b"gossip-extensions:" ‖ name ( b"," name )*
//! ```
//!
//! Names are ASCII, without commas. A node reads the names it knows and
//! ignores the rest, so a later extension adds a name. An extension's own
//! messages are sent only to a peer whose advertisement named it (see
//! `docs/protocol.md`, "Extensions").

use crate::ids::content_id;
use crate::operation::PackedContent;

/// What every advertisement's content starts with.
pub const ADVERT_PREFIX: &[u8] = b"gossip-extensions:";

/// The name of set reconciliation with negentropy protocol v1
/// (`reconcile`, operation 0x0b).
pub const RECONCILE_V1: &str = "negentropy-v1";

/// The name of eager/lazy dissemination along a tree (PlumTree with
/// batched announcements: `announce`, `graft` and `prune`, operations
/// 0x0c..0x0e).
pub const PLUMTREE_V1: &str = "plumtree-v1";

/// Longest advertisement read, in bytes of packed content: a longer one
/// is not an advertisement.
pub const MAX_ADVERT_LEN: usize = 1024;

/// The packed content advertising `names`: what follows the topic id in a
/// request_sync_headers.
pub fn advert(names: &[&str]) -> Vec<u8> {
    let mut content = ADVERT_PREFIX.to_vec();
    content.extend_from_slice(names.join(",").as_bytes());
    PackedContent {
        id: content_id(&content),
        content,
    }
    .pack()
}

/// Whether the bytes after the topic id of a request_sync_headers
/// advertise the extension `name`. Anything else (nothing, packed content
/// of another kind, a content id that does not match, an overlong
/// advertisement) advertises nothing.
pub fn advertises(rest: &[u8], name: &str) -> bool {
    names(rest).is_some_and(|names| names.split(|&b| b == b',').any(|n| n == name.as_bytes()))
}

/// Whether the bytes after the topic id of a request_sync_headers are an
/// advertisement at all (of any names, or none): a request that carries
/// one says which extensions its sender speaks, one without says nothing.
pub fn is_advert(rest: &[u8]) -> bool {
    names(rest).is_some()
}

/// The comma-separated names of an advertisement, if `rest` is one.
fn names(rest: &[u8]) -> Option<Vec<u8>> {
    if rest.len() > MAX_ADVERT_LEN {
        return None;
    }
    let packed = PackedContent::unpack(rest).ok()?;
    let names = packed.content.strip_prefix(ADVERT_PREFIX)?;
    (packed.id == content_id(&packed.content)).then(|| names.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advert_names_what_it_lists_and_nothing_else() {
        let a = advert(&[RECONCILE_V1, "later-v2"]);
        assert!(advertises(&a, RECONCILE_V1));
        assert!(advertises(&a, "later-v2"));
        assert!(!advertises(&a, "negentropy"));
        assert!(!advertises(&advert(&[]), RECONCILE_V1));
        assert!(!advertises(&[], RECONCILE_V1), "a plain request");
        assert!(!is_advert(&[]) && is_advert(&advert(&[])) && is_advert(&a));
        let mut forged = a.clone();
        forged[0] ^= 1;
        assert!(
            !advertises(&forged, RECONCILE_V1),
            "the content id must match"
        );
        let long = advert(&[&"x".repeat(MAX_ADVERT_LEN), RECONCILE_V1]);
        assert!(!advertises(&long, RECONCILE_V1), "overlong");
    }
}
