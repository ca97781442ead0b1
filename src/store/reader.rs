//! The reader thread: answers the questions that need the disk (`/history before`, `/search`)
//! on a connection of its own, beside the writer (WAL lets a reader go on while a batch is
//! written). Questions wait in a bounded queue; a full one is refused at once, and the asker
//! told to try again. Answers go back through the server's inbox, as the cluster link's news do.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::file;
use super::load::stored_line;
use crate::command::MAX_PAGE;
use crate::hub::{Ask, Found, Page, SEARCH_RESULTS, StoredLine};
use crate::news::Incoming;

/// The longest a question waits for the lines said before it to be written.
const WRITTEN_WAIT: Duration = Duration::from_secs(1);

/// The id of the last line written (or given up on) by the writer: what a question waits for.
/// The writer advances it after each batch and wakes whoever waits; nothing polls it.
pub struct Written {
    said: Mutex<u64>,
    advanced: Condvar,
}

impl Written {
    pub fn new(said: u64) -> Written {
        Written {
            said: Mutex::new(said),
            advanced: Condvar::new(),
        }
    }

    /// Every line up to `said` is written: wakes the questions waiting for them.
    pub fn advance(&self, said: u64) {
        let mut now = self.said.lock().unwrap_or_else(|e| e.into_inner());
        *now = (*now).max(said);
        drop(now);
        self.advanced.notify_all();
    }

