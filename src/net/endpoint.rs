//! The connection layer on its own: listeners, dialers and connections on
//! tokio, for a caller that owns the engine and the session itself. The
//! `gossip relay` command drives one; [`Gossip`](super::Gossip) is built
//! on one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::conn::{self, Charge, DrainedRx, Ended, Frame, Link, NetEvent, Wiring};
use super::{Limits, NetAddr, NetError, Tcp, Transport, dial, listen};
use crate::codec::{Kind, Object, ReadError};
use crate::keys::Address;
use crate::session::{ConnId, Opening};

/// Connection events waiting for the caller.
const EVENT_CHANNEL: usize = 1024;

/// What happened on the network: what the caller hands to its
/// [`Session`](crate::session::Session) (and logs, and counts).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnEvent {
    /// A connection is up, as `opening` says (dialed to a peer, or
    /// accepted), from `remote` (for logs).
    Opened {
        /// The connection.
        conn: ConnId,
        /// How it came up, and its message difficulty.
        opening: Opening,
        /// The remote end, for logs.
        remote: String,
    },
    /// A whole message came: its packed bytes, charged to the input budget
    /// until the [`Frame`] is dropped.
    Message {
        /// The connection.
        conn: ConnId,
        /// The packed message.
        frame: Frame,
    },
    /// An object an object reader read
    /// ([`Endpoint::attach_objects`]), or why it could not be: its bytes
    /// are charged to the input budget until `charge` is dropped.
    Object {
        /// The reader.
        conn: ConnId,
        /// The object, or why it did not decode.
        object: Result<Object, ReadError>,
        /// Its share of the input budget.
        charge: Charge,
    },
    /// `bytes` of what was queued on `conn` are out on the socket
    /// ([`Session::drained`](crate::session::Session::drained)).
    Written {
        /// The connection.
        conn: ConnId,
        /// Bytes written, length prefixes included.
        bytes: usize,
    },
    /// The peer of `conn` has sent its last message (its side is shut
    /// for writing; it may still read, as `nc -N` does). Call
    /// [`Endpoint::finish`] once what its messages called for is queued:
    /// that is written, then the connection closes
    /// ([`ConnEvent::Closed`]).
    ReadEnded {
        /// The connection.
        conn: ConnId,
    },
    /// `conn` ended; `unwritten` frames queued on it never went out whole
    /// ([`Session::unsent`](crate::session::Session::unsent)).
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why, as the connection saw it.
        ended: Ended,
        /// Frames queued and never written whole.
        unwritten: u64,
    },
    /// A listener closed a connection at once: past the connection bound
    /// and its slack.
    Refused {
        /// The remote end, for logs.
        remote: String,
    },
    /// accept() failed (out of descriptors, say); the listener waits a
    /// little before it tries again.
    AcceptFailed {
        /// The socket's error.
        why: String,
    },
    /// A dial failed; it is tried again after a backoff.
    DialFailed {
        /// The peer dialed.
        peer: Address,
        /// Where.
        addr: NetAddr,
        /// Why it failed.
        why: String,
    },
}

/// A peer dialed and kept up: who, where, and the difficulty its
/// connections ask of its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// The peer.
    pub peer: Address,
    /// Where it is dialed.
    pub addr: NetAddr,
    /// The difficulty asked of its messages.
    pub difficulty: u32,
}

