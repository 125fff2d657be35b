//! `gossip::net` over real sockets, TCP and Unix: delivery between two and
//! three handles, peers learned only from verified messages, the max frame
//! length, redial after the listener restarts, and shutdown's deadline
//! with a peer that stopped reading. Every wait is for a condition, with
//! a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use gossip::net::{ConnEvent, Ended, Endpoint, Gossip, Limits, NetAddr, Subscription};
use gossip::{
    Address, Event, Identity, Message, Node, NodeConfig, RawMessage, Seed, Timestamp, topic_id,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough for a loaded 2-core machine; a pass takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `check` holds, failing after [`PATIENCE`].
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn peers(g: &Gossip) -> Vec<Address> {
    g.peers().await.expect("peers")
}

/// The next bulletin's content, within [`PATIENCE`].
async fn next(sub: &mut Subscription) -> String {
    let b = tokio::time::timeout(PATIENCE, sub.recv())
        .await
        .expect("timed out waiting for a bulletin")
        .expect("the handle closed");
    String::from_utf8(b.content).unwrap()
}

/// Where a handle listens: a free loopback port, or a socket in `dir`.
fn listen_addr(unix: bool, dir: &tempfile::TempDir, name: &str) -> NetAddr {
    if unix {
        NetAddr::Unix(dir.path().join(name))
    } else {
        "127.0.0.1:0".parse().unwrap()
    }
}

fn identity() -> Identity {
    Identity::from_seed(&Seed::generate())
}

/// A line of handles, each dialing the one before; all follow "chat" and
/// are connected both ways before this returns.
async fn line(n: usize, unix: bool, dir: &tempfile::TempDir) -> Vec<(Gossip, Subscription)> {
    let mut out: Vec<(Gossip, Subscription)> = Vec::new();
    for i in 0..n {
        let mut b =
            Gossip::builder(identity()).listen(listen_addr(unix, dir, &format!("{i}.sock")));
        if let Some((prev, _)) = out.last() {
            b = b.connect(prev.address(), prev.local_addrs()[0].clone());
        }
        let g = b.spawn().await.expect("spawn");
        let sub = g.subscribe(topic_id(b"chat")).await.unwrap();
        out.push((g, sub));
    }
    for pair in out.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        until("both ends to see each other", || async {
            peers(a).await.contains(&b.address()) && peers(b).await.contains(&a.address())
        })
        .await;
    }
    out
}

