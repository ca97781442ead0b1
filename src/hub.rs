//! The chat core: names, rooms, history, commands, and who gets which line. Sans-IO.
//!
//! Both concurrency models drive one [`Hub`]: they report [`Event`]s (a client connected, sent a
//! line, went away) and the hub answers through an [`Outbox`] the driver implements: "send these
//! bytes to that client", "close that client". The hub never touches a socket, a clock or a
//! thread, so every chat rule is written once and tested without I/O.
//!
//! Every client starts in [`LOBBY`]; a line goes to the others in its sender's room. A text
//! connection is in one room at a time (`/join` moves it); one that reads JSON may be in
//! several, one of them the room its plain lines go to (see [`seats`]). Rooms are made by
//! joining them and removed when the last member leaves (the lobby stays). Each room keeps its last `history` chat lines, which whoever enters it
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
mod accounts;
mod by_name;
mod clock;
mod commands;
mod config;
mod event;
mod gate;
mod history;
mod json;
mod kept;
mod login;
mod members;
mod moderation;
mod moves;
mod notice;
mod outbox;
mod quiet;
mod remote;
mod rooms;
mod roster;
mod seats;
use seats::Seat;
mod send;
mod shared_accounts;
mod silent;
mod start;
mod throttle;
mod whois;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::node_wire::Body;
use access::Access;
pub use accounts::{
    HASH_WAIT, Hashed, Hasher, Hashing, MAX_PASSWORD, MAX_WAITING, MIN_PASSWORD, RestoredAccount,
    Waiting,
};
pub use clock::WallClock;
pub use config::HubConfig;
pub use event::{Claim, Event, Leave};
pub use gate::{BANNED_GRACE, PASSWORD_TIME, PASSWORD_TRIES};
use gate::{Gate, Held};
use history::History;
pub use kept::{
    Ask, Found, Keep, Keeper, Page, Restored, RestoredRoom, SEARCH_RESULTS, StoredLine,
};
use notice::Notices;
pub use outbox::{Nodes, Outbox};

/// A client, as numbered by the driver (its slab key). Ids may be reused after a disconnect.
pub type ClientId = usize;

/// One complete output line, `\n` included, shared by all its recipients.
pub type Line = Arc<[u8]>;

/// At most this many names in one coalesced join notice.
pub const JOIN_NAMES_SHOWN: usize = 20;

/// The room every client starts in, and goes back to with `/part`. It is never removed.
pub const LOBBY: &str = "lobby";

/// Most chat lines kept while the cluster link is down, to publish when it is back; older ones
/// are dropped first.
pub const MAX_UNSENT: usize = 10_000;

/// A chat line said here while the cluster link was down.
struct Unsent {
    room: Box<str>,
    at: u64,
    seq: u64,
    text: Box<str>,
}

/// Most lines held for a client while its new name is being asked of the cluster; more are
/// refused (`! too many lines ...`).
pub const MAX_HELD_LINES: usize = 64;

/// Guest numbers a node of a cluster takes at a time from the cluster's counter: `guestN`
/// names are unique across the nodes without a round trip per connection.
pub const GUEST_BLOCK: u64 = 100;

/// In a cluster, how long a client that enters a room no one else here is in waits at most for
/// its history, read from the cluster (this node did not receive its lines until then).
pub const CATCH_UP: Duration = Duration::from_secs(2);

/// How long a newcomer that says nothing waits to be announced (see [`quiet`]): long enough
/// for a client's `/login` sent with its first bytes, or on its welcome over a slow link, to
/// be answered first; short enough that no one notices.
pub const ANNOUNCE_GRACE: Duration = Duration::from_millis(500);

/// How long `/ban` bans without a number of minutes.
pub const DEFAULT_BAN_MINUTES: u32 = 60;

type RoomId = usize;

struct Member {
    name: Box<str>,
    /// The room its plain lines go to; `None`: in no room (a JSON client that left them all).
    here: Option<Seat>,
    /// The other rooms it is in (only a JSON client is in more than one), the one it entered
    /// last at the end: 8 bytes, and no heap, for the client in one room.
    also: seats::Others,
    /// The others have been told it joined.
    announced: bool,
    ip: IpAddr,
    oper: bool,
    /// Its chat lines are refused.
    muted: bool,
    /// In a cluster: its name was claimed for it (and must be let go of).
    claimed: bool,
    /// Logged in: its name is its account's.
    logged_in: bool,
    /// `/echo on`: its own lines come back to it.
    echo: bool,
    /// When it last moved to another room (a muted client moves at most once a minute), in
    /// [`MOVE_TICK`]s since the hub began, rounded up; 0: never.
    moved_at: u32,
}