/// Listeners, dialers and connections, without an engine: the caller takes
/// [`ConnEvent`]s, hands them to its session and node, and sends what they
/// give out with [`Endpoint::send`]. It must run inside a tokio runtime.
pub struct Endpoint {
    wiring: Wiring,
    events: mpsc::Receiver<NetEvent>,
    drained: DrainedRx,
    links: HashMap<ConnId, Link>,
    local: Vec<NetAddr>,
    /// Each peer [`connect`](Endpoint::connect)ed to: where, and its
    /// dialers' switches.
    dials: BTreeMap<Address, Vec<(Dial, CancellationToken)>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("listening", &self.local)
            .field("connections", &self.links.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint within `limits` (checked), listening nowhere yet.
    pub fn new(limits: Limits) -> Result<Self, NetError> {
        limits.check()?;
        let (events_tx, events) = mpsc::channel(EVENT_CHANNEL);
        let (wiring, drained) = Wiring::new(limits, events_tx);
        Ok(Self {
            wiring,
            events,
            drained,
            links: HashMap::new(),
            local: Vec::new(),
            dials: BTreeMap::new(),
        })
    }

    /// The bounds it runs within.
    pub fn limits(&self) -> &Limits {
        &self.wiring.limits
    }

    /// Binds `addr` and accepts on it; each connection asks `difficulty`
    /// of its messages. Returns the address bound (a TCP port 0 replaced
    /// by the port given).
    pub async fn listen(&mut self, addr: &NetAddr, difficulty: u32) -> Result<NetAddr, NetError> {
        let opening = Opening::Accepted { difficulty };
        let open = Arc::new(AtomicUsize::new(0));
        let failed = |source| NetError::Listen {
            addr: addr.clone(),
            source,
        };
        let w = self.wiring.clone();
        let local = match addr {
            NetAddr::Tcp(_) => {
                let (listener, local) = Tcp.listen(addr).await.map_err(failed)?;
                let task = listen::accept_loop(Tcp, listener, local.clone(), opening, open, w);
                self.wiring.tracker.spawn(task);
                local
            }
            #[cfg(unix)]
            NetAddr::Unix(_) => {
                let (listener, local) = super::Unix.listen(addr).await.map_err(failed)?;
                let task =
                    listen::accept_loop(super::Unix, listener, local.clone(), opening, open, w);
                self.wiring.tracker.spawn(task);
                local
            }
        };
        self.local.push(local.clone());
        Ok(local)
    }

    /// The addresses listened on, as bound.
    pub fn local_addrs(&self) -> &[NetAddr] {
        &self.local
    }

    /// Dials `peer` at `addr` and keeps the link up, redialing with
    /// backoff and jitter until the endpoint shuts down or the peer is
    /// [`disconnect`](Endpoint::disconnect)ed; its connections ask
    /// `difficulty` of its messages.
    pub fn connect(&mut self, peer: Address, addr: NetAddr, difficulty: u32) {
        let opening = Opening::Dialed { peer, difficulty };
        let w = self.wiring.clone();
        let cancel = self.wiring.kill.child_token();
        let dial = Dial {
            peer,
            addr: addr.clone(),
            difficulty,
        };
        self.dials
            .entry(peer)
            .or_default()
            .push((dial, cancel.clone()));
        match addr {
            NetAddr::Tcp(_) => {
                let task = dial::keep_dialing(Tcp, opening, peer, addr, w, cancel);
                self.wiring.tracker.spawn(task)
            }
            #[cfg(unix)]
            NetAddr::Unix(_) => {
                let task = dial::keep_dialing(super::Unix, opening, peer, addr, w, cancel);
                self.wiring.tracker.spawn(task)
            }
        };
    }

    /// Stops dialing `peer` ([`connect`](Endpoint::connect)) and closes the
    /// connections those dials opened now (what is queued on them is not
    /// written; each one's [`ConnEvent::Closed`] follows, even for one
    /// that opened just before). Connections the peer opened to a listener
    /// stay. False when `peer` was not dialed.
    pub fn disconnect(&mut self, peer: &Address) -> bool {
        let Some(dials) = self.dials.remove(peer) else {
            return false;
        };
        dials.iter().for_each(|(_, cancel)| cancel.cancel());
        true
    }

    /// What is dialed and kept up, each [`connect`](Endpoint::connect), by
    /// peer.
    pub fn dials(&self) -> impl Iterator<Item = &Dial> {
        self.dials.values().flatten().map(|(dial, _)| dial)
    }

    /// The peers dialed and kept up ([`connect`](Endpoint::connect)).
    pub fn dialed(&self) -> impl Iterator<Item = &Address> {
        self.dials.keys()
    }

    /// Accepted connections kept at once from now on, at least 1: a
    /// listener refuses a new one past this (and a small slack for the
    /// session to choose which to close). [`limits`](Endpoint::limits) still
    /// tells the bound it was built with.
    pub fn set_max_connections(&self, n: usize) {
        self.wiring
            .max_connections
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Dials `peer` at `addr` once, now: Ok once connected (its
    /// [`ConnEvent::Opened`] follows), never redialed.
    pub async fn connect_once(
        &self,
        peer: Address,
        addr: &NetAddr,
        difficulty: u32,
    ) -> Result<(), NetError> {
        let opening = Opening::Dialed { peer, difficulty };
        let failed = |why| NetError::Dial {
            addr: addr.clone(),
            why,
        };
        let w = self.wiring.clone();
        match addr {
            NetAddr::Tcp(_) => {
                let (io, remote) = dial::dial_once(&Tcp, addr).await.map_err(failed)?;
                let task = async move { conn::run(io, opening, remote, &w).await };
                self.wiring.tracker.spawn(task);
            }
            #[cfg(unix)]
            NetAddr::Unix(_) => {
                let (io, remote) = dial::dial_once(&super::Unix, addr).await.map_err(failed)?;
                let task = async move { conn::run(io, opening, remote, &w).await };
                self.wiring.tracker.spawn(task);
            }
        }
        Ok(())
    }

    /// Runs a connection over a byte stream the caller holds (a pipe,
    /// stdin and stdout, a socketpair): the same framing both ways, input
    /// charge and bounded writer as a socket's. Its [`ConnEvent::Opened`]
    /// follows, with `remote` (for logs). Call it inside the runtime.
    pub fn attach<R, W>(&self, reader: R, writer: W, opening: Opening, remote: String)
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let w = self.wiring.clone();
        let io = tokio::io::join(reader, writer);
        let task = async move { conn::run(io, opening, remote, &w).await };
        self.wiring.tracker.spawn(task);
    }

    /// An output the caller routes to itself (a file, a fifo): what is
    /// [`send`](Endpoint::send) on the returned connection is written as it
    /// is, with no length prefix (the caller encodes it, as JSON lines or
    /// wire frames), through the same queue as a socket's. `open` makes the
    /// writer and may take its time (a fifo waits for its reader); what is
    /// sent meanwhile waits in the queue.
    ///
    /// It is no session's: no [`ConnEvent::Opened`] comes for it (its id
    /// is returned here) and nothing is read from it. Each payload out
    /// whole is a [`ConnEvent::Written`] of its length, in order. It ends
    /// ([`ConnEvent::Closed`]) when [`finish`](Endpoint::finish)ed and
    /// written out ([`Ended::Stopped`](super::Ended)), when writing fails
    /// (`Ended::Error`; a failed `open` among them; `Ended::ReaderGone`
    /// for a broken pipe), or when closed, the
    /// endpoint's shutdown deadline among them (`Ended::Closed`). Call it
    /// inside the runtime.
    pub fn attach_output<F, W>(&mut self, open: F) -> ConnId
    where
        F: Future<Output = std::io::Result<W>> + Send + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (conn, link, queue) = self.wiring.new_link();
        self.links.insert(conn, link);
        let task = conn::run_output(conn, open, queue, self.wiring.clone());
        self.wiring.tracker.spawn(task);
        conn
    }

    /// An object reader over a byte stream the caller holds (stdin, a
    /// file): bulletins and messages, as `kind` says, in JSON lines or wire
    /// frames told apart by the first byte, as the codec's
    /// [`ObjectReader`](crate::codec::ObjectReader) reads them, on a thread
    /// of tokio's blocking pool. Each is a [`ConnEvent::Object`] on the
    /// returned connection, in order: the object, or why it did not decode
    /// (a bad JSON line is one bad object; the stream goes on). Its bytes
    /// are charged to the endpoint's input budget ([`Limits::in_flight`],
    /// shared with the connections) until its [`Charge`] is dropped, and
    /// the reader waits while the budget is spent. At the stream's end, a
    /// read error or broken framing (a wire frame's length that cannot be
    /// trusted: its error comes first) it ends, with [`ConnEvent::Closed`]
    /// ([`Ended::Eof`](super::Ended), `Error` or `Junk`). Nothing is
    /// written to it, and no [`ConnEvent::Opened`] comes for it. A read
    /// that blocks cannot be cut short: shutdown does not wait for it.
    /// Call it inside the runtime.
    pub fn attach_objects<R>(&mut self, reader: R, kind: Kind) -> ConnId
    where
        R: std::io::Read + Send + 'static,
    {
        let conn = ConnId(self.wiring.ids.fetch_add(1, Ordering::Relaxed));
        let w = self.wiring.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || conn::read_objects(conn, reader, kind, &w, &runtime));
        conn
    }

