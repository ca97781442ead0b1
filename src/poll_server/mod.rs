//! `--mode poll`: one thread, one `mio::Poll` loop, every socket non-blocking.
//!
//! This module is the driver: the loop, its tokens, readiness interest and the order of work in
//! a turn. What one connection does (transport, intake, output queue) is in
//! `crate::connection`, shared with threads mode; its states in [`conn`]; its deadlines in
//! [`timers`]; what the hub asks of the connections in [`outbox`].
//!
//! Each turn of the loop:
//! 1. read every ready socket (at most [`READS_PER_TURN`] reads each, so no sender starves the
//!    others) into one loop-wide scratch buffer and hand its plaintext to the connection's
//!    intake, whose events go to the [`Hub`]; the hub's deliveries are queued on the
//!    recipients' outputs, each line once in the turn's batch;
//! 2. act on the deadlines that are due, and tell the hub about clients that went away;
//! 3. write each recipient's pending bytes once: one `write` per recipient per turn, however
//!    many messages it got in that turn.
//!
//! Copies cost memory only for recipients that are behind, so the bytes a turn may read are
//! bounded by how many of those there are (see [`OUTPUT_PER_TURN`]). An idle connection holds
//! no buffer, and WRITABLE interest is registered only while a socket has output it could not
//! take.

mod accept;
mod conn;
mod outbox;
mod read;
mod stop;
mod timers;

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::cluster::link;
use crate::config::ServerConfig;
use crate::config::reload::Reload;
use crate::connection::Batch;
use crate::connection::{Outputs, Rules};
use crate::hashing;
use crate::hub::{Event, Hub, Leave, Outbox, WallClock};
use crate::memory;
use crate::metrics::{METRICS, Metrics};
use crate::net::{Listeners, SpareFd};
use crate::news::{self, Inbound, Inbox};
use crate::shutdown::{DRAIN_TIME, STOP_CHECK};
use crate::store;
use conn::{State, Written};
use outbox::Io;
use timers::Timer;

const LISTENER: Token = Token(usize::MAX - 1);
const STOP: Token = Token(usize::MAX - 2);
const TLS_LISTENER: Token = Token(usize::MAX - 3);
/// The cluster link has something for the loop.
const CLUSTER: Token = Token(usize::MAX - 4);
const WEB_LISTENER: Token = Token(usize::MAX - 5);
const RELOAD: Token = Token(usize::MAX - 6);
const IRC_LISTENER: Token = Token(usize::MAX - 7);
const IRC_TLS_LISTENER: Token = Token(usize::MAX - 8);
/// The loop-wide read buffer.
const SCRATCH: usize = 64 * 1024;
/// Reads of one socket per turn before the others get their turn.
pub const READS_PER_TURN: usize = 4;
/// Output one turn may copy, about: every byte read may be copied to every client that is
/// behind (has output pending), so the bytes read per turn are capped at this divided by their
/// number plus one (and kept between [`MIN_READ_PER_TURN`] and [`MAX_READ_PER_TURN`]). This
/// bounds the memory a fan-out burst takes before it is written. (A turn in which clients that
/// were keeping up all fall behind at once copies at most [`MAX_READ_PER_TURN`] to each.)
const OUTPUT_PER_TURN: usize = 16 << 20;
const MIN_READ_PER_TURN: usize = 4 * 1024;
const MAX_READ_PER_TURN: usize = 256 * 1024;
/// TLS handshake steps (each a read that moves a handshake on, the costly ones doing its
/// public-key work) per turn: the rest wait for the next turn, so that a storm of handshakes
/// is spread over many short turns and the chat goes on between them.
const HANDSHAKES_PER_TURN: usize = 8;

