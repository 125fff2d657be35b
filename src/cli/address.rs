//! `gossip address`: the address of a key file.

use std::io::Write;
use std::process::ExitCode;

use super::flags::KeyArgs;
use super::io::{CmdResult, load_identity, stdout, write_err};

pub fn run(args: KeyArgs) -> CmdResult {
    let id = load_identity(&args.key)?;
    let mut out = stdout();
    writeln!(out, "{}", id.address())
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
