//! A SQLite bulletin store: bulletins, the seen set and delivery marks kept
//! across restarts, in WAL mode, each node write one transaction.

mod codes;
mod maintenance;

use std::path::Path;

pub use maintenance::Pruned;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{
    BulletinStore, Bulletins, CodeBook, DeliveryCode, DeliveryJournal, Match, Query, SeenLog,
    StoreError, Stored, seen_until,
};
use crate::bulletin::{Bulletin, CONTENT_TTL};
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::time::Timestamp;

/// The schema: every table keyed by a bulletin's identity, (topic id,
/// content id). Version 2 in `PRAGMA user_version`; version 0 stores
/// (keyed by content id alone) are migrated when opened ([`migrate`]).
/// Version 2 replaced version 1's index on (topic, ts) with one on (topic,
/// ts, content id), which serves `range_ids`, `list_topic` and
/// `unexpired_ids` alone: opening a version 1 store makes it and drops the
/// old one, nothing else changes.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bulletins (
    topic      BLOB NOT NULL,
    content_id BLOB NOT NULL,
    ts         INTEGER NOT NULL,
    nonce      INTEGER NOT NULL,
    content    BLOB NOT NULL,
    PRIMARY KEY (topic, content_id)
);
DROP INDEX IF EXISTS bulletins_topic;
CREATE INDEX IF NOT EXISTS bulletins_topic_ts_id ON bulletins (topic, ts, content_id);
CREATE INDEX IF NOT EXISTS bulletins_content ON bulletins (content_id);
CREATE TABLE IF NOT EXISTS seen (
    topic      BLOB NOT NULL,
    content_id BLOB NOT NULL,
    expires    INTEGER NOT NULL,
    PRIMARY KEY (topic, content_id)
);
CREATE TABLE IF NOT EXISTS delivered (
    topic      BLOB NOT NULL,
    content_id BLOB NOT NULL,
    expires    INTEGER NOT NULL,
    PRIMARY KEY (topic, content_id)
);
CREATE TABLE IF NOT EXISTS pending (
    topic      BLOB NOT NULL,
    content_id BLOB NOT NULL,
    PRIMARY KEY (topic, content_id)
);
PRAGMA user_version = 2;
";

/// Moves a version 0 store (tables keyed by content id alone) to the
/// current schema, in one transaction. Bulletins keep their rows; seen,
/// delivered and pending entries take the topic of the bulletin with their
/// content id. A seen entry with no bulletin held can only be a
/// delivery-code notice (the one bulletin marked seen and not stored), so
/// it goes under the beacon topic; a delivered or pending entry with no
/// bulletin has nothing left to deliver and is dropped.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let old: bool = conn.query_row(
        "SELECT count(*) = 1 FROM pragma_table_info('seen') WHERE name = 'content_id' \
         AND NOT EXISTS (SELECT 1 FROM pragma_table_info('seen') WHERE name = 'topic')",
        [],
        |r| r.get(0),
    )?;
    if !old {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for t in ["bulletins", "seen", "delivered", "pending"] {
        tx.execute_batch(&format!("ALTER TABLE {t} RENAME TO old_{t};"))?;
    }
    tx.execute_batch("DROP INDEX IF EXISTS bulletins_topic;")?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(
        "INSERT INTO bulletins (topic, content_id, ts, nonce, content)
             SELECT topic, content_id, ts, nonce, content FROM old_bulletins;
         INSERT OR IGNORE INTO delivered (topic, content_id, expires)
             SELECT b.topic, d.content_id, d.expires
             FROM old_delivered d JOIN old_bulletins b USING (content_id);
         INSERT OR IGNORE INTO pending (topic, content_id)
             SELECT b.topic, p.content_id
             FROM old_pending p JOIN old_bulletins b USING (content_id);",
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO seen (topic, content_id, expires)
             SELECT coalesce(b.topic, ?1), s.content_id, s.expires
             FROM old_seen s LEFT JOIN old_bulletins b USING (content_id)",
        params![&crate::ids::beacon_topic().as_bytes()[..]],
    )?;
    tx.execute_batch(
        "DROP TABLE old_bulletins; DROP TABLE old_seen;
         DROP TABLE old_delivered; DROP TABLE old_pending;",
    )?;
    tx.commit()?;
    Ok(())
}

