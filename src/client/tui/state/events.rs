//! The TUI's reading of JSON events (`/format json`, which it asks for at once): each event
//! type's effect on the [`App`]. An event told in a room (`room`) goes to that room's pane;
//! the others to the pane shown. The online lists follow `join`, `leave`, `rename`, `move` and
//! `who` only, so what anyone types cannot change them.

use super::{App, Kind};

impl App {
    /// Takes one JSON event: the online lists follow `join`, `leave`, `rename`, `move` and
    /// `who` only, so what anyone types (a `/me left`) cannot change them.
    pub fn server_event(&mut self, e: &serde_json::Value) -> Option<String> {
        let s = |key: &str| e[key].as_str().unwrap_or_default();
        let names = |key: &str| -> Vec<&str> {
            e[key]
                .as_array()
                .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
                .unwrap_or_default()
        };
        // The pane of the room an event is told in (the one shown when it names none).
        let at = |app: &App, key: &str| app.pane_of(s(key));
        match s("type") {
            "chat" => {
                let i = at(self, "room");
                // As the server writes it in text, the form a replayed history is matched in.
                let pane = &mut self.panes[i];
                pane.shown.push(&format!("<{}> {}", s("from"), s("text")));
                // A live line before any history: the room kept none to replay.
                pane.rejoined &= self.in_history;
                let kind = Kind::Chat {
                    from: s("from").into(),
                    own: false,
                };
                self.said_in(i, kind, s("text"))
            }
            "me" => {
                let i = at(self, "room");
                self.said_in(i, Kind::Notice, format!("{} {}", s("from"), s("text")))
            }
            "private" => self.push(
                Kind::Private {
                    from: s("from").into(),
                    to: String::new(),
                },
                s("text"),
            ),
            "welcome" => self.push(
                Kind::Notice,
                format!("welcome {}, {} online", s("name"), e["online"]),
            ),
            "join" => {
                let i = at(self, "room");
                let names = names("names");
                for n in &names {
                    self.panes[i].add(n);
                }
                let more = e["more"].as_u64().unwrap_or(0);
                if more > 0 {
                    let text = format!("{} and {more} more joined", names.join(", "));
                    self.push_in(i, Kind::Notice, text);
                    return Some(format!("/who {}", self.panes[i].room));
                }
                self.push_in(i, Kind::Notice, format!("{} joined", names.join(", ")));
            }
            "leave" => {
                let i = at(self, "room");
                self.panes[i].remove(s("name"));
                let text = match e["reason"].as_str() {
                    Some(r) => format!("{} left ({r})", s("name")),
                    None => format!("{} left", s("name")),
                };
                let kind = if e["reason"].as_str().is_some_and(|r| r.contains(" by ")) {
                    Kind::Alert
                } else {
                    Kind::Notice
                };
                self.push_in(i, kind, text);
            }
            "rename" if e["you"] == true => {
                self.rename_me(s("new"));
                self.push(Kind::Notice, format!("you are now {}", s("new")));
            }
            "rename" => {
                let i = at(self, "room");
                self.panes[i].rename(s("old"), s("new"));
                self.push_in(i, Kind::Notice, format!("{} is now {}", s("old"), s("new")));
            }
            "move" => {
                let name = s("name");
                // Told in the room it left and in the one it entered (`room` says which).
                let came = match e["room"].as_str() {
                    Some(room) => room.eq_ignore_ascii_case(s("to")),
                    None => self.pane().is(s("to")),
                };
                let i = if came {
                    at(self, "to")
                } else {
                    at(self, "from")
                };
                if came {
                    self.panes[i].add(name);
                    self.push_in(i, Kind::Notice, format!("{name} came from #{}", s("from")));
                } else {
                    self.panes[i].remove(name);
                    self.push_in(i, Kind::Notice, format!("{name} went to #{}", s("to")));
                }
            }
            "room" => {
                let here = e["room"].as_str();
                let rooms = names("rooms");
                // (A server before several rooms named only the one.)
                let rooms = match (rooms.is_empty(), here) {
                    (true, Some(here)) if e.get("rooms").is_none() => vec![here],
                    _ => rooms,
                };
                // A room it was in already, made the current one (a switch): nothing to say.
                let known = here.is_some_and(|h| self.panes.iter().any(|p| p.is(h)));
                let reload = self.rooms_now(&rooms, here);
                if known && e["left"].is_null() {
                    return reload;
                }
                let now = match here {
                    Some(room) => format!("you are in #{room} ({} here)", e["here"]),
                    None => "you are in no room: /join ROOM to talk".to_string(),
                };
                let text = match e["left"].as_str() {
                    Some(old) => format!("you left #{old}; {now}"),
                    None => now,
                };
                self.push(Kind::Notice, text);
                return reload;
            }
            "who" => {
                let i = at(self, "room");
                let names = names("names");
                if self.panes[i].is(s("room")) {
                    self.panes[i].set_online(names.iter().copied());
                }
                let text = format!(
                    "online in #{} ({}): {}",
                    s("room"),
                    names.len(),
                    names.join(", ")
                );
                self.push_in(i, Kind::Notice, text);
            }
            "topic" => {
                let i = at(self, "room");
                let topic = e["text"].as_str();
                if self.panes[i].is(s("room")) {
                    self.panes[i].topic = topic.map(str::to_string);
                }
                let text = match (e["by"].as_str(), topic) {
                    (Some(by), Some(t)) => format!("{by} set the topic of #{}: {t}", s("room")),
                    (None, Some(t)) => format!("topic of #{}: {t}", s("room")),
                    (_, None) => format!("#{} has no topic", s("room")),
                };
                self.push_in(i, Kind::Notice, text);
            }
            "rooms" => {
                let list: Vec<String> = e["rooms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "#{} ({})",
                            r["name"].as_str().unwrap_or_default(),
                            r["here"]
                        )
                    })
                    .collect();
                self.push(
                    Kind::Notice,
                    format!("rooms ({}): {}", list.len(), list.join(", ")),
                );
            }
            "history" => {
                let i = at(self, "room");
                let lines = e["lines"].as_array().map_or(&[][..], Vec::as_slice);
                // The room's history replayed after a reconnection (in a cluster, it comes
                // after the catch-up, in JSON; the other rooms' when they are joined again):
                // only what was missed.
                let replayed = self
                    .replay
                    .take_if(|r| r.takes_history_of(s("room")))
                    .is_some();
                let rejoined = std::mem::take(&mut self.panes[i].rejoined);
                let mut seen = 0;
                if replayed || rejoined && self.panes[i].is(s("room")) {
                    let texts: Vec<String> = lines.iter().map(text_form).collect();
                    seen = self.panes[i].shown.already_shown(&texts);
                    if seen < lines.len() {
                        let missed = lines.len() - seen;
                        let s = if missed == 1 { "" } else { "s" };
                        let text = format!("missed while away: {missed} line{s}");
                        self.push_in(i, Kind::Notice, text);
                    }
                }
                self.in_history = true;
                for line in &lines[seen..] {
                    self.server_event(line);
                }
                self.in_history = false;
            }
            "error" if matches!(s("code"), "kicked" | "banned") => {
                self.removed = true;
                self.push(Kind::Alert, format!("you were {}", s("text")));
            }
            "error" => self.push(Kind::Error, s("text")),
            // The answer to the TUI's own `/format json`.
            "notice" if s("code") == "format" => {}
            _ => {
                let text = e["text"].as_str().unwrap_or_default();
                self.push(Kind::Notice, text);
            }
        }
        None
    }
}

/// A history line's text form (`<NAME> TEXT`, `* NAME TEXT`), as [`super::Shown`] has it.
fn text_form(line: &serde_json::Value) -> String {
    let s = |key: &str| line[key].as_str().unwrap_or_default();
    match s("type") {
        "chat" => format!("<{}> {}", s("from"), s("text")),
        _ => format!("* {} {}", s("from"), s("text")),
    }
}
