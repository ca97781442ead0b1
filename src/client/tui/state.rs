//! The TUI's state, without a terminal: the messages, the room and its topic, who is in it, the
//! input line with its editing and history, scrolling, and the connection's status. Server lines and keys go in;
//! lines to send come out. Rendering is in `view`.

use std::collections::{BTreeMap, VecDeque};

use crate::client::reconnect::{Replay, Shown};

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
    /// After a reconnection, until the room's history has been replayed.
    replay: Option<Replay>,
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
            replay: None,
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
        let Some(replay) = self.replay.as_mut().filter(|_| !line.starts_with('{')) else {
            return self.take_line(line);
        };
        let lines = replay.filter(line.to_string(), &self.shown);
        if replay.is_done() {
            self.replay = None;
        }
        let mut reload = None;
        for line in lines {
            reload = self.take_line(&line).or(reload);
        }
        reload
    }

    fn take_line(&mut self, line: &str) -> Option<String> {
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
                // Back in the same room after a reconnection, what was shown there stays
                // shown (its history is replayed against it).
                if !room.eq_ignore_ascii_case(&self.room) {
                    self.shown.clear();
                }
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
        self.replay = Some(Replay::after(greeting, &self.room, &mut self.shown));
        for line in greeting {
            self.server_line(line);
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
mod tests;
