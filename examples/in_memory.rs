//! Three nodes in memory, in a line (alice – bob – carol), with a custom
//! hook on bob: it refuses bulletins whose content says "spam" and counts
//! what it let through. Alice publishes two bulletins on "chat"; carol
//! receives the one bob let through.
//!
//! `cargo run --example in_memory`

use gossip::Timestamp;
use gossip::{
    Acceptance, Bulletin, DropReason, Event, HookError, Hooks, Identity, Node, NodeConfig, Seed,
    topic_id,
};

/// Bob's hook: no spam, and a count of what passed.
#[derive(Default)]
struct NoSpam {
    passed: usize,
}

impl Hooks for NoSpam {
    fn accept_bulletin(
        &mut self,
        bulletin: &Bulletin,
        _from: Option<&gossip::Address>,
        _now: u64,
    ) -> Result<Acceptance, HookError> {
        if bulletin.content.windows(4).any(|w| w == b"spam") {
            return Ok(Acceptance::Reject("spam"));
        }
        self.passed += 1;
        Ok(Acceptance::Accept)
    }
}

const NOW: Timestamp = Timestamp::from_secs(1_764_000_000);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chat = topic_id(b"chat");
    let new_node = || {
        Node::new(
            Identity::from_seed(&Seed::generate()),
            NodeConfig::default(),
        )
    };
    let mut alice = new_node();
    let mut bob = new_node().with_hooks(NoSpam::default());
    let mut carol = new_node();
    carol.subscribe(chat);
    alice.add_neighbour(bob.address(), 1)?;
    bob.add_neighbour(alice.address(), 1)?;
    bob.add_neighbour(carol.address(), 1)?;
    carol.add_neighbour(bob.address(), 1)?;

    for text in ["hello, carol", "buy spam now"] {
        alice.publish_new(chat, text.as_bytes().to_vec(), NOW)?;
    }

    // Pass messages along until nobody has anything to send. Each node's
    // events say what to do: send to a peer, deliver, or a drop.
    let mut delivered = Vec::new();
    loop {
        alice.run_until_idle_parallel(NOW)?;
        bob.run_until_idle_parallel(NOW)?;
        carol.run_until_idle_parallel(NOW)?;
        let mut moved = 0;
        let events: Vec<Event> = alice
            .drain_events()
            .chain(bob.drain_events())
            .chain(carol.drain_events())
            .collect();
        for event in events {
            match event {
                Event::Send(out) => {
                    moved += 1;
                    for node in [&mut alice as &mut dyn Receive, &mut bob, &mut carol] {
                        node.take(out.peer, out.message.clone());
                    }
                }
                Event::Deliver(b) => {
                    delivered.push(String::from_utf8_lossy(&b.content).into_owned())
                }
                Event::Dropped { reason, .. } => {
                    println!("dropped: {reason}");
                    assert!(matches!(
                        reason,
                        DropReason::Refused("spam") | DropReason::Duplicate
                    ));
                }
                _ => {}
            }
        }
        if moved == 0 {
            break;
        }
    }

    println!("carol got: {delivered:?}");
    println!("bob's hook let {} bulletin(s) through", bob.hooks().passed);
    assert_eq!(delivered, ["hello, carol"]);
    assert_eq!(bob.hooks().passed, 1);
    Ok(())
}

/// Hands a message to whichever node it is for.
trait Receive {
    fn take(&mut self, to: gossip::Address, message: gossip::Message);
}

impl<H: Hooks> Receive for Node<H> {
    fn take(&mut self, to: gossip::Address, message: gossip::Message) {
        if to == self.address() {
            self.receive(message);
        }
    }
}
