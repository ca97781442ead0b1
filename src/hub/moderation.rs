//! Operators' commands: `/oper`, `/kick`, `/ban`, `/unban`, `/bans`, `/mute`, `/unmute`.
//! Every action is logged at info: who did what to whom. In a cluster an operator acts on any
//! client: a client of another node is acted on by its node, and a ban holds on every node.

use std::net::IpAddr;
use std::time::Duration;

use super::access::Guess;
use super::{Body, ClientId, DEFAULT_BAN_MINUTES, Hub, Outbox, minutes};
use crate::command::Command;

impl Hub {
    /// `/oper PASSWORD`.
    pub(super) fn oper(&mut self, id: ClientId, guess: &str, out: &mut impl Outbox) {
        let Some(member) = self.member(id) else {
            return;
        };
        let (name, ip) = (member.name.clone(), member.ip);
        if member.oper {
            return self.notice(id, "operator", &"you are an operator already", out);
        }
        let Some(secret) = &self.config.oper_password else {
            return self.error(id, "no_operators", &"no operators on this server", out);
        };
        match self.access.guess(secret, guess, ip, self.now) {
            Guess::Right => {
                log::info!("{name} ({ip}) is now an operator");
                self.make_oper(id, out);
            }
            Guess::Wrong => {
                log::warn!("{name} ({ip}): wrong operator password");
                self.error(id, "wrong_password", &"wrong password", out);
            }
            Guess::Wait(wait) => {
                log::warn!("{name} ({ip}): operator password tried too often");
                let msg = format!(
                    "too many wrong passwords from {ip}; try again in {} s",
                    super::gate::seconds_up(wait)
                );
                self.error(id, "password_wait", &msg, out);
            }
        }
    }

