//! The hub's side of a cluster: clients of other nodes as members of its rooms (for `/who`,
//! `/rooms`, names and `/msg`), what the other nodes say delivered to the clients here, and
//! nodes that went silent let go. The link itself is elsewhere (`cluster::link`); here a remote
//! client's line is just another event.

use std::time::Duration;

use super::{Body, Claim, ClientId, Hub, Line, Outbox, RoomId, line};
use crate::node_wire::Message;

/// What every client is told, once, while the cluster link is down.
pub(super) const LINK_DOWN: &[u8] =
    b"* cluster link down: lines reach this node only until it is back\n";

/// Most other nodes known at once: past it, messages from more are ignored (a broker peer
/// inventing nodes costs a bounded amount of memory).
pub const MAX_NODES: usize = 256;
/// Most clients of other nodes known at once, likewise.
pub const MAX_REMOTES: usize = 200_000;

/// A node not heard from for this long is taken for lost, and its clients for gone.
pub const NODE_LOST: Duration = Duration::from_secs(4);

/// A client of another node.
pub struct RemoteMember {
    pub node: Box<str>,
    /// As that node has it.
    pub name: Box<str>,
    pub room: RoomId,
}

impl Hub {
    /// Another node said `msg`.
    pub(super) fn remote(&mut self, msg: &Message<'_>, out: &mut impl Outbox) {
        let node = msg.node;
        if self.config.node.as_deref() == Some(node) {
            return; // our own, back from the broker
        }
        if !self.nodes.contains_key(node) && self.nodes.len() >= MAX_NODES {
            log::warn!("cluster: {MAX_NODES} nodes known already; node {node} ignored");
            return;
        }
        let known = match self.nodes.get_mut(node) {
            Some(seen) => {
                *seen = self.now;
                true
            }
            None => {
                self.nodes.insert(node.into(), self.now);
                false
            }
        };
        if !known && !matches!(msg.body, Body::Hello | Body::Roster(_) | Body::Bye) {
            // A node we did not know of (we started after it, or it after a gap): ask.
            self.publish_roster(out);
        }
        match &msg.body {
            Body::Hello => self.publish_roster(out),
            Body::Beat => {}
            Body::Bye => {
                self.nodes.remove(node);
                self.drop_node(node, "node stopped", out);
            }
            Body::Roster(members) => {
                // Silently: the others were told of these as they came and went.
                self.remove_node_members(node);
                for (name, room) in members {
                    self.add_remote(node, name, room);
                }
            }
            Body::Joined { name, room } => {
                self.announce_joins(out);
                if let Some(room) = self.add_remote(node, name, room) {
                    let msg = self.notices.joined(name);
                    self.broadcast(room, None, &msg, out);
                }
            }
            Body::Left { name, reason } => {
                if let Some(room) = self.remove_remote(node, name) {
                    let msg = self.notices.left(name, *reason);
                    self.broadcast_remote(room, &msg, out);
                }
            }
            Body::Renamed { old, new } => {
                let Some(room) = self.remove_remote(node, old) else {
                    return;
                };
                let room_name = self.rooms.get(room).map(|r| r.name.clone());
                if let Some(room_name) = room_name
                    && let Some(room) = self.add_remote(node, new, &room_name)
                {
                    let msg = self.notices.renamed(old, new);
                    self.broadcast(room, None, &msg, out);
                }
            }
            Body::Moved { name, from, to } => {
                if let Some(room) = self.remove_remote(node, name) {
                    let went = self.notices.went_to(name, to);
                    self.broadcast_remote(room, &went, out);
                }
                if let Some(room) = self.add_remote(node, name, to) {
                    let came = self.notices.came_from(name, from);
                    self.broadcast(room, None, &came, out);
                }
            }
            Body::Line { room, text } => {
                let Some(room) = self.room_id(room) else {
                    return; // no one here is in it
                };
                let msg = self.notices.as_is(text);
                self.broadcast(room, None, &msg, out);
                self.remember(room, msg);
            }
            Body::Topic { room, by, text } => {
                let Some(room) = self.room_id(room) else {
                    return;
                };
                self.rooms[room].topic = Some((*text).into());
                let msg = self.notices.topic_set(by, &self.rooms[room].name, text);
                self.broadcast(room, None, &msg, out);
            }
            Body::Private { from, to, text } => {
                if let Some(&target) = self.by_name.get(to.to_ascii_lowercase().as_str()) {
                    self.announce_joins(out);
                    let msg = self.notices.private(from, text);
                    out.send(target, &msg);
                }
            }
        }
    }

