//! One IRC client's session, pure: what its lines mean to the hub, and what the hub's events
//! mean to it. The hub never learns IRC: a client's `JOIN #dev` becomes the chat's `/join dev`,
//! and the hub's JSON events (the connection reads JSON from registration on) become IRC
//! messages: a `chat` event in `#dev` is `:ana!ana@chatd PRIVMSG #dev :hi`, a `who` event the
//! `353`/`366` numerics. Registration (`CAP`, `PASS`, `NICK`, `USER`) is the session's own,
//! answered here; once it ends, the hub is asked for the nick, and the welcome numerics are sent
//! when it grants it (a nick taken is `433`, and the client picks another).
//!
//! The session writes into two buffers the connection layer gives it: lines for the hub (the
//! chat's command language, `\n` after each) and bytes for the client (IRC, `\r\n` after each).

use serde_json::Value;

use super::message::{self, MAX_LINE, Message, Refused};
use crate::command;

/// The server's name in every message it sources, and the host of every client shown.
pub const SERVER: &str = "chatd";
/// How NickServ is shown.
pub const NICKSERV: &str = "NickServ!NickServ@chatd";
/// The network's name, in `005`.
pub const NETWORK: &str = "chatd";

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Before `NICK` and `USER` (and `CAP END`, when capabilities are being negotiated).
    Registering,
    /// Registered here: the hub was asked for the nick and has not granted it yet.
    Naming,
    /// In the chat.
    Registered,
}

/// One IRC client's session.
#[derive(Debug)]
pub struct Session {
    stage: Stage,
    /// The nick asked for (before registration ends), then the one the hub gave.
    nick: Option<String>,
    user: bool,
    /// `CAP LS` or `CAP REQ` came, and `CAP END` has not.
    negotiating: bool,
    /// `PASS`, given to the hub as `/pass` when registration ends.
    pass: Option<String>,
    /// The channels the client is in, as the hub named them (without `#`).
    channels: Vec<String>,
    /// The last rename passed on (a rename is told once in each room it is in).
    last_rename: Option<(String, String)>,
    /// The hub's events before the welcome, told after it.
    held: Vec<Vec<u8>>,
    /// The capabilities the client asked for (see [`CAPS`]).
    server_time: bool,
    message_tags: bool,
    /// The tags of the messages being made of one hub event (its time and line id, as the
    /// client's capabilities ask).
    tags: Vec<(&'static str, String)>,
    /// Rooms whose `/who` answer is for a `WHO` (`352`/`315`), not a `NAMES` or a join.
    who_asked: std::collections::VecDeque<String>,
    /// `sasl` asked for, where its exchange is, and the account it logged in to.
    sasl: bool,
    sasl_step: Sasl,
    account: Option<String>,
}

/// Where a SASL exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sasl {
    Idle,
    /// `AUTHENTICATE PLAIN` came: its payload is awaited, these chunks of it so far.
    Payload(String),
    /// The chat is checking the password.
    Checking,
}

/// The capabilities offered.
pub const CAPS: &[&str] = &["message-tags", "sasl", "server-time"];
/// The longest SASL payload taken (base64), in all its chunks.
const MAX_SASL: usize = 1200;

/// The account notices and errors of the chat that NickServ says, as IRC users expect.
const NICKSERV_CODES: &[&str] = &[
    "registered",
    "logged_in",
    "logged_out",
    "password_changed",
    "unregistered",
    "account_dropped",
    "wrong_login",
    "login_wait",
    "invalid_password",
    "guest_name",
    "already_registered",
    "not_logged_in",
    "too_many_accounts",
    "no_accounts",
    "hash_timeout",
    "busy",
];

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.trim_end_matches('=').bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Most of the hub's events held before the welcome; past it, they are not shown.
const MAX_HELD: usize = 256;

/// The hub's errors after which it closes the connection: IRC's `ERROR`.
const CLOSING: &[&str] = &[
    "idle_timeout",
    "flooding",
    "kicked",
    "banned",
    "server_full",
    "too_many_connections",
    "logged_in_elsewhere",
    "password_timeout",
];

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

