//! TLS clients in threads mode: each gets its thread at accept, which does the handshake (the
//! public-key steps one per core but one at a time, so that a storm of them leaves a core to
//! the chat) and then joins, with the others whose handshakes finished within
//! [`GATHER_JOINS`], in one turn.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::accept::{Early, after_error, join};
use super::delivery::Peer;
use super::reader::read_loop;
use super::room::Shared;
use crate::connection::Transport;
use crate::hub::ClientId;
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

/// TLS clients whose handshake is done, waiting to join; and what became of those that did.
#[derive(Default)]
pub(super) struct Arrivals {
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

impl Shared {
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
    shared: &Arc<Shared>,
) -> Option<(ClientId, Arc<Peer>)> {
    let (ticket, first) = {
        let mut arrivals = shared.arrivals();
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
        let arrivals = shared.arrivals();
        let (mut arrivals, _) = shared
            .joins_done
            .wait_timeout_while(arrivals, GATHER_JOINS * 20, |a| {
                !a.joined.contains_key(&ticket)
            })
            .unwrap_or_else(|e| e.into_inner());
        if let Some(joined) = arrivals.joined.remove(&ticket) {
            return joined;
        }
    }
    shared.with_room(|room| {
        let waiting = std::mem::take(&mut shared.arrivals().waiting);
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
        shared.arrivals().joined.extend(joined);
    });
    shared.joins_done.notify_all();
    shared.arrivals().joined.remove(&ticket).flatten()
}

/// Accepts TLS clients: each gets its thread at once, which does the handshake and then joins.
pub(super) fn tls_accept_loop(
    listener: &TcpListener,
    config: &Arc<rustls::ServerConfig>,
    shared: &Arc<Shared>,
) {
    let mut spare = SpareFd::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, addr)) => {
                if !shared.threads.reserve(shared.threads.max_readers) {
                    log::info!("{addr}: TLS client refused: no thread left for it");
                    continue;
                }
                let config = Arc::clone(config);
                shared.spawn(format!("tls-{addr}"), move |shared| {
                    tls_client(stream, addr, &config, shared)
                });
            }
            Err(e) => after_error(&e, listener, &mut spare),
        }
    }
}

/// A TLS client's thread: the handshake, then the chat.
fn tls_client(
    stream: TcpStream,
    addr: SocketAddr,
    config: &Arc<rustls::ServerConfig>,
    shared: &Arc<Shared>,
) {
    net::tune(&stream);
    let handshake = Transport::tls(config).and_then(|mut transport| {
        let set_timeout = |s: &mut &TcpStream, t: Duration| {
            s.set_read_timeout(Some(t))?;
            s.set_write_timeout(Some(t))
        };
        let slot = |deadline| shared.handshake_slot(deadline);
        transport.handshake(&mut &stream, set_timeout, shared.handshake_time, slot)?;
        stream.set_write_timeout(None)?;
        Ok(transport)
    });
    let transport = match handshake {
        Ok(transport) => transport,
        Err(e) => {
            log::info!("{addr}: TLS handshake failed: {e}");
            return;
        }
    };
    if let Some((id, peer)) = join_after_handshake(stream, addr, transport, shared) {
        read_loop(id, &peer, Early::none(), shared);
    }
}
