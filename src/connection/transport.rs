//! What lies between a connection's socket and its framer: nothing (plain TCP), TLS, or a
//! layer above either: the web layer (HTTP, then WebSocket: [`super::web`]) or IRC's
//! ([`super::irc`]), one shape for all. A layer
//! takes the socket's bytes and gives plaintext, takes plaintext and gives the socket's bytes,
//! and may hold bytes of its own to write (a handshake, an alert, a pong). The servers only ask
//! a [`Transport`] to read, write, say whether it is ready, and close.
//!
//! Poll mode drives it over a non-blocking socket ([`Transport::read`], [`Transport::write`]);
//! threads mode feeds it what a blocking read returned ([`Transport::receive`]) and writes
//! without blocking. It never owns the socket, so each model keeps its sockets and scheduling.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::irc::Irc;
use super::lines::Lines;
use super::web::Web;
use crate::http::Site;
use crate::tls::Tls;

/// A connection's layers above TCP.
pub enum Transport {
    Plain,
    Tls(Box<Tls>),
    /// The web layer or IRC's above `below` (plain or TLS).
    Web(Box<Stacked>),
}

/// A layer above plain or TLS: what the client speaks.
pub enum Layer {
    Web(Web),
    Irc(Box<Irc>),
}

/// Each call goes to the layer's own (see [`Web`] and [`Irc`]); IRC has no handshake of its
/// own, and never answers with a file.
impl Layer {
    fn is_handshaking(&self) -> bool {
        match self {
            Layer::Web(w) => w.is_handshaking(),
            Layer::Irc(_) => false,
        }
    }
    fn served(&self) -> bool {
        match self {
            Layer::Web(w) => w.served(),
            Layer::Irc(_) => false,
        }
    }
    fn ended(&self) -> bool {
        match self {
            Layer::Web(w) => w.ended(),
            Layer::Irc(i) => i.ended(),
        }
    }
    fn take(&mut self, bytes: &[u8]) {
        match self {
            Layer::Web(w) => w.take(bytes),
            Layer::Irc(i) => i.take(bytes),
        }
    }
    /// The lines it made for the framer.
    fn lines(&mut self) -> &mut Lines {
        match self {
            Layer::Web(w) => &mut w.lines,
            Layer::Irc(i) => &mut i.lines,
        }
    }
    fn give(&mut self, buf: &mut [u8]) -> usize {
        self.lines().give(buf)
    }
    fn give_all(&mut self, plain: &mut Vec<u8>) {
        self.lines().give_all(plain)
    }
    fn has_lines(&mut self) -> bool {
        !self.lines().all_taken()
    }
    fn send(&mut self, bytes: &[u8]) -> usize {
        match self {
            Layer::Web(w) => w.send(bytes),
            Layer::Irc(i) => i.send(bytes),
        }
    }
    fn out(&self) -> &[u8] {
        match self {
            Layer::Web(w) => w.out(),
            Layer::Irc(i) => i.out(),
        }
    }
    fn sent(&mut self, n: usize) {
        match self {
            Layer::Web(w) => w.sent(n),
            Layer::Irc(i) => i.sent(n),
        }
    }
    fn close(&mut self) {
        match self {
            Layer::Web(w) => w.close(),
            Layer::Irc(i) => i.close(),
        }
    }
}

/// The web layer (or IRC's) and the layer under it.
pub struct Stacked {
    web: Layer,
    below: Transport,
    /// What the layer below gave of the last read (TLS's plaintext), kept for the next.
    from_below: Vec<u8>,
    /// The layer below gave bytes since [`Transport::heard`] was last asked (a read may take
    /// some and give no line: an IRC `PONG`, a WebSocket ping).
    heard: bool,
}

/// What [`Transport::handshake`] returns for a web connection that asked for a file (or was
/// refused): it was answered, and is to be closed; it never joins the chat.
#[derive(Debug)]
pub struct Served;

impl std::fmt::Display for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answered over HTTP")
    }
}

impl std::error::Error for Served {}

impl Transport {
    /// A server-side TLS layer, its handshake not begun.
    pub fn tls(config: &Arc<rustls::ServerConfig>) -> io::Result<Transport> {
        Ok(Transport::Tls(Box::new(Tls::server(config)?)))
    }

