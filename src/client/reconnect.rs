//! Coming back after the connection is lost (a server restart, a network cut): the same server,
//! name and room, after a wait that grows with each failure and is spread by jitter (so that
//! the clients of a restarted server do not all come back in the same instant), and without
//! showing again the lines the client showed already when the room's history is replayed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::{ConnectError, Options, Session};

/// The first wait after a loss; each failure doubles it, up to [`MOST`].
const FIRST: Duration = Duration::from_millis(500);
const MOST: Duration = Duration::from_secs(30);

/// The waits between attempts: 0.5 s, 1 s, 2 s ... 30 s, each drawn between half and all of
/// that (jitter).
pub struct Backoff {
    failures: u32,
    /// xorshift64 state: a few random bits, no dependency.
    seed: u64,
}

impl Backoff {
    pub fn new(seed: u64) -> Backoff {
        // splitmix64: neighbouring seeds (two clients' clocks) give unrelated sequences.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Backoff {
            failures: 0,
            seed: (z ^ (z >> 31)) | 1,
        }
    }

    /// Seeded from the clock and the process id.
    pub fn from_clock() -> Backoff {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Backoff::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = FIRST
            .saturating_mul(1u32 << self.failures.min(16))
            .min(MOST);
        self.failures += 1;
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let fraction = 0.5 + (self.seed >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        ceiling.mul_f64(fraction)
    }
}

/// What is needed to connect again, owned (the password too, once asked for).
#[derive(Clone)]
pub struct Redial {
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub password: Option<String>,
    /// The account's password, to log in again.
    pub account_password: Option<String>,
}

impl Redial {
    /// Connects as `name` and, unless it is the lobby, moves to `room`.
    pub fn dial(&self, name: &str, room: &str) -> Result<Session, ConnectError> {
        let options = Options {
            host: &self.host,
            port: self.port,
            name: Some(name),
            tls: self.tls.clone(),
            password: self.password.as_deref(),
            ask_password: None,
            account_password: self.account_password.as_deref(),
            ask_account_password: None,
        };
        let mut session = super::connect(&options)?;
        if !room.eq_ignore_ascii_case(crate::hub::LOBBY) {
            session
                .join(room)
                .map_err(|e| ConnectError::Protocol(format!("cannot rejoin #{room}: {e}")))?;
        }
        Ok(session)
    }
}

/// The chat lines (`<ana> hi`) a client has shown lately, in its room, as the server writes
/// them, to recognise them in a replayed history.
#[derive(Default)]
pub struct Shown {
    lines: VecDeque<String>,
}

/// More than a room's history holds by default (50).
const SHOWN_KEPT: usize = 200;

