//! What the chat tells of someone (`/whois NAME`: online or not, where, logged in, an
//! operator, away), and being away (`/away [TEXT]`: whoever sends you a private message is
//! told). Aways are kept beside the members, not in them: a member that is not away (nearly
//! all) pays nothing for it.

use super::{ClientId, Hub, Outbox};

/// The longest away message kept, in bytes (longer ones are cut at a character's edge).
pub const MAX_AWAY: usize = 200;

impl Hub {
    /// `/whois NAME`: answered whether or not NAME is online (a `whois` event with `online`),
    /// so that a program can pair each answer with its question.
    pub(super) fn whois(&mut self, id: ClientId, asked: &str, out: &mut impl Outbox) {
        let mut rooms: Vec<String> = Vec::new();
        let (name, online, logged_in, oper, away, node) = match self.client_named(asked) {
            Some(target) => {
                let Some(m) = self.member(target) else {
                    return;
                };
                rooms.extend(m.rooms().map(|r| self.rooms[r].name.to_string()));
                let away = self.away.get(&target).map(|a| a.to_string());
                (m.name.to_string(), true, m.logged_in, m.oper, away, None)
            }
            None => match self.remotes.get(asked.to_ascii_lowercase().as_str()) {
                Some(r) => {
                    rooms.extend(
                        r.rooms
                            .iter()
                            .map(|&room| self.rooms[room].name.to_string()),
                    );
                    let node = Some(r.node.to_string());
                    (r.name.to_string(), true, false, false, None, node)
                }
                None => (asked.to_string(), false, false, false, None, None),
            },
        };
        rooms.sort_unstable();
        let text = if !online {
            format!("* {name} is not online")
        } else {
            let mut text = format!("* {name} is online");
            if !rooms.is_empty() {
                let shown: Vec<String> = rooms.iter().map(|r| format!("#{r}")).collect();
                text.push_str(&format!(", in {}", shown.join(", ")));
            }
            if let Some(node) = &node {
                text.push_str(&format!(", on node {node}"));
            }
            if logged_in {
                text.push_str(", logged in");
            }
            if oper {
                text.push_str(", an operator");
            }
            if let Some(away) = &away {
                text.push_str(&format!("; away: {away}"));
            }
            text
        };
        let msg = self.notices.event("whois", &text, |o| {
            o.str("name", &name)
                .bool("online", online)
                .strs("rooms", rooms.iter().map(String::as_str))
                .bool("logged_in", logged_in)
                .bool("operator", oper)
                .opt("away", away.as_deref())
                .opt("node", node.as_deref())
        });
        self.send(id, &msg, out);
    }

    /// `/away TEXT` (away, saying why) or `/away` (back).
    pub(super) fn set_away(&mut self, id: ClientId, text: Option<&str>, out: &mut impl Outbox) {
        match text {
            Some(text) => {
                let mut cut = text.len().min(MAX_AWAY);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.away.insert(id, text[..cut].into());
                self.notice(id, "away", &"you are away", out);
            }
            None => {
                self.away.remove(&id);
                self.notice(id, "back", &"you are back", out);
            }
        }
    }

    /// Tells `from`, who sent `to` a private message, that `to` is away, if it is.
    pub(super) fn tell_away(&mut self, from: ClientId, to: ClientId, out: &mut impl Outbox) {
        let Some(away) = self.away.get(&to) else {
            return;
        };
        let name = self.name(to).unwrap_or_default();
        let text = format!("* {name} is away: {away}");
        let (name, away) = (name.to_string(), away.to_string());
        let msg = self.notices.event("notice", &text, |o| {
            o.str("code", "is_away")
                .str("text", &text[2..])
                .str("name", &name)
                .str("away", &away)
        });
        self.send(from, &msg, out);
    }
}
