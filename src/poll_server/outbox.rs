//! Poll mode's side of the hub's [`Outbox`]: the connections, and what the hub asked of them in
//! this turn. A line queued for a connection goes into its [`Output`](crate::connection::Output)
//! (owed from the turn's batch, or copied), and the connection is marked to be written at the
//! end of the turn; nothing is written from here.

use std::time::Instant;

use slab::Slab;

use super::conn::{Conn, State};
use super::timers::{Timer, Timers};
use crate::cluster::link::Link;
use crate::connection::Batch;
use crate::connection::{LINGER, Outputs, Queued};
use crate::hashing::Pool;
use crate::hub::{ClientId, Hasher, Keeper, Leave, Line, Nodes, Outbox};
use crate::store::Store;

/// The connections and the turn's work: poll mode's [`Outbox`].
pub struct Io {
    pub conns: Slab<Conn>,
    /// Connections with output to write (or to close) at the end of the turn.
    pub dirty: Vec<usize>,
    /// Connections gone that the hub has not been told about yet.
    pub gone: Vec<(ClientId, Leave)>,
    /// This turn's lines, each once.
    pub batch: Batch,
    pub outputs: Outputs,
    /// Connections with output their socket did not take (registered for WRITABLE).
    pub behind: usize,
    /// Every connection's deadlines.
    pub timers: Timers,
    /// To the other nodes, in a cluster.
    pub link: Option<Link>,
    /// To the disk, on a single node with a store.
    pub store: Option<Store>,
    /// The pool that hashes accounts' passwords.
    pub hashing: Option<Pool>,
}

impl Io {
    pub fn mark_dirty(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    /// The connection failed or was dropped: forget its output; remove it after telling the
    /// hub (at the end of the turn).
    pub fn kill(&mut self, key: usize, why: Leave) {
        if let Some(c) = self.conns.get_mut(key)
            && c.state != State::Dead
        {
            c.state = State::Dead;
            c.output.clear(&mut self.outputs);
            self.gone.push((key, why));
        }
    }
}

impl Io {
    /// Closes a connection once what it is owed is written (and its layers' own bytes: a web
    /// answer, a close frame), within [`LINGER`].
    pub fn finish(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if matches!(c.state, State::Open | State::Handshaking) {
                let now = Instant::now();
                c.state = State::Flushing { since: now };
                self.timers.add(now + LINGER, key, c.serial, Timer::Linger);
            }
            self.mark_dirty(key);
        }
    }
}

impl Outbox for Io {
    fn send(&mut self, to: ClientId, line: &Line) {
        let Some(c) = self.conns.get_mut(to) else {
            return;
        };
        if c.state != State::Open {
            return;
        }
        match c
            .output
            .queue(line, &mut self.batch, true, &mut self.outputs, &c.peer)
        {
            Queued::Claimed | Queued::Added => {
                if !c.dirty {
                    c.dirty = true;
                    self.dirty.push(to);
                }
            }
            Queued::TooSlow => self.kill(to, Leave::TooSlow),
        }
    }

    fn close(&mut self, who: ClientId) {
        match self.conns.get(who).map(|c| c.state) {
            Some(State::Open) => self.finish(who),
            // A dead one is removed when written.
            Some(_) => self.mark_dirty(who),
            None => {}
        }
    }

    fn nodes(&self) -> Option<&dyn Nodes> {
        self.link.as_ref().map(|l| l as &dyn Nodes)
    }

    fn keeper(&self) -> Option<&dyn Keeper> {
        self.store.as_ref().map(|s| s as &dyn Keeper)
    }

    fn hasher(&self) -> Option<&dyn Hasher> {
        self.hashing.as_ref().map(|h| h as &dyn Hasher)
    }
}
