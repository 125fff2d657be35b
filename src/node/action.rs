//! Actions: the work a node queues for itself, one per operation.

use crate::bulletin::Bulletin;
use crate::ids::{ContentId, DELIVERY_CODE_LEN, TopicId};
use crate::keys::Address;

/// Work the engine queues for itself; a [`super::Hooks`] sees each before it
/// is carried out ([`super::Hooks::before_action`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Store a bulletin, deliver it if followed, forward it to every
    /// neighbour but `from` (store_and_forward and respond_content).
    StoreAndForward {
        /// The bulletin.
        bulletin: Bulletin,
        /// The neighbour it came from; None when published here.
        from: Option<Address>,
    },
    /// Store a bulletin and deliver it if followed; never forward.
    DeliverWithoutForward {
        /// The bulletin.
        bulletin: Bulletin,
        /// The peer it came from; None when local.
        from: Option<Address>,
    },
    /// Ask `peer` for the content ids it holds under `topic`.
    RequestSyncHeaders {
        /// Who to ask.
        peer: Address,
        /// The topic.
        topic: TopicId,
    },
    /// Tell `peer` the content ids held under `topic`.
    RespondSyncHeaders {
        /// Who asked.
        peer: Address,
        /// The topic.
        topic: TopicId,
    },
    /// Ask `peer` for each of `ids` this node lacks under `topic`.
    RequestContent {
        /// Who holds them.
        peer: Address,
        /// The topic they were offered under (the sync asked about it).
        topic: TopicId,
        /// The content ids offered.
        ids: Vec<ContentId>,
    },
    /// Send `peer` the bulletin with `content_id`, if held (under the
    /// topic `peer` last asked to sync, else the newest; see
    /// `docs/protocol.md`).
    RespondContent {
        /// Who asked.
        peer: Address,
        /// The content id asked for.
        content_id: ContentId,
    },
    /// Tell every neighbour this node's new delivery code.
    NotifyChangedDeliveryCode {
        /// The code given up.
        old_code: [u8; DELIVERY_CODE_LEN],
        /// The code now in use.
        new_code: [u8; DELIVERY_CODE_LEN],
    },
    /// A peer announced a new delivery code.
    ChangedDeliveryCode {
        /// The peer.
        peer: Address,
        /// Its new code.
        code: [u8; DELIVERY_CODE_LEN],
    },
}

impl Action {
    /// The action's snake_case name (the original's action names where it
    /// has them).
    pub fn name(&self) -> &'static str {
        match self {
            Action::StoreAndForward { .. } => "store_and_forward",
            Action::DeliverWithoutForward { .. } => "deliver_without_forward",
            Action::RequestSyncHeaders { .. } => "request_sync_headers",
            Action::RespondSyncHeaders { .. } => "respond_sync_headers",
            Action::RequestContent { .. } => "request_content",
            Action::RespondContent { .. } => "respond_content",
            Action::NotifyChangedDeliveryCode { .. } => "notify_changed_delivery_code",
            Action::ChangedDeliveryCode { .. } => "changed_delivery_code",
        }
    }

    /// The peer whose message asked for it, if one did (not this node's own
    /// requests and notices).
    pub fn origin(&self) -> Option<Address> {
        match self {
            Action::StoreAndForward { from, .. } | Action::DeliverWithoutForward { from, .. } => {
                *from
            }
            Action::RespondSyncHeaders { peer, .. }
            | Action::RespondContent { peer, .. }
            | Action::ChangedDeliveryCode { peer, .. } => Some(*peer),
            Action::RequestSyncHeaders { .. }
            | Action::RequestContent { .. }
            | Action::NotifyChangedDeliveryCode { .. } => None,
        }
    }
}