    /// The web layer above `below` (plain or TLS), waiting for its HTTP request.
    pub fn web(below: Transport, site: &Arc<Site>, max_line: usize) -> Transport {
        let web = Layer::Web(Web::new(Arc::clone(site), max_line));
        Transport::Web(Box::new(Stacked {
            web,
            below,
            from_below: Vec::new(),
            heard: false,
        }))
    }

    /// IRC's layer above `below` (plain or TLS).
    pub fn irc(below: Transport) -> Transport {
        Transport::Web(Box::new(Stacked {
            web: Layer::Irc(Box::default()),
            below,
            from_below: Vec::new(),
            heard: false,
        }))
    }

    /// An IRC connection: its layer asks the client whether it is still there (`PING`), for
    /// the layer below to write.
    pub fn ping(&mut self) {
        if let Transport::Web(s) = self
            && let Layer::Irc(irc) = &mut s.web
        {
            irc.ping();
        }
    }

    /// Whether the client sent anything since this was last asked, lines or not (for the
    /// deadlines that time its silence).
    pub fn heard(&mut self) -> bool {
        match self {
            Transport::Web(s) => std::mem::take(&mut s.heard),
            _ => false,
        }
    }

    /// An IRC connection.
    pub fn is_irc(&self) -> bool {
        matches!(self, Transport::Web(s) if matches!(s.web, Layer::Irc(_)))
    }