    /// Waits (at most [`WRITTEN_WAIT`]) until line `after` is in the file: a client's
    /// question sees what it said just before.
    fn wait_for(&self, after: u64) {
        let until = Instant::now() + WRITTEN_WAIT;
        let mut now = self.said.lock().unwrap_or_else(|e| e.into_inner());
        while *now < after {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            now = match self.advanced.wait_timeout(now, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Questions waiting at most.
const WAITING: usize = 256;

enum Question {
    Before {
        to: usize,
        serial: u64,
        after: u64,
        room: String,
        before: u64,
        n: usize,
    },
    Search {
        to: usize,
        serial: u64,
        after: u64,
        room: Option<String>,
        words: String,
    },
    Stop,
}

/// The server's end of the reader.
#[derive(Clone)]
pub struct Reads {
    tx: SyncSender<Question>,
}

impl Reads {
    /// Queues `what`, to be answered once line `after` is written.
    pub fn ask(&self, what: &Ask<'_>, after: u64) -> bool {
        let question = match *what {
            Ask::Before {
                to,
                serial,
                room,
                before,
                n,
            } => Question::Before {
                to,
                serial,
                after,
                room: room.to_ascii_lowercase(),
                before,
                n: n.min(MAX_PAGE),
            },
            Ask::Search {
                to,
                serial,
                room,
                words,
            } => Question::Search {
                to,
                serial,
                after,
                room: room.map(str::to_ascii_lowercase),
                words: words.to_string(),
            },
        };
        !matches!(self.tx.try_send(question), Err(TrySendError::Full(_)))
    }

    pub fn stop(&self) {
        let _ = self.tx.try_send(Question::Stop);
    }
}

pub fn start(
    path: &Path,
    written: Arc<Written>,
    deliver: impl Fn(Incoming) + Send + Sync + 'static,
) -> std::io::Result<Reads> {
    let db = file::reader(path).map_err(std::io::Error::other)?;
    let (tx, rx) = sync_channel(WAITING);
    let deliver: Arc<dyn Fn(Incoming) + Send + Sync> = Arc::new(deliver);
    std::thread::Builder::new()
        .name("store-reader".into())
        .spawn(move || answer(&db, &rx, &written, &*deliver))?;
    Ok(Reads { tx })
}

fn answer(
    db: &Connection,
    questions: &Receiver<Question>,
    written: &Written,
    deliver: &dyn Fn(Incoming),
) {
    while let Ok(question) = questions.recv() {
        match question {
            Question::Stop => break,
            Question::Before {
                to,
                serial,
                after,
                room,
                before,
                n,
            } => {
                written.wait_for(after);
                let (name, lines, more) = before_id(db, &room, before, n).unwrap_or_else(|e| {
                    log::warn!("store: reading history failed: {e}");
                    (None, Vec::new(), false)
                });
                deliver(Incoming::Page(Page {
                    to,
                    serial,
                    room: name.unwrap_or(room),
                    before,
                    lines,
                    more,
                }));
            }
            Question::Search {
                to,
                serial,
                after,
                room,
                words,
            } => {
                written.wait_for(after);
                let (lines, failed) = match search(db, room.as_deref(), &words) {
                    Ok(lines) => (lines, None),
                    Err(e) => {
                        log::warn!("store: search failed: {e}");
                        (Vec::new(), Some("the search failed".to_string()))
                    }
                };
                deliver(Incoming::Found(Found {
                    to,
                    serial,
                    words,
                    lines,
                    failed,
                }));
            }
        }
    }
}

/// The `n` lines before line `before` in its room (in `room`, if it is no line kept), oldest
/// first; the room's name, and whether older lines are left.
fn before_id(
    db: &Connection,
    room: &str,
    before: u64,
    n: usize,
) -> rusqlite::Result<(Option<String>, Vec<StoredLine>, bool)> {
    let before = before.min(i64::MAX as u64) as i64;
    let found: Option<(i64, String)> = db
        .prepare_cached(
            "SELECT id, name FROM rooms WHERE id = coalesce(
                 (SELECT room FROM lines WHERE id = ?2), (SELECT id FROM rooms WHERE key = ?1))",
        )?
        .query_row(params![room, before], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((room, name)) = found else {
        return Ok((None, Vec::new(), false));
    };
    let mut stmt = db.prepare_cached(
        "SELECT id, at, sender, me, text FROM lines
         WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let mut lines: Vec<StoredLine> = stmt
        .query_map(params![room, before, n as i64 + 1], stored_line)?
        .collect::<rusqlite::Result<_>>()?;
    let more = lines.len() > n;
    lines.truncate(n);
    lines.reverse();
    Ok((Some(name), lines, more))
}

/// The newest lines with every one of `words` (each taken as a word, never as FTS5 syntax).
fn search(
    db: &Connection,
    room: Option<&str>,
    words: &str,
) -> rusqlite::Result<Vec<(String, StoredLine)>> {
    let query = match_query(words);
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = db.prepare_cached(
        "SELECT l.id, l.at, l.sender, l.me, l.text, r.name FROM words w
         JOIN lines l ON l.id = w.rowid JOIN rooms r ON r.id = l.room
         WHERE words MATCH ?1 AND (?2 IS NULL OR r.key = ?2)
         ORDER BY w.rowid DESC LIMIT ?3",
    )?;
    stmt.query_map(params![query, room, SEARCH_RESULTS as i64], |r| {
        Ok((r.get::<_, String>(5)?, stored_line(r)?))
    })?
    .collect()
}

/// `words` as an FTS5 query: the words split as the index splits them (`unicode61`: runs of
/// letters and digits), each one a quoted string, all of them required; at most 16. The index
/// keeps no positions (`detail = none`), so there are no phrases to ask for: `don't` is `don`
/// and `t`. Nothing a client types is read as FTS5 syntax.
pub fn match_query(words: &str) -> String {
    words
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::match_query;

    #[test]
    fn what_a_client_types_is_never_fts_syntax() {
        assert_eq!(match_query("  ship  it "), r#""ship" "it""#);
        assert_eq!(match_query(r#"a" OR "b"#), r#""a" "OR" "b""#);
        assert_eq!(
            match_query("NEAR(x y) col:z * don't"),
            r#""NEAR" "x" "y" "col" "z" "don" "t""#
        );
        assert_eq!(match_query("café über_alles"), r#""café" "über" "alles""#);
        assert_eq!(match_query(""), "");
        assert_eq!(match_query("*** ((( "), "");
        let many = "w ".repeat(40);
        assert_eq!(match_query(&many).matches('"').count(), 32);
    }

    #[test]
    fn every_query_it_makes_is_one_the_index_takes() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE VIRTUAL TABLE words USING fts5 (text, content = '', contentless_delete = 1,
                 detail = none);
             INSERT INTO words (rowid, text) VALUES (1, 'we don''t ship on Friday, café open');",
        )
        .unwrap();
        let hits = |words: &str| -> i64 {
            db.query_row(
                "SELECT count(*) FROM words WHERE words MATCH ?1",
                [match_query(words)],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(hits("don't"), 1);
        assert_eq!(hits("SHIP friday"), 1);
        assert_eq!(hits("\"ship\" OR NEAR(x"), 0);
        assert_eq!(
            hits("Cafe"),
            1,
            "diacritics are folded, as the index folds them"
        );
        assert_eq!(hits("monday"), 0);
    }
}