/// A SQLite error, marked damaged when SQLite found the file is not a
/// database or a malformed one.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        let damaged = matches!(e.sqlite_error_code(), Some(DatabaseCorrupt | NotADatabase));
        Self::Database {
            error: Box::new(e),
            damaged,
        }
    }
}

const COLUMNS: &str = "topic, content_id, ts, nonce, content";

/// [`Bulletins::range_ids`]: only ts and content id, so SQLite walks
/// the (topic, ts, content id) index from the start pair and never reads a
/// row. [`RANGE_IDS_AFTER`] starts strictly after a pair, [`RANGE_IDS_AT`]
/// at one (the first unexpired ts, with the empty blob before every id).
const RANGE_IDS_AFTER: &str = "SELECT ts, content_id FROM bulletins \
     WHERE topic = ?1 AND (ts, content_id) > (?2, ?3) ORDER BY ts, content_id LIMIT ?4";
/// See [`RANGE_IDS_AFTER`].
const RANGE_IDS_AT: &str = "SELECT ts, content_id FROM bulletins \
     WHERE topic = ?1 AND (ts, content_id) >= (?2, ?3) ORDER BY ts, content_id LIMIT ?4";

/// A bulletin store in a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    /// The exclusive lock of a store opened for writing, held until the
    /// connection is closed (declared after it, so dropped after it).
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode, for
    /// one writer: it takes an exclusive lock on the file (`flock`, which
    /// SQLite's own locks do not touch, so readers opened with
    /// [`SqliteStore::open_read_only`] still work), and checks the
    /// database (`PRAGMA quick_check`) before using it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(StoreError::Io)?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => StoreError::InUse,
            std::fs::TryLockError::Error(e) => StoreError::Io(e),
        })?;
        let conn = Connection::open(path)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        check(&conn)?;
        let mut store = Self::init(conn)?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Opens an existing database for reading only: no schema, no journal
    /// mode change, nothing written, so a store on a read-only file or
    /// file system can still be listed and queried.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let path = path.as_ref();
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let probe = "SELECT count(*) FROM sqlite_master";
        if conn.query_row(probe, [], |r| r.get::<_, i64>(0)).is_ok() {
            return Ok(Self { conn, _lock: None });
        }
        // A WAL database whose -shm file cannot be made (read-only
        // directory or file system) opens only as immutable: a snapshot,
        // which is what a store nobody can write is.
        let mut uri = String::from("file:");
        for c in path.to_string_lossy().chars() {
            match c {
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                '%' => uri.push_str("%25"),
                c => uri.push(c),
            }
        }
        uri.push_str("?immutable=1");
        let conn = Connection::open_with_flags(uri, flags)?;
        conn.query_row(probe, [], |r| r.get::<_, i64>(0))?;
        Ok(Self { conn, _lock: None })
    }

    /// A private database in memory (for tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(codes::SCHEMA)?;
        Ok(Self { conn, _lock: None })
    }

    /// Whether `table` has a row with this key.
    fn has_row(
        &self,
        table: &str,
        BulletinKey { topic, content: id }: &BulletinKey,
    ) -> Result<bool, StoreError> {
        let sql = format!("SELECT 1 FROM {table} WHERE topic = ?1 AND content_id = ?2");
        let found = self
            .conn
            .query_row(
                &sql,
                params![&topic.as_bytes()[..], &id.as_bytes()[..]],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn select(&self, sql_where: &str, args: Vec<Value>) -> Result<Vec<Bulletin>, StoreError> {
        let mut out = Vec::new();
        self.select_each(sql_where, args, |b| {
            out.push(b);
            Ok::<(), StoreError>(())
        })?;
        Ok(out)
    }

    /// Hands each selected bulletin to `f` as its row is read, oldest
    /// first, holding one row at a time.
    fn select_each<E: From<StoreError>>(
        &self,
        sql_where: &str,
        args: Vec<Value>,
        mut f: impl FnMut(Bulletin) -> Result<(), E>,
    ) -> Result<(), E> {
        // Only the row ids are sorted (SQLite would otherwise sort whole
        // rows, content and all, in memory); each row is then read alone.
        let sql = format!("SELECT rowid FROM bulletins {sql_where} ORDER BY ts, content_id, topic");
        let rowids = {
            let mut stmt = self.conn.prepare(&sql).map_err(StoreError::from)?;
            stmt.query_map(params_from_iter(args), |r| r.get::<_, i64>(0))
                .and_then(Iterator::collect::<Result<Vec<i64>, _>>)
                .map_err(StoreError::from)?
        };
        let sql = format!("SELECT {COLUMNS} FROM bulletins WHERE rowid = ?1");
        let mut stmt = self.conn.prepare(&sql).map_err(StoreError::from)?;
        for rowid in rowids {
            let row = stmt
                .query_row(params![rowid], raw_row)
                .optional()
                .map_err(StoreError::from)?;
            if let Some(row) = row {
                f(to_bulletin(row)?)?;
            }
        }
        Ok(())
    }

    /// Like [`Bulletins::query`], but hands each bulletin to `f` as it
    /// is read instead of collecting them: memory stays at one row, however
    /// large the store.
    pub fn query_each<E: From<StoreError>>(
        &self,
        query: &Query,
        f: impl FnMut(Bulletin) -> Result<(), E>,
    ) -> Result<(), E> {
        let (sql_where, args) = query_where(query);
        self.select_each(&sql_where, args, f)
    }
}

/// SQLite's structural check of the whole database; an error naming the
/// first problem when it finds any.
fn check(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("PRAGMA quick_check(1)")?;
    let verdict: String = stmt.query_row([], |r| r.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        let found = verdict.replace("*** in database main ***", "");
        Err(StoreError::Damaged(
            found.split_whitespace().collect::<Vec<_>>().join(" "),
        ))
    }
}

/// A row as read, before its values are checked.
type RawRow = (Vec<u8>, Vec<u8>, i64, i64, Vec<u8>);

fn raw_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_id<T: From<[u8; 32]>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(T::from)
        .map_err(|_| StoreError::Corrupt(format!("{what} is {} bytes, not 32", bytes.len())))
}

