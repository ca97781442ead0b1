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
pub struct Redial {
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub password: Option<String>,
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

/// The lines of `greeting` to show after a reconnection: its history block without the lines
/// `shown` already has (the head and end of the block go too, when nothing is left in it).
pub fn fresh_greeting(greeting: &[String], shown: &Shown) -> Vec<String> {
    let start = greeting
        .iter()
        .position(|l| l.starts_with("* history of #"));
    let end = start.and_then(|s| {
        greeting[s..]
            .iter()
            .position(|l| l == "* end of history")
            .map(|e| s + e)
    });
    let (Some(start), Some(end)) = (start, end) else {
        return greeting.to_vec();
    };
    let history = &greeting[start + 1..end];
    let seen = shown.already_shown(history);
    let mut out = greeting[..start].to_vec();
    if seen < history.len() {
        out.push(format!(
            "* missed while away: {} line{}",
            history.len() - seen,
            if history.len() - seen == 1 { "" } else { "s" }
        ));
        out.extend_from_slice(&history[seen..]);
        out.push("* end of history".into());
    }
    out.extend_from_slice(&greeting[end + 1..]);
    out
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

    #[test]
    fn the_greeting_keeps_only_what_was_missed() {
        let s = shown(&["<a> 1", "<b> 2"]);
        let greeting: Vec<String> = [
            "* welcome ana, 2 online; type /help for commands",
            "* history of #lobby: 3 lines",
            "<a> 1",
            "<b> 2",
            "<b> 3",
            "* end of history",
            "* you are now ana",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            fresh_greeting(&greeting, &s),
            [
                "* welcome ana, 2 online; type /help for commands",
                "* missed while away: 1 line",
                "<b> 3",
                "* end of history",
                "* you are now ana",
            ]
        );
        let s = shown(&["<a> 1", "<b> 2", "<b> 3"]);
        assert_eq!(
            fresh_greeting(&greeting, &s),
            [
                "* welcome ana, 2 online; type /help for commands",
                "* you are now ana"
            ]
        );
    }
}
