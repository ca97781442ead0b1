//! What a client's line does: chat text to its room, or one of the commands (`/nick`, `/join`,
//! `/who`, `/msg`, ...). The operators' commands are in [`super::moderation`], the gate's in
//! [`super::gate`].

use std::collections::VecDeque;

use super::json::string;
use super::kept::Keep;
use super::{Body, ClientId, Hub, MAX_HELD_LINES, Outbox, RoomId, remote};
use crate::command::{self, Command, Input};
use crate::metrics::{METRICS, Metrics};

impl Hub {
    pub(super) fn line(&mut self, id: ClientId, bytes: &[u8], out: &mut impl Outbox) {
        if self.gated.contains_key(&id) {
            let text = String::from_utf8_lossy(bytes);
            return self.gate_line(id, &command::sanitize(&text), out);
        }
        if !self.claims.is_empty() && self.claims.contains_key(&id) {
            // Its /nick is being asked of the cluster: what it says next is said under the
            // name it gets, so it waits for the answer.
            return self.hold_line(id, bytes, out);
        }
        if !self.asking.is_empty() && self.asking.contains_key(&id) {
            // Its /history or /search is being answered: what it says next comes after.
            return self.hold_line(id, bytes, out);
        }
        if !self.accounts.pending.is_empty() && self.accounts.pending.contains_key(&id) {
            // Its password is being checked: what it says next is said under the name that
            // gives it.
            return self.hold_line(id, bytes, out);
        }
        if self.starting.is_some() && self.is_arrival(id) {
            // Come while this node learns the cluster: it says it once it is in.
            return self.hold_line(id, bytes, out);
        }
        let Some(member) = self.members.get(id).and_then(Option::as_ref) else {
            return;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return self.error(id, "invalid_utf8", &"invalid UTF-8, line not relayed", out);
        };
        let text = command::sanitize(text);
        log::debug!("{}: {}", member.name, command::loggable(&text));
        let input = command::parse(&text);
        if self.quiet.contains(id) {
            // Its first words: it is announced before they take effect, unless it logs in
            // first (announced once the login is answered, under the name it gives).
            let keeps_quiet = matches!(
                input,
                Ok(Input::Empty
                    | Input::Command(
                        Command::Login { .. } | Command::Format(_) | Command::Echo(_)
                    ))
            );
            if !keeps_quiet {
                self.end_quiet(id);
            }
        }
        let Some(member) = self.member(id) else {
            return;
        };
        match input {
            Ok(Input::Empty) => {}
            // Muted: no word to anyone, and no new name to say one under.
            Ok(Input::Say(_))
            | Ok(Input::Command(Command::Me(_) | Command::Msg { .. } | Command::Say { .. }))
            | Ok(Input::Command(
                Command::Topic(Some(_))
                | Command::Nick(_)
                | Command::Login { .. }
                | Command::Away(Some(_)),
            )) if member.muted => {
                self.error(id, "muted", &"you are muted", out);
            }
            Ok(Input::Say(said)) => match member.room() {
                Some(room) => self.chat(id, room, false, said, out),
                None => self.no_room(id, out),
            },
            Ok(Input::Command(cmd)) => self.command(id, cmd, out),
            Err(err) => self.error(id, err.code(), &err, out),
        }
    }

    /// Keeps a line of a client whose name is being asked of the cluster, or that came while
    /// this node was starting.
    fn hold_line(&mut self, id: ClientId, bytes: &[u8], out: &mut impl Outbox) {
        if self
            .held
            .get(&id)
            .is_some_and(|h| h.len() >= MAX_HELD_LINES)
        {
            let msg = if self.claims.contains_key(&id) {
                "too many lines while your new name is being asked for; line dropped"
            } else if self.asking.contains_key(&id) {
                "too many lines while your /history or /search is answered; line dropped"
            } else if self.accounts.pending.contains_key(&id) {
                "too many lines while your password is checked; line dropped"
            } else {
                "too many lines while the server starts; line dropped"
            };
            return self.error(id, "too_many_held", &msg, out);
        }
        self.held.entry(id).or_default().push_back(bytes.into());
    }

