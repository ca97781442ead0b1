//! The chat core: names, commands, and who gets which line. Sans-IO.
//!
//! Both concurrency models drive one [`Hub`]: they report [`Event`]s (a client connected, sent a
//! line, went away) and the hub answers through an [`Outbox`] the driver implements: "send these
//! bytes to that client", "close that client". The hub never touches a socket, a clock or a
//! thread, so every chat rule is written once and tested without I/O.
//!
//! A line for many recipients is formatted once, as one shared [`Line`]; the outbox copies or
//! clones the handle per recipient, never re-formats or re-allocates it.
//!
//! Join notices are coalesced: clients that join between two calls to [`Hub::end_turn`] are
//! announced in one line (`* a, b, c joined`, at most [`JOIN_NAMES_SHOWN`] names then
//! `and N more`), so a burst of N joins costs each member one line per turn, not one per join.
//! Each newcomer of a batch hears of those who joined after it, as if they had come one by one.
//! Pending joins are always announced before any other line, so no one sees a message from a
//! client whose join they have not seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::command::{self, Command, Input};

/// A client, as numbered by the driver (its slab key). Ids may be reused after a disconnect.
pub type ClientId = usize;

/// One complete output line, `\n` included, shared by all its recipients.
pub type Line = Arc<[u8]>;

/// At most this many names in one coalesced join notice.
pub const JOIN_NAMES_SHOWN: usize = 20;

/// Where the hub's decisions go. Implemented by each concurrency model.
pub trait Outbox {
    /// Queue `line` for `to`. Must not block; a driver that cannot take it (the client's backlog is
    /// full) drops the client later, reporting [`Event::Disconnected`] with [`Leave::TooSlow`].
    fn send(&mut self, to: ClientId, line: &Line);
    /// Flush what is queued for `who`, then close it. The hub has already forgotten `who`.
    fn close(&mut self, who: ClientId);
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
}

/// The chat rules' settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub max_clients: usize,
    /// Only quoted in the `! line too long` error; framing enforces it.
    pub max_line: usize,
    /// Most clients from one address; 0 means no limit.
    pub max_per_ip: usize,
}

struct Member {
    name: Box<str>,
    /// Index in `Hub::online`.
    slot: usize,
    /// The others have been told it joined.
    announced: bool,
    ip: IpAddr,
}

/// The chat room: every connected client, its name, and the rules.
pub struct Hub {
    config: HubConfig,
    /// Indexed by `ClientId`.
    members: Vec<Option<Member>>,
    /// The ids of all members, dense, for broadcasting.
    online: Vec<ClientId>,
    /// Lower-cased name to id: names are unique ignoring case.
    by_name: HashMap<Box<str>, ClientId>,
    next_guest: u64,
    /// Joined but not yet announced, in join order.
    pending_joins: Vec<ClientId>,
    /// Clients per address, kept only when `max_per_ip` is set.
    per_ip: HashMap<IpAddr, usize>,
    scratch: Vec<u8>,
}

impl Hub {
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            config,
            members: Vec::new(),
            online: Vec::new(),
            by_name: HashMap::new(),
            next_guest: 1,
            pending_joins: Vec::new(),
            per_ip: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// How many clients are in the room.
    pub fn online(&self) -> usize {
        self.online.len()
    }

    /// The name of a client in the room.
    pub fn name(&self, id: ClientId) -> Option<&str> {
        self.member(id).map(|m| &*m.name)
    }

    pub fn handle(&mut self, event: Event<'_>, out: &mut impl Outbox) {
        match event {
            Event::Connected(id, ip) => self.connect(id, ip, out),
            Event::Line(id, bytes) => self.line(id, bytes, out),
            Event::LineTooLong(id) => {
                if self.member(id).is_some() {
                    let msg = format!("! line too long (max {} bytes)\n", self.config.max_line);
                    out.send(id, &line(msg.as_bytes()));
                }
            }
            Event::Disconnected(id, why) => self.leave(id, why, out),
        }
    }

