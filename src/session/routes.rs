//! The way back to strangers: peers that are not neighbours but whose
//! fresh message came on some connection (or outside the session), so an
//! answer to them goes back where they were heard. Bounded; the oldest
//! entry makes room.

use std::collections::{HashMap, VecDeque};

use super::ConnId;
use crate::keys::Address;

/// Where an answer to a stranger goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// Back on this connection.
    Conn(ConnId),
    /// Not through the session (the relay's stdin, say).
    Elsewhere,
}

/// Strangers remembered with the way back to them.
#[derive(Debug)]
pub(super) struct ReplyRoutes {
    routes: HashMap<Address, Route>,
    order: VecDeque<Address>,
    max: usize,
}

impl ReplyRoutes {
    pub fn new(max: usize) -> Self {
        Self {
            routes: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    /// Remembers `route` to `peer`; a new peer past the bound makes the
    /// oldest one forgotten.
    pub fn insert(&mut self, peer: Address, route: Route) {
        if self.routes.insert(peer, route).is_none() {
            self.order.push_back(peer);
            if self.order.len() > self.max
                && let Some(old) = self.order.pop_front()
            {
                self.routes.remove(&old);
            }
        }
    }

    pub fn get(&self, peer: &Address) -> Option<Route> {
        self.routes.get(peer).copied()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }
}
