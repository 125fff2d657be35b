//! `gossip completions SHELL`, generated from the clap definitions.

use std::process::ExitCode;

use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};
use super::io::{CmdResult, stdout, write_err};

pub fn completions(args: CompletionsArgs) -> CmdResult {
    let mut out = stdout();
    clap_complete::generate(args.shell, &mut Cli::command(), "gossip", &mut out);
    std::io::Write::flush(&mut out).map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
