//! A chat between two processes over TCP, on `gossip::net`.
//!
//! `cargo run --example tcp_chat` starts Alice: she listens on a loopback
//! port and starts Bob as a second process (this same program, given the
//! port and her address, which he needs to seal messages to her). Bob
//! dials her and says hello on "chat"; Alice learns him from his first
//! verified message (never from a claimed sender), answers, and waits for
//! him to leave. Each follows "chat", so each also hears its own lines.

use std::time::Duration;

use gossip::net::{Gossip, Subscription};
use gossip::{Identity, Seed, topic_id};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The next line on "chat" that is not one of `own`'s.
async fn hear(chat: &mut Subscription, own: &str) -> Result<String> {
    let wait = Duration::from_secs(60);
    loop {
        let b = tokio::time::timeout(wait, chat.recv())
            .await?
            .ok_or("handle closed")?;
        let line = String::from_utf8_lossy(&b.content).into_owned();
        if line != own {
            return Ok(line);
        }
    }
}

async fn alice() -> Result<()> {
    let alice = Gossip::builder(Identity::from_seed(&Seed::generate()))
        .listen("127.0.0.1:0".parse()?)
        .spawn()
        .await?;
    let mut chat = alice.subscribe(topic_id(b"chat")).await?;
    let at = alice.local_addrs()[0].to_string();
    let mut bob = std::process::Command::new(std::env::current_exe()?)
        .args(["bob", &at, &alice.address().to_string()])
        .spawn()?;
    let line = hear(&mut chat, "hi bob").await?;
    println!("alice heard: {line} (peers: {:?})", alice.peers().await?);
    assert_eq!(line, "hello, alice");
    alice.publish(topic_id(b"chat"), "hi bob").await?;
    let status = tokio::task::spawn_blocking(move || bob.wait()).await??;
    assert!(status.success(), "bob failed: {status}");
    alice.shutdown().await?;
    println!("alice: done");
    Ok(())
}

async fn bob(at: &str, alice: &str) -> Result<()> {
    let bob = Gossip::builder(Identity::from_seed(&Seed::generate()))
        .connect(alice.parse()?, at.parse()?)
        .spawn()
        .await?;
    let mut chat = bob.subscribe(topic_id(b"chat")).await?;
    // Dialing takes a moment: wait (a minute at most) until she is up.
    let connected = async {
        while bob.peers().await.map_or(true, |p| p.is_empty()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), connected).await?;
    bob.publish(topic_id(b"chat"), "hello, alice").await?;
    let line = hear(&mut chat, "hello, alice").await?;
    println!("bob heard: {line}");
    assert_eq!(line, "hi bob");
    bob.shutdown().await?;
    println!("bob: done");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [role, at, alice] if role == "bob" => bob(at, alice).await,
        _ => alice().await,
    }
}
