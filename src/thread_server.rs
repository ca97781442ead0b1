//! `--mode threads`: the report's thread-per-client design, kept for comparison.
//!
//! Blocking std sockets, no mio. The accept loop runs on the main thread; each client gets a
//! reader thread, which frames its lines and hands them to the shared [`Hub`] under one mutex,
//! and a writer thread, which drains the client's outbound queue. The report broadcast with a
//! blocking `send` inside its loop over all clients, so one client that stopped reading stalled
//! every sender; here the hub only pushes shared [`Line`]s onto per-client queues (a reference
//! count each, never a copy), and no lock is held across a socket write. A queue over
//! `--max-backlog` bytes gets its client dropped, as in poll mode.
//!
//! Cost per connection: one descriptor, two threads (each with a `--thread-stack` stack, of
//! which only the touched pages are resident), one 16 KiB read buffer, and the queue.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::config::ServerConfig;
use crate::framing::{Frame, LineFramer};
use crate::hub::{ClientId, Event, Hub, Leave, Line, Outbox};
use crate::net::{self, SpareFd};
use crate::rate::{Admit, Bucket, RateLimit};
use crate::shutdown::DRAIN_TIME;

const READ_BUF: usize = 16 * 1024;
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What one client's writer thread works from.
struct Peer {
    stream: TcpStream,
    peer: SocketAddr,
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Line>,
    /// Bytes queued or being written.
    bytes: usize,
    /// Write what is queued, then close.
    closing: bool,
    /// Failed or dropped: write nothing more.
    dead: bool,
}

impl Peer {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops both of its threads: blocked reads and writes return at once.
    fn cut(&self, queue: &mut Queue) {
        queue.dead = true;
        queue.lines.clear();
        let _ = self.stream.shutdown(Shutdown::Both);
        self.ready.notify_one();
    }
}

/// The room and the clients' queues, behind one mutex.
struct Room {
    hub: Hub,
    peers: Peers,
    /// Reader and writer threads still running.
    threads: usize,
}

/// Every client's queue: the [`Outbox`] of threads mode.
struct Peers {
    slab: Slab<Arc<Peer>>,
    /// Clients to report to the hub as too slow once the current event is handled.
    too_slow: Vec<ClientId>,
    max_backlog: usize,
}

impl Outbox for Peers {
    fn send(&mut self, to: ClientId, line: &Line) {
        let Some(peer) = self.slab.get(to) else {
            return;
        };
        let mut q = peer.queue();
        if q.dead || q.closing {
            return;
        }
        if q.bytes + line.len() > self.max_backlog {
            log::info!(
                "{} too slow: dropped with {} bytes queued",
                peer.peer,
                q.bytes
            );
            peer.cut(&mut q);
            self.too_slow.push(to);
            return;
        }
        q.bytes += line.len();
        q.lines.push_back(Line::clone(line));
        // The writer waits only on an empty queue: wake it only then.
        if q.lines.len() == 1 {
            peer.ready.notify_one();
        }
    }

    fn close(&mut self, who: ClientId) {
        if let Some(peer) = self.slab.get(who) {
            peer.queue().closing = true;
            peer.ready.notify_one();
        }
    }
}

impl Room {
    /// Hands one event to the hub, then whatever it caused, and ends the turn.
    fn handle(&mut self, event: Event<'_>) {
        self.handle_in_turn(event);
        self.end_turn();
    }

    /// Hands one event to the hub without ending the turn: joins stay pending, to be
    /// announced together by [`Room::end_turn`].
    fn handle_in_turn(&mut self, event: Event<'_>) {
        self.hub.handle(event, &mut self.peers);
        self.drop_too_slow();
    }

    fn end_turn(&mut self) {
        self.hub.end_turn(&mut self.peers);
        self.drop_too_slow();
    }

