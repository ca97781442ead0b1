//! `--mode threads`: the report's thread-per-client design, done as well as that model allows.
//!
//! Blocking std sockets, no event loop. Each client gets one thread, which reads its socket,
//! passes the bytes through the same connection core as poll mode (`crate::connection`: its
//! transport layers, its intake) and hands the events to the shared [`Hub`] under the room
//! lock. As in the report, the thread that read a line delivers it itself, but without its
//! flaws: every write is non-blocking, the lines of one read go to each recipient in one
//! `send`, and only a client whose socket is full gets a second thread, a writer that drains
//! its backlog while it is behind. No lock is held across a write that can block, so one client
//! that stops reading slows no one; past `--max-backlog` it is dropped, as in poll mode.
//!
//! By job, each file using only those before it:
//! - [`budget`]: how many threads may run, and starting them;
//! - [`delivery`]: how the thread that handled an event writes its consequences;
//! - [`room`]: the room lock around the hub, and what every thread shares;
//! - [`reader`]: a client's thread, and what a connection had sent when it was accepted;
//! - [`accept`]: the accept loop, admission, visits that need no thread;
//! - [`layered_clients`]: TLS and web clients, a thread each from accept, handshakes a core at a time;
//! - this module: starting the server, and its lifecycle (housekeeping, the stop).
//!
//! Cost per connection: one descriptor and one thread, whose stack (`--thread-stack`) is
//! resident only as far as it is touched. A client's reads go to a small buffer on its stack,
//! and to a larger one on the heap only while it sends faster than that buffer takes.

mod accept;
mod budget;
mod delivery;
mod layered_clients;
mod reader;
mod room;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::cluster::link;
use crate::config::ServerConfig;
use crate::config::reload::Reload;
use crate::connection::{LINGER, Outputs, Rules, Transport};
use crate::hashing;
use crate::hub::{Event, Hub, WallClock};
use crate::memory;
use crate::net::{self, Listeners};
use crate::news::{self, Inbound, Inbox};
use crate::shutdown::{DRAIN_TIME, STOP_CHECK};
use crate::store;
use budget::Budget;
use delivery::Peer;
use room::{Room, Settings, Shared};

/// Most of the cluster link's news handed to the hub in one hold of the room lock.
const NEWS_PER_HOLD: usize = 1024;

