//! `gossip content-id`: SHA-256 of a file or stdin, streamed in large blocks.

use std::io::{Read, Write};
use std::process::ExitCode;

use gossip::ids::ContentHasher;

use super::args::ContentIdArgs;
use super::io::{CmdResult, Failure, describe, open_input, stdout, write_err};

pub fn run(args: ContentIdArgs) -> CmdResult {
    let path = args.file.as_deref();
    let mut input = open_input(path)?;
    let mut hasher = ContentHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::io(format!("reading {}", describe(path)), e)),
        }
    }
    let mut out = stdout();
    writeln!(out, "{}", hex::encode(hasher.finish()))
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
