//! The node engine: a model of the original library's `Node`, without I/O.
//!
//! A [`Node`] holds its identity, delivery code, followed topics, seen set,
//! neighbours and four queues (outbound, inbound, actions, new bulletins).
//! The caller feeds it inputs, each with an explicit `now`:
//!
//! - a received message and the connection it came on ([`Node::receive`],
//!   [`Node::receive_from`], [`Node::receive_bytes`]);
//! - a bulletin to publish ([`Node::publish`]);
//! - topics to follow or leave ([`Node::subscribe`], [`Node::unsubscribe`]);
//! - a delivery-code rotation ([`Node::rotate_delivery_code`]);
//! - time passing: [`Node::poll_timeout`] says when the node next needs
//!   it, [`Node::handle_timeout`] gives it (purges, scheduled delivery-code
//!   rotation, sync timeouts, announcements and grafts).
//!
//! It runs the queues ([`Node::run_until_idle_parallel`]: received messages
//! verified as a batch on all cores, messages for peers prepared in
//! parallel) and the caller drains [`Event`]s: send this message to that
//! peer, deliver this bulletin, this message was dropped for this reason.
//! Nothing in the engine calls back into its owner; an application changes
//! its decisions through [`Hooks`]. Payload conventions for every operation,
//! and how the original's handlers map onto this, are in `docs/protocol.md`.

mod action;
mod answer_budget;
mod config;
mod connection;
mod counters;
mod delivery_code;
mod dissemination;
mod engine;
mod error;
mod event;
pub mod extensions;
mod forward;
mod hooks;
mod inbound;
mod notice;
mod prepare;
mod queues;
mod replay;
mod seen;
mod sync;
mod timers;

pub use action::Action;
pub use answer_budget::{
    DEFAULT_ANSWER_TOTAL_BYTES, DEFAULT_ANSWER_WINDOW, DEFAULT_MAX_ANSWERED_STRANGERS,
    DEFAULT_STRANGER_ANSWER_BYTES,
};
pub use config::{
    ConfigError, DEFAULT_MAX_INBOUND, DEFAULT_MAX_PEER_INBOXES, DEFAULT_MAX_SYNC_IDS, NodeConfig,
    NodeConfigBuilder,
};
pub use connection::Connection;
pub use counters::Counters;
pub use dissemination::{
    DEFAULT_ANNOUNCE_EVERY, DEFAULT_GRAFT_TIMEOUT, ENTRY_LEN, FALLBACK_WINDOW, MAX_ANNOUNCE_IDS,
    MAX_ANNOUNCERS, MAX_FALLBACKS, MAX_GRAFT_IDS, MAX_GRAFTS, MAX_GRAFTS_PER_PEER, MAX_LAZY_QUEUE,
    MAX_MISSING, MAX_MISSING_PER_PEER, MAX_SERVED_PER_WINDOW, MAX_STRIKES, SERVE_WINDOW,
};
pub use engine::Node;
pub use error::NodeError;
pub use event::{DropReason, Event, Outbound};
pub use hooks::{Acceptance, DefaultHooks, HookError, Hooks};
pub use inbound::Verified;
pub use notice::{NOTICE_LEN, NOTICE_PREFIX, Notice};
pub use prepare::prepare_message;
pub use replay::DEFAULT_REPLAY_CAPACITY;
pub use seen::DEFAULT_SEEN_CAPACITY;
pub use sync::{
    DEFAULT_MAX_CONTENT_REQUESTS, DEFAULT_MAX_RECONCILE_ROUNDS, DEFAULT_MAX_SYNC_REQUEST_IDS,
    DEFAULT_RECONCILE_TIMEOUT, RECONCILE_FRAME_BYTES, ROLE_ANSWERER, ROLE_REQUESTER, SyncState,
    SyncStatus,
};
pub use timers::DEFAULT_PURGE_EVERY;
