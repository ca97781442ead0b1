//! `CHATHISTORY` (draft/chathistory) over the chat's history, and the history a client is
//! shown on joining, as IRC clients expect them: a `chathistory` batch of the lines, each with
//! its own time and id.
//!
//! `LATEST #a * N` is the chat's `/history N` of `a`; `BEFORE #a msgid=ID N` its `/history
//! before ID N` (over the store, older than the room's memory). The chat's line ids are its
//! message ids (`msgid`), the only references it takes: `timestamp=` and the subcommands it
//! has no history for (`AFTER`, `AROUND`, `BETWEEN`, `TARGETS`) are refused with a `FAIL`.

use serde_json::Value;

use super::caps::Cap;
use super::*;

/// Most lines one `CHATHISTORY` asks for (the chat's largest page), in `005`.
pub const MAX_HISTORY: usize = command::MAX_PAGE;
/// Most `CHATHISTORY` requests waiting for the chat's answer.
const MAX_ASKED: usize = 16;

impl Session {
    /// `CHATHISTORY SUBCOMMAND TARGET REFERENCE LIMIT`.
    pub(super) fn chathistory(
        &mut self,
        msg: &Message<'_>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let fail = |s: &Self, to_client: &mut Vec<u8>, code: &str, context: &[&str], why: &str| {
            let mut params = vec!["CHATHISTORY", code];
            params.extend_from_slice(context);
            params.push(why);
            s.put(to_client, Some(SERVER), "FAIL", &params, true);
        };
        let [sub, target, reference, limit] = msg.params[..] else {
            let why = "CHATHISTORY SUBCOMMAND TARGET REFERENCE LIMIT";
            return fail(self, to_client, "NEED_MORE_PARAMS", &[], why);
        };
        let sub = sub.to_ascii_uppercase();
        if !matches!(sub.as_str(), "LATEST" | "BEFORE") {
            let known = ["AFTER", "AROUND", "BETWEEN", "TARGETS"].contains(&sub.as_str());
            let why = if known {
                "This server keeps no history that way: LATEST and BEFORE only"
            } else {
                "Unknown subcommand"
            };
            return fail(self, to_client, "INVALID_PARAMS", &[&sub], why);
        }
        let Some(n) = limit
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(MAX_HISTORY))
        else {
            return fail(self, to_client, "INVALID_PARAMS", &[&sub], "Bad limit");
        };
        if !target.starts_with('#') && command::valid_name(target) {
            // Private messages are not kept: an empty history.
            return self.batch(target, &[], to_client);
        }
        let Some(room) = room_of(target).filter(|r| self.in_channel(r)) else {
            let why = "Not a channel you are on";
            return fail(self, to_client, "INVALID_TARGET", &[&sub, target], why);
        };
        if self.history_asked.len() >= MAX_ASKED {
            let why = "Too many history requests at once";
            return fail(self, to_client, "MESSAGE_ERROR", &[&sub, target], why);
        }
        let n = n.to_string();
        match (sub.as_str(), reference.strip_prefix("msgid=")) {
            ("LATEST", _) if reference == "*" => {
                // The chat's /history is of the room one speaks in: that room first.
                hub_line(to_hub, &["/join", room]);
                hub_line(to_hub, &["/history", &n]);
            }
            ("BEFORE", Some(id)) if !id.is_empty() && !id.contains(' ') => {
                hub_line(to_hub, &["/history", "before", id, &n]);
            }
            _ => {
                let why = "References are message ids (msgid=ID), or * for LATEST";
                return fail(self, to_client, "INVALID_PARAMS", &[&sub, reference], why);
            }
        }
        self.history_asked.push_back(room.to_string());
    }

    /// The chat's `history` event: the answer to a `CHATHISTORY`, or the room's last lines on
    /// joining it, which only a client with `server-time` is shown (another would show them
    /// as new).
    pub(super) fn history(&mut self, event: &Value, to_client: &mut Vec<u8>) {
        let room = event.get("room").and_then(Value::as_str).unwrap_or("");
        let asked = self
            .history_asked
            .front()
            .is_some_and(|r| r.eq_ignore_ascii_case(room));
        if asked {
            self.history_asked.pop_front();
        } else if !self.has(Cap::SERVER_TIME) {
            return;
        }
        let lines = event.get("lines").and_then(Value::as_array);
        let lines = lines.map_or(&[][..], Vec::as_slice);
        self.batch(&format!("#{room}"), lines, to_client);
    }

    /// The chat could not answer a `/history before` (`busy`, `store_timeout`).
    pub(super) fn history_failed(&mut self, to_client: &mut Vec<u8>) -> bool {
        let Some(room) = self.history_asked.pop_front() else {
            return false;
        };
        let params = [
            "CHATHISTORY",
            "MESSAGE_ERROR",
            "BEFORE",
            &format!("#{room}"),
            "The history could not be read now; try again",
        ];
        self.put(to_client, Some(SERVER), "FAIL", &params, true);
        true
    }

    /// `lines` (the chat's `chat` and `me` objects) to `target`, in a `chathistory` batch
    /// when the client has `batch`.
    fn batch(&mut self, target: &str, lines: &[Value], to_client: &mut Vec<u8>) {
        self.tags.clear();
        let label = self.has(Cap::BATCH).then(|| {
            self.batches += 1;
            format!("h{}", self.batches)
        });
        if let Some(label) = &label {
            let opened = format!("+{label}");
            self.put(
                to_client,
                Some(SERVER),
                "BATCH",
                &[&opened, "chathistory", target],
                false,
            );
        }
        for line in lines {
            let s = |key: &str| line.get(key).and_then(Value::as_str).unwrap_or("");
            self.tags.clear();
            if let Some(label) = &label {
                self.tags.push(("batch", label.clone()));
            }
            if self.has(Cap::SERVER_TIME) && !s("time").is_empty() {
                self.tags.push(("time", s("time").to_string()));
            }
            if self.has(Cap::MESSAGE_TAGS) && !s("id").is_empty() {
                self.tags.push(("msgid", s("id").to_string()));
            }
            let action = s("type") == "me";
            self.say(
                to_client,
                &mask(s("from")),
                "PRIVMSG",
                target,
                s("text"),
                action,
            );
        }
        self.tags.clear();
        if let Some(label) = label {
            let closed = format!("-{label}");
            self.put(to_client, Some(SERVER), "BATCH", &[&closed], false);
        }
    }
}
