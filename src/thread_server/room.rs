//! The state every thread of threads mode shares, and the room lock around the hub: a thread
//! that holds it hands the hub its event and records the writes that follow in a [`Courier`];
//! once the lock is released the courier makes them, so no write is made under the lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use slab::Slab;

use super::budget::Budget;
use super::delivery::{Courier, Peer, Post, Writers};
use crate::cluster::link::Link;
use crate::connection::{Outputs, Rules};
use crate::hashing::Pool;
use crate::hub::{Event, Hub, Leave};
use crate::store::Store;

/// Idle couriers kept for reuse; more are freed when they come back.
const COURIERS_KEPT: usize = 16;

/// The chat and every client's socket, behind the room lock.
pub struct Room {
    pub hub: Hub,
    pub peers: Slab<Arc<Peer>>,
    pub outputs: Outputs,
    /// Holds of the room lock so far; a courier's claims are good for one hold.
    rounds: u32,
    /// Clients the hub closed, for the reaper. Weak: a client whose threads are done with it
    /// (its input ended, its output written) is closed at once, not when the reaper passes.
    pub closed: Vec<Weak<Peer>>,
    /// Connections the hub turned away as they came (server full, per-address limits): they
    /// get no thread; the reaper reads out what they send and drops each once it has closed
    /// its side, or after the linger (see [`super::accept`]).
    pub refused: Vec<Arc<Peer>>,
    /// To the other nodes, in a cluster.
    pub link: Option<Link>,
    /// To the disk, on a single node with a store.
    pub store: Option<Store>,
    /// The pool that hashes accounts' passwords.
    pub hashing: Option<Pool>,
    /// The connections' input rules: read by whoever feeds the hub, under this lock anyway;
    /// replaced by a reload.
    pub rules: Rules,
}

impl Room {
    pub fn new(
        hub: Hub,
        outputs: Outputs,
        link: Option<Link>,
        store: Option<Store>,
        hashing: Option<Pool>,
        rules: Rules,
    ) -> Room {
        Room {
            hub,
            peers: Slab::new(),
            outputs,
            rounds: 0,
            closed: Vec::new(),
            refused: Vec::new(),
            link,
            store,
            hashing,
            rules,
        }
    }
}

/// The room, as seen by the thread holding its lock: the hub, and a courier that records what
/// the hub's decisions cost in writes.
pub struct Held<'a> {
    pub room: MutexGuard<'a, Room>,
    courier: &'a mut Courier,
}

impl Held<'_> {
    /// Hands one event to the hub, then whatever it caused, and ends the turn (announces joins).
    pub fn handle(&mut self, event: Event<'_>) {
        self.with_hub(|hub, post| {
            hub.handle(event, post);
            hub.end_turn(post);
        });
    }

    /// Hands one event to the hub without ending the turn: joins stay pending, to be announced
    /// together by [`Held::end_turn`].
    pub fn handle_in_turn(&mut self, event: Event<'_>) {
        self.with_hub(|hub, post| hub.handle(event, post));
    }

    pub fn end_turn(&mut self) {
        self.with_hub(|hub, post| hub.end_turn(post));
    }

    /// Runs `f` on the hub with this hold's outbox, then tells the hub of the clients that
    /// were dropped as too slow meanwhile.
    pub fn with_hub(&mut self, f: impl FnOnce(&mut Hub, &mut Post<'_>)) {
        let Room {
            hub,
            peers,
            outputs,
            closed,
            link,
            store,
            hashing,
            ..
        } = &mut *self.room;
        let mut too_slow = Vec::new();
        let mut post = Post {
            peers,
            courier: self.courier,
            too_slow: &mut too_slow,
            closed,
            outputs,
            link: link.as_ref(),
            store: store.as_ref(),
            hashing: hashing.as_ref(),
        };
        hub.tick(Instant::now(), &mut post);
        f(hub, &mut post);
        while let Some(id) = post.too_slow.pop() {
            hub.handle(Event::Disconnected(id, Leave::TooSlow), &mut post);
        }
    }
}

