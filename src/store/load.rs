//! What a server reads of its store at start, and only that: the rooms with the newest lines
//! (at most `--max-rooms`), each room's last `--history` lines, topics, the bans still running,
//! the accounts (with the messages waiting for them), and the line counter. Index lookups only, so that a store of millions of lines opens as
//! fast as an empty one.

use rusqlite::{Connection, params};

use super::StoreConfig;
use crate::hub::{MAX_WAITING, Restored, RestoredAccount, RestoredRoom, StoredLine, Waiting};

pub fn load(db: &Connection, config: &StoreConfig) -> rusqlite::Result<Restored> {
    let mut restored = Restored::default();
    let mut rooms = db.prepare(
        "SELECT id, name, topic FROM rooms
         WHERE topic IS NOT NULL OR EXISTS (SELECT 1 FROM lines WHERE lines.room = rooms.id)
         ORDER BY last_line DESC LIMIT ?1",
    )?;
    let mut lines = db.prepare(
        "SELECT id, at, sender, me, text FROM lines WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let found = rooms.query_map([config.max_rooms as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
    })?;
    for room in found {
        let (id, name, topic) = room?;
        let mut kept: Vec<StoredLine> = lines
            .query_map(params![id, config.history as i64], stored_line)?
            .collect::<rusqlite::Result<_>>()?;
        kept.reverse();
        restored.rooms.push(RestoredRoom {
            name,
            topic,
            lines: kept,
        });
    }
    let now = unix_secs();
    let mut bans = db.prepare("SELECT ip, until, by FROM bans WHERE until > ?1")?;
    for ban in bans.query_map([now as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (ip, until, by) = ban?;
        // A row no chatd wrote (an address that does not parse) is skipped, not fatal.
        if let Ok(ip) = ip.parse() {
            restored
                .bans
                .push((ip, (until as u64).saturating_sub(now), by));
        }
    }
    let counted: i64 = db.query_row("SELECT value FROM meta WHERE key = 'said'", [], |r| {
        r.get(0)
    })?;
    let last: Option<i64> = db.query_row("SELECT max(id) FROM lines", [], |r| r.get(0))?;
    restored.said = counted.max(last.unwrap_or(0)).max(0) as u64;
    restored.accounts = accounts(db, now)?;
    Ok(restored)
}

/// Every account, with the messages waiting for it (the newest [`MAX_WAITING`]).
fn accounts(db: &Connection, now: u64) -> rusqlite::Result<Vec<RestoredAccount>> {
    let mut waiting = db.prepare(
        "SELECT sender, at, text FROM waiting WHERE account = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut all = db.prepare("SELECT key, name, hash, banned_until FROM accounts")?;
    let rows = all.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut accounts = Vec::new();
    for row in rows {
        let (key, name, hash, banned_until) = row?;
        let mut kept: Vec<Waiting> = waiting
            .query_map(params![key, MAX_WAITING as i64], |r| {
                Ok(Waiting {
                    from: r.get::<_, String>(0)?.into(),
                    at: r.get::<_, i64>(1)?.max(0) as u64,
                    text: r.get::<_, String>(2)?.into(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        kept.reverse();
        let banned_until = banned_until.max(0) as u64;
        accounts.push(RestoredAccount {
            name,
            hash,
            banned: (banned_until > now).then(|| banned_until - now),
            waiting: kept,
        });
    }
    Ok(accounts)
}

/// A `lines` row (id, at, sender, me, text) as the hub takes it.
pub fn stored_line(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLine> {
    Ok(StoredLine {
        id: r.get::<_, i64>(0)? as u64,
        at: r.get::<_, i64>(1)? as u64,
        from: r.get(2)?,
        me: r.get(3)?,
        text: r.get(4)?,
    })
}

pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