fn to_u32(n: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n} is not a u32")))
}

fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n} is negative")))
}

/// An instant as a SQLite integer of seconds (saturating: no real clock
/// reaches i64::MAX).
fn sql_time(t: Timestamp) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

fn to_bulletin((topic, content_id, ts, nonce, content): RawRow) -> Result<Bulletin, StoreError> {
    Ok(Bulletin {
        topic: to_id(&topic, "topic")?,
        content_id: to_id(&content_id, "content id")?,
        ts: to_u32(ts, "ts")?,
        nonce: to_u32(nonce, "nonce")?,
        content,
    })
}

fn insert_bulletin(conn: &Connection, b: &Bulletin) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO bulletins (topic, content_id, ts, nonce, content) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![&b.topic.as_bytes()[..], &b.content_id.as_bytes()[..], i64::from(b.ts), i64::from(b.nonce), &b.content],
    )?;
    Ok(n == 1)
}

fn upsert_seen(
    conn: &Connection,
    BulletinKey { topic, content: id }: &BulletinKey,
    expires: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO seen (topic, content_id, expires) VALUES (?1, ?2, ?3)
         ON CONFLICT (topic, content_id) DO UPDATE SET expires = max(expires, excluded.expires)",
        params![&topic.as_bytes()[..], &id.as_bytes()[..], sql_time(expires)],
    )?;
    Ok(())
}

