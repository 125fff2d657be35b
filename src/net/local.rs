//! A [`Network`](super::Network)'s local outputs: links of the caller's own
//! process (stdout, a file, a fifo) that the session routes messages to
//! ([`Opening::Output`](crate::session::Opening)), written by the
//! endpoint's bounded writer as wire frames or JSON lines, beside the
//! caller's own deliveries. This keeps, for each, what is queued and not
//! yet written whole, in order, so the count of what it took is exact:
//! the deliveries it wrote (to confirm), and the messages and deliveries
//! it never wrote once it ended.

use std::collections::{HashMap, VecDeque};

use crate::bulletin::Bulletin;
use crate::codec::{Format, Object, write_object};
use crate::ids::BulletinKey;
use crate::message::RawMessage;
use crate::session::ConnId;

use super::Ended;
use super::network::Notice;

/// What one payload queued on a local output is, and the bytes the
/// session charged for it (a message's wire frame, though a JSON line is
/// written: what is reported written is given back as charged).
#[derive(Clone, Copy, Debug)]
struct Payload {
    what: What,
    charged: usize,
}

#[derive(Clone, Copy, Debug)]
enum What {
    /// A message for a peer.
    Message,
    /// A delivered bulletin; `counted`: among the node's deliveries this
    /// run (not one delivered again after a crash).
    Delivery { key: BulletinKey, counted: bool },
}

/// One local output.
#[derive(Debug)]
struct Output {
    name: String,
    role: &'static str,
    format: Format,
    waiting: VecDeque<Payload>,
    /// Dropping since the last payload it took (said once).
    dropping: bool,
    /// It never drops.
    holds: bool,
}

/// What local outputs never wrote, once they ended: messages (unsent) and
/// deliveries counted this run (not delivered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unwritten {
    /// Messages for peers.
    pub messages: u64,
    /// Deliveries.
    pub deliveries: u64,
}

/// The local outputs of a network.
#[derive(Debug, Default)]
pub(super) struct Locals {
    outputs: HashMap<ConnId, Output>,
    /// Deliveries written whole, not yet taken by the caller.
    delivered: Vec<BulletinKey>,
    unwritten: Unwritten,
}

impl Locals {
    /// `conn` is a local output named `name`, written in `format`; `role`
    /// says what it is in notices ("peer", "delivery output"; none for
    /// one that holds).
    pub fn add(
        &mut self,
        conn: ConnId,
        name: String,
        role: &'static str,
        format: Format,
        holds: bool,
    ) {
        let output = Output {
            name,
            role,
            format,
            waiting: VecDeque::new(),
            dropping: false,
            holds,
        };
        self.outputs.insert(conn, output);
    }

    pub fn contains(&self, conn: ConnId) -> bool {
        self.outputs.contains_key(&conn)
    }

    pub fn conns(&self) -> Vec<ConnId> {
        self.outputs.keys().copied().collect()
    }

    /// The bytes to write for a wire `frame` the session queued on
    /// `conn`: the frame as it is, or its message as a JSON line (an
    /// error gives back a frame that is not a local output's).
    pub fn encode_frame(&self, conn: ConnId, frame: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        let Some(out) = self.outputs.get(&conn) else {
            return Err(frame);
        };
        Ok(match out.format {
            Format::Wire => frame,
            Format::Json => match RawMessage::unpack(&frame[4..]) {
                Ok(m) => {
                    let mut line = Vec::new();
                    // Writing to a Vec cannot fail.
                    let _ = write_object(&mut line, &Object::Message(m), Format::Json);
                    line
                }
                // The session framed a message the node packed.
                Err(_) => frame,
            },
        })
    }

    /// A delivered bulletin's JSON line, to queue on `conn`.
    pub fn encode_delivery(bulletin: Bulletin) -> (BulletinKey, Vec<u8>) {
        let key = bulletin.key();
        let mut line = Vec::new();
        let _ = write_object(&mut line, &Object::Bulletin(bulletin), Format::Json);
        (key, line)
    }

    /// A message the session charged `charged` bytes for is queued on
    /// `conn`.
    pub fn queued_message(&mut self, conn: ConnId, charged: usize) {
        self.queued(conn, What::Message, charged);
    }

    /// The delivery `key` is queued on `conn`, charged `charged` bytes.
    pub fn queued_delivery(
        &mut self,
        conn: ConnId,
        key: BulletinKey,
        counted: bool,
        charged: usize,
    ) {
        self.queued(conn, What::Delivery { key, counted }, charged);
    }

    fn queued(&mut self, conn: ConnId, what: What, charged: usize) {
        if let Some(out) = self.outputs.get_mut(&conn) {
            out.waiting.push_back(Payload { what, charged });
            out.dropping = false;
        }
    }

    /// `conn` dropped what it was given: said once until it takes some.
    pub fn dropped(&mut self, conn: ConnId) -> Option<Notice> {
        let out = self.outputs.get_mut(&conn)?;
        if std::mem::replace(&mut out.dropping, true) {
            return None;
        }
        Some(Notice::OutputDropping {
            name: out.name.clone(),
            role: out.role,
        })
    }

    /// `conn`'s writer wrote its oldest payload whole: the bytes the
    /// session charged for it (None: not a local output's).
    pub fn written(&mut self, conn: ConnId) -> Option<usize> {
        let out = self.outputs.get_mut(&conn)?;
        let payload = out.waiting.pop_front()?;
        if let What::Delivery { key, .. } = payload.what {
            self.delivered.push(key);
        }
        Some(payload.charged)
    }

    /// `conn` ended, as `ended` says, with the last `unwritten` of what
    /// waits never written whole (the others were: their reports may not
    /// have come before it ended).
    pub fn ended(&mut self, conn: ConnId, ended: Ended, unwritten: u64) -> Option<Notice> {
        let out = self.outputs.remove(&conn)?;
        let unwritten = usize::try_from(unwritten).unwrap_or(usize::MAX);
        let written = out.waiting.len().saturating_sub(unwritten);
        for (i, payload) in out.waiting.iter().enumerate() {
            match payload.what {
                What::Delivery { key, .. } if i < written => self.delivered.push(key),
                What::Delivery { counted, .. } if i >= written => {
                    self.unwritten.deliveries += u64::from(counted);
                }
                What::Message if i >= written => self.unwritten.messages += 1,
                _ => {}
            }
        }
        Some(Notice::OutputEnded {
            name: out.name,
            role: out.role,
            holds: out.holds,
            ended,
            unwritten: (out.waiting.len() - written) as u64,
        })
    }

    /// Whether `conn` is open and holds what it has not written yet.
    pub fn holds(&self, conn: ConnId) -> bool {
        self.outputs
            .get(&conn)
            .is_some_and(|o| !o.waiting.is_empty())
    }

    /// The deliveries written whole since the last call.
    pub fn take_delivered(&mut self) -> Vec<BulletinKey> {
        std::mem::take(&mut self.delivered)
    }

    /// What outputs that ended never wrote, since the last call.
    pub fn take_unwritten(&mut self) -> Unwritten {
        std::mem::take(&mut self.unwritten)
    }
}
