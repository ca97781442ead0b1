//! The TUI's reading of JSON events (`/format json`, which it asks for at once): each event
//! type's effect on the [`App`]. The online list follows `join`, `leave`, `rename`, `move` and
//! `who` only, so what anyone types cannot change it.

use super::{App, Kind};

impl App {
    /// Takes one JSON event: the online list follows `join`, `leave`, `rename`, `move` and
    /// `who` only, so what anyone types (a `/me left`) cannot change it.
    pub fn server_event(&mut self, e: &serde_json::Value) -> Option<String> {
        let s = |key: &str| e[key].as_str().unwrap_or_default();
        let names = |key: &str| -> Vec<&str> {
            e[key]
                .as_array()
                .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
                .unwrap_or_default()
        };
        let in_my_room = |app: &App, key: &str| s(key).eq_ignore_ascii_case(&app.room);
        match s("type") {
            "chat" => {
                // As the server writes it in text, the form a replayed history is matched in.
                self.shown.push(&format!("<{}> {}", s("from"), s("text")));
                self.push(
                    Kind::Chat {
                        from: s("from").into(),
                        own: false,
                    },
                    s("text"),
                )
            }
            "me" => self.push(Kind::Notice, format!("{} {}", s("from"), s("text"))),
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
                let names = names("names");
                if in_my_room(self, "room") {
                    for n in &names {
                        self.online.insert(n.to_ascii_lowercase(), n.to_string());
                    }
                }
                let more = e["more"].as_u64().unwrap_or(0);
                if more > 0 {
                    self.push(
                        Kind::Notice,
                        format!("{} and {more} more joined", names.join(", ")),
                    );
                    return Some("/who".to_string());
                }
                self.push(Kind::Notice, format!("{} joined", names.join(", ")));
            }
            "leave" => {
                self.online.remove(&s("name").to_ascii_lowercase());
                let text = match e["reason"].as_str() {
                    Some(r) => format!("{} left ({r})", s("name")),
                    None => format!("{} left", s("name")),
                };
                let kind = if e["reason"].as_str().is_some_and(|r| r.contains(" by ")) {
                    Kind::Alert
                } else {
                    Kind::Notice
                };
                self.push(kind, text);
            }
            "rename" => {
                self.rename(s("old"), s("new"));
                let text = if e["you"] == true {
                    format!("you are now {}", s("new"))
                } else {
                    format!("{} is now {}", s("old"), s("new"))
                };
                self.push(Kind::Notice, text);
            }
            "move" => {
                let name = s("name");
                if in_my_room(self, "to") {
                    self.online.insert(name.to_ascii_lowercase(), name.into());
                    self.push(Kind::Notice, format!("{name} came from #{}", s("from")));
                } else {
                    self.online.remove(&name.to_ascii_lowercase());
                    self.push(Kind::Notice, format!("{name} went to #{}", s("to")));
                }
            }
            "room" => {
                self.shown.clear();
                self.room = s("room").to_string();
                self.topic = None;
                self.online.clear();
                self.online
                    .insert(self.me.to_ascii_lowercase(), self.me.clone());
                self.push(
                    Kind::Notice,
                    format!("you are in #{} ({} here)", s("room"), e["here"]),
                );
                return Some("/who".to_string());
            }
            "who" => {
                let names = names("names");
                if in_my_room(self, "room") {
                    self.online = names
                        .iter()
                        .map(|n| (n.to_ascii_lowercase(), n.to_string()))
                        .collect();
                }
                let text = format!(
                    "online in #{} ({}): {}",
                    s("room"),
                    names.len(),
                    names.join(", ")
                );
                self.push(Kind::Notice, text);
            }
            "topic" => {
                let topic = e["text"].as_str();
                if in_my_room(self, "room") {
                    self.topic = topic.map(str::to_string);
                }
                let text = match (e["by"].as_str(), topic) {
                    (Some(by), Some(t)) => format!("{by} set the topic of #{}: {t}", s("room")),
                    (None, Some(t)) => format!("topic of #{}: {t}", s("room")),
                    (_, None) => format!("#{} has no topic", s("room")),
                };
                self.push(Kind::Notice, text);
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
                let lines = e["lines"].as_array().map_or(&[][..], Vec::as_slice);
                // The room's history replayed after a reconnection (in a cluster, it comes
                // after the catch-up, in JSON): only what was missed.
                let mut seen = 0;
                if self
                    .replay
                    .take_if(|r| r.takes_history_of(s("room")))
                    .is_some()
                {
                    let texts: Vec<String> = lines.iter().map(text_form).collect();
                    seen = self.shown.already_shown(&texts);
                    if seen < lines.len() {
                        let missed = lines.len() - seen;
                        let s = if missed == 1 { "" } else { "s" };
                        self.push(Kind::Notice, format!("missed while away: {missed} line{s}"));
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
