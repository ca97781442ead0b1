//! How threads mode gets bytes to a client: the thread that handled an event writes its
//! consequences itself, without blocking, and only a client that fell behind gets a writer.
//!
//! While a thread holds the room lock, the hub's deliveries are recorded, not written (a
//! [`Courier`] carries them): a line for many recipients is put once in the courier's
//! [`Batch`], and each recipient with nothing pending is *claimed*: the courier owes it a
//! stretch of the batch.
//! A recipient that already has output pending (another thread is writing to it, or its socket
//! was full) gets the bytes appended to its own buffer instead. Appends happen under the room
//! lock, so every client's bytes are whole lines in the hub's order.
//!
//! Once the lock is released, [`Courier::deliver`] writes each claimed recipient's stretch with
//! one non-blocking `send` (no copy), then whatever other threads appended meanwhile: whoever
//! writes a client writes all of its queue. In the common case a line costs one `send` per
//! recipient per read, and no other thread is woken.
//!
//! A client whose socket is full keeps the rest in its buffer, and a writer thread (started on
//! demand, parked for [`WRITER_PARK`] after catching up) drains it with blocking writes. Past
//! `--max-backlog` bytes pending the client is dropped as too slow.
//!
//! A TLS client's bytes go through its [`Tls`] layer, under a lock of its own that no one
//! holds across a wait: its writer waits for the socket with `poll`, holding nothing.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::batch::{self, Batch};
use crate::cluster::link::Link;
use crate::hub::{ClientId, Line, Outbox};
use crate::node_wire::Body;
use crate::tls::Tls;

/// How long a writer thread that caught up waits for its client to fall behind again before
/// it ends.
pub const WRITER_PARK: Duration = Duration::from_secs(1);

/// One client's socket and the bytes owed to it.
pub struct Peer {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    /// Its TLS layer, for a TLS client. Locked after `out` when both are.
    tls: Option<Mutex<Tls>>,
    out: Mutex<Out>,
    /// Wakes this client's parked writer thread.
    wake_writer: Condvar,
}

#[derive(Default)]
struct Out {
    /// Whole lines, in hub order, that no thread has taken yet.
    buf: Vec<u8>,
    /// Bytes a thread took from `buf` and is writing now (they count toward the backlog).
    taken: usize,
    owner: Owner,
    /// A writer thread exists for this client, writing or parked.
    has_writer: bool,
    /// The hub is done with it: write what is owed, then close our side.
    closing: bool,
    /// When the hub closed it, for [`Peer::reap`].
    closing_at: Option<Instant>,
    /// Our side is closed.
    shut: bool,
    /// Failed or dropped: nothing more is written.
    dead: bool,
}

/// Who writes a client's bytes. Whoever it is writes all of them, including what others append
/// meanwhile; the others only append.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Owner {
    /// No one: nothing is pending. The next courier with bytes for it claims it.
    #[default]
    Free,
    /// Owed `owed` of the batch of the courier on round `round`, then `buf`.
    Claimed { round: u64, owed: Range<usize> },
    /// A courier owes it `buf` (its claim could not stay one stretch), or is writing now.
    Courier,
    /// Its socket was full: its writer thread writes it.
    Stalled,
}