fn insert_delivered(
    conn: &Connection,
    BulletinKey { topic, content: id }: &BulletinKey,
    expires: Timestamp,
) -> Result<bool, StoreError> {
    let args = params![&topic.as_bytes()[..], &id.as_bytes()[..], sql_time(expires)];
    let n = conn.execute(
        "INSERT OR IGNORE INTO delivered (topic, content_id, expires) VALUES (?1, ?2, ?3)",
        args,
    )?;
    if n == 0 {
        // Marked before: keep the later expiry.
        conn.execute(
            "UPDATE delivered SET expires = max(expires, ?3) WHERE topic = ?1 AND content_id = ?2",
            args,
        )?;
    }
    Ok(n == 1)
}

/// The SQL condition and argument for one match on `col`; None when it
/// matches everything (an empty prefix or suffix).
fn condition(col: &str, m: &Match) -> Option<(String, Value)> {
    let p = m.pattern().to_vec();
    let n = p.len();
    match m {
        Match::Exact(_) => Some((format!("{col} = ?"), Value::Blob(p))),
        _ if n == 0 => None,
        Match::Prefix(_) => Some((format!("substr({col}, 1, {n}) = ?"), Value::Blob(p))),
        Match::Suffix(_) => Some((
            format!("(length({col}) >= {n} AND substr({col}, -{n}) = ?)"),
            Value::Blob(p),
        )),
    }
}

/// The WHERE clause (empty when it matches all) and its arguments for a
/// query.
fn query_where(query: &Query) -> (String, Vec<Value>) {
    let conds: Vec<(String, Value)> = [
        ("topic", &query.topic),
        ("content_id", &query.content_id),
        ("content", &query.content),
    ]
    .into_iter()
    .filter_map(|(col, m)| m.as_ref().and_then(|m| condition(col, m)))
    .collect();
    if conds.is_empty() {
        return (String::new(), Vec::new());
    }
    let sql_where = format!(
        "WHERE {}",
        conds
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    (sql_where, conds.into_iter().map(|(_, v)| v).collect())
}

impl Bulletins for SqliteStore {
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError> {
        insert_bulletin(&self.conn, bulletin)
    }

    fn retrieve(
        &self,
        BulletinKey {
            topic,
            content: content_id,
        }: &BulletinKey,
    ) -> Result<Option<Bulletin>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM bulletins WHERE topic = ?1 AND content_id = ?2");
        let row = self
            .conn
            .query_row(
                &sql,
                params![&topic.as_bytes()[..], &content_id.as_bytes()[..]],
                raw_row,
            )
            .optional()?;
        row.map(to_bulletin).transpose()
    }

    fn contains(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        self.has_row("bulletins", key)
    }

    fn with_content_id(
        &self,
        content_id: &ContentId,
        max: usize,
    ) -> Result<Vec<Bulletin>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM bulletins WHERE content_id = ?1 \
             ORDER BY ts DESC, topic DESC LIMIT ?2"
        );
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![&content_id.as_bytes()[..], limit], raw_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(to_bulletin(row?)?);
        }
        Ok(out)
    }

    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.select("", Vec::new())
    }

    fn list_topic(&self, topic: &TopicId) -> Result<Vec<ContentId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT content_id FROM bulletins WHERE topic = ?1 ORDER BY ts, content_id")?;
        let rows = stmt.query_map(params![&topic.as_bytes()[..]], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(to_id(&row?, "content id")?);
        }
        Ok(out)
    }

    fn unexpired_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        max: usize,
    ) -> Result<Vec<ContentId>, StoreError> {
        // Unexpired: ts + CONTENT_TTL > now. Newest `max` by (ts, content id).
        let oldest = sql_time(now) - i64::from(CONTENT_TTL);
        let mut stmt = self.conn.prepare(
            "SELECT content_id FROM bulletins WHERE topic = ?1 AND ts > ?2 \
             ORDER BY ts DESC, content_id DESC LIMIT ?3",
        )?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![&topic.as_bytes()[..], oldest, limit], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(to_id(&row?, "content id")?);
        }
        out.reverse();
        Ok(out)
    }

    fn range_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        after: Option<(u32, ContentId)>,
        max: usize,
    ) -> Result<Vec<(u32, ContentId)>, StoreError> {
        // Unexpired: ts + CONTENT_TTL > now, so ts ≥ first.
        let first = (sql_time(now) - i64::from(CONTENT_TTL)).saturating_add(1);
        let (sql, ts, id) = match &after {
            Some((ts, id)) if i64::from(*ts) >= first => {
                (RANGE_IDS_AFTER, i64::from(*ts), &id.as_bytes()[..])
            }
            _ => (RANGE_IDS_AT, first, &[][..]),
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![&topic.as_bytes()[..], ts, id, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (ts, id) = row?;
            out.push((to_u32(ts, "ts")?, to_id(&id, "content id")?));
        }
        Ok(out)
    }

    fn query(&self, query: &Query) -> Result<Vec<Bulletin>, StoreError> {
        let (sql_where, args) = query_where(query);
        self.select(&sql_where, args)
    }

    fn len(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM bulletins", [], |r| r.get(0))?;
        usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("row count {n}")))
    }
}

