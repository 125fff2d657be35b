//! Making a message ready for the wire, in the protocol's sending order:
//! seal, sign, mine.

use std::collections::BTreeMap;

use super::{Connection, NodeError, Outbound, queues::Draft};
use crate::crypto::{Cipher, Identity, PeerKey};
use crate::keys::Address;
use crate::message::Message;
use crate::pow::Difficulty;

/// Makes a message ready for the wire: seal `plain` (operation byte ‖
/// payload) to `key` (dst's, cached), sign src ‖ dst ‖ body with
/// `identity`, then mine to `difficulty` from a random start as the
/// original's. [`Message::to`] does the same step by step.
pub fn prepare_message(
    identity: &Identity,
    key: &PeerKey,
    dst: Address,
    plain: &[u8],
    ts: u32,
    difficulty: Difficulty,
    cipher: Cipher,
) -> Result<Message, NodeError> {
    Ok(Message::to(dst)
        .at(ts)
        .body(key.seal(plain, cipher)?)
        .sign(identity)
        .hashcash(difficulty)?)
}

/// Seals, signs and mines a draft, with the peer's cached key when it is a
/// neighbour.
pub(crate) fn prepare(
    identity: &Identity,
    connections: &BTreeMap<Address, Connection>,
    cipher: Cipher,
    d: Draft,
) -> Result<Outbound, NodeError> {
    let stranger;
    let key = match connections.get(&d.peer) {
        Some(c) => c.key(),
        None => {
            stranger = PeerKey::recipient(&d.peer)?;
            &stranger
        }
    };
    let message = prepare_message(
        identity,
        key,
        d.peer,
        &d.plain,
        d.ts,
        Difficulty::new(d.difficulty),
        cipher,
    )?;
    Ok(Outbound {
        peer: d.peer,
        op: d.op,
        bulletin: d.bulletin,
        message,
    })
}
