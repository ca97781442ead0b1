//! `--mode threads`: the report's thread-per-client design, done as well as that model allows.
//!
//! Blocking std sockets, no event loop. The accept loop runs on the main thread; each client
//! gets one thread, which reads its socket, frames its lines and hands them to the shared
//! [`Hub`] under the room lock. As in the report, the thread that read a line delivers it
//! itself, but without its flaws: every write is non-blocking, the lines of one read go to each
//! recipient in one `send`, and only a client whose socket is full gets a second thread, a
//! writer that drains its backlog while it is behind (see [`delivery`]). No lock is held across
//! a write that can block, so one client that stops reading slows no one; past `--max-backlog`
//! it is dropped, as in poll mode.
//!
//! A TLS client's thread does its handshake (within `--tls-handshake-timeout`) before it joins;
//! its bytes then go through its TLS layer both ways. A client the hub closed is cut
//! [`LINGER`] later if its thread has not seen it go by then (see [`reap`]).
//!
//! Cost per connection: one descriptor and one thread, whose stack (`--thread-stack`) is
//! resident only as far as it is touched. A client's reads go to a small buffer on its stack,
//! and to a larger one on the heap only while it sends faster than that buffer takes.

mod delivery;
mod tls_clients;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::cluster::link::{Inbound, Incoming, Link};
use crate::config::ServerConfig;
use crate::framing::{Frame, LineFramer};
use crate::hub::{ClientId, Event, Hub, Leave};
use crate::memory;
use crate::net::{self, Listeners, SpareFd};
use crate::rate::{Admit, Bucket, RateLimit};
use crate::shutdown::DRAIN_TIME;
use crate::tls::Tls;
use delivery::{Courier, Peer, Post, Writers};
use tls_clients::{Arrivals, tls_accept_loop};

/// A read of this size fits on a client thread's stack (it is what the report reads).
const SMALL_READ: usize = 1024;
/// A client that fills the small buffer is read this much at a time until it slows down.
const LARGE_READ: usize = 64 * 1024;
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Most connections accepted and announced in one hold of the room lock.
const ACCEPT_BATCH: usize = 1024;
/// Most visits (see [`visit`]) played in one hold of the room lock.
const VISITS_PER_HOLD: usize = 64;
/// Idle couriers kept for reuse; more are freed when they come back.
const COURIERS_KEPT: usize = 16;
/// How long a client the hub closed may take to take its last lines and close its side.
const LINGER: Duration = Duration::from_secs(2);

/// The chat and every client's socket, behind the room lock.
struct Room {
    hub: Hub,
    peers: Slab<Arc<Peer>>,
    max_backlog: usize,
    /// Holds of the room lock so far; a courier's claims are good for one hold.
    rounds: u64,
    /// Clients the hub closed, for [`reap`].
    closed: Vec<Arc<Peer>>,
    /// To the other nodes, in a cluster.
    link: Option<Link>,
}

/// The room, as seen by the thread holding its lock: the hub, and a courier that records what
/// the hub's decisions cost in writes.
struct Held<'a> {
    room: MutexGuard<'a, Room>,
    courier: &'a mut Courier,
}

impl Held<'_> {
    /// Hands one event to the hub, then whatever it caused, and ends the turn (announces joins).
    fn handle(&mut self, event: Event<'_>) {
        self.with_hub(|hub, post| {
            hub.handle(event, post);
            hub.end_turn(post);
        });
    }

    /// Hands one event to the hub without ending the turn: joins stay pending, to be announced
    /// together by [`Held::end_turn`].
    fn handle_in_turn(&mut self, event: Event<'_>) {
        self.with_hub(|hub, post| hub.handle(event, post));
    }

    fn end_turn(&mut self) {
        self.with_hub(|hub, post| hub.end_turn(post));
    }

    /// Runs `f` on the hub with this hold's outbox, then tells the hub of the clients that
    /// were dropped as too slow meanwhile.
    fn with_hub(&mut self, f: impl FnOnce(&mut Hub, &mut Post<'_>)) {
        let Room {
            hub,
            peers,
            max_backlog,
            closed,
            link,
            ..
        } = &mut *self.room;
        let mut too_slow = Vec::new();
        let mut post = Post {
            peers,
            courier: self.courier,
            too_slow: &mut too_slow,
            closed,
            max_backlog: *max_backlog,
            link: link.as_ref(),
        };
        hub.tick(Instant::now(), &mut post);
        f(hub, &mut post);
        while let Some(id) = post.too_slow.pop() {
            hub.handle(Event::Disconnected(id, Leave::TooSlow), &mut post);
        }
    }
}

