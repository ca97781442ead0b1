//! One connection of poll mode: its socket, its transport stack, its intake and output (the
//! parts written once for both models, in `crate::connection`), and the state it is in.
//!
//! ```text
//!   accept ──> Handshaking ──(handshake done: the hub is told)──> Open
//!                  │                                               │ the hub closes it
//!                  │ times out, fails                              v
//!                  │                                            Flushing ──(all written: our
//!                  v                                               │        side shut)
//!                Dead <──(error, too slow, end of input)── Open    v
//!                  │                                            Draining ──(peer closed)──> gone
//!                  └──(end of turn)──> gone          Flushing, Draining ──(LINGER)──> gone
//! ```
//!
//! A plain connection starts Open. Only Open connections are known to the hub. Closing with
//! unread input would reset the connection and could destroy the last lines in flight, hence
//! Draining.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::connection::Batch;
use crate::connection::{Intake, Output, Outputs, Transport};
use crate::metrics::{METRICS, Via};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Its transport is in a handshake; the hub does not know of it yet.
    Handshaking,
    /// Reading and writing.
    Open,
    /// The hub is done with it: flush what is queued, then close our side.
    Flushing { since: Instant },
    /// Our side is closed: read and discard until the peer closes too.
    Draining { since: Instant },
    /// Failed or dropped: remove without flushing.
    Dead,
}

/// One connection, as poll mode keeps it in its slab.
///
/// Shaped so that an idle connection costs next to nothing (no buffer while nothing is pending:
/// the intake and output allocate only for an unfinished line or a backlog) and so that
/// everything the loop decides about it is in its [`State`]: there is no flag beside the state
/// saying whether the hub knows of it or whether it is closing. Its deadlines are not here but
/// in the loop's timer set, named by its `serial`.
pub struct Conn {
    pub stream: TcpStream,
    pub transport: Transport,
    pub peer: SocketAddr,
    /// Told apart from the connections that had its slab key before (see `timers`).
    pub serial: u64,
    pub state: State,
    pub intake: Intake,
    pub output: Output,
    /// WRITABLE interest is registered: it has output its socket did not take.
    pub writable: bool,
    /// In the turn's list of connections to write.
    pub dirty: bool,
    /// Out of flood-control tokens: not read until its `Throttle` deadline.
    pub throttled: bool,
    /// When it last sent anything, for `--idle-timeout`.
    pub last_input: Instant,
    /// Counted in the metrics as connected (from the hub's hearing of it until it is gone).
    pub counted: Option<Via>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(via) = self.counted {
            METRICS.connected(via, -1);
        }
    }
}

/// What [`Conn::write`] left.
pub enum Written {
    /// Everything was written (the layers hold nothing either).
    All,
    /// The socket took no more: wait until it is writable.
    Pending,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        transport: Transport,
        peer: SocketAddr,
        serial: u64,
        now: Instant,
    ) -> Conn {
        let state = if transport.is_handshaking() {
            State::Handshaking
        } else {
            State::Open
        };
        Conn {
            stream,
            transport,
            peer,
            serial,
            state,
            intake: Intake::default(),
            output: Output::default(),
            writable: false,
            dirty: false,
            throttled: false,
            last_input: now,
            counted: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Reads plaintext through its transport into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.transport.read(&mut self.stream, buf)
    }

    /// Writes what it is owed of `batch` (straight from there), then its own bytes, until the
    /// socket takes no more; what the socket did not take of the batch is copied.
    pub fn write(&mut self, batch: &Batch, outputs: &mut Outputs) -> io::Result<Written> {
        if let Some(owed) = self.output.take_owed(batch) {
            let bytes = &batch.bytes()[owed];
            let n = self.transport.write(&mut self.stream, bytes)?;
            METRICS.sent_bytes(n as u64);
            if n < bytes.len() {
                self.output.unsent(&bytes[n..], outputs);
                return Ok(Written::Pending);
            }
        }
        // A TLS layer may hold bytes of its own (a handshake message, an alert) to write.
        if !self.output.pending().is_empty() || !self.transport.is_plain() {
            let n = self
                .transport
                .write(&mut self.stream, self.output.pending())?;
            METRICS.sent_bytes(n as u64);
            self.output.wrote(n, outputs);
        }
        if self.output.pending().is_empty() && !self.transport.wants_write() {
            Ok(Written::All)
        } else {
            Ok(Written::Pending)
        }
    }

    /// Ends our side: the transport's goodbye, then the socket's write side.
    pub fn shut_write(&mut self) {
        self.transport.close(&mut self.stream);
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Reads and drops what it still sends (raw bytes: nothing is decrypted). Returns true at
    /// the end of its input (or on an error): nothing more will come.
    pub fn discard_input(&mut self, scratch: &mut [u8]) -> bool {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}
