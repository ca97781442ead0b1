//! Rooms: entering and leaving them, moving between them, their topics and their history.

use std::sync::atomic::Ordering;

use super::history::Said;
use super::json::Obj;
use super::kept::Keep;
use super::notice::{Msg, line_id, said_json};
use super::{Body, CATCH_UP, ClientId, Hub, MAX_UNSENT, Outbox, Room, RoomId, Unsent};
use crate::metrics::{METRICS, Metrics};
use crate::node_wire::Kept;

impl Hub {
    /// The room named `room` (matched ignoring case), if client `id` is in it.
    pub(super) fn joined_room(&self, id: ClientId, room: &str) -> Option<RoomId> {
        let room = self.room_id(room)?;
        self.member(id)?.in_room(room).then_some(room)
    }

    /// A chat line (`<NAME> TEXT`, or `* NAME TEXT` for a `/me`): to `room`, which the sender
    /// is in, and into its history.
    pub(super) fn chat(
        &mut self,
        id: ClientId,
        room: RoomId,
        me: bool,
        text: &str,
        out: &mut impl Outbox,
    ) {
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
        let echo = member.echo;
        self.broadcast_said(room, Some(id), &msg, out);
        if echo {
            self.send(id, &msg, out);
        }
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
        if !self.config.in_cluster()
            && let Some(Some(member)) = self.members.get(id)
        {
            out.keep(Keep::Line {
                room: &self.rooms[room].name,
                id: seq,
                at,
                from: &member.name,
                me,
                text,
            });
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
        // A room at rest keeps the name it was first joined by.
        let (name, history) = match self.stored.remove(name.to_ascii_lowercase().as_str()) {
            Some(resting) => (resting.name, resting.history),
            None => (name.into(), Default::default()),
        };
        let id = self.rooms.insert(Room {
            name: name.clone(),
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

    /// `id` is shown `room`'s history once the cluster has told it, or after [`CATCH_UP`].
    pub(super) fn wait_for_history(&mut self, id: ClientId, room: RoomId) {
        let r = &mut self.rooms[room];
        r.waiting.push(id);
        if r.caught_up_by.is_none() {
            r.caught_up_by = Some(self.now + CATCH_UP);
            self.catching_up.push(room);
        }
    }

    pub(super) fn done_catching_up(&mut self, room: RoomId) {
        self.rooms[room].caught_up_by = None;
        self.catching_up.retain(|&r| r != room);
    }

    /// Shows the clients waiting in `room` its history, as this node has it now.
    fn end_wait(&mut self, room: RoomId, out: &mut impl Outbox) {
        let waiting = std::mem::take(&mut self.rooms[room].waiting);
        self.done_catching_up(room);
        for id in waiting.into_iter().filter(|&id| self.member(id).is_some()) {
            self.show_history(id, room, None, true, out);
        }
    }

    /// The cluster told `room`'s history (see [`Outbox::follow`]).
    pub(super) fn followed(&mut self, room: &str, lines: &[Kept<'_>], out: &mut impl Outbox) {
        if self.room_id(room).is_none() && !lines.is_empty() && self.config.history > 0 {
            // A room no one here is in (see [`Outbox::read_room`]): it rests under its name as
            // it was joined (the stream's subjects are lower-cased).
            self.resting(room);
        }
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

    /// The topic of `room`, if it has one.
    pub(super) fn show_topic(&mut self, id: ClientId, room: RoomId, out: &mut impl Outbox) {
        let room = &self.rooms[room];
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

    /// `/topic`: the topic of `room`, or that there is none.
    pub(super) fn show_topic_always(&mut self, id: ClientId, room: RoomId, out: &mut impl Outbox) {
        let r = &self.rooms[room];
        if r.topic.is_none() {
            let name = r.name.clone();
            let text = format!("* #{name} has no topic");
            let msg = self.notices.event("topic", &text, |o| {
                o.str("room", &name).opt("by", None).opt("text", None)
            });
            return self.send(id, &msg, out);
        }
        self.show_topic(id, room, out);
    }

    /// The last `last` (or all) lines of `room`, bracketed; on entering it (`entering`),
    /// nothing at all when it has none.
    pub(super) fn show_history(
        &self,
        id: ClientId,
        room: RoomId,
        last: Option<usize>,
        entering: bool,
        out: &mut impl Outbox,
    ) {
        let room = &self.rooms[room];
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
