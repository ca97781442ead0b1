//! What IRC asks of people, as the chat's `/whois` and `/away`: `WHOIS`, `ISON`, `USERHOST`
//! (one `/whois` a name, the answers gathered into one reply), `AWAY`, and `301` to whoever
//! writes to someone away.

use serde_json::Value;

use super::*;

/// Most names one `ISON` or `USERHOST` asks of (more are left out), and most `/whois` asked
/// and not answered yet.
const MAX_NAMES: usize = 16;
const MAX_ASKED: usize = 64;

/// What a `/whois` answer is for.
#[derive(Debug)]
pub(super) enum Asked {
    Whois,
    /// One name of an `ISON` (`last`: its reply is sent with this answer).
    Ison {
        last: bool,
    },
    Userhost {
        last: bool,
    },
}

impl Session {
    /// `WHOIS [SERVER] NICK`, `ISON NICK...`, `USERHOST NICK...`.
    pub(super) fn ask_of(
        &mut self,
        command: &str,
        msg: &Message<'_>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let names: Vec<&str> = match command {
            // `WHOIS server nick`: the nick is the last.
            "WHOIS" => msg.params.last().into_iter().copied().collect(),
            _ => msg
                .params
                .iter()
                .flat_map(|p| p.split(' '))
                .filter(|n| !n.is_empty())
                .take(MAX_NAMES)
                .collect(),
        };
        if names.is_empty() {
            return self.numeric(to_client, "461", &[command, "Not enough parameters"]);
        }
        // Those the chat could not have, answered here; the rest asked of it.
        let valid: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| command::valid_name(n))
            .collect();
        if command == "WHOIS" && valid.is_empty() {
            self.numeric(to_client, "401", &[names[0], "No such nick/channel"]);
            return self.numeric(to_client, "318", &[names[0], "End of /WHOIS list"]);
        }
        if valid.is_empty() || self.whois_asked.len() + valid.len() > MAX_ASKED {
            let code = if command == "ISON" { "303" } else { "302" };
            return self.numeric(to_client, code, &[""]);
        }
        for (i, name) in valid.iter().enumerate() {
            let last = i + 1 == valid.len();
            self.whois_asked.push_back(match command {
                "WHOIS" => Asked::Whois,
                "ISON" => Asked::Ison { last },
                _ => Asked::Userhost { last },
            });
            hub_line(to_hub, &["/whois", name]);
        }
    }

    /// `AWAY [:TEXT]`.
    pub(super) fn away(&mut self, text: Option<&str>, to_hub: &mut Vec<u8>) {
        match text.filter(|t| !t.is_empty()) {
            Some(text) => hub_line(to_hub, &["/away", text]),
            None => hub_line(to_hub, &["/away"]),
        }
    }

    /// The chat's `whois` event: the answer to the oldest `/whois` asked.
    pub(super) fn whois_answer(&mut self, event: &Value, to_client: &mut Vec<u8>) {
        let Some(asked) = self.whois_asked.pop_front() else {
            return;
        };
        let s = |key: &str| event.get(key).and_then(Value::as_str);
        let yes = |key: &str| event.get(key).and_then(Value::as_bool) == Some(true);
        let name = s("name").unwrap_or("").to_string();
        let online = yes("online");
        match asked {
            Asked::Whois if !online => {
                self.numeric(to_client, "401", &[&name, "No such nick/channel"]);
                self.numeric(to_client, "318", &[&name, "End of /WHOIS list"]);
            }
            Asked::Whois => {
                self.numeric(to_client, "311", &[&name, &name, SERVER, "*", &name]);
                let rooms: Vec<String> = event
                    .get("rooms")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|r| format!("#{r}"))
                    .collect();
                if !rooms.is_empty() {
                    self.numeric(to_client, "319", &[&name, &rooms.join(" ")]);
                }
                let node = s("node").map(|n| format!("node {n} of the cluster"));
                let about = node.as_deref().unwrap_or("an nc-first group chat");
                self.numeric(to_client, "312", &[&name, SERVER, about]);
                if yes("operator") {
                    self.numeric(to_client, "313", &[&name, "is an IRC operator"]);
                }
                if let Some(away) = s("away") {
                    self.numeric(to_client, "301", &[&name, away]);
                }
                if yes("logged_in") {
                    self.numeric(to_client, "330", &[&name, &name, "is logged in as"]);
                }
                self.numeric(to_client, "318", &[&name, "End of /WHOIS list"]);
            }
            Asked::Ison { last } => {
                if online {
                    self.gathered.push(name);
                }
                if last {
                    let found = std::mem::take(&mut self.gathered).join(" ");
                    self.numeric(to_client, "303", &[&found]);
                }
            }
            Asked::Userhost { last } => {
                if online {
                    let oper = if yes("operator") { "*" } else { "" };
                    let away = if s("away").is_some() { '-' } else { '+' };
                    self.gathered
                        .push(format!("{name}{oper}={away}{name}@{SERVER}"));
                }
                if last {
                    let found = std::mem::take(&mut self.gathered).join(" ");
                    self.numeric(to_client, "302", &[&found]);
                }
            }
        }
    }
}