struct Shared {
    room: Mutex<Room>,
    /// Couriers not in use.
    couriers: Mutex<Vec<Courier>>,
    /// Client threads running (readers and writers).
    threads: Mutex<usize>,
    /// Signalled when a client thread ends.
    thread_ended: Condvar,
    stopping: AtomicBool,
    /// Client threads ended so far, for [`tidy`].
    ended: AtomicU64,
    max_line: usize,
    limit: RateLimit,
    idle: Option<Duration>,
    handshake_time: Duration,
    stack: usize,
    /// Most client threads at once, readers and writers.
    max_threads: usize,
    /// Most reader threads (clients): the rest of `max_threads` is kept for writers.
    max_readers: usize,
    /// TLS handshake steps under way (the public-key work, not the waits for the client), at
    /// most one per core but one (one core is left to the chat): the other new TLS clients'
    /// threads wait for their turn asleep, not competing for the cores with the chat.
    handshaking: Mutex<usize>,
    handshake_done: Condvar,
    max_handshakes: usize,
    /// TLS clients waiting to join (see [`join_after_handshake`]).
    arrivals: Mutex<Arrivals>,
    /// Signalled when waiting TLS clients have joined.
    joins_done: Condvar,
}

impl Shared {
    /// Runs `f` with the room lock held, then makes the writes it caused, lock released.
    fn with_room<T>(self: &Arc<Self>, f: impl FnOnce(&mut Held<'_>) -> T) -> T {
        let mut courier;
        let result = {
            let mut room = self.room.lock().unwrap_or_else(|e| e.into_inner());
            // Taken only once the lock is held: threads waiting for it hold no courier, so
            // there are only as many couriers as threads delivering at once.
            courier = self.couriers().pop().unwrap_or_default();
            room.rounds += 1;
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

    fn threads(&self) -> MutexGuard<'_, usize> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a thread about to start, if there is room for it under `limit`.
    fn reserve_thread(&self, limit: usize) -> bool {
        let mut threads = self.threads();
        if *threads >= limit {
            return false;
        }
        *threads += 1;
        true
    }

    fn thread_done(&self) {
        *self.threads() -= 1;
        self.ended.fetch_add(1, Ordering::Relaxed);
        self.thread_ended.notify_all();
    }

    /// Starts a client thread (already counted by [`Shared::reserve_thread`]), which uncounts
    /// itself when it ends.
    fn spawn(
        self: &Arc<Self>,
        name: String,
        body: impl FnOnce(&Arc<Shared>) + Send + 'static,
    ) -> bool {
        let shared = Arc::clone(self);
        let started = thread::Builder::new()
            .name(name)
            .stack_size(self.stack)
            .spawn(move || {
                // Uncounted even if `body` panics.
                struct Done(Arc<Shared>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.thread_done();
                    }
                }
                let done = Done(shared);
                body(&done.0);
            });
        match started {
            Ok(_) => true,
            Err(e) => {
                log::warn!("cannot start a thread: {e}");
                self.thread_done();
                false
            }
        }
    }
}

/// Hands the hub what the cluster link brings, one hold of the room lock for all that waits.
fn from_cluster(rx: &std::sync::mpsc::Receiver<Incoming>, cluster: &str, shared: &Arc<Shared>) {
    let mut inbound = Inbound::new(cluster);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(1023));
        shared.with_room(|room| {
            room.with_hub(|hub, post| {
                for item in &batch {
                    inbound.hand(item, hub, post);
                }
                hub.end_turn(post);
            })
        });
    }
}

impl Writers for Arc<Shared> {
    fn start(&self, peer: Arc<Peer>) -> bool {
        self.reserve_thread(self.max_threads)
            && self.spawn(format!("write-{}", peer.addr), move |_| {
                peer.write_stalled()
            })
    }
}

