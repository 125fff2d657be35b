//! The `gossip` command: thin subcommands over the library.

#![forbid(unsafe_code)]

mod cli;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::args::Cli;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let failure = cli::usage::failure(e, &Cli::command(), &args);
            failure.report();
            return failure.code.into();
        }
    };
    match cli::run(cli.command) {
        Ok(code) => code,
        Err(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
        Err(mut failure) => {
            if failure.code == cli::exit::Exit::Usage {
                // A bad flag value: named by its subcommand, as clap's usage errors are.
                let sub = cli::usage::subcommand(&Cli::command(), &args);
                failure.what = format!("{sub}: {}", failure.what);
            }
            failure.report();
            failure.code.into()
        }
    }
}