    /// How the log names it: `""`, `" over TLS"`, `" over WebSocket"`...
    pub fn over(&self) -> &'static str {
        match self {
            Transport::Plain => "",
            Transport::Tls(_) => " over TLS",
            Transport::Web(s) if matches!(s.web, Layer::Irc(_)) && s.below.is_plain() => {
                " over IRC"
            }
            Transport::Web(s) if matches!(s.web, Layer::Irc(_)) => " over IRC over TLS",
            Transport::Web(s) if s.below.is_plain() => " over WebSocket",
            Transport::Web(_) => " over WebSocket over TLS",
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Transport::Plain)
    }

    /// How its client is connected, for the metrics.
    pub fn via(&self) -> crate::metrics::Via {
        match self {
            Transport::Plain => crate::metrics::Via::Tcp,
            Transport::Tls(_) => crate::metrics::Via::Tls,
            Transport::Web(s) if matches!(s.web, Layer::Irc(_)) => crate::metrics::Via::Irc,
            Transport::Web(_) => crate::metrics::Via::WebSocket,
        }
    }

    /// A WebSocket (or a web request not answered yet).
    pub fn is_web(&self) -> bool {
        matches!(self, Transport::Web(s) if matches!(s.web, Layer::Web(_)))
    }

    /// Its client reads the hub's JSON events (a WebSocket's, or IRC's layer, which makes
    /// them IRC) from its first line on.
    pub fn reads_json(&self) -> bool {
        matches!(self, Transport::Web(_))
    }

    /// A web connection answered with a file or a refusal: to be closed once written.
    pub fn served(&self) -> bool {
        matches!(self, Transport::Web(s) if s.web.served())
    }

    /// Still in a handshake: no lines yet.
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.is_handshaking(),
            Transport::Web(s) => s.below.is_handshaking() || s.web.is_handshaking(),
        }
    }

    /// Reads plaintext from `sock` through the layers. `Ok(0)` is the end of input; nothing to
    /// read yet (a handshake under way included) is `WouldBlock`.
    pub fn read(&mut self, sock: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => sock.read(buf),
            Transport::Tls(tls) => tls.read_from(sock, buf),
            Transport::Web(s) => loop {
                if s.web.has_lines() {
                    return Ok(s.web.give(buf));
                }
                if s.web.ended() {
                    return Ok(0);
                }
                let n = s.below.read(sock, buf)?;
                if n == 0 {
                    return Ok(0);
                }
                s.heard = true;
                s.web.take(&buf[..n]);
            },
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
            Transport::Web(s) => {
                let open = match &mut s.below {
                    // Nothing to undo below: the frames are the bytes read.
                    Transport::Plain => {
                        s.web.take(raw);
                        true
                    }
                    below => {
                        s.from_below.clear();
                        let open = below.receive(raw, &mut s.from_below)?;
                        s.web.take(&s.from_below);
                        open
                    }
                };
                s.web.give_all(plain);
                Ok(open && !s.web.ended())
            }
        }
    }

    /// Writes `bytes` through the layers to a non-blocking `sock` until it takes no more;
    /// returns how many were taken. What a layer produced and the socket did not take stays in
    /// the layer ([`Transport::wants_write`]).
    pub fn write(&mut self, sock: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => write_until_blocked(sock, bytes),
            Transport::Tls(tls) => tls.send(sock, bytes),
            Transport::Web(s) => {
                // Frames as long as the socket takes them all: stopping while it could take
                // more would wait for a writable edge that never comes.
                let mut taken = 0;
                loop {
                    let n = s.web.send(&bytes[taken..]);
                    taken += n;
                    s.drain(sock)?;
                    if n == 0 || taken == bytes.len() || !s.web.out().is_empty() {
                        return Ok(taken);
                    }
                }
            }
        }
    }

    /// The layers hold bytes for the socket.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.wants_write(),
            Transport::Web(s) => !s.web.out().is_empty() || s.below.wants_write(),
        }
    }

    /// Writes what the layers hold for the socket (an alert, a handshake message), as far as
    /// it takes them.
    pub fn flush(&mut self, sock: &mut impl Write) {
        match self {
            Transport::Plain => {}
            Transport::Tls(tls) => {
                let _ = tls.write_to(sock);
            }
            Transport::Web(s) => {
                let _ = s.drain(sock);
                s.below.flush(sock);
            }
        }
    }

    /// The end of what this side sends, in the layers' own terms (TLS: `close_notify`; a
    /// WebSocket: a close frame); the caller then shuts the socket's write side.
    pub fn close(&mut self, sock: &mut impl Write) {
        match self {
            Transport::Plain => {}
            Transport::Tls(tls) => {
                tls.close();
                let _ = tls.write_to(sock);
            }
            Transport::Web(s) => {
                s.web.close();
                let _ = s.drain(sock);
                s.below.close(sock);
            }
        }
    }

    /// Completes a handshake on a blocking socket within `limit` (see [`Tls::handshake`]); a
    /// plain connection has none. A web connection's is TLS's if any, then its HTTP request:
    /// a request for a file is answered and ends in [`Served`].
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
            Transport::Web(s) => {
                let deadline = Instant::now() + limit;
                if let Transport::Tls(tls) = &mut s.below {
                    tls.handshake(sock, &set_timeout, limit, permit)?;
                }
                s.http_handshake(sock, set_timeout, deadline)
            }
        }
    }
}

impl Stacked {
    /// Writes what the web layer made through the layer below, as far as the socket takes it.
    fn drain(&mut self, sock: &mut impl Write) -> io::Result<()> {
        // Even with nothing of its own: the layer below may hold bytes (TLS's handshake).
        let n = self.below.write(sock, self.web.out())?;
        self.web.sent(n);
        Ok(())
    }

    /// On a blocking socket: reads the HTTP request until `deadline` and writes the answer.
    fn http_handshake<S: Read + Write>(
        &mut self,
        sock: &mut S,
        set_timeout: impl Fn(&mut S, Duration) -> io::Result<()>,
        deadline: Instant,
    ) -> io::Result<()> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "no whole HTTP request in time");
        let mut raw = [0u8; 4096];
        while self.web.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            set_timeout(sock, left)?;
            let n = match sock.read(&mut raw) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(timed_out());
                }
                Err(e) => return Err(e),
            };
            let mut plain = Vec::new();
            self.below.receive(&raw[..n], &mut plain)?;
            self.web.take(&plain);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        set_timeout(sock, left.max(Duration::from_millis(100)))?;
        while !self.web.out().is_empty() {
            let n = self.below.write(sock, self.web.out())?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.web.sent(n);
        }
        self.below.flush(sock);
        if self.web.served() {
            self.below.close(sock);
            return Err(io::Error::other(Served));
        }
        Ok(())
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
