//! What the hub handed the store and the writer has not written yet: a bounded queue between
//! the loop (or the room lock) and the writer thread. Putting a record in is one short lock and
//! never waits for the disk; past [`MAX_QUEUED`] bytes of lines, the oldest unwritten lines are
//! dropped, counted, and warned of, so a store that falls behind costs memory up to a bound
//! and then history, never the chat.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::metrics::METRICS;

/// Most bytes of lines waiting to be written.
pub const MAX_QUEUED: usize = 64 << 20;

/// A chat line to write: its room, sender and text in one allocation.
pub struct LineRecord {
    pub id: u64,
    pub at: u64,
    pub me: bool,
    room_len: u32,
    from_len: u32,
    parts: Box<str>,
}

impl LineRecord {
    pub fn new(id: u64, at: u64, room: &str, from: &str, me: bool, text: &str) -> LineRecord {
        let mut parts = String::with_capacity(room.len() + from.len() + text.len());
        parts.push_str(room);
        parts.push_str(from);
        parts.push_str(text);
        LineRecord {
            id,
            at,
            me,
            room_len: room.len() as u32,
            from_len: from.len() as u32,
            parts: parts.into(),
        }
    }

    pub fn room(&self) -> &str {
        &self.parts[..self.room_len as usize]
    }

    pub fn from(&self) -> &str {
        &self.parts[self.room_len as usize..(self.room_len + self.from_len) as usize]
    }

    pub fn text(&self) -> &str {
        &self.parts[(self.room_len + self.from_len) as usize..]
    }

    /// What it holds of memory, about.
    fn size(&self) -> usize {
        size_of::<LineRecord>() + self.parts.len()
    }
}

/// Anything else to write: rare and small (a rate-limited command made each).
pub enum Record {
    Topic {
        room: Box<str>,
        by: Box<str>,
        at: u64,
        text: Box<str>,
    },
    Ban {
        ip: IpAddr,
        until: u64,
        by: Box<str>,
    },
    Unban(IpAddr),
    /// An account made or its password changed: name, hash.
    Account {
        name: Box<str>,
        hash: Box<str>,
    },
    Unregistered(Box<str>),
    /// Banned until then (Unix seconds; 0: not banned).
    AccountBan {
        name: Box<str>,
        until: u64,
    },
    Waiting {
        to: Box<str>,
        from: Box<str>,
        at: u64,
        text: Box<str>,
    },
    Delivered(Box<str>),
}

/// What the writer takes at once.
#[derive(Default)]
pub struct Batch {
    pub lines: Vec<LineRecord>,
    pub records: Vec<Record>,
    /// The highest line id handed over so far, written or dropped: the counter to keep.
    pub said: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.records.is_empty()
    }
}

#[derive(Default)]
struct State {
    lines: VecDeque<LineRecord>,
    records: Vec<Record>,
    bytes: usize,
    said: u64,
    dropped: u64,
    stopping: bool,
    /// A question waits for what is queued: the writer takes it now, not at its next sync.
    hurried: bool,
}

/// The queue, shared by the handle and the writer.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    /// Bytes of lines at most ([`MAX_QUEUED`]; tests set less).
    cap: usize,
}

