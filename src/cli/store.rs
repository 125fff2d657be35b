//! `gossip store`: read and manage a relay's SQLite bulletin store.

mod codes;

use std::path::Path;
use std::process::ExitCode;

use gossip::codec::Object;
use gossip::ids::topic_id;
use gossip::store::{BulletinStore, Match, Query, SqliteStore};

use super::args::{MatchArg, StoreCommand};
use super::io::{CmdResult, Failure, ObjectWriter, now, parse_hex};

fn open(path: &Path) -> Result<SqliteStore, Failure> {
    open_with(path, |p| SqliteStore::open(p))
}

/// Opens the store for reading only (list, get, query): a read-only file
/// or file system is no obstacle.
fn open_read_only(path: &Path) -> Result<SqliteStore, Failure> {
    open_with(path, |p| SqliteStore::open_read_only(p))
}

fn open_with(
    path: &Path,
    how: fn(&Path) -> Result<SqliteStore, gossip::store::StoreError>,
) -> Result<SqliteStore, Failure> {
    if !path.exists() {
        return Err(
            Failure::io(format!("store {}", path.display()), "no such file")
                .hint("a relay creates it with `gossip relay --store DB`"),
        );
    }
    how(path).map_err(|e| Failure::io(format!("cannot open store {}", path.display()), e))
}

fn hex_arg(flag: &str, text: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(text.trim()).map_err(|e| Failure::new(2, format!("bad {flag} '{text}'"), e))
}

pub fn run(command: StoreCommand) -> CmdResult {
    let store_err = |e: gossip::store::StoreError| Failure::io("store", e);
    let (bulletins, output) = match command {
        StoreCommand::List(a) => (
            open_read_only(&a.db.store)?.list().map_err(store_err)?,
            a.output,
        ),
        StoreCommand::Get(a) => {
            let id = parse_hex::<32>("content id", &a.content_id)?;
            match open_read_only(&a.db.store)?
                .retrieve(&id)
                .map_err(store_err)?
            {
                Some(b) => (vec![b], a.output),
                None => {
                    return Err(Failure::invalid(
                        "store get",
                        format!("no bulletin with content id {}", a.content_id),
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
            let topic = match (&a.topic, &a.topic_id) {
                (Some(desc), _) => Some(Match::Exact(topic_id(desc.as_bytes()).to_vec())),
                (None, Some(h)) => Some(wrap(hex_arg("--topic-id", h)?)),
                (None, None) => None,
            };
            let query = Query {
                topic,
                content_id: a
                    .content_id
                    .as_deref()
                    .map(|h| hex_arg("--content-id", h))
                    .transpose()?
                    .map(wrap),
                content: a.content.as_ref().map(|c| wrap(c.as_bytes().to_vec())),
            };
            (
                open_read_only(&a.db.store)?
                    .query(&query)
                    .map_err(store_err)?,
                a.output,
            )
        }
        StoreCommand::Code(a) => return codes::show(&open_read_only(&a.db.store)?, &a, true),
        StoreCommand::Peers(a) => return codes::show(&open_read_only(&a.db.store)?, &a, false),
        StoreCommand::Rotate(a) => return codes::rotate(open(&a.db.store)?, now(&a.now)),
        StoreCommand::Purge(a) => {
            let removed = open(&a.db.store)?
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
