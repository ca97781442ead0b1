//! Who the other nodes' clients are, and in which rooms: a remote client joins, parts,
//! moves, is renamed, leaves with its node, and a node's whole roster is reconciled with what
//! this node knew of it (each change told once, in each room it concerns).

use std::collections::HashMap;

use super::remote::{MAX_REMOTE_ROOMS, MAX_REMOTES, RemoteMember};
use super::{Hub, Outbox, RoomId};

impl Hub {
    /// Every client of `node` leaves, for `reason`.
    pub(super) fn drop_node(&mut self, node: &str, reason: &str, out: &mut impl Outbox) {
        for name in self.names_on(node) {
            // Its names are not let go of here: the cluster forgets them once their node stops
            // renewing them (a node that only seems lost, across a split, still holds them).
            for room in self.remove_remote(node, &name) {
                let room_name = self.rooms[room].name.clone();
                let msg = self.notices.left(&room_name, &name, Some(reason));
                self.broadcast(room, None, &msg, out);
            }
        }
    }

    /// A node's whole roster (it came, or came back, or we did): what changed since what this
    /// node knew of it is told, once each: who left (in each of its rooms), who left a room or
    /// moved, who joined (one line per room).
    pub(super) fn reconcile(
        &mut self,
        node: &str,
        members: &[(&str, &str)],
        out: &mut impl Outbox,
    ) {
        self.announce_joins(out);
        // What this node knew: each of the node's clients and the names of its rooms.
        let before: HashMap<Box<str>, Vec<Box<str>>> = self
            .remotes
            .iter()
            .filter(|(_, r)| &*r.node == node)
            .map(|(key, r)| {
                let rooms = r.rooms.iter().map(|&id| self.rooms[id].name.clone());
                (key.clone(), rooms.collect())
            })
            .collect();
        // What the node says now: each client once, in the roster's order, with its rooms.
        let mut now: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for &(name, room) in members {
            let i = *index.entry(name.to_ascii_lowercase()).or_insert_with(|| {
                now.push((name, Vec::new()));
                now.len() - 1
            });
            if !now[i].1.iter().any(|r| r.eq_ignore_ascii_case(room)) {
                now[i].1.push(room);
            }
        }
        for key in before.keys() {
            if !index.contains_key(&**key) {
                let name = self.remotes.get(key).map(|r| r.name.clone());
                for room in self.remove_remote(node, key) {
                    let room_name = self.rooms[room].name.clone();
                    let msg = self
                        .notices
                        .left(&room_name, name.as_deref().unwrap_or(key), None);
                    self.broadcast(room, None, &msg, out);
                }
            }
        }
        let mut joined: Vec<(RoomId, Vec<&str>)> = Vec::new();
        for (name, rooms) in &now {
            let was: &[Box<str>] = before
                .get(name.to_ascii_lowercase().as_str())
                .map_or(&[], Vec::as_slice);
            let gone: Vec<&str> = was
                .iter()
                .map(|r| &**r)
                .filter(|w| !rooms.iter().any(|r| r.eq_ignore_ascii_case(w)))
                .collect();
            let came: Vec<&str> = rooms
                .iter()
                .copied()
                .filter(|r| !was.iter().any(|w| w.eq_ignore_ascii_case(r)))
                .collect();
            if let ([from], [to]) = (&gone[..], &came[..]) {
                // One room for another: a move, as a text client makes it.
                let (went, arrived) = self.notices.moved(name, from, to);
                if let Some(room) = self.part_remote(node, name, from) {
                    self.broadcast(room, None, &went, out);
                }
                if let Some(room) = self.add_remote(node, name, to) {
                    self.broadcast(room, None, &arrived, out);
                }
                continue;
            }
            for from in gone {
                if let Some(room) = self.part_remote(node, name, from) {
                    let msg = self.notices.left(from, name, None);
                    self.broadcast(room, None, &msg, out);
                }
            }
            for to in came {
                if let Some(room) = self.add_remote(node, name, to) {
                    match joined.iter_mut().find(|(r, _)| *r == room) {
                        Some((_, names)) => names.push(name),
                        None => joined.push((room, vec![name])),
                    }
                }
            }
        }
        for (room, names) in joined {
            if self.rooms.contains(room) && !self.rooms[room].members.is_empty() {
                let room_name = self.rooms[room].name.clone();
                let msg = self.notices.joined_many(
                    &room_name,
                    names.into_iter(),
                    super::JOIN_NAMES_SHOWN,
                );
                self.broadcast(room, None, &msg, out);
            }
        }
    }

