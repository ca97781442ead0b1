//! The TUI's state, without a terminal: the messages, the room and its topic, who is in it, the
//! input line with its editing and history, scrolling, and the connection's status. Server lines and keys go in;
//! lines to send come out. Rendering is in `view`.

use std::collections::{BTreeMap, VecDeque};

use crate::client::reconnect::{Shown, fresh_greeting};

mod events;
use crate::client::server_line::{self, ServerLine};

/// Messages kept for scrolling back.
pub const KEEP: usize = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `<from> text`; `own` for what this client sent.
    Chat {
        from: String,
        own: bool,
    },
    /// A private message from someone (`to` empty), or to someone (sent by this client).
    Private {
        from: String,
        to: String,
    },
    Notice,
    /// An operator removed someone (kick, ban): shown so that it stands out.
    Alert,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub text: String,
    /// Part of a room's history, said before this client came in.
    pub past: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connected,
    Disconnected(String),
}

/// What a key press asks of the front end.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Send(String),
    Quit,
}

/// Keys, as the TUI understands them (decoupled from crossterm for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    PageUp,
    PageDown,
    /// Ctrl+U: clear the line.
    ClearLine,
    /// Ctrl+W: delete the word before the cursor.
    DeleteWord,
    /// Esc or Ctrl+C.
    Quit,
}

pub struct App {
    pub server: String,
    pub me: String,
    pub messages: VecDeque<Message>,
    /// The room this client is in, and its topic.
    pub room: String,
    pub topic: Option<String>,
    /// Inside a history block: the lines that come are the room's past.
    in_history: bool,
    /// The members of the room: lower-cased name to name as shown.
    pub online: BTreeMap<String, String>,
    pub status: Status,
    pub input: Vec<char>,
    /// Cursor position in `input`, in chars.
    pub cursor: usize,
    history: Vec<String>,
    /// Position while browsing the history; `None` when editing a new line.
    history_pos: Option<usize>,
    draft: Vec<char>,
    /// Rows scrolled back from the bottom.
    pub scroll: usize,
    /// Rows a PageUp/PageDown moves (set by the view to the pane's height).
    pub page: usize,
    /// The chat lines shown lately in this room, to show of a replayed history (after a
    /// reconnection) only what was missed.
    shown: Shown,
    /// The server removed this client (kicked, banned): it does not come back by itself.
    pub removed: bool,
    /// Lines entered and not sent yet: paced at the server's line rate (a paste), or waiting
    /// for the connection to come back.
    pub waiting: VecDeque<String>,
    /// The line rate lines are paced at, if any (for the status line).
    pub paced_at: Option<f64>,
}

impl App {
    pub fn new(server: String, me: String) -> App {
        let mut online = BTreeMap::new();
        online.insert(me.to_ascii_lowercase(), me.clone());
        App {
            server,
            me,
            messages: VecDeque::new(),
            room: crate::hub::LOBBY.to_string(),
            topic: None,
            in_history: false,
            online,
            status: Status::Connected,
            input: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            history_pos: None,
            draft: Vec::new(),
            scroll: 0,
            page: 10,
            shown: Shown::default(),
            removed: false,
            waiting: VecDeque::new(),
            paced_at: None,
        }
    }

    fn push(&mut self, kind: Kind, text: impl Into<String>) {
        if self.messages.len() == KEEP {
            self.messages.pop_front();
        }
        self.messages.push_back(Message {
            kind,
            text: text.into(),
            past: self.in_history,
        });
        if self.scroll > 0 {
            self.scroll += 1; // keep the view where the reader left it
        }
    }

