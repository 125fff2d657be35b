//! `gossip store code`, `store peers` and `store rotate`: the delivery codes
//! a relay keeps in its store, and a request to rotate its own.

use std::io::Write;
use std::process::ExitCode;

use gossip::store::{CodeBook, SqliteStore};
use serde_json::json;

use super::super::io::{CmdResult, Failure, stdout, write_err};
use super::super::rotation_requests::RotationRequests;
use super::args::StoreCodesArgs;

/// Prints the own codes (`own`) or the peers' codes held in `store`, one
/// `ADDRESS CODE INBOX` line (or JSON object) each.
pub fn show(store: &SqliteStore, args: &StoreCodesArgs, own: bool) -> CmdResult {
    let codes: Vec<_> = store
        .delivery_codes()
        .map_err(|e| Failure::io("store", e))?
        .into_iter()
        .filter(|c| c.own == own)
        .collect();
    if own && codes.is_empty() {
        return Err(Failure::invalid(
            "store code",
            format!("no delivery code in {}", args.db.path().display()),
        )
        .hint("a relay keeps its code there when it runs with --store"));
    }
    let mut out = stdout();
    for c in codes {
        let (address, code, inbox) = (
            c.address.to_hex(),
            hex::encode(c.code),
            hex::encode(c.inbox()),
        );
        let line = if args.output.json() {
            json!({"type": "delivery_code", "address": address, "code": code, "inbox": inbox,
                   "own": c.own, "since": c.since.as_secs()})
            .to_string()
        } else {
            format!("{address} {code} {inbox}")
        };
        writeln!(out, "{line}").map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

/// Records a rotation request for the relay on the store.
pub fn rotate(requests: &RotationRequests, now: u64) -> CmdResult {
    requests.request(now).map_err(|e| Failure::io("store", e))?;
    eprintln!(
        "gossip: store: rotation requested; a relay running on this store rotates within a second, else the next one started on it does"
    );
    Ok(ExitCode::SUCCESS)
}
