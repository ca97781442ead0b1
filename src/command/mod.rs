//! What a client's line means: chat text or a command. Pure functions, no I/O.
//!
//! The grammar (client to server), one line at a time:
//!
//! ```text
//! /nick NAME          NAME: 1 to 32 of A-Z a-z 0-9 _ -
//! /join ROOM          ROOM: the same, with an optional # in front
//! /part               back to the lobby
//! /rooms
//! /who [ROOM]
//! /whois NAME         whether NAME is online, where, logged in, an operator, away
//! /away [TEXT]        away (who sends you a private message is told TEXT), or back
//! /topic [TEXT]
//! /history [N]        N: 1 or more
//! /msg NAME TEXT
//! /me TEXT
//! /quit [REASON]
//! /help
//! /format json|text   what the server sends this connection: JSON events, or text lines
//! /echo on|off        your own chat lines and private messages sent back to you too
//! /pass PASSWORD      the server's password, first, where it asks for one
//! /register PASSWORD  make the name you have yours (PASSWORD: one word, 8 to 256 bytes)
//! /login NAME PASSWORD  take your registered name
//! /logout
//! /password OLD NEW
//! /unregister PASSWORD
//! /oper PASSWORD      become an operator
//! /kick NAME [REASON]             operators only, as are the commands below
//! /ban NAME [MINUTES] MINUTES: 1 to 525600 (a year); 60 if left out
//! /unban ADDRESS      an IPv4 or IPv6 address
//! /bans
//! /mute NAME
//! /unmute NAME
//! /drop NAME          unregister an account
//! //TEXT              chat text that starts with "/TEXT"
//! TEXT                chat text
//! ```
//!
//! Command names are matched ignoring ASCII case.

use std::borrow::Cow;
use std::net::IpAddr;

/// Longest accepted name, in bytes.
pub const MAX_NAME: usize = 32;

/// Longest ban, in minutes: a year.
pub const MAX_BAN_MINUTES: u32 = 525_600;