    /// A connection that only reads (stdin, an input fifo): as
    /// [`Endpoint::attach`], with what is sent on it discarded.
    pub fn attach_reader<R>(&self, reader: R, opening: Opening, remote: String)
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        self.attach(reader, tokio::io::sink(), opening, remote);
    }

    /// The next event. Bytes written are reported first, so a session's
    /// queue bounds are freed before more comes in.
    pub async fn next(&mut self) -> ConnEvent {
        loop {
            if let Ok((conn, bytes)) = self.drained.try_recv() {
                return ConnEvent::Written { conn, bytes };
            }
            let event = tokio::select! {
                biased;
                Some((conn, bytes)) = self.drained.recv() => {
                    return ConnEvent::Written { conn, bytes };
                }
                Some(event) = self.events.recv() => event,
            };
            if let Some(event) = self.take(event) {
                return event;
            }
        }
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<ConnEvent> {
        if let Ok((conn, bytes)) = self.drained.try_recv() {
            return Some(ConnEvent::Written { conn, bytes });
        }
        while let Ok(event) = self.events.try_recv() {
            if let Some(event) = self.take(event) {
                return Some(event);
            }
        }
        None
    }

    /// Keeps a new connection's link, forgets an ended one's.
    fn take(&mut self, event: NetEvent) -> Option<ConnEvent> {
        Some(match event {
            NetEvent::Opened {
                conn,
                opening,
                remote,
                link,
            } => {
                self.links.insert(conn, link);
                ConnEvent::Opened {
                    conn,
                    opening,
                    remote,
                }
            }
            NetEvent::Frame { conn, frame } => ConnEvent::Message { conn, frame },
            NetEvent::Object {
                conn,
                object,
                charge,
            } => ConnEvent::Object {
                conn,
                object,
                charge,
            },
            NetEvent::ReadEnded { conn } => ConnEvent::ReadEnded { conn },
            NetEvent::Closed {
                conn,
                ended,
                unwritten,
            } => {
                self.links.remove(&conn);
                ConnEvent::Closed {
                    conn,
                    ended,
                    unwritten,
                }
            }
            NetEvent::Refused { remote } => ConnEvent::Refused { remote },
            NetEvent::AcceptFailed { why } => ConnEvent::AcceptFailed { why },
            NetEvent::DialFailed { peer, addr, why } => ConnEvent::DialFailed { peer, addr, why },
        })
    }

    /// The next report of bytes written ([`ConnEvent::Written`]), and
    /// nothing else: for a caller whose input is held back until an output
    /// has room.
    pub async fn next_written(&mut self) -> (ConnId, usize) {
        match self.drained.recv().await {
            Some(written) => written,
            // The wiring holds a sender while the endpoint lives.
            None => std::future::pending().await,
        }
    }

    /// Whether `conn` still takes what is sent on it (it has not ended).
    pub fn is_writable(&self, conn: ConnId) -> bool {
        self.links.get(&conn).is_some_and(Link::is_open)
    }

    /// Finishes `conns` ([`Endpoint::finish`]) and waits until each has
    /// written what is queued on it and ended; those still writing at
    /// `deadline` are closed. Returns how each ended. Other connections'
    /// events that come meanwhile are dropped (a caller that is ending).
    pub async fn finish_each(&mut self, conns: &[ConnId], deadline: Duration) -> Vec<Closed> {
        let mut closers = HashMap::new();
        for conn in conns {
            if let Some(link) = self.links.remove(conn) {
                closers.insert(*conn, link.closer());
            }
        }
        let mut closed = Vec::new();
        let wait = self.wait_closed(&closers, &mut closed);
        if tokio::time::timeout(deadline, wait).await.is_err() {
            closers.values().for_each(CancellationToken::cancel);
            let ended: Vec<ConnId> = closed.iter().map(|c: &Closed| c.conn).collect();
            closers.retain(|conn, _| !ended.contains(conn));
            self.wait_closed(&closers, &mut closed).await;
        }
        closed
    }

    /// Waits for the end of each of `conns`, keeping new connections'
    /// links and dropping other events.
    async fn wait_closed(
        &mut self,
        conns: &HashMap<ConnId, CancellationToken>,
        closed: &mut Vec<Closed>,
    ) {
        let mut left = conns.len();
        while left > 0 {
            let Some(event) = self.events.recv().await else {
                return;
            };
            if let NetEvent::Opened { conn, link, .. } = event {
                self.links.insert(conn, link);
                continue;
            }
            if let Some(c) = Closed::of(event).filter(|c| conns.contains_key(&c.conn)) {
                closed.push(c);
                left -= 1;
            }
        }
    }

    /// Queues a frame (a packed message: the length prefix is added) on
    /// `conn`; false when the connection has ended. The queue itself is
    /// unbounded: keep it within bounds with a session
    /// ([`SessionEvent::Send`](crate::session::SessionEvent::Send) comes
    /// only when it fits).
    pub fn send(&self, conn: ConnId, payload: Bytes) -> bool {
        self.links.get(&conn).is_some_and(|l| l.push(payload))
    }

    /// Finishes `conn`: what is queued on it is written, then it closes
    /// (its [`ConnEvent::Closed`] follows). Nothing more can be queued.
    pub fn finish(&mut self, conn: ConnId) {
        self.links.remove(&conn);
    }

    /// Closes `conn` now; what is queued on it is not written.
    pub fn close(&self, conn: ConnId) {
        if let Some(link) = self.links.get(&conn) {
            link.close();
        }
    }

    /// Connections open.
    pub fn connections(&self) -> usize {
        self.links.len()
    }

    /// Shuts down: no more reading, accepting or dialing; what is queued is
    /// written until `deadline`, then every connection is dropped and Unix
    /// socket files are removed. Returns the frames never written whole,
    /// on connections that ended from now on.
    pub async fn shutdown(self, deadline: Duration) -> u64 {
        let closed = self.shutdown_each(deadline).await;
        closed.iter().map(|c| c.unwritten).sum()
    }

    /// [`shutdown`](Endpoint::shutdown), telling how each connection that
    /// ended from now on ended: one whose writing was cut off at the
    /// deadline is [`Ended::Closed`](super::Ended) with `unwritten` frames
    /// (for an output, payloads).
    pub async fn shutdown_each(mut self, deadline: Duration) -> Vec<Closed> {
        self.wiring.stop.cancel();
        // Dropping the links closes every queue: each writer writes what
        // it holds, then closes.
        self.links.clear();
        self.wiring.tracker.close();
        let mut closed = Vec::new();
        let waited = tokio::time::timeout(deadline, self.wait_ended(&mut closed)).await;
        if waited.is_err() {
            self.wiring.kill.cancel();
            self.wait_ended(&mut closed).await;
        }
        while let Ok(event) = self.events.try_recv() {
            closed.extend(Closed::of(event));
        }
        closed
    }

    /// Waits until every task has ended, taking their last events.
    async fn wait_ended(&mut self, closed: &mut Vec<Closed>) {
        let tracker = self.wiring.tracker.clone();
        let mut done = std::pin::pin!(tracker.wait());
        loop {
            tokio::select! {
                biased;
                () = &mut done => return,
                Some(event) = self.events.recv() => closed.extend(Closed::of(event)),
            }
        }
    }
}