    /// The cluster's history: each room's last lines start this node's, for the rooms here
    /// (that have none yet) and for those made later.
    pub(super) fn stored(&mut self, lines: &[(&str, &str)]) {
        let keep = self.config.history;
        if keep == 0 {
            return;
        }
        let mut by_room: std::collections::HashMap<Box<str>, std::collections::VecDeque<Line>> =
            std::collections::HashMap::new();
        for (room, text) in lines {
            let kept = by_room.entry(room.to_ascii_lowercase().into()).or_default();
            if kept.len() == keep {
                kept.pop_front();
            }
            kept.push_back(self.notices.as_is(text));
        }
        for (room, kept) in by_room {
            match self.room_id(&room) {
                Some(id) if self.rooms[id].history.is_empty() => self.rooms[id].history = kept,
                Some(_) => {}
                None => {
                    self.stored.insert(room, kept);
                }
            }
        }
    }

    /// The cluster answered a claim.
    pub(super) fn claimed(
        &mut self,
        id: ClientId,
        name: &str,
        claim: Claim,
        out: &mut impl Outbox,
    ) {
        let asked = self.claims.get(&id).is_some_and(|n| &**n == name);
        if !asked {
            // For a client gone meanwhile, or a stale answer.
            if claim == Claim::Granted {
                out.release(name);
            }
            return;
        }
        self.claims.remove(&id);
        let Some(old) = self.name(id).map(str::to_string) else {
            if claim == Claim::Granted {
                out.release(name);
            }
            return;
        };
        match claim {
            Claim::Taken => self.error(id, &format_args!("name taken: {name}"), out),
            Claim::Unavailable => self.error(
                id,
                &"names cannot be changed while the cluster is unreachable; try again later",
                out,
            ),
            Claim::Granted if self.name_taken(name) => {
                // Someone came in with it meanwhile (a default name can look like anything).
                out.release(name);
                self.error(id, &format_args!("name taken: {name}"), out);
            }
            Claim::Granted => {
                let was_claimed = self.member(id).is_some_and(|m| m.claimed);
                self.rename_now(id, &old, name, out);
                if was_claimed {
                    out.release(&old);
                }
                if let Some(Some(m)) = self.members.get_mut(id) {
                    m.claimed = true;
                }
            }
        }
    }

    /// The link to the cluster went down, or came back.
    pub(super) fn link(&mut self, up: bool, out: &mut impl Outbox) {
        if up == self.link_up && self.link_seen {
            return;
        }
        self.link_up = up;
        let first = !self.link_seen;
        self.link_seen = true;
        if first && up {
            // Up from the start: nothing to tell the clients.
            self.config.tell_nodes(out, &Body::Hello);
            return self.publish_roster(out);
        }
        let notice: Line = if up {
            line(b"* cluster link back: lines reach every node again\n")
        } else {
            line(LINK_DOWN)
        };
        self.announce_joins(out);
        for room in self.rooms.iter().map(|(id, _)| id).collect::<Vec<_>>() {
            self.broadcast(room, None, &notice, out);
        }
        if up {
            // Whoever we missed meanwhile says who is there; we say who is here.
            self.config.tell_nodes(out, &Body::Hello);
            self.publish_roster(out);
        }
    }