/// One parsed line.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Nothing to do (an empty or blank line).
    Empty,
    /// Chat text for everyone else.
    Say(&'a str),
    Command(Command<'a>),
}

/// A `/command` and its arguments.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Nick(&'a str),
    /// A valid room name, without its `#`.
    Join(&'a str),
    /// Leave your room (back to the lobby), or the named one (valid, without its `#`), which
    /// must be yours.
    Part(Option<&'a str>),
    /// `/say ROOM TEXT`: TEXT to ROOM (valid, without its `#`), which must be a room you are
    /// in, without changing where your plain lines go.
    Say {
        room: &'a str,
        text: &'a str,
    },
    Rooms,
    /// Your room, or the named one (valid, without its `#`).
    Who(Option<&'a str>),
    /// `/whois NAME`: whether NAME is online, in which rooms, logged in, away.
    Whois(&'a str),
    /// `/away TEXT` (away, saying why) or `/away` (back).
    Away(Option<&'a str>),
    /// Show the topic, or set it.
    Topic(Option<&'a str>),
    /// The room's last lines again: all it keeps, or the last N.
    History(Option<usize>),
    /// `/history before ID [N]`: the N lines (default [`PAGE`]) said before line ID, in its
    /// room (or yours, if ID is no line kept).
    HistoryBefore {
        id: &'a str,
        n: usize,
    },
    /// `/search [#ROOM] WORDS`: the newest lines with all of WORDS, in ROOM or every room.
    Search {
        room: Option<&'a str>,
        words: &'a str,
    },
    Msg {
        to: &'a str,
        text: &'a str,
    },
    Me(&'a str),
    Quit(Option<&'a str>),
    Help,
    /// The server's password (everything after `/pass `).
    Pass(&'a str),
    /// The operators' password.
    Oper(&'a str),
    /// Make the name one has one's own, with this password.
    Register(&'a str),
    Login {
        name: &'a str,
        password: &'a str,
    },
    Logout,
    Password {
        old: &'a str,
        new: &'a str,
    },
    Unregister(&'a str),
    /// Operators: unregister an account.
    Drop(&'a str),
    Kick {
        name: &'a str,
        reason: Option<&'a str>,
    },
    Ban {
        name: &'a str,
        minutes: Option<u32>,
    },
    Unban(IpAddr),
    Bans,
    Mute(&'a str),
    Unmute(&'a str),
    /// `/format json` (`true`) or `/format text`.
    Format(bool),
    /// `/echo on` (`true`) or `/echo off`: whether one's own lines come back (with their id
    /// and time: a program shows what the server took, as the server took it).
    Echo(bool),
    /// The server's limits on what a client sends (its line rate, so that a client can pace
    /// itself and say so).
    Limits,
}

/// Why a `/command` line was refused. `Display` gives the text after `! `.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError<'a> {
    Unknown(&'a str),
    Usage(&'static str),
    BadName(&'a str),
    BadRoom(&'a str),
    BadAddress(&'a str),
}

impl CommandError<'_> {
    /// What went wrong, for programs (the JSON `error` event's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Unknown(_) => "unknown_command",
            CommandError::Usage(_) => "usage",
            CommandError::BadName(_) => "invalid_name",
            CommandError::BadRoom(_) => "invalid_room",
            CommandError::BadAddress(_) => "invalid_address",
        }
    }
}

impl std::fmt::Display for CommandError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Unknown(c) => write!(f, "unknown command: {c} (try /help)"),
            CommandError::Usage(u) => write!(f, "usage: {u}"),
            CommandError::BadName(n) => write!(
                f,
                "invalid name: {n} (1 to {MAX_NAME} letters, digits, _ or -)"
            ),
            CommandError::BadAddress(a) => {
                write!(f, "invalid address: {a} (an IPv4 or IPv6 address)")
            }
            CommandError::BadRoom(n) => write!(
                f,
                "invalid room: {n} (1 to {MAX_NAME} letters, digits, _ or -, after an optional #)"
            ),
        }
    }
}

/// The `/help` text, one line.
pub const HELP: &str = "commands: /nick NAME, /join ROOM, /part [ROOM], /say ROOM TEXT, \
                        /rooms, /who [ROOM], /whois NAME, /away [TEXT], \
                        /topic [TEXT], /history [N], /history before ID [N], /search [#ROOM] WORDS, \
                        /msg NAME TEXT, /me TEXT, /quit [REASON], \
                        /format json|text, /echo on|off, /limits, \
                        /register PASSWORD, /login NAME PASSWORD, /logout, /password OLD NEW, \
                        /unregister PASSWORD, \
                        /help; operators: /oper PASSWORD, /kick NAME [REASON], \
                        /ban NAME [MINUTES], /unban ADDRESS, /bans, /mute NAME, /unmute NAME, \
                        /drop NAME; \
                        a line starting with // sends text starting with /";

/// Lines a `/history before` page shows unless told; and at most.
pub const PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
/// The longest `/search` words, in bytes.
pub const MAX_SEARCH: usize = 200;

/// A line id as the server gives them: `SEQ`, or `NODE-SEQ` in a cluster.
fn valid_line_id(id: &str) -> bool {
    let seq = id.rsplit_once('-').map_or(id, |(node, seq)| {
        if node.is_empty() || !node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            ""
        } else {
            seq
        }
    });
    !seq.is_empty() && seq.len() <= 19 && seq.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one sanitized line (see [`sanitize`]).
pub fn parse(line: &str) -> Result<Input<'_>, CommandError<'_>> {
    if line.trim().is_empty() {
        return Ok(Input::Empty);
    }
    // `  /who` is a command too (typed with a space first, or pasted): blanks before a `/` are
    // not text anyone meant to say.
    let blanks = line.len() - line.trim_start().len();
    if line[blanks..].starts_with('/') {
        return parse_command(&line[blanks..]);
    }
    Ok(Input::Say(line))
}

/// A line starting with `/`.
fn parse_command(line: &str) -> Result<Input<'_>, CommandError<'_>> {
    if line.starts_with("//") {
        return Ok(if line.len() > 2 {
            Input::Say(&line[1..])
        } else {
            Input::Empty
        });
    }
    let Some(body) = line.strip_prefix('/') else {
        return Ok(Input::Say(line));
    };
    let (cmd, args) = match body.find(char::is_whitespace) {
        Some(i) => (&body[..i], body[i..].trim()),
        None => (body, ""),
    };
    let is = |name: &str| cmd.eq_ignore_ascii_case(name);
    let command = if is("nick") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name] if valid_name(name) => Command::Nick(name),
            [name] => return Err(CommandError::BadName(name)),
            _ => return Err(CommandError::Usage("/nick NAME")),
        }
    } else if is("join") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [room] => Command::Join(room_name(room)?),
            _ => return Err(CommandError::Usage("/join ROOM")),
        }
    } else if is("part") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Command::Part(None),
            [room] => Command::Part(Some(room_name(room)?)),
            _ => return Err(CommandError::Usage("/part [ROOM]")),
        }
    } else if is("say") {
        let (room, text) = match args.find(char::is_whitespace) {
            Some(i) => (&args[..i], args[i..].trim_start()),
            None => (args, ""),
        };
        if room.is_empty() || text.is_empty() {
            return Err(CommandError::Usage("/say ROOM TEXT"));
        }
        Command::Say {
            room: room_name(room)?,
            text,
        }
    } else if is("rooms") {
        Command::Rooms
    } else if is("who") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Command::Who(None),
            [room] => Command::Who(Some(room_name(room)?)),
            _ => return Err(CommandError::Usage("/who [ROOM]")),
        }
    } else if is("whois") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name] => Command::Whois(user_name(name, "/whois NAME")?),
            _ => return Err(CommandError::Usage("/whois NAME")),
        }
    } else if is("away") {
        Command::Away(Some(args).filter(|a| !a.is_empty()))
    } else if is("topic") {
        Command::Topic(Some(args).filter(|a| !a.is_empty()))
    } else if is("history") {
        const USAGE: &str = "/history [N] or /history before ID [N]";
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Command::History(None),
            ["before", id] if valid_line_id(id) => Command::HistoryBefore { id, n: PAGE },
            ["before", id, n] if valid_line_id(id) => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Command::HistoryBefore { id, n },
                _ => {
                    return Err(CommandError::Usage(
                        "/history before ID [N], N from 1 to 200",
                    ));
                }
            },
            [n] => match n.parse::<usize>() {
                Ok(n) => Command::History(Some(n)),
                _ => return Err(CommandError::Usage(USAGE)),
            },
            _ => return Err(CommandError::Usage(USAGE)),
        }
    } else if is("search") {
        const USAGE: &str = "/search [#ROOM] WORDS";
        let (room, words) = match args.split_once(char::is_whitespace) {
            Some((first, rest)) if first.starts_with('#') => (Some(room_name(first)?), rest.trim()),
            _ if args.starts_with('#') => return Err(CommandError::Usage(USAGE)),
            _ => (None, args),
        };
        if words.is_empty() || words.len() > MAX_SEARCH {
            return Err(CommandError::Usage(USAGE));
        }
        Command::Search { room, words }
    } else if is("msg") {
        let (to, text) = match args.find(char::is_whitespace) {
            Some(i) => (&args[..i], args[i..].trim_start()),
            None => (args, ""),
        };
        if to.is_empty() || text.is_empty() {
            return Err(CommandError::Usage("/msg NAME TEXT"));
        }
        Command::Msg { to, text }
    } else if is("me") {
        if args.is_empty() {
            return Err(CommandError::Usage("/me TEXT"));
        }
        Command::Me(args)
    } else if is("quit") {
        Command::Quit(Some(args).filter(|a| !a.is_empty()))
    } else if is("help") {
        Command::Help
    } else if is("limits") {
        Command::Limits
    } else if is("format") {
        match args.to_ascii_lowercase().as_str() {
            "json" => Command::Format(true),
            "text" => Command::Format(false),
            _ => return Err(CommandError::Usage("/format json|text")),
        }
    } else if is("echo") {
        match args.to_ascii_lowercase().as_str() {
            "on" => Command::Echo(true),
            "off" => Command::Echo(false),
            _ => return Err(CommandError::Usage("/echo on|off")),
        }
    } else if is("pass") || is("oper") {
        if args.is_empty() {
            return Err(CommandError::Usage(if is("pass") {
                "/pass PASSWORD"
            } else {
                "/oper PASSWORD"
            }));
        }
        if is("pass") {
            Command::Pass(args)
        } else {
            Command::Oper(args)
        }
    } else if is("register") || is("unregister") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [password] if is("register") => Command::Register(password),
            [password] => Command::Unregister(password),
            _ if is("register") => return Err(CommandError::Usage("/register PASSWORD")),
            _ => return Err(CommandError::Usage("/unregister PASSWORD")),
        }
    } else if is("login") {
        const USAGE: &str = "/login NAME PASSWORD";
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name, password] => Command::Login {
                name: user_name(name, USAGE)?,
                password,
            },
            _ => return Err(CommandError::Usage(USAGE)),
        }
    } else if is("logout") {
        if !args.is_empty() {
            return Err(CommandError::Usage("/logout"));
        }
        Command::Logout
    } else if is("password") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [old, new] => Command::Password { old, new },
            _ => return Err(CommandError::Usage("/password OLD NEW")),
        }
    } else if is("drop") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name] => Command::Drop(user_name(name, "/drop NAME")?),
            _ => return Err(CommandError::Usage("/drop NAME")),
        }
    } else if is("kick") {
        let (name, reason) = match args.find(char::is_whitespace) {
            Some(i) => (&args[..i], Some(args[i..].trim_start())),
            None => (args, None),
        };
        Command::Kick {
            name: user_name(name, "/kick NAME [REASON]")?,
            reason,
        }
    } else if is("ban") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name] => Command::Ban {
                name: user_name(name, "/ban NAME [MINUTES]")?,
                minutes: None,
            },
            [name, minutes] => match minutes.parse::<u32>() {
                Ok(m) if (1..=MAX_BAN_MINUTES).contains(&m) => Command::Ban {
                    name: user_name(name, "/ban NAME [MINUTES]")?,
                    minutes: Some(m),
                },
                _ => return Err(CommandError::Usage("/ban NAME [MINUTES] (1 to 525600)")),
            },
            _ => return Err(CommandError::Usage("/ban NAME [MINUTES]")),
        }
    } else if is("unban") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [addr] => match addr.parse::<IpAddr>() {
                Ok(ip) => Command::Unban(ip),
                Err(_) => return Err(CommandError::BadAddress(addr)),
            },
            _ => return Err(CommandError::Usage("/unban ADDRESS")),
        }
    } else if is("bans") {
        Command::Bans
    } else if is("mute") || is("unmute") {
        let usage = if is("mute") {
            "/mute NAME"
        } else {
            "/unmute NAME"
        };
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [name] if is("mute") => Command::Mute(user_name(name, usage)?),
            [name] => Command::Unmute(user_name(name, usage)?),
            _ => return Err(CommandError::Usage(usage)),
        }
    } else {
        let shown = &line[..line.find(char::is_whitespace).unwrap_or(line.len())];
        return Err(CommandError::Unknown(shown));
    };
    Ok(Input::Command(command))
}