/// How a connection ended while the endpoint shut down
/// ([`Endpoint::shutdown_each`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Closed {
    /// The connection.
    pub conn: ConnId,
    /// Why, as the connection saw it.
    pub ended: Ended,
    /// Frames (an output's payloads) queued and never written whole.
    pub unwritten: u64,
}

impl Closed {
    fn of(event: NetEvent) -> Option<Self> {
        match event {
            NetEvent::Closed {
                conn,
                ended,
                unwritten,
            } => Some(Self {
                conn,
                ended,
                unwritten,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn endpoint() -> Endpoint {
        Endpoint::new(Limits::default()).unwrap()
    }

    #[tokio::test]
    async fn a_disconnected_peer_is_hung_up_on_and_dialed_no_more() {
        let deadline = Duration::from_secs(20);
        let mut server = endpoint();
        let at = server
            .listen(&"127.0.0.1:0".parse().unwrap(), 0)
            .await
            .unwrap();
        let mut client = endpoint();
        let peer = crate::keys::Address::from_hex(&"07".repeat(32)).unwrap();
        client.connect(peer, at, 0);
        assert_eq!(client.dialed().collect::<Vec<_>>(), [&peer]);
        let opened = |e: ConnEvent| match e {
            ConnEvent::Opened { conn, .. } => Some(conn),
            _ => None,
        };
        let conn = tokio::time::timeout(deadline, async {
            loop {
                if let Some(conn) = opened(client.next().await) {
                    return conn;
                }
            }
        })
        .await
        .expect("connected");
        tokio::time::timeout(deadline, async {
            while opened(server.next().await).is_none() {}
        })
        .await
        .expect("accepted");
        assert!(client.disconnect(&peer));
        assert!(!client.disconnect(&peer), "a peer is let go once");
        assert_eq!(client.dialed().count(), 0);
        // Its connection closes (the other side reads its end), and its
        // dialer ends.
        tokio::time::timeout(deadline, async {
            loop {
                if let ConnEvent::Closed { conn: on, .. } = client.next().await {
                    break assert_eq!(on, conn);
                }
            }
        })
        .await
        .expect("closed here");
        tokio::time::timeout(deadline, async {
            while !matches!(
                server.next().await,
                ConnEvent::ReadEnded { .. } | ConnEvent::Closed { .. }
            ) {}
        })
        .await
        .expect("ended there");
        tokio::time::timeout(deadline, async {
            while !client.wiring.tracker.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the dialer ended");
    }

    #[tokio::test]
    async fn an_attached_stream_carries_frames_both_ways() {
        let mut e = endpoint();
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let (rd, wr) = tokio::io::split(ours);
        e.attach(rd, wr, Opening::Accepted { difficulty: 0 }, "pipe".into());
        let ConnEvent::Opened { conn, remote, .. } = e.next().await else {
            panic!("not opened")
        };
        assert_eq!(remote, "pipe");
        theirs.write_all(&[0, 0, 0, 3, 7, 8, 9]).await.unwrap();
        let ConnEvent::Message { conn: on, frame } = e.next().await else {
            panic!("no message")
        };
        assert_eq!((on, &frame[..]), (conn, &[7, 8, 9][..]));
        assert!(e.send(conn, Bytes::from_static(b"hi")));
        let mut back = [0u8; 6];
        theirs.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [0, 0, 0, 2, b'h', b'i']);
        assert!(matches!(
            e.next().await,
            ConnEvent::Written { bytes: 6, .. }
        ));
    }

    #[tokio::test]
    async fn an_output_writes_payloads_as_they_are_then_ends_when_finished() {
        let mut e = endpoint();
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let conn = e.attach_output(async { Ok(ours) });
        assert!(e.send(conn, Bytes::from_static(b"one\n")));
        assert!(e.send(conn, Bytes::from_static(b"two\n")));
        e.finish(conn);
        let mut all = Vec::new();
        theirs.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"one\ntwo\n");
        let mut written = Vec::new();
        loop {
            match e.next().await {
                ConnEvent::Written { conn: on, bytes } => written.push((on, bytes)),
                ConnEvent::Closed {
                    conn: on,
                    ended,
                    unwritten,
                } => break assert_eq!((on, ended, unwritten), (conn, Ended::Stopped, 0)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(written, [(conn, 4), (conn, 4)]);
    }

    #[tokio::test]
    async fn an_output_that_never_opens_is_cut_off_at_the_deadline_with_its_count() {
        let mut e = endpoint();
        let never = std::future::pending::<std::io::Result<tokio::io::Sink>>();
        let conn = e.attach_output(never);
        for _ in 0..3 {
            assert!(e.send(conn, Bytes::from_static(b"x")));
        }
        let closed = e.shutdown_each(Duration::from_millis(50)).await;
        assert_eq!(
            closed,
            [Closed {
                conn,
                ended: Ended::Closed,
                unwritten: 3
            }]
        );
    }

    /// The next event, within a deadline.
    async fn next_event(e: &mut Endpoint) -> ConnEvent {
        let next = tokio::time::timeout(Duration::from_secs(20), e.next()).await;
        next.expect("an event in time")
    }

    fn bulletin(content: &[u8]) -> crate::bulletin::Bulletin {
        let topic = crate::ids::topic_id(b"chat");
        crate::bulletin::Bulletin::new(topic, content.to_vec(), 1_700_000_000)
    }

    #[tokio::test]
    async fn an_object_reader_hands_over_each_object_and_each_bad_one_then_ends() {
        let mut e = endpoint();
        let b = bulletin(b"hello");
        let input = format!("{}\n\nnot json\n", Object::Bulletin(b.clone()).to_json());
        let conn = e.attach_objects(std::io::Cursor::new(input), Kind::Any);
        match next_event(&mut e).await {
            ConnEvent::Object {
                conn: on,
                object: Ok(Object::Bulletin(got)),
                ..
            } => assert_eq!((on, got), (conn, b)),
            other => panic!("{other:?}"),
        }
        match next_event(&mut e).await {
            ConnEvent::Object {
                object: Err(ReadError::Decode { fatal: false, .. }),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        match next_event(&mut e).await {
            ConnEvent::Closed {
                conn: on, ended, ..
            } => assert_eq!((on, ended), (conn, Ended::Eof)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_object_reader_whose_framing_broke_says_why_then_ends() {
        let mut e = endpoint();
        let conn = e.attach_objects(std::io::Cursor::new(vec![0, 0, 0, 9, 1, 2]), Kind::Any);
        match next_event(&mut e).await {
            ConnEvent::Object {
                object: Err(ReadError::Decode { fatal: true, .. }),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        match next_event(&mut e).await {
            ConnEvent::Closed {
                conn: on,
                ended: Ended::Junk(_),
                ..
            } => assert_eq!(on, conn),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_object_reader_waits_while_the_input_budget_is_spent() {
        let limits = Limits {
            max_frame: 1024,
            in_flight: 1024,
            ..Limits::default()
        };
        let mut e = Endpoint::new(limits).unwrap();
        // Each holds 256 + 600 bytes: one at a time fits the budget.
        let input: String = (0..2u8)
            .map(|i| format!("{}\n", Object::Bulletin(bulletin(&[i; 600])).to_json()))
            .collect();
        e.attach_objects(std::io::Cursor::new(input), Kind::Any);
        let ConnEvent::Object { charge, .. } = next_event(&mut e).await else {
            panic!("no object")
        };
        let early = tokio::time::timeout(Duration::from_millis(100), e.next()).await;
        assert!(early.is_err(), "read past the budget: {early:?}");
        drop(charge);
        assert!(matches!(
            next_event(&mut e).await,
            ConnEvent::Object { object: Ok(_), .. }
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_output_whose_reader_left_ends_as_reader_gone_with_its_count() {
        let mut e = endpoint();
        let (tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
        drop(rx);
        let conn = e.attach_output(async move { Ok(tx) });
        assert!(e.send(conn, Bytes::from_static(b"never read\n")));
        let closed = tokio::time::timeout(Duration::from_secs(20), e.next()).await;
        match closed.expect("the output ended") {
            ConnEvent::Closed {
                conn: on,
                ended: Ended::ReaderGone(_),
                unwritten,
            } => assert_eq!((on, unwritten), (conn, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_output_that_fails_to_open_says_why_and_counts_what_waited() {
        let mut e = endpoint();
        let conn = e
            .attach_output(async { Err::<tokio::io::Sink, _>(std::io::Error::other("no reader")) });
        // Queued, or refused if the output has already failed.
        let _ = e.send(conn, Bytes::from_static(b"x"));
        match e.next().await {
            ConnEvent::Closed {
                conn: on, ended, ..
            } => assert_eq!((on, ended), (conn, Ended::Error("no reader".into()))),
            other => panic!("{other:?}"),
        }
    }
}
