//! The `gossip` command: thin subcommands over the library.

#![forbid(unsafe_code)]

mod cli;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::args::Cli;

fn main() -> ExitCode {
    let given: Vec<OsString> = std::env::args_os().collect();
    // A relay's --config file: its settings go before the flags given.
    let args = match cli::expand_config(&given) {
        Ok(args) => args,
        Err(failure) => {
            failure.report();
            return failure.code.into();
        }
    };
    let mut cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let failure = cli::usage::failure(e, &Cli::command(), &args);
            failure.report();
            return failure.code.into();
        }
    };
    if let cli::args::Command::Relay(relay) = &mut cli.command {
        // Read again on SIGHUP, with the file as it is then.
        relay.command_line = given;
    }
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
