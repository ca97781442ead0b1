//! The TUI's state, without a terminal: a pane per room it is in (see [`Pane`]), the one
//! shown, the input line with its editing and history, and the connection's status. Server
//! lines and keys go in; lines to send come out. Rendering is in `view`.

use std::collections::VecDeque;

use crate::client::reconnect::Replay;

mod events;
mod pane;
use crate::client::server_line::{self, ServerLine};
pub use pane::Pane;

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
    /// Alt+1..9: show the room at that place in the list (0 the first).
    Room(usize),
    /// Esc or Ctrl+C.
    Quit,
}

pub struct App {
    pub server: String,
    pub me: String,
    /// The rooms this client is in, in the order it joined them; never empty (a client in no
    /// room has one pane, named "").
    pub panes: Vec<Pane>,
    /// The pane shown, and the room plain lines go to.
    pub current: usize,
    /// Inside a history block: the lines that come are the room's past.
    in_history: bool,
    pub status: Status,
    pub input: Vec<char>,
    /// Cursor position in `input`, in chars.
    pub cursor: usize,
    history: Vec<String>,
    /// Position while browsing the history; `None` when editing a new line.
    history_pos: Option<usize>,
    draft: Vec<char>,
    /// Rows a PageUp/PageDown moves (set by the view to the pane's height).
    pub page: usize,
    /// After a reconnection, until the room's history has been replayed.
    replay: Option<Replay>,
    /// After a reconnection, until the server says this room is the current one again (the
    /// last `/join` of the way back): the panes of rooms not rejoined yet stay.
    rejoin: Option<String>,
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
        let lobby = Pane::new(crate::hub::LOBBY, &me);
        App {
            server,
            me,
            panes: vec![lobby],
            current: 0,
            in_history: false,
            status: Status::Connected,
            input: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            history_pos: None,
            draft: Vec::new(),
            page: 10,
            replay: None,
            rejoin: None,
            removed: false,
            waiting: VecDeque::new(),
            paced_at: None,
        }
    }

    /// The pane shown.
    pub fn pane(&self) -> &Pane {
        &self.panes[self.current]
    }

    pub fn pane_mut(&mut self) -> &mut Pane {
        &mut self.panes[self.current]
    }

    /// The pane of `room`, or the one shown when this client is not in it.
    fn pane_of(&self, room: &str) -> usize {
        self.panes
            .iter()
            .position(|p| p.is(room))
            .unwrap_or(self.current)
    }

    /// A message for the pane shown.
    fn push(&mut self, kind: Kind, text: impl Into<String>) {
        self.push_in(self.current, kind, text);
    }

    fn push_in(&mut self, pane: usize, kind: Kind, text: impl Into<String>) {
        let past = self.in_history;
        self.panes[pane].push(kind, text.into(), past);
    }

    /// Something said in `pane`: counted as unread there when another pane is shown.
    fn said_in(&mut self, pane: usize, kind: Kind, text: impl Into<String>) {
        if pane != self.current && !self.in_history {
            self.panes[pane].unread += 1;
        }
        self.push_in(pane, kind, text);
    }

    /// Shows pane `i` (its unread lines read); the line for the server to make its room the
    /// one plain lines go to, unless it is already.
    fn switch_to(&mut self, i: usize) -> Action {
        if i >= self.panes.len() || i == self.current {
            return Action::None;
        }
        self.current = i;
        self.panes[i].unread = 0;
        match self.panes[i].room.as_str() {
            "" => Action::None,
            room => Action::Send(format!("/join {room}")),
        }
    }

    /// Takes one line from the server: a JSON event (the TUI asks for them, `/format json`)
    /// or a text line (before it has asked). Returns a line to send back, if the online list
    /// needs reloading (a text join notice that did not name everyone, or a new room).
    pub fn server_line(&mut self, line: &str) -> Option<String> {
        let Some(replay) = self.replay.as_mut().filter(|_| !line.starts_with('{')) else {
            return self.take_line(line);
        };
        let lines = replay.filter(line.to_string(), &self.panes[self.current].shown);
        if replay.is_done() {
            self.replay = None;
        }
        let mut reload = None;
        for line in lines {
            reload = self.take_line(&line).or(reload);
        }
        reload
    }

    /// A text line (before the TUI has asked for JSON): a text connection is in one room, the
    /// pane shown.
    fn take_line(&mut self, line: &str) -> Option<String> {
        if line.starts_with('{')
            && let Ok(event) = serde_json::from_str::<serde_json::Value>(line)
        {
            return self.server_event(&event);
        }
        let mut reload = None;
        let here = self.current;
        match server_line::parse(line) {
            ServerLine::Chat { from, text } => {
                self.pane_mut().shown.push(line);
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
            ServerLine::Welcome { .. }
            | ServerLine::PasswordRequired
            | ServerLine::Oper
            | ServerLine::LoggedIn(_) => self.push(Kind::Notice, &line[2..]),
            ServerLine::YouAre(name) => {
                self.rename_me(name);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Joined { names, more } => {
                for n in names {
                    self.panes[here].add(n);
                }
                if more > 0 {
                    reload = Some("/who".to_string());
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Left { name, .. } => {
                self.panes[here].remove(name);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Removed { name, .. } => {
                self.panes[here].remove(name);
                self.push(Kind::Alert, &line[2..]);
            }
            ServerLine::Renamed { old, new } => {
                self.panes[here].rename(old, new);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Online { room, names } => {
                if self.pane().is(room) {
                    self.pane_mut().set_online(names.iter().copied());
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::InRoom { room, .. } => {
                // Back in the same room after a reconnection, what was shown there stays
                // shown (its history is replayed against it).
                match self.panes.iter().position(|p| p.is(room)) {
                    Some(i) => self.current = i,
                    None => {
                        let me = self.me.clone();
                        let pane = self.pane_mut();
                        pane.shown.clear();
                        pane.room = room.to_string();
                        pane.topic = None;
                        pane.reset_online(&me);
                    }
                }
                reload = Some("/who".to_string());
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Went { name, .. } => {
                self.panes[here].remove(name);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Came { name, .. } => {
                self.panes[here].add(name);
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::Topic { room, topic } | ServerLine::TopicSet { room, topic, .. } => {
                if self.pane().is(room) {
                    self.pane_mut().topic = Some(topic.to_string());
                }
                self.push(Kind::Notice, &line[2..]);
            }
            ServerLine::NoTopic(room) => {
                if self.pane().is(room) {
                    self.pane_mut().topic = None;
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

    /// This client is now `new`, in every room.
    fn rename_me(&mut self, new: &str) {
        let old = std::mem::replace(&mut self.me, new.to_string());
        for pane in &mut self.panes {
            pane.rename(&old, new);
        }
    }

    /// The rooms this client is in now (a `room` event): a pane for each, in the order they
    /// came, the one plain lines go to shown. Panes of rooms left go, unless the way back after
    /// a reconnection is not over (each of its `/join`s says only the rooms rejoined so far).
    /// The line that loads the shown room's members, when they are not known.
    fn rooms_now(&mut self, rooms: &[&str], here: Option<&str>) -> Option<String> {
        let back = self
            .rejoin
            .as_ref()
            .is_some_and(|r| here.is_some_and(|h| h.eq_ignore_ascii_case(r)));
        if back {
            self.rejoin = None;
        }
        let shown = self.pane().room.clone();
        if self.rejoin.is_none() {
            self.panes
                .retain(|p| rooms.iter().any(|r| p.is(r)) || p.room.is_empty() && rooms.is_empty());
        }
        for room in rooms {
            if !self.panes.iter().any(|p| p.is(room)) {
                self.panes.push(Pane::new(room, &self.me));
            }
        }
        if self.panes.is_empty() {
            self.panes.push(Pane::new("", &self.me));
        }
        let now = here.unwrap_or(&shown);
        self.current = self
            .panes
            .iter()
            .position(|p| p.is(now))
            .unwrap_or(0)
            .min(self.panes.len() - 1);
        let pane = self.pane_mut();
        pane.unread = 0;
        (!pane.listed && !pane.room.is_empty()).then(|| format!("/who {}", pane.room))
    }

    pub fn disconnected(&mut self, why: &str) {
        self.status = Status::Disconnected(why.to_string());
        for pane in &mut self.panes {
            pane.online.clear();
            pane.listed = false;
        }
        self.push(Kind::Error, format!("disconnected: {why}"));
    }

    /// A line typed could not be sent.
    pub fn not_sent(&mut self, why: &str) {
        self.push(Kind::Error, format!("not sent: {why}"));
    }

    /// The connection is lost and the client tries again after `wait`.
    pub fn reconnecting(&mut self, why: &str, wait: std::time::Duration) {
        let text = format!("{why}; reconnecting in {:.1} s", wait.as_secs_f64());
        for pane in &mut self.panes {
            pane.online.clear();
            pane.listed = false;
        }
        self.push(Kind::Error, format!("disconnected: {text}"));
        self.status = Status::Disconnected(text);
    }

    /// The room to connect back to: the one shown (a way back goes there first, in text).
    pub fn room(&self) -> &str {
        match self.pane().room.as_str() {
            "" => crate::hub::LOBBY,
            room => room,
        }
    }

    /// Back, as `name`: the greeting is shown without the history lines shown already.
    pub fn reconnected(&mut self, server: String, name: String, greeting: &[String]) {
        self.status = Status::Connected;
        self.server = server;
        self.push(Kind::Notice, format!("reconnected as {name}"));
        self.me = name;
        let me = self.me.clone();
        for pane in &mut self.panes {
            pane.reset_online(&me);
        }
        let room = self.room().to_string();
        self.replay = Some(Replay::after(
            greeting,
            &room,
            &mut self.panes[self.current].shown,
        ));
        for line in greeting {
            self.server_line(line);
        }
    }

    /// After a reconnection and `/format json`: the lines that take this client back to every
    /// room it was in (the shown one last, so that plain lines go there again). The way back
    /// took it to the shown one already.
    pub fn rejoin_lines(&mut self) -> Vec<String> {
        let shown = self.room().to_string();
        let others: Vec<String> = self
            .panes
            .iter_mut()
            .filter(|p| !p.room.is_empty() && !p.is(&shown))
            .map(|p| {
                p.rejoined = true;
                format!("/join {}", p.room)
            })
            .collect();
        if others.is_empty() {
            return others;
        }
        self.rejoin = Some(shown.clone());
        let mut lines = others;
        lines.push(format!("/join {shown}"));
        lines
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
            Key::PageUp => self.pane_mut().scroll += self.page.max(1),
            Key::PageDown => {
                let page = self.page.max(1);
                let pane = self.pane_mut();
                pane.scroll = pane.scroll.saturating_sub(page);
            }
            Key::Room(i) => return self.switch_to(i),
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
        self.pane_mut().scroll = 0;
        if let Some(room) =
            strip_command(&line, "/switch").or((line.eq_ignore_ascii_case("/switch")).then_some(""))
        {
            return self.switch(room.trim());
        }
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
        self.pane().online.values().map(String::as_str)
    }

    /// `/switch ROOM` (or its place in the list, from 1): shows a room this client is in.
    fn switch(&mut self, room: &str) -> Action {
        let at = match room.parse::<usize>() {
            Ok(n) if (1..=self.panes.len()).contains(&n) => Some(n - 1),
            _ if room.is_empty() => None,
            _ => self.panes.iter().position(|p| p.is(room)),
        };
        match at {
            Some(i) if i == self.current => Action::None,
            Some(i) => self.switch_to(i),
            None if room.is_empty() => {
                self.push(Kind::Error, "usage: /switch ROOM (or its number)");
                Action::None
            }
            None => {
                let room = room.trim_start_matches('#');
                self.push(
                    Kind::Error,
                    format!("you are not in #{room}: /join {room} first"),
                );
                Action::None
            }
        }
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

/// Where the secret starts in a line that carries one (after `/oper `, `/pass `,
/// `/register `, `/unregister `, `/password `, or `/login NAME `), in chars.
pub fn secret_from(line: &str) -> Option<usize> {
    let lower = line.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("/login ") {
        // The name is shown; what follows it is not (nor is a name still being typed once
        // a space follows it).
        let name = rest.chars().take_while(|c| !c.is_whitespace()).count();
        return Some("/login ".len() + name);
    }
    [
        "/oper ",
        "/pass ",
        "/register ",
        "/unregister ",
        "/password ",
    ]
    .iter()
    .find(|p| lower.starts_with(*p))
    .map(|p| p.len())
}

#[cfg(test)]
mod tests;
