//! A registered client's commands, as the chat's: channels, messages, topics, names, and what
//! the layer answers itself (`WHO`'s bookkeeping, `MODE`, `VERSION`, `TIME`), and the
//! operators' (`OPER`, `KICK`, `KILL`, bans as `MODE +b`).

use super::*;

impl Session {
    pub(super) fn chatting(
        &mut self,
        command: &str,
        msg: &Message<'_>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let p = |i: usize| msg.params.get(i).copied();
        let missing = |s: &Self, to_client: &mut Vec<u8>| {
            s.numeric(to_client, "461", &[command, "Not enough parameters"])
        };
        match command {
            "PASS" | "USER" => self.numeric(to_client, "462", &["You may not reregister"]),
            "NICK" => match p(0) {
                Some(nick) if command::valid_name(nick) => hub_line(to_hub, &["/nick", nick]),
                Some(nick) => self.numeric(to_client, "432", &[nick, "Erroneous nickname"]),
                None => self.numeric(to_client, "431", &["No nickname given"]),
            },
            "JOIN" => {
                let Some(list) = p(0) else {
                    return missing(self, to_client);
                };
                if list == "0" {
                    for room in self.channels.clone() {
                        hub_line(to_hub, &["/part", &room]);
                    }
                    return;
                }
                for channel in list.split(',').filter(|c| !c.is_empty()) {
                    match room_of(channel) {
                        Some(room) if self.in_channel(room) => {}
                        Some(room) => {
                            hub_line(to_hub, &["/join", room]);
                            hub_line(to_hub, &["/who", room]);
                        }
                        None => self.numeric(to_client, "403", &[channel, "No such channel"]),
                    }
                }
            }
            "PART" => {
                let Some(list) = p(0) else {
                    return missing(self, to_client);
                };
                for channel in list.split(',').filter(|c| !c.is_empty()) {
                    match room_of(channel) {
                        // The hub knows (this view of the rooms may be a moment behind).
                        Some(room) => hub_line(to_hub, &["/part", room]),
                        None => self.numeric(to_client, "403", &[channel, "No such channel"]),
                    }
                }
            }
            "PRIVMSG" | "NOTICE" => {
                let (Some(targets), Some(text)) = (p(0), p(1)) else {
                    if command == "PRIVMSG" {
                        let code = if p(0).is_none() { "411" } else { "412" };
                        let why = if code == "411" {
                            "No recipient given (PRIVMSG)"
                        } else {
                            "No text to send"
                        };
                        self.numeric(to_client, code, &[why]);
                    }
                    return;
                };
                if text.is_empty() {
                    return self.numeric(to_client, "412", &["No text to send"]);
                }
                for target in targets.split(',').filter(|t| !t.is_empty()) {
                    self.privmsg(command, target, text, to_hub, to_client);
                }
            }
            "TOPIC" => {
                let Some(channel) = p(0) else {
                    return missing(self, to_client);
                };
                let Some(room) = room_of(channel).filter(|r| self.in_channel(r)) else {
                    return self.numeric(
                        to_client,
                        "442",
                        &[channel, "You're not on that channel"],
                    );
                };
                // The chat's /topic is the room one speaks in's: that room first.
                hub_line(to_hub, &["/join", room]);
                match p(1) {
                    Some(text) if !text.is_empty() => hub_line(to_hub, &["/topic", text]),
                    _ => hub_line(to_hub, &["/topic"]),
                }
            }
            "NAMES" => match p(0).and_then(room_of) {
                Some(room) => hub_line(to_hub, &["/who", room]),
                None => {
                    let channel = p(0).unwrap_or("*");
                    self.numeric(to_client, "366", &[channel, "End of /NAMES list"]);
                }
            },
            "LIST" => hub_line(to_hub, &["/rooms"]),
            "WHO" => match p(0).and_then(room_of) {
                Some(room) => {
                    // A client asks this of every channel it joins: bounded, as the hub's
                    // answers come in order.
                    if self.who_asked.len() < 64 {
                        self.who_asked.push_back(room.to_string());
                        hub_line(to_hub, &["/who", room]);
                    }
                }
                None => {
                    let mask = p(0).unwrap_or("*");
                    self.numeric(to_client, "315", &[mask, "End of /WHO list"]);
                }
            },
            "MODE" => match p(0) {
                Some(channel) if channel.starts_with('#') => {
                    self.channel_mode(channel, p(1), p(2), to_hub, to_client)
                }
                Some(nick) if nick.eq_ignore_ascii_case(self.target()) => {
                    self.numeric(to_client, "221", &["+"])
                }
                Some(_) => self.numeric(to_client, "502", &["Can't change mode for other users"]),
                None => missing(self, to_client),
            },
            "CHATHISTORY" => self.chathistory(msg, to_hub, to_client),
            "WHOIS" | "ISON" | "USERHOST" => self.ask_of(command, msg, to_hub, to_client),
            "AWAY" => self.away(p(0), to_hub),
            "OPER" => match (p(0), p(1)) {
                // The chat has one operator password, whatever the name.
                (Some(_), Some(password)) => hub_line(to_hub, &["/oper", password]),
                _ => missing(self, to_client),
            },
            "KICK" => {
                let (Some(channel), Some(nicks)) = (p(0), p(1)) else {
                    return missing(self, to_client);
                };
                if !room_of(channel).is_some_and(|r| self.in_channel(r)) {
                    return self.numeric(
                        to_client,
                        "442",
                        &[channel, "You're not on that channel"],
                    );
                }
                // The chat's kick closes the connection (a KILL, in IRC's words).
                for nick in nicks.split(',').filter(|n| !n.is_empty()) {
                    self.kick(nick, p(2), to_hub, to_client);
                }
            }
            "KILL" => match p(0) {
                Some(nick) => self.kick(nick, p(1), to_hub, to_client),
                None => missing(self, to_client),
            },
            "VERSION" => {
                let version = concat!("chatd-", env!("CARGO_PKG_VERSION"));
                self.numeric(
                    to_client,
                    "351",
                    &[version, SERVER, "an nc-first group chat"],
                );
            }
            "TIME" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.numeric(
                    to_client,
                    "391",
                    &[SERVER, &format!("{now} (Unix seconds)")],
                );
            }
            _ => self.numeric(to_client, "421", &[msg.command, "Unknown command"]),
        }
    }

    /// `/kick NICK [REASON]`, for `KICK` and `KILL`.
    fn kick(
        &self,
        nick: &str,
        reason: Option<&str>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        if !command::valid_name(nick) {
            return self.numeric(to_client, "401", &[nick, "No such nick/channel"]);
        }
        match reason.filter(|r| !r.is_empty()) {
            Some(reason) => hub_line(to_hub, &["/kick", nick, reason]),
            None => hub_line(to_hub, &["/kick", nick]),
        }
    }

    /// `MODE #a [CHANGE [ARG]]`: rooms have no modes but bans, which are the chat's bans of
    /// addresses (for operators): `b` lists them (`/bans`), `+b NICK` bans NICK's address
    /// (`/ban NICK`), `-b *!*@ADDRESS` lifts one (`/unban ADDRESS`).
    fn channel_mode(
        &mut self,
        channel: &str,
        change: Option<&str>,
        arg: Option<&str>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let Some(change) = change else {
            return self.numeric(to_client, "324", &[channel, "+"]);
        };
        let not_op = |s: &Self, to_client: &mut Vec<u8>| {
            s.numeric(to_client, "482", &[channel, "You're not channel operator"])
        };
        match (change, arg) {
            ("b" | "+b", None) if self.oper && self.bans_asked.len() < 16 => {
                self.bans_asked.push_back(channel.to_string());
                hub_line(to_hub, &["/bans"]);
            }
            ("b" | "+b", None) => {
                self.numeric(to_client, "368", &[channel, "End of channel ban list"])
            }
            (_, _) if !self.oper => not_op(self, to_client),
            ("+b", Some(banmask)) => {
                let nick = banmask.split('!').next().unwrap_or("");
                if command::valid_name(nick) {
                    hub_line(to_hub, &["/ban", nick]);
                } else {
                    self.numeric(to_client, "401", &[banmask, "No such nick/channel"]);
                }
            }
            ("-b", Some(banmask)) => {
                let address = banmask.rsplit('@').next().unwrap_or("");
                if address.parse::<std::net::IpAddr>().is_ok() {
                    hub_line(to_hub, &["/unban", address]);
                } else {
                    let why = "Not a ban of this server (they are *!*@ADDRESS)";
                    self.numeric(to_client, "472", &[banmask, why]);
                }
            }
            _ => {
                let letter = change.trim_start_matches(['+', '-']);
                let letter = letter.get(..1).unwrap_or(change);
                self.numeric(to_client, "472", &[letter, "is unknown mode char to me"]);
            }
        }
    }

    pub(super) fn in_channel(&self, room: &str) -> bool {
        self.channels.iter().any(|c| c.eq_ignore_ascii_case(room))
    }

    /// `PRIVMSG` (or `NOTICE`) to one target: a channel the client is in, or a nick.
    pub(super) fn privmsg(
        &mut self,
        command: &str,
        target: &str,
        text: &str,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let action = text
            .strip_prefix("\u{1}ACTION ")
            .map(|a| a.strip_suffix('\u{1}').unwrap_or(a));
        if text.starts_with('\u{1}') && action.is_none() {
            return; // another CTCP: nothing the chat has
        }
        if target.starts_with('#') {
            let room = room_of(target);
            match (room, action) {
                // The hub knows whether it is in the room (`/say` is refused otherwise).
                (Some(room), None) => hub_line(to_hub, &["/say", room, text]),
                // `/me` is said in the room one speaks in: that room first, if it is in it
                // (a `/join` would enter it).
                (Some(room), Some(action)) if self.in_channel(room) => {
                    hub_line(to_hub, &["/join", room]);
                    hub_line(to_hub, &["/me", action]);
                }
                _ if command == "PRIVMSG" => {
                    self.numeric(to_client, "404", &[target, "Cannot send to channel"]);
                }
                _ => {}
            }
            return;
        }
        if target.eq_ignore_ascii_case("NickServ") {
            return self.nickserv(text, to_hub, to_client);
        }
        if !command::valid_name(target) {
            if command == "PRIVMSG" {
                self.numeric(to_client, "401", &[target, "No such nick/channel"]);
            }
            return;
        }
        let text = match action {
            Some(action) => format!("* {action}"),
            None => text.to_string(),
        };
        hub_line(to_hub, &["/msg", target, &text]);
    }
}