/// Runs the threads server until SIGINT or SIGTERM arrives on `stop`.
pub fn run(listeners: Listeners, config: &ServerConfig, stop: UnixStream) -> io::Result<()> {
    memory::limit_arenas(thread::available_parallelism().map_or(2, |n| n.get()));
    let max_threads = match config.max_threads {
        0 => system_thread_limit(),
        n => n,
    };
    let max_readers = (max_threads - max_threads / 8).max(1);
    let mut hub_config = config.hub_config();
    if hub_config.max_clients > max_readers {
        hub_config.max_clients = max_readers;
        log::warn!(
            "threads mode: at most {max_readers} clients ({max_threads} threads, one per client \
             and an eighth kept for writers); --max-clients lowered to that"
        );
    }
    let shared = Arc::new(Shared {
        room: Mutex::new(Room {
            hub: Hub::new(hub_config, Instant::now()),
            peers: Slab::new(),
            max_backlog: config.max_backlog as usize,
            rounds: 0,
            closed: Vec::new(),
            link: None,
        }),
        couriers: Mutex::new(Vec::new()),
        threads: Mutex::new(0),
        thread_ended: Condvar::new(),
        stopping: AtomicBool::new(false),
        ended: AtomicU64::new(0),
        max_line: config.max_line as usize,
        limit: config.rate_limit(),
        idle: config.idle_limit(),
        handshake_time: config.handshake_limit(),
        stack: config.thread_stack as usize * 1024,
        max_threads,
        max_readers,
        handshaking: Mutex::new(0),
        handshake_done: Condvar::new(),
        max_handshakes: thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1).max(1)),
        arrivals: Mutex::new(Arrivals::default()),
        joins_done: Condvar::new(),
    });
    if let Some(cluster) = config.cluster_config() {
        let (tx, rx) = std::sync::mpsc::channel();
        let name = cluster.name.clone();
        let link = Link::start(cluster, move |incoming| {
            let _ = tx.send(incoming);
        })?;
        shared.room.lock().unwrap_or_else(|e| e.into_inner()).link = Some(link);
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("from-cluster".into())
            .stack_size(256 * 1024)
            .spawn(move || from_cluster(&rx, &name, &shared))?;
    }
    let mut wake = Vec::new();
    for listener in listeners
        .plain
        .iter()
        .chain(listeners.tls.iter().map(|(l, _)| l))
    {
        wake.push(net::local_peer(listener.local_addr()?));
    }
    {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("stop".into())
            .stack_size(64 * 1024)
            .spawn(move || wait_for_stop(stop, &shared, wake))?;
    }
    {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("tidy".into())
            .stack_size(64 * 1024)
            .spawn(move || tidy(&shared))?;
    }
    let tls_loop = match (listeners.tls, &listeners.plain) {
        (Some((listener, config)), Some(_)) => {
            let shared = Arc::clone(&shared);
            Some(
                thread::Builder::new()
                    .name("accept-tls".into())
                    .stack_size(256 * 1024)
                    .spawn(move || tls_accept_loop(&listener, &config, &shared))?,
            )
        }
        (Some((listener, config)), None) => {
            tls_accept_loop(&listener, &config, &shared);
            None
        }
        (None, _) => None,
    };
    if let Some(listener) = listeners.plain {
        accept_loop(&listener, &shared);
    }
    if let Some(tls_loop) = tls_loop {
        let _ = tls_loop.join();
    }
    drain(&shared);
    let link = shared.with_room(|room| room.room.link.clone());
    if let Some(link) = link {
        link.stop(Duration::from_secs(2));
    }
    Ok(())
}

