//! Every deadline of poll mode's connections in one ordered set: a TLS handshake that must be
//! done, a throttled client to read again, a silent client to close, a closing one to cut.
//! The loop sleeps until the first one and takes those due; each names its connection by slab
//! key and serial number, so a deadline of a connection gone (its key reused since) is void.
//!
//! A deadline is checked against its connection when it comes, not kept exact as things
//! change: an idle deadline is set once and, when it comes, put off to the client's last input
//! plus the limit if the client spoke meanwhile. So the hot path (a read) touches no timer.

use std::collections::BTreeSet;
use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Its handshake must be over (`--tls-handshake-timeout`).
    Handshake,
    /// Its flood-control wait is over: read it again.
    Throttle,
    /// `--idle-timeout` since its last input, unless it spoke since.
    Idle,
    /// An IRC client: `--irc-ping` since its last input, unless it spoke since (then it is
    /// sent `PING`).
    Ping,
    /// An IRC client was sent `PING` `--irc-ping` ago: closed, unless it spoke since.
    Pinged,
    /// The hub closed it this long ago: cut it, flushed or not.
    Linger,
}

/// One deadline: when, for which connection, for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    pub at: Instant,
    pub key: usize,
    pub serial: u64,
    pub timer: Timer,
}

/// The deadlines, soonest first.
#[derive(Default)]
pub struct Timers {
    set: BTreeSet<Deadline>,
}

impl Timers {
    pub fn add(&mut self, at: Instant, key: usize, serial: u64, timer: Timer) {
        self.set.insert(Deadline {
            at,
            key,
            serial,
            timer,
        });
    }

    /// When the first deadline is.
    pub fn next(&self) -> Option<Instant> {
        self.set.first().map(|d| d.at)
    }

    /// The first deadline, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        if self.set.first()?.at <= now {
            self.set.pop_first()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_soonest_first_and_only_when_due() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        timers.add(t0 + 3 * s, 1, 1, Timer::Idle);
        timers.add(t0 + s, 2, 2, Timer::Handshake);
        timers.add(t0 + 2 * s, 3, 3, Timer::Throttle);
        assert_eq!(timers.next(), Some(t0 + s));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(t0 + 2 * s))
            .map(|d| (d.key, d.timer))
            .collect();
        assert_eq!(due, [(2, Timer::Handshake), (3, Timer::Throttle)]);
        assert_eq!(timers.next(), Some(t0 + 3 * s));
    }
}
