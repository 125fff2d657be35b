//! Looking after a SQLite store as a file: exporting a consistent
//! selection of its bulletins, importing bulletins in batches, copying it
//! while a relay writes it (backup), and removing expired rows and
//! reclaiming their space (prune).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::{SqliteStore, check, insert_bulletin, sql_time, upsert_seen};
use crate::bulletin::{Bulletin, CONTENT_TTL};
use crate::ids::TopicId;
use crate::store::{StoreError, seen_until};
use crate::time::Timestamp;

/// What [`SqliteStore::prune`] removed, and the store's size on disk (the
/// database file and its write-ahead log) before and after.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Expired bulletins removed.
    pub bulletins: u64,
    /// Seen entries removed (their expiry passed).
    pub seen: u64,
    /// Delivery marks removed (their expiry passed).
    pub delivered: u64,
    /// Pending deliveries removed with their bulletin.
    pub pending: u64,
    /// Bytes on disk before.
    pub bytes_before: u64,
    /// Bytes on disk after.
    pub bytes_after: u64,
}

/// Removes what expired at `now` (bulletins with now ≥ ts + 3600, seen
/// entries and delivery marks whose expiry is ≤ now, pending deliveries
/// whose bulletin is gone) in the caller's transaction; counts each.
pub(super) fn delete_expired(conn: &Connection, now: Timestamp) -> Result<Pruned, StoreError> {
    let now = sql_time(now);
    let count = |n: usize| n as u64;
    Ok(Pruned {
        bulletins: count(conn.execute(
            "DELETE FROM bulletins WHERE ts + ?1 <= ?2",
            params![i64::from(CONTENT_TTL), now],
        )?),
        seen: count(conn.execute("DELETE FROM seen WHERE expires <= ?1", params![now])?),
        delivered: count(conn.execute("DELETE FROM delivered WHERE expires <= ?1", params![now])?),
        pending: count(conn.execute(
            "DELETE FROM pending WHERE (topic, content_id) NOT IN (SELECT topic, content_id FROM bulletins)",
            [],
        )?),
        ..Pruned::default()
    })
}

impl SqliteStore {
    /// Hands `f` each bulletin with ts ≥ `since` under one of `topics`
    /// (every topic when empty), oldest first (as
    /// [`Bulletins::list`](crate::store::Bulletins::list)), one row
    /// in memory at a time. All are read in one read transaction: a
    /// consistent snapshot, even while a relay writes the store.
    pub fn export_each<E: From<StoreError>>(
        &self,
        topics: &[TopicId],
        since: u32,
        f: impl FnMut(Bulletin) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut sql_where = String::from("WHERE ts >= ?");
        let mut args = vec![Value::Integer(i64::from(since))];
        if !topics.is_empty() {
            sql_where += &format!(" AND topic IN ({})", vec!["?"; topics.len()].join(", "));
            args.extend(topics.iter().map(|t| Value::Blob(t.as_bytes().to_vec())));
        }
        let snapshot = self
            .conn
            .unchecked_transaction()
            .map_err(StoreError::from)?;
        self.select_each(&sql_where, args, f)?;
        snapshot.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Stores bulletins brought from elsewhere (an export) in one
    /// transaction: each is stored and marked seen, as the node's handler
    /// does with a bulletin it receives, and never marked for delivery.
    /// Returns, for each, whether it was new (false: its key, topic id and
    /// content id, was held already, or came earlier in `bulletins`).
    /// Verifying them is the caller's part.
    pub fn import(&mut self, bulletins: &[Bulletin]) -> Result<Vec<bool>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut new = Vec::with_capacity(bulletins.len());
        for b in bulletins {
            new.push(insert_bulletin(&tx, b)?);
            upsert_seen(&tx, &b.key(), seen_until(b))?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// Writes a consistent, compacted copy of the store to `dest`, which
    /// must not exist, and returns its size in bytes. Works on a store
    /// opened read-only beside a relay that writes it: SQLite's `VACUUM
    /// INTO` copies one snapshot. The copy is written to a new file beside
    /// `dest` (mode 0600), synced and checked (`PRAGMA quick_check`), then
    /// linked at `dest`, which never replaces a file there and never
    /// follows a symbolic link: `dest` appears whole or not at all.
    pub fn backup_to(&self, dest: &Path) -> Result<u64, StoreError> {
        if std::fs::symlink_metadata(dest).is_ok() {
            return Err(exists(dest));
        }
        let (tmp, file) = temp_beside(dest)?;
        let copied = self.copy_into(&tmp, &file).and_then(|bytes| {
            std::fs::hard_link(&tmp, dest).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    exists(dest)
                } else {
                    StoreError::Io(e)
                }
            })?;
            Ok(bytes)
        });
        // The temporary name goes either way; `dest` holds the copy now.
        let _ = std::fs::remove_file(&tmp);
        let bytes = copied?;
        if let Ok(dir) = File::open(parent_of(dest)) {
            // The new name made durable, where the file system allows.
            let _ = dir.sync_all();
        }
        Ok(bytes)
    }

    /// `VACUUM INTO` the empty file `tmp` (opened as `file`), synced and
    /// checked; its size.
    fn copy_into(&self, tmp: &Path, file: &File) -> Result<u64, StoreError> {
        let name = tmp.to_str().ok_or_else(|| {
            StoreError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not UTF-8, which SQLite needs", tmp.display()),
            ))
        })?;
        self.conn.execute("VACUUM INTO ?1", [name])?;
        file.sync_all().map_err(StoreError::Io)?;
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
        check(&Connection::open_with_flags(tmp, flags)?)?;
        Ok(file.metadata().map_err(StoreError::Io)?.len())
    }

    /// Removes what expired at `now`, as
    /// [`BulletinStore::remove_expired`](crate::store::BulletinStore::remove_expired)
    /// does, then gives the space back to the file system (`VACUUM`, then
    /// the write-ahead log checkpointed and truncated), and says what went.
    /// Needs the store opened for writing ([`SqliteStore::open`]): it
    /// rewrites the whole file, which a relay writing beside it would
    /// wait on.
    pub fn prune(&mut self, now: Timestamp) -> Result<Pruned, StoreError> {
        let bytes_before = self.bytes_on_disk()?;
        let tx = self.conn.transaction()?;
        let removed = delete_expired(&tx, now)?;
        tx.commit()?;
        self.conn.execute_batch("VACUUM")?;
        // Busy (a reader holds an old snapshot) is not an error: the log
        // is truncated by the next checkpoint instead.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(Pruned {
            bytes_before,
            bytes_after: self.bytes_on_disk()?,
            ..removed
        })
    }

    /// The size of the database file and its write-ahead log (0 for a
    /// store in memory).
    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else {
            return Ok(0);
        };
        let size = |p: &str| match std::fs::metadata(p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::Io(e)),
        };
        Ok(size(path)? + size(&format!("{path}-wal"))?)
    }
}

