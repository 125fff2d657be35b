//! Streams mined on every core: objects that are waiting on the input are
//! taken as a batch and handled in parallel (each object's own search is
//! parallel too), and written in input order. A reader thread parses the
//! input ahead; the output is written out after every batch, so a slow
//! producer still sees each result as soon as it is made.

use std::io::Write;
use std::sync::mpsc;

use gossip::codec::{Kind, Object};
use rayon::prelude::*;

use super::args::{InputArgs, OutputArgs};
use super::io::{
    CmdResult, Failure, ObjectWriter, StreamEnd, describe, for_each_object, report_rejected,
    stdout, write_err,
};

/// Objects read ahead of the miners, at most.
const READ_AHEAD: usize = 1024;
/// Objects in one batch, at most.
const BATCH: usize = 256;

enum Item {
    Object(u64, Object),
    End(Result<StreamEnd, Failure>),
}

/// [`super::io::map_objects`] with the objects of a batch handled in
/// parallel on `pool`; output and error reports keep the input order.
pub fn map_objects_par(
    input: &InputArgs,
    output: &OutputArgs,
    kind: Kind,
    pool: &rayon::ThreadPool,
    f: impl Fn(u64, Object) -> Result<Object, Failure> + Sync,
) -> CmdResult {
    let mut out = ObjectWriter::new(output)?;
    let source = describe(input.input.as_deref());
    let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
    let reader_input = input.clone();
    // Not joined on an early return (a closed stdout): the process ends
    // even while the reader waits for input.
    std::thread::spawn(move || {
        let end = for_each_object(&reader_input, kind, |index, obj| {
            tx.send(Item::Object(index, obj))
                .map_err(|_| Failure::io("stdout", "closed"))
        });
        let _ = tx.send(Item::End(end));
    });
    let mut rejected = 0u64;
    let mut end = None;
    while end.is_none() {
        let mut batch = Vec::new();
        let mut next = rx.recv().ok();
        while let Some(item) = next.take() {
            match item {
                Item::Object(index, obj) => batch.push((index, obj)),
                Item::End(e) => end = Some(e),
            }
            if end.is_none() && batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if end.is_none() && batch.is_empty() {
            end = Some(Err(Failure::io("reading input", "the reader stopped")));
        }
        let results: Vec<_> = pool.install(|| {
            batch
                .into_par_iter()
                .map(|(index, obj)| (index, f(index, obj)))
                .collect()
        });
        let mut last = false;
        for (index, result) in results {
            match result {
                Ok(_) if last => {}
                Ok(obj) => out.write(&obj)?,
                Err(failure) if failure.is_final() => {
                    // The first such failure says why the stream stops;
                    // the objects after it are not taken.
                    if !last {
                        rejected += 1;
                        report_rejected(&source, index, failure);
                    }
                    last = true;
                }
                Err(failure) => {
                    rejected += 1;
                    report_rejected(&source, index, failure);
                }
            }
        }
        if last {
            stdout().flush().map_err(write_err)?;
            out.finish()?;
            return Ok(StreamEnd::default().exit(rejected));
        }
        // Nothing more was waiting: let the results go.
        stdout().flush().map_err(write_err)?;
    }
    let end = end.unwrap_or_else(|| Ok(StreamEnd::default()))?;
    out.finish()?;
    Ok(end.exit(rejected))
}
