//! The hub's JSON events as IRC: held before the welcome, then each one as the messages and
//! numerics an IRC client expects, split within IRC's line limit and tagged as its
//! capabilities ask.

use super::caps::Cap;
use super::sasl::NICKSERV_CODES;
use super::*;

/// Most of the hub's events held before the welcome; past it, they are not shown.
pub(super) const MAX_HELD: usize = 256;

/// The hub's errors after which it closes the connection: IRC's `ERROR`.
pub(super) const CLOSING: &[&str] = &[
    "idle_timeout",
    "flooding",
    "kicked",
    "banned",
    "server_full",
    "too_many_connections",
    "logged_in_elsewhere",
    "password_timeout",
];

impl Session {
    /// One line from the hub, without its LF: a JSON event (or, before registration ends, a
    /// text line, which says nothing the session needs). It never asks the hub anything back:
    /// a connection's lines to the hub come from its socket only.
    pub fn from_hub(&mut self, line: &[u8], to_client: &mut Vec<u8>) {
        if !line.starts_with(b"{") {
            return;
        }
        if self.stage == Stage::Registered && self.quick_said(line, to_client) {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        if self.stage == Stage::Registered {
            let get = |key: &str| event.get(key).and_then(Value::as_str);
            if self.has(Cap::SERVER_TIME)
                && let Some(time) = get("time")
            {
                self.tags.push(("time", time.to_string()));
            }
            if self.has(Cap::MESSAGE_TAGS)
                && let Some(id) = get("id")
            {
                self.tags.push(("msgid", id.to_string()));
            }
        }
        self.event(&event, line, to_client);
        // (Let go of, not cleared: an idle client holds no buffer for them.)
        self.tags = Vec::new();
    }

    /// A `chat` or `me` event (nearly every event a busy room sends), told without building a
    /// JSON tree: its fields read as the hub writes them (flat, all strings), borrowed. Returns
    /// false for any other line, or one with an escape in a field: the full path tells those.
    fn quick_said(&mut self, line: &[u8], to_client: &mut Vec<u8>) -> bool {
        let Some((fields, n)) = flat_strings(line) else {
            return false;
        };
        let mut kind = None;
        let (mut time, mut room, mut from, mut text, mut id) = (None, None, None, None, None);
        for &(key, value) in &fields[..n] {
            match key {
                "type" => kind = Some(value),
                "time" => time = Some(value),
                "room" => room = Some(value),
                "from" => from = Some(value),
                "text" => text = Some(value),
                "id" => id = Some(value),
                _ => return false,
            }
        }
        let action = match kind {
            Some("chat") => false,
            Some("me") => true,
            _ => return false,
        };
        let (Some(room), Some(from), Some(text)) = (room, from, text) else {
            return false;
        };
        let time = time.filter(|_| self.has(Cap::SERVER_TIME));
        let id = id.filter(|_| self.has(Cap::MESSAGE_TAGS));
        // One message (the text fits, as nearly every line does): written straight out.
        let fits = 2 * from.len() + room.len() + text.len() + 48 < MAX_LINE;
        let clean = !text.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n' | 1));
        if fits && clean && !action {
            put_said(to_client, time, id, from, room, text);
            return true;
        }
        if let Some(time) = time {
            self.tags.push(("time", time.to_string()));
        }
        if let Some(id) = id {
            self.tags.push(("msgid", id.to_string()));
        }
        let mut channel = String::with_capacity(room.len() + 1);
        channel.push('#');
        channel.push_str(room);
        self.say(to_client, &mask(from), "PRIVMSG", &channel, text, action);
        if !self.tags.is_empty() {
            self.tags = Vec::new();
        }
        true
    }

    pub(super) fn event(&mut self, event: &Value, line: &[u8], to_client: &mut Vec<u8>) {
        let s = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        if self.stage != Stage::Registered {
            // Before the welcome, what answers the registration (and every error) is told;
            // the rest (the lobby's lines meanwhile, the answers to commands sent right after
            // USER) waits for it, as much as [`MAX_HELD`] holds.
            let answers = match s("type") {
                "rename" => event.get("you").and_then(Value::as_bool) == Some(true),
                "notice" => s("code") == "logged_in",
                "error" => true,
                "shutdown" => true,
                // The lobby's names are asked again with each nick tried: the answer after the
                // one granted is shown, not those before (a SASL login's is held).
                "who" if self.stage == Stage::Naming => return,
                "welcome" => return,
                _ => false,
            };
            if !answers {
                if self.held.len() < MAX_HELD {
                    self.held.push(line.to_vec());
                }
                return;
            }
        }
        match s("type") {
            "chat" | "me" => {
                let channel = format!("#{}", s("room"));
                let action = s("type") == "me";
                self.say(
                    to_client,
                    &mask(s("from")),
                    "PRIVMSG",
                    &channel,
                    s("text"),
                    action,
                );
            }
            "private" => {
                let me = self.target().to_string();
                // Its own, back (echo-message): to whom it went.
                let to = if s("from").eq_ignore_ascii_case(&me) && !s("to").is_empty() {
                    s("to")
                } else {
                    &me
                };
                let text = s("text");
                let (text, action) = match text.strip_prefix("* ") {
                    Some(action) => (action, true),
                    None => (text, false),
                };
                self.say(to_client, &mask(s("from")), "PRIVMSG", to, text, action);
            }
            "join" => {
                let channel = format!("#{}", s("room"));
                for name in event
                    .get("names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = name.as_str() {
                        self.put(to_client, Some(&mask(name)), "JOIN", &[&channel], false);
                    }
                }
            }
            "leave" => {
                let channel = format!("#{}", s("room"));
                let source = mask(s("name"));
                if let Some(by) = event.get("by").and_then(Value::as_str) {
                    // An operator's kick or ban: a KICK, from the operator.
                    let reason = s("reason");
                    let why = reason
                        .strip_prefix("kicked by ")
                        .and_then(|r| r.strip_prefix(by))
                        .map(|r| r.trim_start_matches(" (").trim_end_matches(')'))
                        .filter(|r| !r.is_empty())
                        .unwrap_or(reason);
                    let params = [channel.as_str(), s("name"), why];
                    return self.put(to_client, Some(&mask(by)), "KICK", &params, true);
                }
                match event.get("reason").and_then(Value::as_str) {
                    Some(reason) => {
                        self.put(to_client, Some(&source), "PART", &[&channel, reason], true)
                    }
                    None => self.put(to_client, Some(&source), "PART", &[&channel], false),
                }
            }
            "move" => {
                let name = s("name");
                let (room, from, to) = (s("room"), s("from"), s("to"));
                let source = mask(name);
                if room.eq_ignore_ascii_case(from) {
                    self.put(
                        to_client,
                        Some(&source),
                        "PART",
                        &[&format!("#{from}")],
                        false,
                    );
                } else {
                    self.put(
                        to_client,
                        Some(&source),
                        "JOIN",
                        &[&format!("#{to}")],
                        false,
                    );
                }
            }
            "rename" => self.renamed(event, to_client),
            "history" => self.history(event, to_client),
            "whois" => self.whois_answer(event, to_client),
            "notice" if s("code") == "away" => {
                self.numeric(to_client, "306", &["You have been marked as being away"])
            }
            "notice" if s("code") == "back" => self.numeric(
                to_client,
                "305",
                &["You are no longer marked as being away"],
            ),
            "notice" if s("code") == "is_away" => {
                self.numeric(to_client, "301", &[s("name"), s("away")])
            }
            "room" => self.rooms_now(event, to_client),
            "topic" => {
                let channel = format!("#{}", s("room"));
                let text = event.get("text").and_then(Value::as_str);
                match (event.get("by").and_then(Value::as_str), text) {
                    (Some(by), Some(text)) => {
                        self.put(to_client, Some(&mask(by)), "TOPIC", &[&channel, text], true)
                    }
                    (_, Some(text)) => self.numeric(to_client, "332", &[&channel, text]),
                    (_, None) => self.numeric(to_client, "331", &[&channel, "No topic is set"]),
                }
            }
            "who" => {
                let channel = format!("#{}", s("room"));
                if self
                    .who_asked
                    .front()
                    .is_some_and(|r| r.eq_ignore_ascii_case(s("room")))
                {
                    self.who_asked.pop_front();
                    return self.who_reply(event, &channel, to_client);
                }
                let names: Vec<&str> = event
                    .get("names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                // As many names a line as fit.
                let room_for = MAX_LINE
                    .saturating_sub(64 + channel.len() + self.target().len())
                    .max(64);
                let mut line = String::new();
                for name in names {
                    if !line.is_empty() && line.len() + 1 + name.len() > room_for {
                        self.numeric(to_client, "353", &["=", &channel, &line]);
                        line.clear();
                    }
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(name);
                }
                if !line.is_empty() {
                    self.numeric(to_client, "353", &["=", &channel, &line]);
                }
                self.numeric(to_client, "366", &[&channel, "End of /NAMES list"]);
            }
            "rooms" => {
                self.numeric(to_client, "321", &["Channel", "Users  Name"]);
                for room in event
                    .get("rooms")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = room.get("name").and_then(Value::as_str).unwrap_or("");
                    let here = room
                        .get("here")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                        .to_string();
                    self.numeric(to_client, "322", &[&format!("#{name}"), &here, ""]);
                }
                self.numeric(to_client, "323", &["End of /LIST"]);
            }
            // The answers to the session's own `/format json` and `/echo`.
            "notice" if s("code") == "format" || s("code") == "echo" => {}
            "notice" if s("code") == "operator" => {
                self.oper = true;
                self.numeric(to_client, "381", &["You are now an IRC operator"]);
            }
            "notice" if s("code") == "bans" && self.bans_asked.front().is_some() => {
                let channel = self.bans_asked.pop_front().unwrap_or_default();
                self.ban_list(&channel, s("text"), to_client);
            }
            "notice" if s("code") == "logged_in" => {
                let account = s("text").rsplit(' ').next().unwrap_or("").to_string();
                let me = self.nick.clone().unwrap_or_else(|| account.clone());
                let mask = format!("{me}!{me}@{SERVER}");
                let said = format!("You are now logged in as {account}");
                self.numeric(to_client, "900", &[&mask, &account, &said]);
                if self.sasl_step == Sasl::Checking {
                    self.sasl_step = Sasl::Idle;
                    self.account = Some(account.clone());
                    self.numeric(to_client, "903", &["SASL authentication successful"]);
                    if self.stage == Stage::Registering && self.user && !self.negotiating {
                        // CAP END came meanwhile: registered now.
                        self.welcomed(&account, to_client);
                    }
                } else {
                    self.say(to_client, NICKSERV, "NOTICE", &me, s("text"), false);
                }
            }
            "notice" | "error"
                if NICKSERV_CODES.contains(&s("code")) && self.sasl_step == Sasl::Checking =>
            {
                // A SASL login refused (or the chat too busy to check it); the lobby's names
                // asked with it are not the ones the registration will show.
                self.sasl_step = Sasl::Idle;
                self.held
                    .retain(|h| !h.windows(12).any(|w| w == br#""type":"who""#));
                self.numeric(to_client, "904", &["SASL authentication failed"]);
            }
            "notice" | "error" if NICKSERV_CODES.contains(&s("code")) => {
                let me = self.target().to_string();
                self.say(to_client, NICKSERV, "NOTICE", &me, s("text"), false);
            }
            "error"
                if matches!(s("code"), "busy" | "store_timeout" | "search_failed")
                    && self.history_failed(to_client) => {}
            "error" => self.error(s("code"), s("text"), to_client),
            "notice" | "link" => {
                let me = self.target().to_string();
                self.say(to_client, SERVER, "NOTICE", &me, s("text"), false);
            }
            "shutdown" => self.put(to_client, None, "ERROR", &[s("text")], true),
            _ => {}
        }
    }

    /// The answer to `WHO #room`: a `352` for each (none's address: `chatd` for all, `H` for
    /// here), then `315`.
    pub(super) fn who_reply(&self, event: &Value, channel: &str, to_client: &mut Vec<u8>) {
        let names = event.get("names").and_then(Value::as_array);
        for name in names.into_iter().flatten().filter_map(Value::as_str) {
            let real = format!("0 {name}");
            let params = [channel, name, SERVER, SERVER, name, "H", real.as_str()];
            self.numeric(to_client, "352", &params);
        }
        self.numeric(to_client, "315", &[channel, "End of /WHO list"]);
    }

    /// The chat's bans (`bans (N): ADDRESS (M min, by OP), ...`) as a channel's ban list: a
    /// `367` for each, its mask the address's (`*!*@ADDRESS`), then `368`.
    pub(super) fn ban_list(&self, channel: &str, text: &str, to_client: &mut Vec<u8>) {
        let list = text.split_once(": ").map_or("", |(_, list)| list);
        for ban in list.split("), ").filter(|b| !b.is_empty()) {
            let (address, rest) = ban.split_once(' ').unwrap_or((ban, ""));
            let by = rest
                .rsplit_once(", by ")
                .map_or(SERVER, |(_, by)| by.trim_end_matches(')'));
            let banmask = format!("*!*@{address}");
            self.numeric(to_client, "367", &[channel, &banmask, by]);
        }
        self.numeric(to_client, "368", &[channel, "End of channel ban list"]);
    }

    /// `PRIVMSG` or `NOTICE` from `source` to `target` (a CTCP `ACTION` if `action`), split
    /// into as many messages as IRC's line limit takes.
    pub(super) fn say(
        &self,
        to_client: &mut Vec<u8>,
        source: &str,
        command: &str,
        target: &str,
        text: &str,
        action: bool,
    ) {
        // (At least a few bytes a message, whatever the hub names: each takes some.)
        let overhead = source.len() + command.len() + target.len() + 24;
        let room = MAX_LINE.saturating_sub(overhead).max(16);
        let mut rest = text;
        let mut part_text = String::new();
        while !rest.is_empty() {
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (part, tail) = rest.split_at(cut);
            rest = tail;
            let part = if action {
                part_text.clear();
                part_text.push_str("\u{1}ACTION ");
                part_text.push_str(part);
                part_text.push('\u{1}');
                part_text.as_str()
            } else {
                part
            };
            self.put(to_client, Some(source), command, &[target, part], true);
        }
    }

    pub(super) fn renamed(&mut self, event: &Value, to_client: &mut Vec<u8>) {
        let s = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        let (old, new) = (s("old").to_string(), s("new").to_string());
        let you = event.get("you").and_then(Value::as_bool).unwrap_or(false);
        if you && self.stage == Stage::Registering {
            return; // a SASL login's: the welcome will name the client
        }
        if you {
            self.nick = Some(new.clone());
            if self.stage == Stage::Naming {
                return self.welcomed(&new, to_client);
            }
        } else if self.last_rename.as_ref() == Some(&(old.clone(), new.clone())) {
            return; // told once in each shared room: passed on once
        }
        self.last_rename = Some((old.clone(), new.clone()));
        self.put(to_client, Some(&mask(&old)), "NICK", &[&new], true);
    }

    /// The client's rooms as the hub says they are now: a `JOIN` for each new one (its names
    /// follow, asked with the join), a `PART` for each it left.
    pub(super) fn rooms_now(&mut self, event: &Value, to_client: &mut Vec<u8>) {
        let now: Vec<String> = event
            .get("rooms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let me = mask(self.target());
        for room in &self.channels {
            if !now.iter().any(|r| r.eq_ignore_ascii_case(room)) {
                self.put(to_client, Some(&me), "PART", &[&format!("#{room}")], false);
            }
        }
        for room in &now {
            if !self.in_channel(room) {
                self.put(to_client, Some(&me), "JOIN", &[&format!("#{room}")], false);
            }
        }
        self.channels = now;
    }

    /// Registered as `nick`: the welcome, the lobby (where the chat put it; its names follow,
    /// asked at registration), and what the chat said meanwhile.
    pub(super) fn welcomed(&mut self, nick: &str, to_client: &mut Vec<u8>) {
        self.stage = Stage::Registered;
        self.nick = Some(nick.to_string());
        self.welcome(to_client);
        let me = mask(nick);
        self.put(to_client, Some(&me), "JOIN", &["#lobby"], false);
        self.channels = vec![crate::hub::LOBBY.to_string()];
        for held in std::mem::take(&mut self.held) {
            self.from_hub(&held, to_client);
        }
    }

    /// The welcome numerics, once the hub granted the nick.
    pub(super) fn welcome(&mut self, to_client: &mut Vec<u8>) {
        let nick = self.target().to_string();
        let version = concat!("chatd-", env!("CARGO_PKG_VERSION"));
        self.numeric(
            to_client,
            "001",
            &[&format!("Welcome to the {NETWORK} network, {nick}")],
        );
        self.numeric(
            to_client,
            "002",
            &[&format!("Your host is {SERVER}, running version {version}")],
        );
        self.numeric(
            to_client,
            "003",
            &["This server speaks IRC beside its own line protocol"],
        );
        self.numeric(to_client, "004", &[SERVER, version, "o", "b"]);
        let isupport = [
            "CASEMAPPING=ascii",
            "CHANTYPES=#",
            "NICKLEN=32",
            "CHANNELLEN=33",
            &format!("NETWORK={NETWORK}"),
            "PREFIX=",
            "CHANMODES=b,,,",
            &format!("CHATHISTORY={}", super::history::MAX_HISTORY),
            "MSGREFTYPES=msgid",
            &format!("LINELEN={MAX_LINE}"),
        ];
        let mut params: Vec<&str> = isupport.to_vec();
        params.push("are supported by this server");
        self.numeric(to_client, "005", &params);
        self.numeric(to_client, "422", &["MOTD File is missing"]);
    }

    /// The hub refused something: its numeric, when IRC has one, else a notice.
    pub(super) fn error(&mut self, code: &str, text: &str, to_client: &mut Vec<u8>) {
        let asked = self.nick.clone().unwrap_or_default();
        match code {
            "name_taken" | "name_registered" | "name_reserved" => {
                // `name taken: X`, `X is registered: ...`, `guestN names are ...`.
                let nick = match code {
                    "name_taken" => text.rsplit(' ').next(),
                    "name_registered" => text.split(' ').next(),
                    _ => None,
                }
                .unwrap_or(&asked)
                .to_string();
                if self.stage == Stage::Naming {
                    self.nick = None;
                }
                self.numeric(to_client, "433", &[&nick, text]);
            }
            "invalid_name" => self.numeric(to_client, "432", &[&asked, text]),
            "no_such_user" => {
                let nick = text.rsplit(' ').next().unwrap_or("");
                self.numeric(to_client, "401", &[nick, "No such nick/channel"]);
            }
            "no_such_room" => {
                let room = text.rsplit(' ').next().unwrap_or("");
                self.numeric(to_client, "403", &[room, "No such channel"]);
            }
            "not_in_room" => {
                let room = text.rsplit(' ').next().unwrap_or("");
                self.numeric(to_client, "442", &[room, "You're not on that channel"]);
            }
            "no_operators" => self.numeric(to_client, "491", &["No O-lines for your host"]),
            "not_operator" => self.numeric(
                to_client,
                "481",
                &["Permission Denied- You're not an IRC operator"],
            ),
            "password_required" | "wrong_password" => {
                self.numeric(to_client, "464", &["Password incorrect"])
            }
            "already_there" => {}
            _ if CLOSING.contains(&code) => self.put(
                to_client,
                None,
                "ERROR",
                &[&format!("Closing link: {text}")],
                true,
            ),
            _ => {
                let me = self.target().to_string();
                self.say(to_client, SERVER, "NOTICE", &me, text, false);
            }
        }
    }
}

/// Most fields [`flat_strings`] reads: more is not an event the quick path tells.
const MAX_FIELDS: usize = 8;

/// A flat JSON object of string values (`{"type":"chat","room":"lobby",...}`), its keys and
/// values borrowed; `None` if it is anything else, or a string holds an escape (a backslash:
/// the full parser reads those).
fn flat_strings(line: &[u8]) -> Option<([(&str, &str); MAX_FIELDS], usize)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut rest = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut fields = [("", ""); MAX_FIELDS];
    let mut n = 0;
    while !rest.is_empty() {
        let (key, after) = quoted(rest)?;
        let after = after.strip_prefix(':')?;
        let (value, after) = quoted(after)?;
        if n == MAX_FIELDS {
            return None;
        }
        fields[n] = (key, value);
        n += 1;
        rest = match after.strip_prefix(',') {
            Some(more) => more,
            None if after.is_empty() => after,
            None => return None,
        };
    }
    Some((fields, n))
}

/// `"..."` at the start of `s`, with no escape in it: its inside, and what follows.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = memchr::memchr2(b'"', b'\\', inner.as_bytes())?;
    if inner.as_bytes()[end] == b'\\' {
        return None;
    }
    Some((&inner[..end], &inner[end + 1..]))
}

/// `@time=T;msgid=I :FROM!FROM@chatd PRIVMSG #ROOM :TEXT` and CR LF, for a text that fits in
/// one message and holds no byte a message may not: what [`message::write`] would write,
/// without its allocations.
fn put_said(
    out: &mut Vec<u8>,
    time: Option<&str>,
    id: Option<&str>,
    from: &str,
    room: &str,
    text: &str,
) {
    let mut sep = b'@';
    for (key, value) in [("time", time), ("msgid", id)] {
        if let Some(value) = value {
            out.push(sep);
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            message::escape_into(out, value);
            sep = b';';
        }
    }
    if sep == b';' {
        out.push(b' ');
    }
    for part in [
        ":",
        from,
        "!",
        from,
        "@",
        SERVER,
        " PRIVMSG #",
        room,
        " :",
        text,
        "\r\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
}
