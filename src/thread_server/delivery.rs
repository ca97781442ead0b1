//! How threads mode gets bytes to a client: the thread that handled an event writes its
//! consequences itself, without blocking, and only a client that fell behind gets a writer.
//!
//! While a thread holds the room lock, the hub's deliveries are recorded, not written (a
//! [`Courier`] carries them): each client's [`Output`] decides, as in poll mode, whether the
//! line is owed from the courier's [`Batch`] or copied, or the client is too slow. A client
//! whose writer is free *claims* the batch, and the courier will write it.
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
//! A TLS client's bytes go through its [`Transport`] layers, under a lock of their own that no
//! one holds across a wait: its writer waits for the socket with `poll`, holding nothing.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::cluster::link::Link;
use crate::connection::Batch;
use crate::connection::{Output, Outputs, Queued, Transport};
use crate::hashing::Pool;
use crate::hub::{ClientId, Hasher, Keeper, Line, Nodes, Outbox};
use crate::metrics::{METRICS, Via};
use crate::store::Store;

/// How long a writer thread that caught up waits for its client to fall behind again before
/// it ends.
pub const WRITER_PARK: Duration = Duration::from_secs(1);

/// One client's socket and the bytes owed to it.
pub struct Peer {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    /// How it is connected (counted in the metrics while it exists).
    via: Via,
    /// Its layers above TCP (TLS), if any: a plain client's writes take no lock of their own.
    /// Locked after `out` when both are.
    layers: Option<Mutex<Transport>>,
    out: Mutex<Out>,
    /// Wakes this client's parked writer thread.
    wake_writer: Condvar,
}

#[derive(Default)]
struct Out {
    /// What it is owed of a courier's batch, and its own bytes: whole lines, in hub order.
    output: Output,
    writer: Writer,
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// No one: nothing is pending. The next courier with bytes for it claims its batch.
    #[default]
    Free,
    /// A courier: the one whose batch it claimed, or one writing it now.
    Courier,
    /// Its socket was full: its writer thread writes it.
    Stalled,
}