    fn drop_too_slow(&mut self) {
        while let Some(id) = self.peers.too_slow.pop() {
            self.hub
                .handle(Event::Disconnected(id, Leave::TooSlow), &mut self.peers);
        }
    }
}

struct Shared {
    room: Mutex<Room>,
    /// Signalled when a thread ends.
    thread_ended: Condvar,
    stopping: AtomicBool,
    max_line: usize,
    limit: RateLimit,
    idle: Option<Duration>,
    stack: usize,
    /// Most client threads at once.
    max_threads: usize,
}

impl Shared {
    fn room(&self) -> MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the threads server until SIGINT or SIGTERM arrives on `stop`.
pub fn run(listener: TcpListener, config: &ServerConfig, stop: UnixStream) -> io::Result<()> {
    let max_threads = match config.max_threads {
        0 => system_thread_limit(),
        n => n,
    };
    let mut hub_config = config.hub_config();
    if hub_config.max_clients > max_threads / 2 {
        hub_config.max_clients = max_threads / 2;
        log::warn!(
            "threads mode: at most {} clients ({max_threads} threads, 2 per client); \
             --max-clients lowered to that",
            max_threads / 2
        );
    }
    let shared = Arc::new(Shared {
        room: Mutex::new(Room {
            hub: Hub::new(hub_config),
            peers: Peers {
                slab: Slab::new(),
                too_slow: Vec::new(),
                max_backlog: config.max_backlog as usize,
            },
            threads: 0,
        }),
        thread_ended: Condvar::new(),
        stopping: AtomicBool::new(false),
        max_line: config.max_line as usize,
        limit: config.rate_limit(),
        idle: config.idle_limit(),
        stack: config.thread_stack as usize * 1024,
        max_threads,
    });
    let wake = net::local_peer(listener.local_addr()?);
    {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("stop".into())
            .stack_size(64 * 1024)
            .spawn(move || wait_for_stop(stop, &shared, wake))?;
    }
    accept_loop(&listener, &shared);
    drop(listener);
    drain(&shared);
    Ok(())
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut spare = SpareFd::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                // Take every other connection already waiting, then announce them all in one
                // turn: a burst of N joins then costs each client one notice, not N.
                let mut batch: Vec<_> = join(stream, peer, shared).into_iter().collect();
                if listener.set_nonblocking(true).is_ok() {
                    while let Ok((stream, peer)) = listener.accept() {
                        let _ = stream.set_nonblocking(false);
                        batch.extend(join(stream, peer, shared));
                    }
                    let _ = listener.set_nonblocking(false);
                }
                shared.room().end_turn();
                // Only now may the newcomers' welcomes go out: whoever reads one can count
                // on the others having been told of the join, as in poll mode.
                for (id, peer) in batch {
                    start_threads(id, peer, shared);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if net::out_of_descriptors(&e) => {
                let turned_away = spare.turn_away(|| listener.accept().map(|(s, _)| s));
                log::warn!("accept: {e}; turned a connection away: {turned_away}");
                if !turned_away {
                    thread::sleep(ACCEPT_PAUSE);
                }
            }
            Err(e) => {
                log::warn!("accept: {e}");
                if e.kind() != io::ErrorKind::ConnectionAborted {
                    thread::sleep(ACCEPT_PAUSE);
                }
            }
        }
    }
}

/// Gives a new connection its queue and its place in the room; its threads start once its
/// join has been announced (see [`start_threads`]).
fn join(
    stream: TcpStream,
    peer_addr: SocketAddr,
    shared: &Arc<Shared>,
) -> Option<(ClientId, Arc<Peer>)> {
    net::tune(&stream);
    let peer = Arc::new(Peer {
        stream,
        peer: peer_addr,
        queue: Mutex::new(Queue::default()),
        ready: Condvar::new(),
    });
    // Join the room before the reader starts, so that no line arrives ahead of the join.
    let id = {
        let mut room = shared.room();
        // The threads of clients that just left may still be finishing: count them too.
        if room.threads + 2 > shared.max_threads {
            let room_threads = room.threads;
            drop(room);
            log::info!(
                "{peer_addr}: refused: {} client threads running",
                room_threads
            );
            let _ = (&peer.stream).write_all(b"! server full\n");
            return None;
        }
        let id = room.peers.slab.insert(Arc::clone(&peer));
        room.threads += 2;
        room.handle_in_turn(Event::Connected(id, peer_addr.ip()));
        id
    };
    Some((id, peer))
}