/// What to do when accept fails: a pause, except for errors that concern one connection.
fn accept_failed(e: &io::Error, listener: &TcpListener, spare: &mut SpareFd) {
    if e.kind() == io::ErrorKind::Interrupted {
        return;
    }
    if net::out_of_descriptors(e) {
        let turned_away = spare.turn_away(|| listener.accept().map(|(s, _)| s));
        log::warn!("accept: {e}; turned a connection away: {turned_away}");
        if !turned_away {
            thread::sleep(ACCEPT_PAUSE);
        }
        return;
    }
    log::warn!("accept: {e}");
    if e.kind() != io::ErrorKind::ConnectionAborted {
        thread::sleep(ACCEPT_PAUSE);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut spare = SpareFd::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok(first) => {
                // Take other connections already waiting, then announce them all in one turn:
                // a burst of N joins then costs each client N / ACCEPT_BATCH notices, not N.
                let mut waiting = vec![first];
                if listener.set_nonblocking(true).is_ok() {
                    while waiting.len() < ACCEPT_BATCH {
                        match listener.accept() {
                            Ok(next) => waiting.push(next),
                            Err(_) => break,
                        }
                    }
                    let _ = listener.set_nonblocking(false);
                }
                let (mut visits, joiners): (Vec<_>, Vec<_>) = waiting
                    .into_iter()
                    .map(|(stream, addr)| {
                        let early = Early::read(&stream);
                        (stream, addr, early)
                    })
                    .partition(|(_, _, early)| early.is_whole_visit(shared.limit));
                let joined = shared.with_room(|room| {
                    let joined: Vec<_> = joiners
                        .into_iter()
                        .filter_map(|(stream, addr, early)| {
                            join(room, stream, addr, shared, true, None)
                                .map(|(id, p)| (id, p, early))
                        })
                        .collect();
                    room.end_turn();
                    joined
                });
                // Welcomes and join notices are written: whoever reads its welcome can count
                // on the others having been told of its join, as in poll mode.
                for (id, peer, early) in joined {
                    start_reader(id, peer, early, shared);
                }
                // Each visit is told to the whole room, and a hold of the lock buffers what it
                // causes until the hold ends: a few visits per hold.
                while !visits.is_empty() {
                    let chunk: Vec<_> = visits.drain(..visits.len().min(VISITS_PER_HOLD)).collect();
                    shared.with_room(|room| {
                        let joined: Vec<_> = chunk
                            .into_iter()
                            .filter_map(|(stream, addr, early)| {
                                join(room, stream, addr, shared, false, None)
                                    .map(|(id, _)| (id, early))
                            })
                            .collect();
                        room.end_turn();
                        for (id, early) in joined {
                            visit(room, id, early, shared);
                        }
                    });
                }
            }
            Err(e) => accept_failed(&e, listener, &mut spare),
        }
    }
}

/// What a connection had sent by the time it was accepted.
struct Early {
    bytes: Vec<u8>,
    /// Its input had ended already: `Clean` or `Failed`.
    end: Option<End>,
}

impl Early {
    /// Reads, without waiting, what `stream` has sent so far (at most [`SMALL_READ`] bytes).
    fn read(stream: &TcpStream) -> Early {
        let mut early = Early {
            bytes: Vec::new(),
            end: None,
        };
        if stream.set_nonblocking(true).is_err() {
            return early;
        }
        let mut buf = [0u8; SMALL_READ];
        while early.bytes.len() < SMALL_READ {
            match (&*stream).read(&mut buf[..SMALL_READ - early.bytes.len()]) {
                Ok(0) => early.end = Some(End::Clean),
                Ok(n) => {
                    early.bytes.extend_from_slice(&buf[..n]);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => early.end = Some(End::Failed),
            }
            break;
        }
        early
    }

    /// Whether the connection's whole visit is known and needs no thread: its input has
    /// ended, and flood control lets every line of it through at once.
    fn is_whole_visit(&self, limit: RateLimit) -> bool {
        let lines = self.bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        self.end.is_some() && (limit.is_off() || lines as f64 <= limit.burst)
    }
}

/// Gives a new connection (with its TLS layer, for a TLS client) its place in the room. One
/// that needs a thread is refused when no thread can be kept for it; its thread starts once its
/// join has been announced (see [`start_reader`]).
fn join(
    room: &mut Held<'_>,
    stream: TcpStream,
    addr: SocketAddr,
    shared: &Shared,
    needs_thread: bool,
    tls: Option<Tls>,
) -> Option<(ClientId, Arc<Peer>)> {
    let _ = stream.set_nonblocking(false);
    net::tune(&stream);
    if needs_thread && !shared.reserve_thread(shared.max_readers) {
        log::info!("{addr}: refused: no thread left for it");
        // The room lock is held: a send that cannot block (a fresh socket takes it whole).
        let _ = delivery::send_now(&stream, b"! server full\n");
        return None;
    }
    let over_tls = if tls.is_some() { " over TLS" } else { "" };
    let peer = Arc::new(Peer::new(stream, addr, tls));
    let id = room.room.peers.insert(Arc::clone(&peer));
    log::info!("{addr} connected{over_tls} (client {id})");
    room.handle_in_turn(Event::Connected(id, addr.ip()));
    Some((id, peer))
}

/// A connection that came, said its lines and left before it was accepted: the accept thread
/// plays its visit through the hub (joined and announced already) as its thread would have,
/// and no thread is started for it.
fn visit(room: &mut Held<'_>, id: ClientId, early: Early, shared: &Shared) {
    let mut framer = LineFramer::default();
    framer.feed(&early.bytes, shared.max_line, |frame| {
        room.handle(match frame {
            Frame::Line(line) => Event::Line(id, line),
            Frame::TooLong => Event::LineTooLong(id),
        });
        ControlFlow::Continue(())
    });
    if matches!(early.end, Some(End::Clean)) {
        last_line(room, id, &mut framer, shared.max_line);
    }
    room.handle(Event::Disconnected(id, Leave::Closed));
    if let Some(peer) = room.room.peers.try_remove(id) {
        log::info!("{} disconnected (client {id})", peer.addr);
    }
}

/// The client closed its side: an unfinished last line still counts.
fn last_line(room: &mut Held<'_>, id: ClientId, framer: &mut LineFramer, max_line: usize) {
    let mut rest = |frame: Frame<'_>| {
        if let Frame::Line(line) = frame {
            room.handle(Event::Line(id, line));
        }
        ControlFlow::Continue(())
    };
    let _ = framer.resume(max_line, &mut rest);
    framer.finish(max_line, &mut rest);
}

