//! Who is in the chat: arrivals (the gate, a name, the lobby, a welcome), departures (the
//! others told why), and the coalesced join notices.

use std::net::IpAddr;

use super::gate::Held;
use super::notice::Msg;
use super::{
    BANNED_GRACE, Body, ClientId, GUEST_BLOCK, Hub, JOIN_NAMES_SHOWN, LOBBY, Leave, Member, Outbox,
    PASSWORD_TIME, RoomId, minutes,
};
use crate::metrics::{Dropped, METRICS};

impl Hub {
    /// Turns a new connection away: counted, told why, closed.
    fn refuse(
        &mut self,
        id: ClientId,
        ip: IpAddr,
        why: Dropped,
        text: &str,
        out: &mut impl Outbox,
    ) {
        log::info!("{ip}: refused (client {id}): {text}");
        METRICS.dropped(why);
        let code = match why {
            Dropped::ServerFull => "server_full",
            _ => "too_many_connections",
        };
        self.error(id, code, &text, out);
        self.set_json(id, false);
        out.close(id);
    }

    pub(super) fn connect(&mut self, id: ClientId, ip: IpAddr, out: &mut impl Outbox) {
        if self.member(id).is_some() || self.gated.contains_key(&id) {
            debug_assert!(false, "client {id} connected twice");
            return;
        }
        if self.online + self.gated.len() >= self.config.max_clients {
            return self.refuse(id, ip, Dropped::ServerFull, "server full", out);
        }
        let limited = !self.config.exempt.iter().any(|range| range.contains(ip));
        let key = crate::cidr::limit_key(ip);
        if limited
            && !self
                .access
                .may_connect(key, self.now, self.config.max_connects_per_minute)
        {
            let msg = "too many connections from your address; try again later";
            return self.refuse(id, ip, Dropped::PerAddress, msg, out);
        }
        if self.config.max_per_ip > 0 && limited {
            let count = self.per_ip.entry(key).or_insert(0);
            if *count >= self.config.max_per_ip {
                let msg = "too many connections from your address";
                return self.refuse(id, ip, Dropped::PerAddress, msg, out);
            }
            *count += 1;
        }
        if let Some(left) = self.access.banned(ip, self.now) {
            log::info!("{ip}: banned, refused ({} more minutes)", minutes(left));
            METRICS.dropped(Dropped::Banned);
            let n = minutes(left);
            let msg = format!("banned ({n} more minute{})", if n == 1 { "" } else { "s" });
            self.error(id, "banned", &msg, out);
            return self.hold(id, ip, Held::Banned, BANNED_GRACE);
        }
        if self.config.password.is_some() {
            let msg = "password required: send /pass PASSWORD";
            self.notice(id, "password_required", &msg, out);
            return self.hold(id, ip, Held::Password { tries: 0 }, PASSWORD_TIME);
        }
        self.admit(id, ip, out);
    }

    /// Lets a connection in: a name, the lobby, a welcome.
    pub(super) fn admit(&mut self, id: ClientId, ip: IpAddr, out: &mut impl Outbox) {
        let name = self.guest_name(out);
        let online = self.online + 1 + self.remotes.len();
        let text = format!("* welcome {name}, {online} online; type /help for commands");
        let welcome = self.notices.event("welcome", &text, |o| {
            o.str("name", &name)
                .num("online", online as u64)
                .str("room", LOBBY)
        });
        if self.members.len() <= id {
            self.members.resize_with(id + 1, || None);
        }
        let lobby = self.lobby;
        self.members[id] = Some(Member {
            name,
            here: None,
            also: Default::default(),
            announced: false,
            ip,
            oper: false,
            muted: false,
            claimed: false,
            logged_in: false,
            echo: false,
            moved_at: 0,
        });
        self.by_name.insert(id, &self.members);
        self.enter(id, lobby);
        self.online += 1;
        if self.config.announce_grace.is_zero() {
            self.pending_joins.push(id);
        } else {
            self.quiet.arrived(id, self.now);
        }
        self.send(id, &welcome, out);
        if self.config.in_cluster() && self.link_seen && !self.link_up {
            // The others were told when it went down; a newcomer is told now.
            let msg = self.link_notice(false);
            self.send(id, &msg, out);
        }
        self.show_topic(id, lobby, out);
        self.show_history(id, lobby, None, true, out);
    }

