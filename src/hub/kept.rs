//! What the hub remembers beyond its memory, as the hub sees it: the records it hands a store
//! to keep ([`Keep`], through [`super::Outbox::keep`]), the questions it asks one ([`Ask`]),
//! and what comes back: what a restarted server starts with ([`Restored`]), a page of older
//! history ([`Page`]) and the lines a search found ([`Found`]). The store (`crate::store`)
//! implements [`Keeper`] on threads of its own; the hub never waits for it.

use std::net::IpAddr;
use std::time::Duration;

use super::history::Said;
use super::json::Obj;
use super::notice::{line_id, parse_said, said_json};
use super::{ClientId, Hub, Outbox, RoomId};

/// A record for the store.
#[derive(Debug, Clone, Copy)]
pub enum Keep<'a> {
    /// A chat line (`/me` when `me`), as said: its id, server time (µs of Unix time).
    Line {
        room: &'a str,
        id: u64,
        at: u64,
        from: &'a str,
        me: bool,
        text: &'a str,
    },
    /// A room's topic, set by `by` (now: the store says when).
    Topic {
        room: &'a str,
        by: &'a str,
        text: &'a str,
    },
    /// An address banned for `secs` seconds from now.
    Ban {
        ip: IpAddr,
        secs: u64,
        by: &'a str,
    },
    Unban(IpAddr),
    /// An account made, or its password changed: its name and its password's hash.
    Account {
        name: &'a str,
        hash: &'a str,
    },
    /// An account gone (with the messages waiting for it).
    Unregistered(&'a str),
    /// An account banned for `secs` seconds from now (0: no more).
    AccountBan {
        name: &'a str,
        secs: u64,
    },
    /// A private message for an account's owner, who is away.
    Waiting {
        to: &'a str,
        from: &'a str,
        at: u64,
        text: &'a str,
    },
    /// The messages waiting for an account were given to its owner.
    Delivered(&'a str),
}

/// A question for the store; the answer comes back as [`super::Event::Page`] or
/// [`super::Event::Found`].
#[derive(Debug, Clone, Copy)]
pub enum Ask<'a> {
    /// `room`'s `n` lines before line `before`.
    Before {
        to: ClientId,
        serial: u64,
        room: &'a str,
        before: u64,
        n: usize,
    },
    /// The newest lines (at most [`SEARCH_RESULTS`]) with all of `words`, in `room` or in
    /// every room.
    Search {
        to: ClientId,
        serial: u64,
        room: Option<&'a str>,
        words: &'a str,
    },
}

/// The longest a client's lines wait for the store's answer to its question; past it, it is
/// told the store did not answer, and its lines go on.
pub const ASK_WAIT: Duration = Duration::from_secs(5);

/// Most lines a search answers.
pub const SEARCH_RESULTS: usize = 20;

/// Where records are kept: a store's handle implements it, and a driver's outbox hands it
/// over. None of it may wait.
pub trait Keeper {
    fn keep(&self, what: &Keep<'_>);
    /// Queues the question; `false` when the store has too many already (the asker is told
    /// to try again).
    fn ask(&self, what: &Ask<'_>) -> bool;
}

/// One kept chat line, as the store gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub id: u64,
    pub at: u64,
    pub from: String,
    pub me: bool,
    pub text: String,
}

impl StoredLine {
    /// Its text form: `<NAME> TEXT` or `* NAME TEXT`.
    pub fn text_form(&self) -> String {
        if self.me {
            format!("* {} {}", self.from, self.text)
        } else {
            format!("<{}> {}", self.from, self.text)
        }
    }
}

/// A room as a restarted server finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredRoom {
    pub name: String,
    pub topic: Option<String>,
    /// Its last lines, oldest first.
    pub lines: Vec<StoredLine>,
}

/// What a restarted server starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub rooms: Vec<RestoredRoom>,
    /// Address, seconds left, by whom.
    pub bans: Vec<(IpAddr, u64, String)>,
    /// The last line id given: the next is one more.
    pub said: u64,
    pub accounts: Vec<super::accounts::RestoredAccount>,
}

