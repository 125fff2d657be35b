//! Requests to rotate a relay's delivery code, left in its store file by
//! another process (`gossip store rotate`) and taken by the relay running
//! on it (`gossip relay --store`).
//!
//! Messaging between two processes of the command line, not part of a
//! store's job: a table of its own in the same SQLite file, through a
//! connection of its own beside the relay's store. SQLite's locking orders
//! the two writers; nothing else in the file is touched.

use std::path::Path;
use std::time::Duration;

use gossip::store::StoreError;
use rusqlite::{Connection, OpenFlags};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rotation_requests (requested INTEGER NOT NULL);";

/// How long a request or a poll waits for the other writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The rotation requests of one store file.
pub struct RotationRequests {
    conn: Connection,
}

impl RotationRequests {
    /// Opens the requests of an existing store file (never creates it).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Asks the relay running on this store (or the next one started on
    /// it) to rotate its delivery code.
    pub fn request(&self, now: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rotation_requests (requested) VALUES (?1)",
            [i64::try_from(now).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    /// Takes every pending request; true when there was one.
    pub fn take(&self) -> Result<bool, StoreError> {
        // Looked at first, so a poll that finds nothing writes nothing (a
        // DELETE is a write transaction even on an empty table: an idle
        // relay grew its WAL by about 4 KiB a second).
        let asked: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM rotation_requests)",
            [],
            |row| row.get(0),
        )?;
        Ok(asked && self.conn.execute("DELETE FROM rotation_requests", [])? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossip::store::SqliteStore;

    /// A request left beside the store's writer is taken once, by another
    /// connection, and the store itself still opens and works.
    #[test]
    fn a_request_beside_the_writer_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let store = SqliteStore::open(&path).unwrap();
        let relay = RotationRequests::open(&path).unwrap();
        assert!(!relay.take().unwrap(), "none yet");
        RotationRequests::open(&path).unwrap().request(7).unwrap();
        RotationRequests::open(&path).unwrap().request(8).unwrap();
        assert!(relay.take().unwrap());
        assert!(!relay.take().unwrap(), "taken once");
        drop(store);
    }

    /// No store file, no requests: the file is never created.
    #[test]
    fn a_missing_store_is_an_error_not_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        assert!(RotationRequests::open(&path).is_err());
        assert!(!path.exists());
    }
}
