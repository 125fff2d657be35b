//! Mining for the command line: a capped rayon pool, progress with an
//! estimated time on stderr when it is a terminal, a word before a long
//! search (from the measured hash rate), a time limit, and what to do when
//! a timestamp has no valid nonce.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gossip::codec::Object;
use gossip::pow::{Difficulty, Mined, Progress, Work, fits_original, mine, search_start};

use super::io::Failure;

/// Searches expected to take longer than this are announced on stderr.
const ANNOUNCE_AFTER: f64 = 3.0;

/// Hashes tried to measure the rate (about 0.05 s on two cores).
const RATE_SAMPLE: u64 = 4096;

pub struct Miner {
    pool: rayon::ThreadPool,
    progress: bool,
    /// `--max-time`: when mining gives up, and the limit as given.
    deadline: Option<(Instant, f64)>,
    rate: OnceLock<f64>,
    /// Held while the rate is measured for an announcement.
    measuring: std::sync::Mutex<()>,
    announced: AtomicBool,
    gave_up: AtomicBool,
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
            deadline: None,
            rate: OnceLock::new(),
            measuring: std::sync::Mutex::new(()),
            announced: AtomicBool::new(false),
            gave_up: AtomicBool::new(false),
        })
    }

    /// Gives up mining `secs` seconds from now (`--max-time`).
    pub fn with_max_time(mut self, secs: Option<f64>) -> Self {
        self.deadline = secs.map(|s| (Instant::now() + Duration::from_secs_f64(s), s));
        self
    }

    /// Hashes a second on this miner's threads, measured once on `work`.
    pub fn hash_rate(&self, work: &Work) -> f64 {
        *self.rate.get_or_init(|| {
            let progress = Progress::default();
            progress.limit.store(RATE_SAMPLE, Ordering::Relaxed);
            let began = Instant::now();
            self.pool
                .install(|| mine(work, Difficulty::new(256), 0, &progress));
            let tried = progress.tried.load(Ordering::Relaxed).max(1) as f64;
            tried / began.elapsed().as_secs_f64().max(1e-6)
        })
    }

    /// [`Self::hash_rate`], unless another search is measuring it now. The
    /// measurement runs on the pool, where a thread waiting for its chunks
    /// may take up another object's search: waiting for the rate there
    /// would never end.
    fn try_hash_rate(&self, work: &Work) -> Option<f64> {
        if let Some(rate) = self.rate.get() {
            return Some(*rate);
        }
        let _measuring = self.measuring.try_lock().ok()?;
        Some(self.hash_rate(work))
    }

    /// Says on stderr, once, how long `difficulty` is expected to take when
    /// that is more than a few seconds.
    fn announce(&self, work: &Work, difficulty: u32, command: &str) {
        let tries = Difficulty::new(difficulty).expected_tries();
        if tries < 65_536.0 || self.announced.load(Ordering::Relaxed) {
            return;
        }
        // Measured once; an object that would wait for another object's
        // measurement (or, on a thread that took up another object while
        // measuring, for its own) is not announced.
        let Some(rate) = self.try_hash_rate(work) else {
            return;
        };
        let secs = tries / rate;
        if secs > ANNOUNCE_AFTER && !self.announced.swap(true, Ordering::Relaxed) {
            let limit = match self.deadline {
                Some((_, max)) => format!("; --max-time gives up after {max} s"),
                None => "; --max-time SECS gives up, --target-time SECS picks a difficulty".into(),
            };
            eprintln!(
                "gossip: {command}: difficulty {difficulty} takes about {} per object at {rate:.0} hashes/s (measured){limit}",
                human_time(secs)
            );
        }
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
            self.announce(&work, difficulty, "hashcash");
            let start = search_start(&mut rand::thread_rng());
            match self.mine_with_progress(&work, difficulty, start) {
                Mined::Found(nonce) => {
                    match obj {
                        Object::Bulletin(b) => b.nonce = nonce,
                        Object::Message(m) => m.nonce = nonce,
                    }
                    return Ok(());
                }
                Mined::Stopped => return Err(self.gave_up_failure(difficulty)),
                Mined::Exhausted => {
                    let type_name = obj.type_name();
                    let ts = match obj {
                        Object::Bulletin(b) => &mut b.ts,
                        Object::Message(m) => &mut m.ts,
                    };
                    if !bump_ts || !fits_original(ts.saturating_add(1)) {
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

    /// The `--max-time` failure: exit 1, and no more objects are taken.
    fn gave_up_failure(&self, difficulty: u32) -> Failure {
        self.gave_up.store(true, Ordering::Relaxed);
        let max = self.deadline.map_or(0.0, |(_, m)| m);
        Failure::invalid(
            "gave up",
            format!("--max-time {max} s ran out before a nonce reached difficulty {difficulty}"),
        )
        .hint("raise --max-time, or lower the difficulty (--target-time SECS picks one from the measured rate)")
        .ends_input()
    }

    fn mine_with_progress(&self, work: &Work, difficulty: u32, start: u32) -> Mined {
        let progress = Progress::default();
        if self.gave_up.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
        {
            return Mined::Stopped;
        }
        let done = AtomicBool::new(false);
        let show = self.progress && difficulty >= 16;
        std::thread::scope(|s| {
            if show {
                s.spawn(|| report(&progress, &done, difficulty));
            }
            if let Some((at, _)) = self.deadline {
                let (progress, done) = (&progress, &done);
                s.spawn(move || stop_at(at, progress, done));
            }
            let result = self
                .pool
                .install(|| mine(work, Difficulty::new(difficulty), start, &progress));
            done.store(true, Ordering::Relaxed);
            result
        })
    }
}

/// Raises the stop flag at `at`, unless `done` first.
fn stop_at(at: Instant, progress: &Progress, done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            progress.stop.store(true, Ordering::Relaxed);
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

/// A duration for people: seconds, minutes, hours, days or years.
pub fn human_time(secs: f64) -> String {
    const UNITS: [(f64, &str); 4] = [
        (365.25 * 86_400.0, "years"),
        (86_400.0, "days"),
        (3600.0, "hours"),
        (60.0, "minutes"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| secs >= 2.0 * unit)
        .map_or_else(
            || format!("{secs:.1} s"),
            |(unit, name)| format!("{:.1} {name}", secs / unit),
        )
}

/// The difficulty whose expected search takes about `secs` at `rate`
/// hashes a second (the largest whose expected time is at most `secs`).
pub fn difficulty_for_time(rate: f64, secs: f64) -> u32 {
    (rate * secs).max(1.0).log2().floor().clamp(0.0, 256.0) as u32
}

/// Prints hashes tried, the rate and the expected time left until `done`.
fn report(progress: &Progress, done: &AtomicBool, difficulty: u32) {
    let began = Instant::now();
    let expected = Difficulty::new(difficulty).expected_tries();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_time_picks_the_largest_difficulty_that_fits() {
        assert_eq!(difficulty_for_time(80_000.0, 10.0), 19); // 2^19 = 524,288 <= 800,000
        assert_eq!(difficulty_for_time(80_000.0, 0.0), 0);
        assert_eq!(difficulty_for_time(1e300, 1e300), 256);
    }

    #[test]
    fn times_read_in_their_unit() {
        assert_eq!(human_time(5.0), "5.0 s");
        assert_eq!(human_time(600.0), "10.0 minutes");
        assert_eq!(human_time(2.0 * 86_400.0 * 365.25), "2.0 years");
    }
}