/// A page of a room's older lines, for the client that asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub to: ClientId,
    /// The ask's number: an answer for a client gone meanwhile (its id given to another) is
    /// dropped.
    pub serial: u64,
    pub room: String,
    pub before: u64,
    /// Oldest first.
    pub lines: Vec<StoredLine>,
    /// Older lines are left.
    pub more: bool,
}

/// What a search found, for the client that asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub to: ClientId,
    pub serial: u64,
    pub words: String,
    /// Room and line, newest first.
    pub lines: Vec<(String, StoredLine)>,
    /// The store could not search (the words as given cannot be searched, or it failed).
    pub failed: Option<String>,
}

impl Hub {
    /// What the store kept, before anyone is served: the rooms (at most `--max-rooms`), their
    /// topics and last lines, the bans, and the line counter, so ids go on where they were.
    pub(super) fn restore(&mut self, restored: &Restored) {
        self.said = self.said.max(restored.said);
        let keep = self.config.history;
        for kept in &restored.rooms {
            if !crate::command::valid_name(&kept.name) {
                continue; // not a room chatd could have made: another program's row
            }
            let room = match self.room_id(&kept.name) {
                Some(room) => room,
                None if self.rooms.len() < self.config.max_rooms => self.make_room(&kept.name),
                None => continue,
            };
            if let Some(topic) = kept.topic.as_deref().filter(|t| !has_breaks(t)) {
                self.rooms[room].topic = Some(topic.into());
            }
            for line in &kept.lines {
                if has_breaks(&line.from) || has_breaks(&line.text) {
                    continue;
                }
                let said = Said {
                    at: line.at,
                    node: self.node_id.clone(),
                    seq: line.id,
                    line: self.notices.as_is(&line.text_form()),
                };
                self.rooms[room].history.add(said, keep);
            }
        }
        let bans: Vec<(IpAddr, u64, &str)> = restored
            .bans
            .iter()
            .map(|(ip, secs, by)| (*ip, *secs, by.as_str()))
            .collect();
        self.kept_bans(&bans);
        for account in &restored.accounts {
            if !crate::command::valid_name(&account.name) || account.hash.is_empty() {
                log::warn!("store: an account with an invalid name or no hash: skipped");
                continue;
            }
            self.accounts.insert(&account.name, &account.hash);
            if let Some(a) = self.accounts.get_mut(&account.name) {
                a.banned_until = account
                    .banned
                    .map(|secs| self.now + Duration::from_secs(secs));
                let skip = account.waiting.len().saturating_sub(super::MAX_WAITING);
                a.waiting = account.waiting.iter().skip(skip).cloned().collect();
            }
        }
    }

    /// The number of `id`'s next question.
    fn next_ask(&mut self) -> u64 {
        self.asks += 1;
        self.asks
    }

    /// The store took the question (`id`'s lines wait for the answer), or is too busy (told);
    /// `false`: there is no store.
    fn asked(
        &mut self,
        id: ClientId,
        serial: u64,
        taken: Option<bool>,
        out: &mut impl Outbox,
    ) -> bool {
        match taken {
            None => false,
            Some(true) => {
                self.asking.insert(id, (serial, self.now));
                true
            }
            Some(false) => {
                self.error(id, "busy", &"busy, try again", out);
                true
            }
        }
    }

    /// Whether `to` waits for the answer to question `serial`; no longer, if so.
    fn answered(&mut self, to: ClientId, serial: u64) -> bool {
        if self.asking.get(&to).map(|&(s, _)| s) != Some(serial) {
            return false; // for a client gone meanwhile, or one told already it timed out
        }
        self.asking.remove(&to);
        true
    }

    /// Questions the store has not answered within [`ASK_WAIT`]: their askers are told, and
    /// their lines go on.
    pub(super) fn give_up_asking(&mut self, out: &mut impl Outbox) {
        if self.asking.is_empty() {
            return;
        }
        let now = self.now;
        let late: Vec<ClientId> = self
            .asking
            .iter()
            .filter(|(_, (_, at))| *at + ASK_WAIT <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            self.asking.remove(&id);
            self.error(
                id,
                "store_timeout",
                &"the store did not answer in time",
                out,
            );
            self.replay_held(id, out);
        }
    }

