//! `gossip store import`: bulletins (an export) verified as a relay
//! verifies them and stored once each, in batches; refused while a relay
//! holds the store.

use std::collections::BTreeMap;
use std::io::Write;

use gossip::Bulletin;
use gossip::codec::{Kind, Object};
use gossip::store::{SqliteStore, StoreError};
use gossip::verify::{Policy, Reason, verify_bulletin};
use serde_json::json;

use super::super::io::{
    CmdResult, Failure, describe, for_each_object, now, regular_file, report_rejected, stdout,
    write_err,
};
use super::super::verify::clock_hint;
use super::args::StoreImportArgs;
use super::open_failure;

/// Bulletins stored in one transaction at most, and their content's bytes
/// at most (a bulletin over it is a batch of its own): what is held in
/// memory besides the one object being read.
const BATCH: usize = 1024;
const BATCH_BYTES: usize = 4 << 20;

/// What an import did.
#[derive(Default)]
struct Tally {
    imported: u64,
    held: u64,
    refused: BTreeMap<&'static str, u64>,
}

/// Valid bulletins waiting to be stored in one transaction.
struct Batch {
    bulletins: Vec<Bulletin>,
    bytes: usize,
}

impl Batch {
    /// Stores the batch and counts each bulletin as imported or held.
    fn flush(&mut self, store: &mut SqliteStore, tally: &mut Tally) -> Result<(), Failure> {
        if self.bulletins.is_empty() {
            return Ok(());
        }
        let new = store
            .import(&self.bulletins)
            .map_err(|e| Failure::io("store import: writing the store", e))?;
        for n in new {
            if n {
                tally.imported += 1;
            } else {
                tally.held += 1;
            }
        }
        self.bulletins.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// Opens (creating when missing) the store to import into; while a relay
/// holds it, says where the bulletins should go instead.
fn open(path: &std::path::Path) -> Result<SqliteStore, Failure> {
    let what = format!("store import: cannot open store {}", path.display());
    if path.exists() {
        regular_file(path, &what)?;
    } else if std::fs::symlink_metadata(path).is_ok() {
        return Err(Failure::io(what, "it is a symbolic link to nothing")
            .hint("give the path of the store itself, or of a new file"));
    }
    SqliteStore::open(path).map_err(|e| {
        let f = open_failure("store import", path, &e);
        if matches!(e, StoreError::InUse) {
            f.hint(format!(
                "a relay holds the store: push the bulletins to it from a store that holds them \
                 (`gossip sync -k KEY OLD.db --connect ADDR@HOST:PORT --topic DESC --dir up`, to \
                 its --listen), or stop it and import, or restart it with them on its stdin \
                 (`gossip store export OLD.db | gossip relay -k KEY --store {} …`); a relay \
                 verifies, stores and forwards them",
                path.display()
            ))
        } else {
            f
        }
    })
}

pub fn run(args: StoreImportArgs) -> CmdResult {
    let path = args.db.path();
    let mut store = open(path)?;
    let mut policy = Policy::new(now(&args.now));
    policy.bulletin_difficulty = args.accept.bulletin_difficulty;
    policy.skew = std::time::Duration::from_secs(args.accept.skew);
    let source = format!("store import: {}", describe(args.input.input.as_deref()));
    let mut tally = Tally::default();
    let mut batch = Batch {
        bulletins: Vec::new(),
        bytes: 0,
    };
    let mut stale_hint = None;
    let end = for_each_object(&args.input, Kind::Bulletin, |index, obj| {
        let Object::Bulletin(b) = obj else {
            // The reader gives bulletins alone (others are malformed).
            return Ok(());
        };
        let verdict = verify_bulletin(&b, &policy);
        if let Some(reason) = verdict.first_failure() {
            *tally.refused.entry(reason.name()).or_default() += 1;
            if stale_hint.is_none() {
                stale_hint = clock_hint(&verdict, &Object::Bulletin(b));
            }
            report_rejected(&source, index, Failure::invalid("refused", reason.name()));
            return Ok(());
        }
        batch.bytes += b.content.len();
        batch.bulletins.push(b);
        if batch.bulletins.len() >= BATCH || batch.bytes >= BATCH_BYTES {
            batch.flush(&mut store, &mut tally)?;
        }
        Ok(())
    });
    // What was read before a failure is stored before it is reported.
    let flushed = batch.flush(&mut store, &mut tally);
    let end = end?;
    flushed?;
    if let Some(hint) = stale_hint {
        eprintln!("hint: {hint}");
    }
    if tally
        .refused
        .contains_key(Reason::WeakBulletinProofOfWork.name())
    {
        eprintln!(
            "hint: bulletins were checked at --bulletin-difficulty {}: pass the difficulty the relay on the store requires",
            args.accept.bulletin_difficulty
        );
    }
    let refused: u64 = tally.refused.values().sum();
    let line = if args.output.json() {
        json!({"type": "import", "store": path.display().to_string(), "read": end.objects,
               "imported": tally.imported, "held": tally.held, "refused": refused,
               "refused_by_reason": tally.refused, "malformed": end.malformed})
        .to_string()
    } else {
        let mut line = format!(
            "imported {}, already held {}, refused {refused}",
            tally.imported, tally.held
        );
        if refused > 0 {
            let reasons: Vec<String> = tally
                .refused
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            line += &format!(" ({})", reasons.join(", "));
        }
        line + &format!(", malformed {}", end.malformed)
    };
    let mut out = stdout();
    writeln!(out, "{line}").map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(end.exit(refused))
}
