//! Rooms: entering and leaving them, moving between them, their topics and their history.

use std::sync::atomic::Ordering;

use super::history::Said;
use super::json::Obj;
use super::notice::{Msg, line_id, said_json};
use super::{
    Body, CATCH_UP, ClientId, Hub, MAX_UNSENT, MUTED_MOVE_EVERY, Outbox, Room, RoomId, Unsent,
};
use crate::metrics::{METRICS, Metrics};
use crate::node_wire::Kept;

impl Hub {
    /// Whether client `id` is in `room` (a name, matched ignoring case).
    pub(super) fn is_in(&self, id: ClientId, room: &str) -> bool {
        self.room_of(id)
            .is_some_and(|r| r.eq_ignore_ascii_case(room))
    }

    /// A chat line (`<NAME> TEXT`, or `* NAME TEXT` for a `/me`): to the sender's room, and
    /// into its history.
    pub(super) fn chat(&mut self, id: ClientId, me: bool, text: &str, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| m.room) else {
            return;
        };
        let (at, seq) = (self.wall_us(), self.said + 1);
        self.said = seq;
        Metrics::add(&METRICS.lines_received, 1);
        // Borrowed, not copied: nothing is allocated for the JSON form unless someone reads it.
        let Some(Some(member)) = self.members.get(id) else {
            return;
        };
        let node = &self.node_id;
        let msg = self
            .notices
            .said(me, &self.rooms[room].name, &member.name, text, || {
                line_id(node, seq)
            });
        self.broadcast_said(room, Some(id), &msg, out);
        let msg = msg.text;
        if self.config.in_cluster()
            && let Ok(text) = std::str::from_utf8(&msg[..msg.len() - 1])
        {
            let room = &self.rooms[room].name;
            if self.link_up {
                let line = Body::Line {
                    room,
                    at,
                    seq,
                    text,
                    late: false,
                };
                self.config.tell_nodes(out, &line);
            } else {
                // Published when the link is back, for the other nodes' history.
                if self.unsent.len() == MAX_UNSENT {
                    self.unsent.pop_front();
                }
                self.unsent.push_back(Unsent {
                    room: room.clone(),
                    at,
                    seq,
                    text: text.into(),
                });
            }
        }
        let node = self.node_id.clone();
        self.remember(
            room,
            Said {
                at,
                node,
                seq,
                line: msg,
            },
        );
    }

    /// Keeps a chat line in its room's history, in its place by time; whether it is new here
    /// (`false`: the room has it already).
    pub(super) fn remember(&mut self, room: RoomId, said: Said) -> bool {
        self.rooms[room].history.add(said, self.config.history)
    }

    /// Sends a chat line to every member of `room` but `except`, and but those waiting for
    /// the room's history (the line is in it).
    pub(super) fn broadcast_said(
        &mut self,
        room: RoomId,
        except: Option<ClientId>,
        msg: &Msg,
        out: &mut impl Outbox,
    ) {
        let r = &self.rooms[room];
        let to = if r.waiting.is_empty() {
            // The sender, if any, is a member.
            r.members.len() - usize::from(except.is_some())
        } else {
            let counted = |m: &&ClientId| Some(**m) != except && !r.waiting.contains(m);
            r.members.iter().filter(counted).count()
        };
        Metrics::add(&METRICS.deliveries, to as u64);
        if self.rooms[room].waiting.is_empty() {
            return self.broadcast(room, except, msg, out);
        }
        self.announce_joins(out);
        let room = &self.rooms[room];
        for &to in &room.members {
            if Some(to) != except && !room.waiting.contains(&to) {
                self.send(to, msg, out);
            }
        }
    }

    /// Publishes the lines said here while the link was down, for the others' history.
    pub(super) fn publish_unsent(&mut self, out: &mut impl Outbox) {
        for u in std::mem::take(&mut self.unsent) {
            let line = Body::Line {
                room: &u.room,
                at: u.at,
                seq: u.seq,
                text: &u.text,
                late: true,
            };
            self.config.tell_nodes(out, &line);
        }
    }

    pub(super) fn room_id(&self, name: &str) -> Option<RoomId> {
        self.by_room
            .get(name.to_ascii_lowercase().as_str())
            .copied()
    }

    pub(super) fn make_room(&mut self, name: &str) -> RoomId {
        let history = self
            .stored
            .remove(name.to_ascii_lowercase().as_str())
            .unwrap_or_default();
        let id = self.rooms.insert(Room {
            name: name.into(),
            members: Vec::new(),
            remote: 0,
            topic: self.topics.get(name.to_ascii_lowercase().as_str()).cloned(),
            history,
            waiting: Vec::new(),
            caught_up_by: None,
            json_members: 0,
        });
        self.by_room.insert(name.to_ascii_lowercase().into(), id);
        METRICS
            .rooms
            .store(self.rooms.len() as i64, Ordering::Relaxed);
        id
    }

    /// Puts `id` in `room` (it is in no room's member list). Returns whether it is the only
    /// client here in it.
    pub(super) fn enter(&mut self, id: ClientId, room: RoomId) -> bool {
        let members = &mut self.rooms[room].members;
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.room = room;
            m.slot = members.len();
        }
        members.push(id);
        let first = members.len() == 1;
        if self.reads_json(id) {
            self.rooms[room].json_members += 1;
        }
        first
    }

    /// Takes `id` out of its room's member list; removes the room if that left it empty (the
    /// lobby stays). Returns the room, if it still exists. In a cluster, a room no client
    /// here is in any more is not followed (its lines are not wanted here).
    pub(super) fn exit(&mut self, id: ClientId, out: &mut impl Outbox) -> Option<RoomId> {
        let (room, slot) = self.member(id).map(|m| (m.room, m.slot))?;
        let members = &mut self.rooms[room].members;
        members.swap_remove(slot);
        if let Some(&moved) = members.get(slot)
            && let Some(Some(m)) = self.members.get_mut(moved)
        {
            m.slot = slot;
        }
        if self.reads_json(id) {
            self.rooms[room].json_members -= 1;
        }
        if !self.rooms[room].waiting.is_empty() {
            self.rooms[room].waiting.retain(|&w| w != id);
            if self.rooms[room].waiting.is_empty() {
                self.done_catching_up(room);
            }
        }
        if self.rooms[room].members.is_empty() && room != self.lobby && self.config.in_cluster() {
            out.unfollow(&self.rooms[room].name);
        }
        if self.rooms[room].members.is_empty() && self.rooms[room].remote == 0 && room != self.lobby
        {
            let gone = self.rooms.remove(room);
            METRICS
                .rooms
                .store(self.rooms.len() as i64, Ordering::Relaxed);
            self.by_room.remove(gone.name.to_ascii_lowercase().as_str());
            return None;
        }
        Some(room)
    }

    /// `/join ROOM` (and `/part`, to the lobby): leaves the current room, enters that one,
    /// making it if needed; both rooms are told.
    pub(super) fn join(&mut self, id: ClientId, to: &str, out: &mut impl Outbox) {
        let Some(from) = self.member(id).map(|m| m.room) else {
            return;
        };
        let target = self.room_id(to);
        if target == Some(from) {
            let msg = format!("you are already in #{}", self.rooms[from].name);
            return self.error(id, "already_there", &msg, out);
        }
        let now = self.now;
        if let Some(m) = self.member(id)
            && m.muted
            && m.moved_at
                .is_some_and(|t| now.saturating_duration_since(t) < MUTED_MOVE_EVERY)
        {
            let msg = "you are muted: one room move a minute";
            return self.error(id, "muted", &msg, out);
        }
        if target.is_none() && self.rooms.len() >= self.config.max_rooms {
            let max = self.config.max_rooms;
            return self.error(
                id,
                "too_many_rooms",
                &format_args!("too many rooms (max {max})"),
                out,
            );
        }
        // Only a move made counts against a muted client's one a minute.
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.moved_at = Some(now);
        }
        // Whoever is about to hear of the move has heard of the joins before it.
        self.announce_joins(out);
        let name = self.name(id).unwrap_or_default().to_string();
        let from_name = self.rooms[from].name.clone();
        let target = match target {
            Some(room) => room,
            None => self.make_room(to),
        };
        let to_name = self.rooms[target].name.clone();
        let (went, came) = self.notices.moved(&name, &from_name, &to_name);
        if let Some(from) = self.exit(id, out) {
            self.broadcast(from, None, &went, out);
        }
        let first = self.enter(id, target);
        self.broadcast(target, Some(id), &came, out);
        self.config.tell_nodes(
            out,
            &Body::Moved {
                name: &name,
                from: &from_name,
                to: &to_name,
            },
        );
        let n = self.rooms[target].members.len() + self.rooms[target].remote;
        let text = format!("* you are in #{to_name} ({n} here)");
        // `rooms`: every room the client is in now (one, until a connection may be in
        // several).
        let here = self.notices.event("room", &text, |o| {
            o.str("room", &to_name)
                .num("here", n as u64)
                .strs("rooms", [&*to_name])
        });
        self.send(id, &here, out);
        self.show_topic(id, out);
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
        self.show_history(id, None, true, out);
    }

    /// `id` is shown `room`'s history once the cluster has told it, or after [`CATCH_UP`].
    fn wait_for_history(&mut self, id: ClientId, room: RoomId) {
        let r = &mut self.rooms[room];
        r.waiting.push(id);
        if r.caught_up_by.is_none() {
            r.caught_up_by = Some(self.now + CATCH_UP);
            self.catching_up.push(room);
        }
    }

    fn done_catching_up(&mut self, room: RoomId) {
        self.rooms[room].caught_up_by = None;
        self.catching_up.retain(|&r| r != room);
    }

    /// Shows the clients waiting in `room` its history, as this node has it now.
    fn end_wait(&mut self, room: RoomId, out: &mut impl Outbox) {
        let waiting = std::mem::take(&mut self.rooms[room].waiting);
        self.done_catching_up(room);
        for id in waiting {
            self.show_history(id, None, true, out);
        }
    }

    /// The cluster told `room`'s history (see [`Outbox::follow`]).
    pub(super) fn followed(&mut self, room: &str, lines: &[Kept<'_>], out: &mut impl Outbox) {
        self.stored(lines);
        if let Some(room) = self.room_id(room)
            && !self.rooms[room].waiting.is_empty()
        {
            self.end_wait(room, out);
        }
    }

    /// The clients that waited [`CATCH_UP`] for a room's history are shown what there is.
    pub(super) fn stop_waiting_for_history(&mut self, out: &mut impl Outbox) {
        let now = self.now;
        let due: Vec<RoomId> = self
            .catching_up
            .iter()
            .copied()
            .filter(|&room| self.rooms[room].caught_up_by.is_some_and(|by| by <= now))
            .collect();
        for room in due {
            self.end_wait(room, out);
        }
    }

    /// The topic of the client's room, if it has one.
    pub(super) fn show_topic(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| &self.rooms[m.room]) else {
            return;
        };
        if let Some(topic) = &room.topic {
            let text = format!("* topic of #{}: {topic}", room.name);
            let (name, topic) = (room.name.clone(), topic.clone());
            let msg = self.notices.event("topic", &text, |o| {
                o.str("room", &name)
                    .opt("by", None)
                    .opt("text", Some(&topic))
            });
            self.send(id, &msg, out);
        }
    }

    /// `/topic`: the topic, or that there is none.
    pub(super) fn show_topic_always(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| &self.rooms[m.room]) else {
            return;
        };
        if room.topic.is_none() {
            let name = room.name.clone();
            let text = format!("* #{name} has no topic");
            let msg = self.notices.event("topic", &text, |o| {
                o.str("room", &name).opt("by", None).opt("text", None)
            });
            return self.send(id, &msg, out);
        }
        self.show_topic(id, out);
    }

    /// The last `last` (or all) lines of the client's room, bracketed; on entering a room
    /// (`entering`), nothing at all when it has none.
    pub(super) fn show_history(
        &self,
        id: ClientId,
        last: Option<usize>,
        entering: bool,
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.member(id).map(|m| &self.rooms[m.room]) else {
            return;
        };
        let kept = room.history.len();
        let shown = last.unwrap_or(kept).min(kept);
        if shown == 0 && entering {
            return;
        }
        if self.reads_json(id) {
            // One event, each line with its own time and id.
            let lines: Vec<String> = room
                .history
                .entries()
                .skip(kept - shown)
                .map(|s| {
                    let text = std::str::from_utf8(&s.line).unwrap_or_default();
                    said_json(&room.name, text, s.at, &line_id(&s.node, s.seq))
                })
                .collect();
            let event = Obj::new("history", self.notices.now)
                .str("room", &room.name)
                .objs("lines", lines.iter().map(String::as_str))
                .line();
            return out.send(id, &super::line(event.as_bytes()));
        }
        let plural = if shown == 1 { "" } else { "s" };
        let head = format!("* history of #{}: {shown} line{plural}\n", room.name);
        out.send(id, &super::line(head.as_bytes()));
        for msg in room.history.lines().skip(kept - shown) {
            out.send(id, msg);
        }
        out.send(id, &super::line(b"* end of history\n"));
    }
}