/// Starts a joined client's writer and reader threads.
fn start_threads(id: ClientId, peer: Arc<Peer>, shared: &Arc<Shared>) {
    let peer_addr = peer.peer;
    let spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .name(name)
            .stack_size(shared.stack)
            .spawn(body)
    };
    let writer = {
        let (shared, peer) = (Arc::clone(shared), Arc::clone(&peer));
        spawn(
            format!("write-{id}"),
            Box::new(move || {
                write_loop(&peer);
                thread_done(&shared);
            }),
        )
    };
    let reader = match writer {
        Ok(_) => {
            let (shared, peer) = (Arc::clone(shared), Arc::clone(&peer));
            spawn(
                format!("read-{id}"),
                Box::new(move || {
                    read_loop(id, &peer, &shared);
                    thread_done(&shared);
                }),
            )
            .map_err(|e| (e, 1))
        }
        Err(e) => Err((e, 2)),
    };
    match reader {
        Ok(_) => log::info!("{peer_addr} connected (client {id})"),
        Err((e, not_started)) => {
            log::warn!("{peer_addr}: cannot start its threads: {e}");
            // Written before taking the room lock: no lock is held across a socket write.
            let _ = (&peer.stream).write_all(b"! server full\n");
            let mut room = shared.room();
            room.threads -= not_started;
            peer.cut(&mut peer.queue());
            room.handle(Event::Disconnected(id, Leave::Closed));
            room.peers.slab.remove(id);
        }
    }
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

fn thread_done(shared: &Shared) {
    shared.room().threads -= 1;
    shared.thread_ended.notify_all();
}

/// How a reader's input ended.
enum End {
    /// The client closed its side: an unfinished last line still counts.
    Clean,
    /// The connection failed, or our writer cut it.
    Failed,
    /// Nothing arrived for `--idle-timeout`.
    Idle,
    /// The hub has already removed it (flooding).
    Expelled,
}

fn read_loop(id: ClientId, peer: &Peer, shared: &Shared) {
    // Both threads use the one socket (`Read` and `Write` are implemented for `&TcpStream`):
    // one descriptor per client, as in poll mode.
    let mut stream = &peer.stream;
    let mut buf = vec![0u8; READ_BUF];
    let mut framer = LineFramer::default();
    let mut bucket = Bucket::new(shared.limit, Instant::now());
    let _ = stream.set_read_timeout(shared.idle);
    let end = 'reading: loop {
        let n = match stream.read(&mut buf) {
            // Our own writer shuts the socket when it fails: that is no clean end.
            Ok(0) if peer.queue().dead => break End::Failed,
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
        let mut fresh = Some(n);
        loop {
            let now = Instant::now();
            let mut verdict = Admit::Go;
            {
                let mut room = shared.room();
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
                    Some(n) => framer.feed(&buf[..n], shared.max_line, &mut on_frame),
                    None => {
                        let _ = framer.resume(shared.max_line, &mut on_frame);
                    }
                }
            }
            match verdict {
                Admit::Go => break,
                // Out of tokens: sleep, holding no lock, then hand over the lines held back.
                Admit::Wait(wait) => thread::sleep(wait),
                Admit::Flooding => {
                    log::info!("{}: flooding, dropped", peer.peer);
                    shared
                        .room()
                        .handle(Event::Disconnected(id, Leave::Flooding));
                    break 'reading End::Expelled;
                }
            }
        }
        if bucket.is_throttled() && !input_waiting(stream) {
            bucket.drained();
        }
    };
    let mut room = shared.room();
    match end {
        End::Clean => {
            let mut rest = |frame: Frame<'_>| {
                if let Frame::Line(line) = frame {
                    room.handle(Event::Line(id, line));
                }
                ControlFlow::Continue(())
            };
            let _ = framer.resume(shared.max_line, &mut rest);
            framer.finish(shared.max_line, &mut rest);
        }
        End::Idle => {
            log::info!("{}: idle timeout", peer.peer);
            room.handle(Event::Disconnected(id, Leave::IdleTimeout));
        }
        End::Failed | End::Expelled => {}
    }
    room.handle(Event::Disconnected(id, Leave::Closed));
    drop(room);
    if matches!(end, End::Idle | End::Expelled) {
        // Read out what the client still sends while its last lines go out: closing with
        // unread input would reset the connection and could destroy them.
        discard_until_closed(stream);
    }
    let mut room = shared.room();
    if let Some(peer) = room.peers.slab.try_remove(id) {
        // Whatever the writer still has to send, it sends, then closes.
        peer.queue().closing = true;
        peer.ready.notify_one();
        log::info!("{} disconnected (client {id})", peer.peer);
    }
}

