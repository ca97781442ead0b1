//! The writer thread: takes what the hub queued, at most every `--store-sync-ms`, and writes
//! it in one transaction; between batches, retention (`--keep-days`, `--keep-mb`) deletes the
//! oldest lines a thousand at a time, so that no transaction is long and the chat's lines keep
//! going in between.
//!
//! A batch that cannot be written (a full disk, a file made read-only) is rolled back, so the
//! file stays whole; its lines are counted as unwritten and the writer goes on with the next
//! batch: it logs once when writing fails and once when it works again.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::StoreConfig;
use super::file::Opened;
use super::load::unix_us;
use super::queue::{Batch, Queue, Record};
use super::reader::Written;
use crate::metrics::METRICS;

/// Lines deleted per retention step.
const RETENTION_STEP: usize = 1000;
/// How often retention looks whether there is something to delete.
const RETENTION_EVERY: Duration = Duration::from_secs(1);

/// `written` is the last line id of the batches written (or given up on), for the reader.
pub fn start(
    file: Opened,
    config: StoreConfig,
    queue: Arc<Queue>,
    written: Arc<Written>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let mut writer = Writer {
                file,
                config,
                rooms: HashMap::new(),
                failing: None,
            };
            writer.run(&queue, &written);
        })
}

struct Writer {
    file: Opened,
    config: StoreConfig,
    /// Room ids in the file, by lower-cased name.
    rooms: HashMap<Box<str>, i64>,
    /// Since writing failed: the error, and how many lines could not be written.
    failing: Option<(String, u64)>,
}

impl Writer {
    fn run(&mut self, queue: &Queue, written: &Written) {
        let mut next = Instant::now();
        let mut retention_at = Instant::now();
        self.measure();
        loop {
            // Idle, it still wakes for retention.
            let idle_until = self.retention_due().then_some(retention_at);
            let Some(batch) = queue.take(next, idle_until) else {
                break;
            };
            let started = Instant::now();
            if !batch.is_empty() {
                self.write(&batch);
                written.advance(batch.said);
                next = started + self.config.sync;
            }
            if self.retention_due() && started >= retention_at {
                // Steps for at most one sync period; more, if any, after the next batch.
                let budget = Instant::now() + self.config.sync;
                let mut more = self.retain();
                while more && Instant::now() < budget {
                    more = self.retain();
                }
                retention_at = if more {
                    Instant::now()
                } else {
                    Instant::now() + RETENTION_EVERY
                };
                self.measure();
            }
        }
        // The last batch is written; the file is checkpointed so it is whole on its own.
        let _ = self
            .file
            .db
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        self.measure();
        log::info!("store {}: closed", self.file.path.display());
    }

    fn retention_due(&self) -> bool {
        self.config.keep_for.is_some() || self.config.keep_bytes.is_some()
    }

    fn write(&mut self, batch: &Batch) {
        let started = Instant::now();
        match self.transaction(batch) {
            Ok(()) => {
                METRICS.store_written(batch.lines.len() as u64, started.elapsed());
                if let Some((e, lost)) = self.failing.take() {
                    log::warn!(
                        "store {}: writing again ({lost} lines could not be written: {e})",
                        self.file.path.display()
                    );
                }
            }
            Err(e) => {
                let lost = batch.lines.len() as u64;
                METRICS.store_failed(lost);
                match &mut self.failing {
                    Some((_, n)) => *n += lost,
                    None => {
                        log::error!(
                            "store {}: cannot write: {e}; the chat goes on, its lines are not \
                             kept until it can",
                            self.file.path.display()
                        );
                        self.failing = Some((e.to_string(), lost));
                    }
                }
                // What failed may have been a room's row: asked for again next time.
                self.rooms.clear();
            }
        }
    }

