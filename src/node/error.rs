//! Why a node could not do something.

use std::fmt;

use super::config::ConfigError;
use super::hooks::HookError;
use crate::error::{CryptoError, KeyError};
use crate::pow::Unmineable;
use crate::store::StoreError;
use crate::verify::Reason;

/// Why the node could not do something.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeError {
    /// The bulletin store failed.
    Store(StoreError),
    /// A peer address is not a valid Ed25519 key.
    Key(KeyError),
    /// No nonce meets the difficulty (the whole nonce space was tried).
    Unmineable {
        /// The difficulty asked for.
        difficulty: u32,
    },
    /// A bulletin offered for publishing fails verification.
    Rejected(Reason),
    /// A message could not be sealed to its peer (see [`CryptoError`]).
    Seal(CryptoError),
    /// A user-supplied [`super::Hooks`] method failed.
    Hook(HookError),
    /// A config made for a node was refused (see [`ConfigError`]).
    Config(ConfigError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::Key(e) => write!(f, "bad peer address: {e}"),
            Self::Unmineable { difficulty } => {
                write!(f, "no nonce reaches difficulty {difficulty}")
            }
            Self::Rejected(r) => write!(f, "bulletin rejected: {r}"),
            Self::Seal(e) => e.fmt(f),
            Self::Hook(e) => write!(f, "hook failed: {e}"),
            Self::Config(e) => write!(f, "bad node config: {e}"),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            Self::Key(e) => Some(e),
            Self::Seal(e) => Some(e),
            Self::Hook(e) => Some(e.as_ref()),
            Self::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<CryptoError> for NodeError {
    fn from(e: CryptoError) -> Self {
        Self::Seal(e)
    }
}

impl From<KeyError> for NodeError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

impl From<Unmineable> for NodeError {
    fn from(e: Unmineable) -> Self {
        Self::Unmineable {
            difficulty: e.difficulty,
        }
    }
}

impl From<ConfigError> for NodeError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}
