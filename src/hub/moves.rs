//! Going from room to room: `/join`, `/part`, and what a switch to text does to a connection
//! in several rooms.
//!
//! A text connection is in one room: `/join` moves it (the room it leaves hears `went to`, the
//! one it enters `came from`), `/part` takes it back to the lobby. A connection that reads JSON
//! collects rooms: `/join` adds one (only that room hears of it) and makes it the room its
//! plain lines go to, `/part ROOM` leaves that one only, and it may end up in none. Either
//! way the client is told, in a `room` event, every room it is in now.

use super::{Body, ClientId, Hub, LOBBY, MOVE_TICK, MUTED_MOVE_EVERY, Outbox, RoomId};

/// [`MUTED_MOVE_EVERY`] in [`MOVE_TICK`]s.
const MUTED_MOVE_TICKS: u32 = (MUTED_MOVE_EVERY.as_millis() / MOVE_TICK.as_millis()) as u32;

impl Hub {
    /// `/join ROOM`: the room, made if needed, becomes the one the client's plain lines go
    /// to; a text client leaves its room for it, a JSON client adds it to its rooms.
    pub(super) fn join(&mut self, id: ClientId, to: &str, out: &mut impl Outbox) {
        let Some(m) = self.member(id) else {
            return;
        };
        let (from, count) = (m.room(), m.room_count());
        let target = self.room_id(to);
        if let Some(t) = target
            && m.in_room(t)
        {
            if from == Some(t) {
                let msg = format!("you are already in #{}", self.rooms[t].name);
                return self.error(id, "already_there", &msg, out);
            }
            // (A JSON client in it already: now the room it speaks in, no one else told.)
            self.speak_in(id, t);
            return self.tell_rooms(id, None, out);
        }
        let since_move = self.move_ticks(false).saturating_sub(m.moved_at);
        if m.muted && m.moved_at != 0 && since_move < MUTED_MOVE_TICKS {
            let msg = "you are muted: one room move a minute";
            return self.error(id, "muted", &msg, out);
        }
        let adding = self.reads_json(id) || from.is_none();
        let most = self.config.max_rooms_per_client;
        if adding && count >= most {
            let msg = format!("you are in {count} rooms already (max {most}): /part one first");
            return self.error(id, "too_many_joined", &msg, out);
        }
        if target.is_none() && !self.make_space() {
            let max = self.config.max_rooms;
            return self.error(
                id,
                "too_many_rooms",
                &format_args!("too many rooms (max {max})"),
                out,
            );
        }
        // Only a move made counts against a muted client's one a minute.
        let now = self.move_ticks(true);
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.moved_at = now;
        }
        let name = self.name(id).unwrap_or_default().to_string();
        let target = match target {
            Some(room) => room,
            None => self.make_room(to),
        };
        let to_name = self.rooms[target].name.clone();
        let first = match from.filter(|_| !adding) {
            Some(from) => {
                // Whoever is about to hear of the move has heard of the joins before it.
                self.announce_joins(out);
                let from_name = self.rooms[from].name.clone();
                let (went, came) = self.notices.moved(&name, &from_name, &to_name);
                if let Some(from) = self.exit(id, from, out) {
                    self.broadcast(from, None, &went, out);
                }
                let first = self.enter(id, target);
                self.broadcast(target, Some(id), &came, out);
                let moved = Body::Moved {
                    name: &name,
                    from: &from_name,
                    to: &to_name,
                };
                self.config.tell_nodes(out, &moved);
                first
            }
            None => {
                let first = self.enter(id, target);
                // Told with the others who join it in this turn, in one line (a page's or a
                // TUI's rejoining after a restart is thousands of joins at once).
                self.pending_room_joins.push((target, id));
                let joined = Body::Joined {
                    name: &name,
                    room: &to_name,
                };
                self.config.tell_nodes(out, &joined);
                first
            }
        };
        self.tell_rooms(id, None, out);
        self.show_topic(id, target, out);
        if first && target != self.lobby && self.config.in_cluster() {
            // Its lines did not come here until now: its history is the cluster's to tell.
            out.follow(&to_name);
            if self.link_up && self.config.history > 0 {
                return self.wait_for_history(id, target);
            }
        }
        if !self.rooms[target].waiting.is_empty() {
            return self.wait_for_history(id, target);
        }
        self.show_history(id, target, None, true, out);
    }

    /// The time in [`MOVE_TICK`]s since the hub began, plus one (0 is never): rounded up for a
    /// move's own time, down for the time it is compared with, so that a muted client's next
    /// move is never allowed early.
    fn move_ticks(&self, up: bool) -> u32 {
        let since = self.now.saturating_duration_since(self.began);
        let tick = MOVE_TICK.as_nanos();
        let ticks = match up {
            true => since.as_nanos().div_ceil(tick),
            false => since.as_nanos() / tick,
        };
        (ticks as u32).saturating_add(1)
    }

    /// `/part [ROOM]`: a text client goes back to the lobby; a JSON client leaves ROOM (by
    /// default the one its plain lines go to), which must be one of its rooms.
    pub(super) fn part(&mut self, id: ClientId, room: Option<&str>, out: &mut impl Outbox) {
        let Some(m) = self.member(id) else {
            return;
        };
        let current = m.room();
        let leaving = match room {
            None => current,
            Some(name) => self.joined_room(id, name),
        };
        let Some(leaving) = leaving else {
            let msg = match room {
                Some(name) => format!("you are not in #{name}"),
                None => "you are in no room".to_string(),
            };
            return self.error(id, "not_in_room", &msg, out);
        };
        if !self.reads_json(id) {
            // (`/part ROOM` of a room one is in: its one room.)
            return self.join(id, LOBBY, out);
        }
        let left = self.leave_room(id, leaving, out);
        self.tell_rooms(id, Some(&left), out);
    }

    /// Takes `id` out of `room`, tells the room and the other nodes; the room's name.
    fn leave_room(&mut self, id: ClientId, room: RoomId, out: &mut impl Outbox) -> Box<str> {
        self.announce_joins(out);
        let name = self.name(id).unwrap_or_default().to_string();
        let room_name = self.rooms[room].name.clone();
        if let Some(room) = self.exit(id, room, out) {
            let msg = self.notices.left(&room_name, &name, None);
            self.broadcast(room, None, &msg, out);
        }
        let parted = Body::Parted {
            name: &name,
            room: &room_name,
        };
        self.config.tell_nodes(out, &parted);
        room_name
    }

    /// `/format text` from a client that read JSON: a text line names no room, so it keeps
    /// the room its plain lines go to and leaves the others (or, in none, goes to the lobby),
    /// and is told so.
    pub(super) fn back_to_text(&mut self, id: ClientId, out: &mut impl Outbox) {
        let others: Vec<RoomId> = self
            .member(id)
            .map(|m| m.also.iter().map(|s| s.room()).collect())
            .unwrap_or_default();
        self.set_json(id, false);
        self.notice(id, "format", &"format: text", out);
        if self.member(id).is_some_and(|m| m.here.is_none()) {
            return self.join(id, LOBBY, out);
        }
        if others.is_empty() {
            return;
        }
        let left: Vec<String> = others
            .into_iter()
            .map(|room| format!("#{}", self.leave_room(id, room, out)))
            .collect();
        let here = self.room_of(id).unwrap_or_default();
        let text = format!(
            "you left {}: a text connection is in one room, #{here}",
            left.join(", ")
        );
        self.notice(id, "rooms_left", &text, out);
    }

    /// `* you are in #ROOM (N here)` (after a part, `* you left #OLD; ...`); in JSON, a `room`
    /// event with every room the client is in now.
    pub(super) fn tell_rooms(&mut self, id: ClientId, left: Option<&str>, out: &mut impl Outbox) {
        let Some(m) = self.member(id) else {
            return;
        };
        let current = m.room().map(|r| &self.rooms[r]);
        let n = current.map_or(0, |r| r.members.len() + r.remote);
        let here = current.map(|r| r.name.clone());
        let rooms: Vec<Box<str>> = m.rooms().map(|r| self.rooms[r].name.clone()).collect();
        let now = match &here {
            Some(room) => format!("you are in #{room} ({n} here)"),
            None => "you are in no room: /join ROOM to talk".to_string(),
        };
        let text = match left {
            Some(old) => format!("* you left #{old}; {now}"),
            None => format!("* {now}"),
        };
        let msg = self.notices.event("room", &text, |o| {
            o.opt("room", here.as_deref())
                .num("here", n as u64)
                .strs("rooms", rooms.iter().map(|r| &**r))
                .opt("left", left)
        });
        self.send(id, &msg, out);
    }
}
