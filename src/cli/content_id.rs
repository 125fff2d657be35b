//! `gossip content-id`: SHA-256 of a file or stdin, streamed in large blocks.
//! A reader thread fills the next block while this one hashes the last, so
//! the read system calls overlap the hashing.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use clap::Args;
use gossip::ContentHasher;

use super::io::{CmdResult, Failure, describe, open_input, stdout, write_err};

#[derive(Args, Debug)]
pub struct ContentIdArgs {
    /// File to hash ('-' or nothing: stdin).
    pub file: Option<PathBuf>,
}

/// Bytes read at a time.
const BLOCK: usize = 4 << 20;

pub fn run(args: ContentIdArgs) -> CmdResult {
    let path = args.file.as_deref();
    let mut input = open_input(path)?;
    let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..3 {
        let _ = empty_tx.send(vec![0u8; BLOCK]);
    }
    let mut hasher = ContentHasher::default();
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                buf.resize(BLOCK, 0);
                let mut filled = 0;
                let result = loop {
                    match input.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == BLOCK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let done = filled < BLOCK || result.is_err();
                if full_tx.send(result.map(|()| buf)).is_err() || done {
                    return;
                }
            }
        });
        while let Ok(block) = full_rx.recv() {
            let block = block.map_err(|e| Failure::io(format!("reading {}", describe(path)), e))?;
            hasher.update(&block);
            let _ = empty_tx.send(block);
        }
        Ok::<(), Failure>(())
    })?;
    let mut out = stdout();
    writeln!(out, "{}", hex::encode(hasher.finish()))
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
