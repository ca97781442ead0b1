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
//! /topic [TEXT]
//! /history [N]        N: 1 or more
//! /msg NAME TEXT
//! /me TEXT
//! /quit [REASON]
//! /help
//! //TEXT              chat text that starts with "/TEXT"
//! TEXT                chat text
//! ```
//!
//! Command names are matched ignoring ASCII case.

use std::borrow::Cow;

/// Longest accepted name, in bytes.
pub const MAX_NAME: usize = 32;

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
    Part,
    Rooms,
    /// Your room, or the named one (valid, without its `#`).
    Who(Option<&'a str>),
    /// Show the topic, or set it.
    Topic(Option<&'a str>),
    /// The room's last lines again: all it keeps, or the last N.
    History(Option<usize>),
    Msg {
        to: &'a str,
        text: &'a str,
    },
    Me(&'a str),
    Quit(Option<&'a str>),
    Help,
}

/// Why a `/command` line was refused. `Display` gives the text after `! `.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError<'a> {
    Unknown(&'a str),
    Usage(&'static str),
    BadName(&'a str),
    BadRoom(&'a str),
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
            CommandError::BadRoom(n) => write!(
                f,
                "invalid room: {n} (1 to {MAX_NAME} letters, digits, _ or -, after an optional #)"
            ),
        }
    }
}

/// The `/help` text, one line.
pub const HELP: &str = "commands: /nick NAME, /join ROOM, /part, /rooms, /who [ROOM], \
                        /topic [TEXT], /history [N], /msg NAME TEXT, /me TEXT, /quit [REASON], \
                        /help; a line starting with // sends text starting with /";

/// Parses one sanitized line (see [`sanitize`]).
pub fn parse(line: &str) -> Result<Input<'_>, CommandError<'_>> {
    if line.trim().is_empty() {
        return Ok(Input::Empty);
    }
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
        Command::Part
    } else if is("rooms") {
        Command::Rooms
    } else if is("who") {
        match args.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Command::Who(None),
            [room] => Command::Who(Some(room_name(room)?)),
            _ => return Err(CommandError::Usage("/who [ROOM]")),
        }
    } else if is("topic") {
        Command::Topic(Some(args).filter(|a| !a.is_empty()))
    } else if is("history") {
        match args {
            "" => Command::History(None),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Command::History(Some(n)),
                _ => return Err(CommandError::Usage("/history [N]")),
            },
        }
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
    } else {
        let shown = &line[..line.find(char::is_whitespace).unwrap_or(line.len())];
        return Err(CommandError::Unknown(shown));
    };
    Ok(Input::Command(command))
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
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_blank_lines() {
        assert_eq!(parse("hello there"), Ok(Input::Say("hello there")));
        assert_eq!(parse(""), Ok(Input::Empty));
        assert_eq!(parse(" \t "), Ok(Input::Empty));
    }

    #[test]
    fn double_slash_escapes_a_leading_slash() {
        assert_eq!(parse("//etc/passwd"), Ok(Input::Say("/etc/passwd")));
        assert_eq!(parse("//"), Ok(Input::Empty));
    }

    #[test]
    fn commands() {
        assert_eq!(parse("/nick bob"), Ok(Input::Command(Command::Nick("bob"))));
        assert_eq!(
            parse("/NICK  bob "),
            Ok(Input::Command(Command::Nick("bob")))
        );
        assert_eq!(parse("/who"), Ok(Input::Command(Command::Who(None))));
        assert_eq!(
            parse("/who #Dev"),
            Ok(Input::Command(Command::Who(Some("Dev"))))
        );
        assert_eq!(parse("/join dev"), Ok(Input::Command(Command::Join("dev"))));
        assert_eq!(
            parse("/JOIN #dev-2"),
            Ok(Input::Command(Command::Join("dev-2")))
        );
        assert_eq!(parse("/part"), Ok(Input::Command(Command::Part)));
        assert_eq!(parse("/rooms"), Ok(Input::Command(Command::Rooms)));
        assert_eq!(parse("/topic"), Ok(Input::Command(Command::Topic(None))));
        assert_eq!(
            parse("/topic  release on friday "),
            Ok(Input::Command(Command::Topic(Some("release on friday"))))
        );
        assert_eq!(
            parse("/history"),
            Ok(Input::Command(Command::History(None)))
        );
        assert_eq!(
            parse("/history 5"),
            Ok(Input::Command(Command::History(Some(5))))
        );
        assert_eq!(
            parse("/msg bob  hi  there"),
            Ok(Input::Command(Command::Msg {
                to: "bob",
                text: "hi  there"
            }))
        );
        assert_eq!(parse("/me waves"), Ok(Input::Command(Command::Me("waves"))));
        assert_eq!(parse("/quit"), Ok(Input::Command(Command::Quit(None))));
        assert_eq!(
            parse("/quit gone fishing"),
            Ok(Input::Command(Command::Quit(Some("gone fishing"))))
        );
        assert_eq!(parse("/help"), Ok(Input::Command(Command::Help)));
    }

    #[test]
    fn command_errors() {
        assert_eq!(parse("/frob x"), Err(CommandError::Unknown("/frob")));
        assert_eq!(parse("/"), Err(CommandError::Unknown("/")));
        assert_eq!(parse("/nick"), Err(CommandError::Usage("/nick NAME")));
        assert_eq!(parse("/nick a b"), Err(CommandError::Usage("/nick NAME")));
        assert_eq!(parse("/nick b@d"), Err(CommandError::BadName("b@d")));
        assert_eq!(
            parse("/msg bob"),
            Err(CommandError::Usage("/msg NAME TEXT"))
        );
        assert_eq!(parse("/msg"), Err(CommandError::Usage("/msg NAME TEXT")));
        assert_eq!(parse("/me"), Err(CommandError::Usage("/me TEXT")));
        assert_eq!(parse("/join"), Err(CommandError::Usage("/join ROOM")));
        assert_eq!(parse("/join a b"), Err(CommandError::Usage("/join ROOM")));
        assert_eq!(parse("/join #"), Err(CommandError::BadRoom("#")));
        assert_eq!(parse("/join ##x"), Err(CommandError::BadRoom("##x")));
        assert_eq!(
            parse(&format!("/join {}", "r".repeat(33))),
            Err(CommandError::BadRoom(&"r".repeat(33)))
        );
        assert_eq!(parse("/who a b"), Err(CommandError::Usage("/who [ROOM]")));
        assert_eq!(parse("/who b@d"), Err(CommandError::BadRoom("b@d")));
        assert_eq!(
            parse("/history 0"),
            Err(CommandError::Usage("/history [N]"))
        );
        assert_eq!(
            parse("/history x"),
            Err(CommandError::Usage("/history [N]"))
        );
        assert_eq!(
            CommandError::Unknown("/frob").to_string(),
            "unknown command: /frob (try /help)"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("a"));
        assert!(valid_name("Bob_the-2nd"));
        assert!(valid_name(&"x".repeat(32)));
        assert!(!valid_name(&"x".repeat(33)));
        assert!(!valid_name(""));
        assert!(!valid_name("bób"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("*bob*"));
    }

    #[test]
    fn sanitize_strips_terminal_controls() {
        assert!(matches!(
            sanitize("plain\ttext"),
            Cow::Borrowed("plain\ttext")
        ));
        assert_eq!(sanitize("\x1b[2Jred\x07\x7f"), "[2Jred");
        assert_eq!(sanitize("a\u{9b}31mb"), "a31mb");
        assert_eq!(sanitize("x\u{202E}y"), "xy");
        assert_eq!(sanitize("olá 👋"), "olá 👋");
    }
}