fn exists(dest: &Path) -> StoreError {
    StoreError::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} already exists", dest.display()),
    ))
}

/// The directory `path` is in ("." for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty file beside `dest`, made with `O_EXCL` (so never through
/// a symbolic link) and mode 0600, named after `dest`, the process and the
/// time. A relative path is made to start with `./`, so SQLite never reads
/// it as a `file:` URI.
fn temp_beside(dest: &Path) -> Result<(PathBuf, File), StoreError> {
    let dir = if dest.is_relative() {
        Path::new(".").join(parent_of(dest))
    } else {
        parent_of(dest).to_path_buf()
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(
            ".{name}.{}-{nanos}-{attempt}.tmp",
            std::process::id()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(StoreError::Io(e)),
        }
    }
    Err(StoreError::Io(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name")
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BulletinStore, Bulletins, DeliveryJournal, SeenLog};

    fn sample() -> Vec<Bulletin> {
        vec![
            Bulletin::new(TopicId::from_bytes([1; 32]), b"one".to_vec(), 1000),
            Bulletin::new(TopicId::from_bytes([2; 32]), b"two".to_vec(), 2000),
            Bulletin::new(TopicId::from_bytes([1; 32]), b"three".to_vec(), 3000),
        ]
    }

    fn exported(s: &SqliteStore, topics: &[TopicId], since: u32) -> Vec<Bulletin> {
        let mut out = Vec::new();
        s.export_each(topics, since, |b| {
            out.push(b);
            Ok::<(), StoreError>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn export_filters_by_topic_and_since() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let all = sample();
        assert_eq!(s.import(&all).unwrap(), vec![true; 3]);
        assert_eq!(exported(&s, &[], 0), all);
        assert_eq!(
            exported(&s, &[TopicId::from_bytes([1; 32])], 0),
            vec![all[0].clone(), all[2].clone()]
        );
        assert_eq!(
            exported(
                &s,
                &[TopicId::from_bytes([1; 32]), TopicId::from_bytes([2; 32])],
                2000
            ),
            all[1..]
        );
        assert!(exported(&s, &[TopicId::from_bytes([3; 32])], 0).is_empty());
        assert!(exported(&s, &[], 3001).is_empty());
    }

    #[test]
    fn import_is_once_and_marks_seen_not_delivered() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let all = sample();
        let twice = [all.clone(), all.clone()].concat();
        assert_eq!(s.import(&twice).unwrap(), [[true; 3], [false; 3]].concat());
        assert_eq!(s.import(&all).unwrap(), vec![false; 3]);
        assert_eq!(s.list().unwrap(), all);
        assert_eq!(s.seen(Timestamp::from_secs(0)).unwrap().len(), 3);
        assert!(!s.is_delivered(&all[0].key()).unwrap());
        assert!(s.pending_deliveries().unwrap().is_empty());
    }

    #[test]
    fn prune_counts_what_went() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let all = sample();
        for b in &all {
            s.handle(b, true).unwrap();
        }
        let p = s
            .prune(Timestamp::from_secs(2000 + CONTENT_TTL as u64))
            .unwrap();
        assert_eq!(
            (p.bulletins, p.seen, p.delivered, p.pending),
            (2, 2, 2, 2),
            "{p:?}"
        );
        assert_eq!(s.list().unwrap(), all[2..]);
    }

    #[test]
    fn backup_never_replaces_a_file_or_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = SqliteStore::open(&path).unwrap();
        s.import(&sample()).unwrap();
        let copy = dir.path().join("copy.db");
        assert!(s.backup_to(&copy).unwrap() > 0);
        assert_eq!(
            SqliteStore::open_read_only(&copy).unwrap().list().unwrap(),
            sample()
        );
        let before = std::fs::read(&copy).unwrap();
        let err = s.backup_to(&copy).unwrap_err();
        assert!(
            matches!(&err, StoreError::Io(e) if e.kind() == io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            before,
            "the first copy untouched"
        );
        let link = dir.path().join("link.db");
        let target = dir.path().join("target.db");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(s.backup_to(&link).is_err());
        assert!(!target.exists(), "nothing written through the link");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
