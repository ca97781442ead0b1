//! Reading in poll mode: a ready connection's bytes through its transport into its intake,
//! whose events go to the hub; flood control's pauses; the end of a client's input; what is
//! read and dropped from connections that are closing.

use std::ops::ControlFlow;
use std::time::Instant;

use super::conn::State;
use super::timers::Timer;
use super::{READS_PER_TURN, SCRATCH, Server, interrupted, would_block};
use crate::connection::Verdict;
use crate::hub::{Event, Leave};
use crate::metrics::{METRICS, Metrics};

impl Server {
    /// Reads what a connection sent, at most [`READS_PER_TURN`] times this turn.
    pub(super) fn readable(&mut self, key: usize) {
        let Some(conn) = self.io.conns.get_mut(key) else {
            return;
        };
        match conn.state {
            State::Open | State::Handshaking => {}
            State::Dead => return,
            State::Flushing { .. } | State::Draining { .. } => return self.discard_input(key),
        }
        if conn.throttled {
            return; // read again at its Throttle deadline
        }
        // Lines held back by a throttle go before anything new.
        if conn.intake.has_held_lines() && !self.feed(key, None) {
            return;
        }
        for _ in 0..READS_PER_TURN {
            if self.read_budget == 0 {
                break;
            }
            let Some(conn) = self.io.conns.get_mut(key) else {
                return;
            };
            if conn.state == State::Handshaking {
                if self.handshake_budget == 0 {
                    break; // read again next turn
                }
                self.handshake_budget -= 1;
            }
            let want = self.read_budget.min(SCRATCH);
            let read = conn.read(&mut self.scratch[..want]);
            if conn.transport.heard() {
                // Bytes that made no line (an IRC PONG) are input too.
                conn.last_input = Instant::now();
            }
            if !conn.transport.is_plain() {
                // Its layers may have something to send (a handshake message, an alert).
                self.io.mark_dirty(key);
            }
            if self.io.conns[key].state == State::Handshaking && !self.handshake_step(key, &read) {
                return;
            }
            let conn = &mut self.io.conns[key];
            match read {
                Ok(0) => return self.end_of_input(key),
                Ok(n) => {
                    self.read_budget -= n;
                    conn.last_input = Instant::now();
                    if !self.feed(key, Some(n)) {
                        return;
                    }
                }
                Err(e) if would_block(&e) => {
                    // Nothing more to read: whatever its pace, it paused.
                    conn.intake.paused();
                    return;
                }
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    log::debug!("{}: read: {e}", conn.peer);
                    conn.transport.flush(&mut conn.stream); // the alert, if the socket takes it
                    return self.io.kill(key, Leave::Closed);
                }
            }
        }
        self.again.push(key);
    }

    /// Hands a connection's intake the `n` bytes just read into the scratch buffer (or, with
    /// `None`, lets it hand over the lines it held back); its events go to the hub. Returns
    /// whether reading may go on.
    pub(super) fn feed(&mut self, key: usize, n: Option<usize>) -> bool {
        let now = Instant::now();
        let conn = &mut self.io.conns[key];
        let from = (key, conn.peer);
        let mut intake = std::mem::take(&mut conn.intake);
        let data = n.map(|n| &self.scratch[..n]);
        let (hub, io) = (&mut self.hub, &mut self.io);
        let verdict = intake.feed(data, from, &self.rules, now, |event| {
            hub.handle(event, io);
            match io.conns.get(key) {
                Some(c) if c.is_open() => ControlFlow::Continue(()),
                _ => ControlFlow::Break(()),
            }
        });
        let Some(conn) = self.io.conns.get_mut(key) else {
            return false;
        };
        conn.intake = intake;
        match verdict {
            Verdict::Open => conn.is_open(),
            Verdict::Closed | Verdict::Flooding => false,
            Verdict::Wait(wait) => {
                Metrics::add(&METRICS.rate_limited_reads, 1);
                conn.throttled = true;
                let serial = conn.serial;
                self.io.timers.add(now + wait, key, serial, Timer::Throttle);
                false
            }
        }
    }

    /// The client closed its side: what it said last still counts, and what the hub wrote it
    /// before it went (the answer to its last line, a `* bye`) is written before our side
    /// closes: the connection flushes, as when the hub closes it.
    pub(super) fn end_of_input(&mut self, key: usize) {
        let conn = &mut self.io.conns[key];
        // What its layers still have to say (a WebSocket's close frame), if the socket takes it.
        conn.transport.flush(&mut conn.stream);
        let mut intake = std::mem::take(&mut self.io.conns[key].intake);
        let (hub, io) = (&mut self.hub, &mut self.io);
        intake.finish(key, &self.rules, |event| {
            hub.handle(event, io);
            ControlFlow::Continue(())
        });
        if self.io.conns.get(key).is_some_and(|c| c.is_open()) {
            self.hub
                .handle(Event::Disconnected(key, Leave::Closed), &mut self.io);
        }
        // Closed by the hub (flushing), or unknown to it: written, then gone.
        self.io.finish(key);
    }

    /// Reads and drops what a closing connection still sends; removes it at end of input.
    pub(super) fn discard_input(&mut self, key: usize) {
        let conn = &mut self.io.conns[key];
        if !conn.discard_input(&mut self.scratch) {
            return;
        }
        match conn.state {
            State::Draining { .. } => self.remove(key),
            _ => {
                conn.state = State::Dead;
                self.io.mark_dirty(key);
            }
        }
    }
}