    /// `/history before ID [N]`: from the store, or, without one, from what is in memory.
    pub(super) fn history_before(
        &mut self,
        id: ClientId,
        room: Option<RoomId>,
        line: &str,
        n: usize,
        out: &mut impl Outbox,
    ) {
        let Some(before) = self.line_seq(line) else {
            let msg = format!("no line {line} here");
            return self.error(id, "no_line", &msg, out);
        };
        let serial = self.next_ask();
        // Its room is the line's: the store finds it; the asker's is for an id no longer kept.
        let fallback = room
            .map(|r| self.rooms[r].name.to_string())
            .unwrap_or_default();
        let ask = Ask::Before {
            to: id,
            serial,
            room: &fallback,
            before,
            n,
        };
        let taken = out.ask(ask);
        if self.asked(id, serial, taken, out) {
            return;
        }
        // No store: the rooms' history in memory.
        let in_room = self
            .rooms
            .iter()
            .find(|(_, r)| {
                r.history
                    .entries()
                    .any(|s| s.seq == before && s.node == self.node_id)
            })
            .map(|(r, _)| r)
            .or(room);
        let Some(room) = in_room else {
            return self.no_room(id, out);
        };
        let entries: Vec<&Said> = self.rooms[room].history.entries().collect();
        let end = entries
            .iter()
            .position(|s| s.seq == before && s.node == self.node_id)
            .unwrap_or_else(|| entries.partition_point(|s| s.seq < before));
        let older = &entries[..end];
        let skip = older.len().saturating_sub(n);
        let lines: Vec<Shown> = older[skip..].iter().map(|s| Shown::of(s)).collect();
        let name = self.rooms[room].name.to_string();
        self.show_page(id, &name, line, &lines, skip > 0, out);
    }

    /// The number of line `id` (`SEQ`, or `NODE-SEQ` of this node) when it may be one here.
    fn line_seq(&self, id: &str) -> Option<u64> {
        let seq = match id.rsplit_once('-') {
            Some((node, seq)) if *node == *self.node_id => seq,
            Some(_) => return None,
            None if self.node_id.is_empty() => id,
            None => return None,
        };
        seq.parse().ok()
    }

    /// The store's page of older lines.
    pub(super) fn page(&mut self, page: &Page, out: &mut impl Outbox) {
        if !self.answered(page.to, page.serial) {
            return;
        }
        let room = self
            .room_id(&page.room)
            .map_or_else(|| page.room.clone(), |r| self.rooms[r].name.to_string());
        let lines: Vec<Shown> = page.lines.iter().map(Shown::stored).collect();
        let before = line_id(&self.node_id, page.before);
        self.show_page(page.to, &room, &before, &lines, page.more, out);
        self.replay_held(page.to, out);
    }

    /// A page of history: `* history of #ROOM before ID: N lines` ... `* end of history`,
    /// which says how to go further back when there is more; in JSON one `history` event with
    /// `before` and `more`.
    fn show_page(
        &mut self,
        id: ClientId,
        room: &str,
        before: &str,
        lines: &[Shown],
        more: bool,
        out: &mut impl Outbox,
    ) {
        if self.reads_json(id) {
            let objs: Vec<String> = lines.iter().map(|l| l.json(room, &self.node_id)).collect();
            let event = Obj::new("history", self.notices.now)
                .str("room", room)
                .str("before", before)
                .bool("more", more)
                .objs("lines", objs.iter().map(String::as_str))
                .line();
            return out.send(id, &super::line(event.as_bytes()));
        }
        let plural = if lines.len() == 1 { "" } else { "s" };
        let head = format!(
            "* history of #{room} before {before}: {} line{plural}\n",
            lines.len()
        );
        out.send(id, &super::line(head.as_bytes()));
        for l in lines {
            out.send(id, &super::line(format!("{}\n", l.text).as_bytes()));
        }
        let tail = match lines.first() {
            Some(first) if more => format!(
                "* end of history; older: /history before {}\n",
                line_id(&self.node_id, first.id)
            ),
            _ => "* end of history\n".to_string(),
        };
        out.send(id, &super::line(tail.as_bytes()));
    }

