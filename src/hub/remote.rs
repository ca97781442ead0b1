//! The hub's side of a cluster: clients of other nodes as members of its rooms (for `/who`,
//! `/rooms`, names and `/msg`), what the other nodes say delivered to the clients here, and
//! nodes that went silent let go. The link itself is elsewhere (`cluster::link`); here a remote
//! client's line is just another event.

use std::time::Duration;

use std::sync::atomic::Ordering;

use super::history::{History, Said};
use super::notice::{Msg, line_id};
use super::{Body, Claim, ClientId, Hub, Outbox, RoomId};
use crate::command;
use crate::metrics::{METRICS, Metrics};
use crate::node_wire::Kept;
use crate::node_wire::Message;

/// What every client is told, once, while the cluster link is down.
pub(super) const LINK_DOWN: &[u8] =
    b"* cluster link down: lines reach this node only until it is back\n";

/// Most other nodes known at once: past it, messages from more are ignored (a broker peer
/// inventing nodes costs a bounded amount of memory).
pub const MAX_NODES: usize = 256;
/// Most rooms' topics kept for rooms that do not exist here, likewise.
pub const MAX_TOPICS: usize = 100_000;

/// A room of the cluster that no one here is in, and the lines this node has of it.
#[derive(Debug)]
pub struct Resting {
    /// As the cluster named it.
    pub name: Box<str>,
    pub history: History,
}
/// Most clients of other nodes known at once, likewise.
pub const MAX_REMOTES: usize = 200_000;

/// A node not heard from for this long is taken for lost, and its clients for gone, while this
/// node's own link is up (the others hear each other, and that one is silent).
pub const NODE_LOST: Duration = Duration::from_secs(4);

/// While this node's own link is down, silence says nothing of the others (this node is the one
/// cut off): their clients stay members until the outage has lasted this long.
pub const LONG_OUTAGE: Duration = Duration::from_secs(60);

/// The refusal of a `/nick` the cluster cannot be asked about.
pub(super) const NAMES_UNREACHABLE: &str =
    "names cannot be changed while the cluster is unreachable; try again later";

/// Most rooms one client of another node is counted in, likewise.
pub const MAX_REMOTE_ROOMS: usize = 1000;

/// A client of another node.
pub struct RemoteMember {
    pub node: Box<str>,
    /// As that node has it.
    pub name: Box<str>,
    /// The rooms it is in, as far as this node knows.
    pub rooms: Vec<RoomId>,
}