    /// The cluster answered a client's claim: the lines it sent meanwhile take effect now, in
    /// order (up to another /nick among them, which holds the rest again).
    pub(super) fn replay_held(&mut self, id: ClientId, out: &mut impl Outbox) {
        while !self.claims.contains_key(&id)
            && !self.asking.contains_key(&id)
            && !self.accounts.pending.contains_key(&id)
        {
            let Some(line) = self.held.get_mut(&id).and_then(VecDeque::pop_front) else {
                break;
            };
            self.line(id, &line, out);
        }
        if self.held.get(&id).is_some_and(VecDeque::is_empty) {
            self.held.remove(&id);
        }
    }

    /// One command of a client in the chat: each has a function of its own below (or in
    /// `rooms.rs`, `moderation.rs`), so this only routes.
    pub(super) fn command(&mut self, id: ClientId, cmd: Command<'_>, out: &mut impl Outbox) {
        let Some(m) = self.member(id) else {
            return;
        };
        let (name, room) = (m.name.clone(), m.room());
        match cmd {
            Command::Nick(new) => self.rename(id, &name, new, out),
            Command::Join(room) => self.join(id, room, out),
            Command::Part(room) => self.part(id, room, out),
            Command::Say { room, text } => match self.joined_room(id, room) {
                Some(room) => self.chat(id, room, false, text, out),
                None => {
                    let msg = format!("you are not in #{room}");
                    self.error(id, "not_in_room", &msg, out)
                }
            },
            Command::Rooms => self.list_rooms(id, out),
            Command::HistoryBefore { id: line, n } => self.history_before(id, room, line, n, out),
            Command::Search { room, words } => self.search(id, room, words, out),
            Command::Limits => self.limits(id, out),
            Command::Who(asked) => self.who(id, asked, out),
            Command::Whois(asked) => self.whois(id, asked, out),
            Command::Away(text) => self.set_away(id, text, out),
            Command::Msg { to, text } => self.private(id, &name, to, text, out),
            Command::Topic(_) | Command::History(_) | Command::Me(_) => match room {
                Some(room) => self.room_command(id, room, &name, cmd, out),
                None => self.no_room(id, out),
            },
            Command::Quit(reason) => {
                self.notice(id, "bye", &"bye", out);
                self.remove(id, reason, out);
            }
            Command::Help => self.notice(id, "help", &command::HELP, out),
            Command::Pass(_) => self.error(id, "already_in", &"you are in already", out),
            Command::Format(false) if self.reads_json(id) => self.back_to_text(id, out),
            Command::Format(json) => {
                self.set_json(id, json);
                let text = if json { "format: json" } else { "format: text" };
                self.notice(id, "format", &text, out);
            }
            Command::Echo(on) => {
                if let Some(Some(m)) = self.members.get_mut(id) {
                    m.echo = on;
                }
                let text = if on { "echo: on" } else { "echo: off" };
                self.notice(id, "echo", &text, out);
            }
            Command::Oper(guess) => self.oper(id, guess, out),
            Command::Register(_)
            | Command::Login { .. }
            | Command::Logout
            | Command::Password { .. }
            | Command::Unregister(_)
            | Command::Drop(_) => self.account_command(id, cmd, out),
            other => self.moderate(id, other, out),
        }
    }

    /// A command about the room the client's plain lines go to.
    fn room_command(
        &mut self,
        id: ClientId,
        room: RoomId,
        name: &str,
        cmd: Command<'_>,
        out: &mut impl Outbox,
    ) {
        match cmd {
            Command::Topic(None) => self.show_topic_always(id, room, out),
            Command::Topic(Some(topic)) => self.set_topic(room, name, topic, out),
            Command::History(n) => self.show_history(id, room, n, false, out),
            Command::Me(text) => self.chat(id, room, true, text, out),
            _ => {}
        }
    }

    /// A client in no room said what needs one.
    pub(super) fn no_room(&mut self, id: ClientId, out: &mut impl Outbox) {
        let msg = "you are in no room: /join ROOM first";
        self.error(id, "no_room", &msg, out);
    }

