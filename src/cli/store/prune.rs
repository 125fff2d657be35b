//! `gossip store prune`: expired rows removed and their space given back,
//! with a report of what went.

use std::io::Write;
use std::process::ExitCode;

use gossip::store::{SqliteStore, StoreError};
use serde_json::json;

use super::super::io::{CmdResult, Failure, now, stdout, write_err};
use super::args::StorePruneArgs;
use super::{existing, open_failure};

pub fn run(args: StorePruneArgs) -> CmdResult {
    let path = args.db.path();
    existing(path)?;
    let mut store = SqliteStore::open(path).map_err(|e| {
        let f = open_failure("store prune", path, &e);
        if matches!(e, StoreError::InUse) {
            f.hint(
                "a relay holds the store and removes expired rows itself every 30 s; to give the space back, stop it and prune then",
            )
        } else {
            f
        }
    })?;
    let p = store
        .prune(now(&args.now))
        .map_err(|e| Failure::io(format!("store prune: {}", path.display()), e))?;
    let line = if args.output.json() {
        json!({"type": "prune", "bulletins": p.bulletins, "seen": p.seen, "delivered": p.delivered,
               "pending": p.pending, "bytes_before": p.bytes_before, "bytes_after": p.bytes_after})
        .to_string()
    } else {
        format!(
            "removed {} expired bulletins, {} seen entries, {} delivery marks, {} pending deliveries; {} bytes on disk before, {} after",
            p.bulletins, p.seen, p.delivered, p.pending, p.bytes_before, p.bytes_after
        )
    };
    let mut out = stdout();
    writeln!(out, "{line}").map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