/// Starts a joined client's thread (counted already by [`join`]), which first takes what the
/// client sent before it was accepted.
fn start_reader(id: ClientId, peer: Arc<Peer>, early: Early, shared: &Arc<Shared>) {
    let reader = Arc::clone(&peer);
    if shared.spawn(format!("client-{id}"), move |shared| {
        read_loop(id, &reader, early, shared)
    }) {
        return;
    }
    // Its welcome is out already; the refusal follows it, if its socket takes it.
    if !peer.is_tls() {
        let _ = delivery::send_now(&peer.stream, b"! server full\n");
    }
    peer.cut();
    shared.with_room(|room| {
        room.handle(Event::Disconnected(id, Leave::Closed));
        room.room.peers.try_remove(id);
    });
}

/// Mappings each thread adds to the process: its stack and guard page, and the alternate
/// signal stack and guard page Rust gives it.
const MAPS_PER_THREAD: usize = 4;

/// How many client threads this system lets the process run. Past `vm.max_map_count` no thread
/// starts, and then no allocation that needs a new mapping succeeds either, which aborts the
/// process: so keep an eighth of the mappings for everything else.
fn system_thread_limit() -> usize {
    let read =
        |path: &str| -> Option<usize> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let maps = read("/proc/sys/vm/max_map_count").unwrap_or(65_530);
    let by_maps = (maps - (maps / 8).max(1024).min(maps)) / MAPS_PER_THREAD;
    let by_kernel = read("/proc/sys/kernel/threads-max").map_or(usize::MAX, |n| n / 2);
    let mut nproc = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let by_rlimit = if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut nproc) } == 0
        && nproc.rlim_cur != libc::RLIM_INFINITY
    {
        (nproc.rlim_cur as usize).saturating_sub(64)
    } else {
        usize::MAX
    };
    by_maps.min(by_kernel).min(by_rlimit).max(2)
}

/// How a reader's input ended.
enum End {
    /// The client closed its side: an unfinished last line still counts.
    Clean,
    /// The connection failed, or was cut.
    Failed,
    /// Nothing arrived for `--idle-timeout`.
    Idle,
    /// The hub closed it (it quit, or flooded).
    Closed,
}

/// A client's thread: reads its lines and hands them to the hub until it goes.
///
/// Most clients spend their life blocked in `read` here, and each page of stack a thread has
/// touched stays resident: so this frame stays small (a [`SMALL_READ`] buffer), and what
/// happens to the bytes read is in functions of their own, which only senders go into.
fn read_loop(id: ClientId, peer: &Arc<Peer>, early: Early, shared: &Arc<Shared>) {
    let mut reader = Reader {
        id,
        peer,
        shared,
        framer: LineFramer::default(),
        bucket: Bucket::new(shared.limit, Instant::now()),
        plain: Vec::new(),
    };
    if let Some(end) = reader.early(early) {
        return reader.finish(end);
    }
    // The larger read buffer, while the client fills the small one.
    let mut large: Option<Box<[u8]>> = None;
    let mut stream = &peer.stream;
    let mut small = [0u8; SMALL_READ];
    let _ = stream.set_read_timeout(shared.idle);
    let end = loop {
        let buf: &mut [u8] = match &mut large {
            Some(large) => large,
            None => &mut small,
        };
        let n = match stream.read(buf) {
            Ok(0) if peer.is_dead() => break End::Failed,
            Ok(0) => break End::Clean,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break End::Idle;
            }
            Err(_) => break End::Failed,
        };
        let filled = n == buf.len();
        let data = match &large {
            Some(large) => &large[..n],
            None => &small[..n],
        };
        let ended = if peer.is_tls() {
            reader.tls_input(data)
        } else {
            reader.input(data)
        };
        if let Some(end) = ended {
            break end;
        }
        size_read_buffer(&mut large, filled, n);
    };
    reader.finish(end);
}

