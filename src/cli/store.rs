//! `gossip store`: read and manage a relay's SQLite bulletin store.

pub(super) mod args;
mod backup;
mod codes;
mod export;
mod import;
mod prune;

use std::path::Path;
use std::process::ExitCode;

use args::{MatchArg, StoreCommand};
use gossip::codec::Object;
use gossip::store::{BulletinStore, Bulletins, Match, Query, SqliteStore, StoreError};
use gossip::{ContentId, topic_id};

use super::flags::OutputArgs;
use super::io::{CmdResult, Failure, ObjectWriter, now, regular_file};
use super::rotation_requests::RotationRequests;

fn open(path: &Path) -> Result<SqliteStore, Failure> {
    open_with(path, |p| SqliteStore::open(p))
}

/// Opens the store for reading only (list, get, query): a read-only file
/// or file system is no obstacle.
fn open_read_only(path: &Path) -> Result<SqliteStore, Failure> {
    open_with(path, |p| SqliteStore::open_read_only(p))
}

fn open_with<T>(path: &Path, how: fn(&Path) -> Result<T, StoreError>) -> Result<T, Failure> {
    existing(path)?;
    how(path).map_err(|e| open_failure("store", path, &e))
}

/// Fails unless `path` is an existing regular file (symbolic links
/// followed).
fn existing(path: &Path) -> Result<(), Failure> {
    if !path.exists() {
        return Err(
            Failure::io(format!("store {}", path.display()), "no such file")
                .hint("a relay creates it with `gossip relay --store DB`"),
        );
    }
    regular_file(
        path,
        &format!("store: cannot open store {}", path.display()),
    )?;
    Ok(())
}

/// Why a store would not open (exit 4), with a hint for a store in use or
/// a damaged one.
pub fn open_failure(command: &str, path: &Path, e: &StoreError) -> Failure {
    let f = Failure::io(
        format!("{command}: cannot open store {}", path.display()),
        e,
    );
    if matches!(e, StoreError::InUse) {
        f.hint("stop the other relay first, or give this one its own --store; `gossip store list/get/query` can read it meanwhile")
    } else if e.is_damaged() {
        f.hint(format!(
            "the file is damaged: move it aside (a relay then starts a new store), or restore it from a copy; `sqlite3 {} .recover` may save its rows",
            path.display()
        ))
    } else {
        f
    }
}

/// A store that fails while it is read (exit 4).
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::io("store", e)
    }
}

/// Writes the bulletins a query matches as each row is read (memory stays
/// at one row, however large the store).
fn write_each(store: &SqliteStore, query: &Query, output: &OutputArgs) -> CmdResult {
    let mut out = ObjectWriter::new(output)?;
    store.query_each(query, |b| out.write(&Object::Bulletin(b)))?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: StoreCommand) -> CmdResult {
    let store_err = |e: gossip::store::StoreError| Failure::io("store", e);
    let (bulletins, output) = match command {
        StoreCommand::List(a) => {
            return write_each(&open_read_only(a.db.path())?, &Query::default(), &a.output);
        }
        StoreCommand::Get(a) => {
            let id = ContentId::from_bytes(a.content_id.0);
            // One bulletin per topic the content id is held under.
            match open_read_only(a.db.path())?
                .with_content_id(&id, usize::MAX)
                .map_err(store_err)?
            {
                held if !held.is_empty() => (held, a.output),
                _ => {
                    return Err(Failure::invalid(
                        "store get",
                        format!("no bulletin with content id {id}"),
                    ));
                }
            }
        }
        StoreCommand::Query(a) => {
            let wrap = |bytes: Vec<u8>| match a.mode {
                MatchArg::Exact => Match::Exact(bytes),
                MatchArg::Prefix => Match::Prefix(bytes),
                MatchArg::Suffix => Match::Suffix(bytes),
            };
            let topic = match (&a.topic, a.topic_id) {
                (Some(desc), _) => {
                    Some(Match::Exact(topic_id(desc.as_bytes()).as_bytes().to_vec()))
                }
                (None, Some(id)) => Some(wrap(id.0)),
                (None, None) => None,
            };
            let query = Query {
                topic,
                content_id: a.content_id.map(|id| wrap(id.0)),
                content: a.content.as_ref().map(|c| wrap(c.as_bytes().to_vec())),
            };
            return write_each(&open_read_only(a.db.path())?, &query, &a.output);
        }
        StoreCommand::Code(a) => return codes::show(&open_read_only(a.db.path())?, &a, true),
        StoreCommand::Peers(a) => return codes::show(&open_read_only(a.db.path())?, &a, false),
        StoreCommand::Rotate(a) => {
            return codes::rotate(
                &open_with(a.db.path(), RotationRequests::open)?,
                now(&a.now).as_secs(),
            );
        }
        StoreCommand::Export(a) => return export::run(a),
        StoreCommand::Import(a) => return import::run(a),
        StoreCommand::Backup(a) => return backup::run(a),
        StoreCommand::Prune(a) => return prune::run(a),
        StoreCommand::Purge(a) => {
            let removed = open(a.db.path())?
                .remove_expired(now(&a.now))
                .map_err(store_err)?;
            eprintln!("gossip: store: removed {removed} expired entries");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut out = ObjectWriter::new(&output)?;
    for b in bulletins {
        out.write(&Object::Bulletin(b))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
