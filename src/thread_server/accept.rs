//! Accepting and admitting plain clients in threads mode.
//!
//! The accept loop takes the connections waiting at once (up to [`ACCEPT_BATCH`]) and reads,
//! without waiting, what each has sent already. Those whose whole visit is known (they came,
//! said their lines within the flood allowance, and left before being accepted) need no
//! thread: their visit is played through the hub here. The others join in one hold of the room
//! lock, announced in one turn, and only then does each get its thread, so that whoever reads
//! its welcome can count on the others having been told of its join, as in poll mode. A burst
//! of N joins then costs each member N / [`ACCEPT_BATCH`] notices, not N.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Instant;

use super::delivery::{self, Peer};
use super::reader::{Early, End, read_loop};
use super::room::{Held, Shared};
use crate::connection::{Intake, Rules, Transport};
use crate::hub::{ClientId, Event, Leave};
use crate::net::{self, AfterAcceptError, SpareFd};

/// Most connections accepted and announced in one hold of the room lock.
const ACCEPT_BATCH: usize = 1024;
/// Most visits (see [`visit`]) played in one hold of the room lock.
const VISITS_PER_HOLD: usize = 64;

/// What an accept loop does after an error (see [`net::accept_failed`]).
pub(super) fn after_error(e: &io::Error, listener: &TcpListener, spare: &mut SpareFd) {
    let accept_one = || listener.accept().map(|(s, _)| s);
    if net::accept_failed(e, spare, accept_one) == AfterAcceptError::Pause {
        thread::sleep(net::ACCEPT_PAUSE);
    }
}

/// Accepts plain clients until the server stops.
///
/// It does not give each connection its thread as it comes, as the report's server did: it
/// drains the listen queue first, so that a burst of connections is admitted (and announced)
/// in one hold of the room lock, and connections already over cost no thread at all. A
/// newcomer's thread starts only after its join is announced.
pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut spare = SpareFd::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok(first) => admit(waiting_with(first, listener), shared),
            Err(e) => after_error(&e, listener, &mut spare),
        }
    }
}

/// `first`, and the other connections already waiting.
fn waiting_with(
    first: (TcpStream, SocketAddr),
    listener: &TcpListener,
) -> Vec<(TcpStream, SocketAddr)> {
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
    waiting
}

/// Joins the clients that need a thread in one turn and starts their threads; plays the visits
/// of those that are gone already, a few per hold of the lock (each visit is told to the whole
/// room, and a hold buffers what it causes until it ends).
fn admit(waiting: Vec<(TcpStream, SocketAddr)>, shared: &Arc<Shared>) {
    let rules = shared.room().rules;
    let (mut visits, joiners): (Vec<_>, Vec<_>) = waiting
        .into_iter()
        .map(|(stream, addr)| {
            let early = Early::read(&stream);
            (stream, addr, early)
        })
        .partition(|(_, _, early)| early.is_whole_visit(&rules));
    let joined = shared.with_room(|room| {
        let joined: Vec<_> = joiners
            .into_iter()
            .filter_map(|(stream, addr, early)| {
                let (id, peer) = join(room, stream, addr, shared, true, Transport::Plain)?;
                if !peer.is_closing() {
                    return Some((id, peer, early));
                }
                // Turned away: a thread would only wait for it to close (a flood from one
                // address would cost a thread a connection); the reaper does that.
                shared.threads.unreserve();
                // In the batch's turn: the others' joins are still announced together.
                room.handle_in_turn(Event::Disconnected(id, Leave::Closed));
                room.room.peers.try_remove(id);
                room.room.refused.push(peer);
                None
            })
            .collect();
        room.end_turn();
        joined
    });
    for (id, peer, early) in joined {
        start_reader(id, peer, early, shared);
    }
    while !visits.is_empty() {
        let chunk: Vec<_> = visits.drain(..visits.len().min(VISITS_PER_HOLD)).collect();
        shared.with_room(|room| {
            let joined: Vec<_> = chunk
                .into_iter()
                .filter_map(|(stream, addr, early)| {
                    join(room, stream, addr, shared, false, Transport::Plain)
                        .map(|(id, peer)| (id, addr, early, !peer.is_closing()))
                })
                .collect();
            room.end_turn();
            for (id, addr, early, admitted) in joined {
                visit(room, (id, addr), early, &rules, admitted);
            }
        });
    }
}

/// Gives a new connection (with its transport layers) its place in the room. One that needs a
/// thread is refused when no thread can be kept for it; its thread starts once its join has
/// been announced (see [`start_reader`]).
pub(super) fn join(
    room: &mut Held<'_>,
    stream: TcpStream,
    addr: SocketAddr,
    shared: &Shared,
    needs_thread: bool,
    transport: Transport,
) -> Option<(ClientId, Arc<Peer>)> {
    let _ = stream.set_nonblocking(false);
    net::tune(&stream);
    if needs_thread && !shared.threads.reserve(shared.threads.max_readers) {
        log::info!("{addr}: refused: no thread left for it");
        // The room lock is held: a send that cannot block (a fresh socket takes it whole).
        let _ = delivery::send_now(&stream, b"! server full\n");
        return None;
    }
    let over = transport.over();
    let web = transport.reads_json();
    let peer = Arc::new(Peer::new(stream, addr, transport));
    let id = room.room.peers.insert(Arc::clone(&peer));
    // A WebSocket client reads JSON events from its first line on.
    room.room.hub.set_json(id, web);
    room.handle_in_turn(Event::Connected(id, addr.ip()));
    // One the hub turned away (a limit: it logged why) is not logged as a client.
    if !peer.is_closing() {
        log::info!("{addr} connected{over} (client {id})");
    }
    Some((id, peer))
}

/// A connection that came, said its lines and left before it was accepted: the accept thread
/// plays its visit through the hub (joined and announced already) as its thread would have,
/// and no thread is started for it.
fn visit(
    room: &mut Held<'_>,
    from: (ClientId, SocketAddr),
    early: Early,
    rules: &Rules,
    admitted: bool,
) {
    let id = from.0;
    let mut intake = Intake::default();
    let mut to_hub = |event: Event<'_>| {
        room.handle_in_turn(event);
        ControlFlow::Continue(())
    };
    let _ = intake.feed(Some(&early.bytes), from, rules, Instant::now(), &mut to_hub);
    if matches!(early.end, Some(End::Clean)) {
        intake.finish(id, rules, &mut to_hub);
    }
    room.handle(Event::Disconnected(id, Leave::Closed));
    if let Some(peer) = room.room.peers.try_remove(id).filter(|_| admitted) {
        log::info!("{} disconnected (client {id})", peer.addr);
    }
}

/// Starts a joined client's thread (counted already by [`join`]), which first takes what the
/// client sent before it was accepted.
pub(super) fn start_reader(id: ClientId, peer: Arc<Peer>, early: Early, shared: &Arc<Shared>) {
    let reader = Arc::clone(&peer);
    if shared.spawn(format!("client-{id}"), move |shared| {
        read_loop(id, &reader, early, shared)
    }) {
        return;
    }
    // Its welcome is out already; the refusal follows it, if its socket takes it.
    if !peer.has_layers() {
        let _ = delivery::send_now(&peer.stream, b"! server full\n");
    }
    peer.cut();
    shared.with_room(|room| {
        room.handle(Event::Disconnected(id, Leave::Closed));
        room.room.peers.try_remove(id);
    });
}
