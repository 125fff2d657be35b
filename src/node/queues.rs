//! The engine's four work queues, as the original's `Node` has them:
//! outbound messages (each for a peer), inbound messages (each with the
//! connection it came on), actions, and new bulletins.

use std::collections::VecDeque;

use super::Action;
use crate::bulletin::Bulletin;
use crate::ids::BulletinKey;
use crate::keys::Address;
use crate::message::RawMessage;
use crate::operation::Op;
use crate::verify::Verdict;

/// A received message, tagged with the connection it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inbound {
    /// The neighbour it arrived from; None when unknown.
    pub from: Option<Address>,
    /// The message as received.
    pub message: RawMessage,
    /// The message difficulty of the connection it came on, as it was when
    /// the message came (the caller's, or the neighbour's then): a
    /// neighbour that leaves before the message is verified (a learned
    /// peer that sent and closed) does not turn what it sent into a
    /// stranger's, held to the default difficulty.
    pub difficulty: Option<u32>,
    /// Its verdict, once the engine has verified it (a batch at a time).
    pub verdict: Option<Verdict>,
}

/// A message waiting to be sent: its plain body is sealed to the peer,
/// signed and mined when it is prepared, so many are prepared at once on
/// all cores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Draft {
    /// The peer, and the message's dst.
    pub peer: Address,
    /// The operation.
    pub op: Op,
    /// Operation byte ‖ payload, before sealing.
    pub plain: Vec<u8>,
    /// The message ts.
    pub ts: u32,
    /// The peer's message difficulty.
    pub difficulty: u32,
    /// The bulletin it carries, if any.
    pub bulletin: Option<BulletinKey>,
}

/// A bulletin accepted and not seen before, waiting for the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewBulletin {
    pub bulletin: Bulletin,
    pub from: Option<Address>,
    pub forward: bool,
}

/// The four queues.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    pub outbound: VecDeque<Draft>,
    pub inbound: VecDeque<Inbound>,
    pub actions: VecDeque<Action>,
    pub new_bulletins: VecDeque<NewBulletin>,
}

impl Queues {
    /// Items waiting in all four.
    pub fn len(&self) -> usize {
        self.outbound.len() + self.inbound.len() + self.actions.len() + self.new_bulletins.len()
    }

    /// The inbound messages not verified yet, with their indexes.
    pub fn unverified(&self) -> impl Iterator<Item = (usize, &Inbound)> {
        self.inbound
            .iter()
            .enumerate()
            .filter(|(_, i)| i.verdict.is_none())
    }

    /// Gives inbound message `index` its verdict.
    pub fn set_verdict(&mut self, index: usize, verdict: Verdict) {
        if let Some(item) = self.inbound.get_mut(index) {
            item.verdict = Some(verdict);
        }
    }
}