impl SeenLog for SqliteStore {
    fn mark_seen(&mut self, key: &BulletinKey, expires: Timestamp) -> Result<(), StoreError> {
        upsert_seen(&self.conn, key, expires)
    }

    fn seen(&self, now: Timestamp) -> Result<Vec<(BulletinKey, Timestamp)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT topic, content_id, expires FROM seen WHERE expires > ?1 ORDER BY topic, content_id")?;
        let rows = stmt.query_map(params![sql_time(now)], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (topic, id, expires) = row?;
            out.push((
                BulletinKey::new(to_id(&topic, "seen topic")?, to_id(&id, "seen content id")?),
                Timestamp::from_secs(to_u64(expires, "seen expiry")?),
            ));
        }
        Ok(out)
    }
}

impl DeliveryJournal for SqliteStore {
    fn mark_delivered(
        &mut self,
        key: &BulletinKey,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        insert_delivered(&self.conn, key, expires)
    }

    fn is_delivered(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        self.has_row("delivered", key)
    }

    fn confirm_delivered(&mut self, keys: &[BulletinKey]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for BulletinKey { topic, content: id } in keys {
            tx.execute(
                "DELETE FROM pending WHERE topic = ?1 AND content_id = ?2",
                params![&topic.as_bytes()[..], &id.as_bytes()[..]],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.select(
            "WHERE (topic, content_id) IN (SELECT topic, content_id FROM pending)",
            Vec::new(),
        )
    }
}

impl CodeBook for SqliteStore {
    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError> {
        codes::list(&self.conn)
    }

    fn put_delivery_code(&mut self, code: &DeliveryCode) -> Result<(), StoreError> {
        codes::put(&self.conn, code)
    }
}

impl BulletinStore for SqliteStore {
    fn handle(&mut self, bulletin: &Bulletin, deliver: bool) -> Result<Stored, StoreError> {
        let expires = seen_until(bulletin);
        let key = bulletin.key();
        let tx = self.conn.transaction()?;
        let new = insert_bulletin(&tx, bulletin)?;
        upsert_seen(&tx, &key, expires)?;
        let deliver = deliver && insert_delivered(&tx, &key, expires)?;
        if deliver {
            tx.execute(
                "INSERT OR IGNORE INTO pending (topic, content_id) VALUES (?1, ?2)",
                params![&key.topic.as_bytes()[..], &key.content.as_bytes()[..]],
            )?;
        }
        tx.commit()?;
        Ok(Stored { new, deliver })
    }

    fn remove_expired(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let removed = maintenance::delete_expired(&tx, now)?;
        tx.commit()?;
        usize::try_from(removed.bulletins)
            .map_err(|_| StoreError::Corrupt(format!("{} rows", removed.bulletins)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Bulletin> {
        vec![
            Bulletin::new(TopicId::from_bytes([1; 32]), b"hello world".to_vec(), 1000),
            Bulletin::new(
                TopicId::from_bytes([1; 32]),
                b"goodbye world".to_vec(),
                1001,
            ),
            Bulletin::new(TopicId::from_bytes([2; 32]), b"hello there".to_vec(), 1002),
            Bulletin::new(TopicId::from_bytes([2; 32]), Vec::new(), 1003),
        ]
    }

    #[test]
    fn queries_agree_with_the_in_memory_matcher() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let all = sample();
        for b in &all {
            assert!(s.store(b).unwrap());
        }
        assert!(!s.store(&all[0]).unwrap());
        assert_eq!(s.list().unwrap(), all);
        let id = all[2].content_id;
        let patterns = |v: &[u8]| {
            vec![
                Match::Exact(v.to_vec()),
                Match::Prefix(v.to_vec()),
                Match::Suffix(v.to_vec()),
                Match::Prefix(Vec::new()),
                Match::Suffix(Vec::new()),
            ]
        };
        let mut queries = Vec::new();
        for m in patterns(b"hello") {
            queries.push(Query {
                content: Some(m),
                ..Query::default()
            });
        }
        for m in patterns(b"world") {
            queries.push(Query {
                content: Some(m),
                ..Query::default()
            });
        }
        for m in [
            Match::Exact(id.as_bytes().to_vec()),
            Match::Prefix(id.as_bytes()[..3].to_vec()),
            Match::Suffix(id.as_bytes()[29..].to_vec()),
        ] {
            queries.push(Query {
                content_id: Some(m),
                ..Query::default()
            });
        }
        queries.push(Query {
            topic: Some(Match::Exact(vec![1; 32])),
            content: Some(Match::Suffix(b"world".to_vec())),
            ..Query::default()
        });
        for q in queries {
            let expected: Vec<_> = all.iter().filter(|b| q.matches(b)).cloned().collect();
            assert_eq!(s.query(&q).unwrap(), expected, "{q:?}");
        }
        assert_eq!(
            s.list_topic(&TopicId::from_bytes([2; 32])).unwrap(),
            vec![all[2].content_id, all[3].content_id]
        );
    }

    #[test]
    fn handle_is_atomic_and_remembers_delivery() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let b = &sample()[0];
        assert_eq!(
            s.handle(b, true).unwrap(),
            Stored {
                new: true,
                deliver: true
            }
        );
        assert_eq!(
            s.handle(b, true).unwrap(),
            Stored {
                new: false,
                deliver: false
            }
        );
        assert!(s.is_delivered(&b.key()).unwrap());
        assert_eq!(
            s.seen(Timestamp::from_secs(1000)).unwrap(),
            vec![(b.key(), Timestamp::from_secs(4600))]
        );
        assert!(s.seen(Timestamp::from_secs(4600)).unwrap().is_empty());
        assert_eq!(s.remove_expired(Timestamp::from_secs(4599)).unwrap(), 0);
        assert_eq!(s.remove_expired(Timestamp::from_secs(4600)).unwrap(), 1);
        assert!(!s.is_delivered(&b.key()).unwrap());
        assert!(s.seen(Timestamp::from_secs(0)).unwrap().is_empty());
    }

    #[test]
    fn deliveries_stay_pending_until_confirmed() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let all = sample();
        assert!(s.handle(&all[0], true).unwrap().deliver);
        assert!(s.handle(&all[1], true).unwrap().deliver);
        assert!(!s.handle(&all[2], false).unwrap().deliver);
        let pending: Vec<ContentId> = s
            .pending_deliveries()
            .unwrap()
            .iter()
            .map(|b| b.content_id)
            .collect();
        assert_eq!(pending.len(), 2);
        assert!(pending.contains(&all[0].content_id) && pending.contains(&all[1].content_id));
        s.confirm_delivered(&[all[0].key()]).unwrap();
        let left = s.pending_deliveries().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].content_id, all[1].content_id);
        assert!(
            !s.handle(&all[1], true).unwrap().deliver,
            "a replay is not delivered again"
        );
    }

