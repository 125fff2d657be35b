//! Dialing a peer and keeping the link up: redial with exponential backoff
//! and jitter (the relay's policy).

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::{self, NetEvent, Wiring};
use super::{NetAddr, Transport};
use crate::keys::Address;
use crate::session::Opening;

/// The first wait before a redial, and the longest.
pub(crate) const BACKOFF_START: Duration = Duration::from_millis(250);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A connection that stayed up this long resets the backoff.
pub(crate) const STABLE: Duration = Duration::from_secs(10);

/// How long one dial may take.
pub(crate) const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The waits between dials: 250 ms doubling to 30 s, each drawn from the
/// upper half of its step (so peers that lost each other at once do not
/// redial in step).
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self {
            step: BACKOFF_START,
        }
    }

    /// The wait before the next dial; the step doubles.
    pub fn next_wait(&mut self, rng: &mut impl Rng) -> Duration {
        let wait = self.step.mul_f64(rng.gen_range(0.5..=1.0));
        self.step = (self.step * 2).min(BACKOFF_MAX);
        wait
    }

    /// Back to the first step (after a connection that stayed up).
    pub fn reset(&mut self) {
        self.step = BACKOFF_START;
    }
}

/// Dials `peer` at `at` until the endpoint stops or `cancel` (the kill
/// switch's child) is cancelled: each connection runs to its end, then the
/// next dial waits out the backoff. Each failed dial is told to the
/// endpoint. Cancelling `cancel` also closes the connection up now.
pub(crate) async fn keep_dialing<T: Transport>(
    transport: T,
    opening: Opening,
    peer: Address,
    at: NetAddr,
    w: Wiring,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new();
    while !w.stop.is_cancelled() && !cancel.is_cancelled() {
        let started = Instant::now();
        let dialed = tokio::select! {
            biased;
            () = w.stop.cancelled() => return,
            () = cancel.cancelled() => return,
            dialed = dial_once(&transport, &at) => dialed,
        };
        match dialed {
            Ok((stream, remote)) => conn::run_under(stream, opening, remote, &w, &cancel).await,
            Err(why) => {
                let failed = NetEvent::DialFailed {
                    peer,
                    addr: at.clone(),
                    why,
                };
                if !w.tell(failed).await {
                    return;
                }
            }
        }
        if started.elapsed() >= STABLE {
            backoff.reset();
        }
        let wait = backoff.next_wait(&mut rand::thread_rng());
        tokio::select! {
            biased;
            () = w.stop.cancelled() => return,
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One dial, within [`DIAL_TIMEOUT`]; the error says why it failed.
pub(crate) async fn dial_once<T: Transport>(
    transport: &T,
    at: &NetAddr,
) -> Result<(T::Stream, String), String> {
    match tokio::time::timeout(DIAL_TIMEOUT, transport.dial(at)).await {
        Ok(Ok(dialed)) => Ok(dialed),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", DIAL_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_cap_in_their_upper_half_and_reset() {
        let mut rng = rand::thread_rng();
        let mut backoff = Backoff::new();
        let mut step = BACKOFF_START;
        for _ in 0..12 {
            let wait = backoff.next_wait(&mut rng);
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} for a step of {step:?}"
            );
            step = (step * 2).min(BACKOFF_MAX);
        }
        assert_eq!(backoff.step, BACKOFF_MAX);
        backoff.reset();
        assert!(backoff.next_wait(&mut rng) <= BACKOFF_START);
    }
}