/// A user's name as an argument: refused unless valid; missing, the command's usage.
fn user_name<'a>(name: &'a str, usage: &'static str) -> Result<&'a str, CommandError<'a>> {
    match name {
        "" => Err(CommandError::Usage(usage)),
        n if valid_name(n) => Ok(n),
        n => Err(CommandError::BadName(n)),
    }
}

/// A room as typed, `#` optional, without its `#`; refused unless it is a valid name.
fn room_name(typed: &str) -> Result<&str, CommandError<'_>> {
    let name = typed.strip_prefix('#').unwrap_or(typed);
    if valid_name(name) {
        Ok(name)
    } else {
        Err(CommandError::BadRoom(typed))
    }
}

/// A name is 1 to [`MAX_NAME`] ASCII letters, digits, `_` or `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Commands whose arguments are a password: a log shows their name, never what follows it.
/// (`login`, `register`, `password`, `unregister`, `identify`: the accounts' commands, kept
/// out of logs before they exist.)
const SECRET_COMMANDS: &[&str] = &[
    "pass",
    "oper",
    "login",
    "register",
    "password",
    "unregister",
    "identify",
];

/// A client's line as a log may show it: a command carrying a password (see
/// [`SECRET_COMMANDS`]) keeps its name only, whether it parses or not, in any case.
pub fn loggable(line: &str) -> Cow<'_, str> {
    let body = line.trim_start();
    let Some(body) = body.strip_prefix('/') else {
        return Cow::Borrowed(line);
    };
    let word = body.split(char::is_whitespace).next().unwrap_or("");
    if SECRET_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word)) {
        Cow::Owned(format!("/{word} (arguments not logged)"))
    } else {
        Cow::Borrowed(line)
    }
}

/// Removes every character that could drive a terminal: the C0 controls except tab, DEL, and
/// the C1 controls (U+0080 to U+009F, which some terminals take as CSI and friends). Borrows when
/// there is nothing to remove, which is the common case.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let is_control = |c: char| (c.is_control() && c != '\t') || is_bidi_control(c);
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| !is_control(c)).collect())
}

/// Bidirectional overrides and isolates, which can make text read as something it is not.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests;
