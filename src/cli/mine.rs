//! Mining for the command line: a capped rayon pool, progress with an
//! estimated time on stderr when it is a terminal, and what to do when a
//! timestamp has no valid nonce.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gossip::codec::Object;
use gossip::pow::{Mined, Progress, SIGNED_LIMIT, expected_tries, mine, search_start};

use super::io::Failure;

pub struct Miner {
    pool: rayon::ThreadPool,
    progress: bool,
}

impl Miner {
    /// A miner on `jobs` threads (default: all cores).
    pub fn new(jobs: Option<u32>) -> Result<Self, Failure> {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(j) = jobs {
            builder = builder.num_threads(j as usize);
        }
        let pool = builder
            .build()
            .map_err(|e| Failure::io("cannot start mining threads", e))?;
        Ok(Self {
            pool,
            progress: std::io::stderr().is_terminal(),
        })
    }

    /// The miner's thread pool, for mining several objects at once.
    pub fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    /// Sets the object's nonce so its proof of work reaches `difficulty`.
    /// Nonces stay below 2^31 (`gossip::pow`). When a timestamp has none of
    /// them, moves it forward a second if `bump_ts` allows (never to 2^31 or
    /// past), and fails otherwise.
    pub fn mine_object(
        &self,
        obj: &mut Object,
        difficulty: u32,
        bump_ts: bool,
    ) -> Result<(), Failure> {
        loop {
            let work = match obj {
                Object::Bulletin(b) => b.work(),
                Object::Message(m) => m.work(),
            };
            let start = search_start(&mut rand::thread_rng());
            match self.mine_with_progress(&work, difficulty, start) {
                Mined::Found(nonce) => {
                    match obj {
                        Object::Bulletin(b) => b.nonce = nonce,
                        Object::Message(m) => m.nonce = nonce,
                    }
                    return Ok(());
                }
                Mined::Exhausted | Mined::Stopped => {
                    let type_name = obj.type_name();
                    let ts = match obj {
                        Object::Bulletin(b) => &mut b.ts,
                        Object::Message(m) => &mut m.ts,
                    };
                    if !bump_ts || *ts >= SIGNED_LIMIT - 1 {
                        return Err(Failure::invalid(
                            format!("cannot mine {type_name}"),
                            format!("none of the 2^31 nonces the original can read gives {difficulty} leading zero bits at ts {ts}"),
                        )
                        .hint("lower the difficulty, or pass --bump-ts to let the timestamp move"));
                    }
                    *ts += 1;
                }
            }
        }
    }

    fn mine_with_progress(&self, work: &gossip::pow::Work, difficulty: u32, start: u32) -> Mined {
        let progress = Progress::default();
        let done = AtomicBool::new(false);
        let show = self.progress && difficulty >= 16;
        std::thread::scope(|s| {
            if show {
                s.spawn(|| report(&progress, &done, difficulty));
            }
            let result = self
                .pool
                .install(|| mine(work, difficulty, start, &progress));
            done.store(true, Ordering::Relaxed);
            result
        })
    }
}

/// Prints hashes tried, the rate and the expected time left until `done`.
fn report(progress: &Progress, done: &AtomicBool, difficulty: u32) {
    let began = Instant::now();
    let expected = expected_tries(difficulty);
    let mut stderr = std::io::stderr();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let tried = progress.tried.load(Ordering::Relaxed) as f64;
        let rate = tried / began.elapsed().as_secs_f64().max(1e-3);
        let left = ((expected - tried).max(0.0) / rate.max(1.0)).round();
        let _ = write!(
            stderr,
            "\rmining {difficulty} bits: {tried:.0} hashes, {rate:.0}/s, ~{left:.0} s expected left   "
        );
    }
    let _ = writeln!(stderr);
}