impl Queue {
    pub fn new(cap: usize) -> Queue {
        Queue {
            cap,
            ..Queue::default()
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn line(&self, line: LineRecord) {
        let mut s = self.state();
        let was_empty = s.lines.is_empty() && s.records.is_empty();
        s.said = s.said.max(line.id);
        s.bytes += line.size();
        s.lines.push_back(line);
        let mut dropped = 0;
        while s.bytes > self.cap
            && let Some(old) = s.lines.pop_front()
        {
            s.bytes -= old.size();
            dropped += 1;
        }
        if dropped > 0 {
            let before = s.dropped;
            s.dropped += dropped;
            METRICS.store_dropped(dropped);
            if before == 0 || (before + dropped).ilog2() > before.max(1).ilog2() {
                log::warn!(
                    "store: the disk is behind; {} lines dropped unwritten so far",
                    s.dropped
                );
            }
        }
        METRICS.store_queued(s.lines.len());
        drop(s);
        if was_empty {
            self.ready.notify_one();
        }
    }

    pub fn record(&self, record: Record) {
        let mut s = self.state();
        let was_empty = s.lines.is_empty() && s.records.is_empty();
        s.records.push(record);
        drop(s);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Everything queued, once it is `not_before` and something is; an empty batch if
    /// nothing is by `idle_until`; `None` once stopping and empty.
    pub fn take(&self, not_before: Instant, idle_until: Option<Instant>) -> Option<Batch> {
        let mut s = self.state();
        loop {
            let empty = s.lines.is_empty() && s.records.is_empty();
            if s.stopping && empty {
                return None;
            }
            let now = Instant::now();
            if !empty && (now >= not_before || s.stopping || s.hurried) {
                break;
            }
            if empty && idle_until.is_some_and(|t| now >= t) {
                return Some(Batch::default());
            }
            s = if empty {
                match idle_until {
                    Some(t) => {
                        self.ready
                            .wait_timeout(s, t - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => self.ready.wait(s).unwrap_or_else(|e| e.into_inner()),
                }
            } else {
                self.ready
                    .wait_timeout(s, not_before - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            };
        }
        s.bytes = 0;
        s.hurried = false;
        METRICS.store_queued(0);
        Some(Batch {
            lines: std::mem::take(&mut s.lines).into(),
            records: std::mem::take(&mut s.records),
            said: s.said,
        })
    }

    /// The highest line id handed over so far.
    pub fn said(&self) -> u64 {
        self.state().said
    }

    /// Someone waits for what is queued to be written (a question about the lines said so
    /// far): the writer takes it at once instead of at its next sync.
    pub fn hurry(&self) {
        let mut s = self.state();
        let waiting = !s.lines.is_empty() || !s.records.is_empty();
        if waiting && !s.hurried {
            s.hurried = true;
            drop(s);
            self.ready.notify_one();
        }
    }

    /// The writer writes what is queued, then ends.
    pub fn stop(&self) {
        self.state().stopping = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_lines_and_keeps_the_counter() {
        let one = LineRecord::new(1, 0, "lobby", "ana", false, "hello").size();
        let q = Queue::new(one * 3);
        for id in 1..=5 {
            q.line(LineRecord::new(id, 0, "lobby", "ana", false, "hello"));
        }
        q.record(Record::Unban(IpAddr::from([127, 0, 0, 1])));
        let batch = q.take(Instant::now(), None).unwrap();
        let ids: Vec<u64> = batch.lines.iter().map(|l| l.id).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert_eq!(batch.said, 5);
        assert_eq!(batch.records.len(), 1);
        let l = &batch.lines[0];
        assert_eq!(
            (l.room(), l.from(), l.text(), l.me),
            ("lobby", "ana", "hello", false)
        );
        q.stop();
        assert!(q.take(Instant::now(), None).is_none(), "stopped and empty");
    }

    #[test]
    fn a_hurried_queue_hands_over_what_it_has_before_its_time() {
        let q = Queue::new(MAX_QUEUED);
        let later = Instant::now() + std::time::Duration::from_secs(3600);
        q.hurry(); // nothing queued: nothing to hurry
        q.line(LineRecord::new(1, 0, "r", "b", false, "one"));
        q.hurry();
        assert_eq!(q.take(later, None).unwrap().lines.len(), 1);
        // Taken: the next batch waits for its time again.
        q.line(LineRecord::new(2, 0, "r", "b", false, "two"));
        let soon = Instant::now() + std::time::Duration::from_millis(30);
        assert_eq!(q.take(soon, None).unwrap().lines.len(), 1);
        assert!(
            Instant::now() >= soon,
            "taken before its time without a hurry"
        );
    }

    #[test]
    fn a_stopping_queue_hands_over_what_it_has_at_once() {
        let q = Queue::new(MAX_QUEUED);
        q.line(LineRecord::new(7, 0, "r", "b", true, "waves"));
        q.stop();
        let later = Instant::now() + std::time::Duration::from_secs(3600);
        assert_eq!(q.take(later, None).unwrap().lines.len(), 1);
        assert!(q.take(later, None).is_none());
    }
}
