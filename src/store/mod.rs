//! The store: what a single node remembers across restarts (every chat line, the rooms that
//! have a topic or history, topics, bans, the line counter), in an SQLite file (`--store`,
//! `chatd.db` by default; `--store none` keeps everything in memory only).
//!
//! The hub never waits for it. At start, before anyone is served, [`open`] reads what the chat
//! needs ([`load`]: each room's last `--history` lines, topics, bans, the counter); after that,
//! the hub hands over what to keep ([`crate::hub::Keep`]) through its outbox, into a bounded
//! queue (`queue.rs`) that one writer thread empties in batches, one transaction each, at most
//! every `--store-sync-ms` (`writer.rs`, which also enforces `--keep-days` and `--keep-mb` in
//! small steps). Questions that need the disk (`/history before`, `/search`) go to a reader
//! thread with its own connection (`reader.rs`), and its answers come back through the same
//! [`crate::news::Inbox`] as the cluster link's news, to either concurrency model.
//!
//! `file.rs` opens the file (its mode, its lock, whose it is, its version) and `schema.rs` says
//! what is in it.

mod file;
mod load;
mod queue;
mod reader;
mod schema;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::hub::{Ask, Keep, Keeper, Restored};
use crate::news::Incoming;

pub use file::check;
pub use queue::MAX_QUEUED;

/// The longest a stopping server waits for the store to write what it was handed.
pub const STOP_WAIT: Duration = Duration::from_secs(10);

/// Where and how the store keeps things.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// The longest a line waits in memory before its batch is written.
    pub sync: Duration,
    /// Lines older than this are deleted (`None`: kept forever).
    pub keep_for: Option<Duration>,
    /// Oldest lines are deleted while the file is larger than this.
    pub keep_bytes: Option<u64>,
    /// Chat lines loaded per room at start (`--history`).
    pub history: usize,
    /// Rooms loaded at start, at most (`--max-rooms`, the lobby aside).
    pub max_rooms: usize,
}

/// A store opened and read, not yet writing: [`Opened::start`] starts its threads once the
/// server has somewhere to hand their answers.
pub struct Opened {
    file: file::Opened,
    config: StoreConfig,
    /// What the hub starts with.
    pub restored: Restored,
}

/// Opens the store (making it if need be), and reads what the chat starts with. An error is
/// one line naming the file and what is wrong.
pub fn open(config: StoreConfig) -> Result<Opened, String> {
    let file = file::open(&config.path)?;
    let restored = load::load(&file.db, &config)
        .map_err(|e| format!("store {}: cannot read: {e}", config.path.display()))?;
    Ok(Opened {
        file,
        config,
        restored,
    })
}

impl Opened {
    /// The file, and what it holds: for the line printed at start.
    pub fn describe(&self) -> String {
        let path = std::fs::canonicalize(&self.file.path).unwrap_or(self.file.path.clone());
        let lines: usize = self.restored.rooms.iter().map(|r| r.lines.len()).sum();
        format!(
            "{} ({} rooms, {lines} lines loaded; next line id {})",
            path.display(),
            self.restored.rooms.len(),
            self.restored.said + 1
        )
    }

    /// Starts the writer and the reader; what the reader answers is handed to `deliver`.
    pub fn start(
        self,
        deliver: impl Fn(Incoming) + Send + Sync + 'static,
    ) -> std::io::Result<Store> {
        let queue = Arc::new(queue::Queue::new(MAX_QUEUED));
        let written = Arc::new(reader::Written::new(self.restored.said));
        let reads = reader::start(&self.file.path, Arc::clone(&written), deliver)?;
        let done = writer::start(self.file, self.config, Arc::clone(&queue), written)?;
        Ok(Store {
            queue,
            reads,
            done: Arc::new(std::sync::Mutex::new(Some(done))),
        })
    }
}

/// The server's end of the store.
#[derive(Clone)]
pub struct Store {
    queue: Arc<queue::Queue>,
    reads: reader::Reads,
    done: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Store {
    /// Writes what is queued, then stops; waits for the writer at most `wait` (SIGTERM loses
    /// nothing that was handed over).
    pub fn stop(&self, wait: Duration) {
        self.queue.stop();
        self.reads.stop();
        let done = self.done.lock().ok().and_then(|mut d| d.take());
        if let Some(done) = done {
            let until = std::time::Instant::now() + wait;
            while !done.is_finished() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if done.is_finished() {
                let _ = done.join();
            } else {
                log::warn!("store: still writing after {wait:?}; stopping without it");
            }
        }
    }
}

impl Keeper for Store {
    fn keep(&self, what: &Keep<'_>) {
        match *what {
            Keep::Line {
                room,
                id,
                at,
                from,
                me,
                text,
            } => self
                .queue
                .line(queue::LineRecord::new(id, at, room, from, me, text)),
            Keep::Topic { room, by, text } => self.queue.record(queue::Record::Topic {
                room: room.into(),
                by: by.into(),
                at: load::unix_us(),
                text: text.into(),
            }),
            Keep::Ban { ip, secs, by } => self.queue.record(queue::Record::Ban {
                ip,
                until: load::unix_secs().saturating_add(secs),
                by: by.into(),
            }),
            Keep::Unban(ip) => self.queue.record(queue::Record::Unban(ip)),
            Keep::Account { name, hash } => self.queue.record(queue::Record::Account {
                name: name.into(),
                hash: hash.into(),
            }),
            Keep::Unregistered(name) => self.queue.record(queue::Record::Unregistered(name.into())),
            Keep::AccountBan { name, secs } => self.queue.record(queue::Record::AccountBan {
                name: name.into(),
                until: if secs == 0 {
                    0
                } else {
                    load::unix_secs().saturating_add(secs)
                },
            }),
            Keep::Waiting { to, from, at, text } => self.queue.record(queue::Record::Waiting {
                to: to.into(),
                from: from.into(),
                at,
                text: text.into(),
            }),
            Keep::Delivered(name) => self.queue.record(queue::Record::Delivered(name.into())),
        }
    }

    fn ask(&self, what: &Ask<'_>) -> bool {
        // Answered once every line said before it is in the file, which is written now.
        let said = self.queue.said();
        self.queue.hurry();
        self.reads.ask(what, said)
    }
}