impl Peer {
    pub fn new(stream: TcpStream, addr: SocketAddr, tls: Option<Tls>) -> Peer {
        Peer {
            stream,
            addr,
            tls: tls.map(Mutex::new),
            out: Mutex::new(Out::default()),
            wake_writer: Condvar::new(),
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tls(&self) -> Option<MutexGuard<'_, Tls>> {
        self.tls
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Takes `raw`, bytes read from a TLS client's socket, and appends the plaintext they
    /// carried to `plain`; false once the client has closed. What the TLS layer has to say
    /// back (an alert, a key update) goes out later, with the next write or by a writer.
    pub fn decrypt(&self, raw: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        let Some(mut tls) = self.tls() else {
            plain.extend_from_slice(raw);
            return Ok(true);
        };
        let result = tls.receive(raw, plain);
        let _ = tls.write_to(&mut DontWait(&self.stream));
        result
    }

    /// Sends what it can of `bytes` without blocking; how much was taken. A TLS client's bytes
    /// are encrypted, and what its socket does not take waits in its layer ([`Peer::backed_up`]).
    fn send_now(&self, bytes: &[u8]) -> io::Result<usize> {
        match self.tls() {
            None => send_now(&self.stream, bytes),
            Some(mut tls) => tls.send(&mut DontWait(&self.stream), bytes),
        }
    }

    /// Encrypted bytes wait in its TLS layer for the socket.
    fn backed_up(&self) -> bool {
        self.tls().is_some_and(|t| t.wants_write())
    }

    /// Writes all of `bytes` (and what the TLS layer holds), waiting for the socket as needed,
    /// holding no lock while it waits.
    fn send_all(&self, bytes: &[u8]) -> io::Result<()> {
        if self.tls.is_none() {
            return (&self.stream).write_all(bytes);
        }
        let mut sent = 0;
        loop {
            match self.send_now(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if sent == bytes.len() && !self.backed_up() {
                return Ok(());
            }
            wait_writable(&self.stream, WRITER_PARK)?;
        }
    }

    /// A TLS client's `close_notify`, then the end of our side.
    fn shut_write(&self) {
        if let Some(mut tls) = self.tls() {
            tls.close();
            let _ = tls.write_to(&mut DontWait(&self.stream));
        }
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// The hub has closed it (or it was cut): its reader should stop.
    pub fn is_closing(&self) -> bool {
        let out = self.out();
        out.closing || out.dead
    }

    /// Failed or dropped (not a clean end).
    pub fn is_dead(&self) -> bool {
        self.out().dead
    }

    /// Drops the connection now: blocked reads and writes on it return at once.
    pub fn cut(&self) {
        self.cut_locked(&mut self.out());
    }

    fn cut_locked(&self, out: &mut Out) {
        out.dead = true;
        out.buf = Vec::new();
        let _ = self.stream.shutdown(Shutdown::Both);
        self.wake_writer.notify_one();
    }

    /// Everything owed is written and the hub is done with it: close our side, so the client
    /// sees the end after its last line.
    fn shut_if_done(&self, out: &mut Out) {
        if out.closing && !out.shut && !out.dead {
            out.shut = true;
            self.shut_write();
        }
    }

    /// Writes what the courier of `round` owes this client (its claim on `batch`, then whatever
    /// was appended meanwhile) without blocking. A full socket hands the rest to a writer thread.
    fn write_owed(self: &Arc<Self>, batch: &[u8], round: u64, writers: &impl Writers) {
        let mut out = self.out();
        let owed = match &out.owner {
            Owner::Claimed { round: r, owed } if *r == round => &batch[owed.clone()],
            _ => &[],
        };
        out.owner = Owner::Courier;
        let mut chunk = Cow::Borrowed(owed);
        loop {
            if out.dead {
                return;
            }
            if chunk.is_empty() {
                if out.buf.is_empty() && !self.backed_up() {
                    out.owner = Owner::Free;
                    self.shut_if_done(&mut out);
                    return;
                }
                if out.buf.is_empty() {
                    // The TLS layer holds what the socket did not take.
                    return self.stall(&mut out, Vec::new(), writers);
                }
                chunk = Cow::Owned(std::mem::take(&mut out.buf));
            }
            out.taken = chunk.len();
            drop(out);
            let sent = self.send_now(&chunk);
            out = self.out();
            out.taken = 0;
            let written = match sent {
                Ok(n) if n == chunk.len() => {
                    chunk = Cow::Borrowed(&[]);
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => {
                    log::debug!("{}: write: {e}", self.addr);
                    return self.cut_locked(&mut out);
                }
            };
            if out.dead {
                return;
            }
            return self.stall(&mut out, chunk[written..].to_vec(), writers);
        }
    }

    /// The socket is full: `rest` goes first in the buffer, and a writer takes over.
    fn stall(self: &Arc<Self>, out: &mut Out, mut rest: Vec<u8>, writers: &impl Writers) {
        rest.extend_from_slice(&out.buf);
        out.buf = rest;
        out.owner = Owner::Stalled;
        if out.has_writer {
            self.wake_writer.notify_one();
        } else if writers.start(Arc::clone(self)) {
            out.has_writer = true;
        } else {
            log::warn!(
                "{}: behind, and no writer thread can start: dropped",
                self.addr
            );
            self.cut_locked(out);
        }
    }

    /// Has what the TLS layer holds written, if no one is writing this client now (the
    /// reader calls it after [`Peer::decrypt`]).
    pub fn flush_tls(self: &Arc<Self>, writers: &impl Writers) {
        if !self.backed_up() {
            return;
        }
        let mut out = self.out();
        if out.owner == Owner::Free && !out.dead && !out.shut {
            self.stall(&mut out, Vec::new(), writers);
        }
    }

    /// Closed by the hub longer than `linger` ago: cut it, so that a reader blocked on a client
    /// that keeps its side open, or a writer blocked on one that stopped reading, wakes up and
    /// ends. Returns whether it is cut.
    pub fn reap(&self, linger: Duration) -> bool {
        let mut out = self.out();
        if out.dead {
            return true;
        }
        match out.closing_at {
            Some(at) if at.elapsed() >= linger => {
                self.cut_locked(&mut out);
                true
            }
            _ => false,
        }
    }

    /// The body of a writer thread: drains the buffer with blocking writes while the client is
    /// behind, then parks for [`WRITER_PARK`] in case it falls behind again.
    pub fn write_stalled(&self) {
        let mut out = self.out();
        loop {
            if out.dead || out.shut {
                break;
            }
            if !matches!(out.owner, Owner::Stalled) {
                let (guard, wait) = self
                    .wake_writer
                    .wait_timeout_while(out, WRITER_PARK, |o| o.owner != Owner::Stalled && !o.dead)
                    .unwrap_or_else(|e| e.into_inner());
                out = guard;
                if wait.timed_out() {
                    break;
                }
                continue;
            }
            if out.buf.is_empty() && !self.backed_up() {
                // Caught up: couriers write it directly again.
                out.owner = Owner::Free;
                self.shut_if_done(&mut out);
                continue;
            }
            let chunk = std::mem::take(&mut out.buf);
            out.taken = chunk.len();
            drop(out);
            // No lock held: a blocked write stalls this client only.
            let written = self.send_all(&chunk);
            out = self.out();
            out.taken = 0;
            if let Err(e) = written {
                log::debug!("{}: write: {e}", self.addr);
                self.cut_locked(&mut out);
            }
        }
        out.has_writer = false;
    }
}

/// Starts writer threads for clients that fell behind.
pub trait Writers {
    /// Starts a thread that runs [`Peer::write_stalled`]; false if none could start.
    fn start(&self, peer: Arc<Peer>) -> bool;
}

/// One `send` that never blocks.
pub fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let sock = socket2::SockRef::from(stream);
    loop {
        match sock.send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// A TLS layer's way to a socket that never blocks.
struct DontWait<'a>(&'a TcpStream);

impl Write for DontWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_now(self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until `stream` can take more, at most `limit`.
fn wait_writable(stream: &TcpStream, limit: Duration) -> io::Result<()> {
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = limit.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one pollfd we own, for a descriptor `stream` keeps open.
    match unsafe { libc::poll(&mut fd, 1, ms) } {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            }
        }
        _ => Ok(()),
    }
}

/// What one thread owes to whom after one hold of the room lock. Couriers are pooled: a
/// thread takes one for each hold and returns it after [`Courier::deliver`].
#[derive(Default)]
pub struct Courier {
    /// Which hold of the room lock this is: a claim is good only during the hold that made it.
    round: u64,
    /// Every line handed out during this hold, each once, in order.
    batch: Batch,
    /// The clients this courier must write.
    owed: Vec<Arc<Peer>>,
}

impl Courier {
    /// Starts recording for a new hold of the room lock, numbered `round`.
    pub fn begin(&mut self, round: u64) {
        debug_assert!(self.owed.is_empty(), "a courier was not delivered");
        self.round = round;
    }

    /// Writes everything owed, now that the room lock is released.
    pub fn deliver(&mut self, writers: &impl Writers) {
        for peer in self.owed.drain(..) {
            peer.write_owed(self.batch.bytes(), self.round, writers);
        }
        self.batch.clear();
        if self.owed.capacity() > 1024 {
            self.owed = Vec::new();
        }
    }
}

/// The [`Outbox`] of threads mode, used while the room lock is held: records what `courier`
/// must write, and appends to the buffers of clients that someone else is writing.
pub struct Post<'a> {
    pub peers: &'a Slab<Arc<Peer>>,
    pub courier: &'a mut Courier,
    /// Clients dropped as too slow, for the hub to be told once the current event is handled.
    pub too_slow: &'a mut Vec<ClientId>,
    /// Clients the hub closed, for the reaper.
    pub closed: &'a mut Vec<Arc<Peer>>,
    pub max_backlog: usize,
    /// To the other nodes, in a cluster.
    pub link: Option<&'a Link>,
}

impl Outbox for Post<'_> {
    fn send(&mut self, to: ClientId, line: &Line) {
        let Some(peer) = self.peers.get(to) else {
            return;
        };
        let mut out = peer.out();
        if out.dead || out.closing {
            return;
        }
        let round = self.courier.round;
        match &mut out.owner {
            Owner::Free => {
                let owed = self.courier.batch.put(line);
                out.owner = Owner::Claimed { round, owed };
                self.courier.owed.push(Arc::clone(peer));
                return;
            }
            Owner::Claimed { round: r, owed } if *r == round => {
                if batch::extend(owed, self.courier.batch.put(line)) {
                    return;
                }
                // Not the next stretch of the batch: what is owed moves to its buffer (empty
                // until now: no one else appends while this courier holds the lock).
                let owed = owed.clone();
                out.buf.extend_from_slice(&self.courier.batch.bytes()[owed]);
                out.owner = Owner::Courier;
            }
            _ => {}
        }
        if out.buf.len() + out.taken + line.len() > self.max_backlog {
            log::info!(
                "{} too slow: dropped with {} bytes queued",
                peer.addr,
                out.buf.len() + out.taken
            );
            peer.cut_locked(&mut out);
            self.too_slow.push(to);
            return;
        }
        out.buf.extend_from_slice(line);
        if out.owner == Owner::Stalled {
            peer.wake_writer.notify_one();
        }
    }

    fn publish(&mut self, body: &Body<'_>) {
        if let Some(link) = self.link {
            link.publish(body);
        }
    }

    fn claim(&mut self, id: ClientId, name: &str) {
        if let Some(link) = self.link {
            link.claim(id, name);
        }
    }

    fn release(&mut self, name: &str) {
        if let Some(link) = self.link {
            link.release(name);
        }
    }

    fn close(&mut self, who: ClientId) {
        let Some(peer) = self.peers.get(who) else {
            return;
        };
        let mut out = peer.out();
        if out.closing || out.dead {
            return;
        }
        out.closing = true;
        out.closing_at = Some(Instant::now());
        self.closed.push(Arc::clone(peer));
        match out.owner {
            // Nothing pending: this courier closes it.
            Owner::Free => {
                out.owner = Owner::Courier;
                self.courier.owed.push(Arc::clone(peer));
            }
            // Whoever writes it closes it when done.
            Owner::Stalled => peer.wake_writer.notify_one(),
            Owner::Claimed { .. } | Owner::Courier => {}
        }
    }
}