    /// The names of `node`'s clients.
    pub(super) fn names_on(&self, node: &str) -> Vec<Box<str>> {
        self.remotes
            .values()
            .filter(|r| &*r.node == node)
            .map(|r| r.name.clone())
            .collect()
    }

    /// A client of `node` is in `room` (made if needed), as well as any it was in: the room,
    /// unless it was in it already, or the name is someone else's here or on another node.
    pub(super) fn add_remote(&mut self, node: &str, name: &str, room: &str) -> Option<RoomId> {
        let key: Box<str> = name.to_ascii_lowercase().into();
        if self.client_named(name).is_some() {
            log::warn!("cluster: node {node} has {name}, a name taken here; ignored");
            return None;
        }
        match self.remotes.get(&key) {
            Some(old) if &*old.node != node => {
                log::warn!(
                    "cluster: node {node} has {name}, as has node {}; ignored",
                    old.node
                );
                return None;
            }
            Some(old) if old.rooms.len() >= MAX_REMOTE_ROOMS => {
                log::warn!("cluster: node {node} has {name} in over {MAX_REMOTE_ROOMS} rooms");
                return None;
            }
            Some(old) if self.room_id(room).is_some_and(|r| old.rooms.contains(&r)) => {
                return None;
            }
            Some(_) => {}
            None if self.remotes.len() >= MAX_REMOTES => {
                log::warn!(
                    "cluster: {MAX_REMOTES} clients of other nodes known already; {name} ignored"
                );
                return None;
            }
            None => {}
        }
        let room = match self.room_id(room) {
            Some(r) => r,
            None => self.make_room(room),
        };
        self.rooms[room].remote += 1;
        self.remotes
            .entry(key)
            .or_insert_with(|| RemoteMember {
                node: node.into(),
                name: name.into(),
                rooms: Vec::new(),
            })
            .rooms
            .push(room);
        Some(room)
    }

    /// The client of `node` named `name`, if this node has it as that node's.
    pub(super) fn remote_of(&mut self, node: &str, name: &str) -> Option<&mut RemoteMember> {
        self.remotes
            .get_mut(name.to_ascii_lowercase().as_str())
            .filter(|r| &*r.node == node)
    }

    /// Takes a client of `node` out of `room` (removing the room if that left it empty); the
    /// room, if it was in it and the room still exists.
    pub(super) fn part_remote(&mut self, node: &str, name: &str, room: &str) -> Option<RoomId> {
        let room = self.room_id(room)?;
        let remote = self.remote_of(node, name)?;
        let i = remote.rooms.iter().position(|&r| r == room)?;
        remote.rooms.swap_remove(i);
        self.rooms[room].remote -= 1;
        self.drop_if_empty(room)
    }

    /// Forgets a client of `node` (removing the rooms that left empty); the rooms it was in
    /// that still exist.
    pub(super) fn remove_remote(&mut self, node: &str, name: &str) -> Vec<RoomId> {
        let key = name.to_ascii_lowercase();
        if self.remote_of(node, name).is_none() {
            return Vec::new();
        }
        let Some(member) = self.remotes.remove(key.as_str()) else {
            return Vec::new();
        };
        let mut left = Vec::new();
        for room in member.rooms {
            self.rooms[room].remote -= 1;
            left.extend(self.drop_if_empty(room));
        }
        left
    }

    /// A client of `node` is called `new` now: the rooms that should hear of it (none if the
    /// new name is someone else's: then it is forgotten, as a broken peer's).
    pub(super) fn rename_remote(&mut self, node: &str, old: &str, new: &str) -> Vec<RoomId> {
        let new_key: Box<str> = new.to_ascii_lowercase().into();
        let taken = self.client_named(new).is_some()
            || self
                .remotes
                .get(&new_key)
                .is_some_and(|r| !r.name.eq_ignore_ascii_case(old));
        if taken {
            log::warn!("cluster: node {node} renamed {old} to {new}, a name taken; forgotten");
            self.remove_remote(node, old);
            return Vec::new();
        }
        if self.remote_of(node, old).is_none() {
            return Vec::new();
        }
        let Some(mut member) = self.remotes.remove(old.to_ascii_lowercase().as_str()) else {
            return Vec::new();
        };
        member.name = new.into();
        let rooms = member.rooms.clone();
        self.remotes.insert(new_key, member);
        rooms
    }
}