/// Runs the poll server until SIGINT or SIGTERM arrives on `stop`.
pub fn run(
    listeners: Listeners,
    config: &ServerConfig,
    stop: std::os::unix::net::UnixStream,
    reload: Option<Reload>,
    store: Option<store::Opened>,
) -> io::Result<()> {
    stop.set_nonblocking(true)?;
    let poll = Poll::new()?;
    let open = |listener: std::net::TcpListener, token| -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, token, Interest::READABLE)?;
        Ok(listener)
    };
    let plain = listeners.plain.map(|l| open(l, LISTENER)).transpose()?;
    let tls = match listeners.tls {
        Some((l, config)) => Some((open(l, TLS_LISTENER)?, config)),
        None => None,
    };
    let web = match listeners.web {
        Some(w) => Some(WebListener {
            listener: open(w.listener, WEB_LISTENER)?,
            tls: w.tls,
            site: w.site,
        }),
        None => None,
    };
    let irc = listeners.irc.map(|l| open(l, IRC_LISTENER)).transpose()?;
    let irc_tls = match listeners.irc_tls {
        Some((l, config)) => Some((open(l, IRC_TLS_LISTENER)?, config)),
        None => None,
    };
    let reload = match reload {
        Some(r) => {
            r.signal.set_nonblocking(true)?;
            let mut signal = UnixStream::from_std(r.signal.try_clone()?);
            poll.registry()
                .register(&mut signal, RELOAD, Interest::READABLE)?;
            Some((signal, r))
        }
        None => None,
    };
    let mut stop = UnixStream::from_std(stop);
    poll.registry()
        .register(&mut stop, STOP, Interest::READABLE)?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), CLUSTER)?);
    let (inbox, deliver) = news::inbox(move || {
        let _ = waker.wake();
    });
    let link = link::start(config.cluster_config(), deliver.clone())?;
    let hashing = Some(hashing::start(deliver.clone())?);
    let (store, restored) = match store {
        Some(mut opened) => {
            let restored = std::mem::take(&mut opened.restored);
            (Some(opened.start(deliver)?), Some(restored))
        }
        None => (None, None),
    };
    let now = Instant::now();
    let mut hub = Hub::new(config.hub_config(), now);
    hub.set_clock(WallClock::now());
    let mut server = Server {
        hub,
        io: Io {
            conns: Slab::new(),
            dirty: Vec::new(),
            gone: Vec::new(),
            batch: Batch::default(),
            outputs: Outputs {
                max_backlog: config.max_backlog as usize,
                ..Outputs::default()
            },
            behind: 0,
            timers: timers::Timers::default(),
            link,
            store,
            hashing,
        },
        inbox,
        inbound: Inbound::new(&config.cluster_name),
        poll,
        listener: plain,
        tls_listener: tls,
        web_listener: web,
        irc_listener: irc,
        irc_tls_listener: irc_tls,
        reload,
        handshake_time: config.handshake_limit(),
        handshake_budget: 0,
        _stop: stop,
        scratch: vec![0; SCRATCH].into_boxed_slice(),
        rules: Rules {
            max_line: config.max_line as usize,
            limit: config.rate_limit(),
        },
        again: Vec::new(),
        accept_paused_until: None,
        spare: SpareFd::new(),
        stopping_at: None,
        read_budget: 0,
        idle_timeout: config.idle_limit(),
        irc_ping: config.irc_ping_limit(),
        next_serial: 0,
        release: memory::Release::new(now),
    };
    // What the store kept, and what the link had at once (its first guest numbers), before
    // anyone is served.
    if let Some(restored) = restored {
        server
            .hub
            .handle(Event::Restored(&restored), &mut server.io);
    }
    server.take_cluster_news();
    server.run()
}

/// Which listener a connection came to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listener {
    Plain,
    Tls,
    Web,
    Irc,
    IrcTls,
}

/// The web listener, as the loop keeps it.
struct WebListener {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    site: Arc<crate::http::Site>,
}