    pub(super) fn make_oper(&mut self, id: ClientId, out: &mut impl Outbox) {
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.oper = true;
            self.notice(id, "operator", &"you are now an operator", out);
        }
    }

    /// The commands only operators may use. A client of another node is acted on by its own
    /// node: the command goes there (see [`Hub::moderated_elsewhere`]).
    pub(super) fn moderate(&mut self, id: ClientId, cmd: Command<'_>, out: &mut impl Outbox) {
        let Some(op) = self.member(id) else {
            return;
        };
        if !op.oper {
            return self.error(id, "not_operator", &"not an operator", out);
        }
        let by = op.name.clone();
        match cmd {
            Command::Kick { name, reason } => match self.target(id, name, "kick", out) {
                Some(Target::Here(target)) => self.kick(target, &by, reason, Some(id), out),
                Some(Target::Elsewhere(name)) => {
                    let body = Body::Kick {
                        target: &name,
                        by: &by,
                        reason,
                    };
                    self.ask_elsewhere(id, &name, "kick", &body, out);
                }
                None => {}
            },
            Command::Ban { name, minutes } => {
                let minutes = minutes.unwrap_or(DEFAULT_BAN_MINUTES);
                match self.target(id, name, "ban", out) {
                    Some(Target::Here(target)) => {
                        if let Some(ip) = self.member(target).map(|m| m.ip) {
                            self.ban_address(ip, minutes, &by, Some(id), Some(target), out);
                        }
                    }
                    Some(Target::Elsewhere(name)) => {
                        let body = Body::Ban {
                            target: &name,
                            by: &by,
                            minutes,
                        };
                        self.ask_elsewhere(id, &name, "ban", &body, out);
                    }
                    None => {}
                }
            }
            Command::Unban(ip) => {
                if self.access.unban(ip, self.now) {
                    log::info!("{by} unbanned {ip}");
                    // The store first: a node that reads it after missing the message must not
                    // find the ban there (the link does its requests in order).
                    out.forget_ban(ip);
                    self.config.tell_nodes(out, &Body::Unbanned { ip });
                    self.notice(
                        id,
                        "unbanned",
                        &format_args!("{ip} is no longer banned"),
                        out,
                    );
                } else {
                    self.error(id, "not_banned", &format_args!("not banned: {ip}"), out);
                }
            }
            Command::Bans => {
                let now = self.now;
                let list: Vec<String> = self
                    .access
                    .bans(now)
                    .iter()
                    .map(|(ip, ban)| {
                        format!("{ip} ({} min, by {})", minutes(ban.until - now), ban.by)
                    })
                    .collect();
                let msg = match list.len() {
                    0 => "bans (0)".to_string(),
                    n => format!("bans ({n}): {}", list.join(", ")),
                };
                self.notice(id, "bans", &msg, out);
            }
            Command::Mute(name) | Command::Unmute(name) => {
                let on = matches!(cmd, Command::Mute(_));
                let verb = if on { "mute" } else { "unmute" };
                match self.target(id, name, verb, out) {
                    Some(Target::Here(target)) => self.set_muted(target, on, &by, Some(id), out),
                    Some(Target::Elsewhere(name)) => {
                        let body = Body::Mute {
                            target: &name,
                            by: &by,
                            on,
                        };
                        self.ask_elsewhere(id, &name, verb, &body, out);
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// What another node's operator asked of a client of this node, or a ban it made.
    pub(super) fn moderated_elsewhere(
        &mut self,
        node: &str,
        body: &Body<'_>,
        out: &mut impl Outbox,
    ) {
        let here = |hub: &Self, name: &str| hub.client_named(name);
        match *body {
            Body::Kick { target, by, reason } => {
                if let Some(id) = here(self, target) {
                    log::info!("{by} (of node {node}) asks to kick {target}");
                    self.kick(id, by, reason, None, out);
                }
            }
            Body::Mute { target, by, on } => {
                if let Some(id) = here(self, target) {
                    self.set_muted(id, on, by, None, out);
                }
            }
            Body::Ban {
                target,
                by,
                minutes,
            } => {
                let Some(id) = here(self, target) else {
                    return;
                };
                match self.member(id) {
                    Some(m) if m.oper => {
                        log::warn!("{by} (of node {node}) asked to ban {target}, an operator: no")
                    }
                    Some(m) => {
                        let ip = m.ip;
                        self.ban_address(ip, minutes, by, None, Some(id), out);
                    }
                    None => {}
                }
            }
            Body::Banned { ip, secs, by } => {
                log::info!("{ip} banned by {by} (of node {node}) for {secs} s");
                self.access
                    .ban(ip, self.now + Duration::from_secs(secs), by);
                let minutes = minutes(Duration::from_secs(secs)) as u32;
                let closed = self.close_address(ip, minutes, by, None, None, out);
                log::info!("{ip}: {closed} connections from there closed here");
            }
            Body::Unbanned { ip } if self.access.unban(ip, self.now) => {
                log::info!("{ip} unbanned (by node {node})");
            }
            _ => {}
        }
    }

    /// The bans the cluster keeps, `(address, seconds left, by)`, as read just now: enforced
    /// here too, in place of an earlier read's.
    pub(super) fn kept_bans(&mut self, bans: &[(IpAddr, u64, &str)]) {
        let now = self.now;
        let bans: Vec<(IpAddr, std::time::Instant, &str)> = bans
            .iter()
            .map(|&(ip, secs, by)| (ip, now + Duration::from_secs(secs), by))
            .collect();
        self.access.keep_only(&bans);
    }

    /// Sends an operator's command to the node of the client it names.
    fn ask_elsewhere(
        &mut self,
        op: ClientId,
        name: &str,
        verb: &str,
        body: &Body<'_>,
        out: &mut impl Outbox,
    ) {
        log::info!(
            "{} asks the node of {name} to {verb} them",
            self.name(op).unwrap_or("?")
        );
        self.config.tell_nodes(out, body);
        let msg = format!("{name} is on another node: asked it to {verb} them");
        self.notice(op, "asked_elsewhere", &msg, out);
    }

    fn kick(
        &mut self,
        target: ClientId,
        by: &str,
        reason: Option<&str>,
        op: Option<ClientId>,
        out: &mut impl Outbox,
    ) {
        let (name, ip) = match self.member(target) {
            Some(m) => (m.name.clone(), m.ip),
            None => return,
        };
        log::info!(
            "{by} kicked {name} ({ip}){}",
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        self.expel(
            op,
            by,
            &[target],
            &format!("kicked by {by}{why}"),
            &format!("was kicked by {by}{why}"),
            out,
        );
    }

    fn set_muted(
        &mut self,
        target: ClientId,
        on: bool,
        by: &str,
        op: Option<ClientId>,
        out: &mut impl Outbox,
    ) {
        let verb = if on { "mute" } else { "unmute" };
        let Some(Some(m)) = self.members.get_mut(target) else {
            return;
        };
        let name = m.name.clone();
        if m.muted == on {
            if let Some(op) = op {
                let code = if on {
                    "muted_already"
                } else {
                    "unmuted_already"
                };
                self.error(op, code, &format_args!("{name} is {verb}d already"), out);
            }
            return;
        }
        m.muted = on;
        log::info!("{by} {verb}d {name} ({})", m.ip);
        let code = if on { "muted" } else { "unmuted" };
        self.notice(target, code, &format_args!("you were {verb}d by {by}"), out);
        if let Some(op) = op {
            self.notice(op, code, &format_args!("{name} is {verb}d"), out);
        }
    }

    /// Bans `ip` for `minutes` (by `by`, this node's operator `op` or another node's): closes
    /// `first` and everyone else from there but operators, tells the other nodes, and has the
    /// cluster keep the ban for nodes that start later.
    fn ban_address(
        &mut self,
        ip: IpAddr,
        minutes: u32,
        by: &str,
        op: Option<ClientId>,
        first: Option<ClientId>,
        out: &mut impl Outbox,
    ) {
        let secs = u64::from(minutes) * 60;
        self.access
            .ban(ip, self.now + Duration::from_secs(secs), by);
        let name = first.and_then(|f| self.name(f)).unwrap_or("?").to_string();
        // A client logged in to an account: the account is banned for as long.
        if let Some(f) = first
            && self.member(f).is_some_and(|m| m.logged_in)
        {
            self.ban_account(&name, secs, out);
        }
        let closed = self.close_address(ip, minutes, by, op, first, out);
        log::info!("{by} banned {name} ({ip}) for {minutes} minutes; {closed} connections closed");
        if let Some(op) = op {
            let msg = format!("{ip} is banned for {}", minutes_text(minutes.into()));
            self.notice(op, "banned", &msg, out);
        }
        // The store first: a node that reads it after missing the message must find the ban.
        out.store_ban(ip, secs, by);
        self.config.tell_nodes(out, &Body::Banned { ip, secs, by });
    }

    /// Closes everyone from a banned address but operators (`first` first), and the
    /// connections from there waiting at the gate.
    fn close_address(
        &mut self,
        ip: IpAddr,
        minutes: u32,
        by: &str,
        op: Option<ClientId>,
        first: Option<ClientId>,
        out: &mut impl Outbox,
    ) -> usize {
        let mut from_there: Vec<ClientId> = self
            .members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (i, m)))
            .filter(|(i, m)| m.ip == ip && !m.oper && Some(*i) != first)
            .map(|(i, _)| i)
            .collect();
        if let Some(first) = first {
            from_there.insert(0, first);
        }
        self.expel(
            op,
            by,
            &from_there,
            &format!("banned by {by} for {}", minutes_text(minutes.into())),
            &format!("was banned by {by} ({})", minutes_text(minutes.into())),
            out,
        );
        let gated: Vec<ClientId> = self
            .gated
            .iter()
            .filter(|(_, g)| g.ip == ip)
            .map(|(&i, _)| i)
            .collect();
        for who in gated {
            self.error(who, "banned", &"banned", out);
            self.close_gate(who, out);
        }
        from_there.len()
    }

    /// The client an operator's command names: not the operator itself, and not another
    /// operator for a ban (operators are never refused by a ban). A client of another node is
    /// named, for its node to act.
    fn target(
        &mut self,
        op: ClientId,
        name: &str,
        verb: &str,
        out: &mut impl Outbox,
    ) -> Option<Target> {
        let key = name.to_ascii_lowercase();
        let Some(target) = self.client_named(name) else {
            if let Some(remote) = self.remotes.get(key.as_str()) {
                return Some(Target::Elsewhere(remote.name.clone()));
            }
            self.error(
                op,
                "no_such_user",
                &format_args!("no such user: {name}"),
                out,
            );
            return None;
        };
        if target == op {
            let msg = format_args!("you cannot {verb} yourself");
            self.error(op, "not_yourself", &msg, out);
            return None;
        }
        if verb == "ban" && self.member(target).is_some_and(|m| m.oper) {
            self.error(
                op,
                "is_operator",
                &format_args!("{name} is an operator"),
                out,
            );
            return None;
        }
        Some(Target::Here(target))
    }

    /// Closes `targets`, telling them `told` (`! kicked by OP`); then tells the rooms they
    /// were in, and the operator `op` (if there is one here) if elsewhere, `* NAME {seen}` for
    /// each (in JSON a `leave` with `by`, the operator `by`).
    fn expel(
        &mut self,
        op: Option<ClientId>,
        by: &str,
        targets: &[ClientId],
        told: &str,
        seen: &str,
        out: &mut impl Outbox,
    ) {
        // Whoever hears of them has heard of their joins.
        self.announce_joins(out);
        let code = if told.starts_with("kicked") {
            "kicked"
        } else {
            "banned"
        };
        let told_msg = self.notices.error(code, told);
        let mut gone = Vec::new();
        for &target in targets {
            self.send(target, &told_msg, out);
            if let Some(gone_from) = self.forget(target, seen.strip_prefix("was "), out) {
                gone.push(gone_from);
            }
        }
        for (name, mut rooms) in gone {
            // A room the next target's going emptied is gone (its id may not be looked up).
            rooms.retain(|&r| self.rooms.contains(r));
            // The operator hears of it in a room it shares, or else once, in its own words.
            let op_saw = op.is_some_and(|op| {
                self.member(op)
                    .is_some_and(|m| rooms.iter().any(|&r| m.in_room(r)))
            });
            for &room in &rooms {
                let room_name = self.rooms[room].name.clone();
                let msg = self.notices.was(&room_name, &name, seen, told, by);
                self.broadcast(room, None, &msg, out);
            }
            if let Some(op) = op.filter(|_| !op_saw) {
                let room = self.member(op).and_then(|m| m.room());
                let room_name = room.map(|r| self.rooms[r].name.clone()).unwrap_or_default();
                let msg = self.notices.was(&room_name, &name, seen, told, by);
                self.send(op, &msg, out);
            }
        }
    }
}

/// Who an operator's command names.
enum Target {
    /// A client of this node.
    Here(ClientId),
    /// A client of another node, by its name there.
    Elsewhere(Box<str>),
}

/// `1 minute`, `5 minutes`.
pub(super) fn minutes_text(n: u64) -> String {
    if n == 1 {
        "1 minute".to_string()
    } else {
        format!("{n} minutes")
    }
}
