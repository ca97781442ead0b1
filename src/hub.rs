//! The chat core: names, rooms, history, commands, and who gets which line. Sans-IO.
//!
//! Both concurrency models drive one [`Hub`]: they report [`Event`]s (a client connected, sent a
//! line, went away) and the hub answers through an [`Outbox`] the driver implements: "send these
//! bytes to that client", "close that client". The hub never touches a socket, a clock or a
//! thread, so every chat rule is written once and tested without I/O.
//!
//! Every client is in one room at a time, starting in [`LOBBY`]; a line goes to the others in
//! its sender's room. Rooms are made by joining them and removed when the last member leaves
//! (the lobby stays). Each room keeps its last `history` chat lines, which whoever enters it
//! gets first, between a `* history of #ROOM: N lines` and a `* end of history` notice.
//!
//! A line for many recipients is formatted once, as one shared [`Line`]; the outbox copies or
//! clones the handle per recipient, never re-formats or re-allocates it. History keeps the
//! same handles.
//!
//! Who may come in is decided here too (see [`access`]): a client from a banned address, or on
//! a server with a password, is held at a *gate* (no name, no room) until it gives the
//! operators' password or the server's; operators kick, ban and mute. The hub's only sense of
//! time is what the driver tells it through [`Hub::tick`].
//!
//! Join notices are coalesced: clients that connect between two calls to [`Hub::end_turn`] are
//! announced to the lobby in one line (`* a, b, c joined`, at most [`JOIN_NAMES_SHOWN`] names
//! then `and N more`), so a burst of N joins costs each member one line per turn, not one per
//! join. Each newcomer of a batch hears of those who joined after it, as if they had come one by
//! one. Pending joins are always announced before any other line, so no one sees a message from
//! a client whose join they have not seen.

pub mod access;
mod gate;
mod moderation;
mod notice;
mod remote;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::command::{self, Command, Input};
use crate::node_wire::{self as wire, Body};
use access::{Access, Secret};
pub use gate::{BANNED_GRACE, PASSWORD_TIME, PASSWORD_TRIES};
use gate::{Gate, Held};
use notice::Notices;

/// A client, as numbered by the driver (its slab key). Ids may be reused after a disconnect.
pub type ClientId = usize;

/// One complete output line, `\n` included, shared by all its recipients.
pub type Line = Arc<[u8]>;

/// At most this many names in one coalesced join notice.
pub const JOIN_NAMES_SHOWN: usize = 20;

/// The room every client starts in, and goes back to with `/part`. It is never removed.
pub const LOBBY: &str = "lobby";

/// How long `/ban` bans without a number of minutes.
pub const DEFAULT_BAN_MINUTES: u32 = 60;

/// Where the hub's decisions go. Implemented by each concurrency model.
pub trait Outbox {
    /// Queue `line` for `to`. Must not block; a driver that cannot take it (the client's backlog is
    /// full) drops the client later, reporting [`Event::Disconnected`] with [`Leave::TooSlow`].
    fn send(&mut self, to: ClientId, line: &Line);
    /// Flush what is queued for `who`, then close it. The hub has already forgotten `who`.
    fn close(&mut self, who: ClientId);
    /// Tell the other nodes of the cluster (a node's hub calls it only when it is in one).
    fn publish(&mut self, _body: &Body<'_>) {}
    /// In a cluster: ask for `name` for `id`, for good across the cluster; the answer comes
    /// back as [`Event::Claimed`].
    fn claim(&mut self, _id: ClientId, _name: &str) {}
    /// In a cluster: let go of a name claimed before.
    fn release(&mut self, _name: &str) {}
}

/// What the cluster said of a name asked for with [`Outbox::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    Taken,
    /// The cluster could not be asked (its link or its store is down).
    Unavailable,
}