    /// `/search [#ROOM] WORDS`: from the store, or, without one, through what is in memory.
    pub(super) fn search(
        &mut self,
        id: ClientId,
        room: Option<&str>,
        words: &str,
        out: &mut impl Outbox,
    ) {
        let serial = self.next_ask();
        let taken = out.ask(Ask::Search {
            to: id,
            serial,
            room,
            words,
        });
        if self.asked(id, serial, taken, out) {
            return;
        }
        let wanted: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
        let mut found: Vec<(String, Shown)> = Vec::new();
        for (_, r) in self.rooms.iter() {
            if room.is_some_and(|room| !r.name.eq_ignore_ascii_case(room)) {
                continue;
            }
            for s in r.history.entries() {
                let shown = Shown::of(s);
                let (_, _, said) = parse_said(&shown.text);
                let said = said.to_lowercase();
                if wanted.iter().all(|w| said.contains(w.as_str())) {
                    found.push((r.name.to_string(), shown));
                }
            }
        }
        found.sort_by_key(|(_, line)| std::cmp::Reverse((line.at, line.id)));
        found.truncate(SEARCH_RESULTS);
        self.show_found(id, words, &found, out);
    }

    /// The store's search results.
    pub(super) fn found(&mut self, found: &Found, out: &mut impl Outbox) {
        if !self.answered(found.to, found.serial) {
            return;
        }
        if let Some(failed) = &found.failed {
            self.error(found.to, "search_failed", failed, out);
            return self.replay_held(found.to, out);
        }
        let lines: Vec<(String, Shown)> = found
            .lines
            .iter()
            .map(|(room, l)| (room.clone(), Shown::stored(l)))
            .collect();
        self.show_found(found.to, &found.words, &lines, out);
        self.replay_held(found.to, out);
    }

    /// `* search for WORDS: N lines, newest first`, each `* #ROOM ID: <NAME> TEXT`, then `* end
    /// of search`; in JSON one `search` event whose `lines` are `chat` and `me` objects.
    fn show_found(
        &mut self,
        id: ClientId,
        words: &str,
        lines: &[(String, Shown)],
        out: &mut impl Outbox,
    ) {
        if self.reads_json(id) {
            let objs: Vec<String> = lines
                .iter()
                .map(|(room, l)| l.json(room, &self.node_id))
                .collect();
            let event = Obj::new("search", self.notices.now)
                .str("words", words)
                .objs("lines", objs.iter().map(String::as_str))
                .line();
            return out.send(id, &super::line(event.as_bytes()));
        }
        let plural = if lines.len() == 1 { "" } else { "s" };
        let head = format!(
            "* search for {words}: {} line{plural}, newest first\n",
            lines.len()
        );
        out.send(id, &super::line(head.as_bytes()));
        for (room, l) in lines {
            let id_text = line_id(&self.node_id, l.id);
            let text = format!("* #{room} {id_text}: {}\n", l.text);
            out.send(id, &super::line(text.as_bytes()));
        }
        out.send(id, &super::line(b"* end of search\n"));
    }
}

/// A line as a page or a search shows it: its time, number and text form.
struct Shown {
    at: u64,
    id: u64,
    text: String,
}

impl Shown {
    /// Its JSON form (a `chat` or `me` object of `room`, with its time and id).
    fn json(&self, room: &str, node_id: &str) -> String {
        said_json(room, &self.text, self.at, &line_id(node_id, self.id))
    }

    fn of(s: &Said) -> Shown {
        let text = std::str::from_utf8(&s.line).unwrap_or_default();
        Shown {
            at: s.at,
            id: s.seq,
            text: text.trim_end_matches('\n').to_string(),
        }
    }

    fn stored(l: &StoredLine) -> Shown {
        Shown {
            at: l.at,
            id: l.id,
            text: l.text_form(),
        }
    }
}

/// A line break or other control character no chatd line has: a row chatd did not write.
fn has_breaks(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
