//! `--mode poll`: one thread, one `mio::Poll` loop, every socket non-blocking.
//!
//! Each turn of the loop:
//! 1. read every ready socket (at most [`READS_PER_TURN`] reads each, so no sender starves the
//!    others) into one loop-wide scratch buffer, frame its lines and hand them to the [`Hub`],
//!    whose deliveries are appended to the recipients' output buffers;
//! 2. tell the hub about clients that went away meanwhile (closed, failed, too slow);
//! 3. write each recipient's pending bytes once: one `write` per recipient per turn, however
//!    many messages it got in that turn.
//!
//! A line for many recipients is kept once, in the turn's [`Batch`]: a recipient with nothing
//! pending is owed a stretch of it and written straight from it, and only what its socket does
//! not take is copied into its own buffer. So copies cost memory only for recipients that are
//! behind, and the bytes a turn may read are bounded by how many of those there are (see
//! [`OUTPUT_PER_TURN`]).
//!
//! A TLS connection reads and writes through its [`Tls`] layer, and joins the chat only once
//! its handshake is done, which must be within `--tls-handshake-timeout`.
//!
//! An idle connection holds no buffer: the framer keeps only an unfinished line, and output
//! buffers come from a small pool while output is pending. Writable interest is registered only
//! while a socket has output it could not take.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::batch::{self, Batch};
use crate::cluster::link::{Inbound, Incoming, Link};
use crate::config::ServerConfig;
use crate::framing::{Frame, LineFramer};
use crate::hub::{ClientId, Event, Hub, Leave, Line, Outbox};
use crate::memory;
use crate::net::{self, Listeners, SpareFd};
use crate::node_wire as wire;
use crate::rate::{Admit, Bucket, RateLimit};
use crate::shutdown::DRAIN_TIME;
use crate::tls::Tls;

const LISTENER: Token = Token(usize::MAX - 1);
const STOP: Token = Token(usize::MAX - 2);
const TLS_LISTENER: Token = Token(usize::MAX - 3);
/// The cluster link has something for the loop.
const CLUSTER: Token = Token(usize::MAX - 4);
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
/// How long a closing connection may take to flush and to close its side.
const LINGER: Duration = Duration::from_secs(2);
/// After accept failed for want of descriptors, wait this long before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Runs the poll server until SIGINT or SIGTERM arrives on `stop`.
pub fn run(
    listeners: Listeners,
    config: &ServerConfig,
    stop: std::os::unix::net::UnixStream,
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
    let mut stop = UnixStream::from_std(stop);
    poll.registry()
        .register(&mut stop, STOP, Interest::READABLE)?;
    let inbox: Arc<std::sync::Mutex<Vec<Incoming>>> = Arc::default();
    let link = match config.cluster_config() {
        Some(cluster) => {
            let waker = mio::Waker::new(poll.registry(), CLUSTER)?;
            let queue = Arc::clone(&inbox);
            Some(Link::start(cluster, move |incoming| {
                queue
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(incoming);
                let _ = waker.wake();
            })?)
        }
        None => None,
    };
    let mut server = Server {
        hub: Hub::new(config.hub_config(), Instant::now()),
        io: Io {
            conns: Slab::new(),
            dirty: Vec::new(),
            gone: Vec::new(),
            pool: BufPool::default(),
            max_backlog: config.max_backlog as usize,
            batch: Batch::default(),
            behind: 0,
            link,
        },
        inbox,
        inbound: Inbound::new(&config.cluster_name),
        poll,
        listener: plain,
        tls_listener: tls,
        handshake_time: config.handshake_limit(),
        handshakes: Vec::new(),
        handshake_budget: 0,
        _stop: stop,
        scratch: vec![0; SCRATCH].into_boxed_slice(),
        max_line: config.max_line as usize,
        again: Vec::new(),
        lingering: Vec::new(),
        accept_paused_until: None,
        spare: SpareFd::new(),
        stopping_at: None,
        read_budget: 0,
        limit: config.rate_limit(),
        throttled: Vec::new(),
        idle_timeout: config.idle_limit(),
        next_idle_sweep: Instant::now(),
        release: memory::Release::new(Instant::now()),
    };
    server.run()
}

enum State {
    /// Reading and writing.
    Open,
    /// The hub is done with it: flush what is queued, then close our side.
    Flushing { since: Instant },
    /// Our side is closed: read and discard until the peer closes too (closing with unread
    /// input would reset the connection and could destroy the last lines in flight).
    Draining { since: Instant },
    /// Failed or dropped: remove without flushing.
    Dead,
}

