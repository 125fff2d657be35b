//! The error every subcommand returns: what failed, why, a hint, and the
//! exit code (CLI.md). Apart from the I/O helpers in [`super::io`], so the
//! flag parsers ([`super::value`]) can fail without depending on them.

use std::fmt;
use std::io;
use std::process::ExitCode;

use super::exit::Exit;

/// A failure to report as `gossip: <what>: <why>` (and a hint), with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: Exit,
    pub what: String,
    pub why: String,
    pub hint: Option<String>,
    /// The kind of the I/O error on stdout it comes from, if it does.
    stdout_error: Option<io::ErrorKind>,
    /// A stream of objects ends here: no more are taken after this one.
    ends_input: bool,
}

impl Failure {
    /// Takes an [`Exit`]; the bare codes the relay still passes go through
    /// `From<u8>`.
    pub fn new(code: Exit, what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self {
            code,
            what: what.into(),
            why: why.to_string(),
            hint: None,
            stdout_error: None,
            ends_input: false,
        }
    }

    /// Marks a failure after which a stream takes no more objects.
    pub fn ends_input(mut self) -> Self {
        self.ends_input = true;
        self
    }

    /// Whether a stream stops at this failure.
    pub fn is_final(&self) -> bool {
        self.ends_input
    }

    /// A bad flag value or combination: `main` reports it under the
    /// subcommand's name, `gossip: sign: bad --to address 'b.key': …`.
    pub fn usage(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Usage, what, why)
    }

    pub fn malformed(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Malformed, what, why)
    }

    pub fn io(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Io, what, why)
    }

    pub fn invalid(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Invalid, what, why)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is a closed stdout, which ends a command quietly.
    pub fn is_broken_pipe(&self) -> bool {
        self.stdout_error == Some(io::ErrorKind::BrokenPipe)
    }

    /// Prints the error (and hint) to stderr.
    pub fn report(&self) {
        eprintln!("gossip: {}: {}", self.what, self.why);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
    }
}

/// What every subcommand returns.
pub type CmdResult = Result<ExitCode, Failure>;

/// Maps a write error on stdout, keeping its kind: a closed pipe is
/// [`Failure::is_broken_pipe`].
pub fn write_err(e: io::Error) -> Failure {
    Failure {
        stdout_error: Some(e.kind()),
        ..Failure::io("stdout", e)
    }
}
