//! One room's part of the TUI: its scrollback, topic, members, unread count and scroll
//! position. A client reading JSON may be in several rooms; each has a pane, and the screen
//! shows one at a time.

use std::collections::{BTreeMap, VecDeque};

use super::{KEEP, Kind, Message};
use crate::client::reconnect::Shown;

pub struct Pane {
    /// The room, as the server names it; empty for the pane of a client in no room.
    pub room: String,
    pub messages: VecDeque<Message>,
    pub topic: Option<String>,
    /// The members: lower-cased name to name as shown.
    pub online: BTreeMap<String, String>,
    /// Whether `online` is the server's list (a `/who` answer since the pane was entered).
    pub listed: bool,
    /// Lines said here while another pane was shown.
    pub unread: usize,
    /// Rows scrolled back from the bottom.
    pub scroll: usize,
    /// The chat lines shown lately here, to show of a replayed history only what was missed.
    pub shown: Shown,
    /// Rejoined after a reconnection: its next history shows only what was missed.
    pub rejoined: bool,
}

impl Pane {
    pub fn new(room: &str, me: &str) -> Pane {
        let mut online = BTreeMap::new();
        online.insert(me.to_ascii_lowercase(), me.to_string());
        Pane {
            room: room.to_string(),
            messages: VecDeque::new(),
            topic: None,
            online,
            listed: false,
            unread: 0,
            scroll: 0,
            shown: Shown::default(),
            rejoined: false,
        }
    }

    pub fn is(&self, room: &str) -> bool {
        self.room.eq_ignore_ascii_case(room.trim_start_matches('#'))
    }

    pub fn push(&mut self, kind: Kind, text: String, past: bool) {
        if self.messages.len() == KEEP {
            self.messages.pop_front();
        }
        self.messages.push_back(Message { kind, text, past });
        if self.scroll > 0 {
            self.scroll += 1; // keep the view where the reader left it
        }
    }

    pub fn add(&mut self, name: &str) {
        self.online
            .insert(name.to_ascii_lowercase(), name.to_string());
    }

    pub fn remove(&mut self, name: &str) {
        self.online.remove(&name.to_ascii_lowercase());
    }

    pub fn rename(&mut self, old: &str, new: &str) {
        self.remove(old);
        self.add(new);
    }

    /// The server's list of who is here.
    pub fn set_online<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.online = names
            .into_iter()
            .map(|n| (n.to_ascii_lowercase(), n.to_string()))
            .collect();
        self.listed = true;
    }

    /// Entered again (a text move, a reconnection): no one is known to be here but `me`.
    pub fn reset_online(&mut self, me: &str) {
        self.online.clear();
        self.add(me);
        self.listed = false;
    }
}
