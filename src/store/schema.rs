//! What the store keeps, as tables, and how a file of an older schema is brought forward: each
//! version's steps in order, all in one transaction with the new `user_version`, so that a
//! file is at one version or the other, never between.
//!
//! - `rooms`: every room that has a topic or lines, by its lower-cased name (`key`), with the
//!   name as it was first written, its topic (who set it, when) and its last line's id.
//! - `lines`: every chat and `/me` line: its id (the server's line counter: ids never repeat),
//!   server time (µs of Unix time), room, sender, and text.
//! - `words`: the lines' words (FTS5, contentless: it keeps the index, not the text), for
//!   `/search`; a line's row there has the line's id.
//! - `bans`: address, until when (Unix seconds), by whom.
//! - `accounts` (version 2): each account by its lower-cased name (`key`): the name as it was
//!   registered, its password's Argon2id hash (a PHC string, never the password), when it was
//!   made, and until when it is banned (Unix seconds; 0: not banned).
//! - `waiting` (version 2): the private messages waiting for an account's owner: to whom (the
//!   account's key), from whom, when (µs of Unix time), the text.
//! - `meta`: the line counter (`said`), kept beside the lines: it covers lines dropped before
//!   they reached the file, so an id is never given twice.

use rusqlite::Connection;

/// `chatd` in ASCII: SQLite's `application_id` of a chatd store.
pub const APPLICATION_ID: i32 = 0x6368_6174;

/// The schema this chatd writes.
pub const VERSION: i32 = 2;

/// Each version's steps; `STEPS[n]` takes a file from version `n` to `n + 1`.
const STEPS: [&str; VERSION as usize] = [
    // 0 -> 1: the first schema.
    "CREATE TABLE rooms (
         id INTEGER PRIMARY KEY,
         key TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         topic TEXT,
         topic_by TEXT,
         topic_at INTEGER,
         last_line INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE lines (
         id INTEGER PRIMARY KEY,
         room INTEGER NOT NULL,
         at INTEGER NOT NULL,
         sender TEXT NOT NULL,
         me INTEGER NOT NULL,
         text TEXT NOT NULL
     );
     CREATE INDEX lines_by_room ON lines (room, id);
     CREATE VIRTUAL TABLE words USING fts5 (text, content = '', contentless_delete = 1, detail = none);
     CREATE TABLE bans (
         ip TEXT PRIMARY KEY,
         until INTEGER NOT NULL,
         by TEXT NOT NULL
     );
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     );
     INSERT INTO meta (key, value) VALUES ('said', 0);",
    // 1 -> 2: accounts, and the messages that wait for them.
    "CREATE TABLE accounts (
         key TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         hash TEXT NOT NULL,
         made INTEGER NOT NULL,
         banned_until INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE waiting (
         id INTEGER PRIMARY KEY,
         account TEXT NOT NULL,
         sender TEXT NOT NULL,
         at INTEGER NOT NULL,
         text TEXT NOT NULL
     );
     CREATE INDEX waiting_by_account ON waiting (account, id);",
];

/// Brings a file at version `from` to [`VERSION`], in one transaction.
pub fn migrate(db: &Connection, from: i32) -> rusqlite::Result<()> {
    let tx = db.unchecked_transaction()?;
    for step in &STEPS[from as usize..] {
        tx.execute_batch(step)?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {VERSION};"
    ))?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(db: &Connection) -> i32 {
        db.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_file_of_each_older_version_is_brought_forward_whole() {
        // A version-1 file, as the first chatd with a store wrote it, with a line in it.
        let db = Connection::open_in_memory().unwrap();
        let tx = db.unchecked_transaction().unwrap();
        tx.execute_batch(STEPS[0]).unwrap();
        tx.execute_batch("PRAGMA user_version = 1;").unwrap();
        tx.commit().unwrap();
        db.execute_batch(
            "INSERT INTO rooms (id, key, name) VALUES (1, 'dev', 'Dev');
             INSERT INTO lines (id, room, at, sender, me, text) VALUES (7, 1, 0, 'ana', 0, 'hi');",
        )
        .unwrap();
        migrate(&db, 1).unwrap();
        assert_eq!(version(&db), VERSION);
        let text: String = db
            .query_row("SELECT text FROM lines WHERE id = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(text, "hi");
        db.execute_batch(
            "INSERT INTO accounts (key, name, hash, made) VALUES ('ana', 'ana', '$argon2id$x', 0);
             INSERT INTO waiting (account, sender, at, text) VALUES ('ana', 'bob', 0, 'hey');",
        )
        .unwrap();
        // And a new file straight to the newest.
        let fresh = Connection::open_in_memory().unwrap();
        migrate(&fresh, 0).unwrap();
        assert_eq!(version(&fresh), VERSION);
        let tables: i64 = fresh
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('accounts', 'waiting')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 2);
    }

    #[test]
    fn a_failed_step_leaves_the_file_at_its_version() {
        let db = Connection::open_in_memory().unwrap();
        migrate(&db, 0).unwrap();
        // Its tables exist already: taking it from 0 again fails, and changes nothing.
        assert!(migrate(&db, 0).is_err());
        assert_eq!(version(&db), VERSION);
    }
}