/// How often a muted client may move to another room: each move is told to two rooms.
pub const MUTED_MOVE_EVERY: Duration = Duration::from_secs(60);
/// The unit of a member's `moved_at`.
const MOVE_TICK: Duration = Duration::from_millis(100);

struct Room {
    /// As it was first joined, without its `#`.
    name: Box<str>,
    /// Its members' ids, dense, for broadcasting.
    members: Vec<ClientId>,
    /// Members on other nodes of the cluster (see [`Hub::remotes`]).
    remote: usize,
    topic: Option<Box<str>>,
    /// Its last chat lines, oldest first.
    history: History,
    /// In a cluster: clients who entered it while its history was being read from the
    /// cluster (see [`CATCH_UP`]); they are shown it once it is in, and meanwhile get no chat
    /// line of the room live (they are in the history they will be shown).
    waiting: Vec<ClientId>,
    /// Until when they wait at most.
    caught_up_by: Option<Instant>,
    /// Its members that read JSON (none: every line goes out as text, with no lookup).
    json_members: usize,
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
    by_name: by_name::ByName,
    next_guest: u64,
    /// Connected but not yet announced, in join order (all in the lobby).
    pending_joins: Vec<ClientId>,
    /// Connected, and not to be announced until they say something or their grace is over.
    quiet: quiet::Quiet,
    /// Clients reading JSON who added a room to theirs since the last announcement (a text
    /// client's move is told at once, to both rooms).
    pending_room_joins: Vec<(RoomId, ClientId)>,
    /// Clients per address, kept only when `max_per_ip` is set.
    per_ip: HashMap<IpAddr, usize>,
    /// Connections at a gate, not in any room.
    gated: HashMap<ClientId, Gate>,
    /// No gate's deadline is before this one.
    next_gate_deadline: Option<Instant>,
    access: Access,
    /// The time, as last told by the driver.
    now: Instant,
    /// When the hub began: what a member's `moved_at` counts from.
    began: Instant,
    /// Clients of the other nodes, by lower-cased name.
    remotes: HashMap<Box<str>, remote::RemoteMember>,
    /// The members who are away, and why (`/away`).
    away: HashMap<ClientId, Box<str>>,
    /// The other nodes, and when each was last heard from.
    nodes: HashMap<Box<str>, Instant>,
    /// The last nodes that said goodbye (a node's id is new each time it starts): what still
    /// comes from them is ignored. At most [`remote::MAX_NODES`].
    stopped_nodes: VecDeque<Box<str>>,
    /// The cluster link is up (or there is no cluster).
    link_up: bool,
    /// The link has said whether it is up at least once.
    link_seen: bool,
    /// Clients waiting for the store's answer: the number of their question, and when it was
    /// asked (their later lines wait meanwhile, at most [`kept::ASK_WAIT`]).
    asking: HashMap<ClientId, (u64, Instant)>,
    /// Questions asked of the store so far.
    asks: u64,
    /// Names asked of the cluster and not answered yet, by client.
    claims: HashMap<ClientId, Box<str>>,
    /// Lines a client sent while its name was being asked of the cluster: they take effect
    /// once the answer is in, in order (see [`MAX_HELD_LINES`]).
    held: HashMap<ClientId, VecDeque<Box<[u8]>>>,
    /// Since when this node's own link to the cluster is down.
    link_down_since: Option<Instant>,
    /// When the link last came back after an outage (µs of Unix time): the history read then
    /// is of what was said before it; a line said since comes live, and is told then.
    reloaded_at_us: Option<u64>,
    /// In a cluster: the guest numbers this node may give, and the block after them.
    guests: std::ops::Range<u64>,
    next_guests: Option<std::ops::Range<u64>>,
    /// More guest numbers were asked for, and not answered yet.
    guests_asked: bool,
    /// The cluster's history of rooms that do not exist here (yet, or any more: a room with
    /// lines rests in a cluster as on one node), by lower-cased name; at most `--max-rooms`.
    stored: HashMap<Box<str>, remote::Resting>,
    /// In a cluster: rooms removed here whose lines this node may not have (it did not follow
    /// them): their history is read once, at the end of the turn, so that they rest here too.
    unread: Vec<Box<str>>,
    /// In a cluster: the last topic of each room the cluster keeps one for, by lower-cased
    /// name, so that a room made here starts with it (at most [`remote::MAX_TOPICS`]).
    topics: HashMap<Box<str>, Box<str>>,
    /// Rooms whose history is being read from the cluster for clients waiting in them.
    catching_up: Vec<RoomId>,
    /// The wall clock, as the driver gave it (see [`Hub::set_clock`]).
    clock: WallClock,
    /// The number of the last chat line said here.
    said: u64,
    /// This node's id, for the lines it says ("" on a single node).
    node_id: Arc<str>,
    /// Chat lines said here while the cluster link was down, to publish when it is back.
    unsent: VecDeque<Unsent>,
    /// Builds the notices, one work buffer for all.
    notices: Notices,
    /// By client: it reads JSON events (`/format json`) instead of text lines.
    json: Vec<bool>,
    /// How many clients read JSON.
    json_clients: usize,
    /// Connections that have not sent a line yet, for the first-line deadline.
    silent: silent::Silent,
    /// A cluster node that does not know the cluster yet, and the clients waiting for it.
    starting: Option<start::Starting>,
    /// Names people own, and the clients whose passwords are being hashed.
    accounts: accounts::Accounts,
}