    /// `guestN`, unique among this node's clients; in a cluster, N comes from the blocks of
    /// numbers the cluster gives this node (asked for again when a quarter of a block is left),
    /// unique across the nodes, and only while it has none, `guestN-NODE`.
    pub(super) fn guest_name(&mut self, out: &mut impl Outbox) -> Box<str> {
        let name = loop {
            let name = match self.config.node.clone() {
                None => self.next_local_guest(),
                Some(node) => match self.next_cluster_guest() {
                    Some(n) => format!("guest{n}"),
                    // No numbers from the cluster (it cannot be asked): the node's id keeps the
                    // name from colliding with another node's.
                    None => format!("{}-{node}", self.next_local_guest()),
                },
            };
            if !self.name_taken(&name) {
                break name;
            }
        };
        let left = self.guests.end - self.guests.start;
        if self.config.in_cluster()
            && left < GUEST_BLOCK / 4
            && self.next_guests.is_none()
            && !self.guests_asked
            && self.link_up
        {
            self.guests_asked = true;
            out.reserve_guests();
        }
        name.into()
    }

    fn next_local_guest(&mut self) -> String {
        let n = self.next_guest;
        self.next_guest += 1;
        format!("guest{n}")
    }

    /// The next number of the blocks the cluster gave this node.
    fn next_cluster_guest(&mut self) -> Option<u64> {
        if self.guests.is_empty()
            && let Some(next) = self.next_guests.take()
        {
            self.guests = next;
        }
        self.guests.next()
    }

    /// The cluster gave this node guest numbers (an empty range: it could not be asked).
    pub(super) fn guest_numbers(&mut self, numbers: std::ops::Range<u64>) {
        self.guests_asked = false;
        if numbers.is_empty() {
            return;
        }
        if self.guests.is_empty() {
            self.guests = numbers;
        } else {
            self.next_guests = Some(numbers);
        }
    }

    /// Whether a client here or on another node has this name (ignoring case).
    pub(super) fn name_taken(&self, name: &str) -> bool {
        self.client_named(name).is_some()
            || self
                .remotes
                .contains_key(name.to_ascii_lowercase().as_str())
    }

    pub(super) fn leave(&mut self, id: ClientId, why: Leave, out: &mut impl Outbox) {
        if self.gated.contains_key(&id) {
            return self.close_gate(id, out);
        }
        if self.member(id).is_none() {
            return self.depart(id);
        }
        match why {
            Leave::TooSlow => METRICS.dropped(Dropped::TooSlow),
            Leave::Flooding => METRICS.dropped(Dropped::Flooding),
            Leave::IdleTimeout => METRICS.dropped(Dropped::Idle),
            Leave::Closed => {}
        }
        if matches!(why, Leave::Flooding | Leave::IdleTimeout) {
            let reason = why.reason().unwrap_or_default();
            let code = if why == Leave::Flooding {
                "flooding"
            } else {
                "idle_timeout"
            };
            let msg = self.notices.error(code, reason);
            self.send(id, &msg, out);
        }
        self.remove(id, why.reason(), out);
    }

    /// Forgets `id` and has the driver close it. Returns its name and the rooms it was in
    /// that are left (if anyone was told it joined). The other nodes are told it left, for
    /// `reason`.
    pub(super) fn forget(
        &mut self,
        id: ClientId,
        reason: Option<&str>,
        out: &mut impl Outbox,
    ) -> Option<(Box<str>, Vec<RoomId>)> {
        self.member(id)?;
        let rooms = self.exit_all(id, out);
        self.by_name.remove(id, &self.members);
        let member = self.members.get_mut(id).and_then(Option::take)?;
        self.claims.remove(&id);
        self.quiet.end(id);
        self.held.remove(&id);
        self.away.remove(&id);
        self.asking.remove(&id);
        self.accounts.pending.remove(&id);
        if member.claimed {
            out.release(&member.name);
        }
        self.online -= 1;
        self.set_json(id, false);
        self.uncount_ip(member.ip);
        out.close(id);
        if !member.announced {
            // Never announced: its leaving is not news either.
            self.pending_joins.retain(|&p| p != id);
            return None;
        }
        self.config.tell_nodes(
            out,
            &Body::Left {
                name: &member.name,
                reason,
            },
        );
        Some((member.name, rooms))
    }