    #[test]
    fn one_writer_at_a_time_readers_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut writer = SqliteStore::open(&path).unwrap();
        writer.store(&sample()[0]).unwrap();
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::InUse)));
        let reader = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(reader.list().unwrap(), vec![sample()[0].clone()]);
        drop(writer);
        assert!(SqliteStore::open(&path).is_ok());
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let s = SqliteStore::open_in_memory().unwrap();
        s.conn
            .execute(
                "INSERT INTO bulletins VALUES (x'0102', x'03', -1, 5, x'')",
                [],
            )
            .unwrap();
        assert!(matches!(s.list(), Err(StoreError::Corrupt(_))));
    }

    /// The schema before bulletins were keyed by (topic id, content id),
    /// as it stood in git (src/store/sqlite.rs at d1c143f).
    const SCHEMA_V0: &str = "
CREATE TABLE IF NOT EXISTS bulletins (
    content_id BLOB PRIMARY KEY NOT NULL,
    topic      BLOB NOT NULL,
    ts         INTEGER NOT NULL,
    nonce      INTEGER NOT NULL,
    content    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS bulletins_topic ON bulletins (topic, ts);
CREATE TABLE IF NOT EXISTS seen (
    content_id BLOB PRIMARY KEY NOT NULL,
    expires    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (
    content_id BLOB PRIMARY KEY NOT NULL,
    expires    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    content_id BLOB PRIMARY KEY NOT NULL
);
";

    #[test]
    fn a_store_of_the_old_schema_is_migrated_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let all = sample();
        let notice = [7u8; 32];
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V0).unwrap();
            for b in &all {
                old.execute(
                    "INSERT INTO bulletins (content_id, topic, ts, nonce, content) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![&b.content_id.as_bytes()[..], &b.topic.as_bytes()[..], b.ts, b.nonce, &b.content],
                )
                .unwrap();
                old.execute(
                    "INSERT INTO seen VALUES (?1, ?2)",
                    params![&b.content_id.as_bytes()[..], seen_until(b).as_secs() as i64],
                )
                .unwrap();
            }
            old.execute("INSERT INTO seen VALUES (?1, 9999)", params![&notice[..]])
                .unwrap();
            for b in &all[..2] {
                old.execute(
                    "INSERT INTO delivered VALUES (?1, ?2)",
                    params![&b.content_id.as_bytes()[..], seen_until(b).as_secs() as i64],
                )
                .unwrap();
            }
            old.execute(
                "INSERT INTO pending VALUES (?1)",
                params![&all[1].content_id.as_bytes()[..]],
            )
            .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.list().unwrap(), all, "every bulletin kept");
        let seen = s.seen(Timestamp::from_secs(0)).unwrap();
        assert_eq!(seen.len(), 5);
        assert!(seen.contains(&(
            BulletinKey::new(crate::ids::beacon_topic(), ContentId::from_bytes(notice)),
            Timestamp::from_secs(9999)
        )));
        for b in &all {
            assert!(seen.contains(&(b.key(), seen_until(b))));
        }
        assert!(s.is_delivered(&all[0].key()).unwrap());
        assert!(!s.is_delivered(&all[2].key()).unwrap());
        assert_eq!(s.pending_deliveries().unwrap(), vec![all[1].clone()]);
        // Keyed by (topic, content id) now: the same content under another
        // topic is a new bulletin, a re-stamped copy is not.
        let mut elsewhere = all[0].clone();
        elsewhere.topic = TopicId::from_bytes([9; 32]);
        assert!(s.handle(&elsewhere, true).unwrap().deliver);
        let mut restamped = all[0].clone();
        restamped.ts += 1;
        assert!(!s.handle(&restamped, true).unwrap().new);
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.len().unwrap(), 5, "a second open migrates nothing");
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
    }

    #[test]
    fn range_ids_walks_the_index_and_never_reads_a_row() {
        let s = SqliteStore::open_in_memory().unwrap();
        for sql in [RANGE_IDS_AFTER, RANGE_IDS_AT] {
            let plan: Vec<String> = s
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![&[1u8; 32][..], 0, &[][..], 10], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            // One range search of the index alone (SQLite names > and >=
            // alike here), no sort, no table row.
            assert_eq!(
                plan,
                vec![
                    "SEARCH bulletins USING COVERING INDEX bulletins_topic_ts_id \
                     (topic=? AND (ts,content_id)>(?,?))"
                ],
                "{sql}"
            );
        }
    }

    /// The schema of version 1, before the (topic, ts, content id) index.
    const SCHEMA_V1_INDEX: &str = "