impl Hub {
    /// A hub with only the lobby; `now` is the time as the driver tells it.
    pub fn new(config: HubConfig, now: Instant) -> Hub {
        let node_id: Arc<str> = config.node.as_deref().unwrap_or("").into();
        // In a cluster, the link is down until it says it is up.
        let link_up = config.node.is_none();
        let starting = (config.in_cluster() && config.learn_cluster_first)
            .then(|| start::Starting::new(now, config.history > 0));
        let mut hub = Hub {
            config,
            members: Vec::new(),
            online: 0,
            rooms: Slab::new(),
            by_room: HashMap::new(),
            lobby: 0,
            by_name: by_name::ByName::default(),
            next_guest: 1,
            pending_joins: Vec::new(),
            quiet: quiet::Quiet::default(),
            pending_room_joins: Vec::new(),
            per_ip: HashMap::new(),
            gated: HashMap::new(),
            next_gate_deadline: None,
            access: Access::default(),
            now,
            began: now,
            remotes: HashMap::new(),
            away: HashMap::new(),
            nodes: HashMap::new(),
            stopped_nodes: VecDeque::new(),
            link_up,
            link_seen: false,
            asking: HashMap::new(),
            asks: 0,
            claims: HashMap::new(),
            held: HashMap::new(),
            link_down_since: None,
            reloaded_at_us: None,
            guests: 0..0,
            next_guests: None,
            guests_asked: false,
            stored: HashMap::new(),
            unread: Vec::new(),
            topics: HashMap::new(),
            catching_up: Vec::new(),
            clock: WallClock {
                at: now,
                unix_us: 0,
            },
            said: 0,
            node_id,
            unsent: VecDeque::new(),
            notices: Notices::default(),
            json: Vec::new(),
            json_clients: 0,
            silent: silent::Silent::default(),
            starting,
            accounts: accounts::Accounts::default(),
        };
        hub.lobby = hub.make_room(LOBBY);
        hub
    }

    /// Sets the wall clock (the hub starts counting from Unix time 0 without one): chat lines
    /// carry their time, which orders a room's history across nodes.
    pub fn set_clock(&mut self, clock: WallClock) {
        self.clock = clock;
    }

    /// Now, in microseconds of Unix time.
    fn wall_us(&self) -> u64 {
        let since = self.now.saturating_duration_since(self.clock.at);
        self.clock.unix_us + since.as_micros() as u64
    }