impl Hub {
    /// Another node said `msg`.
    pub(super) fn remote(&mut self, msg: &Message<'_>, out: &mut impl Outbox) {
        let node = msg.node;
        if self.config.node.as_deref() == Some(node) {
            return; // our own id (the broker does not echo ours): not news
        }
        let known = match self.nodes.get_mut(node) {
            Some(seen) => {
                *seen = self.now;
                true
            }
            None => {
                if self.stopped_nodes.iter().any(|n| &**n == node) {
                    return; // said goodbye: a beat still in flight after it is not a comeback
                }
                if self.nodes.len() >= MAX_NODES {
                    log::warn!("cluster: {MAX_NODES} nodes known already; node {node} ignored");
                    return;
                }
                self.nodes.insert(node.into(), self.now);
                METRICS
                    .nodes
                    .store(self.nodes.len() as i64, Ordering::Relaxed);
                false
            }
        };
        if !known && !matches!(msg.body, Body::Hello | Body::Roster(_) | Body::Bye) {
            // A node we did not know of (we started after it, it came back after a gap, or
            // we took it for lost while we were the silent one): ask for its roster (a hello
            // asks every node), and tell it ours.
            self.config.tell_nodes(out, &Body::Hello);
            self.publish_roster(out);
        }
        match &msg.body {
            Body::Hello => self.publish_roster(out),
            Body::Beat => {}
            Body::Bye => {
                self.nodes.remove(node);
                METRICS
                    .nodes
                    .store(self.nodes.len() as i64, Ordering::Relaxed);
                if self.stopped_nodes.len() >= MAX_NODES {
                    self.stopped_nodes.pop_front();
                }
                self.stopped_nodes.push_back(node.into());
                self.drop_node(node, "node stopped", out);
            }
            Body::Roster(members) => {
                self.start_rostered(node);
                self.reconcile(node, members, out)
            }
            Body::Joined { name, room } => {
                self.announce_joins(out);
                if let Some(room_id) = self.add_remote(node, name, room) {
                    let room = self.rooms[room_id].name.clone();
                    let msg = self.notices.joined(&room, name);
                    self.broadcast(room_id, None, &msg, out);
                }
            }
            Body::Left { name, reason } => {
                for room in self.remove_remote(node, name) {
                    let room_name = self.rooms[room].name.clone();
                    let msg = self.notices.left(&room_name, name, *reason);
                    self.broadcast(room, None, &msg, out);
                }
            }
            Body::Parted { name, room } => {
                if let Some(room) = self.part_remote(node, name, room) {
                    let room_name = self.rooms[room].name.clone();
                    let msg = self.notices.left(&room_name, name, None);
                    self.broadcast(room, None, &msg, out);
                }
            }
            Body::Renamed { old, new } => {
                for room in self.rename_remote(node, old, new) {
                    let room_name = self.rooms[room].name.clone();
                    let msg = self.notices.renamed(&room_name, old, new);
                    self.broadcast(room, None, &msg, out);
                }
            }
            Body::Moved { name, from, to } => {
                let (went, came) = self.notices.moved(name, from, to);
                if let Some(room) = self.part_remote(node, name, from) {
                    self.broadcast(room, None, &went, out);
                }
                if let Some(room) = self.add_remote(node, name, to) {
                    self.broadcast(room, None, &came, out);
                }
            }
            Body::Line {
                room,
                at,
                seq,
                text,
                late,
            } => {
                let said = Said {
                    at: *at,
                    node: node.into(),
                    seq: *seq,
                    line: self.notices.as_is(text),
                };
                match self.room_id(room) {
                    Some(room) => {
                        // A line said during an outage is for the history: it is not news;
                        // nor is one this node has (it read the room's history meanwhile).
                        let text = said.line.clone();
                        if self.remember(room, said) && !late {
                            let name = self.rooms[room].name.clone();
                            let id = line_id(node, *seq);
                            let msg = self.notices.said_line(&name, text, *at, &id);
                            self.broadcast_said(room, None, &msg, out);
                        }
                    }
                    None if *late => self.rest_line(room, said),
                    None => {} // no one here is in it
                }
            }
            Body::Topic { room, by, text } => {
                let Some(room) = self.room_id(room) else {
                    // No one here is in it: kept for when someone is.
                    self.keep_topic(room, text);
                    return;
                };
                self.rooms[room].topic = Some((*text).into());
                let name = self.rooms[room].name.clone();
                self.keep_topic(&name, text);
                let msg = self.notices.topic_set(by, &self.rooms[room].name, text);
                self.broadcast(room, None, &msg, out);
            }
            Body::Kick { .. }
            | Body::Mute { .. }
            | Body::Ban { .. }
            | Body::Banned { .. }
            | Body::Unbanned { .. } => self.moderated_elsewhere(node, &msg.body, out),
            Body::Account { name, until, hash } => self.account_known(name, *until, hash),
            Body::Unregistered { name } => self.unregistered_elsewhere(name, out),
            Body::LoggedIn { name } => self.close_elsewhere(name, None, out),
            Body::Waiting { .. } => {} // the waiting stream's, never published
            Body::Private { from, to, text } => {
                if let Some(target) = self.client_named(to) {
                    self.announce_joins(out);
                    let msg = self.notices.private(from, to, text);
                    self.send(target, &msg, out);
                    Metrics::add(&METRICS.deliveries, 1);
                }
            }
        }
    }

