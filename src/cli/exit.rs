//! The exit codes every subcommand shares (0 is success).

use std::process::ExitCode;

/// Why a command failed, as its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A definite no: an object failed verification or a check, a sync
    /// left differences.
    Invalid = 1,
    /// A usage error: an unknown or missing flag, a bad flag value.
    Usage = 2,
    /// Malformed input.
    Malformed = 3,
    /// An I/O or key-file error.
    Io = 4,
}

impl Exit {
    /// Every code, in order.
    pub const ALL: [Self; 4] = [Self::Invalid, Self::Usage, Self::Malformed, Self::Io];

    /// What the code means, as the man pages say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Invalid => {
                "a definite no: an object failed verification or a check, a nonce could not be found in time, store get found nothing, store import refused a bulletin, verify read no object, sync left differences or ran out of time"
            }
            Self::Usage => "usage error: an unknown or missing flag, a bad flag value",
            Self::Malformed => {
                "malformed input: bad JSON, hex or base64, a broken frame, a wrong object type"
            }
            Self::Io => "I/O or key-file error: missing, unreadable, wrong content or permissions",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
