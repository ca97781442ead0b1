//! What lies between a connection's socket and its framer: nothing (plain TCP) or TLS, one
//! shape for both. A layer takes the socket's bytes and gives plaintext, takes plaintext and
//! gives the socket's bytes, and may hold bytes of its own to write (a handshake, an alert). A
//! new layer (a WebSocket one, above either) is one more variant here; the servers only ask a
//! [`Transport`] to read, write, say whether it is ready, and close.
//!
//! Poll mode drives it over a non-blocking socket ([`Transport::read`], [`Transport::write`]);
//! threads mode feeds it what a blocking read returned ([`Transport::receive`]) and writes
//! without blocking. It never owns the socket, so each model keeps its sockets and scheduling.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::tls::Tls;

/// A connection's layers above TCP.
pub enum Transport {
    Plain,
    Tls(Box<Tls>),
}

impl Transport {
    /// A server-side TLS layer, its handshake not begun.
    pub fn tls(config: &Arc<rustls::ServerConfig>) -> io::Result<Transport> {
        Ok(Transport::Tls(Box::new(Tls::server(config)?)))
    }

    /// How the log names it: `""` or `" over TLS"`.
    pub fn over(&self) -> &'static str {
        match self {
            Transport::Plain => "",
            Transport::Tls(_) => " over TLS",
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Transport::Plain)
    }

    /// Still in a handshake: no lines yet.
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.is_handshaking(),
        }
    }

    /// Reads plaintext from `sock` through the layers. `Ok(0)` is the end of input; nothing to
    /// read yet (a handshake under way included) is `WouldBlock`.
    pub fn read(&mut self, sock: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => sock.read(buf),
            Transport::Tls(tls) => tls.read_from(sock, buf),
        }
    }

    /// Takes `raw`, bytes a blocking read returned, and appends the plaintext they carried to
    /// `plain`. Returns false once the peer has closed.
    pub fn receive(&mut self, raw: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        match self {
            Transport::Plain => {
                plain.extend_from_slice(raw);
                Ok(true)
            }
            Transport::Tls(tls) => tls.receive(raw, plain),
        }
    }

    /// Writes `bytes` through the layers to a non-blocking `sock` until it takes no more;
    /// returns how many were taken. What a layer produced and the socket did not take stays in
    /// the layer ([`Transport::wants_write`]).
    pub fn write(&mut self, sock: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => write_until_blocked(sock, bytes),
            Transport::Tls(tls) => tls.send(sock, bytes),
        }
    }

    /// The layers hold bytes for the socket.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.wants_write(),
        }
    }

    /// Writes what the layers hold for the socket (an alert, a handshake message), as far as
    /// it takes them.
    pub fn flush(&mut self, sock: &mut impl Write) {
        if let Transport::Tls(tls) = self {
            let _ = tls.write_to(sock);
        }
    }

    /// The end of what this side sends, in the layers' own terms (TLS: `close_notify`); the
    /// caller then shuts the socket's write side.
    pub fn close(&mut self, sock: &mut impl Write) {
        if let Transport::Tls(tls) = self {
            tls.close();
            let _ = tls.write_to(sock);
        }
    }

    /// Completes a handshake on a blocking socket within `limit` (see [`Tls::handshake`]); a
    /// plain connection has none.
    pub fn handshake<S: Read + Write, P>(
        &mut self,
        sock: &mut S,
        set_timeout: impl Fn(&mut S, Duration) -> io::Result<()>,
        limit: Duration,
        permit: impl FnMut(Instant) -> io::Result<P>,
    ) -> io::Result<()> {
        match self {
            Transport::Plain => Ok(()),
            Transport::Tls(tls) => tls.handshake(sock, set_timeout, limit, permit),
        }
    }
}

/// Writes `bytes` until the socket takes no more; returns how many it took.
fn write_until_blocked(sock: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match sock.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then would block.
    struct Pipe {
        took: Vec<u8>,
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room).min(3);
            self.room -= n;
            self.took.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_writes_until_the_socket_is_full() {
        let mut sock = Pipe {
            took: Vec::new(),
            room: 7,
        };
        let mut t = Transport::Plain;
        assert_eq!(t.write(&mut sock, b"0123456789").unwrap(), 7);
        assert_eq!(sock.took, b"0123456");
        assert!(!t.wants_write());
        assert!(!t.is_handshaking());
    }

    #[test]
    fn plain_receives_as_is() {
        let mut plain = Vec::new();
        assert!(Transport::Plain.receive(b"hi\n", &mut plain).unwrap());
        assert_eq!(plain, b"hi\n");
    }
}
