//! Streams mined on every core, in order and as they are made. A reader
//! thread parses the input ahead; each object is mined as a task of its own
//! on the pool (each object's own search is parallel too), and each result
//! is written the moment it and every object before it are done, so the
//! first object of a long batch comes out when it is mined, not when the
//! batch is. SIGINT and SIGTERM write out what is mined (the objects in
//! order up to the first one still being mined) and end the command with
//! 128 + the signal's number; a second signal ends it at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use gossip::codec::{Kind, Object};

use super::flags::{InputArgs, OutputArgs};
use super::io::{
    CmdResult, Failure, ObjectWriter, StreamEnd, describe, for_each_object, report_rejected,
    stdout, write_err,
};

/// Objects read and not yet written, at most: mined, being mined, or
/// waiting for a miner or for an earlier object.
const IN_FLIGHT: usize = 256;

enum Event {
    /// The reader parsed an object (its index in the input).
    Object(u64, Object),
    /// The reader reached the end of the input (or failed).
    End(Result<StreamEnd, Failure>),
    /// An object's result: its place in the output, its input index.
    Done(u64, u64, Result<Object, Failure>),
    /// A task handed to the pool has ended.
    TaskEnd,
    /// SIGINT or SIGTERM.
    Signal(i32),
}

/// [`super::io::map_objects`] with the objects handled in parallel on
/// `pool`; output and error reports keep the input order, and each result
/// is written as soon as the ones before it are (see the module).
/// `command` names the command in the message a signal leaves.
pub fn map_objects_par(
    command: &str,
    input: &InputArgs,
    output: &OutputArgs,
    kind: Kind,
    pool: &rayon::ThreadPool,
    f: impl Fn(u64, Object) -> Result<Object, Failure> + Sync,
) -> CmdResult {
    let mut out = ObjectWriter::new(output)?;
    let (tx, rx) = mpsc::channel();
    watch_signals(tx.clone())?;
    // The reader takes a token for each object it passes on and the writer
    // gives it back once the object is written: memory stays bounded by
    // IN_FLIGHT objects however far ahead of the miners the input is.
    let (token_tx, token_rx) = mpsc::sync_channel(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let _ = token_tx.send(());
    }
    let reader_input = input.clone();
    let reader_tx = tx.clone();
    // Not joined on an early return (a closed stdout, a signal): the
    // process ends even while the reader waits for input.
    std::thread::spawn(move || {
        let end = for_each_object(&reader_input, kind, |index, obj| {
            token_rx
                .recv()
                .ok()
                .and_then(|()| reader_tx.send(Event::Object(index, obj)).ok())
                .ok_or_else(|| Failure::io("stdout", "closed"))
        });
        let _ = reader_tx.send(Event::End(end));
    });
    let mut stream = Stream {
        source: describe(input.input.as_deref()),
        command,
        ready: BTreeMap::new(),
        next: 0,
        written: 0,
        rejected: 0,
        stopped: false,
    };
    let f = &f;
    // Set when the loop ends (early: a closed stdout, a final failure):
    // objects not yet started are skipped, so the end waits only for the
    // searches under way.
    let cancelled = &AtomicBool::new(false);
    let cost = &Cost::default();
    pool.in_place_scope(|scope| {
        // Objects are handed to the pool one task each, or, when they prove
        // cheap (a few microseconds, as at -d 0), several to a task, so the
        // hand-off does not cost more than the work. A group is only ever
        // what is already waiting: nothing is held back for it.
        let spawn = |group: Vec<(u64, u64, Object)>| {
            let tx = tx.clone();
            scope.spawn(move |_| {
                for (place, index, obj) in group {
                    if cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    let began = std::time::Instant::now();
                    let result = f(index, obj);
                    cost.note(began.elapsed());
                    let _ = tx.send(Event::Done(place, index, result));
                }
                let _ = tx.send(Event::TaskEnd);
            });
        };
        // At most one task per thread at a time. A thread that waits in its
        // own parallel search takes up any queued task on its stack, and
        // cannot finish its object until that one is done: with every
        // object queued at once, the first could come out last.
        let threads = pool.current_num_threads().max(1);
        let result = (|| {
            let (mut taken, mut end) = (0u64, None);
            let mut queued = std::collections::VecDeque::new();
            let mut running = 0;
            while end.is_none() || stream.next < taken {
                while running < threads && !queued.is_empty() {
                    let n = cost.group().min(queued.len());
                    spawn(queued.drain(..n).collect());
                    running += 1;
                }
                let event = match rx.try_recv() {
                    Ok(event) => event,
                    Err(_) => {
                        // Nothing else has come: let what is written go.
                        stdout().flush().map_err(write_err)?;
                        rx.recv()
                            .map_err(|_| Failure::io("reading input", "the reader stopped"))?
                    }
                };
                match event {
                    Event::Object(index, obj) => {
                        queued.push_back((taken, index, obj));
                        taken += 1;
                    }
                    Event::End(e) => end = Some(e),
                    Event::TaskEnd => running -= 1,
                    Event::Done(place, index, result) => {
                        stream.ready.insert(place, (index, result));
                        stream.write_ready(&mut out, &token_tx)?;
                        if stream.stopped {
                            // A final failure (`--max-time`): no more
                            // objects are taken.
                            end = Some(Ok(StreamEnd::default()));
                            break;
                        }
                    }
                    Event::Signal(signal) => stream.interrupted(signal),
                }
            }
            let end = end.unwrap_or_else(|| Ok(StreamEnd::default()))?;
            out.finish()?;
            Ok(end.exit(stream.rejected))
        })();
        // The scope waits for its tasks: those not started are skipped.
        cancelled.store(true, Ordering::Relaxed);
        result
    })
}

