//! The node's pluggable handlers, one per queue, each with a default that
//! does the protocol's work through the node's own methods.

use super::{Action, Inbound, Node, NodeError, Outbound};
use crate::bulletin::Bulletin;
use crate::ids::{DELIVERY_CODE_LEN, Id};
use crate::keys::Address;

/// Takes outbound messages off the node. The engine does no I/O: the
/// default, [`Outbox`], parks them for the caller to drain.
pub trait MessageSender: Send {
    /// Sends (or parks) one prepared message.
    fn send(&mut self, node: &mut Node, item: Outbound) -> Result<(), NodeError>;
}

/// The default sender: parks each message in the node's sent list, which
/// the caller drains with [`Node::take_sent`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Outbox;

impl MessageSender for Outbox {
    fn send(&mut self, node: &mut Node, item: Outbound) -> Result<(), NodeError> {
        node.park_sent(item);
        Ok(())
    }
}

/// Handles a received message.
pub trait MessageHandler: Send {
    /// Verifies and dispatches one inbound message.
    fn handle(&mut self, node: &mut Node, item: Inbound, now: u64) -> Result<(), NodeError>;
}

/// The default message handler: [`Node::handle_inbound`] (verify, count,
/// turn the payload into an action).
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyingHandler;

impl MessageHandler for VerifyingHandler {
    fn handle(&mut self, node: &mut Node, item: Inbound, now: u64) -> Result<(), NodeError> {
        node.handle_inbound(item, now)
    }
}

/// Carries out actions. [`ActionHandler::handle`] dispatches to one method
/// per action; override any of them, the rest keep the node's behaviour.
pub trait ActionHandler: Send {
    /// Dispatches one action.
    fn handle(&mut self, node: &mut Node, action: Action, now: u64) -> Result<(), NodeError> {
        match action {
            Action::StoreAndForward { bulletin, from } => {
                self.store_and_forward(node, bulletin, from, now)
            }
            Action::DeliverWithoutForward { bulletin, from } => {
                self.deliver_without_forward(node, bulletin, from, now)
            }
            Action::RequestSyncHeaders { peer, topic } => {
                self.request_sync_headers(node, peer, topic, now)
            }
            Action::RespondSyncHeaders { peer, topic } => {
                self.respond_sync_headers(node, peer, topic, now)
            }
            Action::RequestContent { peer, topic, ids } => {
                self.request_content(node, peer, topic, ids, now)
            }
            Action::RespondContent { peer, content_id } => {
                self.respond_content(node, peer, content_id, now)
            }
            Action::NotifyChangedDeliveryCode { old_code, new_code } => {
                self.notify_changed_delivery_code(node, old_code, new_code, now)
            }
            Action::ChangedDeliveryCode { peer, code } => {
                self.changed_delivery_code(node, peer, code, now)
            }
        }
    }

    /// See [`Node::store_and_forward`].
    fn store_and_forward(
        &mut self,
        node: &mut Node,
        bulletin: Bulletin,
        from: Option<Address>,
        now: u64,
    ) -> Result<(), NodeError> {
        node.store_and_forward(bulletin, from, now)
    }

    /// See [`Node::deliver_without_forward`].
    fn deliver_without_forward(
        &mut self,
        node: &mut Node,
        bulletin: Bulletin,
        from: Option<Address>,
        now: u64,
    ) -> Result<(), NodeError> {
        node.deliver_without_forward(bulletin, from, now)
    }

    /// See [`Node::send_sync_request`].
    fn request_sync_headers(
        &mut self,
        node: &mut Node,
        peer: Address,
        topic: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        node.send_sync_request(peer, topic, now)
    }

    /// See [`Node::answer_sync_request`].
    fn respond_sync_headers(
        &mut self,
        node: &mut Node,
        peer: Address,
        topic: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        node.answer_sync_request(peer, topic, now)
    }

    /// See [`Node::request_missing`].
    fn request_content(
        &mut self,
        node: &mut Node,
        peer: Address,
        topic: Id,
        ids: Vec<Id>,
        now: u64,
    ) -> Result<(), NodeError> {
        node.request_missing(peer, topic, &ids, now)
    }

    /// See [`Node::serve_content`].
    fn respond_content(
        &mut self,
        node: &mut Node,
        peer: Address,
        content_id: Id,
        now: u64,
    ) -> Result<(), NodeError> {
        node.serve_content(peer, content_id, now)
    }

    /// See [`Node::send_delivery_code_notice`].
    fn notify_changed_delivery_code(
        &mut self,
        node: &mut Node,
        old_code: [u8; DELIVERY_CODE_LEN],
        new_code: [u8; DELIVERY_CODE_LEN],
        now: u64,
    ) -> Result<(), NodeError> {
        let _ = old_code;
        node.send_delivery_code_notice(new_code, now)
    }

    /// See [`Node::record_peer_code`].
    fn changed_delivery_code(
        &mut self,
        node: &mut Node,
        peer: Address,
        code: [u8; DELIVERY_CODE_LEN],
        now: u64,
    ) -> Result<(), NodeError> {
        node.record_peer_code(peer, code, now)?;
        Ok(())
    }
}

/// The default action handler: every method as the trait defines it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultActionHandler;

impl ActionHandler for DefaultActionHandler {}
