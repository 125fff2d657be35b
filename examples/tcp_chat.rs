//! A small chat between two processes over TCP, built on the library only.
//!
//! `cargo run --example tcp_chat` starts Alice: she listens on a loopback
//! port and starts Bob as a second process (this same program, given the
//! port and her address). Each side owns its socket; its node only takes
//! messages in and gives events out. Frames on the wire are the relay's:
//! a 4-byte big-endian length, then the packed message.
//!
//! Bob connects and says hello on "chat"; Alice learns his address from
//! the src of his first message, makes him a neighbour and answers; Bob
//! prints her answer and leaves; Alice waits for him and exits. Each
//! follows "chat", so each also delivers its own lines.

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use gossip::codec::{Format, Kind, Object, ObjectReader, write_object};
use gossip::{Address, Event, Identity, Node, NodeConfig, Seed, topic_id, unix_now};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A node following "chat", and its side of one TCP connection.
struct Chat {
    name: &'static str,
    node: Node,
    reader: ObjectReader<BufReader<TcpStream>>,
    writer: BufWriter<TcpStream>,
}

impl Chat {
    fn new(name: &'static str, identity: Identity, stream: TcpStream) -> Result<Self> {
        let mut node = Node::new(identity, NodeConfig::default());
        node.subscribe(topic_id(b"chat"));
        Ok(Self {
            name,
            node,
            reader: ObjectReader::new(BufReader::new(stream.try_clone()?), Kind::Message),
            writer: BufWriter::new(stream),
        })
    }

    /// Publishes a line on "chat" (mined to the node's bulletin difficulty).
    fn say(&mut self, text: &str) -> Result<()> {
        self.node
            .publish_new(topic_id(b"chat"), text.as_bytes().to_vec(), unix_now())?;
        self.pump().map(drop)
    }

    /// Runs the node, writes what it sends and prints what it delivers;
    /// returns the lines delivered.
    fn pump(&mut self) -> Result<Vec<String>> {
        self.node.run_until_idle_parallel(unix_now())?;
        let mut heard = Vec::new();
        for event in self.node.drain_events() {
            match event {
                Event::Send(out) => write_object(
                    &mut self.writer,
                    &Object::Message(out.message),
                    Format::Wire,
                )?,
                Event::Deliver(b) => {
                    let line = String::from_utf8_lossy(&b.content).into_owned();
                    println!("{} delivered: {line}", self.name);
                    heard.push(line);
                }
                Event::Dropped { reason, .. } => eprintln!("{}: dropped: {reason}", self.name),
                _ => {}
            }
        }
        self.writer.flush()?;
        Ok(heard)
    }

    /// Reads the next message off the socket into the node, and pumps;
    /// returns the lines delivered.
    fn hear(&mut self) -> Result<Vec<String>> {
        let Some(item) = self.reader.next() else {
            return Err("the other side hung up".into());
        };
        let Object::Message(m) = item? else {
            return Err("not a message".into());
        };
        if self.node.connection(&m.src).is_none() {
            // A listener learns its peer from the src of its first message.
            self.node.add_neighbour(m.src, 1)?;
        }
        self.node.receive(m);
        self.pump()
    }
}

fn alice() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port().to_string();
    let identity = Identity::from_seed(&Seed::generate());
    // Bob needs Alice's address to seal to her: he gets it with the port.
    let address = identity.address().to_string();
    let mut bob = Command::new(std::env::current_exe()?)
        .args(["bob", &port, &address])
        .spawn()?;
    let mut alice = Chat::new("alice", identity, listener.accept()?.0)?;
    assert_eq!(alice.hear()?, ["hello, alice"]);
    alice.say("hi bob")?;
    let status = bob.wait()?;
    assert!(status.success(), "bob failed: {status}");
    println!("alice: done");
    Ok(())
}

fn bob(port: &str, alice: &str) -> Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port.parse::<u16>()?))?;
    let mut bob = Chat::new("bob", Identity::from_seed(&Seed::generate()), stream)?;
    bob.node.add_neighbour(Address::from_hex(alice)?, 1)?;
    bob.say("hello, alice")?;
    assert_eq!(bob.hear()?, ["hi bob"]);
    println!("bob: done");
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [role, port, alice] if role == "bob" => bob(port, alice),
        _ => alice(),
    }
}
