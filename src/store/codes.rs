//! Delivery codes as a store keeps them: the node's own (so its inbox
//! survives restarts) and its neighbours' learned from their notices.

use crate::ids::{DELIVERY_CODE_LEN, TopicId, inbox_topic};
use crate::keys::Address;

/// A delivery code kept in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryCode {
    /// Whose code it is.
    pub address: Address,
    /// The code.
    pub code: [u8; DELIVERY_CODE_LEN],
    /// True for a node's own code, false for a peer's learned from a notice.
    pub own: bool,
    /// When it was set or learned.
    pub since: crate::Timestamp,
}

impl DeliveryCode {
    /// The inbox topic the code makes: SHA-256(code ‖ address).
    pub fn inbox(&self) -> TopicId {
        inbox_topic(&self.code, &self.address)
    }
}
