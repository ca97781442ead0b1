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
//!
//! Here: the session's state and registration; in `caps.rs` the capabilities (`CAP`), in
//! `chat.rs` a registered client's commands, in `events.rs` the hub's events, in `history.rs`
//! `CHATHISTORY` and the history batches, in `people.rs` `WHOIS` and its kin, in `sasl.rs` SASL
//! PLAIN and NickServ.

use serde_json::Value;

use super::message::{self, MAX_LINE, Message, Refused};
use crate::command;
use caps::Caps;

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
    /// The capabilities the client asked for (see [`caps::CAPS`]).
    caps: Caps,
    /// The tags of the messages being made of one hub event (its time and line id, as the
    /// client's capabilities ask).
    tags: Vec<(&'static str, String)>,
    /// Rooms whose `/who` answer is for a `WHO` (`352`/`315`), not a `NAMES` or a join.
    who_asked: std::collections::VecDeque<String>,
    /// The chat made it an operator (`/oper`).
    oper: bool,
    /// The channels whose ban list (`MODE #a b`) is the answer to a `/bans` asked.
    bans_asked: std::collections::VecDeque<String>,
    /// What each `/whois` asked is for, in the order asked; and what an `ISON` or
    /// `USERHOST` gathered of its answers so far.
    whois_asked: std::collections::VecDeque<people::Asked>,
    gathered: Vec<String>,
    /// Rooms whose `history` answer is for a `CHATHISTORY`, in the order asked.
    history_asked: std::collections::VecDeque<String>,
    /// Batches opened so far (each one's label is `hN`).
    batches: u32,
    /// Where a SASL exchange is, and the account it logged in to.
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
            caps: Caps::default(),
            oper: false,
            bans_asked: std::collections::VecDeque::new(),
            history_asked: std::collections::VecDeque::new(),
            whois_asked: std::collections::VecDeque::new(),
            gathered: Vec::new(),
            batches: 0,
            tags: Vec::new(),
            who_asked: std::collections::VecDeque::new(),
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
        if self.has(caps::Cap::ECHO_MESSAGE) {
            hub_line(to_hub, &["/echo", "on"]);
        }
        hub_line(to_hub, &["/nick", &nick]);
        // The names of the lobby, where the chat puts a newcomer: the answer that comes once
        // the nick is granted is shown.
        hub_line(to_hub, &["/who", crate::hub::LOBBY]);
    }
}

mod caps;
mod chat;
mod events;
mod history;
mod people;
mod sasl;

#[cfg(test)]
mod tests;