    /// The driver finished a batch of events: announce the clients who joined during it.
    pub fn end_turn(&mut self, out: &mut impl Outbox) {
        self.announce_joins(out);
    }

    /// The server is stopping: tell everyone, and close them all.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        let bye = line(b"* server shutting down\n");
        for id in std::mem::take(&mut self.online) {
            out.send(id, &bye);
            out.close(id);
        }
        self.members.clear();
        self.by_name.clear();
        self.pending_joins.clear();
        self.per_ip.clear();
    }

    fn member(&self, id: ClientId) -> Option<&Member> {
        self.members.get(id).and_then(Option::as_ref)
    }

    fn connect(&mut self, id: ClientId, ip: IpAddr, out: &mut impl Outbox) {
        if self.member(id).is_some() {
            debug_assert!(false, "client {id} connected twice");
            return;
        }
        if self.online.len() >= self.config.max_clients {
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
        let name = self.guest_name();
        let welcome = format!(
            "* welcome {name}, {} online; type /help for commands\n",
            self.online.len() + 1
        );
        self.by_name.insert(name.to_ascii_lowercase().into(), id);
        if self.members.len() <= id {
            self.members.resize_with(id + 1, || None);
        }
        self.members[id] = Some(Member {
            name,
            slot: self.online.len(),
            announced: false,
            ip,
        });
        self.online.push(id);
        self.pending_joins.push(id);
        out.send(id, &line(welcome.as_bytes()));
    }

    fn guest_name(&mut self) -> Box<str> {
        loop {
            let name = format!("guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.by_name.contains_key(name.as_str()) {
                return name.into();
            }
        }
    }

    fn line(&mut self, id: ClientId, bytes: &[u8], out: &mut impl Outbox) {
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
            Ok(Input::Say(said)) => {
                let msg = format(
                    &mut self.scratch,
                    &[b"<", member.name.as_bytes(), b"> ", said.as_bytes()],
                );
                self.broadcast(Some(id), &msg, out);
            }
            Ok(Input::Command(cmd)) => self.command(id, cmd, out),
            Err(err) => self.error(id, &err, out),
        }
    }

    fn command(&mut self, id: ClientId, cmd: Command<'_>, out: &mut impl Outbox) {
        let name = self.member(id).map(|m| m.name.clone()).unwrap_or_default();
        match cmd {
            Command::Nick(new) => self.rename(id, &name, new, out),
            Command::Who => {
                let mut names: Vec<&str> =
                    self.online.iter().filter_map(|&i| self.name(i)).collect();
                names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
                let msg = format!("* online ({}): {}\n", names.len(), names.join(", "));
                out.send(id, &line(msg.as_bytes()));
            }
            Command::Msg { to, text } => match self.by_name.get(to.to_ascii_lowercase().as_str()) {
                Some(&target) => {
                    self.announce_joins(out);
                    let msg = format(
                        &mut self.scratch,
                        &[b"*", name.as_bytes(), b"* ", text.as_bytes()],
                    );
                    out.send(target, &msg);
                }
                None => self.error(id, &format_args!("no such user: {to}"), out),
            },
            Command::Me(text) => {
                let msg = format(
                    &mut self.scratch,
                    &[b"* ", name.as_bytes(), b" ", text.as_bytes()],
                );
                self.broadcast(Some(id), &msg, out);
            }
            Command::Quit(reason) => {
                out.send(id, &line(b"* bye\n"));
                self.remove(id, reason, out);
            }
            Command::Help => {
                out.send(
                    id,
                    &format(&mut self.scratch, &[b"* ", command::HELP.as_bytes()]),
                );
            }
        }
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
            return out.send(
                id,
                &format(&mut self.scratch, &[b"* you are now ", new.as_bytes()]),
            );
        }
        self.by_name.remove(old.to_ascii_lowercase().as_str());
        self.by_name.insert(key, id);
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.name = new.into();
        }
        out.send(
            id,
            &format(&mut self.scratch, &[b"* you are now ", new.as_bytes()]),
        );
        let notice = format(
            &mut self.scratch,
            &[b"* ", old.as_bytes(), b" is now ", new.as_bytes()],
        );
        self.broadcast(Some(id), &notice, out);
    }

    fn leave(&mut self, id: ClientId, why: Leave, out: &mut impl Outbox) {
        if self.member(id).is_none() {
            return;
        }
        if matches!(why, Leave::Flooding | Leave::IdleTimeout) {
            let reason = why.reason().unwrap_or_default();
            out.send(id, &format(&mut self.scratch, &[b"! ", reason.as_bytes()]));
        }
        self.remove(id, why.reason(), out);
    }

    /// Forgets `id`, tells the others why it left, and has the driver close it.
    fn remove(&mut self, id: ClientId, reason: Option<&str>, out: &mut impl Outbox) {
        let Some(member) = self.members.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.online.swap_remove(member.slot);
        if let Some(&moved) = self.online.get(member.slot)
            && let Some(Some(m)) = self.members.get_mut(moved)
        {
            m.slot = member.slot;
        }
        self.by_name
            .remove(member.name.to_ascii_lowercase().as_str());
        if self.config.max_per_ip > 0
            && let Some(count) = self.per_ip.get_mut(&member.ip)
        {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&member.ip);
            }
        }
        out.close(id);
        if !member.announced {
            // Never announced: its leaving is not news either.
            self.pending_joins.retain(|&p| p != id);
            return;
        }
        let msg = match reason {
            Some(r) => format(
                &mut self.scratch,
                &[
                    b"* ",
                    member.name.as_bytes(),
                    b" left (",
                    r.as_bytes(),
                    b")",
                ],
            ),
            None => format(
                &mut self.scratch,
                &[b"* ", member.name.as_bytes(), b" left"],
            ),
        };
        self.broadcast(None, &msg, out);
    }

    fn error(&mut self, id: ClientId, err: &dyn std::fmt::Display, out: &mut impl Outbox) {
        let msg = format!("! {err}\n");
        out.send(id, &line(msg.as_bytes()));
    }

    /// Sends `msg` to every member but `except`, after any pending join notice.
    fn broadcast(&mut self, except: Option<ClientId>, msg: &Line, out: &mut impl Outbox) {
        self.announce_joins(out);
        for &to in &self.online {
            if Some(to) != except {
                out.send(to, msg);
            }
        }
    }

    /// Tells the room who joined since the last announcement: one line for those already
    /// there; each newcomer of the batch hears of those who came after it.
    fn announce_joins(&mut self, out: &mut impl Outbox) {
        if self.pending_joins.is_empty() {
            return;
        }
        let joined = std::mem::take(&mut self.pending_joins);
        let msg = self.joined_line(&joined);
        for &to in &self.online {
            if self.member(to).is_some_and(|m| m.announced) {
                out.send(to, &msg);
            }
        }
        for (i, &id) in joined.iter().enumerate() {
            if i + 1 < joined.len() {
                out.send(id, &self.joined_line(&joined[i + 1..]));
            }
        }
        for id in joined {
            if let Some(Some(m)) = self.members.get_mut(id) {
                m.announced = true;
            }
        }
    }

    /// `* a, b and 3 more joined`.
    fn joined_line(&self, joined: &[ClientId]) -> Line {
        let mut text = String::from("* ");
        for (i, &id) in joined.iter().take(JOIN_NAMES_SHOWN).enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(self.name(id).unwrap_or("?"));
        }
        if joined.len() > JOIN_NAMES_SHOWN {
            text.push_str(&format!(" and {} more", joined.len() - JOIN_NAMES_SHOWN));
        }
        text.push_str(" joined\n");
        line(text.as_bytes())
    }
}

/// Concatenates `parts` and a `\n` into one shared line, using `scratch` as the work space.
fn format(scratch: &mut Vec<u8>, parts: &[&[u8]]) -> Line {
    scratch.clear();
    for p in parts {
        scratch.extend_from_slice(p);
    }
    scratch.push(b'\n');
    line(scratch)
}

fn line(bytes: &[u8]) -> Line {
    Arc::from(bytes)
}

#[cfg(test)]
mod tests;
