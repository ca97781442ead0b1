//! How the hub's words reach its clients: each in the form it reads (text lines, or JSON events
//! after `/format json` and on WebSocket), errors and notices with their codes, a room's
//! broadcast (one lookup-free loop while no member reads JSON).

use super::notice::Msg;
use super::{ClientId, Hub, Outbox, RoomId};

impl Hub {
    /// Whether `id` reads JSON events.
    pub(super) fn reads_json(&self, id: ClientId) -> bool {
        self.json.get(id).copied().unwrap_or(false)
    }

    /// Sends `msg` to `to`, in the form it reads.
    pub(super) fn send(&self, to: ClientId, msg: &Msg, out: &mut impl Outbox) {
        out.send(to, msg.form(self.reads_json(to)));
    }

    /// `! TEXT` to `id`; `code` says what went wrong to programs (`name_taken`).
    pub(super) fn error(
        &mut self,
        id: ClientId,
        code: &str,
        err: &dyn std::fmt::Display,
        out: &mut impl Outbox,
    ) {
        let msg = self.notices.error(code, &err.to_string());
        self.send(id, &msg, out);
    }

    /// `* TEXT` to `id`; `code` says what it is to programs.
    pub(super) fn notice(
        &mut self,
        id: ClientId,
        code: &str,
        text: &dyn std::fmt::Display,
        out: &mut impl Outbox,
    ) {
        let msg = self.notices.notice(code, &text.to_string());
        self.send(id, &msg, out);
    }

    /// Sends `msg` to every member of `room` but `except`, after any pending join notice.
    pub(super) fn broadcast(
        &mut self,
        room: RoomId,
        except: Option<ClientId>,
        msg: &Msg,
        out: &mut impl Outbox,
    ) {
        self.announce_joins(out);
        let room = &self.rooms[room];
        if room.json_members == 0 {
            for &to in &room.members {
                if Some(to) != except {
                    out.send(to, &msg.text);
                }
            }
            return;
        }
        for &to in &room.members {
            if Some(to) != except {
                out.send(to, msg.form(self.reads_json(to)));
            }
        }
    }

    /// `id` reads JSON events from now on (`true`), or text lines.
    pub fn set_json(&mut self, id: ClientId, json: bool) {
        if self.reads_json(id) == json {
            return;
        }
        if self.json.len() <= id {
            self.json.resize(id + 1, false);
        }
        self.json[id] = json;
        if json {
            self.json_clients += 1;
        } else {
            self.json_clients -= 1;
        }
        self.notices.json = self.json_clients > 0;
        let Some(Some(m)) = self.members.get(id) else {
            return;
        };
        for room in m.rooms() {
            let r = &mut self.rooms[room];
            if json {
                r.json_members += 1;
            } else {
                r.json_members -= 1;
            }
        }
    }
}