/// Below this time per object, objects go to the pool in groups.
const CHEAP: std::time::Duration = std::time::Duration::from_micros(50);

/// Most objects in one task, when they are cheap.
const GROUP: usize = 64;

/// How long the last object took (nanoseconds; none yet: not cheap).
struct Cost(std::sync::atomic::AtomicU64);

impl Default for Cost {
    fn default() -> Self {
        Self(std::sync::atomic::AtomicU64::new(u64::MAX))
    }
}

impl Cost {
    fn note(&self, took: std::time::Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::Relaxed);
    }

    /// How many waiting objects to put in one task.
    fn group(&self) -> usize {
        if self.0.load(Ordering::Relaxed) < CHEAP.as_nanos() as u64 {
            GROUP
        } else {
            1
        }
    }
}

/// The writer's side: results that came out of order, and where the
/// output is.
struct Stream<'a> {
    source: String,
    command: &'a str,
    /// Results by their place in the output, not yet written.
    ready: BTreeMap<u64, (u64, Result<Object, Failure>)>,
    /// The place of the next object to write.
    next: u64,
    written: u64,
    rejected: u64,
    /// A final failure was written: nothing after it is.
    stopped: bool,
}

impl Stream<'_> {
    /// Writes (or reports) every result whose turn has come, in order.
    fn write_ready(
        &mut self,
        out: &mut ObjectWriter,
        tokens: &mpsc::SyncSender<()>,
    ) -> Result<(), Failure> {
        while !self.stopped
            && let Some((index, result)) = self.ready.remove(&self.next)
        {
            self.next += 1;
            let _ = tokens.try_send(());
            match result {
                Ok(obj) => {
                    out.write(&obj)?;
                    self.written += 1;
                }
                Err(failure) => {
                    // The first final failure says why the stream stops;
                    // the objects after it are not taken.
                    self.stopped = failure.is_final();
                    self.rejected += 1;
                    report_rejected(&self.source, index, failure);
                }
            }
        }
        Ok(())
    }

    /// Writes out what is written so far and ends the process with
    /// 128 + `signal`.
    fn interrupted(&self, signal: i32) -> ! {
        let flushed = stdout().flush();
        let name = if signal == signal_hook::consts::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        eprintln!(
            "gossip: {}: {name}: {} objects written, in input order; the rest not{}",
            self.command,
            self.written,
            match self.ready.len() {
                0 => String::new(),
                n => format!(" ({n} more mined after one still being mined, dropped)"),
            },
        );
        if let Err(e) = flushed {
            write_err(e).report();
        }
        std::process::exit(128 + signal)
    }
}

/// Sends SIGINT and SIGTERM to the loop as events; a second one ends the
/// process at once.
fn watch_signals(tx: mpsc::Sender<Event>) -> Result<(), Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::io("cannot install signal handlers", e))?;
    std::thread::spawn(move || {
        let mut seen = false;
        for signal in signals.forever() {
            if seen || tx.send(Event::Signal(signal)).is_err() {
                std::process::exit(128 + signal);
            }
            seen = true;
        }
    });
    Ok(())
}