/// A sender that fills the small buffer is read in larger pieces until it slows down: one hold
/// of the lock and one write per recipient then carry many lines.
fn size_read_buffer(large: &mut Option<Box<[u8]>>, filled: bool, n: usize) {
    if filled && large.is_none() {
        *large = Some(vec![0; LARGE_READ].into_boxed_slice());
    } else if !filled && n < SMALL_READ {
        *large = None;
    }
}

/// What a client's thread keeps besides its read buffers.
struct Reader<'a> {
    id: ClientId,
    peer: &'a Arc<Peer>,
    shared: &'a Arc<Shared>,
    framer: LineFramer,
    bucket: Bucket,
    /// A TLS client's plaintext, between decrypting and framing.
    plain: Vec<u8>,
}

impl Reader<'_> {
    /// Decrypts what a TLS client sent, then hands its lines to the hub.
    #[inline(never)]
    fn tls_input(&mut self, raw: &[u8]) -> Option<End> {
        let mut plain = std::mem::take(&mut self.plain);
        let open = self.peer.decrypt(raw, &mut plain);
        // What the TLS layer has to say back goes out, whoever writes it.
        self.peer.flush_tls(self.shared);
        let mut end = match open {
            Ok(true) => None,
            Ok(false) => Some(End::Clean),
            Err(e) => {
                log::debug!("{}: TLS: {e}", self.peer.addr);
                Some(End::Failed)
            }
        };
        if !plain.is_empty()
            && let Some(input_end) = self.input(&plain)
        {
            end = Some(input_end);
        }
        plain.clear();
        if plain.capacity() > LARGE_READ {
            plain = Vec::new();
        }
        self.plain = plain;
        end
    }

    /// Takes what the client sent before it was accepted. Returns how its input ended if it
    /// did.
    #[inline(never)]
    fn early(&mut self, early: Early) -> Option<End> {
        if !early.bytes.is_empty()
            && let Some(end) = self.input(&early.bytes)
        {
            return Some(end);
        }
        early.end
    }

    /// Hands the lines in `data` to the hub, at the pace flood control allows. Returns how the
    /// input ended if it did.
    #[inline(never)]
    fn input(&mut self, data: &[u8]) -> Option<End> {
        let (id, shared) = (self.id, self.shared);
        let mut fresh = Some(data);
        loop {
            let now = Instant::now();
            let mut verdict = Admit::Go;
            let (framer, bucket) = (&mut self.framer, &mut self.bucket);
            shared.with_room(|room| {
                let mut on_frame = |frame: Frame<'_>| {
                    verdict = bucket.admit(shared.limit, now);
                    if verdict != Admit::Go {
                        return ControlFlow::Break(());
                    }
                    room.handle(match frame {
                        Frame::Line(line) => Event::Line(id, line),
                        Frame::TooLong => Event::LineTooLong(id),
                    });
                    ControlFlow::Continue(())
                };
                match fresh.take() {
                    Some(data) => framer.feed(data, shared.max_line, &mut on_frame),
                    None => {
                        let _ = framer.resume(shared.max_line, &mut on_frame);
                    }
                }
                if verdict == Admit::Flooding {
                    log::info!("{}: flooding, dropped", self.peer.addr);
                    room.handle(Event::Disconnected(id, Leave::Flooding));
                }
            });
            match verdict {
                Admit::Go => break,
                // Out of tokens: sleep, holding no lock, then hand over the lines held back.
                Admit::Wait(wait) => thread::sleep(wait),
                Admit::Flooding => return Some(End::Closed),
            }
        }
        if self.peer.is_closing() {
            return Some(if self.peer.is_dead() {
                End::Failed
            } else {
                End::Closed
            });
        }
        if self.bucket.is_throttled() && !input_waiting(&self.peer.stream) {
            self.bucket.drained();
        }
        None
    }

    /// The client is gone or being closed: tells the hub, lets the last lines go out, and
    /// leaves the room.
    #[inline(never)]
    fn finish(mut self, end: End) {
        let (id, shared, peer) = (self.id, self.shared, self.peer);
        let framer = &mut self.framer;
        shared.with_room(|room| {
            match end {
                End::Clean => last_line(room, id, framer, shared.max_line),
                End::Idle => {
                    log::info!("{}: idle timeout", peer.addr);
                    room.handle(Event::Disconnected(id, Leave::IdleTimeout));
                }
                End::Failed | End::Closed => {}
            }
            room.handle(Event::Disconnected(id, Leave::Closed));
        });
        if matches!(end, End::Idle | End::Closed) {
            // Read out what the client still sends while its last lines go out: closing with
            // unread input would reset the connection and could destroy them.
            discard_until_closed(&peer.stream);
        }
        shared.with_room(|room| room.room.peers.try_remove(id));
        log::info!("{} disconnected (client {id})", peer.addr);
    }
}

