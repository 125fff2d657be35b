//! clap's parse errors in the command's own format: one `gossip: …` line
//! and a `hint:` line, exit 2. Help and version still print as clap prints
//! them (a command group given no subcommand shows its help, exit 2).

use std::ffi::OsString;

use clap::error::ErrorKind;

use super::io::Failure;
use super::value::BadValue;

/// Turns a clap error for the command line `args` of `cmd` into a
/// [`Failure`] naming the subcommand, or lets clap print help or the
/// version and exit.
pub fn failure(e: clap::Error, cmd: &clap::Command, args: &[OsString]) -> Failure {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    // A value its type refused reads as one found after parsing would.
    if let Some(bad) = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<BadValue>()) {
        let failure = Failure::usage(format!("{}: {}", subcommand(cmd, args), bad.what), &bad.why);
        return match bad.hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        };
    }
    let text = e.render().to_string();
    let mut paragraphs = text.split("\n\n").map(one_line);
    let first = paragraphs.next().unwrap_or_default();
    let why = first.strip_prefix("error: ").unwrap_or(&first).to_owned();
    let path = command_path(cmd, args);
    let what = subcommand(cmd, args);
    let mut hints: Vec<String> = paragraphs
        .filter_map(|p| p.strip_prefix("tip: ").map(str::to_owned))
        .collect();
    hints.push(format!("see '{} --help'", path.join(" ")));
    Failure::usage(what, why).hint(hints.join("; "))
}

/// The subcommand `args` name, as `store list` (or `usage` for none).
pub fn subcommand(cmd: &clap::Command, args: &[OsString]) -> String {
    match command_path(cmd, args).split_first() {
        Some((_, sub)) if !sub.is_empty() => sub.join(" "),
        _ => "usage".to_owned(),
    }
}

/// The (sub)command names `args` walk down to: `gossip store list --x`
/// gives `[gossip, store, list]`.
fn command_path(cmd: &clap::Command, args: &[OsString]) -> Vec<String> {
    let mut path = vec![cmd.get_name().to_owned()];
    let mut current = cmd;
    for arg in args.iter().skip(1) {
        let Some(sub) = arg.to_str().and_then(|a| current.find_subcommand(a)) else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        current = sub;
    }
    path
}

/// A paragraph's lines joined with single spaces.
fn one_line(paragraph: &str) -> String {
    paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Cli;
    use crate::cli::exit::Exit;
    use clap::{CommandFactory, Parser};

    fn failure_for(line: &[&str]) -> Failure {
        let args: Vec<OsString> = line.iter().map(OsString::from).collect();
        let e = Cli::try_parse_from(&args).expect_err("a usage error");
        failure(e, &Cli::command(), &args)
    }

    #[test]
    fn names_the_subcommand_and_its_help() {
        let f = failure_for(&["gossip", "store", "list", "--bogus"]);
        assert_eq!(f.code, Exit::Usage);
        assert_eq!(f.what, "store list");
        assert_eq!(f.why, "unexpected argument '--bogus' found");
        let hint = f.hint.expect("a hint");
        assert!(hint.ends_with("see 'gossip store list --help'"), "{hint}");
    }

    #[test]
    fn joins_a_multi_line_message() {
        let f = failure_for(&["gossip", "relay"]);
        assert_eq!(f.what, "relay");
        assert_eq!(
            f.why,
            "the following required arguments were not provided: --key <KEY>"
        );
        let f = failure_for(&["gossip", "zzz"]);
        assert_eq!(f.what, "usage");
        assert_eq!(f.why, "unrecognized subcommand 'zzz'");
        assert_eq!(f.hint.as_deref(), Some("see 'gossip --help'"));
    }

    #[test]
    fn keeps_clap_s_tips_as_hints() {
        let f = failure_for(&["gossip", "verfy"]);
        assert_eq!(
            f.hint.as_deref(),
            Some("a similar subcommand exists: 'verify'; see 'gossip --help'")
        );
    }
}
