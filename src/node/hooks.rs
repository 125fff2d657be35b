//! Hooks: how an application changes what the engine does, without the
//! engine calling back into its owner. Each method sees one decision point
//! and answers with a verdict; the defaults ([`DefaultHooks`]) keep the
//! protocol's behaviour.

use crate::bulletin::Bulletin;
use crate::keys::Address;
use crate::message::RawMessage;
use crate::operation::Payload;

use super::Action;

/// A hook's verdict, as gossipsub's `MessageAcceptance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Go on as the protocol does.
    Accept,
    /// Drop it quietly: no fault of the sender's. Counted as
    /// `drop.ignored`, an [`super::Event::Dropped`] with
    /// [`super::DropReason::Ignored`].
    Ignore,
    /// Drop it, for the reason given. Counted as `drop.refused`, an
    /// [`super::Event::Dropped`] with [`super::DropReason::Refused`], and,
    /// like a message that fails verification, held against the connection
    /// it came on (a session closes one that keeps sending them).
    Reject(&'static str),
}

/// An error a user-supplied hook returns; it ends the engine call that ran
/// the hook with [`super::NodeError::Hook`].
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Decision points of the engine. Every method has a default that accepts,
/// so an implementation overrides only what it changes.
pub trait Hooks: Send {
    /// A received message passed verification and carries `payload`:
    /// [`Acceptance::Accept`] to act on it, else it is dropped.
    fn accept_message(
        &mut self,
        message: &RawMessage,
        payload: &Payload,
        now: u64,
    ) -> Result<Acceptance, HookError> {
        let _ = (message, payload, now);
        Ok(Acceptance::Accept)
    }

    /// An action is about to be carried out: [`Acceptance::Accept`] to
    /// carry it out as the protocol does, else it is skipped (a rejected
    /// one counted against the peer it came from, if any).
    fn before_action(&mut self, action: &Action, now: u64) -> Result<Acceptance, HookError> {
        let _ = (action, now);
        Ok(Acceptance::Accept)
    }

    /// A bulletin new to this node is about to be stored, delivered (if
    /// followed) and forwarded: [`Acceptance::Accept`] to go on, else it
    /// is dropped (it stays seen, so copies of it are duplicates).
    fn accept_bulletin(
        &mut self,
        bulletin: &Bulletin,
        from: Option<&Address>,
        now: u64,
    ) -> Result<Acceptance, HookError> {
        let _ = (bulletin, from, now);
        Ok(Acceptance::Accept)
    }
}

/// The protocol's behaviour: every hook accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl Hooks for DefaultHooks {}