    /// `/rooms`: every room here, with how many are in it (here and on other nodes), and in
    /// a cluster also those no one is in that the cluster keeps lines or a topic of (resting,
    /// as a single node's rooms with a topic or lines are).
    fn list_rooms(&mut self, id: ClientId, out: &mut impl Outbox) {
        let mut rooms: Vec<(&str, usize)> = self
            .rooms
            .iter()
            .map(|(_, r)| (&*r.name, r.members.len() + r.remote))
            .collect();
        if self.config.in_cluster() {
            let with_lines = self
                .stored
                .values()
                .filter(|r| r.history.len() > 0)
                .map(|r| &*r.name);
            let with_topic = self
                .topics
                .keys()
                .filter(|key| !self.stored.contains_key(&***key))
                .filter(|key| command::valid_name(key))
                .map(|key| &**key);
            let resting = with_lines
                .chain(with_topic)
                .filter(|name| self.room_id(name).is_none());
            rooms.extend(resting.map(|name| (name, 0)));
        }
        rooms.sort_unstable_by_key(|(name, _)| name.to_ascii_lowercase());
        let list: Vec<String> = rooms
            .iter()
            .map(|(name, here)| format!("#{name} ({here})"))
            .collect();
        let objects: Vec<String> = rooms
            .iter()
            .map(|(name, here)| {
                let mut o = String::from("{\"name\":");
                string(&mut o, name);
                o.push_str(&format!(",\"here\":{here}}}"));
                o
            })
            .collect();
        let text = format!("* rooms ({}): {}", list.len(), list.join(", "));
        let msg = self.notices.event("rooms", &text, |o| {
            o.objs("rooms", objects.iter().map(String::as_str))
        });
        self.send(id, &msg, out);
    }

    /// `/limits`: what a client may send, so that it can pace itself (and say so) rather than
    /// have its lines wait unseen in the server's socket.
    fn limits(&mut self, id: ClientId, out: &mut impl Outbox) {
        let (rate, burst, max) = (self.config.rate, self.config.burst, self.config.max_line);
        let text = if rate > 0.0 {
            format!(
                "* limits: {rate} lines a second after {burst} at once; lines up to {max} bytes"
            )
        } else {
            format!("* limits: no line rate; lines up to {max} bytes")
        };
        let msg = self.notices.event("limits", &text, |o| {
            o.float("rate", rate)
                .float("burst", burst)
                .num("max_line", max as u64)
        });
        self.send(id, &msg, out);
    }

    /// `/who [ROOM]`: who is in the client's room, or in the one asked.
    fn who(&mut self, id: ClientId, asked: Option<&str>, out: &mut impl Outbox) {
        let room = match asked {
            None => match self.member(id).and_then(|m| m.room()) {
                None => return self.no_room(id, out),
                room => room,
            },
            Some(r) => self.room_id(r),
        };
        let Some(room_id) = room else {
            let asked = asked.unwrap_or_default();
            return self.error(
                id,
                "no_such_room",
                &format_args!("no such room: #{asked}"),
                out,
            );
        };
        let room = &self.rooms[room_id];
        let mut names: Vec<&str> = room.members.iter().filter_map(|&i| self.name(i)).collect();
        names.extend(
            self.remotes
                .values()
                .filter(|r| r.rooms.contains(&room_id))
                .map(|r| &*r.name),
        );
        names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
        let text = format!(
            "* online in #{} ({}): {}",
            room.name,
            names.len(),
            names.join(", ")
        );
        let names: Vec<String> = names.into_iter().map(str::to_string).collect();
        let room = room.name.clone();
        let msg = self.notices.event("who", &text, |o| {
            o.str("room", &room)
                .strs("names", names.iter().map(String::as_str))
        });
        self.send(id, &msg, out);
    }

    /// `/topic TEXT` from `name`: sets the topic of `room`, tells the room and the other nodes.
    fn set_topic(&mut self, room: RoomId, name: &str, topic: &str, out: &mut impl Outbox) {
        self.rooms[room].topic = Some(topic.into());
        let msg = self.notices.topic_set(name, &self.rooms[room].name, topic);
        self.broadcast(room, None, &msg, out);
        let room = self.rooms[room].name.clone();
        if self.config.in_cluster() {
            // Kept before it is told: a node that reads the kept topics after hearing of it
            // reads this one or a later one.
            out.store_topic(&room, name, topic);
            self.keep_topic(&room, topic);
        } else {
            out.keep(Keep::Topic {
                room: &room,
                by: name,
                text: topic,
            });
        }
        self.config.tell_nodes(
            out,
            &Body::Topic {
                room: &room,
                by: name,
                text: topic,
            },
        );
    }