/// Appends a chat line for the hub.
fn hub_line(to_hub: &mut Vec<u8>, parts: &[&str]) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            to_hub.push(b' ');
        }
        to_hub.extend_from_slice(p.as_bytes());
    }
    to_hub.push(b'\n');
}

/// `NICK!NICK@chatd`: how a client of the chat is shown (never its address).
fn mask(nick: &str) -> String {
    format!("{nick}!{nick}@{SERVER}")
}

/// A channel's name without its `#`, if it is one the chat can have.
fn room_of(channel: &str) -> Option<&str> {
    let room = channel.strip_prefix('#')?;
    command::valid_name(room).then_some(room)
}

impl Session {
    pub fn new() -> Session {
        Session {
            stage: Stage::Registering,
            nick: None,
            user: false,
            negotiating: false,
            pass: None,
            channels: Vec::new(),
            last_rename: None,
            held: Vec::new(),
            server_time: false,
            message_tags: false,
            tags: Vec::new(),
            who_asked: std::collections::VecDeque::new(),
            sasl: false,
            sasl_step: Sasl::Idle,
            account: None,
        }
    }

    /// Whether registration has ended and the hub granted the nick.
    pub fn registered(&self) -> bool {
        self.stage == Stage::Registered
    }

    /// The client's nick, `*` before it has one (as numerics address it).
    fn target(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// One message to the client, with the tags of the event it tells, if any.
    fn put(
        &self,
        to_client: &mut Vec<u8>,
        source: Option<&str>,
        command: &str,
        params: &[&str],
        trailing: bool,
    ) {
        let tags: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        message::write(to_client, &tags, source, command, params, trailing);
    }

    /// A numeric to the client.
    fn numeric(&self, to_client: &mut Vec<u8>, code: &str, params: &[&str]) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.target());
        all.extend_from_slice(params);
        self.put(to_client, Some(SERVER), code, &all, true);
    }

    /// One line from the client, without its LF.
    pub fn from_client(&mut self, line: &[u8], to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let msg = match message::parse(line) {
            Ok(msg) => msg,
            Err(Refused::Empty) => return,
            Err(Refused::TooLong | Refused::TagsTooLong) => {
                return self.numeric(to_client, "417", &["Input line was too long"]);
            }
            Err(Refused::InvalidUtf8) => {
                // The command, if the line has one that reads as one (tags and a source aside).
                let cmd = line
                    .split(|&b| b == b' ')
                    .find(|w| !w.is_empty() && !w.starts_with(b"@") && !w.starts_with(b":"))
                    .filter(|w| w.len() <= 32 && w.iter().all(u8::is_ascii_alphanumeric))
                    .map_or("*".to_string(), |w| {
                        String::from_utf8_lossy(w).to_ascii_uppercase()
                    });
                return self.put(
                    to_client,
                    Some(SERVER),
                    "FAIL",
                    &[&cmd, "INVALID_UTF8", "Message rejected: invalid UTF-8"],
                    true,
                );
            }
            Err(why) => {
                let text = format!("Message rejected: {why:?}");
                return self.put(
                    to_client,
                    Some(SERVER),
                    "FAIL",
                    &["*", "INVALID_MESSAGE", &text],
                    true,
                );
            }
        };
        let command = msg.command.to_ascii_uppercase();
        match command.as_str() {
            "PING" => {
                let token = msg.params.first().copied().unwrap_or(SERVER);
                self.put(to_client, Some(SERVER), "PONG", &[SERVER, token], true);
            }
            "PONG" => {}
            "CAP" => self.cap(&msg, to_hub, to_client),
            "AUTHENTICATE" => self.authenticate(&msg, to_hub, to_client),
            "QUIT" => {
                let reason = msg.params.first().copied().unwrap_or("");
                hub_line(to_hub, &["/quit", reason]);
            }
            _ if self.stage == Stage::Registering => {
                self.registering(&command, &msg, to_hub, to_client)
            }
            "NICK" | "PASS" | "USER" if self.stage == Stage::Naming => {
                self.registering(&command, &msg, to_hub, to_client)
            }
            // Registered here (the hub takes lines in order: these come after its /nick), or
            // in the chat.
            _ => self.chatting(&command, &msg, to_hub, to_client),
        }
    }

    fn cap(&mut self, msg: &Message<'_>, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let sub = msg
            .params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let target = self.target().to_string();
        match sub.as_str() {
            "LS" | "LIST" => {
                if self.stage == Stage::Registering {
                    self.negotiating = true;
                }
                let v302 = msg.params.get(1).is_some_and(|v| *v >= "302");
                let list = if sub == "LS" && v302 {
                    "message-tags sasl=PLAIN server-time".to_string()
                } else if sub == "LS" {
                    CAPS.join(" ")
                } else {
                    let mut on = Vec::new();
                    if self.message_tags {
                        on.push("message-tags");
                    }
                    if self.sasl {
                        on.push("sasl");
                    }
                    if self.server_time {
                        on.push("server-time");
                    }
                    on.join(" ")
                };
                self.put(
                    to_client,
                    Some(SERVER),
                    "CAP",
                    &[&target, &sub, &list],
                    true,
                );
            }
            "REQ" => {
                if self.stage == Stage::Registering {
                    self.negotiating = true;
                }
                let asked = msg.params.get(1).copied().unwrap_or("");
                // All or none, as the specification says.
                let known = asked
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .all(|c| CAPS.contains(&c.strip_prefix('-').unwrap_or(c)));
                if known {
                    for cap in asked.split(' ').filter(|c| !c.is_empty()) {
                        let (name, on) = match cap.strip_prefix('-') {
                            Some(name) => (name, false),
                            None => (cap, true),
                        };
                        match name {
                            "server-time" => self.server_time = on,
                            "message-tags" => self.message_tags = on,
                            "sasl" => self.sasl = on,
                            _ => {}
                        }
                    }
                }
                let answer = if known { "ACK" } else { "NAK" };
                self.put(
                    to_client,
                    Some(SERVER),
                    "CAP",
                    &[&target, answer, asked],
                    true,
                );
            }
            "END" => {
                self.negotiating = false;
                self.try_register(to_hub, to_client);
            }
            _ => {
                let sub = msg.params.first().copied().unwrap_or("");
                self.numeric(to_client, "410", &[sub, "Invalid CAP command"]);
            }
        }
    }

    /// `AUTHENTICATE`: SASL PLAIN, against the chat's accounts (a `/login`).
    fn authenticate(&mut self, msg: &Message<'_>, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let arg = msg.params.first().copied().unwrap_or("");
        let failed = |s: &mut Self, to_client: &mut Vec<u8>| {
            s.sasl_step = Sasl::Idle;
            s.numeric(to_client, "904", &["SASL authentication failed"]);
        };
        if self.account.is_some() {
            return self.numeric(to_client, "907", &["You have already authenticated"]);
        }
        if !self.sasl || self.stage != Stage::Registering {
            return failed(self, to_client);
        }
        if arg == "*" {
            self.sasl_step = Sasl::Idle;
            return self.numeric(to_client, "906", &["SASL authentication aborted"]);
        }
        match std::mem::replace(&mut self.sasl_step, Sasl::Idle) {
            Sasl::Idle if arg.eq_ignore_ascii_case("PLAIN") => {
                self.sasl_step = Sasl::Payload(String::new());
                self.put(to_client, None, "AUTHENTICATE", &["+"], false);
            }
            Sasl::Idle => {
                self.numeric(
                    to_client,
                    "908",
                    &["PLAIN", "are available SASL mechanisms"],
                );
                failed(self, to_client);
            }
            Sasl::Payload(mut so_far) => {
                if arg != "+" {
                    so_far.push_str(arg);
                }
                if so_far.len() > MAX_SASL {
                    return failed(self, to_client);
                }
                if arg.len() == 400 {
                    // More to come.
                    self.sasl_step = Sasl::Payload(so_far);
                    return;
                }
                let plain = base64(&so_far).and_then(|b| String::from_utf8(b).ok());
                let mut parts = plain.as_deref().unwrap_or("").split('\0');
                let (authz, authc, password) = (parts.next(), parts.next(), parts.next());
                let name = authc.filter(|a| !a.is_empty()).or(authz).unwrap_or("");
                let password = password.unwrap_or("");
                if !command::valid_name(name) || password.is_empty() || password.contains(' ') {
                    return failed(self, to_client);
                }
                if let Some(pass) = self.pass.take() {
                    hub_line(to_hub, &["/pass", &pass]);
                }
                self.sasl_step = Sasl::Checking;
                hub_line(to_hub, &["/login", name, password]);
                // For the welcome, if the login is granted (held until then).
                hub_line(to_hub, &["/who", crate::hub::LOBBY]);
            }
            Sasl::Checking => {
                self.sasl_step = Sasl::Checking;
                self.numeric(to_client, "904", &["SASL authentication failed"]);
            }
        }
    }

    fn registering(
        &mut self,
        command: &str,
        msg: &Message<'_>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        match command {
            "PASS" => match msg.params.first() {
                Some(pass) if self.stage == Stage::Registering => {
                    self.pass = Some(pass.to_string())
                }
                Some(_) => self.numeric(to_client, "462", &["You may not reregister"]),
                None => self.numeric(to_client, "461", &["PASS", "Not enough parameters"]),
            },
            "NICK" => {
                let Some(&nick) = msg.params.first() else {
                    return self.numeric(to_client, "431", &["No nickname given"]);
                };
                if !command::valid_name(nick) {
                    return self.numeric(to_client, "432", &[nick, "Erroneous nickname"]);
                }
                self.nick = Some(nick.to_string());
                if self.stage == Stage::Naming {
                    // The one asked before was refused: ask for this one.
                    hub_line(to_hub, &["/nick", nick]);
                    return hub_line(to_hub, &["/who", crate::hub::LOBBY]);
                }
                self.try_register(to_hub, to_client);
            }
            "USER" => {
                if msg.params.len() < 4 {
                    return self.numeric(to_client, "461", &["USER", "Not enough parameters"]);
                }
                if self.user {
                    return self.numeric(to_client, "462", &["You may not reregister"]);
                }
                self.user = true;
                self.try_register(to_hub, to_client);
            }
            _ => self.numeric(to_client, "451", &["You have not registered"]),
        }
    }

    /// Registration ends once the client has given a nick and a user and ended capability
    /// negotiation: the hub reads JSON from now on, and is asked for the nick.
    fn try_register(&mut self, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        if self.stage != Stage::Registering || !self.user || self.negotiating {
            return;
        }
        if self.sasl_step == Sasl::Checking {
            return; // registration ends once the login is answered
        }
        if let Some(account) = self.account.clone() {
            // Logged in by SASL: the chat named it after its account already (and the
            // lobby's names were asked with the login).
            return self.welcomed(&account, to_client);
        }
        let Some(nick) = self.nick.clone() else {
            return;
        };
        self.stage = Stage::Naming;
        if let Some(pass) = self.pass.take() {
            hub_line(to_hub, &["/pass", &pass]);
        }
        hub_line(to_hub, &["/format", "json"]);
        hub_line(to_hub, &["/nick", &nick]);
        // The names of the lobby, where the chat puts a newcomer: the answer that comes once
        // the nick is granted is shown.
        hub_line(to_hub, &["/who", crate::hub::LOBBY]);
    }

    fn chatting(
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

    fn in_channel(&self, room: &str) -> bool {
        self.channels.iter().any(|c| c.eq_ignore_ascii_case(room))
    }

    /// `PRIVMSG` (or `NOTICE`) to one target: a channel the client is in, or a nick.
    fn privmsg(
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

    /// One line from the hub, without its LF: a JSON event (or, before registration ends, a
    /// text line, which says nothing the session needs). It never asks the hub anything back:
    /// a connection's lines to the hub come from its socket only.
    pub fn from_hub(&mut self, line: &[u8], to_client: &mut Vec<u8>) {
        if !line.starts_with(b"{") {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        if self.stage == Stage::Registered {
            let get = |key: &str| event.get(key).and_then(Value::as_str);
            if self.server_time
                && let Some(time) = get("time")
            {
                self.tags.push(("time", time.to_string()));
            }
            if self.message_tags
                && let Some(id) = get("id")
            {
                self.tags.push(("msgid", id.to_string()));
            }
        }
        self.event(&event, line, to_client);
        self.tags.clear();
    }

    fn event(&mut self, event: &Value, line: &[u8], to_client: &mut Vec<u8>) {
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
                self.say(
                    to_client,
                    &mask(s("from")),
                    "PRIVMSG",
                    &me,
                    s("text"),
                    false,
                );
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
                let room_for = MAX_LINE - 64 - channel.len() - self.target().len();
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
            // The answer to the session's own `/format json`.
            "notice" if s("code") == "format" => {}
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
            "error" => self.error(s("code"), s("text"), to_client),
            "notice" | "link" => {
                let me = self.target().to_string();
                self.say(to_client, SERVER, "NOTICE", &me, s("text"), false);
            }
            "shutdown" => self.put(to_client, None, "ERROR", &[s("text")], true),
            _ => {}
        }
    }

    /// `PRIVMSG NickServ :...`: the accounts' commands as IRC users know them.
    fn nickserv(&mut self, text: &str, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
        let verb = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        match (verb.as_str(), &words[1..]) {
            ("IDENTIFY", [password]) => {
                let nick = self.target().to_string();
                hub_line(to_hub, &["/login", &nick, password]);
            }
            ("IDENTIFY", [name, password]) => hub_line(to_hub, &["/login", name, password]),
            ("REGISTER", [password, ..]) => hub_line(to_hub, &["/register", password]),
            ("LOGOUT", []) => hub_line(to_hub, &["/logout"]),
            _ => {
                let me = self.target().to_string();
                let help = "IDENTIFY [NAME] PASSWORD, REGISTER PASSWORD, or LOGOUT";
                self.say(to_client, NICKSERV, "NOTICE", &me, help, false);
            }
        }
    }

    /// The answer to `WHO #room`: a `352` for each (none's address: `chatd` for all, `H` for
    /// here), then `315`.
    fn who_reply(&self, event: &Value, channel: &str, to_client: &mut Vec<u8>) {
        let names = event.get("names").and_then(Value::as_array);
        for name in names.into_iter().flatten().filter_map(Value::as_str) {
            let real = format!("0 {name}");
            let params = [channel, name, SERVER, SERVER, name, "H", real.as_str()];
            self.numeric(to_client, "352", &params);
        }
        self.numeric(to_client, "315", &[channel, "End of /WHO list"]);
    }

    /// `PRIVMSG` or `NOTICE` from `source` to `target` (a CTCP `ACTION` if `action`), split
    /// into as many messages as IRC's line limit takes.
    fn say(
        &self,
        to_client: &mut Vec<u8>,
        source: &str,
        command: &str,
        target: &str,
        text: &str,
        action: bool,
    ) {
        let room = MAX_LINE - source.len() - command.len() - target.len() - 24;
        let mut rest = text;
        let mut part_text = String::new();
        while !rest.is_empty() {
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
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

    fn renamed(&mut self, event: &Value, to_client: &mut Vec<u8>) {
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
    fn rooms_now(&mut self, event: &Value, to_client: &mut Vec<u8>) {
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
    fn welcomed(&mut self, nick: &str, to_client: &mut Vec<u8>) {
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
    fn welcome(&mut self, to_client: &mut Vec<u8>) {
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
            &format!("LINELEN={MAX_LINE}"),
        ];
        let mut params: Vec<&str> = isupport.to_vec();
        params.push("are supported by this server");
        self.numeric(to_client, "005", &params);
        self.numeric(to_client, "422", &["MOTD File is missing"]);
    }

    /// The hub refused something: its numeric, when IRC has one, else a notice.
    fn error(&mut self, code: &str, text: &str, to_client: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests;