impl Peer {
    pub fn new(stream: TcpStream, addr: SocketAddr, transport: Transport) -> Peer {
        let via = transport.via();
        METRICS.connected(via, 1);
        Peer {
            stream,
            addr,
            via,
            layers: (!transport.is_plain()).then(|| Mutex::new(transport)),
            out: Mutex::new(Out::default()),
            wake_writer: Condvar::new(),
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn layers(&self) -> Option<MutexGuard<'_, Transport>> {
        self.layers
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// An IRC client.
    pub fn is_irc(&self) -> bool {
        self.layers().is_some_and(|t| t.is_irc())
    }

    /// Sends an IRC client `PING` (see [`Transport::ping`]), written as the layers' bytes are.
    pub fn ping(self: &Arc<Self>, writers: &impl Writers) {
        if let Some(mut layers) = self.layers() {
            layers.ping();
        }
        self.flush_layers(writers);
    }

    /// It has layers above TCP (TLS): its reads must go through [`Peer::receive`].
    pub fn has_layers(&self) -> bool {
        self.layers.is_some()
    }

    /// Takes `raw`, bytes read from the client's socket, and appends the plaintext they carried
    /// to `plain`; false once the client has closed. What the layers have to say back (an
    /// alert, a key update) goes out later, with the next write or by a writer.
    pub fn receive(&self, raw: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        let Some(mut layers) = self.layers() else {
            plain.extend_from_slice(raw);
            return Ok(true);
        };
        let result = layers.receive(raw, plain);
        layers.flush(&mut DontWait(&self.stream));
        result
    }

    /// Sends what it can of `bytes` without blocking; how much was taken. Through layers, what
    /// its socket does not take waits in them ([`Peer::backed_up`]).
    fn send_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let sent = match self.layers() {
            None => send_now(&self.stream, bytes),
            Some(mut layers) => layers.write(&mut DontWait(&self.stream), bytes),
        };
        if let Ok(n) = sent {
            METRICS.sent_bytes(n as u64);
        }
        sent
    }

    /// Bytes wait in its layers for the socket.
    fn backed_up(&self) -> bool {
        self.layers().is_some_and(|t| t.wants_write())
    }

    /// Writes all of `bytes` (and what the layers hold), waiting for the socket as needed,
    /// holding no lock while it waits.
    fn send_all(&self, bytes: &[u8]) -> io::Result<()> {
        if self.layers.is_none() {
            (&self.stream).write_all(bytes)?;
            METRICS.sent_bytes(bytes.len() as u64);
            return Ok(());
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

    /// The layers' goodbye (TLS `close_notify`), then the end of our side.
    fn shut_write(&self) {
        if let Some(mut layers) = self.layers() {
            layers.close(&mut DontWait(&self.stream));
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
        out.output = Output::default();
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

    /// Writes what a courier owes this client (its claim on `batch`, then whatever was appended
    /// meanwhile) without blocking. A full socket hands the rest to a writer thread.
    fn write_owed(self: &Arc<Self>, batch: &Batch, writers: &impl Writers) {
        let mut out = self.out();
        let owed = match out.output.take_owed(batch) {
            Some(range) => &batch.bytes()[range],
            None => &[],
        };
        out.writer = Writer::Courier;
        let mut chunk = Cow::Borrowed(owed);
        loop {
            if out.dead {
                return;
            }
            if chunk.is_empty() {
                let empty = out.output.pending().is_empty();
                if empty && !self.backed_up() {
                    out.writer = Writer::Free;
                    self.shut_if_done(&mut out);
                    return;
                }
                if empty {
                    // The layers hold what the socket did not take.
                    return self.stall(&mut out, Vec::new(), writers);
                }
                chunk = Cow::Owned(out.output.take_pending());
            }
            out.output.writing(chunk.len());
            drop(out);
            let sent = self.send_now(&chunk);
            out = self.out();
            out.output.done_writing();
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
    fn stall(self: &Arc<Self>, out: &mut Out, rest: Vec<u8>, writers: &impl Writers) {
        out.output.put_back(rest);
        out.writer = Writer::Stalled;
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

    /// Has what the layers hold written, if no one is writing this client now (the reader
    /// calls it after [`Peer::receive`]).
    pub fn flush_layers(self: &Arc<Self>, writers: &impl Writers) {
        if !self.backed_up() {
            return;
        }
        let mut out = self.out();
        if out.writer == Writer::Free && !out.dead && !out.shut {
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

    /// For a client no thread reads (turned away as it came): reads out, without waiting,
    /// what it sent, so that closing does not reset the connection and destroy the refusal.
    /// True once it has closed its side, failed, or been closed by the hub longer than
    /// `linger` ago (then it is cut): it can be dropped.
    pub fn drained(&self, linger: Duration) -> bool {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
        let sock = socket2::SockRef::from(&self.stream);
        loop {
            match sock.recv_with_flags(&mut buf, libc::MSG_DONTWAIT) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return true,
            }
        }
        self.reap(linger)
    }

    /// Cuts it if all it was owed has reached it: written, our side shut, and acknowledged
    /// by its TCP (the stop lets go of such clients at once).
    pub fn let_go_if_delivered(&self) {
        let mut out = self.out();
        if out.shut && !out.dead && crate::net::unacknowledged(&self.stream) == Some(0) {
            self.cut_locked(&mut out);
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
            if out.writer != Writer::Stalled {
                let (guard, wait) = self
                    .wake_writer
                    .wait_timeout_while(out, WRITER_PARK, |o| {
                        o.writer != Writer::Stalled && !o.dead
                    })
                    .unwrap_or_else(|e| e.into_inner());
                out = guard;
                if wait.timed_out() {
                    break;
                }
                continue;
            }
            if out.output.pending().is_empty() && !self.backed_up() {
                // Caught up: couriers write it directly again.
                out.writer = Writer::Free;
                self.shut_if_done(&mut out);
                continue;
            }
            let chunk = out.output.take_pending();
            out.output.writing(chunk.len());
            drop(out);
            // No lock held: a blocked write stalls this client only.
            let written = self.send_all(&chunk);
            out = self.out();
            out.output.done_writing();
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

/// The layers' way to a socket that never blocks.
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
    /// Every line handed out during this hold, each once, in order; numbered by the hold, so
    /// that a claim is good only during the hold that made it.
    batch: Batch,
    /// The clients this courier must write.
    owed: Vec<Arc<Peer>>,
}

impl Courier {
    /// Starts recording for a new hold of the room lock, numbered `round`.
    pub fn begin(&mut self, round: u32) {
        debug_assert!(self.owed.is_empty(), "a courier was not delivered");
        self.batch.begin(round);
    }

    /// Writes everything owed, now that the room lock is released.
    pub fn deliver(&mut self, writers: &impl Writers) {
        for peer in self.owed.drain(..) {
            peer.write_owed(&self.batch, writers);
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
    pub closed: &'a mut Vec<Weak<Peer>>,
    pub outputs: &'a mut Outputs,
    /// To the other nodes, in a cluster.
    pub link: Option<&'a Link>,
    /// To the disk, on a single node with a store.
    pub store: Option<&'a Store>,
    /// The pool that hashes accounts' passwords.
    pub hashing: Option<&'a Pool>,
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
        let may_claim = out.writer == Writer::Free;
        let batch = &mut self.courier.batch;
        match out
            .output
            .queue(line, batch, may_claim, self.outputs, &peer.addr)
        {
            Queued::Claimed => {
                out.writer = Writer::Courier;
                self.courier.owed.push(Arc::clone(peer));
            }
            Queued::Added => {
                if out.writer == Writer::Stalled {
                    peer.wake_writer.notify_one();
                }
            }
            Queued::TooSlow => {
                peer.cut_locked(&mut out);
                self.too_slow.push(to);
            }
        }
    }

    fn nodes(&self) -> Option<&dyn Nodes> {
        self.link.map(|l| l as &dyn Nodes)
    }

    fn keeper(&self) -> Option<&dyn Keeper> {
        self.store.map(|s| s as &dyn Keeper)
    }

    fn hasher(&self) -> Option<&dyn Hasher> {
        self.hashing.map(|h| h as &dyn Hasher)
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
        self.closed.push(Arc::downgrade(peer));
        match out.writer {
            // Nothing pending: this courier closes it.
            Writer::Free => {
                out.writer = Writer::Courier;
                self.courier.owed.push(Arc::clone(peer));
            }
            // Whoever writes it closes it when done.
            Writer::Stalled => peer.wake_writer.notify_one(),
            Writer::Courier => {}
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        METRICS.connected(self.via, -1);
    }
}
