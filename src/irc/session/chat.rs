//! A registered client's commands, as the chat's: channels, messages, topics, names, and what
//! the layer answers itself (`WHO`'s bookkeeping, `MODE`, `VERSION`, `TIME`).

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
                // The chat's rooms have no modes; its bans are of addresses, for operators
                // (`/bans`), not channel masks.
                Some(channel) if channel.starts_with('#') => match p(1) {
                    None => self.numeric(to_client, "324", &[channel, "+"]),
                    Some(m) if m.trim_start_matches('+') == "b" => {
                        self.numeric(to_client, "368", &[channel, "End of channel ban list"])
                    }
                    Some(_) => {
                        self.numeric(to_client, "482", &[channel, "You're not channel operator"])
                    }
                },
                Some(nick) if nick.eq_ignore_ascii_case(self.target()) => {
                    self.numeric(to_client, "221", &["+"])
                }
                Some(_) => self.numeric(to_client, "502", &["Can't change mode for other users"]),
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