    /// The cluster's history: each room's last lines join this node's (each in its place by
    /// time, once), for the rooms here and for those made later.
    pub(super) fn stored(&mut self, lines: &[Kept<'_>]) {
        let keep = self.config.history;
        if keep == 0 {
            return;
        }
        for kept in lines {
            if self.reloaded_at_us.is_some_and(|back| kept.at >= back) {
                // Said since the link came back: it comes live too, and is told then (kept
                // now, it would be taken for one this node has, and never shown).
                continue;
            }
            let said = Said {
                at: kept.at,
                node: kept.node.into(),
                seq: kept.seq,
                line: self.notices.as_is(kept.text),
            };
            match self.room_id(kept.room) {
                Some(id) => {
                    self.rooms[id].history.add(said, keep);
                }
                None => self.rest_line(kept.room, said),
            }
        }
    }

    /// Keeps a line of `room`, which does not exist here, for when it is made (and for
    /// `/rooms`, which lists it as resting).
    pub(super) fn rest_line(&mut self, room: &str, said: Said) {
        let keep = self.config.history;
        if keep == 0 {
            return;
        }
        if let Some(resting) = self.resting(room) {
            resting.history.add(said, keep);
        }
    }

    /// The resting room `room`, made if new: past `--max-rooms` of them, the one whose last
    /// line is oldest goes first (the cluster's stream still has it); `None` if `room` is not
    /// a room's name (a broken peer's).
    pub(super) fn resting(&mut self, room: &str) -> Option<&mut Resting> {
        if !command::valid_name(room) {
            return None;
        }
        let key: Box<str> = room.to_ascii_lowercase().into();
        if !self.stored.contains_key(&key) && self.stored.len() >= self.config.max_rooms.max(1) {
            let oldest = self
                .stored
                .iter()
                .min_by_key(|(_, r)| r.history.entries().last().map_or(0, |s| s.at))
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.stored.remove(&oldest);
            }
        }
        Some(self.stored.entry(key).or_insert_with(|| Resting {
            name: room.into(),
            history: History::default(),
        }))
    }

    /// The topics the cluster keeps (read at start, and again once its link is up): each
    /// room's, for when it is made here, and set now in those that exist with none yet.
    pub(super) fn kept_topics(&mut self, topics: &[(&str, &str, &str)]) {
        for &(room, _by, text) in topics {
            self.keep_topic(room, text);
            if let Some(id) = self.room_id(room)
                && self.rooms[id].topic.is_none()
            {
                self.rooms[id].topic = Some(text.into());
            }
        }
    }

    /// Remembers `room`'s latest topic (bounded: past [`MAX_TOPICS`] rooms, new ones are not).
    pub(super) fn keep_topic(&mut self, room: &str, text: &str) {
        let key: Box<str> = room.to_ascii_lowercase().into();
        if self.topics.len() < MAX_TOPICS || self.topics.contains_key(&key) {
            self.topics.insert(key, text.into());
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
            self.held.remove(&id);
            return;
        };
        self.take_claim_answer(id, &old, name, claim, out);
        self.replay_held(id, out);
    }

    fn take_claim_answer(
        &mut self,
        id: ClientId,
        old: &str,
        name: &str,
        claim: Claim,
        out: &mut impl Outbox,
    ) {
        match claim {
            Claim::Taken => self.error(id, "name_taken", &format_args!("name taken: {name}"), out),
            Claim::Unavailable => self.error(id, "cluster_unreachable", &NAMES_UNREACHABLE, out),
            Claim::Granted if self.name_taken(name) => {
                // Someone came in with it meanwhile (a default name can look like anything).
                out.release(name);
                self.error(id, "name_taken", &format_args!("name taken: {name}"), out);
            }
            Claim::Granted => {
                let was_claimed = self.member(id).is_some_and(|m| m.claimed);
                self.rename_now(id, old, name, out);
                if was_claimed {
                    out.release(old);
                }
                if let Some(Some(m)) = self.members.get_mut(id) {
                    m.claimed = true;
                }
            }
        }
    }

