//! A client's thread in threads mode: reads its socket (blocking), passes the bytes through its
//! transport layers and its [`Intake`] (the same rules as poll mode), and hands the events to
//! the hub under the room lock; the writes they cause are made once the lock is released.

use std::io::{self, Read};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::delivery::Peer;
use super::room::Shared;
use crate::connection::{Intake, Rules, Verdict};
use crate::hub::{ClientId, Event, Leave};
use crate::metrics::{METRICS, Metrics};
use crate::shutdown::DRAIN_TIME;

/// A read of this size fits on a client thread's stack (it is what the report reads).
pub(super) const SMALL_READ: usize = 1024;
/// A client that fills the small buffer is read this much at a time until it slows down.
const LARGE_READ: usize = 64 * 1024;

/// Longest a throttled client's thread sleeps before it asks the rules again (a reload may
/// have raised its rate).
const RATE_RECHECK: Duration = Duration::from_millis(250);

/// How a reader's input ended.
pub(super) enum End {
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
pub(super) fn read_loop(id: ClientId, peer: &Arc<Peer>, early: Early, shared: &Arc<Shared>) {
    let mut reader = Reader {
        id,
        peer,
        shared,
        intake: Intake::default(),
        plain: Vec::new(),
        admitted: !peer.is_closing(),
    };
    if let Some(end) = reader.early(early) {
        return reader.finish(end);
    }
    // The larger read buffer, while the client fills the small one.
    let mut large: Option<Box<[u8]>> = None;
    let mut stream = &peer.stream;
    let mut small = [0u8; SMALL_READ];
    let idle = shared.idle();
    // An IRC client silent for `--irc-ping` is sent PING, and closed if silent as long again.
    let ping_every = shared.irc_ping.filter(|_| peer.is_irc());
    let mut pinged = false;
    let mut last_input = Instant::now();
    let timeout = match (idle, ping_every) {
        (Some(idle), Some(ping)) => Some(idle.min(ping)),
        (idle, ping) => idle.or(ping),
    };
    let _ = stream.set_read_timeout(timeout);
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
                let silent = last_input.elapsed();
                if idle.is_some_and(|idle| silent >= idle) {
                    break End::Idle;
                }
                match ping_every {
                    Some(every) if silent >= every && !pinged => {
                        pinged = true;
                        peer.ping(shared);
                        continue;
                    }
                    Some(every) if silent >= every => {
                        log::info!("{}: no answer to PING", peer.addr);
                        break End::Idle;
                    }
                    // Woken early (the idle timeout is the shorter, and not reached): on.
                    Some(_) => continue,
                    None => break End::Idle,
                }
            }
            Err(_) => break End::Failed,
        };
        last_input = Instant::now();
        pinged = false;
        let filled = n == buf.len();
        let data = match &large {
            Some(large) => &large[..n],
            None => &small[..n],
        };
        let ended = if peer.has_layers() {
            reader.layered_input(data)
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
    intake: Intake,
    /// Plaintext from the client's layers, between them and the intake.
    plain: Vec<u8>,
    /// Let in by the hub (not turned away by a limit as it joined): logged as a client.
    admitted: bool,
}

impl Reader<'_> {
    /// Passes what the client sent through its layers (TLS), then hands its lines to the hub.
    #[inline(never)]
    fn layered_input(&mut self, raw: &[u8]) -> Option<End> {
        let mut plain = std::mem::take(&mut self.plain);
        let open = self.peer.receive(raw, &mut plain);
        // What the layers have to say back goes out, whoever writes it.
        self.peer.flush_layers(self.shared);
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

    /// Hands the lines in `data` to the hub, at the pace flood control allows: out of tokens,
    /// the thread sleeps holding no lock. Returns how the input ended if it did.
    #[inline(never)]
    fn input(&mut self, data: &[u8]) -> Option<End> {
        let (from, shared) = ((self.id, self.peer.addr), self.shared);
        let mut fresh = Some(data);
        loop {
            let now = Instant::now();
            let intake = &mut self.intake;
            // The lines of one read are one turn, as in poll mode: a newcomer's `/pass` and
            // `/nick` in one write are announced once, under the name it has by then.
            let verdict = shared.with_room(|room| {
                let rules = room.room.rules;
                let verdict = intake.feed(fresh.take(), from, &rules, now, |event| {
                    room.handle_in_turn(event);
                    ControlFlow::Continue(())
                });
                room.end_turn();
                verdict
            });
            match verdict {
                Verdict::Open | Verdict::Closed => break,
                Verdict::Wait(wait) => {
                    Metrics::add(&METRICS.rate_limited_reads, 1);
                    // In slices: a reload's new rate holds for it within one.
                    thread::sleep(wait.min(RATE_RECHECK))
                }
                Verdict::Flooding => return Some(End::Closed),
            }
        }
        if self.peer.is_closing() {
            return Some(if self.peer.is_dead() {
                End::Failed
            } else {
                End::Closed
            });
        }
        if self.intake.is_throttled() && !input_waiting(&self.peer.stream) {
            self.intake.paused();
        }
        None
    }

    /// The client is gone or being closed: tells the hub, lets the last lines go out, and
    /// leaves the room.
    #[inline(never)]
    fn finish(mut self, end: End) {
        let (id, shared, peer, admitted) = (self.id, self.shared, self.peer, self.admitted);
        let intake = &mut self.intake;
        shared.with_room(|room| {
            let rules = room.room.rules;
            match end {
                End::Clean => intake.finish(id, &rules, |event| {
                    room.handle_in_turn(event);
                    ControlFlow::Continue(())
                }),
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
        if admitted {
            log::info!("{} disconnected (client {id})", peer.addr);
        } else {
            log::debug!("{}: closed (connection {id})", peer.addr);
        }
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

/// What a connection had sent by the time it was accepted.
pub(super) struct Early {
    pub bytes: Vec<u8>,
    /// Its input had ended already: `Clean` or `Failed`.
    pub end: Option<End>,
}

impl Early {
    pub fn none() -> Early {
        Early {
            bytes: Vec::new(),
            end: None,
        }
    }

    /// Reads, without waiting, what `stream` has sent so far (at most [`SMALL_READ`] bytes).
    pub fn read(stream: &TcpStream) -> Early {
        let mut early = Early::none();
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
    pub fn is_whole_visit(&self, rules: &Rules) -> bool {
        let lines = self.bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        self.end.is_some() && rules.passes_at_once(lines)
    }
}
