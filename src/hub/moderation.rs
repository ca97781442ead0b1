//! Operators' commands: `/oper`, `/kick`, `/ban`, `/unban`, `/bans`, `/mute`, `/unmute`.
//! Every action is logged at info: who did what to whom.

use std::time::Duration;

use super::access::Guess;
use super::{ClientId, DEFAULT_BAN_MINUTES, Hub, Outbox, line, minutes};
use crate::command::Command;

impl Hub {
    /// `/oper PASSWORD`.
    pub(super) fn oper(&mut self, id: ClientId, guess: &str, out: &mut impl Outbox) {
        let Some(member) = self.member(id) else {
            return;
        };
        let (name, ip) = (member.name.clone(), member.ip);
        if member.oper {
            return out.send(id, &line(b"* you are an operator already\n"));
        }
        let Some(secret) = &self.config.oper_password else {
            return out.send(id, &line(b"! no operators on this server\n"));
        };
        match self.access.guess(secret, guess, ip, self.now) {
            Guess::Right => {
                log::info!("{name} ({ip}) is now an operator");
                self.make_oper(id, out);
            }
            Guess::Wrong => {
                log::warn!("{name} ({ip}): wrong operator password");
                out.send(id, &line(b"! wrong password\n"));
            }
            Guess::Wait(wait) => {
                log::warn!("{name} ({ip}): operator password tried too often");
                let msg = format!(
                    "! too many wrong passwords from {ip}; try again in {} s\n",
                    wait.as_secs().max(1)
                );
                out.send(id, &line(msg.as_bytes()));
            }
        }
    }

    pub(super) fn make_oper(&mut self, id: ClientId, out: &mut impl Outbox) {
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.oper = true;
            out.send(id, &line(b"* you are now an operator\n"));
        }
    }

    /// The commands only operators may use.
    pub(super) fn moderate(&mut self, id: ClientId, cmd: Command<'_>, out: &mut impl Outbox) {
        let Some(op) = self.member(id) else {
            return;
        };
        if !op.oper {
            return out.send(id, &line(b"! not an operator\n"));
        }
        let op_name = op.name.clone();
        match cmd {
            Command::Kick { name, reason } => {
                let Some(target) = self.target(id, name, "kick", out) else {
                    return;
                };
                let ip = self.member(target).map(|m| m.ip);
                log::info!(
                    "{op_name} kicked {name} ({}){}",
                    ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                );
                let why = match reason {
                    Some(r) => format!(" ({r})"),
                    None => String::new(),
                };
                self.expel(
                    id,
                    &[target],
                    &format!("kicked by {op_name}{why}"),
                    &format!("was kicked by {op_name}{why}"),
                    out,
                );
            }
            Command::Ban { name, minutes } => {
                let Some(target) = self.target(id, name, "ban", out) else {
                    return;
                };
                let Some(ip) = self.member(target).map(|m| m.ip) else {
                    return;
                };
                let minutes = minutes.unwrap_or(DEFAULT_BAN_MINUTES);
                let until = self.now + Duration::from_secs(u64::from(minutes) * 60);
                self.access.ban(ip, until, &op_name);
                // Everyone else from that address goes too, but operators.
                let mut from_there: Vec<ClientId> = self
                    .members
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| m.as_ref().map(|m| (i, m)))
                    .filter(|(i, m)| m.ip == ip && !m.oper && *i != target)
                    .map(|(i, _)| i)
                    .collect();
                from_there.insert(0, target);
                log::info!(
                    "{op_name} banned {name} ({ip}) for {minutes} minutes; {} connections closed",
                    from_there.len()
                );
                self.expel(
                    id,
                    &from_there,
                    &format!("banned by {op_name} for {minutes} minutes"),
                    &format!("was banned by {op_name} ({minutes} minutes)"),
                    out,
                );
                let gated: Vec<ClientId> = self
                    .gated
                    .iter()
                    .filter(|(_, g)| g.ip == ip)
                    .map(|(&i, _)| i)
                    .collect();
                for who in gated {
                    out.send(who, &line(b"! banned\n"));
                    self.close_gate(who, out);
                }
                let msg = format!("* {ip} is banned for {minutes} minutes\n");
                out.send(id, &line(msg.as_bytes()));
            }
            Command::Unban(ip) => {
                if self.access.unban(ip, self.now) {
                    log::info!("{op_name} unbanned {ip}");
                    out.send(
                        id,
                        &line(format!("* {ip} is no longer banned\n").as_bytes()),
                    );
                } else {
                    out.send(id, &line(format!("! not banned: {ip}\n").as_bytes()));
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
                    0 => "* bans (0)\n".to_string(),
                    n => format!("* bans ({n}): {}\n", list.join(", ")),
                };
                out.send(id, &line(msg.as_bytes()));
            }
            Command::Mute(name) | Command::Unmute(name) => {
                let mute = matches!(cmd, Command::Mute(_));
                let verb = if mute { "mute" } else { "unmute" };
                let Some(target) = self.target(id, name, verb, out) else {
                    return;
                };
                let Some(Some(m)) = self.members.get_mut(target) else {
                    return;
                };
                let name = m.name.clone();
                if m.muted == mute {
                    let msg = format!("! {name} is {verb}d already\n");
                    return out.send(id, &line(msg.as_bytes()));
                }
                m.muted = mute;
                log::info!("{op_name} {verb}d {name} ({})", m.ip);
                let told = format!("* you were {verb}d by {op_name}\n");
                out.send(target, &line(told.as_bytes()));
                out.send(id, &line(format!("* {name} is {verb}d\n").as_bytes()));
            }
            _ => {}
        }
    }

    /// The client an operator's command names: not the operator itself, and not another
    /// operator for a ban (operators are never refused by a ban).
    fn target(
        &mut self,
        op: ClientId,
        name: &str,
        verb: &str,
        out: &mut impl Outbox,
    ) -> Option<ClientId> {
        let key = name.to_ascii_lowercase();
        let Some(&target) = self.by_name.get(key.as_str()) else {
            if self.remotes.contains_key(key.as_str()) {
                let why = format!("{name} is on another node: an operator there can {verb} them");
                self.error(op, &why, out);
            } else {
                self.error(op, &format_args!("no such user: {name}"), out);
            }
            return None;
        };
        if target == op {
            self.error(op, &format_args!("you cannot {verb} yourself"), out);
            return None;
        }
        if verb == "ban" && self.member(target).is_some_and(|m| m.oper) {
            self.error(op, &format_args!("{name} is an operator"), out);
            return None;
        }
        Some(target)
    }

    /// Closes `targets`, telling them `told` (`! kicked by OP`); then tells the rooms they
    /// were in, and the operator `op` if elsewhere, `* NAME {seen}` for each.
    fn expel(
        &mut self,
        op: ClientId,
        targets: &[ClientId],
        told: &str,
        seen: &str,
        out: &mut impl Outbox,
    ) {
        // Whoever hears of them has heard of their joins.
        self.announce_joins(out);
        let told = line(format!("! {told}\n").as_bytes());
        let mut gone = Vec::new();
        for &target in targets {
            out.send(target, &told);
            gone.extend(self.forget(target, seen.strip_prefix("was "), out));
        }
        for (name, room) in gone {
            let msg = self.notices.was(&name, seen);
            if self.rooms.contains(room) {
                self.broadcast(room, None, &msg, out);
            }
            if self.member(op).is_some_and(|m| m.room != room) {
                out.send(op, &msg);
            }
        }
    }
}
