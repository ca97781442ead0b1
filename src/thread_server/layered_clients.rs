//! Clients with layers in threads mode (TLS, the web listener's): each gets its thread at
//! accept, which does the handshake (TLS's public-key steps one per core but one at a time, so
//! that a storm of them leaves a core to the chat; a web request's HTTP, answered there when
//! it asks for a file) and then joins, with the others whose handshakes finished within
//! [`GATHER_JOINS`], in one turn.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::accept::{after_error, join};
use super::delivery::Peer;
use super::reader::{Early, read_loop};
use super::room::Shared;
use crate::connection::{Served, Transport};
use crate::hub::ClientId;
use crate::metrics::{METRICS, Metrics};
use crate::net::{self, SpareFd};

/// How long the first of the TLS clients ready to join waits for others to join with it.
const GATHER_JOINS: Duration = Duration::from_millis(5);

/// One of the [`Shared::max_handshakes`] handshakes allowed at once; given back when dropped.
struct HandshakeSlot<'a>(&'a Shared);

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        *self.0.handshaking.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.handshake_done.notify_one();
    }
}

impl Shared {
    /// Waits, until `deadline` at most, for a turn to do a TLS handshake.
    fn handshake_slot(&self, deadline: Instant) -> io::Result<HandshakeSlot<'_>> {
        let mut busy = self.handshaking.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= self.max_handshakes {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out (waiting for its turn)",
                ));
            }
            busy = self
                .handshake_done
                .wait_timeout(busy, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *busy += 1;
        Ok(HandshakeSlot(self))
    }
}

/// A listener's clients whose handshake is done, waiting to join; and what became of those
/// that did.
#[derive(Default)]
struct Joins {
    arrivals: Mutex<Arrivals>,
    /// Told when a batch has joined.
    done: Condvar,
}

#[derive(Default)]
struct Arrivals {
    waiting: Vec<Arrival>,
    joined: std::collections::HashMap<u64, Option<(ClientId, Arc<Peer>)>>,
    next_ticket: u64,
}

struct Arrival {
    ticket: u64,
    stream: TcpStream,
    addr: SocketAddr,
    transport: Transport,
}

impl Joins {
    fn arrivals(&self) -> MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Joins a TLS client whose handshake is done, with whoever else is waiting to, in one turn:
/// the first to arrive waits [`GATHER_JOINS`] for others, then joins them all, so that a storm
/// of handshakes finishing one after another costs each member a join notice every few
/// milliseconds, not one per newcomer. The others wait for it (or, should it be slow, join
/// whoever is still waiting themselves).
fn join_after_handshake(
    stream: TcpStream,
    addr: SocketAddr,
    transport: Transport,
    joins: &Joins,
    shared: &Arc<Shared>,
) -> Option<(ClientId, Arc<Peer>)> {
    let (ticket, first) = {
        let mut arrivals = joins.arrivals();
        let ticket = arrivals.next_ticket;
        arrivals.next_ticket += 1;
        arrivals.waiting.push(Arrival {
            ticket,
            stream,
            addr,
            transport,
        });
        (ticket, arrivals.waiting.len() == 1)
    };
    if first {
        thread::sleep(GATHER_JOINS);
    } else {
        let arrivals = joins.arrivals();
        let (mut arrivals, _) = joins
            .done
            .wait_timeout_while(arrivals, GATHER_JOINS * 20, |a| {
                !a.joined.contains_key(&ticket)
            })
            .unwrap_or_else(|e| e.into_inner());
        if let Some(joined) = arrivals.joined.remove(&ticket) {
            return joined;
        }
    }
    shared.with_room(|room| {
        let waiting = std::mem::take(&mut joins.arrivals().waiting);
        if waiting.is_empty() {
            return;
        }
        let joined: Vec<_> = waiting
            .into_iter()
            .map(|a| {
                let joined = join(room, a.stream, a.addr, shared, false, a.transport);
                (a.ticket, joined)
            })
            .collect();
        room.end_turn();
        joins.arrivals().joined.extend(joined);
    });
    joins.done.notify_all();
    joins.arrivals().joined.remove(&ticket).flatten()
}

/// Accepts clients whose layers `make` makes (TLS, web): each gets its thread at once, which
/// does the handshake and then joins.
pub(super) fn layered_accept_loop(
    listener: &TcpListener,
    make: impl Fn() -> io::Result<Transport> + Send + Sync + 'static,
    shared: &Arc<Shared>,
) {
    let make = Arc::new(make);
    let joins = Arc::new(Joins::default());
    let mut spare = SpareFd::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, addr)) => {
                if !shared.threads.reserve(shared.threads.max_readers) {
                    log::info!("{addr}: refused: no thread left for it");
                    continue;
                }
                let (make, joins) = (Arc::clone(&make), Arc::clone(&joins));
                shared.spawn(format!("layered-{addr}"), move |shared| match make() {
                    Ok(transport) => layered_client(stream, addr, transport, &joins, shared),
                    Err(e) => log::warn!("{addr}: {e}"),
                });
            }
            Err(e) => after_error(&e, listener, &mut spare),
        }
    }
}

/// A layered client's thread: the handshake, then the chat.
fn layered_client(
    stream: TcpStream,
    addr: SocketAddr,
    mut transport: Transport,
    joins: &Joins,
    shared: &Arc<Shared>,
) {
    net::tune(&stream);
    let handshake = {
        let set_timeout = |s: &mut &TcpStream, t: Duration| {
            s.set_read_timeout(Some(t))?;
            s.set_write_timeout(Some(t))
        };
        let slot = |deadline| shared.handshake_slot(deadline);
        transport
            .handshake(&mut &stream, set_timeout, shared.handshake_time, slot)
            .and_then(|()| stream.set_write_timeout(None))
            .and_then(|()| stream.set_read_timeout(None))
    };
    if let Err(e) = handshake {
        if e.get_ref().is_some_and(|inner| inner.is::<Served>()) {
            log::debug!("{addr}: {e}");
        } else {
            log::info!("{addr}: handshake failed{}: {e}", transport.over());
            Metrics::add(&METRICS.handshakes_failed, 1);
        }
        return;
    }
    if let Some((id, peer)) = join_after_handshake(stream, addr, transport, joins, shared) {
        read_loop(id, &peer, Early::none(), shared);
    }
}