/// The loop's state. Connections are looked up by slab key in each step, since handing an
/// event to the hub may close or drop any of them, the one being read included.
struct Server {
    hub: Hub,
    io: Io,
    poll: Poll,
    /// None once stopping, or with `--no-plain`.
    listener: Option<TcpListener>,
    /// The TLS listener and its settings; None once stopping, or without `--tls-port`.
    tls_listener: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    /// The web listener; None once stopping, or without `--web-port`.
    web_listener: Option<WebListener>,
    /// The IRC listeners; None once stopping, or without `--irc-port` (`--irc-tls-port`).
    irc_listener: Option<TcpListener>,
    irc_tls_listener: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    /// SIGHUP's socket (registered) and what reads the settings again.
    reload: Option<(UnixStream, Reload)>,
    handshake_time: Duration,
    /// Handshake steps this turn may still take (see [`HANDSHAKES_PER_TURN`]).
    handshake_budget: usize,
    _stop: UnixStream,
    scratch: Box<[u8]>,
    rules: Rules,
    /// Connections that used their read budget: read them again next turn.
    again: Vec<usize>,
    accept_paused_until: Option<Instant>,
    spare: SpareFd,
    stopping_at: Option<Instant>,
    /// Bytes this turn may still read (see [`OUTPUT_PER_TURN`]).
    read_budget: usize,
    idle_timeout: Option<Duration>,
    /// `--irc-ping`.
    irc_ping: Option<Duration>,
    /// The next connection's serial number.
    next_serial: u64,
    /// When to return freed memory (the loop's events are its activity).
    release: memory::Release,
    /// What the cluster link and the store brought, for the loop to take when woken.
    inbox: Arc<Inbox>,
    /// Turns what the cluster link hands over into hub events.
    inbound: Inbound,
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

impl Server {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.stopping_at.is_some() {
                self.let_go_of_delivered();
            }
            if let Some(at) = self.stopping_at
                && (self.io.conns.is_empty() || at.elapsed() > DRAIN_TIME)
            {
                log::info!("stopped; {} connections cut short", self.io.conns.len());
                if let Some(link) = &self.io.link {
                    link.stop(Duration::from_secs(2));
                }
                if let Some(store) = &self.io.store {
                    store.stop(store::STOP_WAIT);
                }
                return Ok(());
            }
            if let Err(e) = self.poll.poll(&mut events, self.timeout()) {
                if interrupted(&e) {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            if !events.is_empty() {
                self.release.activity(now);
            }
            self.hub.tick(now, &mut self.io);
            if self.release.due(now) {
                memory::release_freed_memory();
            }
            self.read_budget = (OUTPUT_PER_TURN / (self.io.behind + 1))
                .clamp(MIN_READ_PER_TURN, MAX_READ_PER_TURN);
            self.handshake_budget = HANDSHAKES_PER_TURN;
            for key in std::mem::take(&mut self.again) {
                self.readable(key);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(Listener::Plain),
                    TLS_LISTENER => self.accept(Listener::Tls),
                    WEB_LISTENER => self.accept(Listener::Web),
                    IRC_LISTENER => self.accept(Listener::Irc),
                    IRC_TLS_LISTENER => self.accept(Listener::IrcTls),
                    STOP => self.begin_stop(),
                    RELOAD => {
                        if let Some((signal, reload)) = &mut self.reload {
                            // Several SIGHUPs at once are one reload.
                            let mut buf = [0u8; 64];
                            while matches!(signal.read(&mut buf), Ok(n) if n > 0) {}
                            if let Some(new) = reload.take() {
                                self.hub.reconfigure(new.hub);
                                self.rules.limit = new.limit;
                                self.idle_timeout = new.idle;
                                self.io.outputs.max_backlog = new.max_backlog;
                                self.read_throttled_again();
                            }
                        }
                    }
                    CLUSTER => self.take_cluster_news(),
                    Token(key) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.readable(key);
                        }
                        if event.is_writable() {
                            self.io.mark_dirty(key);
                        }
                    }
                }
            }
            self.deadlines(Instant::now());
            if self
                .accept_paused_until
                .is_some_and(|t| Instant::now() >= t)
            {
                self.accept_paused_until = None;
                self.accept(Listener::Plain);
                self.accept(Listener::Tls);
                self.accept(Listener::Web);
                self.accept(Listener::Irc);
                self.accept(Listener::IrcTls);
            }
            self.end_turn();
        }
    }

    /// How long the loop may sleep: until the first deadline of the connections, the hub, the
    /// accept pause, the memory release or the end of a stop.
    fn timeout(&self) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let hub = self
            .hub
            .next_deadline()
            .map(|d| d + Duration::from_millis(1));
        let first = [
            self.io.timers.next(),
            hub,
            self.accept_paused_until,
            self.stopping_at.map(|t| t + DRAIN_TIME),
            // Stopping: look again soon for goodbyes acknowledged (no event says so).
            self.stopping_at.map(|_| Instant::now() + STOP_CHECK),
        ]
        .into_iter()
        .flatten()
        .min();
        let now = Instant::now();
        let wait = first.map(|t| t.saturating_duration_since(now));
        match (wait, self.release.wait(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on every connection deadline that is due.
    fn deadlines(&mut self, now: Instant) {
        while let Some(due) = self.io.timers.pop_due(now) {
            let key = due.key;
            let Some(conn) = self.io.conns.get_mut(key) else {
                continue;
            };
            if conn.serial != due.serial {
                continue;
            }
            match due.timer {
                Timer::Throttle => {
                    conn.throttled = false;
                    self.readable(key);
                }
                Timer::Handshake if conn.state == State::Handshaking => {
                    let what = if conn.transport.is_web() {
                        "web request"
                    } else {
                        "TLS handshake"
                    };
                    log::info!("{}: {what} timed out", conn.peer);
                    Metrics::add(&METRICS.handshakes_failed, 1);
                    self.io.kill(key, Leave::Closed);
                }
                Timer::Handshake => {}
                Timer::Idle => self.idle_deadline(key, now),
                Timer::Ping => self.ping_deadline(key, now),
                Timer::Pinged => self.pinged_deadline(key, due.at),
                Timer::Linger => {
                    if matches!(conn.state, State::Flushing { .. } | State::Draining { .. }) {
                        self.remove(key);
                    }
                }
            }
        }
    }

    /// Closes a connection silent for `--idle-timeout`, or puts its deadline off if it spoke.
    fn idle_deadline(&mut self, key: usize, now: Instant) {
        let (Some(limit), Some(conn)) = (self.idle_timeout, self.io.conns.get(key)) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        if now.duration_since(conn.last_input) >= limit {
            log::info!("{}: idle timeout", conn.peer);
            self.hub
                .handle(Event::Disconnected(key, Leave::IdleTimeout), &mut self.io);
        } else {
            // It spoke since: its deadline is its last input's, still ahead.
            let (at, serial) = (conn.last_input + limit, conn.serial);
            self.io.timers.add(at, key, serial, Timer::Idle);
        }
    }

    /// After a reload: the clients the old line rate held back are read again at the new one
    /// (not at their old deadline, which may be far: their Throttle timer, when it comes,
    /// finds them read already).
    fn read_throttled_again(&mut self) {
        let held: Vec<usize> = self
            .io
            .conns
            .iter()
            .filter(|(_, c)| c.throttled)
            .map(|(key, _)| key)
            .collect();
        for key in held {
            self.io.conns[key].throttled = false;
            self.readable(key);
        }
    }

    /// An IRC client silent for `--irc-ping` is sent `PING`; one that spoke since is timed
    /// from its last input.
    fn ping_deadline(&mut self, key: usize, now: Instant) {
        let (Some(every), Some(conn)) = (self.irc_ping, self.io.conns.get_mut(key)) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        let serial = conn.serial;
        if now.duration_since(conn.last_input) >= every {
            conn.transport.ping();
            self.io.mark_dirty(key);
            self.io.timers.add(now + every, key, serial, Timer::Pinged);
        } else {
            self.io
                .timers
                .add(conn.last_input + every, key, serial, Timer::Ping);
        }
    }

    /// An IRC client sent `PING` `--irc-ping` before `due`: closed if it said nothing since
    /// (timed from the deadline, not from when the loop came to it, which may be later).
    fn pinged_deadline(&mut self, key: usize, due: Instant) {
        let (Some(every), Some(conn)) = (self.irc_ping, self.io.conns.get(key)) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        let pinged_at = due.checked_sub(every).unwrap_or(due);
        if conn.last_input < pinged_at {
            log::info!("{}: no answer to PING", conn.peer);
            self.hub
                .handle(Event::Disconnected(key, Leave::IdleTimeout), &mut self.io);
        } else {
            let (at, serial) = (conn.last_input + every, conn.serial);
            self.io.timers.add(at, key, serial, Timer::Ping);
        }
    }

    /// Hands the hub what the cluster link brought.
    fn take_cluster_news(&mut self) {
        let news = self.inbox.take();
        self.inbound.hand_all(&news, &mut self.hub, &mut self.io);
    }

    /// Steps 2 and 3 of a turn: removals, join notices, then one write per dirty connection.
    fn end_turn(&mut self) {
        loop {
            while let Some((key, why)) = self.io.gone.pop() {
                self.hub.handle(Event::Disconnected(key, why), &mut self.io);
                self.io.close(key);
            }
            self.hub.end_turn(&mut self.io);
            if self.io.dirty.is_empty() {
                break;
            }
            for key in std::mem::take(&mut self.io.dirty) {
                self.flush(key);
            }
            if self.io.gone.is_empty() {
                break;
            }
        }
        // Whoever was owed a stretch of the batch was dirty, and has been written (or given a
        // copy of what its socket did not take).
        self.io.batch.clear();
    }

    /// Writes a connection's output; registers for WRITABLE while some is left; past Flushing,
    /// shuts our side.
    fn flush(&mut self, key: usize) {
        let Some(conn) = self.io.conns.get_mut(key) else {
            return;
        };
        conn.dirty = false;
        match conn.state {
            State::Dead => return self.remove(key),
            State::Draining { .. } => return,
            State::Handshaking | State::Open | State::Flushing { .. } => {}
        }
        let pending = match conn.write(&self.io.batch, &mut self.io.outputs) {
            Ok(Written::All) => false,
            Ok(Written::Pending) => true,
            Err(e) => {
                log::debug!("{}: write: {e}", conn.peer);
                return self.io.kill(key, Leave::Closed);
            }
        };
        if pending != conn.writable {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(key), interest)
                .is_err()
            {
                return self.io.kill(key, Leave::Closed);
            }
            conn.writable = pending;
            if pending {
                self.io.behind += 1;
            } else {
                self.io.behind -= 1;
            }
        }
        if let (State::Flushing { since }, false) = (conn.state, pending) {
            conn.shut_write();
            conn.state = State::Draining { since };
            // Input may already be waiting, with no new readiness to come.
            self.discard_input(key);
        }
    }

    fn remove(&mut self, key: usize) {
        if !self.io.conns.contains(key) {
            return;
        }
        let mut conn = self.io.conns.remove(key);
        if conn.writable {
            self.io.behind -= 1;
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        conn.output.clear(&mut self.io.outputs);
        if conn.counted.is_some() {
            log::info!("{} disconnected (client {key})", conn.peer);
        } else {
            // Never a client: a page or a scrape served, a failed handshake, a refusal.
            log::debug!("{}: closed (connection {key})", conn.peer);
        }
    }
}