/// Runs the threads server until SIGINT or SIGTERM arrives on `stop`.
pub fn run(
    listeners: Listeners,
    config: &ServerConfig,
    stop: UnixStream,
    reload: Option<Reload>,
    store: Option<store::Opened>,
) -> io::Result<()> {
    memory::limit_arenas(thread::available_parallelism().map_or(2, |n| n.get()));
    let threads = Budget::new(config.max_threads, config.thread_stack as usize * 1024);
    let mut hub_config = config.hub_config();
    if hub_config.max_clients > threads.max_readers {
        hub_config.max_clients = threads.max_readers;
        log::warn!(
            "threads mode: at most {} clients ({} threads, one per client and an eighth kept \
             for writers); --max-clients lowered to that",
            threads.max_readers,
            threads.max_threads
        );
    }
    let (inbox, deliver) = news::inbox(|| {});
    let link = link::start(config.cluster_config(), deliver.clone())?;
    let hashing = hashing::start(deliver.clone())?;
    let (store, restored) = match store {
        Some(mut opened) => {
            let restored = std::mem::take(&mut opened.restored);
            (Some(opened.start(deliver)?), Some(restored))
        }
        None => (None, None),
    };
    let outputs = Outputs {
        max_backlog: config.max_backlog as usize,
        ..Outputs::default()
    };
    let mut hub = Hub::new(hub_config, Instant::now());
    hub.set_clock(WallClock::now());
    let rules = Rules {
        max_line: config.max_line as usize,
        limit: config.rate_limit(),
    };
    let room = Room::new(hub, outputs, link, store, Some(hashing), rules);
    let shared = Arc::new(Shared::new(
        room,
        Settings {
            max_line: config.max_line as usize,
            idle: config.idle_limit(),
            irc_ping: config.irc_ping_limit(),
            handshake_time: config.handshake_limit(),
            threads,
            max_handshakes: thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1).max(1)),
        },
    ));
    if let Some(restored) = restored {
        // What the store kept, before anyone is served.
        shared.with_room(|room| room.handle(Event::Restored(&restored)));
    }
    {
        let mut inbound = Inbound::new(&config.cluster_name);
        // What the link had at once (its first guest numbers) before anyone is served.
        hand_news(&inbox.take(), &mut inbound, &shared);
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("from-cluster".into())
            .stack_size(256 * 1024)
            .spawn(move || from_cluster(&inbox, inbound, &shared))?;
    }
    let mut wake = Vec::new();
    for listener in listeners
        .plain
        .iter()
        .chain(listeners.tls.iter().map(|(l, _)| l))
        .chain(listeners.web.iter().map(|w| &w.listener))
        .chain(listeners.irc.iter())
        .chain(listeners.irc_tls.iter().map(|(l, _)| l))
    {
        wake.push(net::local_peer(listener.local_addr()?));
    }
    spawn_helper("stop", &shared, move |shared| {
        wait_for_stop(stop, shared, wake)
    })?;
    spawn_helper("tidy", &shared, tidy)?;
    if let Some(mut reload) = reload {
        // Reading the settings (clap, TOML) takes more stack than the other helpers.
        spawn_helper_with("reload", 1 << 20, &shared, move |shared| {
            use std::io::Read;
            let mut byte = [0u8; 1];
            // One SIGHUP at a time; the stop ends the process, and this thread with it.
            while let Ok(1) = (&reload.signal).read(&mut byte) {
                if let Some(mut new) = reload.take() {
                    new.hub.max_clients = new.hub.max_clients.min(shared.threads.max_readers);
                    shared.set_idle(new.idle);
                    shared.with_room(|room| {
                        room.room.rules.limit = new.limit;
                        room.room.hub.reconfigure(new.hub);
                        room.room.outputs.max_backlog = new.max_backlog;
                    });
                }
            }
        })?;
    }
    // The layered listeners' accept loops on threads of their own; the plain one on this one.
    let mut loops = Vec::new();
    if let Some((listener, config)) = listeners.tls {
        let shared = Arc::clone(&shared);
        let make = move || Transport::tls(&config);
        loops.push(
            thread::Builder::new()
                .name("accept-tls".into())
                .stack_size(256 * 1024)
                .spawn(move || layered_clients::layered_accept_loop(&listener, make, &shared))?,
        );
    }
    if let Some(web) = listeners.web {
        let shared = Arc::clone(&shared);
        let max_line = shared.max_line;
        let make = move || {
            let below = web.tls.as_ref().map(Transport::tls).transpose()?;
            Ok(Transport::web(
                below.unwrap_or(Transport::Plain),
                &web.site,
                max_line,
            ))
        };
        let listener = web.listener;
        loops.push(
            thread::Builder::new()
                .name("accept-web".into())
                .stack_size(256 * 1024)
                .spawn(move || layered_clients::layered_accept_loop(&listener, make, &shared))?,
        );
    }
    if let Some(listener) = listeners.irc {
        let shared = Arc::clone(&shared);
        let make = || Ok(Transport::irc(Transport::Plain));
        loops.push(
            thread::Builder::new()
                .name("accept-irc".into())
                .stack_size(256 * 1024)
                .spawn(move || layered_clients::layered_accept_loop(&listener, make, &shared))?,
        );
    }
    if let Some((listener, config)) = listeners.irc_tls {
        let shared = Arc::clone(&shared);
        let make = move || Ok(Transport::irc(Transport::tls(&config)?));
        loops.push(
            thread::Builder::new()
                .name("accept-irc-tls".into())
                .stack_size(256 * 1024)
                .spawn(move || layered_clients::layered_accept_loop(&listener, make, &shared))?,
        );
    }
    if let Some(listener) = listeners.plain {
        accept::accept_loop(&listener, &shared);
    }
    for accept_loop in loops {
        let _ = accept_loop.join();
    }
    drain(&shared);
    let (link, store) = {
        let room = shared.room();
        (room.link.clone(), room.store.clone())
    };
    if let Some(link) = link {
        link.stop(Duration::from_secs(2));
    }
    if let Some(store) = store {
        store.stop(store::STOP_WAIT);
    }
    Ok(())
}