    /// `/msg NAME TEXT`: to a client here, or through the cluster to one on another node.
    fn private(&mut self, id: ClientId, name: &str, to: &str, text: &str, out: &mut impl Outbox) {
        if let Some(target) = self.client_named(to) {
            if target == id {
                return self.error(id, "not_yourself", &"that is you", out);
            }
            self.announce_joins(out);
            let to = self.name(target).unwrap_or_default().to_string();
            let msg = self.notices.private(name, &to, text);
            Metrics::add(&METRICS.deliveries, 1);
            self.send(target, &msg, out);
            self.echo_private(id, name, &to, text, out);
            return self.tell_away(id, target, out);
        }
        let remote = self
            .remotes
            .get(to.to_ascii_lowercase().as_str())
            .map(|r| r.name.clone());
        match remote {
            Some(remote) => {
                self.config.tell_nodes(
                    out,
                    &Body::Private {
                        from: name,
                        to: &remote,
                        text,
                    },
                );
                self.echo_private(id, name, &remote, text, out);
            }
            None if self.keep_for_later(id, name, to, text, out) => {}
            None => self.error(id, "no_such_user", &format_args!("no such user: {to}"), out),
        }
    }

    /// A private message back to its sender, after `/echo on`: `-> *TO* TEXT`.
    fn echo_private(
        &mut self,
        id: ClientId,
        name: &str,
        to: &str,
        text: &str,
        out: &mut impl Outbox,
    ) {
        if self.member(id).is_some_and(|m| m.echo) {
            let msg = self.notices.private_sent(name, to, text);
            self.send(id, &msg, out);
        }
    }

    pub(super) fn rename(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        let key = new.to_ascii_lowercase();
        if self.member(id).is_some_and(|m| m.logged_in) && !old.eq_ignore_ascii_case(new) {
            let msg = format!("you are logged in as {old}: /logout first");
            return self.error(id, "logged_in", &msg, out);
        }
        if self.owned_by_another(id, new) {
            let msg = format!("{new} is registered: /login {new} PASSWORD");
            return self.error(id, "name_registered", &msg, out);
        }
        match self.client_named(new) {
            Some(owner) if owner != id => {
                return self.error(id, "name_taken", &format_args!("name taken: {new}"), out);
            }
            _ => {}
        }
        if old == new {
            let msg = self.notices.you_are_now(old, new);
            return self.send(id, &msg, out);
        }
        if self.remotes.contains_key(key.as_str()) {
            return self.error(id, "name_taken", &format_args!("name taken: {new}"), out);
        }
        if self.config.in_cluster() && is_guest_number(new) && !old.eq_ignore_ascii_case(new) {
            // The cluster hands these out to newcomers, without asking the names store.
            return self.error(
                id,
                "name_reserved",
                &"guestN names are given by the server; pick another",
                out,
            );
        }
        if self.config.in_cluster() && !old.eq_ignore_ascii_case(new) {
            // Free here; the cluster decides, if it can be asked. A node whose link has not
            // come up yet (it is starting) holds the rename until it does: the link answers
            // once up, or the hub refuses it as soon as the link is known to be down.
            if !self.link_up && self.link_seen {
                return self.error(id, "cluster_unreachable", &remote::NAMES_UNREACHABLE, out);
            }
            self.claims.insert(id, new.into());
            return out.claim(id, new);
        }
        self.rename_now(id, old, new, out);
    }

    pub(super) fn rename_now(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        if self.member(id).is_none() {
            return;
        }
        // Out of the index under the old name, in again under the new one.
        self.by_name.remove(id, &self.members);
        let Some(Some(m)) = self.members.get_mut(id) else {
            return;
        };
        m.name = new.into();
        let (rooms, announced): (Vec<RoomId>, _) = (m.rooms().collect(), m.announced);
        self.by_name.insert(id, &self.members);
        let you = self.notices.you_are_now(old, new);
        self.send(id, &you, out);
        if !announced {
            // Its join is still to be told (a `/pass` and a `/nick` in one write): the others
            // hear of it once, under the name it has by then.
            return;
        }
        self.config.tell_nodes(out, &Body::Renamed { old, new });
        for room in rooms {
            let notice = self
                .notices
                .renamed(&self.rooms[room].name.clone(), old, new);
            self.broadcast(room, Some(id), &notice, out);
        }
    }
}

/// `guest` and digits: a name the cluster gives newcomers.
pub(super) fn is_guest_number(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|g| g.eq_ignore_ascii_case("guest"))
        && name.len() > 5
        && name[5..].bytes().all(|b| b.is_ascii_digit())
}