    /// New settings (a reload): the limits and passwords from now on. The node's id and the
    /// longest line stay as they were (the framing and the cluster were set up with them).
    pub fn reconfigure(&mut self, mut config: HubConfig) {
        config.node = self.config.node.clone();
        config.max_line = self.config.max_line;
        if config.max_per_ip == 0 {
            self.per_ip.clear();
        }
        if config.first_line.is_none() {
            self.silent.clear();
        }
        if config.history < self.config.history {
            for (_, room) in self.rooms.iter_mut() {
                room.history.keep(config.history);
            }
            for resting in self.stored.values_mut() {
                resting.history.keep(config.history);
            }
        }
        self.config = config;
    }

    /// How many clients are connected, in all rooms.
    pub fn online(&self) -> usize {
        self.online
    }

    /// How many connections wait: at a gate (for a password, or as banned), or for the
    /// cluster while this node starts.
    pub fn waiting(&self) -> usize {
        self.gated.len() + self.starting.as_ref().map_or(0, start::Starting::waiting)
    }

    /// The name of a connected client.
    pub fn name(&self, id: ClientId) -> Option<&str> {
        self.member(id).map(|m| &*m.name)
    }

    /// The room a connected client's plain lines go to, without its `#`.
    pub fn room_of(&self, id: ClientId) -> Option<&str> {
        let room = self.member(id)?.room()?;
        Some(&*self.rooms[room].name)
    }

    /// Every room a connected client is in, the one its plain lines go to first.
    pub fn rooms_of(&self, id: ClientId) -> Vec<&str> {
        self.member(id)
            .map(|m| m.rooms().map(|r| &*self.rooms[r].name).collect())
            .unwrap_or_default()
    }

    /// How many rooms there are, the lobby included.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// The one way into the chat: every driver (poll mode's loop, threads mode's threads, the
    /// cluster link's news) turns what happened into an [`Event`] and hands it here, and every
    /// consequence leaves through `out`. It only routes: each kind of event has its function
    /// (a line's in `commands.rs`, another node's in `remote.rs`), so that no rule depends on
    /// which driver, which transport or which node the event came from.
    pub fn handle(&mut self, event: Event<'_>, out: &mut impl Outbox) {
        self.notices.now = self.wall_us();
        match event {
            Event::Connected(id, ip) => {
                if self.config.first_line.is_some() {
                    self.silent.connected(id, self.now);
                }
                if self.starting.is_some() {
                    return self.arrive(id, ip);
                }
                self.connect(id, ip, out)
            }
            Event::Line(id, bytes) => {
                self.silent.spoke(id);
                self.line(id, bytes, out)
            }
            Event::LineTooLong(id) => {
                self.silent.spoke(id);
                if self.gated.contains_key(&id) {
                    self.gate_line(id, "", out);
                } else if self.member(id).is_some() || self.is_arrival(id) {
                    // (One that waits for the node to start is told at once: a line it does
                    // not have cannot wait with its others.)
                    let max = self.config.max_line;
                    self.error(
                        id,
                        "line_too_long",
                        &format_args!("line too long (max {max} bytes)"),
                        out,
                    );
                }
            }
            Event::Disconnected(id, why) => {
                self.silent.spoke(id);
                self.leave(id, why, out)
            }
            Event::Cluster(msg) => {
                self.remote(msg, out);
                self.check_started(out);
            }
            Event::Link(up) => {
                self.link(up, out);
                if up {
                    self.start_link_up();
                }
                self.check_started(out);
            }
            Event::Claimed(id, name, claim) => self.claimed(id, name, claim, out),
            Event::NameLost(name) => self.name_lost(name, out),
            Event::Stored(lines) => {
                self.stored(lines);
                self.start_history_read();
                self.check_started(out);
            }
            Event::Followed(room, lines) => self.followed(room, lines, out),
            Event::Guests(start, end) => self.guest_numbers(start..end),
            Event::Bans(bans) => self.kept_bans(bans),
            Event::Topics(topics) => self.kept_topics(topics),
            Event::Restored(restored) => self.restore(restored),
            Event::Page(page) => self.page(page, out),
            Event::Found(found) => self.found(found, out),
            Event::Hashed(hashed) => self.hashed(hashed, out),
            Event::Answered(id, serial, claim) => self.cluster_answered(id, serial, claim, out),
            Event::Accounts(accounts) => self.kept_accounts(accounts),
            Event::Waited(id, name, waiting) => self.waited(id, name, waiting, out),
        }
    }