struct Conn {
    stream: TcpStream,
    /// Its TLS layer, for a connection to the TLS listener.
    tls: Option<Box<Tls>>,
    /// The hub knows of it (a TLS connection joins once its handshake is done).
    joined: bool,
    peer: SocketAddr,
    framer: LineFramer,
    /// Bytes queued for the client; no allocation while empty.
    out: Vec<u8>,
    /// The stretch of the turn's batch owed to the client, written before `out` (which is
    /// empty while it is owed anything).
    owed: Option<Range<usize>>,
    state: State,
    /// WRITABLE interest is registered.
    writable: bool,
    /// Flood control.
    bucket: Bucket,
    /// Out of tokens: not read until then.
    throttled_until: Option<Instant>,
    /// When it last sent anything, for `--idle-timeout`.
    last_input: Instant,
    /// In `Io::dirty`.
    dirty: bool,
}

/// Output buffers are lent to connections only while they have output pending.
#[derive(Default)]
struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    const KEEP: usize = 64;
    const KEEP_CAPACITY: usize = 64 * 1024;

    fn get(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(256))
    }

    fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() != 0
            && buf.capacity() <= Self::KEEP_CAPACITY
            && self.free.len() < Self::KEEP
        {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// The connections and what the hub asked of them: the [`Outbox`] of poll mode.
struct Io {
    conns: Slab<Conn>,
    /// Connections with output to write (or to close) at the end of the turn.
    dirty: Vec<usize>,
    /// Connections gone that the hub has not been told about yet.
    gone: Vec<(ClientId, Leave)>,
    pool: BufPool,
    max_backlog: usize,
    /// This turn's lines, each once.
    batch: Batch,
    /// Connections with output their socket did not take (registered for WRITABLE).
    behind: usize,
    /// To the other nodes, in a cluster.
    link: Option<Link>,
}

impl Io {
    fn mark_dirty(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    /// The connection failed or closed: forget its output; remove it after telling the hub.
    fn kill(&mut self, key: usize, why: Leave) {
        if let Some(c) = self.conns.get_mut(key)
            && !matches!(c.state, State::Dead)
        {
            c.state = State::Dead;
            self.pool.put(std::mem::take(&mut c.out));
            c.owed = None;
            self.gone.push((key, why));
        }
    }
}

impl Outbox for Io {
    fn send(&mut self, to: ClientId, line: &Line) {
        let Some(c) = self.conns.get_mut(to) else {
            return;
        };
        if !matches!(c.state, State::Open) {
            return;
        }
        if c.out.is_empty() {
            // Nothing pending: owe it the line in the batch, no copy, while it stays one
            // stretch of the batch.
            match &mut c.owed {
                None => {
                    c.owed = Some(self.batch.put(line));
                    if !c.dirty {
                        c.dirty = true;
                        self.dirty.push(to);
                    }
                    return;
                }
                Some(owed) => {
                    if batch::extend(owed, self.batch.put(line)) {
                        return;
                    }
                    let owed = owed.clone();
                    c.owed = None;
                    c.out = self.pool.get();
                    c.out.extend_from_slice(&self.batch.bytes()[owed]);
                }
            }
        }
        if c.out.len() + line.len() > self.max_backlog {
            log::info!(
                "{} too slow: dropped with {} bytes queued",
                c.peer,
                c.out.len()
            );
            self.kill(to, Leave::TooSlow);
            return;
        }
        if c.out.capacity() == 0 {
            c.out = self.pool.get();
        }
        c.out.extend_from_slice(line);
        self.mark_dirty(to);
    }

    fn publish(&mut self, body: &wire::Body<'_>) {
        if let Some(link) = &self.link {
            link.publish(body);
        }
    }

    fn claim(&mut self, id: ClientId, name: &str) {
        if let Some(link) = &self.link {
            link.claim(id, name);
        }
    }

    fn release(&mut self, name: &str) {
        if let Some(link) = &self.link {
            link.release(name);
        }
    }

    fn close(&mut self, who: ClientId) {
        if let Some(c) = self.conns.get_mut(who) {
            if matches!(c.state, State::Open) {
                c.state = State::Flushing {
                    since: Instant::now(),
                };
            }
            self.mark_dirty(who);
        }
    }
}

struct Server {
    hub: Hub,
    io: Io,
    poll: Poll,
    /// None once stopping, or with `--no-plain`.
    listener: Option<TcpListener>,
    /// The TLS listener and its settings; None once stopping, or without `--tls-port`.
    tls_listener: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    handshake_time: Duration,
    /// TLS connections in their handshake, and when it must be done.
    handshakes: Vec<(usize, Instant)>,
    /// Handshake steps this turn may still take (see [`HANDSHAKES_PER_TURN`]).
    handshake_budget: usize,
    _stop: UnixStream,
    scratch: Box<[u8]>,
    max_line: usize,
    /// Connections that used their read budget: read them again next turn.
    again: Vec<usize>,
    /// Closing connections, to close for good when their linger time is over.
    lingering: Vec<(usize, Instant)>,
    accept_paused_until: Option<Instant>,
    spare: SpareFd,
    stopping_at: Option<Instant>,
    /// Bytes this turn may still read (see [`OUTPUT_PER_TURN`]).
    read_budget: usize,
    limit: RateLimit,
    /// Connections out of tokens, and when to read them again.
    throttled: Vec<(usize, Instant)>,
    idle_timeout: Option<Duration>,
    next_idle_sweep: Instant,
    /// When to return freed memory (the loop's events are its activity).
    release: memory::Release,
    /// What the cluster link handed over, for the loop to take when woken.
    inbox: Arc<std::sync::Mutex<Vec<Incoming>>>,
    /// Turns what the cluster link hands over into hub events.
    inbound: Inbound,
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// Writes `bytes` (through its TLS layer, if it has one) until the socket takes no more;
/// returns how many it took.
fn send(stream: &mut TcpStream, tls: &mut Option<Box<Tls>>, bytes: &[u8]) -> io::Result<usize> {
    match tls {
        Some(tls) => tls.send(stream, bytes),
        None => write_until_blocked(stream, bytes),
    }
}

/// Reads from the connection (through its TLS layer, if it has one).
fn receive(
    stream: &mut TcpStream,
    tls: &mut Option<Box<Tls>>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match tls {
        Some(tls) => tls.read_from(stream, buf),
        None => stream.read(buf),
    }
}

/// Writes `bytes` until the socket takes no more; returns how many it took.
fn write_until_blocked(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if would_block(&e) => break,
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

impl Server {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Some(at) = self.stopping_at
                && (self.io.conns.is_empty() || at.elapsed() > DRAIN_TIME)
            {
                log::info!("stopped; {} connections cut short", self.io.conns.len());
                if let Some(link) = &self.io.link {
                    link.stop(Duration::from_secs(2));
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
                    LISTENER => self.accept(false),
                    TLS_LISTENER => self.accept(true),
                    STOP => self.begin_stop(),
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
            self.wake_throttled();
            self.sweep_idle();
            if self
                .accept_paused_until
                .is_some_and(|t| Instant::now() >= t)
            {
                self.accept_paused_until = None;
                self.accept(false);
                self.accept(true);
            }
            self.sweep_handshakes();
            self.end_turn();
            self.sweep_lingering();
        }
    }

    fn timeout(&self) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut timeout = None;
        if self.accept_paused_until.is_some()
            || !self.lingering.is_empty()
            || self.stopping_at.is_some()
        {
            timeout = Some(ACCEPT_PAUSE);
        }
        if self.idle_timeout.is_some() {
            timeout = Some(timeout.unwrap_or(Duration::MAX).min(Duration::from_secs(1)));
        }
        if let Some(first) = self.throttled.iter().map(|&(_, t)| t).min() {
            let wait = first.saturating_duration_since(Instant::now());
            timeout = Some(timeout.unwrap_or(Duration::MAX).min(wait));
        }
        if let Some(wait) = self.release.wait(Instant::now()) {
            timeout = Some(timeout.unwrap_or(Duration::MAX).min(wait));
        }
        let deadlines = self
            .handshakes
            .iter()
            .map(|&(_, t)| t)
            .chain(self.hub.next_deadline())
            .min();
        if let Some(first) = deadlines {
            let wait = first.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
            timeout = Some(timeout.unwrap_or(Duration::MAX).min(wait));
        }
        timeout
    }

    /// Accepts what waits on the plain listener, or on the TLS one.
    fn accept(&mut self, tls: bool) {
        if self.accept_paused_until.is_some() {
            return;
        }
        let (listener, tls_config) = match (tls, &self.listener, &self.tls_listener) {
            (false, Some(l), _) => (l, None),
            (true, _, Some((l, config))) => (l, Some(config)),
            _ => return,
        };
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    net::tune(&stream);
                    let tls = match tls_config.map(Tls::server).transpose() {
                        Ok(tls) => tls.map(Box::new),
                        Err(e) => {
                            log::warn!("{peer}: TLS: {e}");
                            continue;
                        }
                    };
                    let entry = self.io.conns.vacant_entry();
                    let key = entry.key();
                    let registered =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(key), Interest::READABLE);
                    if let Err(e) = registered {
                        log::warn!("cannot register {peer}: {e}");
                        continue;
                    }
                    let joined = tls.is_none();
                    if !joined {
                        self.handshakes
                            .push((key, Instant::now() + self.handshake_time));
                    }
                    entry.insert(Conn {
                        stream,
                        tls,
                        joined,
                        peer,
                        framer: LineFramer::default(),
                        out: Vec::new(),
                        owed: None,
                        state: State::Open,
                        writable: false,
                        dirty: false,
                        bucket: Bucket::new(self.limit, Instant::now()),
                        throttled_until: None,
                        last_input: Instant::now(),
                    });
                    if joined {
                        log::info!("{peer} connected (client {key})");
                        self.hub
                            .handle(Event::Connected(key, peer.ip()), &mut self.io);
                    } else {
                        log::debug!("{peer}: TLS handshake (client {key})");
                    }
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) if net::out_of_descriptors(&e) => {
                    let turned_away = self.spare.turn_away(|| listener.accept().map(|(s, _)| s));
                    log::warn!("accept: {e}; turned a connection away: {turned_away}");
                    if !turned_away {
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                }
                Err(e) => {
                    // ECONNABORTED and the like concern one connection; try the next.
                    log::warn!("accept: {e}");
                    if e.kind() != io::ErrorKind::ConnectionAborted {
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                }
            }
        }
    }

    fn readable(&mut self, key: usize) {
        let Some(conn) = self.io.conns.get_mut(key) else {
            return;
        };
        match conn.state {
            State::Open => {}
            State::Dead => return,
            State::Flushing { .. } | State::Draining { .. } => return self.discard_input(key),
        }
        if conn.throttled_until.is_some() {
            return; // read again when its time comes (see `wake_throttled`)
        }
        // Lines held back by a throttle go before anything new.
        if conn.framer.has_pending_lines() && !self.frames(key, None) {
            return;
        }
        for _ in 0..READS_PER_TURN {
            if self.read_budget == 0 {
                break;
            }
            let Some(conn) = self.io.conns.get_mut(key) else {
                return;
            };
            if !conn.joined {
                if self.handshake_budget == 0 {
                    break; // read again next turn
                }
                self.handshake_budget -= 1;
            }
            let want = self.read_budget.min(SCRATCH);
            let read = receive(&mut conn.stream, &mut conn.tls, &mut self.scratch[..want]);
            if conn.tls.is_some() {
                // The handshake may have moved on, and may have something to send.
                self.io.mark_dirty(key);
                if !self.tls_joined(key) {
                    // Still in its handshake (no plaintext yet), or done for.
                    match read {
                        Err(e) if would_block(&e) || interrupted(&e) => {}
                        Ok(_) => self.io.kill(key, Leave::Closed),
                        Err(e) => {
                            if let Some(conn) = self.io.conns.get_mut(key) {
                                log::info!("{}: TLS handshake failed: {e}", conn.peer);
                                let _ = send(&mut conn.stream, &mut conn.tls, &[]);
                            }
                            self.io.kill(key, Leave::Closed);
                        }
                    }
                    return;
                }
            }
            let Some(conn) = self.io.conns.get_mut(key) else {
                return;
            };
            match read {
                Ok(0) => return self.end_of_input(key),
                Ok(n) => {
                    self.read_budget -= n;
                    conn.last_input = Instant::now();
                    if !self.frames(key, Some(n)) {
                        return;
                    }
                }
                Err(e) if would_block(&e) => {
                    // Nothing more to read: whatever its pace, it paused.
                    conn.bucket.drained();
                    return;
                }
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    log::debug!("{}: read: {e}", conn.peer);
                    if conn.tls.is_some() {
                        // The alert, if the socket takes it.
                        let _ = send(&mut conn.stream, &mut conn.tls, &[]);
                    }
                    return self.io.kill(key, Leave::Closed);
                }
            }
        }
        self.again.push(key);
    }

    /// Hands the hub what the cluster link brought.
    fn take_cluster_news(&mut self) {
        let incoming = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|e| e.into_inner()));
        for item in &incoming {
            self.inbound.hand(item, &mut self.hub, &mut self.io);
        }
    }

    /// Tells the hub of a TLS connection whose handshake is done, if it has not been told yet.
    /// Returns whether the hub knows of it (reading may go on).
    fn tls_joined(&mut self, key: usize) -> bool {
        let Some(conn) = self.io.conns.get_mut(key) else {
            return false;
        };
        if conn.joined {
            return true;
        }
        if conn.tls.as_ref().is_none_or(|t| t.is_handshaking())
            || !matches!(conn.state, State::Open)
        {
            return false;
        }
        conn.joined = true;
        let peer = conn.peer;
        log::info!("{peer} connected over TLS (client {key})");
        self.hub
            .handle(Event::Connected(key, peer.ip()), &mut self.io);
        self.io
            .conns
            .get(key)
            .is_some_and(|c| matches!(c.state, State::Open))
    }

    /// Closes the TLS connections whose handshake took too long.
    fn sweep_handshakes(&mut self) {
        if self.handshakes.is_empty() {
            return;
        }
        let now = Instant::now();
        let conns = &self.io.conns;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.handshakes)
            .into_iter()
            .filter(|&(key, _)| conns.get(key).is_some_and(|c| !c.joined))
            .partition(|&(_, t)| t <= now);
        self.handshakes = waiting;
        for (key, _) in due {
            log::info!("{}: TLS handshake timed out", self.io.conns[key].peer);
            self.io.kill(key, Leave::Closed);
        }
    }

    /// Hands lines to the hub: those framed from the `n` bytes just read into the scratch
    /// buffer, or (with `None`) those held back earlier. Each line costs a token; when the
    /// client runs out, the rest waits in its framer. Returns whether reading may go on.
    fn frames(&mut self, key: usize, n: Option<usize>) -> bool {
        let now = Instant::now();
        let limit = self.limit;
        let mut verdict = Admit::Go;
        let mut framer = std::mem::take(&mut self.io.conns[key].framer);
        let mut on_frame = |frame: Frame<'_>| {
            let Some(conn) = self.io.conns.get_mut(key) else {
                return ControlFlow::Break(());
            };
            verdict = conn.bucket.admit(limit, now);
            if verdict != Admit::Go {
                return ControlFlow::Break(());
            }
            let event = match frame {
                Frame::Line(line) => Event::Line(key, line),
                Frame::TooLong => Event::LineTooLong(key),
            };
            self.hub.handle(event, &mut self.io);
            if self
                .io
                .conns
                .get(key)
                .is_some_and(|c| matches!(c.state, State::Open))
            {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        };
        match n {
            Some(n) => framer.feed(&self.scratch[..n], self.max_line, &mut on_frame),
            None => {
                let _ = framer.resume(self.max_line, &mut on_frame);
            }
        }
        let Some(conn) = self.io.conns.get_mut(key) else {
            return false;
        };
        conn.framer = framer;
        match verdict {
            Admit::Go => matches!(conn.state, State::Open),
            Admit::Wait(wait) => {
                conn.throttled_until = Some(now + wait);
                self.throttled.push((key, now + wait));
                false
            }
            Admit::Flooding => {
                log::info!("{}: flooding, dropped", conn.peer);
                conn.framer = LineFramer::default();
                self.hub
                    .handle(Event::Disconnected(key, Leave::Flooding), &mut self.io);
                false
            }
        }
    }

    /// Reads again the throttled connections whose wait is over.
    fn wake_throttled(&mut self) {
        if self.throttled.is_empty() {
            return;
        }
        let now = Instant::now();
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.throttled)
            .into_iter()
            .partition(|&(_, t)| t <= now);
        self.throttled = waiting;
        for (key, until) in due {
            if let Some(conn) = self.io.conns.get_mut(key)
                && conn.throttled_until == Some(until)
            {
                conn.throttled_until = None;
                self.readable(key);
            }
        }
    }

    /// Closes the connections silent for longer than `--idle-timeout`.
    fn sweep_idle(&mut self) {
        let Some(limit) = self.idle_timeout else {
            return;
        };
        let now = Instant::now();
        if now < self.next_idle_sweep {
            return;
        }
        self.next_idle_sweep = now + Duration::from_secs(1);
        let idle: Vec<usize> = self
            .io
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Open) && now - c.last_input > limit)
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            log::info!("{}: idle timeout", self.io.conns[key].peer);
            self.hub
                .handle(Event::Disconnected(key, Leave::IdleTimeout), &mut self.io);
        }
    }

    /// The client closed its side: its unfinished last line still counts (flood control aside:
    /// it is the last one).
    fn end_of_input(&mut self, key: usize) {
        let mut framer = std::mem::take(&mut self.io.conns[key].framer);
        let mut feed_rest = |frame: Frame<'_>| {
            if let Frame::Line(line) = frame {
                self.hub.handle(Event::Line(key, line), &mut self.io);
            }
            ControlFlow::Continue(())
        };
        let _ = framer.resume(self.max_line, &mut feed_rest);
        framer.finish(self.max_line, &mut feed_rest);
        self.io.kill(key, Leave::Closed);
    }

    /// Reads and drops what a closing connection still sends; removes it at end of input.
    fn discard_input(&mut self, key: usize) {
        let conn = &mut self.io.conns[key];
        loop {
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(_) => break,
            }
        }
        match conn.state {
            State::Draining { .. } => self.remove(key),
            _ => {
                conn.state = State::Dead;
                self.io.mark_dirty(key);
            }
        }
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

    fn flush(&mut self, key: usize) {
        let Some(conn) = self.io.conns.get_mut(key) else {
            return;
        };
        conn.dirty = false;
        if matches!(conn.state, State::Dead) {
            return self.remove(key);
        }
        if matches!(conn.state, State::Draining { .. }) {
            return;
        }
        // What it is owed of the batch first, straight from there; then its own buffer, unless
        // the socket is full already.
        let mut full = false;
        if let Some(owed) = conn.owed.take() {
            let bytes = &self.io.batch.bytes()[owed];
            match send(&mut conn.stream, &mut conn.tls, bytes) {
                Ok(n) if n < bytes.len() => {
                    full = true;
                    conn.out = self.io.pool.get();
                    conn.out.extend_from_slice(&bytes[n..]);
                }
                Ok(_) => {}
                Err(e) => {
                    log::debug!("{}: write: {e}", conn.peer);
                    return self.io.kill(key, Leave::Closed);
                }
            }
        }
        if !full && (!conn.out.is_empty() || conn.tls.is_some()) {
            match send(&mut conn.stream, &mut conn.tls, &conn.out) {
                Ok(0) if conn.out.is_empty() => {}
                Ok(n) if n == conn.out.len() => self.io.pool.put(std::mem::take(&mut conn.out)),
                Ok(n) => drop(conn.out.drain(..n)),
                Err(e) => {
                    log::debug!("{}: write: {e}", conn.peer);
                    return self.io.kill(key, Leave::Closed);
                }
            }
        }
        let pending = !conn.out.is_empty() || conn.tls.as_ref().is_some_and(|t| t.wants_write());
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
        if let (State::Flushing { since }, false) = (&conn.state, pending) {
            let since = *since;
            if let Some(tls) = &mut conn.tls {
                tls.close();
                let _ = tls.write_to(&mut conn.stream);
            }
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            conn.state = State::Draining { since };
            self.lingering.push((key, since));
            // Input may already be waiting, with no new readiness to come.
            self.discard_input(key);
        } else if let State::Flushing { since } = conn.state {
            self.lingering.push((key, since));
        }
    }

    /// Closes for good the connections that took too long to flush or to close.
    fn sweep_lingering(&mut self) {
        if self.lingering.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut keep = Vec::new();
        for (key, since) in std::mem::take(&mut self.lingering) {
            let same = self.io.conns.get(key).is_some_and(|c| match c.state {
                State::Flushing { since: s } | State::Draining { since: s } => s == since,
                _ => false,
            });
            if !same {
                continue;
            }
            if now.duration_since(since) > LINGER {
                self.remove(key);
            } else if !keep.contains(&(key, since)) {
                keep.push((key, since));
            }
        }
        self.lingering = keep;
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
        self.io.pool.put(conn.out);
        log::info!("{} disconnected (client {key})", conn.peer);
    }

    fn begin_stop(&mut self) {
        if self.stopping_at.is_some() {
            return;
        }
        log::info!("stopping: telling {} clients", self.hub.online());
        self.stopping_at = Some(Instant::now());
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some((mut listener, _)) = self.tls_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.hub.shutdown(&mut self.io);
    }
}