/// What every thread of threads mode shares.
pub struct Shared {
    pub room: Mutex<Room>,
    /// Couriers not in use.
    couriers: Mutex<Vec<Courier>>,
    pub threads: Arc<Budget>,
    pub stopping: AtomicBool,
    /// The longest line (fixed at start: the framing and the web layer are set up with it).
    pub max_line: usize,
    /// The idle timeout of new connections, in milliseconds (0: none); a reload replaces it.
    idle_ms: AtomicU64,
    /// `--irc-ping`.
    pub irc_ping: Option<Duration>,
    pub handshake_time: Duration,
    /// TLS handshake steps under way (the public-key work, not the waits for the client), at
    /// most one per core but one (one core is left to the chat): the other new TLS clients'
    /// threads wait for their turn asleep, not competing for the cores with the chat.
    pub handshaking: Mutex<usize>,
    pub handshake_done: Condvar,
    pub max_handshakes: usize,
}

/// A timeout in milliseconds, at least 1; 0 for none.
fn millis(timeout: Option<Duration>) -> u64 {
    timeout.map_or(0, |d| d.as_millis().clamp(1, u64::MAX.into()) as u64)
}

/// What [`Shared`] is made from.
pub struct Settings {
    pub max_line: usize,
    pub idle: Option<Duration>,
    pub irc_ping: Option<Duration>,
    pub handshake_time: Duration,
    pub threads: Budget,
    pub max_handshakes: usize,
}

impl Shared {
    pub fn new(room: Room, settings: Settings) -> Shared {
        Shared {
            room: Mutex::new(room),
            couriers: Mutex::new(Vec::new()),
            threads: Arc::new(settings.threads),
            stopping: AtomicBool::new(false),
            max_line: settings.max_line,
            idle_ms: AtomicU64::new(millis(settings.idle)),
            irc_ping: settings.irc_ping,
            handshake_time: settings.handshake_time,
            handshaking: Mutex::new(0),
            handshake_done: Condvar::new(),
            max_handshakes: settings.max_handshakes,
        }
    }

    pub fn room(&self) -> MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the room lock held, then makes the writes it caused, lock released.
    pub fn with_room<T>(self: &Arc<Self>, f: impl FnOnce(&mut Held<'_>) -> T) -> T {
        let mut courier;
        let result = {
            let mut room = self.room();
            // Taken only once the lock is held: threads waiting for it hold no courier, so
            // there are only as many couriers as threads delivering at once.
            courier = self.couriers().pop().unwrap_or_default();
            room.rounds = room.rounds.wrapping_add(1);
            courier.begin(room.rounds);
            f(&mut Held {
                room,
                courier: &mut courier,
            })
        };
        courier.deliver(self);
        let mut couriers = self.couriers();
        if couriers.len() < COURIERS_KEPT {
            couriers.push(courier);
        }
        result
    }

    fn couriers(&self) -> MutexGuard<'_, Vec<Courier>> {
        self.couriers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a client thread (already counted with `self.threads.reserve`), running `body`.
    pub fn idle(&self) -> Option<Duration> {
        let ms = self.idle_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    pub fn set_idle(&self, idle: Option<Duration>) {
        self.idle_ms.store(millis(idle), Ordering::Relaxed);
    }

    pub fn spawn(
        self: &Arc<Self>,
        name: String,
        body: impl FnOnce(&Arc<Shared>) + Send + 'static,
    ) -> bool {
        let shared = Arc::clone(self);
        self.threads.spawn(name, move || body(&shared))
    }
}

impl Writers for Arc<Shared> {
    fn start(&self, peer: Arc<Peer>) -> bool {
        self.threads.reserve(self.threads.max_threads)
            && self
                .threads
                .spawn(format!("write-{}", peer.addr), move || peer.write_stalled())
    }
}