    /// Takes one line from the server: a JSON event (the TUI asks for them, `/format json`)
    /// or a text line (before it has asked). Returns a line to send back, if the online list
    /// needs reloading (a text join notice that did not name everyone, or a new room).
    pub fn server_line(&mut self, line: &str) -> Option<String> {
        if line.starts_with('{')
            && let Ok(event) = serde_json::from_str::<serde_json::Value>(line)
        {
            return self.server_event(&event);
        }
        let mut reload = None;
        match server_line::parse(line) {
            ServerLine::Chat { from, text } => {
                self.shown.push(line);
                self.push(
                    Kind::Chat {
                        from: from.into(),
                        own: false,
                    },
                    text,
                )
            }
            ServerLine::Private { from, text } => self.push(
                Kind::Private {
                    from: from.into(),
                    to: String::new(),
                },
                text,
            ),
            ServerLine::Error(e) if e.starts_with("kicked by ") || e.starts_with("banned") => {
                self.removed = true;
                self.push(Kind::Alert, format!("you were {e}"));
            }
            ServerLine::Error(e) => self.push(Kind::Error, e),
            // The session settled the name before the UI started; the welcome is news only.
            ServerLine::Welcome { .. } | ServerLine::PasswordRequired | ServerLine::Oper => {
                self.push(Kind::Notice, &line[2..])
            }
            ServerLine::YouAre(name) => {
                self.rename(&self.me.clone(), name);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Joined { names, more } => {
                for n in names {
                    self.online.insert(n.to_ascii_lowercase(), n.to_string());
                }
                if more > 0 {
                    reload = Some("/who".to_string());
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Left { name, .. } => {
                self.online.remove(&name.to_ascii_lowercase());
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Removed { name, .. } => {
                self.online.remove(&name.to_ascii_lowercase());
                self.push(Kind::Alert, &line[2..]);
            }
            ServerLine::Renamed { old, new } => {
                self.rename(old, new);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Online { room, names } => {
                if room.eq_ignore_ascii_case(&self.room) {
                    self.online = names
                        .iter()
                        .map(|n| (n.to_ascii_lowercase(), n.to_string()))
                        .collect();
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::InRoom { room, .. } => {
                self.shown.clear();
                self.room = room.to_string();
                self.topic = None;
                self.online.clear();
                self.online
                    .insert(self.me.to_ascii_lowercase(), self.me.clone());
                reload = Some("/who".to_string());
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Went { name, .. } => {
                self.online.remove(&name.to_ascii_lowercase());
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Came { name, .. } => {
                self.online
                    .insert(name.to_ascii_lowercase(), name.to_string());
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Topic { room, topic } | ServerLine::TopicSet { room, topic, .. } => {
                if room.eq_ignore_ascii_case(&self.room) {
                    self.topic = Some(topic.to_string());
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::NoTopic(room) => {
                if room.eq_ignore_ascii_case(&self.room) {
                    self.topic = None;
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::HistoryStart { .. } => {
                self.push(Kind::Notice, &line[2..]);
                self.in_history = true;
            }
            ServerLine::HistoryEnd => {
                self.in_history = false;
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Notice(n) => self.push(Kind::Notice, n),
            ServerLine::Limits { .. } => self.push(Kind::Notice, &line[2..]),
            ServerLine::Other(o) => self.push(Kind::Notice, o),
        }
        reload
    }

    fn rename(&mut self, old: &str, new: &str) {
        if old.eq_ignore_ascii_case(&self.me) {
            self.me = new.to_string();
        }
        self.online.remove(&old.to_ascii_lowercase());
        self.online
            .insert(new.to_ascii_lowercase(), new.to_string());
    }

    pub fn disconnected(&mut self, why: &str) {
        self.status = Status::Disconnected(why.to_string());
        self.online.clear();
        self.push(Kind::Error, format!("disconnected: {why}"));
    }

    /// A line typed could not be sent.
    pub fn not_sent(&mut self, why: &str) {
        self.push(Kind::Error, format!("not sent: {why}"));
    }

    /// The connection is lost and the client tries again after `wait`.
    pub fn reconnecting(&mut self, why: &str, wait: std::time::Duration) {
        let text = format!("{why}; reconnecting in {:.1} s", wait.as_secs_f64());
        self.online.clear();
        self.push(Kind::Error, format!("disconnected: {text}"));
        self.status = Status::Disconnected(text);
    }

    /// Back, as `name`: the greeting is shown without the history lines shown already.
    pub fn reconnected(&mut self, server: String, name: String, greeting: &[String]) {
        self.status = Status::Connected;
        self.server = server;
        self.push(Kind::Notice, format!("reconnected as {name}"));
        self.me = name;
        self.online
            .insert(self.me.to_ascii_lowercase(), self.me.clone());
        for line in fresh_greeting(greeting, &self.shown) {
            self.server_line(&line);
        }
    }

    pub fn key(&mut self, key: Key) -> Action {
        match key {
            Key::Char(c) => {
                self.input.insert(self.cursor, c);
                self.cursor += 1;
            }
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.input.remove(self.cursor);
            }
            Key::Delete if self.cursor < self.input.len() => {
                self.input.remove(self.cursor);
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.input.len()),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.input.len(),
            Key::ClearLine => {
                self.input.clear();
                self.cursor = 0;
            }
            Key::DeleteWord => {
                let mut start = self.cursor;
                while start > 0 && self.input[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.input[start - 1] != ' ' {
                    start -= 1;
                }
                self.input.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Up => self.history_back(),
            Key::Down => self.history_forward(),
            Key::PageUp => self.scroll += self.page.max(1),
            Key::PageDown => self.scroll = self.scroll.saturating_sub(self.page.max(1)),
            Key::Enter => return self.submit(),
            Key::Quit => return Action::Quit,
            Key::Backspace | Key::Delete => {}
        }
        Action::None
    }

    fn history_back(&mut self) {
        let pos = match self.history_pos {
            None if self.history.is_empty() => return,
            None => {
                self.draft = std::mem::take(&mut self.input);
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(p) => p - 1,
        };
        self.history_pos = Some(pos);
        self.input = self.history[pos].chars().collect();
        self.cursor = self.input.len();
    }

    fn history_forward(&mut self) {
        let Some(pos) = self.history_pos else { return };
        if pos + 1 < self.history.len() {
            self.history_pos = Some(pos + 1);
            self.input = self.history[pos + 1].chars().collect();
        } else {
            self.history_pos = None;
            self.input = std::mem::take(&mut self.draft);
        }
        self.cursor = self.input.len();
    }

    /// Enter: the line goes to the server, into the history, and (for chat text, which the
    /// server does not echo) into the message pane.
    fn submit(&mut self) -> Action {
        let line: String = self.input.drain(..).collect();
        self.cursor = 0;
        self.history_pos = None;
        self.draft.clear();
        if line.trim().is_empty() {
            return Action::None;
        }
        // A password is not kept for Up to bring back.
        if self.history.last() != Some(&line) && !is_secret(&line) {
            self.history.push(line.clone());
        }
        self.scroll = 0;
        if line.eq_ignore_ascii_case("/quit") || line.to_ascii_lowercase().starts_with("/quit ") {
            return Action::Send(line);
        }
        if let Some(text) = line.strip_prefix("//") {
            self.push(
                Kind::Chat {
                    from: self.me.clone(),
                    own: true,
                },
                format!("/{text}"),
            );
        } else if let Some(rest) = strip_command(&line, "/msg") {
            if let Some((to, text)) = rest.split_once(' ') {
                let (to, text) = (to.to_string(), text.trim_start().to_string());
                self.push(
                    Kind::Private {
                        from: self.me.clone(),
                        to,
                    },
                    text,
                );
            }
        } else if let Some(text) = strip_command(&line, "/me") {
            self.push(Kind::Notice, format!("{} {text}", self.me));
        } else if !line.starts_with('/') {
            self.push(
                Kind::Chat {
                    from: self.me.clone(),
                    own: true,
                },
                line.clone(),
            );
        }
        Action::Send(line)
    }

    /// Online names, sorted ignoring case.
    pub fn online_names(&self) -> impl Iterator<Item = &str> {
        self.online.values().map(String::as_str)
    }
}

fn strip_command<'a>(line: &'a str, cmd: &str) -> Option<&'a str> {
    let head = line.get(..cmd.len())?;
    let rest = line.get(cmd.len()..)?;
    (head.eq_ignore_ascii_case(cmd) && rest.starts_with(' ')).then(|| rest.trim_start())
}

/// `/oper PASSWORD` or `/pass PASSWORD`: a line whose rest is a secret.
pub fn is_secret(line: &str) -> bool {
    secret_from(line).is_some()
}

/// Where the secret starts in a line that carries one (after `/oper ` or `/pass `), in chars.
pub fn secret_from(line: &str) -> Option<usize> {
    let lower = line.to_ascii_lowercase();
    ["/oper ", "/pass "]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        let mut a = App::new("127.0.0.1:12345".into(), "guest1".into());
        a.server_line("* welcome guest1, 1 online; type /help for commands");
        a
    }

    #[test]
    fn the_welcome_does_not_undo_the_sessions_name() {
        let mut a = App::new("127.0.0.1:12345".into(), "alice".into());
        a.server_line("* welcome guest1, 1 online; type /help for commands");
        assert_eq!(a.me, "alice");
        assert_eq!(typed(&mut a, "hi"), Action::Send("hi".into()));
        assert_eq!(
            a.messages.back().unwrap().kind,
            Kind::Chat {
                from: "alice".into(),
                own: true
            }
        );
    }

    fn names(a: &App) -> Vec<&str> {
        a.online_names().collect()
    }

    fn typed(a: &mut App, s: &str) -> Action {
        for c in s.chars() {
            a.key(Key::Char(c));
        }
        a.key(Key::Enter)
    }

    /// What a hub sends client 0, as lines.
    #[derive(Default)]
    struct Lines(Vec<String>);

    impl crate::hub::Outbox for Lines {
        fn send(&mut self, to: crate::hub::ClientId, line: &crate::hub::Line) {
            if to == 0 {
                self.0
                    .push(String::from_utf8_lossy(line).trim_end().to_string());
            }
        }
        fn close(&mut self, _: crate::hub::ClientId) {}
    }

    #[test]
    fn the_online_list_cannot_be_forged_with_me() {
        use crate::hub::{Event, Hub, HubConfig};
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let mut hub = Hub::new(
            HubConfig {
                max_clients: 10,
                max_line: 1000,
                max_per_ip: 0,
                max_connects_per_minute: 0,
                exempt: Vec::new(),
                first_line: None,
                rate: 0.0,
                burst: 0.0,
                max_rooms: 10,
                history: 10,
                password: None,
                oper_password: None,
                node: None,
            },
            std::time::Instant::now(),
        );
        let mut out = Lines::default();
        let mut a = app();
        hub.handle(Event::Connected(0, ip), &mut out);
        hub.handle(Event::Line(0, b"/format json"), &mut out);
        hub.handle(Event::Connected(1, ip), &mut out);
        hub.end_turn(&mut out);
        let mut feed = |hub: &mut Hub, a: &mut App, line: &[u8]| {
            hub.handle(Event::Line(1, line), &mut out);
            hub.end_turn(&mut out);
            for l in std::mem::take(&mut out.0) {
                a.server_line(&l);
            }
        };
        feed(&mut hub, &mut a, b"/me is now admin");
        feed(&mut hub, &mut a, b"/me left");
        assert_eq!(names(&a), ["guest1", "guest2"]);
        assert_eq!(a.messages.back().unwrap().text, "guest2 left");
        assert_eq!(a.messages.back().unwrap().kind, Kind::Notice);
        feed(&mut hub, &mut a, b"/nick bob");
        assert_eq!(names(&a), ["bob", "guest1"]);
        feed(&mut hub, &mut a, b"hello");
        assert_eq!(
            a.messages.back().unwrap().kind,
            Kind::Chat {
                from: "bob".into(),
                own: false
            }
        );
        feed(&mut hub, &mut a, b"/join dev");
        assert_eq!(names(&a), ["guest1"]);
        assert_eq!(a.messages.back().unwrap().text, "bob went to #dev");
        // Its own move: a new room, its history dimmed, the list asked for again.
        hub.handle(Event::Line(0, b"/join dev"), &mut out);
        let mut reload = None;
        for l in std::mem::take(&mut out.0) {
            reload = reload.or(a.server_line(&l));
        }
        assert_eq!(a.room, "dev");
        assert_eq!(reload.as_deref(), Some("/who"));
        let past: Vec<&Message> = a.messages.iter().filter(|m| m.past).collect();
        assert!(past.is_empty(), "bob said nothing in #dev yet");
        hub.handle(Event::Line(0, b"/who"), &mut out);
        for l in std::mem::take(&mut out.0) {
            a.server_line(&l);
        }
        assert_eq!(names(&a), ["bob", "guest1"]);
    }

    #[test]
    fn kicks_and_bans_stand_out_and_leave_the_list() {
        let mut a = app();
        a.server_line("* online in #lobby (3): alice, bob, guest1");
        a.server_line("* bob was kicked by alice (spam)");
        assert_eq!(names(&a), ["alice", "guest1"]);
        let last = a.messages.back().unwrap();
        assert_eq!(last.kind, Kind::Alert);
        assert_eq!(last.text, "bob was kicked by alice (spam)");
        a.server_line("! banned by alice for 60 minutes");
        let last = a.messages.back().unwrap();
        assert_eq!(last.kind, Kind::Alert);
        assert_eq!(last.text, "you were banned by alice for 60 minutes");
        a.server_line("! you are muted");
        assert_eq!(a.messages.back().unwrap().kind, Kind::Error);
    }

    #[test]
    fn the_online_list_follows_the_notices() {
        let mut a = app();
        a.server_line("* online in #lobby (3): alice, Bob, guest1");
        assert_eq!(names(&a), ["alice", "Bob", "guest1"]);
        a.server_line("* online in #elsewhere (1): zed");
        assert_eq!(names(&a), ["alice", "Bob", "guest1"], "another room's list");
        a.server_line("* carol, dave joined");
        a.server_line("* Bob left (lunch)");
        a.server_line("* alice is now Alicia");
        assert_eq!(names(&a), ["Alicia", "carol", "dave", "guest1"]);
        a.server_line("* you are now me");
        assert_eq!(a.me, "me");
        assert_eq!(names(&a), ["Alicia", "carol", "dave", "me"]);
        assert_eq!(
            a.server_line("* x and 40 more joined"),
            Some("/who".to_string())
        );
    }

    #[test]
    fn a_move_changes_the_room_its_topic_and_its_list() {
        let mut a = app();
        a.server_line("* online in #lobby (2): alice, guest1");
        assert_eq!(
            a.server_line("* you are in #dev (2 here)"),
            Some("/who".to_string()),
            "the new room's list is asked for"
        );
        assert_eq!(a.room, "dev");
        assert_eq!(names(&a), ["guest1"]);
        a.server_line("* topic of #dev: ship it");
        assert_eq!(a.topic.as_deref(), Some("ship it"));
        a.server_line("* online in #dev (2): bob, guest1");
        a.server_line("* carol came from #lobby");
        a.server_line("* bob went to #lobby");
        assert_eq!(names(&a), ["carol", "guest1"]);
        a.server_line("* carol set the topic of #dev: friday");
        assert_eq!(a.topic.as_deref(), Some("friday"));
        a.server_line("* you are in #lobby (3 here)");
        assert_eq!((a.room.as_str(), a.topic.as_deref()), ("lobby", None));
    }

    #[test]
    fn history_lines_are_marked_as_past() {
        let mut a = app();
        a.server_line("* history of #lobby: 2 lines");
        a.server_line("<bob> earlier");
        a.server_line("* bob waves");
        a.server_line("* end of history");
        a.server_line("<bob> now");
        let past: Vec<(&str, bool)> = a
            .messages
            .iter()
            .skip(1)
            .map(|m| (m.text.as_str(), m.past))
            .collect();
        assert_eq!(
            past,
            [
                ("history of #lobby: 2 lines", false),
                ("earlier", true),
                ("bob waves", true),
                ("end of history", false),
                ("now", false),
            ]
        );
    }

    #[test]
    fn messages_are_classified() {
        let mut a = app();
        a.server_line("<bob> hi");
        a.server_line("*bob* psst");
        a.server_line("! name taken: bob");
        a.server_line("* bob waves");
        let kinds: Vec<&Kind> = a.messages.iter().skip(1).map(|m| &m.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Chat {
                    from: "bob".into(),
                    own: false
                },
                &Kind::Private {
                    from: "bob".into(),
                    to: String::new()
                },
                &Kind::Error,
                &Kind::Notice
            ]
        );
    }

    #[test]
    fn editing_the_input_line() {
        let mut a = app();
        for c in "helo world".chars() {
            a.key(Key::Char(c));
        }
        for _ in 0..7 {
            a.key(Key::Left);
        }
        a.key(Key::Char('l'));
        assert_eq!(a.input.iter().collect::<String>(), "hello world");
        a.key(Key::End);
        a.key(Key::DeleteWord);
        assert_eq!(a.input.iter().collect::<String>(), "hello ");
        a.key(Key::Home);
        a.key(Key::Delete);
        a.key(Key::Right);
        a.key(Key::Backspace);
        assert_eq!(a.input.iter().collect::<String>(), "llo ");
        a.key(Key::ClearLine);
        assert!(a.input.is_empty() && a.cursor == 0);
        assert_eq!(a.key(Key::Backspace), Action::None);
    }

    #[test]
    fn a_password_is_not_kept_in_the_history_nor_shown() {
        let mut a = app();
        assert_eq!(
            typed(&mut a, "/oper s3cret"),
            Action::Send("/oper s3cret".into())
        );
        a.key(Key::Up);
        assert!(a.input.is_empty(), "not brought back");
        assert_eq!(secret_from("/OPER x"), Some(6));
        assert_eq!(secret_from("/operator"), None);
    }

    #[test]
    fn enter_sends_and_shows_own_text() {
        let mut a = app();
        assert_eq!(typed(&mut a, "hello"), Action::Send("hello".into()));
        let last = a.messages.back().unwrap();
        assert_eq!(
            last.kind,
            Kind::Chat {
                from: "guest1".into(),
                own: true
            }
        );
        assert_eq!(
            typed(&mut a, "/msg bob  hi there"),
            Action::Send("/msg bob  hi there".into())
        );
        assert_eq!(
            a.messages.back().unwrap(),
            &Message {
                kind: Kind::Private {
                    from: "guest1".into(),
                    to: "bob".into()
                },
                text: "hi there".into(),
                past: false,
            }
        );
        let before = a.messages.len();
        assert_eq!(typed(&mut a, "/who"), Action::Send("/who".into()));
        assert_eq!(a.messages.len(), before, "commands are not echoed");
        assert_eq!(typed(&mut a, "   "), Action::None);
        assert_eq!(a.key(Key::Quit), Action::Quit);
    }

    #[test]
    fn history_browses_and_restores_the_draft() {
        let mut a = app();
        typed(&mut a, "one");
        typed(&mut a, "two");
        for c in "dra".chars() {
            a.key(Key::Char(c));
        }
        a.key(Key::Up);
        assert_eq!(a.input.iter().collect::<String>(), "two");
        a.key(Key::Up);
        a.key(Key::Up);
        assert_eq!(a.input.iter().collect::<String>(), "one");
        a.key(Key::Down);
        assert_eq!(a.input.iter().collect::<String>(), "two");
        a.key(Key::Down);
        assert_eq!(a.input.iter().collect::<String>(), "dra");
    }

    #[test]
    fn scrolling_holds_the_view_while_messages_arrive() {
        let mut a = app();
        a.page = 5;
        a.key(Key::PageUp);
        assert_eq!(a.scroll, 5);
        a.server_line("<bob> new");
        assert_eq!(a.scroll, 6);
        a.key(Key::PageDown);
        a.key(Key::PageDown);
        assert_eq!(a.scroll, 0);
    }

    #[test]
    fn history_is_bounded() {
        let mut a = app();
        for i in 0..KEEP + 10 {
            a.server_line(&format!("<bob> {i}"));
        }
        assert_eq!(a.messages.len(), KEEP);
    }

    #[test]
    fn disconnection_is_shown() {
        let mut a = app();
        a.disconnected("server closed the connection");
        assert_eq!(
            a.status,
            Status::Disconnected("server closed the connection".into())
        );
        assert!(a.online.is_empty());
    }
}