    /// Forgets `id`, tells each of its rooms why it left, and has the driver close it.
    pub(super) fn remove(&mut self, id: ClientId, reason: Option<&str>, out: &mut impl Outbox) {
        let Some((name, rooms)) = self.forget(id, reason, out) else {
            return;
        };
        for room in rooms {
            let room_name = self.rooms[room].name.clone();
            let msg = self.notices.left(&room_name, &name, reason);
            self.broadcast(room, None, &msg, out);
        }
    }

    /// A quiet newcomer (see [`super::quiet`]) is to be announced, with the next joins.
    pub(super) fn end_quiet(&mut self, id: ClientId) {
        if self.quiet.end(id) {
            self.pending_joins.push(id);
        }
    }

    /// The newcomers whose grace is over, but those whose `/login` is being checked, are
    /// announced.
    pub(super) fn end_grace(&mut self, out: &mut impl Outbox) {
        let grace = self.config.announce_grace;
        if self.quiet.next_deadline(grace).is_none_or(|d| d > self.now) {
            return;
        }
        let pending = &self.accounts.pending;
        let due = self
            .quiet
            .expired(self.now, grace, |id| pending.contains_key(&id));
        if due.is_empty() {
            return;
        }
        self.pending_joins.extend(due);
        self.announce_joins(out);
    }

    /// Tells the lobby who joined since the last announcement, and each room who added it to
    /// their rooms: one line for those already there; each newcomer of the batch hears of
    /// those who came after it.
    pub(super) fn announce_joins(&mut self, out: &mut impl Outbox) {
        if !self.pending_joins.is_empty() {
            let joined = std::mem::take(&mut self.pending_joins);
            self.tell_joined(self.lobby, &joined, out);
            let lobby = self.rooms[self.lobby].name.clone();
            for id in joined {
                if let Some(Some(m)) = self.members.get_mut(id) {
                    m.announced = true;
                    self.config.tell_nodes(
                        out,
                        &Body::Joined {
                            name: &m.name,
                            room: &lobby,
                        },
                    );
                }
            }
        }
        if !self.pending_room_joins.is_empty() {
            let mut joins = std::mem::take(&mut self.pending_room_joins);
            // Those still in the room (one who left it was told with its leaving, which
            // announced it first; a room gone may have had its id taken by another).
            joins.retain(|&(room, id)| {
                self.rooms.contains(room) && self.member(id).is_some_and(|m| m.in_room(room))
            });
            // By room, each room's in the order they came (a stable sort).
            joins.sort_by_key(|&(room, _)| room);
            let mut at = 0;
            while at < joins.len() {
                let room = joins[at].0;
                let end = at + joins[at..].iter().take_while(|j| j.0 == room).count();
                let joined: Vec<ClientId> = joins[at..end].iter().map(|j| j.1).collect();
                self.tell_joined(room, &joined, out);
                at = end;
            }
        }
    }

    /// `* a, b joined` in `room` to its announced (or quiet) members but `joined`, and to each
    /// of `joined` the names of those after it.
    fn tell_joined(&mut self, room: RoomId, joined: &[ClientId], out: &mut impl Outbox) {
        let msg = self.joined_line(room, joined);
        let newcomers: std::collections::HashSet<ClientId> = joined.iter().copied().collect();
        for &to in &self.rooms[room].members {
            // A quiet newcomer hears of the others, though they have not heard of it yet.
            let told = |m: &Member| m.announced || self.quiet.contains(to);
            if !newcomers.contains(&to) && self.member(to).is_some_and(told) {
                self.send(to, &msg, out);
            }
        }
        for (i, &id) in joined.iter().enumerate() {
            if i + 1 < joined.len() {
                let msg = self.joined_line(room, &joined[i + 1..]);
                self.send(id, &msg, out);
            }
        }
    }

    /// `* a, b and 3 more joined`, told in `room`.
    pub(super) fn joined_line(&mut self, room: RoomId, joined: &[ClientId]) -> Msg {
        let members = &self.members;
        let names = joined.iter().map(|&id| match members.get(id) {
            Some(Some(m)) => &*m.name,
            _ => "?",
        });
        self.notices
            .joined_many(&self.rooms[room].name, names, JOIN_NAMES_SHOWN)
    }
}
