//! Delivery codes in a SQLite store ([`DeliveryCode`]).
//!
//! A table of its own, added beside the bulletin tables and never
//! touching them, so a store from before it existed just gains it.

use rusqlite::{Connection, OptionalExtension, params};

use crate::keys::Address;
use crate::store::{DeliveryCode, StoreError};
use crate::time::Timestamp;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delivery_codes (
    address BLOB NOT NULL,
    own     INTEGER NOT NULL,
    code    BLOB NOT NULL,
    since   INTEGER NOT NULL,
    PRIMARY KEY (address, own)
);
";

/// Whether `table` exists (a store opened read-only is never given the
/// schema, so an older store may lack the code tables).
fn has_table(conn: &Connection, table: &str) -> Result<bool, StoreError> {
    let sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";
    Ok(conn
        .query_row(sql, [table], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every code held: own codes first, then peers', each by address.
pub(super) fn list(conn: &Connection) -> Result<Vec<DeliveryCode>, StoreError> {
    if !has_table(conn, "delivery_codes")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT address, code, own, since FROM delivery_codes ORDER BY own DESC, address",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (address, code, own, since) = row?;
        let bad = |what: &str, len: usize| {
            StoreError::Corrupt(format!("delivery code row: {what} of {len} bytes"))
        };
        out.push(DeliveryCode {
            address: Address(
                address
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("address", address.len()))?,
            ),
            code: code
                .as_slice()
                .try_into()
                .map_err(|_| bad("code", code.len()))?,
            own: own != 0,
            since: u64::try_from(since)
                .map(Timestamp::from_secs)
                .map_err(|_| StoreError::Corrupt(format!("delivery code since {since}")))?,
        });
    }
    Ok(out)
}

/// Keeps `code`, replacing the one held for the same address and kind.
pub(super) fn put(conn: &Connection, code: &DeliveryCode) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO delivery_codes (address, own, code, since) VALUES (?1, ?2, ?3, ?4)",
        params![
            code.address.as_bytes().as_slice(),
            i64::from(code.own),
            code.code.as_slice(),
            i64::try_from(code.since.as_secs()).unwrap_or(i64::MAX),
        ],
    )?;
    Ok(())
}
