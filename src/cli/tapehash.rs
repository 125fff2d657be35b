//! `gossip tapehash`: the raw tapehash1 digest of some bytes and its leading zero bits.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gossip::tapehash::{leading_zero_bits, tapehash1};
use serde_json::json;

use super::flags::TextOutputArgs;
use super::io::{CmdResult, read_all, stdout, write_err};

#[derive(Args, Debug)]
pub struct TapehashArgs {
    /// Program length in bytes (1..=65536); the protocol uses 64.
    #[arg(long, default_value_t = gossip::tapehash::DEFAULT_CODE_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub code_size: u32,
    /// File to hash ('-' or nothing: stdin).
    pub file: Option<PathBuf>,
    /// text: "HEX BITS"; json: a tapehash object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

pub fn run(args: TapehashArgs) -> CmdResult {
    let bytes = read_all(args.file.as_deref())?;
    let digest = tapehash1(&bytes, args.code_size as usize);
    let bits = leading_zero_bits(&digest);
    let line = if args.output.json() {
        json!({"type": "tapehash", "digest": hex::encode(digest), "leading_zero_bits": bits, "code_size": args.code_size})
            .to_string()
    } else {
        format!("{} {bits}", hex::encode(digest))
    };
    let mut out = stdout();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
