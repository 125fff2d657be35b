//! `gossip store backup`: a consistent, compacted copy of a store in a new
//! file, beside a running relay if need be.

use std::io::Write;
use std::process::ExitCode;

use gossip::store::{Bulletins, SqliteStore};
use serde_json::json;

use super::super::io::{CmdResult, Failure, stdout, write_err};
use super::args::StoreBackupArgs;
use super::open_read_only;

pub fn run(args: StoreBackupArgs) -> CmdResult {
    let to = &args.to;
    let what = format!("store backup: cannot write {}", to.display());
    if let Ok(meta) = std::fs::symlink_metadata(to) {
        let why = if meta.file_type().is_symlink() {
            "it is a symbolic link"
        } else {
            "it already exists"
        };
        return Err(Failure::io(what, why).hint(
            "give the name of a new file: a backup never replaces a file nor writes through a symbolic link",
        ));
    }
    let store = open_read_only(args.db.path())?;
    let bytes = store.backup_to(to).map_err(|e| Failure::io(&what, e))?;
    let bulletins = SqliteStore::open_read_only(to)
        .and_then(|copy| copy.len())
        .map_err(|e| {
            Failure::io(
                format!("store backup: cannot read the copy {}", to.display()),
                e,
            )
        })?;
    let line = if args.output.json() {
        json!({"type": "backup", "to": to.display().to_string(), "bulletins": bulletins, "bytes": bytes})
            .to_string()
    } else {
        format!(
            "backed up {bulletins} bulletins to {} ({bytes} bytes)",
            to.display()
        )
    };
    let mut out = stdout();
    writeln!(out, "{line}").map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