/// Whether the client has more input ready, without blocking. (Not `set_nonblocking`: the
/// writer thread uses the same socket.)
fn input_waiting(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    socket2::SockRef::from(stream)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        .is_ok_and(|n| n > 0)
}

fn discard_until_closed(mut stream: &TcpStream) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(deadline - Instant::now() + Duration::from_millis(1)));
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn write_loop(peer: &Peer) {
    let mut stream = &peer.stream;
    let mut batch = Vec::new();
    loop {
        let lines: Vec<Line> = {
            let mut q = peer.queue();
            while q.lines.is_empty() && !q.closing && !q.dead {
                q = peer.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.dead || (q.lines.is_empty() && q.closing) {
                break;
            }
            q.lines.drain(..).collect()
        };
        batch.clear();
        for line in &lines {
            batch.extend_from_slice(line);
        }
        // No lock held here: a blocked write stalls this client only.
        let result = stream.write_all(&batch);
        let mut q = peer.queue();
        q.bytes -= batch.len();
        if result.is_err() {
            peer.cut(&mut q);
            return;
        }
        if batch.capacity() > 64 * 1024 {
            batch = Vec::new();
        }
    }
    // Done: close our side, so the client sees the end after the last line.
    let _ = stream.shutdown(Shutdown::Write);
}

fn wait_for_stop(mut stop: UnixStream, shared: &Shared, wake: SocketAddr) {
    let mut byte = [0u8; 1];
    while let Err(e) = stop.read(&mut byte) {
        if e.kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
    shared.stopping.store(true, Ordering::SeqCst);
    {
        let mut room = shared.room();
        log::info!("stopping: telling {} clients", room.hub.online());
        let room = &mut *room;
        room.hub.shutdown(&mut room.peers);
    }
    // Wake the accept loop, blocked in accept().
    let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
}

/// Waits for the clients to take their last lines, then cuts whoever is left.
fn drain(shared: &Shared) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut room = shared.room();
    while room.threads > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        room = shared
            .thread_ended
            .wait_timeout(room, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    let cut_short = room.peers.slab.len();
    for (_, peer) in room.peers.slab.iter() {
        peer.cut(&mut peer.queue());
    }
    // Every blocked read and write now returns; give the threads a moment to end.
    let deadline = Instant::now() + Duration::from_secs(1);
    while room.threads > 0 && Instant::now() < deadline {
        room = shared
            .thread_ended
            .wait_timeout(room, Duration::from_millis(100))
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    log::info!(
        "stopped; {cut_short} connections cut short, {} threads left",
        room.threads
    );
}