DROP INDEX bulletins_topic_ts_id;
CREATE INDEX bulletins_topic ON bulletins (topic, ts);
PRAGMA user_version = 1;
";

    #[test]
    fn a_version_1_store_gains_the_range_index_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let all = sample();
        {
            let mut s = SqliteStore::open(&path).unwrap();
            for b in &all {
                s.handle(b, true).unwrap();
            }
            s.conn.execute_batch(SCHEMA_V1_INDEX).unwrap();
        }
        let index = |s: &SqliteStore, name: &str| -> bool {
            s.conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [name],
                    |_| Ok(()),
                )
                .optional()
                .unwrap()
                .is_some()
        };
        let old = SqliteStore::open_read_only(&path).unwrap();
        assert!(index(&old, "bulletins_topic") && !index(&old, "bulletins_topic_ts_id"));
        assert_eq!(
            old.range_ids(
                &TopicId::from_bytes([1; 32]),
                Timestamp::from_secs(0),
                None,
                9
            )
            .unwrap()
            .len(),
            2,
            "a read-only old store answers too, without the index"
        );
        drop(old);
        let s = SqliteStore::open(&path).unwrap();
        assert!(!index(&s, "bulletins_topic") && index(&s, "bulletins_topic_ts_id"));
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(s.list().unwrap(), all);
        assert_eq!(s.pending_deliveries().unwrap(), all);
        assert_eq!(
            s.range_ids(
                &TopicId::from_bytes([2; 32]),
                Timestamp::from_secs(0),
                None,
                9
            )
            .unwrap(),
            vec![
                (all[2].ts, all[2].content_id),
                (all[3].ts, all[3].content_id)
            ]
        );
    }

    #[test]
    fn one_content_id_under_two_topics_is_two_rows() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let a = Bulletin::new(TopicId::from_bytes([1; 32]), b"same".to_vec(), 1000);
        let b = Bulletin::new(TopicId::from_bytes([2; 32]), b"same".to_vec(), 1001);
        assert!(s.handle(&a, true).unwrap().deliver);
        assert!(s.handle(&b, true).unwrap().deliver);
        assert_eq!(
            s.with_content_id(&a.content_id, 9).unwrap(),
            vec![b.clone(), a.clone()]
        );
        assert_eq!(
            s.with_content_id(&a.content_id, 1).unwrap(),
            vec![b.clone()]
        );
        assert_eq!(s.retrieve(&a.key()).unwrap(), Some(a.clone()));
        s.confirm_delivered(&[a.key()]).unwrap();
        assert_eq!(s.pending_deliveries().unwrap(), vec![b]);
    }
}