impl Shown {
    pub fn push(&mut self, line: &str) {
        if self.lines.len() == SHOWN_KEPT {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    /// A new room: what was shown in the last one is not its history.
    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// How many of `history`'s first lines were shown already. Its chat lines are compared
    /// with the ones shown: the most, `n`, such that its first `n` are the last shown (in
    /// order), or all of them when fewer were shown, counting the other lines among them (a
    /// `/me`) as shown too. The rest were said while this client was away.
    pub fn already_shown<S: AsRef<str>>(&self, history: &[S]) -> usize {
        let chat: Vec<usize> = (0..history.len())
            .filter(|&i| {
                matches!(
                    super::server_line::parse(history[i].as_ref()),
                    super::server_line::ServerLine::Chat { .. }
                )
            })
            .collect();
        let shown = self.lines.len();
        (1..=chat.len())
            .rev()
            .find(|&n| {
                let m = n.min(shown);
                m > 0
                    && chat[n - m..n]
                        .iter()
                        .zip(self.lines.range(shown - m..))
                        .all(|(&i, s)| history[i].as_ref() == s)
            })
            .map_or(0, |n| chat[n - 1] + 1)
    }
}

/// What a reconnected client shows of what the server says until the room it was in has been
/// replayed: every history block of another room (the lobby's, sent at connect, when it was
/// elsewhere) is left out, as are the lobby's lines meanwhile; the block of its own room, when
/// it comes (at once, or after a cluster's catch-up), is shown without the lines [`Shown`]
/// already has, under `* missed while away: N lines`, or not at all when nothing was missed.
///
/// Lines are recognised by their text, not by their ids: without a store a restarted server
/// numbers lines from 1 again, and in a cluster ids from different nodes are not ordered, so
/// "after the last id shown" would hide new lines; the text of the last lines shown is what
/// does not change.
pub struct Replay {
    /// The room rejoined, lower-cased.
    room: String,
    /// Its `* you are in` has come (from the start when it is the lobby, the room a
    /// connection starts in).
    entered: bool,
    block: Block,
}

enum Block {
    /// Not in a history block.
    None,
    /// In another room's: left out.
    Other,
    /// In the room's own: its head (`* history of ...`) and lines, held to its end, when what
    /// was missed is known.
    Ours(Vec<String>),
    /// The room's own was replayed: lines go through as they come.
    Done,
}

/// Most lines of a replayed block held (a server keeps 50 by default): past it, they go
/// through as they come, so that no server can make the client hold more than this.
const MOST_HELD: usize = 10_000;

impl Replay {
    /// After a reconnection whose `greeting` was meant to take the client back to `room`: the
    /// replay of that room, or of the lobby when the way back was refused (the room is full,
    /// or the client banned from it), in which case nothing shown before is the lobby's.
    pub fn after(greeting: &[String], room: &str, shown: &mut Shown) -> Replay {
        use super::server_line::{ServerLine, parse};
        let back = greeting.iter().any(|l| {
            matches!(parse(l), ServerLine::InRoom { room: r, .. } if r.eq_ignore_ascii_case(room))
        });
        if back || room.eq_ignore_ascii_case(crate::hub::LOBBY) {
            Replay::new(room)
        } else {
            // In the lobby after all: its lines come as they would for a newcomer.
            shown.clear();
            Replay {
                room: crate::hub::LOBBY.into(),
                entered: true,
                block: Block::Done,
            }
        }
    }

    pub fn new(room: &str) -> Replay {
        Replay {
            room: room.to_ascii_lowercase(),
            entered: room.eq_ignore_ascii_case(crate::hub::LOBBY),
            block: Block::None,
        }
    }

    /// The room has been replayed: lines go through as they come from now on, and the replay
    /// can be dropped.
    pub fn is_done(&self) -> bool {
        matches!(self.block, Block::Done)
    }

    /// Whether a history of `room` that comes whole (a JSON `history` event) is the one this
    /// replay waits for; if so, the replay is over, and the caller shows of it only what
    /// [`Shown::already_shown`] leaves.
    pub fn takes_history_of(&mut self, room: &str) -> bool {
        let ours = self.entered
            && matches!(self.block, Block::None)
            && room.eq_ignore_ascii_case(&self.room);
        if ours {
            self.block = Block::Done;
        }
        ours
    }

    /// The lines to show for `line`, which the server sent: none, `line`, or (at the end of the
    /// room's history block) what was missed of it.
    pub fn filter(&mut self, line: String, shown: &Shown) -> Vec<String> {
        use super::server_line::{ServerLine, parse};
        match &mut self.block {
            Block::Done => return vec![line],
            Block::Other => {
                if parse(&line) == ServerLine::HistoryEnd {
                    self.block = Block::None;
                }
                return Vec::new();
            }
            Block::Ours(held) => {
                if parse(&line) != ServerLine::HistoryEnd {
                    held.push(line);
                    if held.len() <= MOST_HELD {
                        return Vec::new();
                    }
                    // Too long to hold: the block as the server sent it, head and all.
                    let held = std::mem::take(held);
                    self.block = Block::Done;
                    return held;
                }
                let held = std::mem::take(held).split_off(1);
                self.block = Block::Done;
                let seen = shown.already_shown(&held);
                if seen == held.len() {
                    return Vec::new();
                }
                let missed = held.len() - seen;
                let mut out = Vec::with_capacity(missed + 2);
                out.push(format!(
                    "* missed while away: {missed} line{}",
                    if missed == 1 { "" } else { "s" }
                ));
                out.extend(held.into_iter().skip(seen));
                out.push(line);
                return out;
            }
            Block::None => {}
        }
        match parse(&line) {
            ServerLine::HistoryStart { room, .. } => {
                let ours = self.entered && room.eq_ignore_ascii_case(&self.room);
                self.block = if ours {
                    Block::Ours(vec![line])
                } else {
                    Block::Other
                };
                Vec::new()
            }
            ServerLine::InRoom { room, .. } => {
                self.entered = room.eq_ignore_ascii_case(&self.room);
                if !self.entered {
                    // Somewhere else after all (the room is full, or gone): as it comes.
                    self.block = Block::Done;
                }
                vec![line]
            }
            // What is said to it, or of it, goes through on its way back.
            ServerLine::Welcome { .. }
            | ServerLine::Error(_)
            | ServerLine::YouAre(_)
            | ServerLine::Private { .. }
            | ServerLine::PasswordRequired
            | ServerLine::Oper
            | ServerLine::Limits { .. } => vec![line],
            // The lobby's lines and news while it passes through on its way back.
            _ if !self.entered => Vec::new(),
            // A live line of its room before any history: the room kept none.
            ServerLine::Chat { .. } => {
                self.block = Block::Done;
                vec![line]
            }
            _ => vec![line],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(lines: &[&str]) -> Shown {
        let mut s = Shown::default();
        for l in lines {
            s.push(l);
        }
        s
    }

    #[test]
    fn waits_grow_to_a_ceiling_with_jitter() {
        let mut b = Backoff::new(42);
        let waits: Vec<Duration> = (0..12).map(|_| b.next_wait()).collect();
        for (i, w) in waits.iter().enumerate() {
            let ceiling = (FIRST * (1 << i.min(16))).min(MOST);
            assert!(
                *w >= ceiling / 2 && *w <= ceiling,
                "{i}: {w:?} of {ceiling:?}"
            );
        }
        assert!(waits[11] >= MOST / 2);
        // Two clients of the same server do not wait alike.
        let mut other = Backoff::new(43);
        let theirs: Vec<Duration> = (0..12).map(|_| other.next_wait()).collect();
        assert_ne!(waits, theirs);
    }

    #[test]
    fn a_replayed_history_skips_what_was_shown() {
        let s = shown(&["<a> 1", "<b> 2", "<a> 3"]);
        // The server kept 1..3 and heard 4 and 5 meanwhile.
        let h = ["<a> 1", "<b> 2", "<a> 3", "<b> 4", "<a> 5"];
        assert_eq!(s.already_shown(&h), 3);
        // It keeps fewer than were shown.
        assert_eq!(s.already_shown(&["<a> 3", "<b> 4"]), 1);
        // Older lines than any shown come first (this client came in late).
        let h = ["<z> 0", "<a> 1", "<b> 2", "<a> 3", "<b> 4"];
        assert_eq!(s.already_shown(&h), 4);
        // A new server with nothing in common.
        assert_eq!(s.already_shown(&["<c> new"]), 0);
        assert_eq!(Shown::default().already_shown(&h), 0);
        // The same words twice: the latest alignment wins.
        let s = shown(&["<a> ok", "<a> ok"]);
        assert_eq!(s.already_shown(&["<a> ok", "<a> ok", "<a> ok"]), 3);
        // A `/me` among them goes with the chat line after it.
        let s = shown(&["<a> 1", "<b> 2"]);
        let h = ["<a> 1", "* b waves", "<b> 2", "* a waves", "<a> 3"];
        assert_eq!(s.already_shown(&h), 3);
    }

    /// What `replay` shows of `lines`, one after the other.
    fn replayed(replay: &mut Replay, shown: &Shown, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .flat_map(|l| replay.filter(l.to_string(), shown))
            .collect()
    }

    #[test]
    fn back_in_the_lobby_only_what_was_missed_is_shown() {
        let s = shown(&["<a> 1", "<b> 2"]);
        let mut r = Replay::new("lobby");
        let got = replayed(
            &mut r,
            &s,
            &[
                "* welcome ana, 2 online; type /help for commands",
                "* history of #lobby: 3 lines",
                "<a> 1",
                "<b> 2",
                "<b> 3",
                "* end of history",
                "* you are now ana",
                "<b> live",
            ],
        );
        assert_eq!(
            got,
            [
                "* welcome ana, 2 online; type /help for commands",
                "* missed while away: 1 line",
                "<b> 3",
                "* end of history",
                "* you are now ana",
                "<b> live",
            ]
        );
        // Nothing missed: no block at all.
        let s = shown(&["<a> 1", "<b> 2", "<b> 3"]);
        let mut r = Replay::new("lobby");
        let got = replayed(
            &mut r,
            &s,
            &[
                "* history of #lobby: 2 lines",
                "<b> 2",
                "<b> 3",
                "* end of history",
            ],
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_block_past_what_is_held_goes_through_as_it_comes() {
        let s = Shown::default();
        let mut r = Replay::new("lobby");
        assert!(
            r.filter("* history of #lobby: 20000 lines".into(), &s)
                .is_empty()
        );
        let mut shown = Vec::new();
        for i in 0..MOST_HELD + 5 {
            shown.extend(r.filter(format!("<a> {i}"), &s));
        }
        assert_eq!(
            shown.len(),
            MOST_HELD + 6,
            "every line shown, its head too, none held past the limit"
        );
        assert_eq!(shown[0], "* history of #lobby: 20000 lines");
        assert_eq!(shown[1], "<a> 0");
        assert_eq!(
            r.filter("* end of history".into(), &s),
            ["* end of history"]
        );
    }

    #[test]
    fn back_in_another_room_nothing_of_the_lobby_is_shown() {
        let s = shown(&["<ana> ops one"]);
        let mut r = Replay::new("ops");
        let got = replayed(
            &mut r,
            &s,
            &[
                "* welcome lobx, 2 online; type /help for commands",
                "* history of #lobby: 1 line",
                "<lobx> lobby line one",
                "* end of history",
                "* carl joined",
                "<carl> in the lobby meanwhile",
                "*carl* psst",
                "* you are now lobx",
                "* you are in #ops (2 here)",
                "* topic of #ops: deploys",
                "* history of #ops: 3 lines",
                "<ana> ops one",
                "<ana> ops two",
                "<ana> ops three",
                "* end of history",
                "<ana> live",
                // A later move is as it comes.
                "* you are in #lobby (3 here)",
                "* history of #lobby: 1 line",
                "<lobx> lobby line one",
                "* end of history",
            ],
        );
        assert_eq!(
            got,
            [
                "* welcome lobx, 2 online; type /help for commands",
                "*carl* psst",
                "* you are now lobx",
                "* you are in #ops (2 here)",
                "* topic of #ops: deploys",
                "* missed while away: 2 lines",
                "<ana> ops two",
                "<ana> ops three",
                "* end of history",
                "<ana> live",
                "* you are in #lobby (3 here)",
                "* history of #lobby: 1 line",
                "<lobx> lobby line one",
                "* end of history",
            ]
        );
    }

    #[test]
    fn a_room_without_history_or_a_refused_way_back_shows_lines_as_they_come() {
        // The room kept nothing: the first live line ends the replay.
        let s = shown(&["<a> 1"]);
        let mut r = Replay::new("ops");
        let got = replayed(
            &mut r,
            &s,
            &[
                "* you are in #ops (1 here)",
                "<b> new",
                "* history of #ops: 1 line",
                "<b> new",
                "* end of history",
            ],
        );
        assert_eq!(got.len(), 5, "{got:?}");
        // The way back refused: the lobby, as a newcomer sees it; nothing shown is its.
        let greeting: Vec<String> = [
            "* welcome ana, 2 online; type /help for commands",
            "* history of #lobby: 1 line",
            "<a> 1",
            "* end of history",
            "! room full: #ops",
        ]
        .map(String::from)
        .to_vec();
        let mut s = shown(&["<a> 1"]);
        let mut r = Replay::after(&greeting, "ops", &mut s);
        let got: Vec<String> = greeting
            .iter()
            .flat_map(|l| r.filter(l.clone(), &s))
            .collect();
        assert_eq!(got, greeting);
        // A JSON history of the room, whole: taken once.
        let mut r = Replay::new("lobby");
        assert!(!r.takes_history_of("dev"));
        assert!(r.takes_history_of("LOBBY"));
        assert!(!r.takes_history_of("lobby"));
    }
}