/// `n` handles in a line: a bulletin published at one end reaches every
/// other handle once (the next thing each hears is the next bulletin).
async fn delivers_once_each(n: usize, unix: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut handles = line(n, unix, &dir).await;
    let chat = topic_id(b"chat");
    handles[0].0.publish(chat, "first").await.unwrap();
    handles[0].0.publish(chat, "second").await.unwrap();
    for (_, sub) in &mut handles {
        assert_eq!(next(sub).await, "first");
        assert_eq!(next(sub).await, "second");
    }
    for (g, _) in &handles {
        g.shutdown().await.unwrap();
    }
    if unix {
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "socket files left"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_over_tcp_deliver_once() {
    delivers_once_each(2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_handles_over_tcp_deliver_once_each() {
    delivers_once_each(3, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_over_unix_sockets_deliver_once() {
    delivers_once_each(2, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_handles_over_unix_sockets_deliver_once_each() {
    delivers_once_each(3, true).await;
}

/// Messages a bare node with `seed` makes for `to`: one bulletin of
/// `size` bytes each, forwarded to its only neighbour.
fn messages_to(seed: &Seed, to: Address, bulletins: usize, size: usize) -> Vec<Message> {
    let mut node = Node::new(Identity::from_seed(seed), NodeConfig::default());
    node.add_neighbour(to, 1).unwrap();
    let now = Timestamp::now();
    for i in 0..bulletins {
        let mut content = vec![b'x'; size];
        content[..8].copy_from_slice(&(i as u64).to_be_bytes());
        node.publish_new(topic_id(b"raw"), content, now).unwrap();
    }
    node.run_until_idle_parallel(now).unwrap();
    node.drain_events()
        .filter_map(|e| match e {
            Event::Send(out) => Some(out.message),
            _ => None,
        })
        .collect()
}

fn frame(message: &impl AsRef<RawMessage>) -> Vec<u8> {
    let packed = message.as_ref().pack();
    let mut out = (packed.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&packed);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_src_makes_no_peer_and_the_signer_of_a_valid_message_does() {
    let g = Gossip::builder(identity())
        .listen("127.0.0.1:0".parse().unwrap())
        .spawn()
        .await
        .unwrap();
    let (signer, claimed) = (Seed::generate(), Identity::from_seed(&Seed::generate()));
    let valid = messages_to(&signer, g.address(), 1, 16).remove(0);
    let mut forged = valid.clone().into_raw();
    forged.src = claimed.address();
    let NetAddr::Tcp(at) = &g.local_addrs()[0] else {
        unreachable!()
    };
    let mut raw = TcpStream::connect(at.as_str()).await.unwrap();
    for _ in 0..3 {
        raw.write_all(&frame(&forged)).await.unwrap();
    }
    raw.write_all(&frame(&valid)).await.unwrap();
    // The frames are handled in order: once the valid one has made its
    // signer a peer, the forged ones before it have been looked at.
    until("the signer to be a peer", || async {
        !peers(&g).await.is_empty()
    })
    .await;
    assert_eq!(peers(&g).await, [Identity::from_seed(&signer).address()]);
    g.shutdown().await.unwrap();
}

/// Reads until the other side closes; false if it does not within
/// [`PATIENCE`].
async fn closed_by_peer(raw: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_announcing_an_oversized_frame_is_disconnected_from_the_prefix() {
    let g = Gossip::builder(identity())
        .listen("127.0.0.1:0".parse().unwrap())
        .max_frame(1024)
        .spawn()
        .await
        .unwrap();
    let NetAddr::Tcp(at) = g.local_addrs()[0].clone() else {
        unreachable!()
    };
    // One byte over the bound, and the largest prefix there is: only the
    // prefix is sent, so the handle cannot be waiting to read the frame.
    for len in [1025u32, u32::MAX] {
        let mut raw = TcpStream::connect(at.as_str()).await.unwrap();
        raw.write_all(&len.to_be_bytes()).await.unwrap();
        raw.write_all(b"partial").await.unwrap();
        assert!(
            closed_by_peer(&mut raw).await,
            "a {len}-byte prefix left the connection open"
        );
    }
    // The handle still takes a valid peer.
    let mut raw = TcpStream::connect(at.as_str()).await.unwrap();
    let seed = Seed::generate();
    raw.write_all(&frame(&messages_to(&seed, g.address(), 1, 16)[0]))
        .await
        .unwrap();
    until("the valid peer", || async { !peers(&g).await.is_empty() }).await;
    g.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_reconnects_after_the_listener_restarts() {
    let seed = Seed::generate();
    let first = Gossip::builder(Identity::from_seed(&seed))
        .listen("127.0.0.1:0".parse().unwrap())
        .spawn()
        .await
        .unwrap();
    let at = first.local_addrs()[0].clone();
    let dialer = Gossip::builder(identity())
        .connect(first.address(), at.clone())
        .spawn()
        .await
        .unwrap();
    let mut heard = dialer.subscribe(topic_id(b"chat")).await.unwrap();
    until("the first link", || async {
        !peers(&first).await.is_empty()
    })
    .await;
    first.shutdown().await.unwrap();
    until("the dialer to see the link go", || async {
        peers(&dialer).await.is_empty()
    })
    .await;

    let again = Gossip::builder(Identity::from_seed(&seed))
        .listen(at)
        .spawn()
        .await
        .unwrap();
    until("the redial", || async {
        peers(&again).await == [dialer.address()] && peers(&dialer).await == [again.address()]
    })
    .await;
    again.publish(topic_id(b"chat"), "back").await.unwrap();
    assert_eq!(next(&mut heard).await, "back");
    dialer.shutdown().await.unwrap();
    again.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_queued_is_written_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut handles = line(2, false, &dir).await;
    handles[0]
        .0
        .publish(topic_id(b"chat"), "last words")
        .await
        .unwrap();
    handles[0].0.shutdown().await.unwrap();
    assert_eq!(next(&mut handles[1].1).await, "last words");
    handles[1].0.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_its_deadline_with_a_peer_that_stopped_reading() {
    let deadline = Duration::from_millis(500);
    let g = Gossip::builder(identity())
        .listen("127.0.0.1:0".parse().unwrap())
        .shutdown_deadline(deadline)
        .spawn()
        .await
        .unwrap();
    let NetAddr::Tcp(at) = g.local_addrs()[0].clone() else {
        unreachable!()
    };
    // A peer that says one valid thing and never reads again.
    let mut raw = TcpStream::connect(at.as_str()).await.unwrap();
    let seed = Seed::generate();
    raw.write_all(&frame(&messages_to(&seed, g.address(), 1, 16)[0]))
        .await
        .unwrap();
    until("the peer", || async { !peers(&g).await.is_empty() }).await;
    // More than its send queue (8 MiB) and the sockets' buffers can take.
    for i in 0..40u32 {
        let mut content = vec![0u8; 1 << 20];
        content[..4].copy_from_slice(&i.to_be_bytes());
        g.publish(topic_id(b"bulk"), content).await.unwrap();
    }
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, g.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= deadline,
        "nothing was left to write ({took:?}): the test proves nothing"
    );
    assert!(
        took < deadline + Duration::from_secs(10),
        "shutdown took {took:?}"
    );
    drop(raw);
}

/// An endpoint alone (no engine), as a driver that owns its node uses it.
async fn endpoint() -> (Endpoint, String) {
    let mut ep = Endpoint::new(Limits::default()).unwrap();
    let NetAddr::Tcp(at) = ep.listen(&"127.0.0.1:0".parse().unwrap(), 1).await.unwrap() else {
        unreachable!()
    };
    (ep, at)
}

/// The endpoint's next event, within [`PATIENCE`].
async fn event(ep: &mut Endpoint) -> ConnEvent {
    tokio::time::timeout(PATIENCE, ep.next())
        .await
        .expect("timed out waiting for an endpoint event")
}

/// The next event that is not a report of bytes written.
async fn not_written(ep: &mut Endpoint) -> ConnEvent {
    loop {
        match event(ep).await {
            ConnEvent::Written { .. } => {}
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_reads_json_lines_as_well_as_wire_frames_and_cuts_junk() {
    let (mut ep, at) = endpoint().await;
    let messages = messages_to(&Seed::generate(), identity().address(), 2, 16);
    // One connection in wire frames, one in JSON lines (a blank line
    // between them is skipped), one that sends a line that is no message.
    let mut wire = TcpStream::connect(at.as_str()).await.unwrap();
    wire.write_all(&frame(&messages[0])).await.unwrap();
    let mut json = TcpStream::connect(at.as_str()).await.unwrap();
    let mut lines = Vec::new();
    gossip::codec::write_object(
        &mut lines,
        &gossip::codec::Object::Message(messages[1].clone().into()),
        gossip::codec::Format::Json,
    )
    .unwrap();
    json.write_all(b"\n").await.unwrap();
    json.write_all(&lines).await.unwrap();
    let mut junk = TcpStream::connect(at.as_str()).await.unwrap();
    junk.write_all(b"{\"type\":\"message\",\"no\":1}\n")
        .await
        .unwrap();

    let (mut got, mut junked) = (Vec::new(), 0);
    while got.len() < 2 || junked < 1 {
        match not_written(&mut ep).await {
            ConnEvent::Message { frame, .. } => got.push(RawMessage::unpack(&frame).unwrap()),
            ConnEvent::Closed {
                ended: Ended::Junk(_),
                ..
            } => junked += 1,
            ConnEvent::Opened { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    got.sort_by_key(|m| m.pack());
    let mut want = messages.clone();
    want.sort_by_key(|m| m.pack());
    assert_eq!(got, want, "both forms carry the same messages");
    ep.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_shuts_its_side_still_gets_what_is_queued_before_finish() {
    let (mut ep, at) = endpoint().await;
    let message = messages_to(&Seed::generate(), identity().address(), 1, 16).remove(0);
    let mut raw = TcpStream::connect(at.as_str()).await.unwrap();
    raw.write_all(&frame(&message)).await.unwrap();
    // As `nc -N` does: done sending, still reading.
    raw.shutdown().await.unwrap();
    let conn = loop {
        if let ConnEvent::Message { conn, .. } = not_written(&mut ep).await {
            break conn;
        }
    };
    assert!(matches!(
        not_written(&mut ep).await,
        ConnEvent::ReadEnded { conn: c } if c == conn
    ));
    // The answer the message called for is queued after the peer's side
    // shut, then the connection is finished: the answer still goes out.
    let answer = frame(&message);
    assert!(ep.send(conn, answer[4..].to_vec().into()));
    ep.finish(conn);
    let mut back = Vec::new();
    tokio::time::timeout(PATIENCE, raw.read_to_end(&mut back))
        .await
        .expect("the connection was never closed")
        .unwrap();
    assert_eq!(
        back, answer,
        "what was queued before finish was written whole"
    );
    assert!(matches!(
        not_written(&mut ep).await,
        ConnEvent::Closed { conn: c, unwritten: 0, .. } if c == conn
    ));
    ep.shutdown(Duration::from_secs(1)).await;
}

/// What the test's host is asked to do.
enum ChatInput {
    Publish(&'static str),
    Stop,
}

/// A host of the library's driver, as an application writes one: its
/// inputs are bulletins to publish, its deliveries and the messages the
/// network does not carry go to the test.
struct ChatHost {
    inputs: tokio::sync::mpsc::UnboundedReceiver<ChatInput>,
    delivered: tokio::sync::mpsc::UnboundedSender<String>,
    elsewhere: tokio::sync::mpsc::UnboundedSender<Address>,
}

impl gossip::net::Host for ChatHost {
    type Input = Option<ChatInput>;
    type Error = gossip::NodeError;

    async fn input(&mut self) -> Option<ChatInput> {
        self.inputs.recv().await
    }

    fn take(
        &mut self,
        input: Option<ChatInput>,
        node: &mut Node,
        _: &mut gossip::net::Network,
    ) -> Result<gossip::net::Flow, gossip::NodeError> {
        match input {
            Some(ChatInput::Publish(text)) => {
                node.publish_new(
                    topic_id(b"chat"),
                    text.as_bytes().to_vec(),
                    Timestamp::now(),
                )?;
                Ok(gossip::net::Flow::Continue)
            }
            Some(ChatInput::Stop) | None => Ok(gossip::net::Flow::Stop),
        }
    }

    fn deliver(
        &mut self,
        bulletins: Vec<gossip::Bulletin>,
        node: &mut Node,
        _: &mut gossip::net::Network,
    ) -> Result<(), gossip::NodeError> {
        let keys: Vec<_> = bulletins.iter().map(gossip::Bulletin::key).collect();
        for b in bulletins {
            let _ = self.delivered.send(String::from_utf8(b.content).unwrap());
        }
        node.confirm_delivered(&keys)?;
        Ok(())
    }

    fn elsewhere(
        &mut self,
        message: gossip::node::Outbound,
        sent: gossip::session::Sent,
        _: &Node,
    ) -> bool {
        assert_eq!(sent, gossip::session::Sent::Elsewhere);
        let _ = self.elsewhere.send(message.peer);
        true
    }

    fn failed(&mut self, _: gossip::net::Step, error: gossip::NodeError) -> gossip::NodeError {
        error
    }
}

/// The library's driver runs a node the application owns, for a host of
/// its own: it dials a `Gossip` handle over TCP, publishes what its host
/// takes in, hands the host what the handle publishes, hands the host the
/// messages for a configured neighbour it has no connection to, and stops
/// when the host says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_runs_a_node_for_its_host() {
    let chat = topic_id(b"chat");
    let handle = Gossip::builder(identity())
        .listen("127.0.0.1:0".parse().unwrap())
        .spawn()
        .await
        .unwrap();
    let mut heard = handle.subscribe(chat).await.unwrap();

    let mut node = Node::new(identity(), NodeConfig::default());
    let me = node.address();
    node.subscribe(chat);
    let topics: Vec<_> = node.topics().copied().collect();
    node.set_sync_topics(topics);
    // A neighbour reached some other way (a file, a pipe): the network
    // does not carry its messages, the host does.
    let offline = identity().address();
    node.add_neighbour(offline, 1).unwrap();
    node.sync_with(offline);
    let limits = Limits::default();
    let session = gossip::session::Session::new(limits.session_config());
    let mut network = gossip::net::Network::new(Endpoint::new(limits).unwrap(), session);
    let difficulty = node.config().message_difficulty();
    let at = handle.local_addrs()[0].clone();
    network
        .connect(handle.address(), at, difficulty, &mut node)
        .unwrap();

    let (input, inputs) = tokio::sync::mpsc::unbounded_channel();
    let (delivered_tx, mut delivered) = tokio::sync::mpsc::unbounded_channel();
    let (elsewhere_tx, mut elsewhere) = tokio::sync::mpsc::unbounded_channel();
    let host = ChatHost {
        inputs,
        delivered: delivered_tx,
        elsewhere: elsewhere_tx,
    };
    let driver = gossip::net::Driver::new(node, network, host);
    let engine = tokio::spawn(driver.run(Duration::from_secs(5)));

    let to = tokio::time::timeout(PATIENCE, elsewhere.recv()).await;
    assert_eq!(
        to.expect("timed out waiting for the host's send"),
        Some(offline)
    );
    until("the handle to learn the driver's node", || async {
        peers(&handle).await.contains(&me)
    })
    .await;
    input.send(ChatInput::Publish("from the driver")).unwrap();
    assert_eq!(next(&mut heard).await, "from the driver");
    handle.publish(chat, "from the handle").await.unwrap();
    let got = tokio::time::timeout(PATIENCE, async {
        loop {
            match delivered.recv().await {
                Some(text) if text == "from the handle" => return text,
                Some(_) => continue,
                None => panic!("the host is gone"),
            }
        }
    })
    .await
    .expect("timed out waiting for the host's delivery");
    assert_eq!(got, "from the handle");

    input.send(ChatInput::Stop).unwrap();
    let stopped = tokio::time::timeout(PATIENCE, engine).await;
    stopped.expect("the driver did not stop").unwrap().unwrap();
    handle.shutdown().await.unwrap();
}

/// The log lines a test's subscriber has seen (every test in this binary
/// logs to it once it is installed; each test looks for its own).
static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A `tracing` subscriber that keeps each event's message in [`LOGGED`].
struct Capture;

struct MessageOf(String);

impl tracing::field::Visit for MessageOf {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = MessageOf(String::new());
        event.record(&mut message);
        LOGGED.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The handle's network notices reach the application's log: a handle
/// logs the peer that dialed it, in the relay's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_logs_its_network_notices() {
    let _ = tracing::subscriber::set_global_default(Capture);
    let dir = tempfile::tempdir().unwrap();
    let handles = line(2, false, &dir).await;
    let dialer = handles[1].0.address();
    let wanted = format!("connected to {dialer}");
    until("the listener to log its new peer", || {
        let seen = LOGGED.lock().unwrap().iter().any(|m| m.ends_with(&wanted));
        async move { seen }
    })
    .await;
    for (g, _) in &handles {
        g.shutdown().await.unwrap();
    }
}

/// A host whose only input is a local input of the network (stdin, say):
/// its messages go into the session, and it stops at the input's end.
struct LocalHost;

impl gossip::net::Host for LocalHost {
    type Input = std::convert::Infallible;
    type Error = gossip::NodeError;

    async fn input(&mut self) -> Self::Input {
        std::future::pending().await
    }

    fn take(
        &mut self,
        input: Self::Input,
        _: &mut Node,
        _: &mut gossip::net::Network,
    ) -> Result<gossip::net::Flow, gossip::NodeError> {
        match input {}
    }

    fn input_event(
        &mut self,
        event: ConnEvent,
        node: &mut Node,
        network: &mut gossip::net::Network,
    ) -> Result<gossip::net::Flow, gossip::NodeError> {
        match event {
            ConnEvent::Object {
                conn,
                object: Ok(gossip::codec::Object::Message(m)),
                ..
            } => network.receive(conn, m, node, Timestamp::now())?,
            ConnEvent::Closed { .. } => return Ok(gossip::net::Flow::Stop),
            _ => {}
        }
        Ok(gossip::net::Flow::Continue)
    }

    fn deliver(
        &mut self,
        _: Vec<gossip::Bulletin>,
        _: &mut Node,
        _: &mut gossip::net::Network,
    ) -> Result<(), gossip::NodeError> {
        Ok(())
    }

    fn failed(&mut self, _: gossip::net::Step, error: gossip::NodeError) -> gossip::NodeError {
        error
    }
}

/// Local links, as the relay's stdin and stdout: a stranger's request
/// read from a local input is answered on the output that carries what no
/// connection does, as a JSON line the stranger accepts; a delivery
/// queued on the same output is written after it and reported written.
#[tokio::test]
async fn a_strangers_request_on_a_local_input_is_answered_on_the_local_output() {
    use gossip::codec::{Format, Kind, Object, ObjectReader, write_object};
    use gossip::net::{LocalOutput, Network};
    use gossip::session::{Carries, Session};

    let config = || {
        NodeConfig::builder()
            .message_difficulty(0)
            .bulletin_difficulty(0)
            .build()
            .unwrap()
    };
    let chat = topic_id(b"chat");
    let mut relay = Node::new(identity(), config());
    relay.subscribe(chat);
    relay
        .publish_new(chat, b"held".to_vec(), Timestamp::now())
        .unwrap();
    relay.run_until_idle(Timestamp::now()).unwrap();
    relay.drain_events().for_each(drop);
    // A stranger asks what the relay holds on "chat", on its stdin.
    let mut stranger = Node::new(identity(), config());
    stranger.add_neighbour(relay.address(), 0).unwrap();
    stranger.subscribe(chat);
    stranger.request_sync(relay.address(), chat);
    stranger.run_until_idle(Timestamp::now()).unwrap();
    let mut stdin = Vec::new();
    for e in stranger.drain_events().collect::<Vec<_>>() {
        if let Event::Send(out) = e {
            let m = Object::Message(out.message.into());
            write_object(&mut stdin, &m, Format::Json).unwrap();
        }
    }
    assert!(!stdin.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stdout");
    let limits = Limits::default();
    let mut endpoint = Endpoint::new(limits.clone()).unwrap();
    let input = endpoint.attach_objects(std::io::Cursor::new(stdin), Kind::Any);
    let output = endpoint.attach_file(&path).unwrap();
    let mut network = Network::new(endpoint, Session::new(limits.session_config()));
    network.attach_input(input, &mut relay).unwrap();
    let stdout = LocalOutput {
        name: "stdout".into(),
        role: "stdout",
        format: Format::Json,
        carries: Carries::Elsewhere,
        holds: true,
    };
    network.attach_output(output, stdout, &mut relay).unwrap();
    let mut driver = gossip::net::Driver::new(relay, network, LocalHost);
    tokio::time::timeout(PATIENCE, driver.serve())
        .await
        .expect("the driver never saw its input end")
        .unwrap();
    let (mut relay, mut network, _) = driver.into_parts();
    let bulletin = gossip::Bulletin::new(chat, b"delivered".to_vec(), Timestamp::now().to_wire());
    let key = bulletin.key();
    assert!(network.deliver_on(output, bulletin, true));
    network.finish_outputs(PATIENCE, &mut relay).await;
    assert_eq!(network.take_delivered(), vec![key]);
    assert_eq!(network.take_unwritten(), Default::default());

    let file = std::fs::File::open(&path).unwrap();
    let objects: Vec<Object> = ObjectReader::new(std::io::BufReader::new(file), Kind::Any)
        .map(|o| o.unwrap())
        .collect();
    let Some((Object::Bulletin(last), answers)) = objects.split_last() else {
        panic!("no delivery last: {objects:?}")
    };
    assert_eq!(last.content, b"delivered");
    assert!(!answers.is_empty(), "no answer to the stranger");
    for answer in answers {
        let Object::Message(m) = answer else {
            panic!("not a message: {answer:?}")
        };
        assert_eq!(m.dst, stranger.address());
        stranger.receive(m.clone());
    }
    stranger.run_until_idle(Timestamp::now()).unwrap();
    assert_eq!(stranger.counters().accepted, answers.len() as u64);
}

/// A local output written as JSON lines gives its queue back to the
/// session as each frame was charged, however long its line: with a
/// reader that has taken one line, exactly one frame has left the queue.
#[tokio::test]
async fn a_local_outputs_queue_shrinks_by_what_each_written_message_was_charged() {
    use gossip::codec::Format;
    use gossip::net::{LocalOutput, Network};
    use gossip::session::{Carries, Session};
    use tokio::io::AsyncBufReadExt;

    let config = NodeConfig::builder()
        .message_difficulty(0)
        .bulletin_difficulty(0)
        .build()
        .unwrap();
    let mut node = Node::new(identity(), config);
    let peer = identity().address();
    node.add_neighbour(peer, 0).unwrap();
    let chat = topic_id(b"chat");
    node.subscribe(chat);
    for i in 0..5 {
        let text = format!("bulletin {i}").into_bytes();
        node.publish_new(chat, text, Timestamp::now()).unwrap();
    }
    node.run_until_idle(Timestamp::now()).unwrap();

    // The output's reader: a pipe of one byte, read by the test.
    let (writer, reader) = tokio::io::duplex(1);
    let limits = Limits::default();
    let mut endpoint = Endpoint::new(limits.clone()).unwrap();
    let conn = endpoint.attach_output(async move { Ok(writer) });
    let mut network = Network::new(endpoint, Session::new(limits.session_config()));
    let output = LocalOutput {
        name: "stdout".into(),
        role: "stdout",
        format: Format::Json,
        carries: Carries::Elsewhere,
        holds: true,
    };
    network.attach_output(conn, output, &mut node).unwrap();
    let mut charged = Vec::new();
    for e in node.drain_events().collect::<Vec<_>>() {
        if let Event::Send(out) = e {
            let before = network.queued_bytes(conn);
            assert_eq!(network.send(&out, &node), gossip::session::Sent::Queued);
            charged.push(network.queued_bytes(conn) - before);
        }
    }
    assert_eq!(charged.len(), 5);
    let total: usize = charged.iter().sum();

    let mut lines = tokio::io::BufReader::new(reader);
    let mut first = String::new();
    tokio::time::timeout(PATIENCE, lines.read_line(&mut first))
        .await
        .expect("no line")
        .unwrap();
    assert!(
        first.len() > charged[0],
        "a JSON line is longer than its frame"
    );
    tokio::time::timeout(PATIENCE, network.written())
        .await
        .expect("the first line never reported written");
    assert_eq!(network.queued_bytes(conn), total - charged[0]);
}
