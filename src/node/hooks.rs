//! Hooks: how an application changes what the engine does, without the
//! engine calling back into its owner. Each method sees one decision point
//! and answers with a verdict; the defaults ([`DefaultHooks`]) keep the
//! protocol's behaviour.

use crate::bulletin::Bulletin;
use crate::keys::Address;
use crate::message::Message;
use crate::operation::Payload;

use super::Action;

/// An error a user-supplied hook returns; it ends the engine call that ran
/// the hook with [`super::NodeError::Hook`].
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Decision points of the engine. Every method has a default that accepts,
/// so an implementation overrides only what it changes.
pub trait Hooks: Send {
    /// A received message passed verification and carries `payload`:
    /// `Ok(true)` to act on it, `Ok(false)` to drop it (counted as
    /// `drop.refused`, an [`super::Event::Dropped`] with
    /// [`super::DropReason::Refused`]).
    fn accept_message(
        &mut self,
        message: &Message,
        payload: &Payload,
        now: u64,
    ) -> Result<bool, HookError> {
        let _ = (message, payload, now);
        Ok(true)
    }

    /// An action is about to be carried out: `Ok(true)` to carry it out as
    /// the protocol does, `Ok(false)` to skip it.
    fn before_action(&mut self, action: &Action, now: u64) -> Result<bool, HookError> {
        let _ = (action, now);
        Ok(true)
    }

    /// A bulletin new to this node is about to be stored, delivered (if
    /// followed) and forwarded: `Ok(true)` to go on, `Ok(false)` to drop it
    /// (it stays seen, so copies of it are duplicates).
    fn accept_bulletin(
        &mut self,
        bulletin: &Bulletin,
        from: Option<&Address>,
        now: u64,
    ) -> Result<bool, HookError> {
        let _ = (bulletin, from, now);
        Ok(true)
    }
}

/// The protocol's behaviour: every hook accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl Hooks for DefaultHooks {}