    /// The cluster gave a name of a client here to another node's: this node was cut off for
    /// longer than the cluster keeps a name unrenewed. The client gets a guest name, and is told.
    pub(super) fn name_lost(&mut self, name: &str, out: &mut impl Outbox) {
        let Some(id) = self.client_named(name) else {
            return; // gone, or renamed, meanwhile
        };
        let Some(old) = self
            .member(id)
            .filter(|m| m.claimed)
            .map(|m| m.name.clone())
        else {
            return;
        };
        let guest = self.guest_name(out);
        let msg = format_args!(
            "your name {old} was given to someone else while this node was cut off from the \
             cluster; you are {guest} now"
        );
        self.error(id, "name_lost", &msg, out);
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.claimed = false;
        }
        self.rename_now(id, &old, &guest, out);
        // A node that kept the name meanwhile ignored this one's client under it, and so its
        // rename: the whole roster says who is here. And this node ignored that node's client
        // under the name, taken here until now: a hello asks every node for its roster again.
        self.publish_roster(out);
        self.config.tell_nodes(out, &Body::Hello);
    }

    /// The link to the cluster went down, or came back.
    pub(super) fn link(&mut self, up: bool, out: &mut impl Outbox) {
        if up == self.link_up && self.link_seen {
            return;
        }
        self.link_up = up;
        METRICS.link_up.store(up, Ordering::Relaxed);
        let first = !self.link_seen;
        self.link_seen = true;
        if up {
            if self.guests.is_empty() && self.next_guests.is_none() && !self.guests_asked {
                self.guests_asked = true;
                out.reserve_guests();
            }
            if self.link_down_since.take().is_some() {
                // Their beats could not reach us meanwhile: each has NODE_LOST from now to be
                // heard again.
                let now = self.now;
                self.nodes.values_mut().for_each(|seen| *seen = now);
            }
        } else {
            self.link_down_since.get_or_insert(self.now);
        }
        if first && up {
            // Up from the start: nothing to tell the clients. (Lines said before it was up are
            // published now, for the others' history.)
            self.config.tell_nodes(out, &Body::Hello);
            self.publish_roster(out);
            return self.publish_unsent(out);
        }
        let notice = self.link_notice(up);
        self.announce_joins(out);
        // Each client once, however many rooms it is in.
        for (id, _) in self.members.iter().enumerate().filter(|(_, m)| m.is_some()) {
            self.send(id, &notice, out);
        }
        if up {
            // Whoever we missed meanwhile says who is there; we say who is here, and what was
            // said here meanwhile.
            self.config.tell_nodes(out, &Body::Hello);
            self.publish_roster(out);
            self.publish_unsent(out);
            // And what the others said meanwhile, which the stream kept.
            if self.config.history > 0 {
                self.reloaded_at_us = Some(self.wall_us());
                out.reload_history();
            }
        } else {
            self.refuse_pending_claims(out);
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
            .flat_map(|m| m.rooms().map(|r| (&*m.name, &*self.rooms[r].name)))
            .collect();
        self.config.tell_nodes(out, &Body::Roster(members));
    }

    /// The link went down: the names being asked for will not be answered in time.
    fn refuse_pending_claims(&mut self, out: &mut impl Outbox) {
        let pending: Vec<(ClientId, Box<str>)> =
            self.claims.iter().map(|(&id, n)| (id, n.clone())).collect();
        for (id, name) in pending {
            // Answered now; the link's own answer, when it comes, is a stale one.
            self.claimed(id, &name, Claim::Unavailable, out);
        }
    }

    /// Lets go of the nodes not heard from for [`NODE_LOST`] while this node hears the broker,
    /// or of all of them once this node has been cut off for [`LONG_OUTAGE`].
    pub(super) fn lose_silent_nodes(&mut self, out: &mut impl Outbox) {
        let now = self.now;
        if let Some(since) = self.link_down_since {
            if now.duration_since(since) < LONG_OUTAGE || self.nodes.is_empty() {
                return;
            }
            let all: Vec<Box<str>> = self.nodes.drain().map(|(n, _)| n).collect();
            log::warn!(
                "cluster: link down for {LONG_OUTAGE:?}: letting go of {} nodes",
                all.len()
            );
            for node in all {
                self.drop_node(&node, "cluster link down", out);
            }
            return;
        }
        let lost: Vec<Box<str>> = self
            .nodes
            .iter()
            .filter(|&(_, &seen)| now.duration_since(seen) >= NODE_LOST)
            .map(|(n, _)| n.clone())
            .collect();
        for node in lost {
            log::warn!("cluster: node {node} lost (silent for {NODE_LOST:?})");
            self.nodes.remove(&node);
            METRICS
                .nodes
                .store(self.nodes.len() as i64, Ordering::Relaxed);
            self.drop_node(&node, "node lost", out);
        }
    }

    /// `* cluster link down...` or `* cluster link back...`, and in JSON a `link` event.
    pub(super) fn link_notice(&mut self, up: bool) -> Msg {
        let text = if up {
            "* cluster link back: lines reach every node again"
        } else {
            std::str::from_utf8(LINK_DOWN)
                .unwrap_or_default()
                .trim_end()
        };
        let words = text.strip_prefix("* ").unwrap_or(text);
        self.notices
            .event("link", text, |o| o.bool("up", up).str("text", words))
    }
}