    fn transaction(&mut self, batch: &Batch) -> rusqlite::Result<()> {
        let tx = self.file.db.unchecked_transaction()?;
        let mut last: HashMap<i64, u64> = HashMap::new();
        {
            let mut line = tx.prepare_cached(
                "INSERT OR IGNORE INTO lines (id, room, at, sender, me, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut words = tx.prepare_cached("INSERT INTO words (rowid, text) VALUES (?1, ?2)")?;
            for l in &batch.lines {
                let room = room_id(&tx, &mut self.rooms, l.room())?;
                let id = l.id as i64;
                if line.execute(params![id, room, l.at as i64, l.from(), l.me, l.text()])? == 1 {
                    words.execute(params![id, l.text()])?;
                }
                last.insert(room, l.id);
            }
        }
        {
            let mut bump = tx.prepare_cached("UPDATE rooms SET last_line = ?2 WHERE id = ?1")?;
            for (room, id) in last {
                bump.execute(params![room, id as i64])?;
            }
        }
        for record in &batch.records {
            match record {
                Record::Topic { room, by, at, text } => {
                    let id = room_id(&tx, &mut self.rooms, room)?;
                    tx.prepare_cached(
                        "UPDATE rooms SET topic = ?2, topic_by = ?3, topic_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![id, text, by, *at as i64])?;
                }
                Record::Ban { ip, until, by } => {
                    tx.prepare_cached(
                        "INSERT INTO bans (ip, until, by) VALUES (?1, ?2, ?3)
                         ON CONFLICT (ip) DO UPDATE SET until = ?2, by = ?3",
                    )?
                    .execute(params![ip.to_string(), *until as i64, by])?;
                }
                Record::Unban(ip) => {
                    tx.prepare_cached("DELETE FROM bans WHERE ip = ?1")?
                        .execute([ip.to_string()])?;
                }
                Record::Account { name, hash } => {
                    tx.prepare_cached(
                        "INSERT INTO accounts (key, name, hash, made) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET hash = ?3",
                    )?
                    .execute(params![
                        name.to_ascii_lowercase(),
                        name,
                        hash,
                        unix_us() as i64 / 1_000_000
                    ])?;
                }
                Record::Unregistered(name) => {
                    let key = name.to_ascii_lowercase();
                    tx.prepare_cached("DELETE FROM accounts WHERE key = ?1")?
                        .execute([&key])?;
                    tx.prepare_cached("DELETE FROM waiting WHERE account = ?1")?
                        .execute([&key])?;
                }
                Record::AccountBan { name, until } => {
                    tx.prepare_cached("UPDATE accounts SET banned_until = ?2 WHERE key = ?1")?
                        .execute(params![name.to_ascii_lowercase(), *until as i64])?;
                }
                Record::Waiting { to, from, at, text } => {
                    let key = to.to_ascii_lowercase();
                    tx.prepare_cached(
                        "INSERT INTO waiting (account, sender, at, text) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![key, from, *at as i64, text])?;
                    // At most MAX_WAITING an account, as the hub keeps them: the oldest go.
                    tx.prepare_cached(
                        "DELETE FROM waiting WHERE account = ?1 AND id NOT IN
                         (SELECT id FROM waiting WHERE account = ?1 ORDER BY id DESC LIMIT ?2)",
                    )?
                    .execute(params![key, crate::hub::MAX_WAITING as i64])?;
                }
                Record::Delivered(name) => {
                    tx.prepare_cached("DELETE FROM waiting WHERE account = ?1")?
                        .execute([name.to_ascii_lowercase()])?;
                }
            }
        }
        tx.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE key = 'said'")?
            .execute([batch.said as i64])?;
        tx.commit()
    }

    /// One retention step; whether there may be more to delete.
    fn retain(&mut self) -> bool {
        let oldest_kept = self
            .config
            .keep_for
            .map(|d| unix_us().saturating_sub(d.as_micros() as u64));
        let too_big = self
            .config
            .keep_bytes
            .is_some_and(|cap| self.used_bytes().is_ok_and(|used| used > cap));
        let result = (|| -> rusqlite::Result<usize> {
            let tx = self.file.db.unchecked_transaction()?;
            let ids: Vec<i64> = {
                let mut old = if too_big {
                    tx.prepare_cached("SELECT id FROM lines ORDER BY id LIMIT ?1")?
                } else if let Some(cutoff) = oldest_kept {
                    // Ids follow time: the oldest lines are the first ids, and the step ends
                    // at the first line young enough to keep (no index on time to keep up).
                    let mut s =
                        tx.prepare_cached("SELECT id, at FROM lines ORDER BY id LIMIT ?1")?;
                    let ids = s
                        .query_map([RETENTION_STEP as i64], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                        })?
                        .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?
                        .into_iter()
                        .take_while(|&(_, at)| at < cutoff as i64)
                        .map(|(id, _)| id)
                        .collect::<Vec<i64>>();
                    drop(s);
                    return delete(tx, &ids);
                } else {
                    return Ok(0);
                };
                old.query_map([RETENTION_STEP as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            delete(tx, &ids)
        })();
        match result {
            Ok(n) => {
                if n > 0 {
                    // Give back a step's worth of freed pages, so the file shrinks.
                    let _ = self
                        .file
                        .db
                        .execute_batch("PRAGMA incremental_vacuum(256);");
                }
                n == RETENTION_STEP || (too_big && n > 0)
            }
            Err(e) => {
                log::warn!(
                    "store {}: retention step failed: {e}",
                    self.file.path.display()
                );
                false
            }
        }
    }

    /// The file's size in use (pages not free).
    fn used_bytes(&self) -> rusqlite::Result<u64> {
        let db = &self.file.db;
        let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = db.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free) * size).max(0) as u64)
    }

    fn measure(&self) {
        let path = &self.file.path;
        let mut bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        let wal = path.with_extension(
            path.extension()
                .map_or("wal".into(), |e| format!("{}-wal", e.to_string_lossy())),
        );
        bytes += std::fs::metadata(wal).map_or(0, |m| m.len());
        METRICS.store_file_bytes(bytes);
    }
}

/// Deletes the lines `ids` (and their words) in `tx`, and commits.
fn delete(tx: rusqlite::Transaction<'_>, ids: &[i64]) -> rusqlite::Result<usize> {
    {
        let mut line = tx.prepare_cached("DELETE FROM lines WHERE id = ?1")?;
        let mut words = tx.prepare_cached("DELETE FROM words WHERE rowid = ?1")?;
        for &id in ids {
            line.execute([id])?;
            words.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(ids.len())
}

/// The id of `room`'s row, made if need be.
fn room_id(
    db: &Connection,
    rooms: &mut HashMap<Box<str>, i64>,
    room: &str,
) -> rusqlite::Result<i64> {
    let key = room.to_ascii_lowercase();
    if let Some(&id) = rooms.get(key.as_str()) {
        return Ok(id);
    }
    db.prepare_cached(
        "INSERT INTO rooms (key, name) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
    )?
    .execute(params![key, room])?;
    let id = db
        .prepare_cached("SELECT id FROM rooms WHERE key = ?1")?
        .query_row([&key], |r| r.get(0))?;
    rooms.insert(key.into(), id);
    Ok(id)
}