    /// Our clients, for the other nodes.
    fn publish_roster(&mut self, out: &mut impl Outbox) {
        if !self.config.in_cluster() {
            return;
        }
        let members: Vec<(&str, &str)> = self
            .members
            .iter()
            .flatten()
            .filter(|m| m.announced)
            .map(|m| (&*m.name, &*self.rooms[m.room].name))
            .collect();
        self.config.tell_nodes(out, &Body::Roster(members));
    }

    /// Lets go of the nodes not heard from for [`NODE_LOST`].
    pub(super) fn lose_silent_nodes(&mut self, out: &mut impl Outbox) {
        let now = self.now;
        let lost: Vec<Box<str>> = self
            .nodes
            .iter()
            .filter(|&(_, &seen)| now.duration_since(seen) >= NODE_LOST)
            .map(|(n, _)| n.clone())
            .collect();
        for node in lost {
            log::warn!("cluster: node {node} lost (silent for {NODE_LOST:?})");
            self.nodes.remove(&node);
            self.drop_node(&node, "node lost", out);
        }
    }

    /// Every client of `node` leaves, for `reason`.
    fn drop_node(&mut self, node: &str, reason: &str, out: &mut impl Outbox) {
        for name in self.names_on(node) {
            // Its names are free again (claimed or not: letting go of one never claimed is
            // nothing).
            out.release(&name);
            if let Some(room) = self.remove_remote(node, &name) {
                let msg = self.notices.left(&name, Some(reason));
                self.broadcast_remote(room, &msg, out);
            }
        }
    }

    fn remove_node_members(&mut self, node: &str) {
        for name in self.names_on(node) {
            self.remove_remote(node, &name);
        }
    }

    /// The names of `node`'s clients.
    fn names_on(&self, node: &str) -> Vec<Box<str>> {
        self.remotes
            .values()
            .filter(|r| &*r.node == node)
            .map(|r| r.name.clone())
            .collect()
    }

    /// Puts a client of `node` in `room` (made if needed); the room, unless the name is
    /// someone else's here.
    fn add_remote(&mut self, node: &str, name: &str, room: &str) -> Option<RoomId> {
        let key: Box<str> = name.to_ascii_lowercase().into();
        if self.by_name.contains_key(&key) {
            log::warn!("cluster: node {node} has {name}, a name taken here; ignored");
            return None;
        }
        if let Some(old) = self.remotes.get(&key)
            && &*old.node != node
        {
            log::warn!(
                "cluster: node {node} has {name}, as has node {}; ignored",
                old.node
            );
            return None;
        }
        self.remove_remote(node, name);
        if self.remotes.len() >= MAX_REMOTES {
            log::warn!(
                "cluster: {MAX_REMOTES} clients of other nodes known already; {name} ignored"
            );
            return None;
        }
        let room = match self.room_id(room) {
            Some(r) => r,
            None => self.make_room(room),
        };
        self.rooms[room].remote += 1;
        self.remotes.insert(
            key,
            RemoteMember {
                node: node.into(),
                name: name.into(),
                room,
            },
        );
        Some(room)
    }

    /// Takes a client of `node` out of its room (removing the room if that left it empty);
    /// the room, if it still exists.
    fn remove_remote(&mut self, node: &str, name: &str) -> Option<RoomId> {
        let key = name.to_ascii_lowercase();
        if self
            .remotes
            .get(key.as_str())
            .is_none_or(|r| &*r.node != node)
        {
            return None;
        }
        let member = self.remotes.remove(key.as_str())?;
        let room = member.room;
        self.rooms[room].remote -= 1;
        if self.rooms[room].remote == 0 && self.rooms[room].members.is_empty() && room != self.lobby
        {
            let gone = self.rooms.remove(room);
            self.by_room.remove(gone.name.to_ascii_lowercase().as_str());
            return None;
        }
        Some(room)
    }

    /// A notice about a remote client to the room it was in.
    fn broadcast_remote(&mut self, room: RoomId, msg: &Line, out: &mut impl Outbox) {
        if self.rooms.contains(room) {
            self.broadcast(room, None, msg, out);
        }
    }
}
