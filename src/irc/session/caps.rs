//! The IRCv3 capabilities a client may ask for (`CAP LS`, `REQ`, `LIST`, `END`), and which it
//! has: a set of bits, a capability's place in [`CAPS`] its bit.

use super::*;

/// The capabilities offered, in the order `CAP LS` lists them, with the value `CAP LS 302`
/// gives each (empty: none).
pub const CAPS: &[(&str, &str)] = &[
    ("batch", ""),
    ("cap-notify", ""),
    ("draft/chathistory", ""),
    ("echo-message", ""),
    ("message-tags", ""),
    ("multi-prefix", ""),
    ("sasl", "PLAIN"),
    ("server-time", ""),
];

/// One capability: its place in [`CAPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap(u8);

impl Cap {
    pub const BATCH: Cap = Cap(0);
    pub const ECHO_MESSAGE: Cap = Cap(3);
    pub const MESSAGE_TAGS: Cap = Cap(4);
    pub const SASL: Cap = Cap(6);
    pub const SERVER_TIME: Cap = Cap(7);

    fn named(name: &str) -> Option<Cap> {
        CAPS.iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|i| Cap(i as u8))
    }
}

/// The capabilities a client has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(u16);

impl Caps {
    pub fn has(self, cap: Cap) -> bool {
        self.0 & (1 << cap.0) != 0
    }

    fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= 1 << cap.0;
        } else {
            self.0 &= !(1 << cap.0);
        }
    }

    /// Their names, as `CAP LIST` gives them.
    fn names(self) -> String {
        let on = CAPS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.has(Cap(*i as u8)))
            .map(|(_, (name, _))| *name);
        on.collect::<Vec<_>>().join(" ")
    }
}

impl Session {
    /// Whether the client asked for `cap`.
    pub(super) fn has(&self, cap: Cap) -> bool {
        self.caps.has(cap)
    }

    pub(super) fn cap(&mut self, msg: &Message<'_>, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let sub = msg
            .params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let target = self.target().to_string();
        match sub.as_str() {
            "LS" | "LIST" => {
                if self.stage == Stage::Registering {
                    self.negotiating = true;
                }
                let v302 = msg.params.get(1).is_some_and(|v| *v >= "302");
                // (302 implies cap-notify, which has nothing to tell: the capabilities offered
                // never change while the server runs.)
                let list = if sub == "LS" {
                    let each = CAPS.iter().map(|(name, value)| match (v302, *value) {
                        (true, v) if !v.is_empty() => format!("{name}={v}"),
                        _ => name.to_string(),
                    });
                    each.collect::<Vec<_>>().join(" ")
                } else {
                    self.caps.names()
                };
                self.put(
                    to_client,
                    Some(SERVER),
                    "CAP",
                    &[&target, &sub, &list],
                    true,
                );
            }
            "REQ" => {
                if self.stage == Stage::Registering {
                    self.negotiating = true;
                }
                let asked = msg.params.get(1).copied().unwrap_or("");
                let wanted: Option<Vec<(Cap, bool)>> = asked
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .map(|c| match c.strip_prefix('-') {
                        Some(name) => Cap::named(name).map(|cap| (cap, false)),
                        None => Cap::named(c).map(|cap| (cap, true)),
                    })
                    .collect();
                // All or none, as the specification says.
                let answer = match wanted {
                    Some(wanted) => {
                        let echo_was = self.has(Cap::ECHO_MESSAGE);
                        for (cap, on) in wanted {
                            self.caps.set(cap, on);
                        }
                        let echo = self.has(Cap::ECHO_MESSAGE);
                        if echo != echo_was && self.stage != Stage::Registering {
                            // Registered: the chat is told now (else once registration ends).
                            hub_line(to_hub, &["/echo", if echo { "on" } else { "off" }]);
                        }
                        "ACK"
                    }
                    None => "NAK",
                };
                self.put(
                    to_client,
                    Some(SERVER),
                    "CAP",
                    &[&target, answer, asked],
                    true,
                );
            }
            "END" => {
                self.negotiating = false;
                self.try_register(to_hub, to_client);
            }
            _ => {
                let sub = msg.params.first().copied().unwrap_or("");
                self.numeric(to_client, "410", &[sub, "Invalid CAP command"]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_is_its_place_in_the_list() {
        for (cap, name) in [
            (Cap::BATCH, "batch"),
            (Cap(1), "cap-notify"),
            (Cap(2), "draft/chathistory"),
            (Cap::ECHO_MESSAGE, "echo-message"),
            (Cap::MESSAGE_TAGS, "message-tags"),
            (Cap(5), "multi-prefix"),
            (Cap::SASL, "sasl"),
            (Cap::SERVER_TIME, "server-time"),
        ] {
            assert_eq!(Cap::named(name), Some(cap), "{name}");
        }
        assert_eq!(CAPS.len(), 8);
        assert!(CAPS.len() <= 16, "they fit in Caps");
    }
}