/// Whether the client has more input ready, without blocking. (Not `set_nonblocking`: a
/// writer thread may be using the same socket.)
fn input_waiting(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    socket2::SockRef::from(stream)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        .is_ok_and(|n| n > 0)
}

fn discard_until_closed(mut stream: &TcpStream) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(deadline - Instant::now() + Duration::from_millis(1)));
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Returns freed memory to the system when a [`memory::Release`] says so, counting client
/// threads that ended as activity: what they allocated stays in the allocator's per-thread
/// arenas otherwise.
fn tidy(shared: &Arc<Shared>) {
    let mut seen = 0;
    let mut release = memory::Release::new(Instant::now());
    while !shared.stopping.load(Ordering::Relaxed) {
        thread::sleep(memory::QUIET_BEFORE_RELEASE / 2);
        let now = Instant::now();
        let ended = shared.ended.load(Ordering::Relaxed);
        if ended != seen {
            seen = ended;
            release.activity(now);
        }
        if release.due(now) {
            memory::release_freed_memory();
        }
        reap(shared);
    }
}

/// Cuts the clients the hub closed more than [`LINGER`] ago whose threads have not ended, and
/// gives the hub its tick when it has something due (a gate's deadline).
fn reap(shared: &Arc<Shared>) {
    let (closed, due) = {
        let mut room = shared.room.lock().unwrap_or_else(|e| e.into_inner());
        let due = room
            .hub
            .next_deadline()
            .is_some_and(|d| d <= Instant::now());
        (std::mem::take(&mut room.closed), due)
    };
    if due {
        // The hub is ticked first whenever it is handed anything.
        shared.with_room(|room| room.with_hub(|_, _| {}));
    }
    if closed.is_empty() {
        return;
    }
    let waiting: Vec<Arc<Peer>> = closed.into_iter().filter(|p| !p.reap(LINGER)).collect();
    if !waiting.is_empty() {
        let mut room = shared.room.lock().unwrap_or_else(|e| e.into_inner());
        room.closed.extend(waiting);
    }
}

fn wait_for_stop(mut stop: UnixStream, shared: &Arc<Shared>, wake: Vec<SocketAddr>) {
    let mut byte = [0u8; 1];
    while let Err(e) = stop.read(&mut byte) {
        if e.kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
    shared.stopping.store(true, Ordering::SeqCst);
    shared.with_room(|room| {
        log::info!("stopping: telling {} clients", room.room.hub.online());
        room.with_hub(|hub, post| hub.shutdown(post));
    });
    // Wake the accept loops, blocked in accept().
    for addr in wake {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

/// Waits for the clients to take their last lines, then cuts whoever is left.
fn drain(shared: &Arc<Shared>) {
    let wait_for_threads = |until: Instant| {
        let mut threads = shared.threads();
        while *threads > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            threads = shared
                .thread_ended
                .wait_timeout(threads, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *threads
    };
    wait_for_threads(Instant::now() + DRAIN_TIME);
    let peers: Vec<Arc<Peer>> =
        shared.with_room(|room| room.room.peers.iter().map(|(_, p)| Arc::clone(p)).collect());
    for peer in &peers {
        peer.cut();
    }
    // Every blocked read and write now returns; give the threads a moment to end.
    let left = wait_for_threads(Instant::now() + Duration::from_secs(1));
    log::info!(
        "stopped; {} connections cut short, {left} threads left",
        peers.len()
    );
}