/// Starts one of the server's own threads (not a client's).
fn spawn_helper(
    name: &str,
    shared: &Arc<Shared>,
    body: impl FnOnce(&Arc<Shared>) + Send + 'static,
) -> io::Result<()> {
    spawn_helper_with(name, 64 * 1024, shared, body)
}

/// Like [`spawn_helper`], with a stack of `stack` bytes.
fn spawn_helper_with(
    name: &str,
    stack: usize,
    shared: &Arc<Shared>,
    body: impl FnOnce(&Arc<Shared>) + Send + 'static,
) -> io::Result<()> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name(name.into())
        .stack_size(stack)
        .spawn(move || body(&shared))
        .map(drop)
}

/// Hands the hub what the cluster link brings, as it comes.
fn from_cluster(inbox: &Inbox, mut inbound: Inbound, shared: &Arc<Shared>) {
    loop {
        hand_news(&inbox.wait(), &mut inbound, shared);
    }
}

/// Hands the hub `news`, one hold of the room lock for up to [`NEWS_PER_HOLD`] items.
fn hand_news(news: &[news::Incoming], inbound: &mut Inbound, shared: &Arc<Shared>) {
    for batch in news.chunks(NEWS_PER_HOLD) {
        shared.with_room(|room| {
            room.with_hub(|hub, post| {
                inbound.hand_all(batch, hub, post);
                hub.end_turn(post);
            })
        });
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
        let ended = shared.threads.ended();
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
    let (closed, refused, due) = {
        let mut room = shared.room();
        let due = room
            .hub
            .next_deadline()
            .is_some_and(|d| d <= Instant::now());
        (
            std::mem::take(&mut room.closed),
            std::mem::take(&mut room.refused),
            due,
        )
    };
    // Turned away: dropped (and so closed) once it has closed its side, or after the linger.
    let refused: Vec<Arc<Peer>> = refused.into_iter().filter(|p| !p.drained(LINGER)).collect();
    if !refused.is_empty() {
        shared.room().refused.extend(refused);
    }
    if due {
        // The hub is ticked first whenever it is handed anything.
        shared.with_room(|room| room.with_hub(|_, _| {}));
    }
    if closed.is_empty() {
        return;
    }
    // Gone already: its threads and the room were done with it, and its socket is closed.
    let waiting: Vec<Weak<Peer>> = closed
        .into_iter()
        .filter(|p| p.upgrade().is_some_and(|p| !p.reap(LINGER)))
        .collect();
    if !waiting.is_empty() {
        shared.room().closed.extend(waiting);
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
    crate::metrics::METRICS
        .stopping
        .store(true, Ordering::Relaxed);
    shared.with_room(|room| room.with_hub(|hub, post| hub.shutdown(post)));
    // Wake the accept loops, blocked in accept().
    for addr in wake {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

/// Every client the room has, to act on without the room lock.
fn connected(shared: &Shared) -> Vec<Arc<Peer>> {
    let room = shared.room();
    room.peers.iter().map(|(_, p)| Arc::clone(p)).collect()
}

/// Waits for the clients to take their last lines, then cuts whoever is left. A client whose
/// goodbye has reached it (written, our side shut, all of it acknowledged) is cut at once: a
/// `nc` keeps its side open, and its thread would wait for it until the drain time ends.
fn drain(shared: &Arc<Shared>) {
    let deadline = Instant::now() + DRAIN_TIME;
    loop {
        let next = (Instant::now() + STOP_CHECK).min(deadline);
        if shared.threads.wait_for_all(next) == 0 || Instant::now() >= deadline {
            break;
        }
        for peer in &connected(shared) {
            peer.let_go_if_delivered();
        }
    }
    let peers = connected(shared);
    for peer in &peers {
        peer.cut();
    }
    // Every blocked read and write now returns; give the threads a moment to end.
    let left = shared
        .threads
        .wait_for_all(Instant::now() + Duration::from_secs(1));
    log::info!(
        "stopped; {} connections cut short, {left} threads left",
        peers.len()
    );
}
