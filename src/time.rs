//! Time in the API: a [`Timestamp`] for instants and
//! [`std::time::Duration`] for spans.
//!
//! The protocol counts time in whole seconds since the Unix epoch, and its
//! objects carry a `u32` of them (`ts`); that `u32` appears only where
//! objects are built and encoded ([`Timestamp::to_wire`],
//! [`Timestamp::from_wire`]). Nothing in the library reads the clock but
//! [`Timestamp::now`], which a program calls and passes in: tests and
//! simulations pass their own.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::pow::SIGNED_LIMIT;

/// An instant: whole seconds since the Unix epoch, as the protocol counts
/// them. Arithmetic with a [`Duration`] saturates (whole seconds only: a
/// fraction of a second is dropped), so no input can make it overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Self = Self(0);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The system clock (the epoch if the clock is before it).
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    /// The instant an object's `ts` names.
    pub const fn from_wire(ts: u32) -> Self {
        Self(ts as u64)
    }

    /// This instant as an object's `ts`, one the original can read too:
    /// saturates at 2^31 − 1 (reached in 2038).
    pub fn to_wire(self) -> u32 {
        // The bound fits in a u32.
        self.0.min(u64::from(SIGNED_LIMIT - 1)) as u32
    }

    /// `span` later, saturating at the end of time.
    #[must_use]
    pub fn saturating_add(self, span: Duration) -> Self {
        Self(self.0.saturating_add(span.as_secs()))
    }

    /// `span` earlier, saturating at the epoch.
    #[must_use]
    pub fn saturating_sub(self, span: Duration) -> Self {
        Self(self.0.saturating_sub(span.as_secs()))
    }

    /// How long after `earlier` this is; zero when it is not after it.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    /// Saturating, as [`Timestamp::saturating_add`].
    fn add(self, span: Duration) -> Self {
        self.saturating_add(span)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;

    /// Saturating, as [`Timestamp::saturating_sub`].
    fn sub(self, span: Duration) -> Self {
        self.saturating_sub(span)
    }
}

impl fmt::Display for Timestamp {
    /// The seconds since the epoch, as the protocol writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_the_wire_form_stays_readable_by_the_original() {
        let t = Timestamp::from_secs(100);
        assert_eq!(t + Duration::from_secs(5), Timestamp::from_secs(105));
        assert_eq!(t - Duration::from_secs(500), Timestamp::EPOCH);
        assert_eq!(
            Timestamp::from_secs(u64::MAX) + Duration::from_secs(1),
            Timestamp::from_secs(u64::MAX)
        );
        assert_eq!(t + Duration::from_millis(1999), Timestamp::from_secs(101));
        assert_eq!(
            Timestamp::from_secs(105).saturating_duration_since(t),
            Duration::from_secs(5)
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_secs(105)),
            Duration::ZERO
        );
        assert_eq!(Timestamp::from_wire(7).to_wire(), 7);
        assert_eq!(Timestamp::from_secs(u64::MAX).to_wire(), SIGNED_LIMIT - 1);
        assert_eq!(Timestamp::from_secs(42).to_string(), "42");
    }
}