    /// The time is now `now`: closes the connections that stayed at a gate too long. Drivers
    /// call it before handling events, and again by [`Hub::next_deadline`].
    pub fn tick(&mut self, now: Instant, out: &mut impl Outbox) {
        self.now = self.now.max(now);
        self.notices.now = self.wall_us();
        self.lose_silent_nodes(out);
        self.check_started(out);
        self.stop_waiting_for_history(out);
        self.close_silent(out);
        self.give_up_asking(out);
        self.give_up_hashing(out);
        self.end_grace(out);
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
                self.error(id, "password_timeout", &"no password given in time", out);
            }
            self.close_gate(id, out);
        }
        self.next_gate_deadline = self.gated.values().map(|g| g.deadline).min();
    }

    /// Closes the clients that have said nothing within the first-line deadline (those at a
    /// gate have the gate's own).
    fn close_silent(&mut self, out: &mut impl Outbox) {
        let Some(limit) = self.config.first_line else {
            return;
        };
        for id in self.silent.expired(self.now, limit) {
            if let Some(m) = self.member(id) {
                log::info!("{}: nothing said in {} s: closed", m.ip, limit.as_secs());
                self.leave(id, Leave::IdleTimeout, out);
            }
        }
    }

    /// When [`Hub::tick`] next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let node_lost = match self.link_down_since {
            // Cut off ourselves: the others are let go of only after a long outage.
            Some(since) if !self.nodes.is_empty() => Some(since + remote::LONG_OUTAGE),
            Some(_) => None,
            None => self
                .nodes
                .values()
                .min()
                .map(|&seen| seen + remote::NODE_LOST),
        };
        let caught_up = self
            .catching_up
            .iter()
            .filter_map(|&room| self.rooms[room].caught_up_by)
            .min();
        let first_line = self
            .config
            .first_line
            .and_then(|limit| self.silent.next_deadline(limit));
        let started = self.start_deadline();
        let quiet = self.quiet.next_deadline(self.config.announce_grace);
        let asked = self
            .asking
            .values()
            .map(|&(_, at)| at + kept::ASK_WAIT)
            .chain(self.accounts.pending.values().map(|p| p.at + HASH_WAIT))
            .min();
        [
            self.next_gate_deadline,
            asked,
            node_lost,
            caught_up,
            first_line,
            started,
            quiet,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The driver finished a batch of events: announce the clients who joined during it.
    pub fn end_turn(&mut self, out: &mut impl Outbox) {
        self.announce_joins(out);
        for room in std::mem::take(&mut self.unread) {
            out.read_room(&room);
        }
    }

    /// The server is stopping: tell everyone, and close them all.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        log::info!("stopping: telling {} clients", self.online);
        self.config.tell_nodes(out, &Body::Bye);
        let bye = self
            .notices
            .event("shutdown", "* server shutting down", |o| {
                o.str("text", "server shutting down")
            });
        let json = std::mem::take(&mut self.json);
        let reads_json = |id: ClientId| json.get(id).copied().unwrap_or(false);
        // Each client once, however many rooms it is in.
        for (id, _) in self.members.iter().enumerate().filter(|(_, m)| m.is_some()) {
            out.send(id, bye.form(reads_json(id)));
            out.close(id);
        }
        for (_, room) in self.rooms.iter_mut() {
            room.members.clear();
            // No one is left to be shown a history, nor to have held lines replayed.
            room.waiting.clear();
            room.caught_up_by = None;
        }
        self.catching_up.clear();
        self.asking.clear();
        self.accounts.pending.clear();
        self.held.clear();
        self.claims.clear();
        self.members.clear();
        self.online = 0;
        self.by_name.clear();
        self.pending_joins.clear();
        self.quiet.clear();
        self.pending_room_joins.clear();
        self.per_ip.clear();
        for (id, _) in self.gated.drain() {
            out.send(id, bye.form(reads_json(id)));
            out.close(id);
        }
        for id in self.take_arrivals() {
            out.send(id, bye.form(false));
            out.close(id);
        }
        self.json_clients = 0;
    }

    /// The client here named `name`, whatever its case.
    fn client_named(&self, name: &str) -> Option<ClientId> {
        self.by_name.get(name, &self.members)
    }

    fn member(&self, id: ClientId) -> Option<&Member> {
        self.members.get(id).and_then(Option::as_ref)
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