/// Why a client left, as the others are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The connection closed or failed.
    Closed,
    /// Its outbound backlog went over the limit: it stopped reading.
    TooSlow,
    /// It kept sending over its rate limit; it is told `! flooding`.
    Flooding,
    /// It was silent for too long; it is told `! idle timeout`.
    IdleTimeout,
}

impl Leave {
    fn reason(self) -> Option<&'static str> {
        match self {
            Leave::Closed => None,
            Leave::TooSlow => Some("too slow"),
            Leave::Flooding => Some("flooding"),
            Leave::IdleTimeout => Some("idle timeout"),
        }
    }
}

/// What a driver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A new connection, from this address.
    Connected(ClientId, IpAddr),
    /// One framed line, without its `\n`.
    Line(ClientId, &'a [u8]),
    /// The client sent a line longer than the limit; none of it is relayed.
    LineTooLong(ClientId),
    /// The client is gone, or is being removed for the given reason.
    Disconnected(ClientId, Leave),
    /// Another node of the cluster said this (already checked: see [`wire::decode`]).
    Cluster(&'a wire::Message<'a>),
    /// The link to the cluster is down (`false`: lines reach this node only) or back (`true`).
    Link(bool),
    /// The cluster's answer to [`Outbox::claim`].
    Claimed(ClientId, &'a str, Claim),
    /// The rooms' last lines as the cluster keeps them, `(room, line)`, oldest first: this
    /// node's history starts from them.
    Stored(&'a [(&'a str, &'a str)]),
}

/// The chat rules' settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub max_clients: usize,
    /// Only quoted in the `! line too long` error; framing enforces it.
    pub max_line: usize,
    /// Most clients from one address; 0 means no limit.
    pub max_per_ip: usize,
    /// Most rooms at once, the lobby included.
    pub max_rooms: usize,
    /// Chat lines each room keeps for whoever enters it; 0 keeps none.
    pub history: usize,
    /// The server's password: every client must give it first (`/pass`).
    pub password: Option<Secret>,
    /// The operators' password (`/oper`); without it there are no operators.
    pub oper_password: Option<Secret>,
    /// This node's id, when it is one of a cluster's.
    pub node: Option<Box<str>>,
}

impl HubConfig {
    /// This node is one of a cluster's.
    fn in_cluster(&self) -> bool {
        self.node.is_some()
    }

    /// Tells the other nodes, in a cluster; a single node tells no one. Every message the hub
    /// publishes goes through here.
    fn tell_nodes(&self, out: &mut impl Outbox, body: &Body<'_>) {
        if self.in_cluster() {
            out.publish(body);
        }
    }
}

type RoomId = usize;

struct Member {
    name: Box<str>,
    room: RoomId,
    /// Index in its room's `members`.
    slot: usize,
    /// The others have been told it joined.
    announced: bool,
    ip: IpAddr,
    oper: bool,
    /// Its chat lines are refused.
    muted: bool,
    /// In a cluster: its name was claimed for it (and must be let go of).
    claimed: bool,
}

struct Room {
    /// As it was first joined, without its `#`.
    name: Box<str>,
    /// Its members' ids, dense, for broadcasting.
    members: Vec<ClientId>,
    /// Members on other nodes of the cluster (see [`Hub::remotes`]).
    remote: usize,
    topic: Option<Box<str>>,
    /// Its last chat lines, oldest first.
    history: VecDeque<Line>,
}

/// The chat: every connected client, its name and room, the rooms, and the rules.
pub struct Hub {
    config: HubConfig,
    /// Indexed by `ClientId`.
    members: Vec<Option<Member>>,
    online: usize,
    rooms: Slab<Room>,
    /// Lower-cased room name to its id: room names are matched ignoring case.
    by_room: HashMap<Box<str>, RoomId>,
    lobby: RoomId,
    /// Lower-cased name to id: names are unique ignoring case.
    by_name: HashMap<Box<str>, ClientId>,
    next_guest: u64,
    /// Connected but not yet announced, in join order (all in the lobby).
    pending_joins: Vec<ClientId>,
    /// Clients per address, kept only when `max_per_ip` is set.
    per_ip: HashMap<IpAddr, usize>,
    /// Connections at a gate, not in any room.
    gated: HashMap<ClientId, Gate>,
    /// No gate's deadline is before this one.
    next_gate_deadline: Option<Instant>,
    access: Access,
    /// The time, as last told by the driver.
    now: Instant,
    /// Clients of the other nodes, by lower-cased name.
    remotes: HashMap<Box<str>, remote::RemoteMember>,
    /// The other nodes, and when each was last heard from.
    nodes: HashMap<Box<str>, Instant>,
    /// The cluster link is up (or there is no cluster).
    link_up: bool,
    /// The link has said whether it is up at least once.
    link_seen: bool,
    /// Names asked of the cluster and not answered yet, by client.
    claims: HashMap<ClientId, Box<str>>,
    /// The cluster's history of rooms that do not exist here yet, by lower-cased name.
    stored: HashMap<Box<str>, VecDeque<Line>>,
    /// Builds the notices, one work buffer for all.
    notices: Notices,
}

impl Hub {
    /// A hub with only the lobby; `now` is the time as the driver tells it.
    pub fn new(config: HubConfig, now: Instant) -> Hub {
        // In a cluster, the link is down until it says it is up.
        let link_up = config.node.is_none();
        let mut hub = Hub {
            config,
            members: Vec::new(),
            online: 0,
            rooms: Slab::new(),
            by_room: HashMap::new(),
            lobby: 0,
            by_name: HashMap::new(),
            next_guest: 1,
            pending_joins: Vec::new(),
            per_ip: HashMap::new(),
            gated: HashMap::new(),
            next_gate_deadline: None,
            access: Access::default(),
            now,
            remotes: HashMap::new(),
            nodes: HashMap::new(),
            link_up,
            link_seen: false,
            claims: HashMap::new(),
            stored: HashMap::new(),
            notices: Notices::default(),
        };
        hub.lobby = hub.make_room(LOBBY);
        hub
    }

    /// How many clients are connected, in all rooms.
    pub fn online(&self) -> usize {
        self.online
    }

    /// How many connections wait at a gate (for a password, or as banned).
    pub fn waiting(&self) -> usize {
        self.gated.len()
    }

    /// The name of a connected client.
    pub fn name(&self, id: ClientId) -> Option<&str> {
        self.member(id).map(|m| &*m.name)
    }

    /// The room a connected client is in, without its `#`.
    pub fn room_of(&self, id: ClientId) -> Option<&str> {
        self.member(id).map(|m| &*self.rooms[m.room].name)
    }

    /// How many rooms there are, the lobby included.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    pub fn handle(&mut self, event: Event<'_>, out: &mut impl Outbox) {
        match event {
            Event::Connected(id, ip) => self.connect(id, ip, out),
            Event::Line(id, bytes) => self.line(id, bytes, out),
            Event::LineTooLong(id) => {
                if self.gated.contains_key(&id) {
                    self.gate_line(id, "", out);
                } else if self.member(id).is_some() {
                    let msg = format!("! line too long (max {} bytes)\n", self.config.max_line);
                    out.send(id, &line(msg.as_bytes()));
                }
            }
            Event::Disconnected(id, why) => self.leave(id, why, out),
            Event::Cluster(msg) => self.remote(msg, out),
            Event::Link(up) => self.link(up, out),
            Event::Claimed(id, name, claim) => self.claimed(id, name, claim, out),
            Event::Stored(lines) => self.stored(lines),
        }
    }

    /// The time is now `now`: closes the connections that stayed at a gate too long. Drivers
    /// call it before handling events, and again by [`Hub::next_deadline`].
    pub fn tick(&mut self, now: Instant, out: &mut impl Outbox) {
        self.now = self.now.max(now);
        self.lose_silent_nodes(out);
        if self.next_gate_deadline.is_none_or(|d| d > self.now) {
            return;
        }
        let now = self.now;
        let expired: Vec<ClientId> = self
            .gated
            .iter()
            .filter(|(_, g)| g.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(gate) = self.gated.get(&id)
                && matches!(gate.why, Held::Password { .. })
            {
                out.send(id, &line(b"! no password given in time\n"));
            }
            self.close_gate(id, out);
        }
        self.next_gate_deadline = self.gated.values().map(|g| g.deadline).min();
    }

    /// When [`Hub::tick`] next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let node_lost = self
            .nodes
            .values()
            .min()
            .map(|&seen| seen + remote::NODE_LOST);
        match (self.next_gate_deadline, node_lost) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The driver finished a batch of events: announce the clients who joined during it.
    pub fn end_turn(&mut self, out: &mut impl Outbox) {
        self.announce_joins(out);
    }

    /// The server is stopping: tell everyone, and close them all.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        self.config.tell_nodes(out, &Body::Bye);
        let bye = line(b"* server shutting down\n");
        for (_, room) in self.rooms.iter_mut() {
            for id in room.members.drain(..) {
                out.send(id, &bye);
                out.close(id);
            }
        }
        self.members.clear();
        self.online = 0;
        self.by_name.clear();
        self.pending_joins.clear();
        self.per_ip.clear();
        for (id, _) in self.gated.drain() {
            out.send(id, &bye);
            out.close(id);
        }
    }

    fn member(&self, id: ClientId) -> Option<&Member> {
        self.members.get(id).and_then(Option::as_ref)
    }

    fn connect(&mut self, id: ClientId, ip: IpAddr, out: &mut impl Outbox) {
        if self.member(id).is_some() || self.gated.contains_key(&id) {
            debug_assert!(false, "client {id} connected twice");
            return;
        }
        if self.online + self.gated.len() >= self.config.max_clients {
            out.send(id, &line(b"! server full\n"));
            out.close(id);
            return;
        }
        if self.config.max_per_ip > 0 {
            let count = self.per_ip.entry(ip).or_insert(0);
            if *count >= self.config.max_per_ip {
                out.send(id, &line(b"! too many connections from your address\n"));
                out.close(id);
                return;
            }
            *count += 1;
        }
        if let Some(left) = self.access.banned(ip, self.now) {
            log::info!("{ip}: banned, refused ({} more minutes)", minutes(left));
            let msg = format!("! banned ({} more minutes)\n", minutes(left));
            out.send(id, &line(msg.as_bytes()));
            return self.hold(id, ip, Held::Banned, BANNED_GRACE);
        }
        if self.config.password.is_some() {
            out.send(id, &line(b"* password required: send /pass PASSWORD\n"));
            return self.hold(id, ip, Held::Password { tries: 0 }, PASSWORD_TIME);
        }
        self.admit(id, ip, out);
    }

    /// Lets a connection in: a name, the lobby, a welcome.
    fn admit(&mut self, id: ClientId, ip: IpAddr, out: &mut impl Outbox) {
        let name = self.guest_name();
        let welcome = format!(
            "* welcome {name}, {} online; type /help for commands\n",
            self.online + 1 + self.remotes.len()
        );
        self.by_name.insert(name.to_ascii_lowercase().into(), id);
        if self.members.len() <= id {
            self.members.resize_with(id + 1, || None);
        }
        let lobby = self.lobby;
        self.members[id] = Some(Member {
            name,
            room: lobby,
            slot: 0,
            announced: false,
            ip,
            oper: false,
            muted: false,
            claimed: false,
        });
        self.enter(id, lobby);
        self.online += 1;
        self.pending_joins.push(id);
        out.send(id, &line(welcome.as_bytes()));
        if self.config.in_cluster() && self.link_seen && !self.link_up {
            // The others were told when it went down; a newcomer is told now.
            out.send(id, &line(remote::LINK_DOWN));
        }
        self.show_topic(id, out);
        self.show_history(id, None, true, out);
    }

    /// `guestN`, or in a cluster `guestN-NODE`: no other node makes the same.
    fn guest_name(&mut self) -> Box<str> {
        loop {
            let name = match &self.config.node {
                Some(node) => format!("guest{}-{node}", self.next_guest),
                None => format!("guest{}", self.next_guest),
            };
            self.next_guest += 1;
            if !self.name_taken(&name) {
                return name.into();
            }
        }
    }

    /// Whether a client here or on another node has this name (ignoring case).
    fn name_taken(&self, name: &str) -> bool {
        let key = name.to_ascii_lowercase();
        self.by_name.contains_key(key.as_str()) || self.remotes.contains_key(key.as_str())
    }

    fn line(&mut self, id: ClientId, bytes: &[u8], out: &mut impl Outbox) {
        if self.gated.contains_key(&id) {
            let text = String::from_utf8_lossy(bytes);
            return self.gate_line(id, &command::sanitize(&text), out);
        }
        let Some(member) = self.members.get(id).and_then(Option::as_ref) else {
            return;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            out.send(id, &line(b"! invalid UTF-8, line not relayed\n"));
            return;
        };
        let text = command::sanitize(text);
        log::debug!("{}: {}", member.name, text);
        match command::parse(&text) {
            Ok(Input::Empty) => {}
            Ok(Input::Say(_) | Input::Command(Command::Me(_) | Command::Msg { .. }))
            | Ok(Input::Command(Command::Topic(Some(_))))
                if member.muted =>
            {
                out.send(id, &line(b"! you are muted\n"));
            }
            Ok(Input::Say(said)) => {
                let msg = self.notices.said(&member.name, said);
                self.chat(id, msg, out);
            }
            Ok(Input::Command(cmd)) => self.command(id, cmd, out),
            Err(err) => self.error(id, &err, out),
        }
    }

    fn command(&mut self, id: ClientId, cmd: Command<'_>, out: &mut impl Outbox) {
        let name = self.member(id).map(|m| m.name.clone()).unwrap_or_default();
        match cmd {
            Command::Nick(new) => self.rename(id, &name, new, out),
            Command::Join(room) => self.join(id, room, out),
            Command::Part => self.join(id, LOBBY, out),
            Command::Rooms => {
                let mut rooms: Vec<&Room> = self.rooms.iter().map(|(_, r)| r).collect();
                rooms.sort_unstable_by_key(|r| r.name.to_ascii_lowercase());
                let list: Vec<String> = rooms
                    .iter()
                    .map(|r| format!("#{} ({})", r.name, r.members.len() + r.remote))
                    .collect();
                let msg = format!("* rooms ({}): {}\n", list.len(), list.join(", "));
                out.send(id, &line(msg.as_bytes()));
            }
            Command::Who(asked) => {
                let room = match asked {
                    None => self.member(id).map(|m| m.room),
                    Some(r) => self.room_id(r),
                };
                let Some(room) = room else {
                    let asked = asked.unwrap_or_default();
                    return self.error(id, &format_args!("no such room: #{asked}"), out);
                };
                let room_id = room;
                let room = &self.rooms[room];
                let mut names: Vec<&str> =
                    room.members.iter().filter_map(|&i| self.name(i)).collect();
                names.extend(
                    self.remotes
                        .values()
                        .filter(|r| r.room == room_id)
                        .map(|r| &*r.name),
                );
                names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
                let msg = format!(
                    "* online in #{} ({}): {}\n",
                    room.name,
                    names.len(),
                    names.join(", ")
                );
                out.send(id, &line(msg.as_bytes()));
            }
            Command::Topic(None) => self.show_topic_always(id, out),
            Command::Topic(Some(topic)) => {
                let Some(room) = self.member(id).map(|m| m.room) else {
                    return;
                };
                self.rooms[room].topic = Some(topic.into());
                let msg = self.notices.topic_set(&name, &self.rooms[room].name, topic);
                self.broadcast(room, None, &msg, out);
                let room = &self.rooms[room].name;
                self.config.tell_nodes(
                    out,
                    &Body::Topic {
                        room,
                        by: &name,
                        text: topic,
                    },
                );
            }
            Command::History(n) => self.show_history(id, n, false, out),
            Command::Msg { to, text } => match self.by_name.get(to.to_ascii_lowercase().as_str()) {
                Some(&target) => {
                    self.announce_joins(out);
                    let msg = self.notices.private(&name, text);
                    out.send(target, &msg);
                }
                None => match self.remotes.get(to.to_ascii_lowercase().as_str()) {
                    Some(remote) => self.config.tell_nodes(
                        out,
                        &Body::Private {
                            from: &name,
                            to: &remote.name,
                            text,
                        },
                    ),
                    None => self.error(id, &format_args!("no such user: {to}"), out),
                },
            },
            Command::Me(text) => {
                let msg = self.notices.me(&name, text);
                self.chat(id, msg, out);
            }
            Command::Quit(reason) => {
                out.send(id, &line(b"* bye\n"));
                self.remove(id, reason, out);
            }
            Command::Help => {
                out.send(id, &self.notices.star(command::HELP));
            }
            Command::Pass(_) => out.send(id, &line(b"! you are in already\n")),
            Command::Oper(guess) => self.oper(id, guess, out),
            other => self.moderate(id, other, out),
        }
    }

    /// A chat line (`<NAME> TEXT` or a `/me`): to the sender's room, and into its history.
    fn chat(&mut self, id: ClientId, msg: Line, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| m.room) else {
            return;
        };
        self.broadcast(room, Some(id), &msg, out);
        if self.config.in_cluster()
            && let Ok(text) = std::str::from_utf8(&msg[..msg.len() - 1])
        {
            let room = &self.rooms[room].name;
            self.config.tell_nodes(out, &Body::Line { room, text });
        }
        self.remember(room, msg);
    }

    /// Keeps a chat line in its room's history.
    fn remember(&mut self, room: RoomId, msg: Line) {
        if self.config.history > 0 {
            let history = &mut self.rooms[room].history;
            if history.len() == self.config.history {
                history.pop_front();
            }
            history.push_back(msg);
        }
    }

    fn room_id(&self, name: &str) -> Option<RoomId> {
        self.by_room
            .get(name.to_ascii_lowercase().as_str())
            .copied()
    }

    fn make_room(&mut self, name: &str) -> RoomId {
        let history = self
            .stored
            .remove(name.to_ascii_lowercase().as_str())
            .unwrap_or_default();
        let id = self.rooms.insert(Room {
            name: name.into(),
            members: Vec::new(),
            remote: 0,
            topic: None,
            history,
        });
        self.by_room.insert(name.to_ascii_lowercase().into(), id);
        id
    }

    /// Puts `id` in `room` (it is in no room's member list).
    fn enter(&mut self, id: ClientId, room: RoomId) {
        let members = &mut self.rooms[room].members;
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.room = room;
            m.slot = members.len();
        }
        members.push(id);
    }

    /// Takes `id` out of its room's member list; removes the room if that left it empty (the
    /// lobby stays). Returns the room, if it still exists.
    fn exit(&mut self, id: ClientId) -> Option<RoomId> {
        let (room, slot) = self.member(id).map(|m| (m.room, m.slot))?;
        let members = &mut self.rooms[room].members;
        members.swap_remove(slot);
        if let Some(&moved) = members.get(slot)
            && let Some(Some(m)) = self.members.get_mut(moved)
        {
            m.slot = slot;
        }
        if self.rooms[room].members.is_empty() && self.rooms[room].remote == 0 && room != self.lobby
        {
            let gone = self.rooms.remove(room);
            self.by_room.remove(gone.name.to_ascii_lowercase().as_str());
            return None;
        }
        Some(room)
    }

    /// `/join ROOM` (and `/part`, to the lobby): leaves the current room, enters that one,
    /// making it if needed; both rooms are told.
    fn join(&mut self, id: ClientId, to: &str, out: &mut impl Outbox) {
        let Some(from) = self.member(id).map(|m| m.room) else {
            return;
        };
        let target = self.room_id(to);
        if target == Some(from) {
            let msg = format!("! you are already in #{}\n", self.rooms[from].name);
            return out.send(id, &line(msg.as_bytes()));
        }
        if target.is_none() && self.rooms.len() >= self.config.max_rooms {
            let msg = format!("! too many rooms (max {})\n", self.config.max_rooms);
            return out.send(id, &line(msg.as_bytes()));
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
        if let Some(from) = self.exit(id) {
            let went = self.notices.went_to(&name, &to_name);
            self.broadcast(from, None, &went, out);
        }
        self.enter(id, target);
        let came = self.notices.came_from(&name, &from_name);
        self.broadcast(target, Some(id), &came, out);
        self.config.tell_nodes(
            out,
            &Body::Moved {
                name: &name,
                from: &from_name,
                to: &to_name,
            },
        );
        let here = format!(
            "* you are in #{to_name} ({} here)\n",
            self.rooms[target].members.len()
        );
        out.send(id, &line(here.as_bytes()));
        self.show_topic(id, out);
        self.show_history(id, None, true, out);
    }

    /// The topic of the client's room, if it has one.
    fn show_topic(&self, id: ClientId, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| &self.rooms[m.room]) else {
            return;
        };
        if let Some(topic) = &room.topic {
            let msg = format!("* topic of #{}: {topic}\n", room.name);
            out.send(id, &line(msg.as_bytes()));
        }
    }

    /// `/topic`: the topic, or that there is none.
    fn show_topic_always(&self, id: ClientId, out: &mut impl Outbox) {
        let Some(room) = self.member(id).map(|m| &self.rooms[m.room]) else {
            return;
        };
        if room.topic.is_none() {
            let msg = format!("* #{} has no topic\n", room.name);
            return out.send(id, &line(msg.as_bytes()));
        }
        self.show_topic(id, out);
    }

    /// The last `last` (or all) lines of the client's room, bracketed; on entering a room
    /// (`entering`), nothing at all when it has none.
    fn show_history(
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
        let plural = if shown == 1 { "" } else { "s" };
        let head = format!("* history of #{}: {shown} line{plural}\n", room.name);
        out.send(id, &line(head.as_bytes()));
        for msg in room.history.iter().skip(kept - shown) {
            out.send(id, msg);
        }
        out.send(id, &line(b"* end of history\n"));
    }

    fn rename(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        let key: Box<str> = new.to_ascii_lowercase().into();
        match self.by_name.get(&key) {
            Some(&owner) if owner != id => {
                return self.error(id, &format_args!("name taken: {new}"), out);
            }
            _ => {}
        }
        if old == new {
            return out.send(id, &self.notices.you_are_now(new));
        }
        if self.remotes.contains_key(&key) {
            return self.error(id, &format_args!("name taken: {new}"), out);
        }
        if self.config.in_cluster() && !old.eq_ignore_ascii_case(new) {
            // Free here; the cluster decides.
            if self.claims.contains_key(&id) {
                return self.error(id, &"a name is being asked for already", out);
            }
            self.claims.insert(id, new.into());
            return out.claim(id, new);
        }
        self.rename_now(id, old, new, out);
    }

    fn rename_now(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        let key: Box<str> = new.to_ascii_lowercase().into();
        self.by_name.remove(old.to_ascii_lowercase().as_str());
        self.by_name.insert(key, id);
        let Some(Some(m)) = self.members.get_mut(id) else {
            return;
        };
        m.name = new.into();
        if m.announced {
            self.config.tell_nodes(out, &Body::Renamed { old, new });
        }
        let room = m.room;
        out.send(id, &self.notices.you_are_now(new));
        let notice = self.notices.renamed(old, new);
        self.broadcast(room, Some(id), &notice, out);
    }

    fn leave(&mut self, id: ClientId, why: Leave, out: &mut impl Outbox) {
        if self.gated.contains_key(&id) {
            return self.close_gate(id, out);
        }
        if self.member(id).is_none() {
            return;
        }
        if matches!(why, Leave::Flooding | Leave::IdleTimeout) {
            let reason = why.reason().unwrap_or_default();
            out.send(id, &self.notices.dropped(reason));
        }
        self.remove(id, why.reason(), out);
    }

    /// Forgets `id` and has the driver close it. Returns its name and the room it was in (if
    /// that room is left and anyone was told it joined).
    /// The other nodes are told it left, for `reason`.
    fn forget(
        &mut self,
        id: ClientId,
        reason: Option<&str>,
        out: &mut impl Outbox,
    ) -> Option<(Box<str>, RoomId)> {
        let room = self.exit(id);
        let member = self.members.get_mut(id).and_then(Option::take)?;
        self.claims.remove(&id);
        if member.claimed {
            out.release(&member.name);
        }
        self.online -= 1;
        self.by_name
            .remove(member.name.to_ascii_lowercase().as_str());
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
        Some((member.name, room?))
    }

    /// Forgets `id`, tells its room why it left, and has the driver close it.
    fn remove(&mut self, id: ClientId, reason: Option<&str>, out: &mut impl Outbox) {
        let Some((name, room)) = self.forget(id, reason, out) else {
            return;
        };
        let msg = self.notices.left(&name, reason);
        self.broadcast(room, None, &msg, out);
    }

    fn error(&mut self, id: ClientId, err: &dyn std::fmt::Display, out: &mut impl Outbox) {
        let msg = format!("! {err}\n");
        out.send(id, &line(msg.as_bytes()));
    }

    /// Sends `msg` to every member of `room` but `except`, after any pending join notice.
    fn broadcast(
        &mut self,
        room: RoomId,
        except: Option<ClientId>,
        msg: &Line,
        out: &mut impl Outbox,
    ) {
        self.announce_joins(out);
        for &to in &self.rooms[room].members {
            if Some(to) != except {
                out.send(to, msg);
            }
        }
    }

    /// Tells the lobby who joined since the last announcement: one line for those already
    /// there; each newcomer of the batch hears of those who came after it.
    fn announce_joins(&mut self, out: &mut impl Outbox) {
        if self.pending_joins.is_empty() {
            return;
        }
        let joined = std::mem::take(&mut self.pending_joins);
        let msg = self.joined_line(&joined);
        for &to in &self.rooms[self.lobby].members {
            if self.member(to).is_some_and(|m| m.announced) {
                out.send(to, &msg);
            }
        }
        for (i, &id) in joined.iter().enumerate() {
            if i + 1 < joined.len() {
                out.send(id, &self.joined_line(&joined[i + 1..]));
            }
        }
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

    /// `* a, b and 3 more joined`.
    fn joined_line(&mut self, joined: &[ClientId]) -> Line {
        let members = &self.members;
        let names = joined.iter().map(|&id| match members.get(id) {
            Some(Some(m)) => &*m.name,
            _ => "?",
        });
        self.notices.joined_many(names, JOIN_NAMES_SHOWN)
    }
}

/// Whole minutes, rounded up: what is left of a ban.
fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

fn line(bytes: &[u8]) -> Line {
    Arc::from(bytes)
}

#[cfg(test)]
mod tests;
